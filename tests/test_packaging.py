"""The package metadata, the lock files and the image's recipe (no Docker engine runs here, so
the Dockerfile is checked for its structure: multi-stage, a pinned base, installed from the lock,
a health check on ``/readyz``, no migration in the default command, nothing private sent to
the build)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
#: Continuation lines joined, comments dropped: one instruction per entry.
INSTRUCTIONS = [line.strip() for line in re.sub(r"\\\n\s*", " ", DOCKERFILE).splitlines()
                if line.strip() and not line.lstrip().startswith("#")]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins(lock: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a ``--generate-hashes`` lock file."""
    text = (ROOT / lock).read_text()
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)", block)
        if match:
            pins[_name(match.group(1))] = (match.group(2), re.findall(r"--hash=sha256:[0-9a-f]{64}", block))
    return pins


def test_no_dependency_is_listed_twice():
    groups = {"dependencies": PYPROJECT["project"]["dependencies"],
              **PYPROJECT["project"]["optional-dependencies"]}
    for group, requirements in groups.items():
        names = [_name(r) for r in requirements]
        assert len(names) == len(set(names)), f"{group} lists a package twice: {names}"


def test_the_build_backend_supports_the_spdx_license_string():
    # PEP 639 `license = "Apache-2.0"` needs setuptools 77 or newer.
    assert isinstance(PYPROJECT["project"]["license"], str)
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def test_each_lock_pins_every_dependency_of_its_install_with_hashes():
    runtime = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    for lock, wanted in (("requirements.lock", runtime),
                         ("requirements-test.lock", runtime | {_name(r) for r in extras["test"]}),
                         ("requirements-bench.lock", runtime | {_name(r) for r in extras["bench"]})):
        pins = _pins(lock)
        assert wanted <= pins.keys(), f"{lock} lacks {wanted - pins.keys()} (run scripts/lock)"
        for name, (version, hashes) in pins.items():
            assert hashes, f"{lock}: {name}=={version} has no hash"
    assert "pytest" not in _pins("requirements.lock"), "the image gets the server's packages only"


def test_the_virtualenv_script_installs_from_the_lock_with_hashes_then_idp_alone():
    script = (ROOT / "scripts" / "_venv.sh").read_text()
    assert 'pip install --require-hashes -r "$lock"' in script
    assert "pip install --no-deps -e ." in script


def test_the_image_is_built_in_stages_on_a_pinned_base():
    stages = [line.split() for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert len(stages) >= 2 and all(len(stage) == 4 and stage[2] == "AS" for stage in stages)
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert all(stage[1] == "${PYTHON_IMAGE}" for stage in stages)


def test_the_image_installs_the_locked_dependencies_and_runs_as_a_user():
    assert "COPY requirements.lock ./" in INSTRUCTIONS
    assert any("pip install --require-hashes -r requirements.lock" in line for line in INSTRUCTIONS)
    assert any(line.startswith("COPY --from=builder ") for line in INSTRUCTIONS)
    final = INSTRUCTIONS[max(i for i, line in enumerate(INSTRUCTIONS) if line.startswith("FROM ")):]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_the_image_checks_its_health_on_readyz():
    (check,) = [line for line in INSTRUCTIONS if line.startswith("HEALTHCHECK ")]
    assert " CMD " in check and "/readyz" in check and "urllib.request" in check  # no curl needed


def test_the_default_command_serves_and_never_migrates():
    (command,) = [line for line in INSTRUCTIONS if line.startswith("CMD ")]
    assert "granian" in command and "idp:create_app" in command
    assert "db upgrade" not in command and "upgrade" not in command
    # The separate step is documented at the top of the Dockerfile.
    assert "idp db upgrade" in DOCKERFILE.split("FROM", 1)[0]


def test_the_build_context_leaves_out_local_state_and_key_material():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(parts[0], p)
                   or (p.startswith("**/") and fnmatch.fnmatch(parts[-1], p[3:])) for p in patterns)

    for path in (".venv/bin/python", "instance/secret_key", "instance/idp.sqlite3", ".git/config",
                 "keys/trust/root.pem", "keys/signing.key", "idp/x/private.pem", "tests/conftest.py"):
        assert ignored(path), path
    for path in ("idp/app.py", "idp/keys/service.py", "pyproject.toml", "requirements.lock",
                 "README.md", "gunicorn.conf.py"):
        assert not ignored(path), path
