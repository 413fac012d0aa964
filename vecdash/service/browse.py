"""Rows of a collection as they are: one record whole, pages in id order, a bounded count, a stream.

Pages use keyset pagination (`where id > last order by id limit n`), never OFFSET: every page costs the
same however deep it is, and a row added or removed meanwhile shifts no page boundary. The filter is the
query's vecs filter language, compiled by service/filters.py. Every statement is a SELECT in a READ ONLY
transaction, in one round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from vecdash.db.pods import PodClient
from vecdash.model import Topology
from vecdash.model_data import BrowsePage, BrowseRow, BrowseSpec, MatchCount, Record


def check_browse(spec: BrowseSpec) -> None:
    """UserError before any I/O: a filter vecs rejects, a limit out of 0..MAX_PAGE, an `after` not text."""
    raise NotImplementedError


async def fetch_record(client: PodClient, pod: str, collection: str, id: str, *, schema: str = "vecs",
                       topology: Topology | None = None) -> Record:
    """The row with this id, whole. UserError: no such pod, collection or id; PodError: the pod failed."""
    raise NotImplementedError


async def browse_page(client: PodClient, spec: BrowseSpec, topology: Topology | None = None) -> BrowsePage:
    """One page: at most `spec.limit` (1..MAX_PAGE) rows after `spec.after`, in id order, whether more
    follow, and (spec.count) the matching rows counted up to COUNT_CAP."""
    raise NotImplementedError


async def count_matching(client: PodClient, spec: BrowseSpec, *, cap: int = 0,
                         topology: Topology | None = None) -> MatchCount:
    """Rows matching `spec.filters` (after `spec.after` ignored), counted up to `cap` (0: COUNT_CAP)."""
    raise NotImplementedError


async def stream_rows(client: PodClient, spec: BrowseSpec, *, page_size: int = 0,
                      topology: Topology | None = None) -> AsyncIterator[BrowseRow]:
    """Every matching row after `spec.after` (spec.limit > 0: at most that many), in id order, read one
    keyset page (page_size, 0: STREAM_PAGE) at a time: memory holds one page whatever the size. Each page
    is its own bounded statement, so a long export never holds a transaction open; rows changed while it
    runs may or may not appear (each row at most once)."""
    raise NotImplementedError
    yield BrowseRow(id="", metadata=None)  # pragma: no cover

