"""Layering: which folder may import which (docs/architecture.md), checked statically and by importing:
the service and db layers never import Textual (the CLI and the console share them), the console never
imports db/ or cli/, nothing loads a module by a string, and the console's colours come from the theme."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import vecdash
import vecdash.db
import vecdash.service


def test_services_do_not_import_textual():
    mods = [f"vecdash.service.{m.name}" for m in pkgutil.iter_modules(vecdash.service.__path__)]
    mods += [f"vecdash.db.{m.name}" for m in pkgutil.iter_modules(vecdash.db.__path__)]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in mods)
            + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
            + "print(len(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0", f"a service or db module imports Textual: {mods}"


def test_read_only_strips_every_dangerous_action():
    from vecdash.tui import actions

    dangerous = {a.name for a in actions.ACTIONS if a.dangerous}
    assert {"apply_plan", "unwire", "build_index"} <= dangerous
    offered = {a.name for a in actions.available(read_only=True, demo=True)}
    assert not offered & dangerous
    assert dangerous <= {a.name for a in actions.available(read_only=False, demo=True)}
    assert {a.name for a in actions.ACTIONS if a.dangerous and not a.demo_only} <= {
        a.name for a in actions.available(read_only=False)}
    keys = [k for a in actions.ACTIONS for k in a.key.split(",")]
    assert len(keys) == len(set(keys)), "two actions share a key"


# --- static: which folder may import which (docs/architecture.md) ----------------------------------

VECDASH = Path(vecdash.__file__).parent
FORBIDDEN = {  # folder -> packages it must never import, not even lazily inside a function
    "tui": ("vecdash.db", "vecdash.cli"),
    "service": ("vecdash.cli", "vecdash.tui"),
    "db": ("vecdash.service", "vecdash.cli", "vecdash.tui"),
}


def imported_modules(path: Path, root: Path = VECDASH.parent) -> list[tuple[int, str]]:
    """Every module an `import` names, anywhere in the file (lazy imports included), as absolute names;
    `from vecdash import db` counts as importing vecdash.db. `root` holds the top package."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_layers_import_only_downwards():
    """The console never imports db/ or cli/ (everything it asks of a database goes through
    vecdash.service.console_api); services never import the CLI or the console; db/ imports no layer above."""
    offenders = []
    for folder, forbidden in FORBIDDEN.items():
        for path in sorted((VECDASH / folder).rglob("*.py")):
            for line, module in imported_modules(path):
                if any(_under(module, f) for f in forbidden):
                    offenders.append(f"{path.relative_to(VECDASH)}:{line}: imports {module}")
    assert not offenders, offenders


def string_imports(path: Path) -> list[str]:
    """Imports a reader (or a tool) cannot follow: importlib, import_module, __import__."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(_under(a.name, "importlib") for a in node.names):
            out.append(f"{path.name}:{node.lineno}: import importlib")
        elif isinstance(node, ast.ImportFrom) and _under(node.module or "", "importlib"):
            out.append(f"{path.name}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Name) and node.id == "__import__":
            out.append(f"{path.name}:{node.lineno}: __import__")
        elif isinstance(node, ast.Attribute) and node.attr == "import_module":
            out.append(f"{path.name}:{node.lineno}: import_module")
    return out


def test_console_and_services_import_by_name_only():
    offenders = [o for folder in ("tui", "service") for p in sorted((VECDASH / folder).rglob("*.py"))
                 for o in string_imports(p)]
    assert not offenders, offenders


COLOUR = re.compile(r"(?<![\w-])(?:(?:bright_)?(?:black|red|green|yellow|blue|magenta|cyan|white)|gr[ae]y\d*)(?![\w-])"
                    r"|(?<![\w-])#[0-9a-fA-F]{6}(?![\w-])|\brgb\(")


def colour_literals(path: Path) -> list[str]:
    """String literals (docstrings aside) that name a colour: `"red"`, `"[bold red]"`, `"#ff0000"`."""
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [f"{path.name}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
            and COLOUR.search(n.value)]


def test_console_colours_come_from_the_theme():
    """Colours are theme variables ($error, $success ...) in styles/*.tcss, reached through component
    classes; a colour name in Python would ignore the theme (and the light one)."""
    offenders = [o for p in sorted((VECDASH / "tui").rglob("*.py")) for o in colour_literals(p)]
    assert not offenders, offenders


def test_the_static_checks_find_what_they_forbid(tmp_path):
    bad = tmp_path / "vecdash" / "tui" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        '"""A docstring may say red."""\n'
        "import importlib\n"
        "from vecdash.db.pods import PodClient\n"
        "from vecdash import cli\n"
        "def later():\n"
        "    from ..db import connect\n"
        "    mod = importlib.import_module('vecdash.service.x')\n"
        "    return (__import__('os'), line('x', 'red'), styled(('y', 'bold bright_yellow')),\n"
        "            '[green]ok[/]', '#ff0000')\n")
    modules = {m for _, m in imported_modules(bad, root=tmp_path)}
    assert {"vecdash.db.pods", "vecdash.cli", "vecdash.db.connect"} <= modules
    assert len(string_imports(bad)) == 3
    found = {o.split(": ", 1)[1] for o in colour_literals(bad)}
    assert found == {"'red'", "'bold bright_yellow'", "'[green]ok[/]'", "'#ff0000'"}, found
