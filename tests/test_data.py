"""Data in hand on real pods: browse (keyset pages, filters, bounded count), one record, metadata keys,
and the export formats of `browse` and `query` (csv / jsonl round trips, a 100k-row stream in flat memory).

One collection on vectors-a with hostile ids (commas, quotes, newlines, unicode, `%`, `{}`, markup) and
metadata with a key that is missing from most rows, a key of mixed JSON types and one row whose metadata is
not an object; a second one of 100k rows made by generate_series for the memory test.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.hostile_data import HOSTILE
from vecdash.cli import main as cli_main
from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.export import browse_columns, write_rows, write_rows_async
from vecdash.model_data import BrowseSpec
from vecdash.service.browse import browse_page, count_matching, fetch_record, stream_rows
from vecdash.service.catalog import read_only
from vecdash.service.filters import FilterError
from vecdash.service.keys import sample_keys

ESC_ID = "esc\x1b[31mred\x9b"  # a terminal escape (7- and 8-bit): shown escaped on a terminal, kept in a file
EXTRA_IDS = ("a,b", 'q"uote', "it's", "new\nline", "cr\rlf", "tab\tx", "ünï ✓", "%", "{}", "x,\"y\"\n,z", " lead", ESC_ID)
BIG = 100_000


def metadata(i: int) -> dict:
    meta = {"n": i, "kind": "even" if i % 2 == 0 else "odd", "mixed": i if i % 3 else str(i), "text": "é,\"\n" * (i % 4)}
    if i % 10 == 0:
        meta["rare"] = None if i % 20 == 0 else [i]
    if i == 1:
        meta["long"] = "v" * 500
    return meta


@pytest.fixture(scope="module")
def coll(estate):
    """(name, {id: (metadata, vector)}): vecs layout on vectors-a; the last row's metadata is a JSON array."""
    name = f"data_{uuid.uuid4().hex[:8]}"
    ids = [f"{s}-{k}" for s in HOSTILE for k in range(3)] + list(EXTRA_IDS)
    rows = {rid: (metadata(i), [float(i % 5), 1.0, -2.0, 0.5]) for i, rid in enumerate(ids)}
    rows[ESC_ID][0][""] = "the empty key"
    odd_id = "not-an-object"
    rows[odd_id] = (["a", "list"], [3.0, 4.0, 0.0, 0.0])
    table = sql.Identifier("vecs", name)
    with psycopg.connect(estate.dsn("vectors-a"), autocommit=True) as conn:
        conn.execute("create schema if not exists vecs")
        conn.execute(sql.SQL("create table {} (id character varying primary key, vec vector(4) not null, "
                             "metadata jsonb not null default '{{}}'::jsonb)").format(table))
        with conn.cursor() as cur:
            cur.executemany(sql.SQL("insert into {} values (%s, %s::float4[]::vector, %s)").format(table),
                            [(rid, vec, Jsonb(meta)) for rid, (meta, vec) in rows.items()])
        conn.execute(sql.SQL("analyze {}").format(table))
    yield name, rows
    estate.sql("vectors-a", sql.SQL("drop table {}").format(table).as_string(None))


@pytest.fixture
async def client(estate):
    c = PodClient(estate.config())
    yield c
    await c.close()


def server_order(estate, name: str, kind: str | None = None) -> list[str]:
    """The ids (of that kind) in the server's own `order by id` (its collation decides, not Python's sort)."""
    stmt = sql.SQL("select id from {} where %s::text is null or metadata ->> 'kind' = %s order by id").format(
        sql.Identifier("vecs", name))
    with psycopg.connect(estate.dsn("vectors-a")) as conn:
        return [r[0] for r in conn.execute(stmt, [kind, kind])]


async def test_pages_are_disjoint_and_continue_in_order(client, coll, estate):
    name, rows = coll
    seen, after, pages = [], None, 0
    while True:
        page = await browse_page(client, BrowseSpec(pod="vectors-a", collection=name, limit=7, after=after))
        assert len(page.rows) <= 7
        seen += [r.id for r in page.rows]
        pages += 1
        if not page.more:
            break
        after = page.last_id
    assert seen == server_order(estate, name) and len(set(seen)) == len(rows)
    assert pages == math.ceil(len(rows) / 7)
    assert all(r.vector is None for r in page.rows)  # no vectors unless asked
    # a page starting after a hostile id (a newline, a comma, quotes) continues right after it
    pivot = seen.index("x,\"y\"\n,z")
    page = await browse_page(client, BrowseSpec(pod="vectors-a", collection=name, limit=3, after=seen[pivot]))
    assert [r.id for r in page.rows] == seen[pivot + 1: pivot + 4]
    assert page.rows[0].metadata == rows[page.rows[0].id][0]


async def test_filters_apply_and_the_count_is_bounded(client, coll, estate):
    name, rows = coll
    even = {"kind": {"$eq": "even"}}
    want = server_order(estate, name, "even")
    got = [r.id async for r in stream_rows(client, BrowseSpec(pod="vectors-a", collection=name, filters=even), page_size=4)]
    assert got == want
    page = await browse_page(client, BrowseSpec(pod="vectors-a", collection=name, filters=even, limit=5, count=True))
    assert page.more and page.matching.count == len(want) and not page.matching.capped
    assert all(rows[r.id][0]["kind"] == "even" for r in page.rows)
    capped = await count_matching(client, BrowseSpec(pod="vectors-a", collection=name, filters=even), cap=10)
    assert (capped.count, capped.capped, str(capped)) == (10, True, "at least 10")
    none = await browse_page(client, BrowseSpec(pod="vectors-a", collection=name, filters={"n": {"$gt": 10**6}}, count=True))
    assert none.rows == [] and not none.more and none.matching.count == 0
    with pytest.raises(FilterError):  # before any I/O: the same checks as a query's filter
        await browse_page(client, BrowseSpec(pod="vectors-a", collection=name, filters={"n": {"$bad": 1}}))
    # a stream with a limit stops there, across pages
    assert len([r async for r in stream_rows(client, BrowseSpec(pod="vectors-a", collection=name), limit=9, page_size=4)]) == 9


async def test_reads_run_in_a_read_only_transaction(client, coll, estate):
    """Whatever a read is asked to run, the server refuses a write in it; the pooled session stays clean."""
    name, rows = coll
    write = sql.SQL("delete from {} returning id").format(sql.Identifier("vecs", name))
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        await read_only(client, "vectors-a", [(write, [])])
    page = await browse_page(client, BrowseSpec(pod="vectors-a", collection=name, limit=1, count=True))
    assert page.matching.count == len(rows)


async def test_record_is_whole(client, coll):
    name, rows = coll
    rid = "x,\"y\"\n,z"
    rec = await fetch_record(client, "vectors-a", name, rid)
    meta, vec = rows[rid]
    assert rec.id == rid and rec.metadata == meta and rec.dimension == 4 and rec.vector_type == "vector"
    assert rec.head == vec and rec.norm == pytest.approx(math.sqrt(sum(v * v for v in vec)))
    assert (await fetch_record(client, "vectors-a", name, "1-long" if False else list(rows)[1])).metadata["long"] == "v" * 500
    with pytest.raises(UserError, match="no row with id"):
        await fetch_record(client, "vectors-a", name, "no such id")


async def test_keys_report_types_presence_and_values(client, coll):
    name, rows = coll
    report = await sample_keys(client, "vectors-a", name, sample=1000)
    n = len(rows)
    assert report.sampled == n and report.not_objects == 1 and report.method == "every row"
    keys = {k.key: k for k in report.keys}
    objects = [m for m, _ in rows.values() if isinstance(m, dict)]
    for key in ("n", "kind", "mixed", "text", "rare", "long"):
        present = [m[key] for m in objects if key in m]
        assert keys[key].present == len(present), key
        assert keys[key].share == pytest.approx(len(present) / n)
    assert keys["mixed"].types == {"number": sum(isinstance(m["mixed"], int) for m in objects),
                                   "string": sum(isinstance(m["mixed"], str) for m in objects)}
    assert keys["mixed"].mixed and not keys["kind"].mixed
    assert keys["rare"].types == {"array": 2, "null": 3} or keys["rare"].types.keys() == {"array", "null"}
    kind = {v.value: v.count for v in keys["kind"].top}
    assert kind == {"even": sum(m["kind"] == "even" for m in objects), "odd": sum(m["kind"] == "odd" for m in objects)}
    long = keys["long"].top[0]
    assert long.truncated and long.value is None and len(long.text) == 80  # cut as data, counted whole
    # a sample smaller than the table reads that many rows
    small = await sample_keys(client, "vectors-a", name, sample=5)
    assert small.sampled == 5 and "at random" in small.method  # a few pages: read whole, drawn at random


def test_keys_sample_a_large_table(big, estate, tmp_path, capsys):
    cfg = estate.write_config(tmp_path / "vd.yaml")
    assert cli_main(["--config", str(cfg), "keys", "vectors-a", big, "--sample", "500", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"].startswith("tablesample system") and 250 <= doc["sampled"] <= 500
    keys = {k["key"]: k for k in doc["keys"]}
    assert keys["n"]["present"] == doc["sampled"] and keys["tag"]["types"] == {"string": doc["sampled"]}
    assert len(keys["tag"]["top"]) == 5


def test_csv_and_jsonl_round_trip(coll, estate, tmp_path, capsys):
    name, rows = coll
    cfg = estate.write_config(tmp_path / "vd.yaml")
    order = server_order(estate, name)
    for fmt in ("csv", "jsonl", "json"):
        out = tmp_path / f"rows.{fmt}"
        assert cli_main(["--config", str(cfg), "browse", "vectors-a", name, "--all", "--format", fmt,
                         "--output", str(out)]) == 0
        with open(out, encoding="utf-8", newline="") as f:  # csv: a \r inside a value stays a \r
            text = f.read()
        if fmt == "csv":
            back = list(csv.DictReader(io.StringIO(text, newline="")))
            got = [(r["id"], json.loads(r["metadata"])) for r in back]
        elif fmt == "jsonl":
            got = [(d["id"], d["metadata"]) for d in map(json.loads, text.splitlines())]
        else:
            got = [(d["id"], d["metadata"]) for d in json.loads(text)]
        assert got == [(rid, rows[rid][0]) for rid in order], fmt
    assert "rows" in capsys.readouterr().err  # the count goes to stderr: the file holds rows only
    # the first page on standard output, then the page after its last id
    assert cli_main(["--config", str(cfg), "browse", "vectors-a", name, "--limit", "4", "--format", "jsonl"]) == 0
    first = [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert cli_main(["--config", str(cfg), "browse", "vectors-a", name, "--limit", "4", "--format", "csv",
                     "--after", first[-1], "--include-vector"]) == 0
    back = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert first + [r["id"] for r in back] == order[:8]
    assert [json.loads(r["vector"]) for r in back] == [rows[r["id"]][1] for r in back]
    # query writes its rows the same way
    assert cli_main(["--config", str(cfg), "query", "vectors-a", name, "--like", "a,b", "--limit", "3", "--exact",
                     "--format", "csv"]) == 0
    back = list(csv.DictReader(io.StringIO(capsys.readouterr().out, newline="")))
    assert len(back) == 3 and list(back[0]) == ["id", "distance", "metadata"]
    assert all(json.loads(r["metadata"]) == rows[r["id"]][0] and float(r["distance"]) < 1e-6 for r in back)


def test_table_output_shows_ids_escaped(coll, estate, tmp_path, capsys):
    name, _ = coll
    cfg = estate.write_config(tmp_path / "vd.yaml")
    assert cli_main(["--config", str(cfg), "browse", "vectors-a", name, "--filter", '{"n": {"$gte": 0}}',
                     "--after", "x", "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "x,\"y\"\\n,z" in out and "match the filter" in out
    assert cli_main(["--config", str(cfg), "keys", "vectors-a", name]) == 0
    out = capsys.readouterr().out
    assert "mixed" in out and "number" in out and "string" in out and "not a JSON object" in out
    assert any(row.startswith('""  ') for row in out.splitlines())  # the empty key, not a blank


def test_csv_to_a_terminal_shows_control_characters_escaped(coll, estate, tmp_path, capsys, monkeypatch):
    """CSV keeps every byte in a file or a pipe (test_csv_and_jsonl_round_trip), but a terminal would obey
    an ESC in an id: there the values are escaped, and stderr says so."""
    import pty
    import sys
    import threading

    name, _ = coll
    cfg = estate.write_config(tmp_path / "vd.yaml")
    argv = ["--config", str(cfg), "browse", "vectors-a", name, "--all", "--format", "csv"]
    assert cli_main(argv) == 0  # a pipe: as it is
    assert ESC_ID in capsys.readouterr().out
    master, slave = pty.openpty()
    shown = []

    def read() -> None:
        try:
            while chunk := os.read(master, 65536):
                shown.append(chunk)
        except OSError:  # the terminal's other end closed
            pass

    reader = threading.Thread(target=read)
    reader.start()
    with open(slave, "w", encoding="utf-8") as tty:
        monkeypatch.setattr(sys, "stdout", tty)
        assert cli_main(argv) == 0
    reader.join(10)
    os.close(master)
    text = b"".join(shown).decode("utf-8")
    assert "esc\\x1b[31mred\\x9b" in text and "\x1b" not in text and "\x9b" not in text
    assert "terminal" in capsys.readouterr().err


def exit_code(argv: list[str]) -> int:
    try:
        return cli_main(argv)
    except SystemExit as exc:  # argparse's own refusals (an unknown --format)
        return exc.code


def test_exit_codes(coll, estate, tmp_path, capsys):
    name, _ = coll
    cfg = estate.write_config(tmp_path / "vd.yaml")
    base = ["--config", str(cfg)]
    bad_input = [
        ["browse", "vectors-a", name, "--filter", '{"n": {"$nope": 1}}'],
        ["browse", "vectors-a", name, "--filter", "{not json"],
        ["browse", "vectors-a", name, "--limit", "-1"],
        ["browse", "vectors-a", name, "--format", "xml"],
        ["browse", "vectors-a", name, "--output", str(tmp_path / "no" / "such" / "dir.csv")],
        ["browse", "no-such-pod", name],
        ["browse", "vectors-a", "no_such_collection"],
        ["keys", "vectors-a", name, "--sample", "0"],
        ["query", "vectors-a", name, "--random", "--json", "--format", "csv"],
    ]
    for argv in bad_input:
        assert exit_code(base + argv) == 2, argv
    # an --after the server cannot read as the id column's type: the user's input, and nothing ran
    table = f"ints_{uuid.uuid4().hex[:8]}"
    estate.sql("vectors-a", f"create table vecs.{table} (id int primary key, vec vector(2), metadata jsonb)")
    try:
        assert exit_code(base + ["browse", "vectors-a", table, "--after", "seven"]) == 2
        assert "not an id of" in capsys.readouterr().err
        assert exit_code(base + ["browse", "vectors-a", table, "--after", "7"]) == 0
    finally:
        estate.sql("vectors-a", f"drop table vecs.{table}")
    assert not list(tmp_path.glob("**/.*.tmp"))
    down = tmp_path / "down.yaml"
    down.write_text("pods:\n  - name: gone\n    role: primary\n    dsn: postgresql://u@127.0.0.1:1/db\n"
                    "settings:\n  connect_timeout_s: 1\n")
    down.chmod(0o600)
    # bad input is refused before any session opens: exit 2 even with the pod down
    for argv in (["browse", "gone", "c", "--filter", '{"a": 1, "b": 2}'], ["keys", "gone", "c", "--sample", "0"],
                 ["browse", "gone", "c", "--limit", "10001"], ["query", "gone", "c", "--random", "--json", "--format", "csv"]):
        assert exit_code(["--config", str(down)] + argv) == 2, argv
    out = tmp_path / "never.csv"
    capsys.readouterr()
    for argv in (["browse", "gone", "c"], ["keys", "gone", "c"], ["browse", "gone", "c", "--all", "--format", "csv"],
                 ["browse", "gone", "c", "--all", "--output", str(out)]):
        assert exit_code(["--config", str(down)] + argv) == 1, argv
        assert capsys.readouterr().out == "", argv  # not even a csv header
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))  # a failed export leaves no file behind
    capsys.readouterr()


@pytest.fixture(scope="module")
def big(estate):
    name = f"big_{uuid.uuid4().hex[:8]}"
    table = sql.Identifier("vecs", name)
    with psycopg.connect(estate.dsn("vectors-a"), autocommit=True) as conn:
        conn.execute("create schema if not exists vecs")
        conn.execute(sql.SQL("create table {} (id character varying primary key, vec vector(4) not null, "
                             "metadata jsonb not null)").format(table))
        conn.execute(sql.SQL("insert into {} select 'r' || g, ('[' || mod(g, 7) || ',1,2,3]')::vector, "
                             "jsonb_build_object('n', g, 'tag', 't' || mod(g, 10), 'text', repeat('x', 64)) "
                             "from generate_series(1, %s) g").format(table), [BIG])
        conn.execute(sql.SQL("analyze {}").format(table))
    yield name
    estate.sql("vectors-a", sql.SQL("drop table {}").format(table).as_string(None))


def resident() -> int:
    """This process's resident memory now, in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_export_of_100k_rows_keeps_memory_flat(client, big, tmp_path):
    """Resident memory grows by about one page (2,000 rows) however many rows are written: a writer or a
    stream that kept the rows would hold 100k of them (70 MB and more). Sampled at each progress call."""
    before = resident()
    seen = []

    def progress(n: int) -> None:
        seen.append((n, resident()))

    with open(tmp_path / "big.jsonl", "w", encoding="utf-8", newline="") as out:
        n = await write_rows_async("jsonl", stream_rows(client, BrowseSpec(pod="vectors-a", collection=big)),
                                   out, browse_columns(), on_progress=progress)
    grown = max(rss for _, rss in seen) - before
    assert n == BIG and seen[0][0] == 1000 and seen[-1][0] == BIG and len(seen) == BIG // 1000 + 1
    assert grown < 24 * 2**20, f"resident memory grew {grown / 2**20:.1f} MB"
    with open(tmp_path / "big.jsonl", encoding="utf-8") as f:
        assert sum(1 for _ in f) == BIG


def test_writers_stream_json_and_escape_table_cells():
    buf = io.StringIO()
    assert write_rows("json", iter([]), buf, ("id",)) == 0 and json.loads(buf.getvalue()) == []
    buf = io.StringIO()
    write_rows("table", ({"id": f"a\n[b]{i}", "metadata": {"k": "v" * 100}} for i in range(3)), buf, browse_columns())
    lines = buf.getvalue().splitlines()
    assert len(lines) == 5 and "a\\n[b]0" in lines[2] and lines[2].endswith("…")


@pytest.mark.parametrize("last_id", ["doc-9", "-18", "-x", "--x", "a b'c", "-%s-7z"])
def test_the_next_page_hint_parses_back_to_the_last_id(last_id):
    """The footer's `--after ...`, pasted into a shell, gives `browse` the same id (an id that starts
    with "-" included: argparse reads `--after -x` as a missing value)."""
    import shlex

    from vecdash.cli import build_parser
    from vecdash.cli.browse import footer
    from vecdash.model_data import BrowsePage

    hint = footer(20, BrowsePage(rows=[], last_id=last_id, more=True), filtered=False).split("more follow: ")[1]
    args = build_parser().parse_args(["browse", "pod", "coll", *shlex.split(hint)])
    assert args.after == last_id


def test_format_help_says_what_json_writes(capsys):
    """`query --format json` is the whole result object (as --json), `browse --format json` an array."""
    for command, says, never in (("query", "the whole result", "an array"), ("browse", "an array", "whole result")):
        with pytest.raises(SystemExit):
            cli_main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert says in text and never not in text, command


async def test_an_unknown_pod_or_collection_reads_the_same_everywhere(client, coll):
    """One lookup (service/catalog.find_collection) for browse, record, keys, the map and queries: the
    same words, in each caller's own UserError, the pod's collections named."""
    from vecdash.service.projection import MapError, collection_map
    from vecdash.service.query import QueryError, QuerySpec, run_query

    name, _ = coll
    calls = {
        "browse": (UserError, lambda pod, c: browse_page(client, BrowseSpec(pod=pod, collection=c))),
        "record": (UserError, lambda pod, c: fetch_record(client, pod, c, "x")),
        "keys": (UserError, lambda pod, c: sample_keys(client, pod, c)),
        "map": (MapError, lambda pod, c: collection_map(client, pod, c)),
        "query": (QueryError, lambda pod, c: run_query(client, QuerySpec(pod=pod, collection=c, random=True,
                                                                          route="direct"))),
    }
    said = {}
    for what, (error, call) in calls.items():
        for pod, c in (("nowhere", name), ("vectors-a", "nope")):
            with pytest.raises(error) as caught:
                await call(pod, c)
            said.setdefault((pod, c), set()).add(str(caught.value))
    unknown_pod, no_collection = said[("nowhere", name)], said[("vectors-a", "nope")]
    assert len(unknown_pod) == 1 and unknown_pod.pop() == _unknown(client)
    assert len(no_collection) == 1
    text = no_collection.pop()
    assert text.startswith("no collection vecs.nope on pod vectors-a (collections: ") and f"vecs.{name}" in text
    # the statements that check a name themselves (create/drop, index, wire) say it the same way
    from vecdash.service.collections import CollectionError, require
    from vecdash.service.indexes import list_indexes
    for call in (lambda: require(client, "vectors-a", "nope"), lambda: list_indexes(client, "vectors-a", "nope")):
        with pytest.raises(CollectionError) as caught:
            await call()
        assert str(caught.value) == "no collection vecs.nope on pod vectors-a"


def _unknown(client) -> str:
    with pytest.raises(UserError) as caught:  # the config's own word for it (cli: --pod, activity, why)
        client.config.pod("nowhere")
    return str(caught.value)


def test_a_name_that_does_not_exist_names_ten_of_the_known_ones():
    """At 200 pods x many collections the message stays one short line: ten names, then how many more."""
    from vecdash.config import parse_config

    pods = "".join(f"  - name: p{i:03}\n    dsn: dbname=x{i}\n" for i in range(200))
    with pytest.raises(UserError) as caught:
        parse_config("pods:\n" + pods, "fleet.yaml").pod("nowhere")
    names = ", ".join(f"p{i:03}" for i in range(10))
    assert str(caught.value) == f"unknown pod 'nowhere' (pods in fleet.yaml: {names}, +190 more)"
    from vecdash.errors import no_collection

    said = str(no_collection("vecs", "nope", "p1", [f"vecs.c{i}" for i in range(11)]))
    assert said == f"no collection vecs.nope on pod p1 (collections: {', '.join(f'vecs.c{i}' for i in range(10))}, +1 more)"
