"""gunicorn settings for idp in production (the Dockerfile runs this):

    gunicorn -c gunicorn.conf.py 'idp:create_app()'

Options given on the command line win over this file (``--bind 127.0.0.1:8000``). Environment:
``WEB_CONCURRENCY`` (worker processes), ``GUNICORN_THREADS`` (threads per worker) and
``PROMETHEUS_MULTIPROC_DIR`` (an empty folder: metrics summed over all workers, see README).
Every other setting is an ``IDP_*`` variable read by the app.
"""

import os
import sys

from idp.config import ConfigError, load_settings
from idp.server import child_exit, on_starting, post_worker_init, when_ready  # noqa: F401 - gunicorn hooks

# A malformed IDP_* variable: one line naming it and exit code 2, as `idp` does, instead of a
# traceback from deep inside the app factory.
try:
    load_settings()
except ConfigError as exc:
    print(f"idp: configuration error: {exc}", file=sys.stderr)
    sys.exit(2)

# Behind a load balancer or in a container: listen on every interface. Bare metal behind a
# local proxy: pass --bind 127.0.0.1:8000.
bind = "0.0.0.0:8000"

# gthread: each worker runs a pool of threads and keeps idle keep-alive connections without
# tying up a thread. Sync workers cannot keep connections alive (every relying party request
# would pay a new TCP and TLS handshake at the proxy); gevent/eventlet would need monkey-patching
# psycopg, redis and cryptography's blocking calls, for no gain on CPU-bound work.
worker_class = "gthread"

# One process per core: signing tokens and verifying passwords is CPU work, and Python runs one
# thread at a time per process. (The "2 x cores + 1" rule is for sync workers that sit idle
# while waiting on I/O; here threads cover the waiting.) sched_getaffinity honours a container's
# cpuset but not a CPU quota: with a quota, set WEB_CONCURRENCY to it.
workers = int(os.environ.get("WEB_CONCURRENCY") or len(os.sched_getaffinity(0)))
# The workers read it to share the cores among their password hashes (IDP_ARGON2_MAX_CONCURRENT).
os.environ["WEB_CONCURRENCY"] = str(workers)

# A few threads per worker: while one waits on PostgreSQL or Redis, another uses the core. More
# would mostly queue for the interpreter lock; keep threads below the database pool size of a
# process (20, idp.app.POOL_SIZE) so a request never waits for a connection.
threads = int(os.environ.get("GUNICORN_THREADS") or 4)

# Build the app once in the master before forking: a configuration error (an IDP_* variable,
# an unreachable database) stops the start with one message instead of a crash loop of workers,
# and the workers share the loaded code's memory. post_worker_init (idp.server) drops the
# database connections each worker inherits.
preload_app = True

# A worker whose main loop is silent this long is stuck and is replaced. The slowest honest
# request (an argon2id verification plus a few queries) takes well under a second.
timeout = 30

# On SIGTERM (a rolling deploy) the node first drains for IDP_SHUTDOWN_DRAIN_SECONDS (/readyz
# answers 503 so the balancer moves on; idp.resilience.drain), then requests in flight get this
# long to finish. Keep both together below the orchestrator's own grace period (Kubernetes:
# 30 s), or they are cut anyway.
graceful_timeout = 20

# Idle keep-alive connections are held this long. Behind a load balancer that reuses
# connections, this must be LONGER than the balancer's idle timeout (60 s on most), or the
# balancer sends a request on a connection gunicorn is closing and the client sees a 502.
keepalive = 75

# Restart a worker after this many requests (each at a different count, thanks to the jitter,
# so they never all restart together): bounds slow memory growth. With preload_app a new worker
# is a fork of the master, so a restart costs milliseconds.
max_requests = 50_000
max_requests_jitter = 5_000

# The heartbeat file in memory: on a container's overlay filesystem /tmp can stall, and a
# stalled heartbeat gets a healthy worker killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - gunicorn makes a unique file

# Authorization requests with a signed request object (OIDC Core section 6.1) or long redirect
# URIs exceed gunicorn's default 4 KiB request line.
limit_request_line = 8190

# X-Forwarded-* headers are trusted in one place only: the app's ProxyFix, configured by
# IDP_PROXY_FIX_*. gunicorn would otherwise believe X-Forwarded-Proto from 127.0.0.1 on its own.
secure_scheme_headers = {}

# gunicorn's control socket (newer versions) is not used, and its default path is shared by
# every gunicorn of a user on the host (several idp nodes on one machine would collide).
control_socket_disable = True

# Access log on stdout, paths WITHOUT query strings: authorization and logout requests carry
# login_hint (possibly a national identifier), id_token_hint (a token), state and nonce, none of
# which belongs in a log. %(M)s is the time taken in milliseconds.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = "info"
