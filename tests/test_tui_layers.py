"""Layering: the service and db layers never import Textual (the CLI and the console share them)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

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
    assert dangerous <= {a.name for a in actions.available(read_only=False)}
    keys = [k for a in actions.ACTIONS for k in a.key.split(",")]
    assert len(keys) == len(set(keys)), "two actions share a key"
