"""The console's one worker pattern: every worker survives any failure and says what happened.

`@worker(group=...)` is Textual's `@work(exclusive=True, exit_on_error=False)` around a method that
catches every Exception the method lets escape and reports it with `report_failure`: to the host's
`show_failure(what, message)` (its pane, modal or status line) when it has one, else as a notification.
A worker written with plain `@work` or `run_worker` would exit the console on a PodError; the static
test in tests/test_tui_workers.py keeps every worker in vecdash/tui on this pattern.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual import work

from vecdash.errors import PodError, UserError
from vecdash.lines import first_line, one_line
from vecdash.secrets import mask_text
from vecdash.tui.text import notify


def failure_text(exc: BaseException) -> str:
    """One masked line for any failure: the contract's own message, or the type and first line."""
    if isinstance(exc, (UserError, PodError)):
        text = str(exc)
    else:
        first = first_line(str(exc))
        text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return one_line(mask_text(text))


def report_failure(host: Any, what: str, exc: BaseException) -> str:
    """Say what failed where the user is looking; never raises (a report must not kill the console)."""
    message = f"{what} failed: {failure_text(exc)}"
    try:
        host.log.error(message)
        show = getattr(host, "show_failure", None)
        if show is not None:
            show(what, message)
        else:
            notify(host, message, severity="error", timeout=8)
    except Exception:  # noqa: BLE001 - the host may be unmounted (screen closed) by now
        pass
    return message


def worker(*, group: str, what: str | None = None, exclusive: bool = True) -> Callable:
    """Decorate an async method as a console worker: exclusive in `group`, never exits the app."""
    def decorate(method: Callable) -> Callable:
        label = what or method.__name__.strip("_").replace("_", " ")

        @functools.wraps(method)
        async def guarded(self, *args, **kwargs):
            try:
                return await method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - reported, the console goes on
                report_failure(self, label, exc)
                return None

        guarded.__vecdash_worker__ = True
        return work(guarded, exclusive=exclusive, group=group, exit_on_error=False)

    return decorate
