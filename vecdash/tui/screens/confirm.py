"""The confirmation modal shown before anything changes a database: what will change, then y / n."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from vecdash.model import Plan
from vecdash.secrets import mask_text
from vecdash.tui.screens.modal import Modal
from vecdash.tui.text import line, styled


class ConfirmScreen(Modal[bool]):
    """Dismisses with True only on an explicit yes. Shows the plan's pending steps and their masked SQL."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes, apply"),
        Binding("n,escape", "answer(False)", "no"),
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
            with VerticalScroll(id="confirm-changes"):
                for i, step in enumerate(pending, 1):
                    yield Label(styled(f"{i}. ", mask_text(step.purpose)), classes="confirm-step")
                theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
                yield Static(Syntax(mask_text(plan.preview_sql(include_satisfied=False)), "sql", theme=theme,
                                    word_wrap=True, background_color="default"), id="confirm-sql")
            yield Label(line(self.question), id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button("Apply (y)", variant="error", id="confirm-yes")
                yield Button("Cancel (n)", variant="primary", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")
