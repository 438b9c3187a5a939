# idp under gunicorn, configured by the same IDP_* variables as everywhere (README).
#   docker build -t idp . && docker run -e IDP_ISSUER=https://id.example.gov \
#     -e IDP_DATABASE_URL=postgresql+psycopg://idp@db/idp -e IDP_SECRET_KEY=... -p 8000:8000 idp
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    IDP_INSTANCE_DIR=/var/lib/idp IDP_KEYS_DIR=/etc/idp/keys
RUN useradd --system --home /var/lib/idp --create-home idp \
 && mkdir -p /etc/idp/keys/trust && chown -R idp /etc/idp
WORKDIR /app
COPY pyproject.toml README.md ./
COPY idp ./idp
RUN pip install --no-cache-dir .
USER idp
EXPOSE 8000
# Migrations run before the workers start; gunicorn builds the app in each worker.
CMD ["sh", "-c", "idp db upgrade && exec gunicorn --bind 0.0.0.0:8000 --worker-class gthread --workers ${WEB_CONCURRENCY:-2} --threads 4 --timeout 30 --graceful-timeout 10 'idp:create_app()'"]
