"""Node.js relying-party libraries for the external interoperability checks, installed on
first use from the npm registry into a cache outside the repository (never committed), like
``scripts/test`` installs chromium for the browser tests. Pinned versions; install scripts are
not run."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("IDP_TEST_NODE_CACHE")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "idp-tests" / "npm")


def node() -> str:
    path = shutil.which("node")
    if path is None:
        raise RuntimeError("these tests need Node.js 20+ (apt-get install nodejs npm)")
    return path


def npm_package(name: str, version: str) -> Path:
    """The folder of ``name@version`` (its ``package.json`` inside), installed once per cache."""
    prefix = CACHE / f"{name.replace('/', '+')}-{version}"
    package = prefix / "node_modules" / name
    if (package / "package.json").exists():
        return package
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("these tests need npm to install their relying-party library")
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:  # parallel test runs install it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (package / "package.json").exists():
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--ignore-scripts",
                            "--no-save", "--prefix", str(prefix), f"{name}@{version}"],
                           check=True, capture_output=True, timeout=300)
    return package
