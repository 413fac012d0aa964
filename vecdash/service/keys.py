"""Which metadata keys a collection's rows have: every top-level key of a bounded sample, its JSON
types, how often it is present and its most common values, aggregated on the server."""

from __future__ import annotations

from vecdash.db.pods import PodClient
from vecdash.model import Topology
from vecdash.model_data import DEFAULT_SAMPLE, TOP_VALUES, KeyReport


async def sample_keys(client: PodClient, pod: str, collection: str, *, schema: str = "vecs",
                      sample: int = DEFAULT_SAMPLE, top: int = TOP_VALUES, topology: Topology | None = None) -> KeyReport:
    """The keys of at most `sample` rows (1..MAX_SAMPLE): TABLESAMPLE SYSTEM on a large table, else (a
    small table, a foreign table or view, or a sample that came back short) the first `sample` rows.
    UserError: a bad sample size, no such pod or collection, no metadata column; PodError: the pod failed."""
    raise NotImplementedError
