"""A real ``idp serve`` process on a free loopback port, and Debian's chromium driven by
Playwright (never a downloaded browser)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.factories import ROOT, SAMPLE_REGISTRY
from tests.helpers import free_port, run_idp, serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OUTPUT = ROOT / "test-output" / "browser"


@dataclass
class Server:
    url: str
    log: Path


@pytest.fixture
def server(environ, tmp_path) -> Iterator[Server]:
    port = free_port()
    env = {**environ, "IDP_ISSUER": f"http://127.0.0.1:{port}", "IDP_LOG_LEVEL": "DEBUG"}
    for args in (["db", "upgrade"], ["registry", "import", str(SAMPLE_REGISTRY)]):
        result = run_idp(args, env)
        assert result.returncode == 0, result.stderr
    log = tmp_path / "server.log"
    with serving(env, port, log):
        yield Server(f"http://127.0.0.1:{port}", log)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def output_dir(request) -> Path:
    """Screenshots go to test-output/browser/ (git-ignored), named after the test."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT / request.node.name.replace("[", "-").replace("]", "")
