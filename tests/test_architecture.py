"""The import rules the README states, checked on the source with ``ast`` (every import statement, at any depth,
including ``if TYPE_CHECKING:`` blocks and imports inside functions):

- ``kalshikit/core`` is pure: it imports only pure standard-library modules, ``msgspec``/``numpy``, itself, and the
  leaf modules ``kalshikit.units`` and ``kalshikit.errors``, which import nothing of the kit. No sockets, threads,
  clocks, logging, files, databases or HTTP; nothing else of the kit.
- ``kalshikit/live`` and ``kalshikit/replay`` never import each other: replay runs the monitor without the live
  engine, and the live engine does not depend on the backtester.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "kalshikit"

# Pure standard-library modules core may use: data structures, numbers, typing. No I/O, no clocks, no threads.
PURE_STDLIB = frozenset(
    {
        "__future__",
        "abc",
        "bisect",
        "collections",
        "collections.abc",
        "dataclasses",
        "decimal",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "itertools",
        "math",
        "numbers",
        "operator",
        "re",
        "statistics",
        "string",
        "types",
        "typing",
    }
)
THIRD_PARTY = frozenset({"msgspec", "numpy"})
KIT_LEAVES = frozenset({"kalshikit.units", "kalshikit.errors"})
# Named so that a failure says plainly what was imported; none of these is in the allowed sets above.
IMPURE = frozenset(
    {
        "socket", "threading", "time", "logging", "sqlite3", "os", "requests", "urllib3", "websocket", "aiohttp",
        "pandas", "asyncio", "subprocess", "select", "signal", "random", "datetime", "pathlib", "io", "tempfile",
        "shutil", "queue", "concurrent", "multiprocessing", "urllib", "http", "ssl", "importlib", "builtins",
    }
)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute, dotted


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports_of(path: Path, source: str | None = None) -> list[Import]:
    """Every module ``path`` imports (``from a import b`` counts as ``a`` and, when ``a.b`` is a module, ``a.b``),
    with relative imports made absolute; ``__import__``/``importlib`` calls count as importing ``importlib``."""
    text = path.read_text() if source is None else source
    tree = ast.parse(text, filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(Import(path, node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.append(Import(path, node.lineno, mod))
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if _is_module(sub):
                    out.append(Import(path, node.lineno, sub))
        elif isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == "__import__") or (
                isinstance(f, ast.Attribute) and f.attr == "import_module"
            ):
                out.append(Import(path, node.lineno, "importlib"))
    return out


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("kalshikit."):
        return False
    p = ROOT.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def core_violations(imports: list[Import]) -> list[str]:
    bad = []
    for imp in imports:
        m = imp.module
        top = m.split(".")[0]
        ok = (
            m in PURE_STDLIB
            or top in THIRD_PARTY
            or m in KIT_LEAVES
            or m == "kalshikit.core"
            or m.startswith("kalshikit.core.")
        )
        if not ok or top in IMPURE:
            bad.append(f"{imp.path.relative_to(ROOT)}:{imp.line} imports {m}")
    return bad


def modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def test_the_checker_sees_what_it_must_refuse() -> None:
    """The rules below fail on an impure module: every way of importing counts."""
    fake = PACKAGE / "core" / "fake.py"  # never written: the source is given
    source = (
        "from __future__ import annotations\n"
        "import time\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from kalshikit.live.kit import Kit\n"
        "def f():\n"
        "    import sqlite3\n"
        "    from .. import store\n"
        "    from . import monitor\n"
        "    return __import__('socket')\n"
    )
    found = {v.split(" imports ")[1] for v in core_violations(imports_of(fake, source))}
    assert found == {"time", "kalshikit.live.kit", "sqlite3", "kalshikit.store", "kalshikit", "importlib"}


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_core_imports_nothing_impure(path: Path) -> None:
    assert core_violations(imports_of(path)) == []


@pytest.mark.parametrize("leaf", sorted(KIT_LEAVES))
def test_the_leaf_modules_import_nothing_of_the_kit(leaf: str) -> None:
    """``units`` and ``errors`` import nothing of the kit but each other (``units`` raises ``UnitError``), so core's
    purity does not leak through them."""
    path = ROOT.joinpath(*leaf.split(".")).with_suffix(".py")
    found = imports_of(path)
    kit = [i.module for i in found if i.module.split(".")[0] == "kalshikit" and i.module not in KIT_LEAVES - {leaf}]
    impure = [i.module for i in found if i.module.split(".")[0] in IMPURE]
    assert kit == [] and impure == []


@pytest.mark.parametrize(("package", "other"), [("live", "replay"), ("replay", "live")])
def test_live_and_replay_never_import_each_other(package: str, other: str) -> None:
    forbidden = f"kalshikit.{other}"
    bad = [
        f"{i.path.relative_to(ROOT)}:{i.line} imports {i.module}"
        for path in modules(package)
        for i in imports_of(path)
        if i.module == forbidden or i.module.startswith(forbidden + ".")
    ]
    assert bad == []
