"""The theme's colours reach text parts as Textual draws them: `$text-muted` (a translucent `auto 60%`)
is dim in the panes and in every modal, not full white. One home, vecdash.tui.text.theme_style.

The console runs on the fixed demo topology (tests/tui_data.py, `live=False`)."""

from __future__ import annotations

import re
from pathlib import Path

from vecdash.tui.app import VecdashApp
from vecdash.tui.screens.modal import Modal
from vecdash.tui.widgets.activity import ActivityPane

from .tui_data import fixed_config, load_topology

ROOT = Path(__file__).resolve().parents[1]


async def test_dim_text_is_dim_in_a_pane_and_in_any_modal_on_both_themes():
    app = VecdashApp(fixed_config(), topology=load_topology(), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(ActivityPane)
        app.push_screen(Modal())
        await pilot.pause(0.1)
        modal = app.screen
        for theme, full in (("textual-dark", (255, 255, 255)), ("textual-light", (0, 0, 0))):
            app.theme = theme
            await pilot.pause(0.1)
            for style in (pane._st("dim"), modal.tone("dim")):
                rgb = tuple(style.color.get_truecolor())
                # drawn between the text and the background: a grey, not the full-contrast colour
                assert rgb != full and len(set(rgb)) == 1 and 40 < rgb[0] < 215, (theme, rgb)
                assert style.bgcolor is None  # the row's own background (zebra, cursor) shows through
            assert pane._st("ok").color.get_truecolor() != full


def test_component_styles_come_only_through_theme_style():
    """A partial component style drops a translucent colour's alpha: every pane and modal asks
    theme_style instead."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "vecdash" / "tui").rglob("*.py")
                 if p.name != "text.py" and re.search(r"get_component_rich_style\(", p.read_text())]
    assert not offenders
