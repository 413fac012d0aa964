"""Record and replay in the console (dolphie's habit), kept out of app.py.

Recording: each refresh the app applies is handed to the Recorder (vecdash.recording), whose writer
thread encodes and appends it, so the refresh loop pays only the hand-over; the title says REC.
Replay: the app runs `live=False` on a Recording, read-only with an offline api (no session can
open), and these actions step and jump through its frames; which pod each foreign server reaches is
the recording's answer (a replay has no DSN to decide it). Each frame reaches the panes exactly as a
refresh does (`_apply_topology`), with the sparklines' history rebuilt from the frames before it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from vecdash.errors import UserError
from vecdash.service.stats import primary_reaches, recorded_pods
from vecdash.tui.text import line, notify

if TYPE_CHECKING:
    from vecdash.model import Topology
    from vecdash.recording import Recorder, Recording

REPLAY_OFFLINE = "a replay shows a recording: it opens no session to any database"


class RecordReplay:
    """Mixin of VecdashApp: `recorder` (recording a live console) or `replay` (showing a recording)."""

    recorder: Recorder | None = None
    replay: Recording | None = None
    frame_index: int = 0
    _record_error_said = False

    # --- recording ---------------------------------------------------------------------------------

    def record_frame(self, topo: Topology) -> None:
        """Hand `topo` to the recorder (written off the UI thread); say once if writing failed."""
        rec = self.recorder
        if rec is None:
            return
        # which pod each server reaches, as decided here: the replay has no DSN to decide it again
        rec.submit(topo, primary_reaches(topo, self.endpoints) if self.endpoints is not None else ())
        if rec.error and not self._record_error_said:
            self._record_error_said = True
            notify(self, "recording stopped: ", rec.error, severity="error", timeout=10)

    def recording_label(self) -> str | None:
        rec = self.recorder
        if rec is None:
            return None
        return f"REC {rec.path.name}" + (" FAILED" if rec.error else "")

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()

    # --- replay ------------------------------------------------------------------------------------

    def replay_title(self) -> Text:
        rec = self.replay
        topo = self.topology
        parts = [f"replay {rec.path.name}", f"frame {self.frame_index + 1}/{len(rec)}"]
        if topo is not None:
            parts.append(f"{topo.taken_at.strftime('%H:%M:%S')} UTC")
            down = [p.name for p in topo.pods if not p.up]
            if down:
                parts.append(f"DOWN: {', '.join(down)}")
        return line(" · ".join(parts))

    def replay_banner(self) -> Text:
        return line("REPLAY: read-only, no database is touched · , . step · < > first/last · j time")

    def show_frame(self, i: int) -> None:
        """Show frame `i` as a refresh would: the panes get its Topology, the sparklines the frames before."""
        rec = self.replay
        i = max(0, min(i, len(rec) - 1))
        try:
            window = [rec.frame(k) for k in range(max(0, i - self.history_points + 1), i + 1)]
        except UserError as exc:
            notify(self, str(exc), severity="error", timeout=8)
            return
        self.frame_index = i
        self.endpoints = recorded_pods(rec.reaches(i))  # the servers' pods as the recording says
        self.latency_history.clear()
        self.rows_history.clear()
        for topo in window[:-1]:
            self.remember_history(topo)
        self._apply_topology(window[-1], record=True)

    def action_replay_step(self, delta: int) -> None:
        target = self.frame_index + delta
        if not 0 <= target < len(self.replay):
            notify(self, "the first refresh recorded" if target < 0 else "the last refresh recorded", timeout=2)
            return
        self.show_frame(target)

    def action_replay_first(self) -> None:
        self.show_frame(0)

    def action_replay_last(self) -> None:
        self.show_frame(len(self.replay) - 1)

    def action_replay_jump(self) -> None:
        from vecdash.tui.screens.jump import JumpScreen

        times = self.replay.times
        self.push_screen(JumpScreen(times[0].strftime("%Y-%m-%d %H:%M:%S"), times[-1].strftime("%Y-%m-%d %H:%M:%S")),
                         self._jump_to)

    def _jump_to(self, text: str | None) -> None:
        if not text:
            return
        try:
            self.show_frame(self.replay.at(text, around=self.frame_index))
        except UserError as exc:
            notify(self, str(exc), severity="warning", timeout=5)
