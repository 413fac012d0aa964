"""The CLI imports only the command that runs (vecdash.cli.COMMANDS): a cron job running `vecdash
status` over many pods pays for status.py, not for every command module, numpy and every service.

Each case runs in a fresh interpreter (this process has imported everything already) and reports the
command modules it loaded. The table itself is checked against the modules that register commands.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import vecdash.cli as cli

ROOT = Path(__file__).resolve().parent.parent
HELPERS = {"context", "output", "progress", "console", "build_options", "collection_arg"}  # shared by commands, not commands


def command_modules() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(cli.__path__) if m.name not in HELPERS}


def loaded_after(code: str, tmp_path: Path) -> tuple[int, set[str], set[str]]:
    """Run `code` (which may call main) in a fresh interpreter: its exit code, the command modules of
    vecdash.cli it imported and the heavy third-party packages it imported."""
    out = tmp_path / "modules.json"
    script = (f"import json, sys\ncode = 0\ntry:\n" + "".join(f"    {l}\n" for l in code.splitlines()) +
              "except SystemExit as exc:\n    code = exc.code\n"
              f"json.dump([code, sorted(sys.modules)], open({str(out)!r}, 'w'))\n")
    res = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.exists(), res.stderr
    code, modules = json.loads(out.read_text())
    mine = {m.removeprefix("vecdash.cli.") for m in modules if m.startswith("vecdash.cli.")} & command_modules()
    heavy = {m for m in ("numpy", "textual", "psycopg", "asyncio") if m in modules}
    return code, mine, heavy


def test_vecdash_status_imports_only_its_own_command_module(estate, tmp_path):
    cfg = estate.write_config(tmp_path / "vecdash.yaml")
    code, mine, heavy = loaded_after(f"from vecdash.cli import main\ncode = main(['--config', {str(cfg)!r}, 'status'])",
                                     tmp_path)
    assert code == 0
    assert mine == {"status"}
    assert "numpy" not in heavy and "textual" not in heavy


def test_a_command_after_options_and_its_help_import_only_that_module(tmp_path):
    # an abbreviated option and a config file named like a command: argparse finds the command
    code, mine, _ = loaded_after("from vecdash.cli import main\nmain(['--conf', 'load', '--read-only', 'wire', '--help'])",
                                 tmp_path)
    assert (code, mine) == (0, {"wire"})


def test_the_console_version_and_a_typo_import_no_command_module(tmp_path):
    for argv in (["--refresh", "5", "--config", "x.yaml"], ["--read-only"]):
        code, mine, heavy = loaded_after(f"from vecdash.cli import build_parser\n"
                                         f"args = build_parser({argv!r}).parse_args({argv!r})\n"
                                         f"assert getattr(args, 'handler', None) is None", tmp_path)
        assert (code, mine) == (0, set()), argv
    code, mine, heavy = loaded_after("from vecdash.cli import main\nmain(['--version'])", tmp_path)
    assert (code, mine, heavy) == (0, set(), set())
    code, mine, _ = loaded_after("from vecdash.cli import main\nmain(['stauts'])", tmp_path)
    assert (code, mine) == (2, set())


def test_the_top_level_help_lists_every_command(capsys):
    try:
        cli.main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert f"\n    {name} " in out, name


def test_the_command_table_matches_the_modules():
    """Every module that registers commands is in COMMANDS, with exactly the commands it registers,
    and `vecdash --help` lists them in the table's order."""
    assert set(cli.COMMANDS.values()) == command_modules()
    for module in command_modules():
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"vecdash.cli.{module}").register(sub, argparse.ArgumentParser(add_help=False))
        assert list(sub.choices) == [c for c, m in cli.COMMANDS.items() if m == module], module
    full = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(full.choices) == list(cli.COMMANDS)
