# idp under granian (WSGI), configured by the same IDP_* variables as everywhere (README,
# "Running in production": why granian, and gunicorn.conf.py as the documented alternative).
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
# Migrations run before the workers start; stale metrics files of a previous run are removed
# (prometheus-client's multiprocess mode needs a clean folder). One worker process per core
# (WEB_CONCURRENCY overrides: set it to the CPU quota), 4 threads each for the WSGI app
# (GRANIAN_BLOCKING_THREADS), keep-alive on, no access log (query strings carry login_hint
# and id_token_hint; the metrics count requests). Workers that die are replaced.
ENV GRANIAN_INTERFACE=wsgi GRANIAN_HOST=0.0.0.0 GRANIAN_PORT=8000 GRANIAN_BLOCKING_THREADS=4 \
    GRANIAN_LOG_ACCESS_ENABLED=false GRANIAN_RESPAWN_FAILED_WORKERS=true \
    GRANIAN_WORKERS_KILL_TIMEOUT=20
CMD ["sh", "-c", "idp db upgrade && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && rm -f \"$PROMETHEUS_MULTIPROC_DIR\"/*.db && exec granian --factory --workers \"${WEB_CONCURRENCY:-$(nproc)}\" idp:create_app"]
