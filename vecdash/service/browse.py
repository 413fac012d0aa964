"""Rows of a collection as they are: one record whole, pages in id order, a bounded count, a stream.

Pages use keyset pagination (`where id > last order by id limit n`), never OFFSET: every page costs the
same however deep it is, and a row added or removed meanwhile shifts no page boundary (ids are unique:
vecs makes `id` the primary key). The filter is the query's vecs filter language, compiled by
service/filters.py. Every read is SELECTs in one READ ONLY transaction, in one round trip.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from psycopg import sql

from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.inputs import check_integer
from vecdash.model import Collection, Topology
from vecdash.model_data import (COUNT_CAP, HEAD_VALUES, MAX_PAGE, STREAM_PAGE, BrowsePage, BrowseRow, BrowseSpec,
                                MatchCount, Record)
from vecdash.service.catalog import find_collection, read_rows
from vecdash.service.filters import FilterError, compile_and_lint, validate


def check_browse(spec: BrowseSpec) -> None:
    """UserError before any I/O: a filter vecs rejects, a limit out of 0..MAX_PAGE, an `after` not text."""
    validate(spec.filters)
    check_integer("limit", spec.limit, 0, MAX_PAGE)  # 0: every row, for a stream
    if spec.after is not None and not isinstance(spec.after, str):
        raise UserError(f"after must be an id as text, got {type(spec.after).__name__}")
    if not spec.collection:
        raise UserError("collection name is empty")


def _relation(coll: Collection) -> sql.Identifier:
    return sql.Identifier(coll.schema, coll.name)


def _metadata(coll: Collection) -> sql.Composable:
    return sql.SQL("metadata") if coll.has_metadata else sql.SQL("null::jsonb")


def _where(coll: Collection, spec: BrowseSpec) -> tuple[sql.Composable, list[Any]]:
    where, params, _ = compile_and_lint(spec.filters)
    if spec.filters and not coll.has_metadata:
        raise FilterError("filters", f"{coll.qualified} on {coll.pod} has no jsonb `metadata` column to filter on")
    return where, params


def _count_statement(coll: Collection, where: sql.Composable, params: list[Any], cap: int) -> tuple[sql.Composable, list[Any]]:
    stmt = sql.SQL("select count(*) from (select 1 from {} where {} limit %s) s").format(_relation(coll), where)
    return stmt, params + [cap]


def _page_statement(coll: Collection, spec: BrowseSpec, where: sql.Composable, params: list[Any],
                    limit: int) -> tuple[sql.Composable, list[Any]]:
    """The page and one row more (whether more follow)."""
    cols = [sql.SQL("id"), _metadata(coll)]
    if spec.include_vector:
        cols.append(sql.SQL("{}::text").format(sql.Identifier(coll.column)))
    after = sql.SQL(" and id > %s") if spec.after is not None else sql.SQL("")
    stmt = sql.SQL("select {} from {} where {}{} order by id limit %s").format(
        sql.SQL(", ").join(cols), _relation(coll), where, after)
    return stmt, params + ([spec.after] if spec.after is not None else []) + [limit + 1]


async def _page(client: PodClient, coll: Collection, spec: BrowseSpec, limit: int, *, count: bool,
                where: tuple[sql.Composable, list[Any]]) -> BrowsePage:
    """`where`: the filter compiled once (`_where`), however many pages a stream reads."""
    where, params = where
    statements = [_page_statement(coll, spec, where, params, limit)]
    if count:
        statements.append(_count_statement(coll, where, params, COUNT_CAP))
    results = await read_rows(client, coll, statements, given=spec.after)
    raw = results[0]
    more = len(raw) > limit
    rows = [_row(r, coll, spec.include_vector) for r in raw[:limit]]
    matching = None
    if count:
        n = results[1][0][0]
        matching = MatchCount(count=n, capped=n >= COUNT_CAP)
    return BrowsePage(rows=rows, last_id=rows[-1].id if rows else spec.after, more=more, matching=matching)


def _row(r: tuple, coll: Collection, include_vector: bool) -> BrowseRow:
    vec = None
    if include_vector:
        from vecdash.service.query.vectors import parse_vector_value

        vec = parse_vector_value(r[2], coll.type)
    return BrowseRow(id=r[0], metadata=r[1], vector=vec)


async def browse_page(client: PodClient, spec: BrowseSpec, topology: Topology | None = None) -> BrowsePage:
    """One page: at most `spec.limit` (1..MAX_PAGE) rows after `spec.after`, in id order, whether more follow, and (spec.count) the matching rows counted up to
    COUNT_CAP. `last_id` is the next page's `after` (the same `after` again when the page is empty)."""
    check_browse(spec)
    if spec.limit == 0:
        raise UserError(f"a page has 1 to {MAX_PAGE:,} rows (limit 0, every row, is for a stream)")
    coll = await find_collection(client, spec.pod, spec.schema, spec.collection, topology)
    return await _page(client, coll, spec, spec.limit, count=spec.count, where=_where(coll, spec))


async def count_matching(client: PodClient, spec: BrowseSpec, *, cap: int = 0,
                         topology: Topology | None = None) -> MatchCount:
    """Rows matching `spec.filters` (`spec.after` ignored), counted up to `cap` (0: COUNT_CAP): at most
    that many rows are read, so a count on a large table costs what a page of that size does."""
    check_browse(spec)
    cap = cap or COUNT_CAP
    coll = await find_collection(client, spec.pod, spec.schema, spec.collection, topology)
    where, params = _where(coll, spec)
    n = (await read_rows(client, coll, [_count_statement(coll, where, params, cap)]))[0][0][0]
    return MatchCount(count=n, capped=n >= cap)


async def stream_rows(client: PodClient, spec: BrowseSpec, *, limit: int = 0, page_size: int = 0,
                      topology: Topology | None = None) -> AsyncIterator[BrowseRow]:
    """Every matching row after `spec.after` (`limit` > 0: at most that many; `spec.limit`, a page's
    size, is not used), in id order, read one keyset page (page_size, 0: STREAM_PAGE) at a time: memory
    holds one page whatever the size. Each page is its own bounded statement, so a long export never
    holds a transaction open; rows changed while it runs may or may not appear (each row at most once)."""
    check_browse(spec)
    coll = await find_collection(client, spec.pod, spec.schema, spec.collection, topology)
    size = page_size or STREAM_PAGE
    left = limit or None
    after, where = spec.after, _where(coll, spec)
    while left is None or left > 0:
        want = size if left is None else min(size, left)
        page = await _page(client, coll, replace(spec, after=after), want, count=False, where=where)
        for r in page.rows:
            yield r
        if left is not None:
            left -= len(page.rows)
        if not page.more:
            return
        after = page.last_id


async def fetch_record(client: PodClient, pod: str, collection: str, id: str, *, schema: str = "vecs",
                       topology: Topology | None = None) -> Record:
    """The row with this id, whole. UserError: no such pod, collection or id; PodError: the pod failed."""
    from vecdash.service.query.vectors import parse_vector_value

    coll = await find_collection(client, pod, schema, collection, topology)
    stmt = sql.SQL("select id, {}, {}::text from {} where id = %s limit 1").format(
        _metadata(coll), sql.Identifier(coll.column), _relation(coll))
    rows = (await read_rows(client, coll, [(stmt, [id])], given=id))[0]
    if not rows:
        raise UserError(f"no row with id {id!r} in {coll.qualified} on {pod}")
    rid, metadata, text = rows[0]
    values = parse_vector_value(text, coll.type) if text is not None else []
    return Record(pod=pod, schema=coll.schema, collection=coll.name, id=rid, metadata=metadata,
                  vector_type=coll.type, dimension=len(values), norm=math.sqrt(math.fsum(v * v for v in values)),
                  head=values[:HEAD_VALUES])

