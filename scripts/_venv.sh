# Sourced by scripts/run, scripts/test and scripts/bench: make .venv with Python 3.11+ and install
# idp into it from the lock file of the extra named by $1 (test, bench).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "idp needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# The pinned, hash-checked dependencies of requirements-$1.lock (scripts/lock makes it from
# pyproject.toml), then idp itself, editable, without resolving anything else. Reinstall only
# when pyproject.toml or the lock changed since the last install.
lock="requirements-$1.lock"
stamp=.venv/.idp-installed-$1
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  if ! { .venv/bin/python -m pip install --upgrade pip \
         && .venv/bin/python -m pip install --require-hashes -r "$lock" \
         && .venv/bin/python -m pip install --no-deps -e .; } >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    echo "installing idp into .venv failed (log above, kept in .venv/pip.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
