"""The package's folders are its parts: no import circle anywhere in the package, and each
part imports only what its folder's ``__init__.py`` says it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "koji_containerbuild"
SHARED = {f"{PACKAGE}.{name}"
          for name in ("options", "config", "faults", "threads", "bytescan", "prefixed")}

# part -> the parts it may import besides itself (prefixes of dotted module names)
ALLOWED = {
    "shared": SHARED,
    f"{PACKAGE}.hub": SHARED,
    f"{PACKAGE}.cli": SHARED,
    f"{PACKAGE}.logs": SHARED,
    f"{PACKAGE}.openshift": SHARED,
    f"{PACKAGE}.builder": SHARED | {f"{PACKAGE}.logs", f"{PACKAGE}.openshift"},
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path, modules: set[str]) -> set[str]:
    """Every module of ``modules`` that ``path`` imports, wherever the import statement is:
    at module level, under ``if TYPE_CHECKING:`` or inside a function (all three tie the two
    modules together, so all three count)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            # ``from package import module`` imports the module, not only the package
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    paths = sorted((root / package).rglob("*.py"))
    modules = {module_name(p, root) for p in paths}
    return {module_name(p, root): imports_of(p, root, modules) for p in paths}


def find_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` as [a, b, ..., a], or [] when there is none."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (circle := visit(nxt)):
                return circle
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state and (circle := visit(node)):
            return circle
    return []


GRAPH = import_graph(REPO, PACKAGE)


def test_the_package_has_no_import_circle():
    circle = find_circle(GRAPH)
    assert not circle, "import circle: " + " -> ".join(circle)


def test_a_circle_through_type_checking_or_a_function_import_is_found(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import B\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from .c import C\n")
    (pkg / "c.py").write_text("def late():\n    from pkg import a\n")
    assert find_circle(import_graph(tmp_path, "pkg")) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    (pkg / "c.py").write_text("def late():\n    import json\n")
    assert find_circle(import_graph(tmp_path, "pkg")) == []


def _part(module: str) -> str:
    if module in SHARED:
        return "shared"
    parts = module.split(".")
    return ".".join(parts[:2])


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_each_part_imports_only_what_its_folder_allows(part):
    wrong = {f"{module} -> {target}" for module, targets in GRAPH.items()
             if _part(module) == part for target in targets
             if _part(target) != part and not any(
                 target == allowed or target.startswith(allowed + ".")
                 for allowed in ALLOWED[part])
             and target != PACKAGE}
    assert not wrong, f"{part} imports outside what it may: {sorted(wrong)}"


def test_nothing_outside_the_sandbox_imports_the_sandbox():
    sandbox = f"{PACKAGE}.sandbox"
    wrong = {f"{module} -> {target}" for module, targets in GRAPH.items()
             if not module.startswith(sandbox) for target in targets
             if target.startswith(sandbox)}
    assert not wrong, sorted(wrong)


def test_the_openshift_simulator_knows_no_koji_stand_in():
    simulator = f"{PACKAGE}.sandbox.openshift"
    wrong = {f"{module} -> {target}" for module, targets in GRAPH.items()
             if module.startswith(simulator) for target in targets
             if target.startswith((f"{PACKAGE}.sandbox.koji", f"{PACKAGE}.sandbox.demo"))}
    assert not wrong, sorted(wrong)
