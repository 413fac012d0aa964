"""What a pane or a modal asks of the app. The app owns the screen stack: only it imports a screen,
so a pane posts one of these messages and the app pushes the modal that answers it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from textual.message import Message

from vecdash.model import Plan


class ConfirmPlan(Message):
    """Ask before `plan` changes a database; `answer` becomes True only on an explicit yes."""

    def __init__(self, plan: Plan) -> None:
        super().__init__()
        self.plan = plan
        self.answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def reply(self, yes: bool | None) -> None:
        if not self.answer.done():
            self.answer.set_result(bool(yes))


class OpenRecallSweep(Message):
    """Open the recall sweep on `schema.collection` of `pod` (for one index, or the collection's own)."""

    def __init__(self, pod: str, collection: str, *, schema: str, index: str | None = None) -> None:
        super().__init__()
        self.pod = pod
        self.collection = collection
        self.schema = schema
        self.index = index


class EstateChanged(Message):
    """Something was changed from the console (`what`, one line): the app re-reads the estate, then the
    panes re-read what the change touched. `fixed`: the doctor finding whose fix was applied (re-diagnose
    and verify what it fixed); `wired`: (pod, schema, collection) just wired (verify its pushdown)."""

    def __init__(self, what: str, *, fixed: Any = None, wired: tuple[str, str, str] | None = None) -> None:
        super().__init__()
        self.what = what
        self.fixed = fixed
        self.wired = wired


@dataclass(frozen=True)
class RecordRef:
    """A row as a list showed it: where it lives, its id, and what the list already had of it."""

    pod: str
    schema: str
    collection: str
    id: str
    metadata: Any = field(default_factory=dict, hash=False)  # the jsonb as listed
    distance: float | None = None


class OpenRecord(Message):
    """Show one row whole (the record detail modal)."""

    def __init__(self, row: RecordRef) -> None:
        super().__init__()
        self.row = row


@dataclass
class ExportSource:
    """What an export writes: the rows in hand (a query's results), or every row a browse spec streams."""

    what: str  # in words, for the export screen's title
    kind: str  # "query" (ResultRow) or "browse" (BrowseRow): the columns written
    pod: str
    rows: list | None = None
    spec: Any = None  # a BrowseSpec (limit 0: every matching row), when `rows` is None
    total: int | None = None  # rows expected, for the progress bar (None: not known)
    multi_pod: bool = False  # a fanout or federated query: a `pod` column


class PickKey(Message):
    """Open the metadata keys of a collection; `reply(key, value)` gets the pick (not called on none)."""

    def __init__(self, pod: str, schema: str, collection: str, reply) -> None:
        super().__init__()
        self.pod, self.schema, self.collection = pod, schema, collection
        self.reply = reply
