"""Words and fit at 80x24 (issue 14, part 5): the confirm modal scrolls the whole change, tree labels
end in an ellipsis, a key never runs into its value, the theme switch says so, query vectors are
abbreviated in one place, service messages name settings rather than CLI flags, and the config lookup
falls back to the last demo estate.

The console runs on the fixed demo topology (tests/tui_data.py, `live=False`): these are layout and
wording checks, the same at every run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.confirm import ConfirmScreen
from vecdash.tui.widgets.topology import Ref, TopologyTree

from .test_tui_pilot import until
from .test_tui_snapshots import long_plan, wire_plan
from .tui_data import fixed_config, load_topology

SMALL = (80, 24)
ROOT = Path(__file__).resolve().parents[1]


def console() -> VecdashApp:
    return VecdashApp(fixed_config(), topology=load_topology(), live=False)


async def test_the_confirm_modal_scrolls_the_whole_change_at_80x24():
    """Title, summary, question and buttons stay on screen; the steps and SQL scroll with the keys
    (focus stays on Cancel); a line says how much is left below, and the last line can be reached."""
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        app.push_screen(ConfirmScreen(long_plan()))
        await pilot.pause(0.3)
        screen = app.screen
        changes = screen.query_one("#confirm-changes")
        more = screen.query_one("#confirm-more")
        # a loaded machine lays the long change out (and shows the hint) later than 0.3 s
        await until(pilot, lambda: changes.max_scroll_y > 0 and more.display, timeout=10, what="the hint")
        screen_region = screen.region
        for part in ("#confirm-title", "#confirm-summary", "#confirm-question", "#confirm-yes", "#confirm-no"):
            region = screen.query_one(part).region
            assert region.height > 0 and screen_region.contains_region(region), (part, region)
        assert changes.region.height >= 10, changes.region  # most of the screen goes to the change itself
        assert changes.max_scroll_y > 0 and changes.scroll_y == 0
        assert more.display and f"↓ {changes.max_scroll_y} more line(s)" in str(more.render())
        await pilot.press("pagedown")
        assert changes.scroll_y > 0
        await pilot.press("end")
        await pilot.pause(0.1)
        assert changes.scroll_y == changes.max_scroll_y
        assert "end of the change" in str(more.render())
        await pilot.press("home", "down")
        assert changes.scroll_y == 1
        assert app.focused is screen.query_one("#confirm-no")  # scrolling never moved focus to Apply
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_a_short_change_needs_no_scroll_hint():
    app = console()
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ConfirmScreen(wire_plan()))
        await pilot.pause(0.3)
        more = app.screen.query_one("#confirm-more")
        await until(pilot, lambda: not more.display, timeout=10, what="no hint")  # laid out late under load
        assert app.screen.query_one("#confirm-changes").max_scroll_y == 0


async def test_tree_labels_end_in_an_ellipsis_where_the_pane_ends_at_80x24():
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        tree = app.query_one(TopologyTree)
        width = tree.scrollable_content_region.width
        shown = range(min(tree.size.height, len(tree._tree_lines)))
        lines = [tree.render_line(y).text.rstrip() for y in shown]
        labels = [tree._tree_lines[y].node.label.plain for y in shown]
        assert all(len(text) <= width for text in lines)
        cut = [text for text, label in zip(lines, labels) if not text.endswith(label.rstrip())]
        assert cut and all(text.endswith("…") for text in cut), lines
        assert any("legacy_b → vectors-b" in text for text in lines), lines  # a space on each side of the arrow


async def test_a_stats_key_never_runs_into_its_value():
    """A 13-letter server option (async_capable) still has a space before its value."""
    topo = load_topology()
    server = next(s for s in topo.primary.foreign_servers if s.name == "vectors_a")
    server.options["async_capable"] = "true"
    server.options["use_remote_estimate"] = "true"
    app = VecdashApp(fixed_config(), topology=topo, live=False)
    async with app.run_test(size=SMALL) as pilot:
        assert app.query_one(TopologyTree).select_ref(Ref("server", "primary", "", "vectors_a"))
        await pilot.pause(0.2)
        body = str(app.query_one("#stats-body").render())
        assert "async_capable true" in body and "use_remote_estimate true" in body, body
        assert "latency" not in body  # the server's sheet, not the pod's


async def test_the_index_build_options_are_whole_at_80x24():
    from textual.widgets import Checkbox

    from vecdash.tui.screens.index_build import IndexBuildScreen

    app = console()
    async with app.run_test(size=SMALL) as pilot:
        app.push_screen(IndexBuildScreen(app.api, "vectors-a", "docs"))
        await pilot.pause(0.3)
        box = app.screen.query_one("#opt-conc", Checkbox)
        shown = box.content_region.intersection(box.parent.content_region)  # the grid cell cuts it off
        assert shown.width >= len(str(box.render()).rstrip()), (shown, str(box.render()))


async def test_the_theme_switch_says_which_theme_is_on():
    app = console()
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("t")
        await until(pilot, lambda: any("theme: light" in str(n.message) for n in app._notifications),
                    timeout=10, what="the theme's notification")
        assert not app.current_theme.dark


# --- query vectors: one abbreviation ------------------------------------------------------------

@pytest.mark.parametrize("text,shown", [
    ("(vec <=> '[" + ",".join(f"0.0{i % 10}" for i in range(384)) + "]'::vector)",
     "(vec <=> '[0.00, 0.01, … 384 values]'::vector)"),
    ("vec OPERATOR(public.<->) '[1.5, 2.25, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]'::public.vector",
     "vec OPERATOR(public.<->) '[1.5, 2.25, … 16 values]'::public.vector"),
    ("'{1:0.5,3:0.25,7:0.125,9:1,11:2,13:3,15:4,17:5,19:6}/1000'::sparsevec",
     "'{1:0.5, 3:0.25, … 9 entries}/1000'::sparsevec"),
    ("'[1,2,3]'::vector and '{\"year\": 2020}'::jsonb", "'[1,2,3]'::vector and '{\"year\": 2020}'::jsonb"),
])
def test_query_vectors_are_cut_to_their_first_values_and_length(text, shown):
    from vecdash.lines import short_vectors

    assert short_vectors(text) == shown


# --- services name settings, the CLI and the console name their controls -------------------------

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _strings_outside_docstrings(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_service_messages_name_settings_not_cli_flags():
    """The console shows service messages as they are: a message that says `--iterative relaxed` or
    `--upsert` names a flag the console does not have. Services say the setting (iterative,
    ef_search, upsert, route fanout), which is the console control's label and the CLI flag's stem."""
    found = [f"{path.relative_to(ROOT)}:{line}: {text!r}"
             for path in sorted((ROOT / "vecdash" / "service").rglob("*.py"))
             for line, text in _strings_outside_docstrings(path) if FLAG.search(text)]
    assert found == []


def test_one_spelling_of_iterative_scan_modes_in_the_cli(capsys):
    """The CLI offers pgvector's spellings, the ones the console's select shows (the short ones
    still work)."""
    from vecdash.cli import main as cli_main
    from vecdash.cli.query import register  # noqa: F401 - the parser is built from it

    with pytest.raises(SystemExit):
        cli_main(["query", "--help"])
    out = capsys.readouterr().out
    assert "{off,strict_order,relaxed_order}" in out and "relaxed," not in out


# --- the config lookup's last fallback: the last demo estate -------------------------------------

def test_the_last_demo_estate_is_the_config_lookups_last_fallback(tmp_path, monkeypatch, capsys):
    from vecdash import demo
    from vecdash.cli import main as cli_main
    from vecdash.config import config_search_path, find_config

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with pytest.raises(Exception) as err:
        find_config()
    assert "the last `vecdash demo` estate" in str(err.value)
    estate = tmp_path / "estate"
    estate.mkdir()
    config = estate / "vecdash.yaml"
    config.write_text("pods:\n  - name: p\n    role: primary\n    dsn: postgresql://u@127.0.0.1:9/x\n")
    config.chmod(0o600)
    demo.remember(config)
    assert config_search_path()[-1] == config and find_config() == config
    assert oct((tmp_path / "state" / "vecdash" / "last-demo-config").stat().st_mode & 0o777) == "0o600"
    code = cli_main(["status", "--json"])  # from any directory: the pod is down, the estate is named
    err = capsys.readouterr().err
    assert f"using the last `vecdash demo` estate's: {config}" in err, err
    assert code in (0, 1)
    (Path.cwd() / "vecdash.yaml").write_text(config.read_text())  # a config of one's own comes first
    (Path.cwd() / "vecdash.yaml").chmod(0o600)
    assert find_config() == Path.cwd() / "vecdash.yaml"
