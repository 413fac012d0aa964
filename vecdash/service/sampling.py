"""A bounded random sample of a collection's rows: the one rule for the metadata keys (service/keys.py)
and the map (service/projection.py), so both read the same way and say the same words.

- A table or materialized view of at least SYSTEM_MIN_BYTES whose row estimate is at least SAMPLE_WHEN
  samples: TABLESAMPLE SYSTEM (random pages, so bounded I/O on any size) at about OVERSAMPLE times the
  rows asked for, REPEATABLE for the seed, then that many at random.
- A smaller one (too few pages for page sampling to be even): read whole, the rows drawn at random.
- No estimate yet (never analysed), or an estimate under SAMPLE_WHEN samples: the first SAMPLE_WHEN
  samples' rows, drawn from at random (the whole table when the estimate is right), said so.
- A foreign table, a view or a partitioned table (no TABLESAMPLE or no size to go by): the first rows.

A TABLESAMPLE that comes back short (under half the rows asked) is read again from the first rows, said
so: as a stale estimate (the table has fewer rows than it says) only when far fewer came back than the
estimate predicts from enough pages that chance cannot explain it (see `short`), else as the plain count.
The rows are drawn by a hash of each row's ctid and the seed, not by `random()` after `setseed`: a
pooled session keeps no state from the read (setseed would outlive it, and every later `random()` on
that session would repeat), and a seed draws the same rows again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.model import Collection
from vecdash.service.catalog import read_rows

SAMPLE_WHEN = 4  # TABLESAMPLE only pays off on a table this many times the sample; else its first rows
OVERSAMPLE = 2.0  # TABLESAMPLE asks for this many times the sample: page sampling is uneven
SYSTEM_MIN_BYTES = 1 << 20  # 128 pages: below that, every row is read (cheap) and the sample drawn at random
PAGE_BYTES = 8192
STALE_SHARE = 0.25  # a short TABLESAMPLE is blamed on the estimate only under this share of what it predicts
STALE_CHANCE = 0.01  # ... and only if page sampling falls that short by chance less often than this
_NOT_SAMPLED = {"foreign": "a foreign table", "view": "a view", "partitioned": "a partitioned table"}


@dataclass(frozen=True)
class Method:
    """How a sample is drawn: system (TABLESAMPLE at `pct`), whole (a small table at random), prefix
    (at random among the first `cap` rows) or first (the first rows); `note` says why, when it matters."""

    how: str
    rows: int
    pct: float = 0.0
    cap: int = 0
    note: str = ""

    def words(self, got: int) -> str:
        """In words, once `got` rows came back: fewer than asked by any method but TABLESAMPLE is every row."""
        note = f" ({self.note})" if self.note else ""
        if got < self.rows and self.how != "system":
            return f"every row{note}"
        n = f"{got:,}"
        if self.how == "system":
            return f"tablesample system ({self.pct:.3g}%), {n} rows at random"
        if self.how == "whole":
            return f"{n} rows at random of a small table, read whole"
        if self.how == "prefix":
            return f"{n} rows at random of the first {self.cap:,}{note}"
        return f"the first {n} rows{note}"


def choose(coll: Collection, rows: int) -> Method:
    """How to sample `rows` rows of `coll`, from what the catalog says of it (no I/O)."""
    if coll.kind not in ("table", "matview"):
        return Method("first", rows, note=_NOT_SAMPLED.get(coll.kind, coll.kind))
    if coll.table_bytes < SYSTEM_MIN_BYTES:
        return Method("whole", rows)
    estimate = coll.rows_known
    if estimate is None:
        return Method("prefix", rows, cap=SAMPLE_WHEN * rows, note="no statistics yet: ANALYZE")
    if estimate < SAMPLE_WHEN * rows:
        return Method("prefix", rows, cap=SAMPLE_WHEN * rows)
    return Method("system", rows, pct=min(100.0, 100.0 * OVERSAMPLE * rows / estimate))


def statement(coll: Collection, columns: sql.Composable, method: Method, seed: int) -> tuple[sql.Composable, list[Any]]:
    """The statement drawing the sample, `select columns from the collection ...` (the caller wraps it,
    see `draw`): at random is in the order of a hash of each row's ctid and the seed."""
    rel = sql.Identifier(coll.schema, coll.name)
    head = sql.SQL("select {} from {}").format(columns, rel)
    at_random = sql.SQL("order by hashtextextended(ctid::text, %s::bigint) limit %s")
    if method.how == "system":
        stmt = sql.SQL("{} tablesample system (%s) repeatable (%s) {}").format(head, at_random)
        params: list[Any] = [method.pct, seed, _seed(seed), method.rows]
    elif method.how == "whole":
        stmt, params = sql.SQL("{} {}").format(head, at_random), [_seed(seed), method.rows]
    elif method.how == "prefix":  # the first `cap` rows' ctids, then those rows by tid: no full scan
        stmt = sql.SQL("{} where ctid = any(array(select ctid from {} limit %s)) {}").format(head, rel, at_random)
        params = [method.cap, _seed(seed), method.rows]
    else:
        stmt, params = sql.SQL("{} limit %s").format(head), [method.rows]
    return stmt, params


def _seed(seed: int) -> int:
    """`seed` as a bigint for the hash."""
    return (seed + 2**63) % 2**64 - 2**63


def short(coll: Collection, method: Method, got: int) -> Method:
    """The sample drawn again among the first rows, after a TABLESAMPLE (`method`) returned `got` rows,
    under half those asked; the note says why. The estimate is called stale only when `got` is under
    STALE_SHARE of the rows it predicts and page sampling (pages picked independently, so about a
    Poisson number of them) returns that few less often than STALE_CHANCE: a small sample of a table
    of many rows a page reads a page or none, by chance."""
    pages = method.pct / 100 * coll.table_bytes / PAGE_BYTES  # expected pages read (table_bytes: an upper bound)
    predicted = method.pct / 100 * (coll.rows_estimate or 0)
    if pages > 0 and got < STALE_SHARE * predicted and _at_most(int(got / (predicted / pages)), pages) < STALE_CHANCE:
        note = "the row estimate was stale: ANALYZE"
    else:
        note = f"tablesample returned {got:,} of {method.rows:,}"
    return Method("prefix", method.rows, cap=SAMPLE_WHEN * method.rows, note=note)


def _at_most(k: int, mean: float) -> float:
    """P(X <= k) for X Poisson with this mean."""
    term = total = math.exp(-mean)
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return total


async def draw(client: PodClient, coll: Collection, rows: int, columns: sql.Composable, *, seed: int = 0,
               wrap: Callable[[sql.Composable], sql.Composable] | None = None, extra_params: Sequence[Any] = (),
               count: Callable[[list[tuple]], int] = len, also: Sequence[tuple[sql.Composable, list[Any]]] = (),
               binary: bool = False) -> tuple[list[list[tuple]], str]:
    """(the results, how the sample was drawn in words): the sample's statement first, `wrap`ped (the
    sample as a subquery, `extra_params` after its own: keys aggregate it on the server), then `also`
    (the map's neighbours by id), in one READ ONLY round trip. `count(rows)`: the rows sampled (for a
    wrapped sample, what the wrapping says). A TABLESAMPLE that came back short is drawn again from the
    first rows. PodError: the pod failed."""
    method = choose(coll, rows)
    while True:
        stmt, params = statement(coll, columns, method, seed)
        if wrap is not None:
            stmt, params = wrap(stmt), list(params) + list(extra_params)
        results = await read_rows(client, coll, [(stmt, params)] + list(also), binary=binary)
        got = count(results[0])
        if method.how != "system" or got >= rows // 2:
            return results, method.words(got)
        method = short(coll, method, got)
