"""Text from a database is data: hostile names, ids and metadata on real pods (tests/hostile_data.py),
through the console (pilot: tree, every pane, every modal) and the CLI (every command that names them).

- Static: no display call in vecdash/tui gets a string built from data (f-string, `%`, `+`, `.format`,
  markup escaping); every notification goes through vecdash.tui.text.notify (markup off).
- Console: each hostile string shows literally (newlines escaped) on every widget, and the console
  keeps running; the doctor's `[fix]` marker stays.
- CLI: query (every route), recall, wire --apply, verify, index list/build, load, status, doctor exit 0
  and print the names; a `%` in a name is never read as a placeholder.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, OptionList, Select, Static

from tests.hostile_data import HOSTILE, ROWS, index_name, quoted, start_hostile_estate
from vecdash.cli import main as cli_main
from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.screens.collection_load import CollectionLoadScreen
from vecdash.tui.screens.index_build import IndexBuildScreen
from vecdash.tui.screens.recall_sweep import RecallSweepScreen
from vecdash.tui.text import one_line
from vecdash.tui.widgets.topology import Ref, TopologyTree
from vecdash.tui.widgets.wiring import WiringPane
from vecdash.tui.widgets.workbench import WorkbenchPane

SIZE = (140, 50)
TUI = Path(__file__).resolve().parent.parent / "vecdash" / "tui"


@pytest.fixture(scope="module")
def hostile():
    estate = start_hostile_estate()
    try:
        yield estate
    finally:
        estate.stop()


# --- static: the rule holds by construction ---------------------------------------------------------

# Textual/Rich calls that display their arguments (widgets, options, cells, labels, logs).
SINKS = {"update", "Label", "Static", "Option", "add_option", "add_row", "add_rows", "add_columns", "add_column",
         "set_options", "Select", "add", "add_leaf", "set_label", "write", "Button", "Checkbox", "error", "warning",
         "info", "Toast"}


def _built_from_data(node: ast.AST) -> ast.AST | None:
    """The first sub-expression that makes a string from parts: f-string, `%`, `+` of strings, .format(),
    markup escaping. Arguments of vecdash.tui.text builders are skipped: they take data as parts."""
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in ("styled", "line", "block", "cell", "one_line", "Syntax"):
            return None
        if name in ("format", "escape", "from_markup", "join"):
            return node
    if isinstance(node, ast.JoinedStr):
        return node
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        if any(isinstance(side, (ast.Constant, ast.JoinedStr)) and not isinstance(getattr(side, "value", ""), (int, float))
               for side in (node.left, node.right)):
            return node
    for child in ast.iter_child_nodes(node):
        hit = _built_from_data(child)
        if hit is not None:
            return hit
    return None


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "rich.markup":
            out.append(f"{path.name}:{node.lineno}: rich.markup (escaping per call site) instead of vecdash.tui.text")
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "notify" and isinstance(node.func, ast.Attribute) and path.name != "text.py":
            out.append(f"{path.name}:{node.lineno}: .notify() directly: use vecdash.tui.text.notify (markup off)")
        for kw in node.keywords:
            if kw.arg == "markup" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                out.append(f"{path.name}:{node.lineno}: markup= other than False")
        if name in SINKS:
            for arg in [*node.args, *(kw.value for kw in node.keywords if kw.arg in (None, "label", "prompt", "content",
                                                                                        "renderable"))]:
                hit = _built_from_data(arg)
                if hit is not None:
                    out.append(f"{path.name}:{node.lineno}: {name}() gets a string built from data: {ast.unparse(hit)[:80]}")
    return out


def test_no_display_call_gets_a_string_built_from_data():
    files = sorted(TUI.rglob("*.py"))
    assert len(files) >= 10
    problems = [v for f in files for v in _violations(f)]
    assert not problems, "\n".join(problems)


def test_the_static_check_finds_what_it_forbids(tmp_path):
    """The checker itself can fail: each forbidden shape is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from rich.markup import escape\n"
                   "def f(self, w, name, exc):\n"
                   "    w.update(f'[b]{name}[/b]')\n"
                   "    w.update('x %s' % name)\n"
                   "    w.update('pod ' + name)\n"
                   "    Label('{}'.format(name))\n"
                   "    self.notify(str(exc))\n"
                   "    Static(name, markup=True)\n"
                   "    w.add_row(name, f'{name}')\n")
    found = _violations(bad)
    assert len(found) == 8, found
    ok = tmp_path / "ok.py"
    ok.write_text("def f(self, w, name):\n    w.update(styled(('x', 'bold'), f'{name}'))\n    w.update(line(name))\n"
                  "    notify(self, 'a ', name)\n    w.update('constant')\n")
    assert _violations(ok) == []


# --- console -------------------------------------------------------------------------------------------


async def until(pilot, cond, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def shown(widget) -> str:
    """What a widget displays, as plain text."""
    return str(widget.render())


def plain(prompt) -> str:
    return getattr(prompt, "plain", None) or str(prompt)


def literal(s: str) -> str:
    """How a name reads in a one-line place: exactly, with a newline escaped."""
    return one_line(s)


async def test_console_tree_and_panes_show_every_hostile_name(hostile):
    app = VecdashApp(hostile.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None and all(p.up for p in app.topology.pods), what="refresh")
        tree = app.query_one(TopologyTree)
        labels = []
        stack = list(tree.root.children)
        while stack:
            n = stack.pop()
            labels.append(n.label.plain)
            stack.extend(n.children)
        wb = app.query_one(WorkbenchPane)
        options = [plain(p) for p, _ in wb.query_one("#wb-collection", Select)._options]
        for s in HOSTILE:
            name = literal(s)
            # tree: schema group, collection, server, foreign table, view
            assert any(l.startswith(name) and "4d" in l for l in labels), (s, "collection")
            assert any(l == name for l in labels), (s, "schema")
            assert any(f"{name} → " in l for l in labels), (s, "server")
            assert any(l.startswith(f"{name}.{name} → ") for l in labels), (s, "foreign table")
            assert any(l.startswith(f"{name}.{name} view → ") for l in labels), (s, "view")
            assert f"hostile: {name}.{name}" in options
            # every kind of node, selected: Stats shows it literally
            for ref, want in (
                (Ref("collection", "hostile", s, s), [f"{name}.{name}", index_name(name)]),
                (Ref("schema", "hostile", s), []),
                (Ref("server", "primary", "", s), [f"server {name}", name]),  # mappings list role S
                (Ref("foreign_table", "primary", s, s), [f"{name}.{name}", f"{name}.{name} view"]),
                (Ref("view", "primary", s, s + " view"), [f"{name}.{name} view", f"{name}.{name}"]),
            ):
                assert tree.select_ref(ref), ref
                await pilot.pause()
                assert app.selected == ref
                body = shown(app.query_one("#stats-body"))
                for w in want:
                    assert w in body, (ref, w, body)
            # the wiring form's Select shows the collection chosen in the tree
            app.query_one(WiringPane).suggest(Ref("collection", "hostile", s, s), force=True)
            await pilot.pause()
            current = app.query_one(WiringPane).query_one("#wire-collection", Select)
            assert current.value == (s, s)
            assert f"{name}.{name}" in shown(current.query_one("#label", Static))
        assert app.is_running


async def test_console_query_results_and_history_are_literal(hostile):
    app = VecdashApp(hostile.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="refresh")
        pane = app.query_one(WorkbenchPane)
        app.action_pane("workbench")
        for s in HOSTILE:
            pane.suggest(Ref("collection", "hostile", s, s), force=True)
            pane.query_one("#wb-limit").value = str(ROWS)
            before = len(pane.history)
            pane.run()
            await until(pilot, lambda: len(pane.history) > before or "error" in str(pane.query_one("#wb-status").classes),
                        what=f"query on {s!r}")
            assert len(pane.history) == before + 1, shown(pane.query_one("#wb-status"))
            table = pane.query_one("#wb-results", DataTable)
            ids = {table.get_row_at(i)[0].plain for i in range(table.row_count)}
            assert ids == {literal(f"{s}-{k}") for k in range(ROWS)}
            headers = [c.label.plain for c in table.columns.values()]
            assert literal(s) in headers  # the metadata key as a column
            col = headers.index(literal(s))
            assert {table.get_row_at(i)[col].plain for i in range(table.row_count)} == {literal(s)}  # whole: room
            history = pane.query_one("#wb-history", OptionList)
            assert f"hostile:{literal(s)}.{literal(s)}" in plain(history.get_option_at_index(history.option_count - 1).prompt)
        # a server's error text about a hostile name is shown, not parsed
        pane.query_one("#wb-vector-mode", Select).value = "like id"
        pane.query_one("#wb-vector").value = "[bold]nope[/]"
        pane.run()
        await until(pilot, lambda: "nope" in shown(pane.query_one("#wb-status")), what="like-id error")
        assert "[bold]nope[/]" in shown(pane.query_one("#wb-status"))
        assert app.is_running


async def test_console_wiring_confirm_verify_and_doctor_are_literal(hostile):
    app = VecdashApp(hostile.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="refresh")
        pane = app.query_one(WiringPane)
        for s in ("x[/b]", "50%off", "[bold]x", "new\nline"):
            name = literal(s)
            assert app.query_one(TopologyTree).select_ref(Ref("collection", "hostile", s, s))
            await pilot.pause()
            pane.query_one("#wire-view").value = ""
            pane.plan_shown = None
            await pilot.press("w")
            await until(pilot, lambda: pane.plan_shown is not None or "error" in shown(pane.query_one("#wire-status")),
                        what=f"plan for {s!r}")
            assert pane.plan_shown is not None, shown(pane.query_one("#wire-status"))
            assert name in shown(pane.query_one("#wire-status"))
            if pane.plan_shown.is_noop:
                continue
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation modal")
            modal = app.screen
            assert name in shown(modal.query_one("#confirm-title"))
            steps = [shown(w) for w in modal.query(".confirm-step")]
            assert steps and any(name in st for st in steps), steps
            pane.last_verification = None
            await pilot.press("y")
            await until(pilot, lambda: pane.last_verification is not None, what=f"verification of {s!r}")
            verify = shown(pane.query_one("#wire-verify-view"))
            assert "pushdown: YES" in verify or "pushdown: NO" in verify
            assert name in verify
        # the doctor: findings name hostile servers, and `[fix]` stays
        await pilot.press("d")
        box = pane.query_one("#wire-findings", OptionList)
        await until(pilot, lambda: box.display and box.option_count > 0, what="doctor findings")
        texts = [plain(box.get_option_at_index(i).prompt) for i in range(box.option_count)]
        fixable = [t for t in texts if t.endswith("  [fix]")]
        assert fixable, texts
        slow = [r[0] for r in hostile.sql("primary", "select srvname from pg_foreign_server where not "
                                          "coalesce(srvoptions, '{}') @> array['extensions=vector']")]
        assert len(slow) >= len(HOSTILE) // 2 - 1  # seeded without extensions 'vector' (a wiring may add it to one)
        for s in slow:
            assert any(f"server {literal(s)}:" in t for t in fixable), (s, texts)
        assert app.is_running


async def test_console_modals_show_names_literally(hostile):
    app = VecdashApp(hostile.config())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.topology is not None, what="refresh")
        for s in ("see [/docs/x]", "%s", "a'b\"c", "new\nline"):
            name = literal(s)
            assert app.query_one(TopologyTree).select_ref(Ref("collection", "hostile", s, s))
            await pilot.pause()
            # recall sweep (the slow modal: two variants run it whole): title, status, recommendation
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, RecallSweepScreen), what="recall modal")
            sweep = app.screen
            assert f"Recall sweep on {name}.{name} (pod hostile)" in shown(sweep.query_one("#recall-title"))
            if s in ("see [/docs/x]", "%s"):
                await until(pilot, lambda: sweep.result is not None or sweep.error is not None, timeout=30,
                            what=f"sweep on {s!r}")
                assert sweep.error is None, sweep.error
                assert literal(index_name(s)) in shown(sweep.query_one("#recall-status"))
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, RecallSweepScreen), what="recall closed")
            # index build: title and the previewed statement name the collection
            await pilot.press("i")
            await until(pilot, lambda: isinstance(app.screen, IndexBuildScreen), what="index modal")
            build = app.screen
            assert f"Index build on {name}.{name} (pod hostile)" in shown(build.query_one("#build-title"))
            await until(pilot, lambda: build.preview is not None or build.preview_error is not None, what="preview")
            # the collection's HNSW index has the defaults: the same build is refused, both names shown literally
            assert build.preview is None and "already has" in build.preview_error
            refusal = shown(build.query_one("#build-estimate"))
            assert literal(f"{s}.{s}") in refusal and literal(index_name(s)) in refusal
            build.query_one("#opt-m", Input).value = "8"  # another index: previewed, the statement quoted
            await until(pilot, lambda: build.preview is not None, what="preview at m=8")
            assert s.replace('"', '""') in shown(build.query_one("#build-estimate"))
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, IndexBuildScreen), what="index modal closed")
            # collection/load: the schema in the title
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, CollectionLoadScreen), what="load modal")
            assert f"(schema {name})" in shown(app.screen.query(Static).first())
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, CollectionLoadScreen), what="load modal closed")
        assert app.is_running


# --- CLI -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(hostile, tmp_path_factory):
    cfg = hostile.write_config(tmp_path_factory.mktemp("hostile-cli") / "vecdash.yaml")

    def run(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(["--config", str(cfg), *args])
        return code, out.getvalue(), err.getvalue()

    return run


@pytest.mark.parametrize("s", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_cli_query_every_route(cli, s):
    q = f"{quoted(s)}.{quoted(s)}"
    for route in ("direct", "fanout", "primary", "federated"):
        code, out, err = cli("query", "hostile", q, "--random", "--route", route, "--limit", str(ROWS),
                             "--filter", json.dumps({"n": {"$gte": 0}}), "--json")
        assert code == 0, (route, err)
        rows = json.loads(out)["rows"]
        assert {r["id"] for r in rows} == {f"{s}-{k}" for k in range(ROWS)}, route
        assert all(r["metadata"][s] == s for r in rows)
    code, out, err = cli("query", "hostile", q, "--like", f"{s}-3", "--recall", "--explain", "--exact")
    assert code == 0, err
    assert f"{s}-3" in out


@pytest.mark.parametrize("s", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_cli_recall_wire_verify_index_load(cli, s, tmp_path):
    code, out, err = cli("recall", "hostile", quoted(s), "--schema", s, "--samples", "4", "--values", "10,20",
                         "--quiet", "--json")
    assert code == 0, err
    assert json.loads(out)["sweep"]["index"] == index_name(s)
    code, out, err = cli("wire", "hostile", quoted(s), "--schema", s, "--view", f"public.{quoted(s + ' wired')}",
                         "--apply")
    assert code == 0, (out, err)
    assert "EXPLAIN failed" not in out
    code, out, err = cli("verify", "hostile", quoted(s), "--schema", s, "--json")
    assert code in (0, 1), err  # 1 = no pushdown (a server seeded without extensions 'vector' may be reused)
    v = json.loads(out)
    assert v["foreign_table"] and "EXPLAIN failed" not in v["reason"]
    assert v["remote_sql"] and s.replace('"', '""') in v["remote_sql"]
    code, out, err = cli("index", "list", "hostile", quoted(s), "--schema", s, "--json")
    assert code == 0, err
    assert index_name(s) in {i["name"] for i in json.loads(out)["indexes"]}
    data = tmp_path / "rows.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"{s}-{k}", "vec": [0.5, 0.1, 0.2, k], "metadata": {s: s, "n": k}})
                              for k in range(ROWS)) + "\n")
    code, out, err = cli("load", "hostile", quoted(s), str(data), "--schema", s, "--upsert", "--quiet")
    assert code == 0, err


def test_cli_collection_is_name_or_schema_dot_name(cli, hostile, tmp_path):
    """Every command naming one collection reads COLLECTION alike (cli.collection_arg): `schema.name`, quoted
    parts holding dots; its schema wins over --schema; a three-part name is exit 2 before any session opens."""
    from psycopg import sql

    forms = (("vecs.plain_form", "vecs", "plain_form"), ('"Odd.Schema"."odd.name"', "Odd.Schema", "odd.name"))
    hostile.sql("hostile", sql.SQL("create schema if not exists {}").format(sql.Identifier("Odd.Schema")))
    for _, schema, name in forms:  # copies of vecs."[fix]" (rows and HNSW index): the other tests' tables stay as seeded
        table, src = sql.Identifier(schema, name), sql.Identifier("vecs", "[fix]")
        hostile.sql("hostile", sql.SQL("create table {} (like {} including all)").format(table, src))
        hostile.sql("hostile", sql.SQL("insert into {} select * from {}").format(table, src))
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"id": "form-0", "vec": [0.5, 0.1, 0.2, 0.3], "metadata": {"n": 0}}) + "\n")
    for form, schema, name in forms:
        code, out, err = cli("index", "list", "hostile", form, "--schema", "elsewhere", "--json")
        assert code == 0, (form, err)
        assert {(i["schema"], i["table"]) for i in json.loads(out)["indexes"]} == {(schema, name)}, form
        code, out, err = cli("load", "hostile", form, str(data), "--upsert", "--json")
        assert code == 0, (form, err)
        assert (json.loads(out)["schema"], json.loads(out)["collection"]) == (schema, name)
        assert f"load {schema}.{name} [" in err  # the progress bar names it as the result line does
        code, out, err = cli("recall", "hostile", form, "--samples", "2", "--values", "10", "--quiet", "--json")
        assert code == 0, (form, err)
        assert (json.loads(out)["sweep"]["schema"], json.loads(out)["sweep"]["collection"]) == (schema, name)
        code, out, err = cli("browse", "hostile", form, "--limit", "100", "--format", "json")
        assert code == 0, (form, err)
        assert len(json.loads(out)) == ROWS + 1, form
        code, out, err = cli("keys", "hostile", form, "--json")
        assert code == 0, (form, err)
        assert (json.loads(out)["schema"], json.loads(out)["collection"]) == (schema, name)
    commands = (["index", "build", "hostile"], ["index", "list", "hostile"], ["index", "cancel", "hostile"],
                ["load", "hostile", "COLL", str(data)], ["recall", "hostile"], ["browse", "hostile"], ["keys", "hostile"],
                ["query", "hostile", "COLL", "--random"], ["maintain", "analyze", "hostile"], ["wire", "hostile"],
                ["unwire", "hostile"], ["verify", "hostile"])
    for command in commands:
        args = [a.replace("COLL", "vecs.a.b") for a in command] + ([] if "COLL" in command else ["vecs.a.b"])
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(["--config", str(tmp_path / "no such config.yaml"), *args])  # never read
        assert code == 2 and "expected NAME or SCHEMA.NAME" in err.getvalue() and not out.getvalue(), (args, err.getvalue())


def test_cli_status_doctor_index_list_name_everything(cli, hostile):
    code, out, err = cli("status", "--json")
    assert code == 0, err
    doc = json.dumps(json.loads(out), ensure_ascii=False)
    for s in HOSTILE:
        assert json.dumps(s, ensure_ascii=False)[1:-1] in doc
    slow = {r[0] for r in hostile.sql("primary", "select srvname from pg_foreign_server where not "
                                      "coalesce(srvoptions, '{}') @> array['extensions=vector']")}
    assert slow
    code, out, err = cli("doctor", "--json")
    findings = json.loads(out)
    subjects = json.dumps(findings, ensure_ascii=False)
    assert code == 1, err  # findings
    for s in slow:
        assert json.dumps(s, ensure_ascii=False)[1:-1] in subjects, s
    code, out, err = cli("index", "list", "hostile")
    assert code == 0, err
    for s in HOSTILE:
        assert index_name(s).split("\n")[-1] in out
