"""The structure docs/architecture.md describes, measured by scripts/import_stats.py: the limits
an import that goes upward or a cycle hidden in a function body would break. (The layer order
itself is lint-imports' job, run by ./scripts/test.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_stats.py"


def _stats():
    spec = importlib.util.spec_from_file_location("import_stats", SCRIPT)
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    modules = module.discover()
    module.analyse(modules)
    return module, modules


def test_no_two_packages_import_each_other():
    stats, modules = _stats()
    assert stats.package_pairs(modules) == []


def test_no_import_cycle_between_modules_even_through_function_local_imports():
    stats, modules = _stats()
    assert stats.module_cycles(modules) == []


def test_function_local_imports_of_idp_modules_stay_the_rare_exception():
    _, modules = _stats()
    local = [(m.name, line, target) for m in modules.values() for line, target in m.local]
    assert len(local) <= 10, local


def test_idp_oidc_keeps_at_most_twelve_modules_at_its_top():
    stats, modules = _stats()
    assert len(stats.flat_oidc(modules)) <= 12
