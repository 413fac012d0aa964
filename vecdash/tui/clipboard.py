"""Copying from the console: Textual's `App.copy_to_clipboard`, which keeps the text in the app
(`app.clipboard`) and asks the terminal to put it on the system clipboard with OSC 52.

A terminal never answers OSC 52, so whether the text arrived cannot be seen; what can be seen is
where it surely does not: macOS Terminal and the Linux console ignore OSC 52, GNU screen does not pass
it on, tmux passes it only with `set -g set-clipboard on` (tmux says which in its environment: we
cannot ask it without running tmux), and a headless console (tests, a pipe) has no terminal at all.
`caveat()` names that case from the environment, and the message after a copy says it plainly with
the way out (select the text with shift+drag, which every terminal does itself).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SELECT_BY_HAND = "select it with shift+drag instead"


def caveat(env: Mapping[str, str] | None = None, *, headless: bool = False) -> str | None:
    """Why the system clipboard will not get a copy here, or None when the terminal may take it."""
    env = os.environ if env is None else env
    if headless:
        return "no terminal (headless): kept in the console only"
    if env.get("TERM_PROGRAM") == "Apple_Terminal":
        return "macOS Terminal ignores OSC 52: not on the system clipboard; " + SELECT_BY_HAND
    if env.get("TERM") == "linux":
        return "the Linux console has no clipboard for OSC 52; " + SELECT_BY_HAND
    if env.get("STY"):
        return "GNU screen does not pass OSC 52 on: not on the system clipboard; " + SELECT_BY_HAND
    if env.get("TMUX"):
        return "inside tmux it reaches the system clipboard only with `set -g set-clipboard on`"
    return None


def copy(app, what: str, text: str) -> str:
    """Copy `text` (described as `what`) and return the one line saying what happened."""
    app.copy_to_clipboard(text)
    why_not = caveat(headless=app.is_headless)
    if why_not is None:
        return f"copied {what} to the clipboard (OSC 52)"
    return f"copied {what}; {why_not}"
