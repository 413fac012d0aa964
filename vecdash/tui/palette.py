"""The command palette's vecdash commands (ctrl+p): the same registry as the keys, so whatever read-only
mode or a replay takes from the keys is gone from the palette too."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class VecdashCommands(Provider):
    """The app's `console_actions` that go in the palette, each with its key."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = self.app
        out = []
        for a in getattr(app, "console_actions", []):
            if a.palette:
                out.append((f"{a.description}: {a.help}", a.name, f"key: {a.key_display}"))
        return out

    async def discover(self) -> Hits:
        for text, action, help_ in self._commands():
            yield DiscoveryHit(text, partial(self.app.run_action, action), help=help_)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, action, help_ in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.run_action, action), text=text, help=help_)
