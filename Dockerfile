# idp under granian (WSGI), configured by the same IDP_* variables as everywhere (README,
# "Running in production": why granian, and gunicorn.conf.py as the documented alternative).
#   docker build -t idp .
#   docker run --rm -e IDP_DATABASE_URL=postgresql+psycopg://idp@db/idp idp idp db upgrade
#   docker run -e IDP_ISSUER=https://id.example.gov -e IDP_DATABASE_URL=postgresql+psycopg://idp@db/idp \
#     -e IDP_SECRET_KEY=... -p 8000:8000 idp
# Migrations are a step of their own, run once per release before the new replicas start (the
# first command above; a Kubernetes Job or an init container that runs only once): the image's
# default command only serves, so replicas never race each other on the schema.

# One base, pinned to a patch release (update it deliberately, with the lock files).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# -- builder: the locked, hash-checked dependencies and idp into a virtualenv ------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/idp
WORKDIR /src
COPY requirements.lock ./
RUN /opt/idp/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY idp ./idp
RUN /opt/idp/bin/pip install --no-deps . && /opt/idp/bin/python -m compileall -q /opt/idp

# -- runtime: the virtualenv only, no build tools, a user without privileges --------------------
FROM ${PYTHON_IMAGE} AS runtime
# PROMETHEUS_MULTIPROC_DIR: every worker writes its metrics there and /metrics sums them
# (emptied at start, below); a tmpfs-backed path would be better still.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/idp/bin:$PATH \
    IDP_INSTANCE_DIR=/var/lib/idp IDP_KEYS_DIR=/etc/idp/keys \
    PROMETHEUS_MULTIPROC_DIR=/tmp/idp-metrics
RUN useradd --system --home /var/lib/idp --create-home idp \
 && mkdir -p /etc/idp/keys/trust && chown -R idp /etc/idp
COPY --from=builder /opt/idp /opt/idp
WORKDIR /app
# The documented alternative server: gunicorn -c gunicorn.conf.py
COPY gunicorn.conf.py ./
USER idp
EXPOSE 8000
# One worker process per core (WEB_CONCURRENCY overrides: set it to the CPU quota), 16 threads
# each for the WSGI app (GRANIAN_BLOCKING_THREADS: on PostgreSQL most of them wait on a round
# trip or a commit, holding no core; IDP_ARGON2_MAX_CONCURRENT bounds the password hashes among
# them: by default the cores over WEB_CONCURRENCY, exported for that), keep-alive on, no access log (query strings
# carry login_hint and id_token_hint; the metrics count requests). Workers that die are replaced.
ENV GRANIAN_INTERFACE=wsgi GRANIAN_HOST=0.0.0.0 GRANIAN_PORT=8000 GRANIAN_BLOCKING_THREADS=16 \
    GRANIAN_LOG_ACCESS_ENABLED=false GRANIAN_RESPAWN_FAILED_WORKERS=true \
    GRANIAN_WORKERS_KILL_TIMEOUT=20
# /readyz: the database answers and a signing key is usable (503 otherwise; urllib raises).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GRANIAN_PORT', '8000') + '/readyz', timeout=4)"
# Stale metrics files of a previous run are removed (prometheus-client's multiprocess mode needs
# a clean folder), then granian serves. No migration here: `idp db upgrade` is its own step.
CMD ["sh", "-c", "mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && rm -f \"$PROMETHEUS_MULTIPROC_DIR\"/*.db && export WEB_CONCURRENCY=\"${WEB_CONCURRENCY:-$(nproc)}\" && exec granian --factory --workers \"$WEB_CONCURRENCY\" idp:create_app"]
