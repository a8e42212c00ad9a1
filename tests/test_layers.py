"""Imports point one way: down the layers table of docs/architecture.md (which this test reads,
so the page stays true). A module may import its own unit and units of lower layers; units of
one layer are independent of each other. Imports under ``if TYPE_CHECKING:`` (annotations only)
do not count; ``importlib.import_module("alprd....")`` with a literal name does.

Plain source reading (ast): nothing is imported, so the test is fast and has no side effects.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PKG = ROOT / "alprd"


def read_layers(text: str) -> dict[str, int]:
    """unit → layer, from the rows of the '## Layers' table: | n | what | `alprd.x`, `alprd.y` |."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    units: dict[str, int] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].isdigit():
            for name in re.findall(r"`(alprd[\w.]*)`", cells[-1]):
                assert name not in units, f"{name} is in two rows of the layers table"
                units[name] = int(cells[0])
    return units


def modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def unit_of(module: str, units: dict[str, int]) -> str | None:
    """The longest listed name containing the module; the package root `alprd` holds only
    itself (a new package must get its own row, not fall into layer 0)."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        name = ".".join(parts[:n])
        if name in units:
            return name
    return module if module == "alprd" and module in units else None


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, imported alprd module) of every run-time import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:  # `from alprd.sinks import schema` imports alprd.sinks.schema
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if sub in known else base))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return sorted({(line, m) for line, m in found if m == "alprd" or m.startswith("alprd.")})


def test_every_module_has_a_layer_and_every_listed_unit_exists():
    units = read_layers(DOC.read_text())
    mods = modules()
    missing = sorted(m for m in mods if unit_of(m, units) is None)
    assert not missing, f"add these to the layers table of docs/architecture.md: {missing}"
    gone = sorted(u for u in units if u not in mods)
    assert not gone, f"the layers table of docs/architecture.md names modules that do not exist: {gone}"


def test_no_import_runs_up_the_layers():
    units = read_layers(DOC.read_text())
    mods = modules()
    wrong = []
    for module, path in sorted(mods.items()):
        src = unit_of(module, units)
        if src is None:
            continue  # reported by the test above
        for line, target in imports(module, path, set(mods)):
            dst = unit_of(target, units)
            if dst is None or dst == src:
                continue
            if units[dst] >= units[src]:
                how = "up" if units[dst] > units[src] else "sideways (same layer)"
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module} (layer {units[src]}) imports "
                             f"{target} (layer {units[dst]}): {how}")
    assert not wrong, "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


def test_the_checker_sees_what_it_must(tmp_path):
    """The test itself can fail: an upward import, a relative one, and an import_module literal
    are seen; an annotation-only import is not."""
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nimport importlib\n"
                   "from alprd.service import daemon\nfrom . import sibling\n"
                   "if TYPE_CHECKING:\n    from alprd.cli import run\n"
                   "importlib.import_module('alprd.cascade')\n")
    known = {"alprd.service.daemon", "alprd.model.sibling"}
    got = imports("alprd.model.m", src, known)
    assert got == [(3, "alprd.service.daemon"), (4, "alprd.model.sibling"), (7, "alprd.cascade")]
    units = {"alprd.model": 1, "alprd.service": 6}
    assert unit_of("alprd.service.daemon", units) == "alprd.service"
    assert unit_of("alprd.web", {"alprd": 0, **units}) is None  # a new package is not the root's
