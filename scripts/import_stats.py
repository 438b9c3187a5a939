#!/usr/bin/env python3
"""Measure how idp's own modules import each other (an AST walk of ``idp/``, migrations aside).

Prints four figures that the layer order in docs/architecture.md keeps small:

- function-local imports: ``import``/``from ... import`` of an ``idp`` module inside a function
  body (most exist only to dodge an import cycle, which hides the cycle instead of removing it);
- package pairs that depend on each other both ways: top-level packages/modules of ``idp``
  (``idp.accounts``, ``idp.config``...) where each imports the other, at any depth;
- module cycles: strongly connected groups of two or more modules in the graph of all imports,
  function-local ones included (a lazy import hides a cycle, it does not remove it); a package's
  ``__init__`` importing its own submodules to wire them in ``init_app`` is not counted;
  ``if TYPE_CHECKING:`` blocks never run and are left out everywhere;
- modules flat in ``idp/oidc``: ``.py`` files directly in that folder, ``__init__.py`` aside.

    python scripts/import_stats.py            # the figures
    python scripts/import_stats.py --details  # plus every local import, pair and cycle
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "idp"


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    local: list[tuple[int, str]] = field(default_factory=list)  # (line, first module) per statement
    every: set[str] = field(default_factory=set)  # all idp modules imported, any depth


def discover() -> dict[str, Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if "migrations" in rel.parts:
            continue
        parts = list(rel.with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package)
    return modules


def _resolve(module: Module, node: ast.ImportFrom | ast.Import, known: dict[str, Module]) -> list[str]:
    """The idp modules one import statement loads (``from a import b`` is ``a.b`` if that is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "idp"]
    if node.level:
        base = module.name.split(".")
        if not module.is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != "idp":
        return []
    found = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        found.append(sub if sub in known else target)
    return found


def _known(name: str, known: dict[str, Module]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def analyse(modules: dict[str, Module]) -> None:
    for module in modules.values():
        tree = ast.parse(module.path.read_text(), str(module.path))

        def visit(node: ast.AST, in_function: bool, type_checking: bool, module=module) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    resolved = (_known(t, modules) for t in _resolve(module, child, modules))
                    targets = sorted({t for t in resolved if t is not None and t != module.name})
                    if not targets:
                        continue
                    if type_checking:
                        continue
                    module.every.update(targets)
                    if in_function:
                        module.local.append((child.lineno, ", ".join(targets)))
                    continue
                inner_function = in_function or isinstance(
                    child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
                inner_tc = type_checking or (isinstance(child, ast.If) and _is_type_checking(child))
                visit(child, inner_function, inner_tc)

        visit(tree, False, False)


def _top(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else name


def package_pairs(modules: dict[str, Module]) -> list[tuple[str, str]]:
    edges = defaultdict(set)
    for module in modules.values():
        for target in module.every:
            a, b = _top(module.name), _top(target)
            if a != b and a != "idp" and b != "idp":
                edges[a].add(b)
    return sorted({tuple(sorted((a, b))) for a in list(edges) for b in edges[a] if a in edges.get(b, ())})


def module_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Tarjan's strongly connected components of the import graph.

    Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so those edges count too.
    """
    graph = defaultdict(set)
    for module in modules.values():
        for target in module.every:
            if module.is_package and target.startswith(module.name + "."):
                continue
            graph[module.name].add(target)
            parent = target.rpartition(".")[0]
            while parent and parent != module.name and parent in modules and not module.name.startswith(
                    parent + "."):
                graph[module.name].add(parent)
                parent = parent.rpartition(".")[0]
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                result.append(sorted(group))

    for name in sorted(modules):
        if name not in index:
            connect(name)
    return sorted(result)


def flat_oidc(modules: dict[str, Module]) -> list[str]:
    return sorted(m.name for m in modules.values()
                  if m.name.startswith("idp.oidc.") and m.name.count(".") == 2 and not m.is_package)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="list every local import, pair and cycle")
    args = parser.parse_args(argv)
    modules = discover()
    analyse(modules)
    local = [(m.name, line, target) for m in modules.values() for line, target in m.local]
    holders = {name for name, _, _ in local}
    pairs = package_pairs(modules)
    cycles = module_cycles(modules)
    flat = flat_oidc(modules)
    print(f"function-local imports of idp modules: {len(local)} in {len(holders)} modules")
    print(f"package pairs depending both ways:     {len(pairs)}")
    print(f"module cycles:                         {len(cycles)}")
    print(f"modules flat in idp/oidc:              {len(flat)}")
    if args.details:
        print("\nfunction-local imports:")
        for name, line, target in sorted(local):
            print(f"  {name}:{line} -> {target}")
        print("\npackage pairs:")
        for a, b in pairs:
            print(f"  {a} <-> {b}")
        print("\nmodule cycles:")
        for group in cycles:
            print("  " + " <-> ".join(group))
        print("\nflat in idp/oidc:")
        for name in flat:
            print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
