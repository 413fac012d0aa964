"""The confirmation modal shown before anything changes a database: what will change, then y / n.

The whole change is there at any size: the steps and their SQL scroll (arrows, PgUp / PgDn, Home /
End) between the title and the question, which stay put; a line under the SQL says how much is
left below. Focus stays on Cancel, so enter never applies a change the user has not asked for."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Label, Static

from vecdash.model import Plan
from vecdash.secrets import mask_text
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line, styled


class ChangeList(VerticalScroll):
    """The steps and their SQL. When its height settles, the screen's "more below" line follows."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    class Resized(Message):
        pass


class ConfirmScreen(Modal[bool]):
    """Dismisses with True only on an explicit yes. Shows the plan's pending steps and their masked SQL."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes, apply"),
        Binding("n,escape", "answer(False)", "no"),
        *(Binding(key, f"scroll_changes('{how}')", show=False) for key, how in (
            ("up", "up"), ("down", "down"), ("pageup", "page_up"), ("pagedown", "page_down"),
            ("home", "home"), ("end", "end"))),
    ]

    def __init__(self, plan: Plan, *, question: str | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.question = question or f"Apply on pod {plan.pod}?  y applies · n or esc cancels"

    def compose(self) -> ComposeResult:
        plan = self.plan
        pending = plan.pending
        with Vertical(id="confirm-box"):
            yield Label(line(plan.title), id="confirm-title")
            yield Label(styled(f"{len(pending)} change(s) on pod ", plan.pod,
                               ", in one transaction" if plan.transactional else ", NOT in a transaction",
                               f"; {len(plan.steps) - len(pending)} step(s) already done" if len(pending) < len(plan.steps) else ""),
                        id="confirm-summary")
            with ChangeList(id="confirm-changes"):
                for i, step in enumerate(pending, 1):
                    yield Label(styled(f"{i}. ", mask_text(step.purpose)), classes="confirm-step")
                theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
                yield Static(Syntax(mask_text(plan.preview_sql(include_satisfied=False)), "sql", theme=theme,
                                    word_wrap=True, background_color="default"), id="confirm-sql")
            with Vertical(id="confirm-foot"):
                yield Label("", id="confirm-more")
                yield Label(line(self.question), id="confirm-question")
                with Horizontal(id="confirm-buttons"):
                    yield Button("Apply (y)", variant="error", id="confirm-yes", compact=True)
                    yield Button("Cancel (n)", variant="primary", id="confirm-no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()
        self.watch(self.query_one("#confirm-changes"), "scroll_y", lambda _: self._say_more(), init=False)
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Give the steps and SQL the screen's height less what must stay visible (title, summary,
        question, buttons); a height-auto box would otherwise cut the SQL off instead of scrolling it."""
        box = self.query_one("#confirm-box")
        changes = self.query_one("#confirm-changes")
        fixed = box.styles.gutter.height + changes.styles.margin.height + sum(
            self.query_one(f"#confirm-{part}").outer_size.height for part in ("title", "summary", "foot"))
        changes.styles.max_height = max(3, self.size.height - fixed)

    def on_change_list_resized(self) -> None:
        self.call_after_refresh(self._say_more)

    def _say_more(self) -> None:
        changes = self.query_one("#confirm-changes")
        more = self.query_one("#confirm-more", Label)
        left = round(changes.max_scroll_y - changes.scroll_y)
        more.display = changes.max_scroll_y > 0
        more.update(line(f"↓ {left} more line(s) · ↑ ↓ PgUp PgDn Home End scroll" if left > 0
                         else "end of the change · ↑ PgUp Home scroll back"))

    def action_scroll_changes(self, how: str) -> None:
        getattr(self.query_one("#confirm-changes"), f"scroll_{how}")(animate=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")
