# idp under gunicorn, configured by the same IDP_* variables as everywhere (README).
#   docker build -t idp . && docker run -e IDP_ISSUER=https://id.example.gov \
#     -e IDP_DATABASE_URL=postgresql+psycopg://idp@db/idp -e IDP_SECRET_KEY=... -p 8000:8000 idp
FROM python:3.11-slim

# PROMETHEUS_MULTIPROC_DIR: every worker writes its metrics there and /metrics sums them
# (gunicorn.conf.py empties it at start); a tmpfs-backed path would be better still.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    IDP_INSTANCE_DIR=/var/lib/idp IDP_KEYS_DIR=/etc/idp/keys \
    PROMETHEUS_MULTIPROC_DIR=/tmp/idp-metrics
RUN useradd --system --home /var/lib/idp --create-home idp \
 && mkdir -p /etc/idp/keys/trust && chown -R idp /etc/idp
WORKDIR /app
COPY pyproject.toml README.md gunicorn.conf.py ./
COPY idp ./idp
RUN pip install --no-cache-dir .
USER idp
EXPOSE 8000
# Migrations run before the workers start. Workers, threads, timeouts and hooks, with the reason
# for each: gunicorn.conf.py (WEB_CONCURRENCY and GUNICORN_THREADS override the counts).
CMD ["sh", "-c", "idp db upgrade && exec gunicorn -c gunicorn.conf.py 'idp:create_app()'"]
