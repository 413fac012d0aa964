"""What the Activity pane lists, as pure functions of the model: which sessions (idle, filter), in what
order (the sort column `o` cycles), what a collection's counters flag, the estate's alerts with every
down pod named, and the text gauges (sparkline, progress bar) the pane draws. No Textual here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vecdash.model import Topology
from vecdash.model_activity import Alert, CollectionActivity, PodActivity, Session
from vecdash.units import human_count

LOW_HIT_RATIO = 0.9  # vector index blocks read from shared buffers below this: the index does not fit
_BLOCKS = "▁▂▃▄▅▆▇█"
# the alert line's short word for each code (the full message is listed under the pane's notes)
ALERT_WORDS = {"pod_down": "down", "index_invalid": "invalid index", "index_over_shared_buffers": "index > shared_buffers",
               "seq_scan_indexed": "seq scans", "long_transaction": "long transaction", "replication_lag": "replication lag"}


@dataclass(frozen=True)
class Row:
    """A session of the sessions table, with its pod; `key` names its table row."""

    pod: str
    session: Session

    @property
    def key(self) -> str:
        return f"{self.pod}/{self.session.pid}"


# name, value of a row, descending first
SORTS: tuple[tuple[str, Callable[[Row], object], bool], ...] = (
    ("query age", lambda r: r.session.query_age_s, True),
    ("xact age", lambda r: r.session.xact_age_s, True),
    ("pod", lambda r: r.pod, False),
    ("pid", lambda r: r.session.pid, False),
    ("state", lambda r: r.session.state, False),
    ("user", lambda r: r.session.user, False),
)
# column label, the SORTS name it shows the order of
COLUMNS = (("pod", "pod"), ("pid", "pid"), ("state", "state"), ("age", "query age"), ("xact", "xact age"),
           ("wait", None), ("blocked by", None), ("vec", None), ("own", None), ("user", "user"), ("app", None),
           ("query", None))


def is_idle(s: Session) -> bool:
    """Hidden unless `h` (as `vecdash activity` without --all): an idle connection. One idle *in a
    transaction* holds locks, one whose state this role may not see may be anything: both shown."""
    return s.state == "idle"


def sort_rows(rows: list[Row], sort: int) -> list[Row]:
    """By the sort column (unknown values last), then pod and pid."""
    _, value, desc = SORTS[sort]
    rows = sorted(rows, key=lambda r: (r.pod, r.session.pid))
    known = [r for r in rows if value(r) is not None]
    return sorted(known, key=value, reverse=desc) + [r for r in rows if value(r) is None]


def matches(r: Row, needle: str) -> bool:
    s = r.session
    return any(needle in (v or "").lower() for v in (r.pod, s.user, s.application, s.query))


def spark(values: Iterable[float], width: int = 16) -> str:
    """A text sparkline from zero to the highest value of the last `width` points."""
    vals = list(values)[-width:]
    top = max(vals, default=0.0)
    if top <= 0:
        return _BLOCKS[0] * len(vals)
    return "".join(_BLOCKS[min(7, int(v / top * 7 + 0.5))] for v in vals)


def bar(percent: float | None, width: int = 16) -> str:
    if percent is None:
        return "·" * width
    done = round(max(0.0, min(100.0, percent)) / 100 * width)
    return "█" * done + "░" * (width - done)


def rate(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.1f}" if value < 100 else human_count(int(value))


def estate_alerts(topo: Topology) -> list[Alert]:
    """The estate's alerts, a down pod always among them (named even when activity was not read)."""
    out = list(topo.alerts)
    named = {a.pod for a in out if a.code == "pod_down"}
    for p in topo.pods:
        if not p.up and p.name not in named:
            out.insert(0, Alert(p.name, "pod_down", f"pod {p.name} is down: {p.error or 'no answer'}"))
    return out


def collection_flags(pod: str, c: CollectionActivity, pa: PodActivity, alerts: list[Alert]) -> list[str]:
    """What to look at in one collection's counters."""
    flags = []
    seq_alert = any(a.pod == pod and a.code == "seq_scan_indexed" and a.subject in (c.qualified, c.name) for a in alerts)
    new_seq = pa.rates.seq_scans.get(c.qualified, 0) if pa.rates else 0
    if c.vector_index and (seq_alert or new_seq):
        flags.append(f"sequential scans while {c.vector_index} exists")
    live = c.n_live_tup or 0
    if c.n_dead_tup is not None and c.n_dead_tup > 50 + 0.2 * live:  # past autovacuum's default trigger
        flags.append(f"{human_count(c.n_dead_tup)} dead tuples: autovacuum is behind")
    if c.index_hit_ratio is not None and c.index_hit_ratio < LOW_HIT_RATIO:
        flags.append(f"index hit ratio {c.index_hit_ratio:.0%}: the index is read from disk")
    return flags
