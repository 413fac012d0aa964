"""Does a collection's vector index fit in its pod's shared_buffers?

An HNSW search reads index pages all over the graph. When the index is larger than shared_buffers,
pages keep being evicted and read back from the OS page cache (or disk): measured on the benchmark
pods, a 195 MB HNSW index (100,000 x 384) with the default 128 MB made each k-NN query take about
twice as long, most of its CPU spent copying and checksumming pages. pgvector's own advice is to
size memory so the index fits; the query service and the doctor say so when it does not.
"""

from __future__ import annotations

from vecdash.model import Collection, Index, PodStatus
from vecdash.units import human_bytes


def oversized_index(pod: PodStatus | None, c: Collection, measure: str | None = None) -> Index | None:
    """The largest valid hnsw/ivfflat index of `c` (serving `measure`, if given) that is larger than
    the pod's shared_buffers, or None."""
    if pod is None or not pod.shared_buffers_bytes:
        return None
    big = [i for i in c.indexes
           if i.valid and i.method in ("hnsw", "ivfflat") and (measure is None or i.measure == measure)
           and i.bytes > pod.shared_buffers_bytes]
    return max(big, key=lambda i: i.bytes) if big else None


def cache_warning(pod: PodStatus | None, c: Collection, measure: str | None = None, *,
                  named: bool = True) -> str | None:
    """The warning, or None; `named=False` leaves out the collection and pod (a line that names them already)."""
    index = oversized_index(pod, c, measure)
    if index is None or pod is None or pod.shared_buffers_bytes is None:
        return None
    where = f" of {c.qualified} on {pod.name}" if named else ""
    return (f"index {index.name}{where} is {human_bytes(index.bytes)}, more than its shared_buffers "
            f"({human_bytes(pod.shared_buffers_bytes)}): queries keep reading index pages back from the OS cache or disk; "
            f"size shared_buffers to hold it (a restart), and pg_prewarm it after restarts")
