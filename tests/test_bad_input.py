"""Bad-input corpus: every hostile or mistyped input gets ONE clear line (exit 2 from the CLI, a
UserError from the services), no traceback, and changes nothing in the database.

Configs, DSNs, vectors (load files), identifiers (quotes, semicolons, unicode, `--` comments,
newlines) and pod names. Filters are fuzzed by the query engine's own tests.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from vecdash.cli import main
from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.embedded import default_root, start_pods
from vecdash.errors import UserError
from vecdash.service import wiring

from .conftest import TEST_PASSWORD


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The real CLI entry point, in process (fast); argparse errors exit through SystemExit."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and TEST_PASSWORD not in err
    return lines[0]


# --- configs ------------------------------------------------------------------------------------------

POD = "  - name: a\n    dsn: dbname=x\n"
CONFIGS = [
    ("bad yaml: tab", "pods:\n\t- name: a\n", 2, "YAML syntax error"),
    ("bad yaml: unclosed", "pods:\n  - name: a\n    dsn: \"dbname=x\n", 3, "YAML syntax error"),
    ("bad yaml: bracket", "pods: [\n", 2, "YAML syntax error"),
    ("not a mapping", "- a\n- b\n", 1, "config must be a mapping"),
    ("pods not a list", "pods: {a: 1}\n", 1, "pods must be a list"),
    ("pod not a mapping", "pods:\n  - just-a-string\n", 2, "must be a mapping"),
    ("dsn is a number", "pods:\n  - name: a\n    dsn: 5432\n", 3, "dsn must be a string, got int"),
    ("name is a list", "pods:\n  - name: [a]\n    dsn: dbname=x\n", 2, "expected a single value"),
    ("timeout is text", f"pods:\n{POD}settings:\n  statement_timeout_ms: 5s\n", 5, "statement_timeout_ms must be an integer from 1 to 2,147,483,647, got"),
    ("timeout is float", f"pods:\n{POD}settings:\n  statement_timeout_ms: 1.5\n", 5, "statement_timeout_ms must be an integer from 1 to 2,147,483,647, got"),
    ("negative timeout", f"pods:\n{POD}settings:\n  connect_timeout_s: -1\n", 5, "must be positive"),
    ("read_only is yes-ish text", f"pods:\n{POD}settings:\n  read_only: 'maybe'\n", 5, "read_only must be bool"),
    ("settings a list", f"pods:\n{POD}settings:\n  - 1\n", 5, "settings must be a mapping"),
    ("unknown top key", f"pods:\n{POD}colour: red\n", 4, "unknown key 'colour'"),
    ("unknown pod key", "pods:\n  - name: a\n    dsn: dbname=x\n    pasword: x\n", 4, "unknown key 'pasword'"),
    ("unknown setting", f"pods:\n{POD}settings:\n  timeout: 3\n", 5, "unknown key 'timeout'"),
    ("env var missing", "pods:\n  - name: a\n    dsn: ${VD_BAD_INPUT_UNSET}\n", 3, "environment variable VD_BAD_INPUT_UNSET is not set"),
    ("env var missing in setting", f"pods:\n{POD}settings:\n  connect_timeout_s: ${{VD_BAD_INPUT_UNSET}}\n", 5,
     "environment variable VD_BAD_INPUT_UNSET is not set"),
    ("two primaries", "pods:\n  - name: a\n    role: primary\n    dsn: dbname=x\n  - name: b\n    role: primary\n"
     "    dsn: dbname=y\n", 6, "second primary"),
    ("duplicate names", "pods:\n  - name: a\n    dsn: dbname=x\n  - name: a\n    dsn: dbname=y\n", 4, "duplicate pod name 'a'"),
    ("duplicate key", "pods:\n  - name: a\n    name: b\n    dsn: dbname=x\n", 3, "duplicate key 'name'"),
    ("dsn typo: key", "pods:\n  - name: a\n    dsn: 'hots=127.0.0.1 dbname=x'\n", 3, "invalid dsn"),
    ("dsn typo: unterminated quote", "pods:\n  - name: a\n    dsn: \"host='x dbname=y\"\n", 3, "invalid dsn"),
    ("dsn typo: uri port", "pods:\n  - name: a\n    dsn: postgresql://u@h:54x2/db\n", 3, "invalid dsn"),
    ("pod name with semicolon", "pods:\n  - name: 'a;drop table x'\n    dsn: dbname=x\n", 2, "name must be"),
    ("pod name with quote", "pods:\n  - name: 'a\"b'\n    dsn: dbname=x\n", 2, "name must be"),
    ("pod name with comment", "pods:\n  - name: 'a--b c'\n    dsn: dbname=x\n", 2, "name must be"),
    ("pod name unicode", "pods:\n  - name: 'pöd'\n    dsn: dbname=x\n", 2, "name must be"),
    ("empty file", "", 1, "empty config"),
    ("no pods", "settings: {}\n", 1, "missing `pods:`"),
]


@pytest.mark.parametrize("text,line,problem", [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_bad_config_is_one_line_naming_file_and_line(capsys, tmp_path, monkeypatch, text, line, problem):
    monkeypatch.delenv("VD_BAD_INPUT_UNSET", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    path.chmod(0o600)
    code, out, err = cli(capsys, "status", "--config", str(path))
    assert code == 2 and out == ""
    msg = assert_one_line(err)
    assert msg.startswith(f"vecdash: error: {path}:{line}: "), msg
    assert problem in msg, msg


def test_bad_config_through_a_subprocess_has_no_traceback_either(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pods:\n  - name: a\n    dsn: 5432\n")
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stdout == ""
    assert assert_one_line(res.stderr).endswith("pod 'a'.dsn must be a string, got int") or "must be a string" in res.stderr


def _write(path: Path, dsn: str, **settings) -> Path:
    base = {"connect_timeout_s": 1, "statement_timeout_ms": 1000}
    base.update(settings)
    path.write_text(f"pods:\n  - name: p\n    dsn: '{dsn}'\nsettings:\n"
                    + "".join(f"  {k}: {v}\n" for k, v in base.items()))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("case", ["database typo", "user typo", "unreachable host", "unknown host name"])
def test_valid_but_wrong_dsn_reports_the_pod_down_in_one_line(capsys, estate, tmp_path, case):
    pod = estate.pods["vectors-a"]
    dsn = {
        "database typo": pod.dsn("postgress"),
        "user typo": pod.dsn().replace("postgres:", "postgers:", 1),
        "unreachable host": f"postgresql://postgres:{TEST_PASSWORD}@192.0.2.1:5432/postgres",  # TEST-NET-1
        "unknown host name": f"postgresql://postgres:{TEST_PASSWORD}@no-such-pod.invalid:5432/postgres",
    }[case]
    expect = {"database typo": 'database "postgress" does not exist', "user typo": "password authentication failed",
              "unreachable host": "", "unknown host name": ""}[case]
    t = time.monotonic()
    code, out, err = cli(capsys, "status", "--json", "--config", str(_write(tmp_path / "c.yaml", dsn)))
    elapsed = time.monotonic() - t
    assert code == 1 and "Traceback" not in err
    [p] = json.loads(out)["pods"]
    assert p["up"] is False and p["error"] and "\n" not in p["error"] and expect in p["error"], p["error"]
    assert TEST_PASSWORD not in out + err
    assert elapsed < Settings(connect_timeout_s=1, statement_timeout_ms=1000).call_timeout_s + 2.0, elapsed


# --- vectors ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vec_target(estate):
    """vecs.<unique> on vectors-a with three known rows: every bad load must leave exactly these."""
    import uuid

    name = f"bad_in_{uuid.uuid4().hex[:8]}"
    estate.sql("vectors-a", f"create schema if not exists vecs; create table vecs.{name} (id varchar primary key, "
                            "vec vector(3) not null, metadata jsonb not null default '{}'::jsonb); "
                            f"insert into vecs.{name} values ('k1', '[1,0,0]', '{{}}'), ('k2', '[0,1,0]', '{{}}'), "
                            "('k3', '[0,0,1]', '{\"a\": 1}')")
    return name


def _quote(name: str) -> str:
    from psycopg import sql

    return sql.Identifier(name).as_string()


def _rows(estate, name):
    return estate.sql("vectors-a", f"select id, vec::text, metadata::text from vecs.{name} order by id")


JSONL = [
    ("wrong dimension", '{"id": "n1", "vec": [1, 2]}\n', "2 dimensions"),
    ("too many dimensions", '{"id": "n1", "vec": [1, 2, 3, 4]}\n', "4 dimensions"),
    ("NaN", '{"id": "n1", "vec": [1, NaN, 2]}\n', "NaN"),
    ("Infinity", '{"id": "n1", "vec": [1, Infinity, 2]}\n', "infinity"),
    ("overflowing float", '{"id": "n1", "vec": [1e40, 2, 3]}\n', "infinity"),
    ("strings", '{"id": "n1", "vec": ["a", "b", "c"]}\n', "list of numbers"),
    ("numbers as strings", '{"id": "n1", "vec": ["1", "2", "3"]}\n', "list of numbers"),
    ("empty vector", '{"id": "n1", "vec": []}\n', "0 dimensions"),
    ("vector is null", '{"id": "n1", "vec": null}\n', "vec"),
    ("bad JSON", '{"id": "n1", "vec": [1, 2, 3]\n', "bad JSON"),
    ("missing id", '{"vec": [1, 2, 3]}\n', '"id"'),
    ("metadata not an object", '{"id": "n1", "vec": [1, 2, 3], "metadata": [1]}\n', "metadata"),
    ("good row then bad row", '{"id": "n1", "vec": [1, 2, 3]}\n{"id": "n2", "vec": [1, 2]}\n', ":2:"),
    ("duplicate id", '{"id": "n1", "vec": [1, 2, 3]}\n{"id": "n1", "vec": [3, 2, 1]}\n', "n1"),
    ("id exists already", '{"id": "k1", "vec": [1, 2, 3]}\n', "k1"),
]


@pytest.mark.parametrize("content,problem", [j[1:] for j in JSONL], ids=[j[0] for j in JSONL])
def test_bad_vectors_in_a_load_file_change_nothing(capsys, estate, vec_target, tmp_path, content, problem):
    before = _rows(estate, vec_target)
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "load", "--config", str(cfg), "--quiet", "vectors-a", vec_target, str(path))
    assert code == 2, (out, err)
    msg = assert_one_line(err)
    assert problem.lower() in msg.lower(), msg
    assert _rows(estate, vec_target) == before


@pytest.mark.parametrize("case", ["wrong dimension", "NaN", "1-d", "strings", "empty"])
def test_bad_npy_matrix_changes_nothing(capsys, estate, vec_target, tmp_path, case):
    arr = {
        "wrong dimension": np.ones((4, 5), dtype=np.float32),
        "NaN": np.array([[1, 2, 3], [np.nan, 1, 1]], dtype=np.float32),
        "1-d": np.ones(3, dtype=np.float32),
        "strings": np.array([["a", "b", "c"]]),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }[case]
    before = _rows(estate, vec_target)
    path = tmp_path / "m.npy"
    np.save(path, arr)
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "load", "--config", str(cfg), "--quiet", "vectors-a", vec_target, str(path))
    if case == "empty":  # nothing to load is not an error, and loads nothing
        assert code in (0, 2), err
        if code == 2:
            assert_one_line(err)
    else:
        assert code == 2, (out, err)
        assert_one_line(err)
    assert _rows(estate, vec_target) == before


# --- identifiers ---------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    'x"; drop table vecs.VICTIM; --',
    "x'; drop table vecs.VICTIM; --",
    "semi;colon",
    "a--b",
    "ünïcødé_名前",
    "new\nline",
    "back\\slash",
    "dollar$$quote",
    "%s",
    "",
    " ",
    "a" * 70,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[repr(n)[:24] for n in HOSTILE_NAMES])
def test_hostile_collection_names_are_refused_or_quoted_never_executed(capsys, estate, vec_target, tmp_path, name):
    """`collection create` either creates exactly that name (safely quoted) or refuses in one line."""
    name = name.replace("VICTIM", vec_target)
    before = _rows(estate, vec_target)
    tables_before = estate.sql("vectors-a", "select relname from pg_class where relnamespace = 'vecs'::regnamespace")
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "collection", "create", "--config", str(cfg), "vectors-a", name, "--dim", "3", "--apply")
    assert "Traceback" not in err
    if code == 2:
        assert_one_line(err)
    else:
        assert code == 0, err
        made = estate.sql("vectors-a", "select relname from pg_class where relnamespace = 'vecs'::regnamespace "
                                       "and relname = %s", (name,))
        assert made == [(name,)], "created under another name than asked"
        estate.sql("vectors-a", "drop table vecs.{}".format(_quote(name)))
    assert _rows(estate, vec_target) == before
    after = estate.sql("vectors-a", "select relname from pg_class where relnamespace = 'vecs'::regnamespace")
    assert set(tables_before) <= set(after)


@pytest.mark.parametrize("name", HOSTILE_NAMES[:6], ids=[repr(n)[:24] for n in HOSTILE_NAMES[:6]])
def test_hostile_collection_names_on_read_commands_are_one_line(capsys, estate, vec_target, tmp_path, name):
    """Names that do not exist, given to commands that read: "not found" in one line, nothing run."""
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    for args in (["index", "list"], ["maintain", "analyze"], ["recall"]):
        code, out, err = cli(capsys, *args, "--config", str(cfg), "vectors-a", name.replace("VICTIM", vec_target))
        assert code in (1, 2) or (args[:2] == ["index", "list"] and code == 0), (args, code, err)
        if code:
            assert_one_line(err)
    assert _rows(estate, vec_target) == [("k1", "[1,0,0]", "{}"), ("k2", "[0,1,0]", "{}"), ("k3", "[0,0,1]", '{"a": 1}')]


@pytest.mark.parametrize("pod", ["nope", "x; drop", "vectors-a'--", ""])
def test_unknown_or_hostile_pod_name_is_one_line(capsys, estate, tmp_path, pod):
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    for args in (["collection", "create", "--dim", "3"], ["load"], ["maintain", "analyze"]):
        (tmp_path / "ok.jsonl").write_text('{"id": "z", "vec": [1, 2, 3]}\n')
        extra = [str(tmp_path / "ok.jsonl")] if args == ["load"] else []
        code, out, err = cli(capsys, *args, "--config", str(cfg), pod, "docs", *extra)
        assert code == 2, (args, err)
        assert "unknown pod" in assert_one_line(err)


@pytest.fixture(scope="module")
def wiring_primary():
    """A primary of this module's own: wiring plans are applied on it, never on the shared estate."""
    root = default_root("vdb-")
    [pod] = start_pods(root, ["bi-primary"], password=TEST_PASSWORD)
    pod.psql("create extension if not exists vector; create extension if not exists postgres_fdw")
    try:
        yield pod
    finally:
        pod.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _objects(pod) -> list[str]:
    return pod.psql("select 'server ' || srvname from pg_foreign_server union all "
                    "select 'rel ' || oid::regclass::text from pg_class where relnamespace not in "
                    "('pg_catalog'::regnamespace, 'information_schema'::regnamespace) and relnamespace::regnamespace::text "
                    "not like 'pg_toast%' order by 1").splitlines()


@pytest.mark.parametrize("view,expose", [
    ('v"; drop table vecs.VICTIM; --', []),
    ("v'; select pg_sleep(10); --", []),
    ("ünï_view", [("ünï", "text")]),
    ("plain_view", [("x'); drop table vecs.VICTIM; --", "text")]),
    ("plain_view2", [('f"; --', "int")]),
    ("plain_view3", [("year", "int); drop table x; --")]),
])
def test_hostile_names_in_a_wiring_plan_are_quoted_or_refused(estate, vec_target, wiring_primary, view, expose):
    view = view.replace("VICTIM", vec_target)
    expose = [(f.replace("VICTIM", vec_target), t) for f, t in expose]
    cfg = Config(pods=(PodConfig(name="bi-primary", role="primary", dsn=wiring_primary.dsn()),
                       PodConfig(name="vectors-a", role="secondary", dsn=estate.dsn("vectors-a"))),
                 settings=Settings(connect_timeout_s=1, statement_timeout_ms=3000))
    before = _rows(estate, vec_target)

    async def go():
        client = PodClient(cfg)
        try:
            try:
                plan = await wiring.plan_wire(client, "vectors-a", vec_target, view=view, expose=expose)
            except UserError as exc:
                assert "\n" not in str(exc)
                return None
            await wiring.apply_plan(client, plan)
            return plan
        finally:
            await client.close()

    t = time.monotonic()
    plan = asyncio.run(go())
    assert time.monotonic() - t < 10, "a hostile name must not have run pg_sleep"
    if plan is not None:
        objects = _objects(wiring_primary)
        assert any(view in o for o in objects), objects  # the view exists under exactly the asked name
        assert TEST_PASSWORD not in plan.preview_sql()
    assert _rows(estate, vec_target) == before


def test_overflowing_float_is_one_line_on_the_real_stderr(estate, vec_target, tmp_path):
    """Warnings printed by libraries (numpy overflow) count as lines on the user's screen too."""
    path = tmp_path / "big.jsonl"
    path.write_text('{"id": "n1", "vec": [1e40, 2, 3]}\n')
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    res = subprocess.run([sys.executable, "-m", "vecdash", "load", "--config", str(cfg), "--quiet", "vectors-a",
                          vec_target, str(path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "infinity" in assert_one_line(res.stderr)


QUERY_VECTORS = [
    ("wrong dimension", "[1, 2]", "dimension"),
    ("too many", "[1, 2, 3, 4]", "dimension"),
    ("NaN", "[1, NaN, 2]", "finite"),
    ("Infinity", "[1, Infinity, 2]", "finite"),
    ("huge", "[1e40, 2, 3]", "float4 range"),
    ("strings", '["a", "b", "c"]', "number"),
    ("numbers as strings", '["1", "2", "3"]', "number"),
    ("empty", "[]", "non-empty"),
    ("not JSON", "[1, 2,", "JSON"),
    ("an object", '{"a": 1}', "array"),
    ("nested", "[[1, 2, 3]]", "number"),
    ("booleans", "[true, false, true]", ""),
    ("SQL in the vector", "[1, 2, 3]'); drop table vecs.x; --", "JSON"),
]


@pytest.mark.parametrize("vector,problem", [q[1:] for q in QUERY_VECTORS], ids=[q[0] for q in QUERY_VECTORS])
def test_bad_query_vectors_are_one_line(capsys, estate, vec_target, tmp_path, vector, problem):
    before = _rows(estate, vec_target)
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "query", "--config", str(cfg), "vectors-a", vec_target, "--vector", vector)
    assert code == 2, (out, err)
    msg = assert_one_line(err)
    assert problem.lower() in msg.lower(), msg
    assert _rows(estate, vec_target) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES[:6] + ["vecs.x; drop table vecs.VICTIM", '"vecs"."x"--'],
                         ids=[repr(n)[:24] for n in HOSTILE_NAMES[:6]] + ["dotted injection", "quoted comment"])
def test_hostile_collection_names_in_query_and_wire_are_one_line(capsys, estate, vec_target, tmp_path, name):
    name = name.replace("VICTIM", vec_target)
    cfg = estate.write_config(tmp_path / "c.yaml", names=["primary", "vectors-a"])
    for args in (["query", "vectors-a", name, "--vector", "[1, 0, 0]"], ["query", "vectors-a", name, "--random"],
                 ["wire", "vectors-a", name], ["verify", "vectors-a", name]):
        code, out, err = cli(capsys, args[0], "--config", str(cfg), *args[1:])
        assert code in (1, 2), (args, code, out, err)
        if args[0] == "verify" and code == 1 and not err.strip():  # verify reports "not healthy" on stdout
            assert out.strip() and "Traceback" not in out
        else:
            assert_one_line(err)
    assert _rows(estate, vec_target) == [("k1", "[1,0,0]", "{}"), ("k2", "[0,1,0]", "{}"), ("k3", "[0,0,1]", '{"a": 1}')]


CLI_FILTERS = [
    ("not JSON", '{"a": ', 2, "JSON"),
    ("unknown operator", '{"a": {"$bad": 1}}', 2, "$bad"),
    ("$or not a list", '{"$or": "x"}', 2, "$or"),
    ("a list", "[1, 2]", 2, "dict"),
    ("$in not a list", '{"a": {"$in": 5}}', 2, "$in"),
    ("two operators", '{"a": {"$eq": 1, "$ne": 2}}', 2, "one operator"),
    ("SQL in a key", '{"a\'; drop table vecs.VICTIM; --": 1}', 0, ""),
    ("SQL in a value", '{"a": "1\'); drop table vecs.VICTIM; --"}', 0, ""),
    ("comment in a key", '{"a--": {"$eq": 1}}', 0, ""),
]


@pytest.mark.parametrize("filt,code,problem", [f[1:] for f in CLI_FILTERS], ids=[f[0] for f in CLI_FILTERS])
def test_cli_filters_are_one_line_or_plain_data(capsys, estate, vec_target, tmp_path, filt, code, problem):
    """Filters are fuzzed by the query engine's tests; here: what the CLI prints, and that SQL in a
    filter is only ever data (the query runs, matches nothing, and the victim table is intact)."""
    before = _rows(estate, vec_target)
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    got, out, err = cli(capsys, "query", "--config", str(cfg), "vectors-a", vec_target, "--vector", "[1, 0, 0]",
                        "--json", "--filter", filt.replace("VICTIM", vec_target))
    assert got == code, (got, out, err)
    if code:
        assert problem in assert_one_line(err)
    else:
        assert json.loads(out)["rows"] == [] and "Traceback" not in err
    assert _rows(estate, vec_target) == before


# Each predicate is valid or not, as SQL on the primary; a valid one that vecdash EXECUTED would leave a
# trace: SPY() writes a row to SPY_LOG through dblink (its own session, so even a read-only or rolled-back
# transaction keeps the row) and then raises; VICTIM is a table on the primary, where the predicate runs.
VERIFY_WHERE = [
    ("1=1; drop table public.VICTIM", False),
    ("true)) ; drop table public.VICTIM; --", False),
    ("id = 'x' -- comment", False),
    ("", False),
    ("public.SPY()", True),
    ("id = 'k1' or public.SPY()", True),
    ("exists (select 1 from public.VICTIM where public.SPY())", True),
    ("case when id = 'k1' then public.SPY() else public.SPY() end", True),
    ("(select public.SPY() from public.VICTIM limit 1)", True),
    ("id = (select pg_sleep(30) || public.SPY()::text)", True),
    ("pg_terminate_backend(pg_backend_pid()) and public.SPY()", True),
    ("id = '%(vec)s' or public.SPY()", True),
    ("metadata @> '{\"a\": 1}' and public.SPY()", True),
]


@pytest.fixture(scope="module")
def wired_for_verify(estate, wiring_primary, tmp_path_factory):
    """vectors-a's three-row collection wired into the module's primary, plus the spy objects there."""
    import uuid

    u = uuid.uuid4().hex[:8]
    coll = f"vw_in_{u}"
    estate.sql("vectors-a", f"create schema if not exists vecs; create table vecs.{coll} (id varchar primary key, "
                            "vec vector(3) not null, metadata jsonb not null default '{}'::jsonb); "
                            f"insert into vecs.{coll} values ('k1', '[1,0,0]', '{{}}'), ('k2', '[0,1,0]', '{{}}'), "
                            "('k3', '[0,0,1]', '{\"a\": 1}')")
    names = {"VICTIM": f"victim_{u}", "SPY_LOG": f"spy_log_{u}", "SPY": f"spy_{u}"}
    from psycopg import sql

    with psycopg.connect(wiring_primary.dsn(), autocommit=True) as conn:
        conn.execute("create extension if not exists dblink")
        conn.execute(sql.SQL("create table public.{} (id text primary key); insert into public.{} values ('v1')")
                     .format(sql.Identifier(names["VICTIM"]), sql.Identifier(names["VICTIM"])))
        conn.execute(sql.SQL("create table public.{} (at timestamptz default clock_timestamp())")
                     .format(sql.Identifier(names["SPY_LOG"])))
        record = sql.SQL("insert into public.{} default values").format(sql.Identifier(names["SPY_LOG"])).as_string(conn)
        body = sql.SQL("begin perform dblink_exec({}, {}); raise exception 'the verify predicate was executed'; end")\
            .format(sql.Literal(wiring_primary.dsn()), sql.Literal(record)).as_string(conn)
        conn.execute(sql.SQL("create function public.{}() returns boolean volatile language plpgsql as {}")
                     .format(sql.Identifier(names["SPY"]), sql.Literal(body)))
    cfg = tmp_path_factory.mktemp("verify") / "c.yaml"
    cfg.write_text(f"pods:\n  - name: bi-primary\n    role: primary\n    dsn: {wiring_primary.dsn()}\n"
                   f"  - name: vectors-a\n    dsn: {estate.dsn('vectors-a')}\n"
                   "settings:\n  connect_timeout_s: 1\n  statement_timeout_ms: 3000\n")
    cfg.chmod(0o600)
    code = main(["wire", "--config", str(cfg), "vectors-a", coll, "--view", f"vw_{coll}", "--apply"])
    # exit 1 = applied, but this 3-row table's k-NN is sorted on the primary (no pushdown)
    assert code == 1, code
    assert wiring_primary.psql(f"select count(*) from public.vw_{coll}").strip() == "3"
    return coll, cfg, names


def _spy_state(pod, names) -> tuple[str, str]:
    return (pod.psql(f"select count(*) from public.{names['SPY_LOG']}").strip(),
            pod.psql(f"select string_agg(id, ',') from public.{names['VICTIM']}").strip())


@pytest.mark.parametrize("where,valid", VERIFY_WHERE, ids=[w[0][:28] or "empty" for w in VERIFY_WHERE])
def test_verify_where_sql_is_only_explained_never_run(capsys, estate, wiring_primary, wired_for_verify, where, valid):
    """`verify --where` takes the user's own SQL predicate: it may only ever be EXPLAINed, read-only, as
    one statement - never executed, never a second statement. A valid predicate gets verify's normal
    answer (exit 1: this 3-row wiring sorts on the primary), an invalid one exit 2 and one line; the
    spy's log and the victim table on the primary (where the predicate would run) stay untouched."""
    coll, cfg, names = wired_for_verify
    for key, name in names.items():
        where = where.replace(key, name)
    before = _spy_state(wiring_primary, names)
    assert before == ("0", "v1")
    code, out, err = cli(capsys, "verify", "--config", str(cfg), "vectors-a", coll, "--where", where)
    assert _spy_state(wiring_primary, names) == before, "the predicate was executed"
    if valid:
        assert (code, err) == (1, ""), (code, out, err)
        assert "\nfilter pushdown: " in out and "Traceback" not in out, out
    else:
        assert code == 2, (code, out, err)
        assert assert_one_line(err).startswith("vecdash: error: filter: syntax error"), err
    assert wiring_primary.psql("select count(*) from pg_stat_activity where backend_type = 'client backend'").strip()


# --- one error contract: every input channel, generated variants ---------------------------------------

DEEP = 3000


def _deep(n: int, leaf: str = "1") -> str:
    return "[" * n + leaf + "]" * n


# filters: nesting, huge numbers, non-finite numbers, bad encodings of JSON; each exit 2, one line
FILTER_VARIANTS = [
    ("3000-deep list", _deep(DEEP)),
    ("3000-deep object", '{"a": ' * DEEP + "1" + "}" * DEEP),
    ("100-deep $and", '{"$and": [' * 100 + '{"a": 1}' + "]}" * 100),
    ("5000-digit integer", '{"a": ' + "9" * 5000 + "}"),
    ("5000-digit negative", '{"a": {"$gt": -' + "9" * 5000 + "}}"),
    ("1e400", '{"a": {"$lt": 1e400}}'),
    ("NaN", '{"a": NaN}'),
    ("-Infinity", '{"a": {"$gte": -Infinity}}'),
    ("lone surrogate", '{"a": "\\ud800"}'),
]


@pytest.mark.parametrize("filt", [f[1] for f in FILTER_VARIANTS], ids=[f[0] for f in FILTER_VARIANTS])
@pytest.mark.parametrize("command", ["query", "verify"])
def test_hostile_filters_are_exit_2_one_line(capsys, estate, vec_target, tmp_path, filt, command):
    cfg = estate.write_config(tmp_path / "c.yaml", names=["primary", "vectors-a"])
    args = (["query", "vectors-a", vec_target, "--vector", "[1, 0, 0]"] if command == "query"
            else ["verify", "vectors-a", vec_target])
    code, out, err = cli(capsys, args[0], "--config", str(cfg), *args[1:], "--filter", filt)
    if filt == '{"a": "\\ud800"}':  # valid JSON: a string, plain data (the query matches nothing) or refused
        assert code in (0, 1) and "Traceback" not in err  # verify: 1 = not healthy (nothing wired)
        return
    assert code == 2, (code, out, err)
    assert "--filter" in assert_one_line(err)


VECTOR_VARIANTS = [
    ("3000-deep", _deep(DEEP)),
    ("500-deep", _deep(500)),
    ("5000-digit integer", "[" + "9" * 5000 + ", 1, 2]"),
    ("4000-digit integer", "[" + "9" * 4000 + ", 1, 2]"),
    ("1e400", "[1e400, 1, 2]"),
    ("-1e400", "[-1e400, 1, 2]"),
    ("a long nested list", "[[" + ", ".join(["1"] * 5000) + "]]"),
]


@pytest.mark.parametrize("vector", [v[1] for v in VECTOR_VARIANTS], ids=[v[0] for v in VECTOR_VARIANTS])
def test_hostile_query_vectors_are_exit_2_one_line(capsys, estate, vec_target, tmp_path, vector):
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "query", "--config", str(cfg), "vectors-a", vec_target, "--vector", vector)
    assert code == 2, (code, out, err)
    line = assert_one_line(err)
    assert "--vector" in line and len(line) < 300, line


JSONL_VARIANTS = [
    ("5000-digit integer in vec", '{"id": "n1", "vec": [' + "9" * 5000 + ', 1, 2]}\n', ":1:"),
    ("4000-digit integer in vec", '{"id": "n1", "vec": [' + "9" * 4000 + ', 1, 2]}\n', ":1:"),
    ("1e400 in vec", '{"id": "n1", "vec": [1e400, 1, 2]}\n', ":1:"),
    ("5000-digit integer in metadata", '{"id": "n1", "vec": [1, 2, 3], "metadata": {"a": ' + "9" * 5000 + '}}\n', ":1:"),
    ("3000-deep metadata", '{"id": "n1", "vec": [1, 2, 3], "metadata": {"a": ' + _deep(DEEP) + '}}\n', ":1:"),
    ("3000-deep vec", '{"id": "n1", "vec": ' + _deep(DEEP) + '}\n', ":1:"),
    ("not UTF-8 on line 2", b'{"id": "n1", "vec": [1, 2, 3]}\n{"id": "\xff\xfe", "vec": [1, 2, 3]}\n', ":2:"),
    ("huge int id", '{"id": ' + "9" * 5000 + ', "vec": [1, 2, 3]}\n', ":1:"),
]


@pytest.mark.parametrize("content,where", [j[1:] for j in JSONL_VARIANTS], ids=[j[0] for j in JSONL_VARIANTS])
def test_hostile_load_files_are_exit_2_one_line_and_change_nothing(capsys, estate, vec_target, tmp_path, content, where):
    before = _rows(estate, vec_target)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "load", "--config", str(cfg), "--quiet", "vectors-a", vec_target, str(path))
    assert code == 2, (code, out, err)
    line = assert_one_line(err)
    assert f"{path}{where}" in line and len(line) < 400, line
    assert _rows(estate, vec_target) == before


SIDE_FILES = [
    ("ids", b"a\n\xff\xfe\nc\n", ":2:"),
    ("ids", b"\x80\n", ":1:"),
    ("metadata", b'{"a": 1}\n{"b": "\xc3\x28"}\n{}\n', ":2:"),
    ("metadata", b"\xef\xbb\xbf\xff{}\n", ":1:"),
]


@pytest.mark.parametrize("flag,content,where", SIDE_FILES, ids=[f"{f[0]}-{i}" for i, f in enumerate(SIDE_FILES)])
def test_non_utf8_ids_and_metadata_files_are_exit_2_one_line(capsys, estate, vec_target, tmp_path, flag, content, where):
    before = _rows(estate, vec_target)
    npy = tmp_path / "m.npy"
    np.save(npy, np.ones((3, 3), dtype=np.float32))
    side = tmp_path / f"side.{flag}"
    side.write_bytes(content)
    cfg = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"])
    code, out, err = cli(capsys, "load", "--config", str(cfg), "--quiet", "vectors-a", vec_target, str(npy),
                         f"--{flag}", str(side))
    assert code == 2, (code, out, err)
    line = assert_one_line(err)
    assert f"{side}{where}" in line and "UTF-8" in line, line
    assert _rows(estate, vec_target) == before


SETTING_VARIANTS = [
    ("connect_timeout_s", ".inf", "finite"),
    ("connect_timeout_s", ".nan", "finite"),
    ("connect_timeout_s", "-.inf", "finite"),
    ("connect_timeout_s", "99999999999", "between"),
    ("connect_timeout_s", "0", "positive"),
    ("statement_timeout_ms", "99999999999999", "must be an integer from 1 to 2,147,483,647, got 99999999999999"),
    ("statement_timeout_ms", "2147483648", "must be an integer from 1 to 2,147,483,647, got 2147483648"),
    ("statement_timeout_ms", "0", "must be an integer from 1 to 2,147,483,647, got 0"),
    ("refresh_seconds", ".inf", "finite"),
    ("refresh_seconds", "1.0e+300", "between"),
    ("refresh_seconds", "0.001", "between"),
]


@pytest.mark.parametrize("key,value,problem", SETTING_VARIANTS, ids=[f"{k}={v}" for k, v, _ in SETTING_VARIANTS])
def test_out_of_range_settings_are_file_line_errors(capsys, tmp_path, key, value, problem):
    path = tmp_path / "c.yaml"
    path.write_text(f"pods:\n{POD}settings:\n  {key}: {value}\n")
    path.chmod(0o600)
    code, out, err = cli(capsys, "status", "--config", str(path))
    assert code == 2 and out == ""
    line = assert_one_line(err)
    assert line.startswith(f"vecdash: error: {path}:5: settings.{key} ") and problem in line, line


@pytest.mark.parametrize("value", ["2147483647"])
def test_statement_timeout_at_the_servers_limits_keeps_the_pod_up(capsys, estate, tmp_path, value):
    path = estate.write_config(tmp_path / "c.yaml", names=["vectors-a"], statement_timeout_ms=int(value))
    assert f"statement_timeout_ms: {value}" in path.read_text()
    code, out, err = cli(capsys, "status", "--json", "--config", str(path))
    assert code == 0, (out, err)
    assert all(p["up"] for p in json.loads(out)["pods"])


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "1e9"])
def test_out_of_range_refresh_flag_is_one_line(capsys, tmp_path, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"pods:\n{POD}")
    path.chmod(0o600)
    code, out, err = cli(capsys, "--refresh", value, "--config", str(path), "status")
    assert code == 2, (code, out, err)
    assert "--refresh" in assert_one_line(err)


# names that do not exist are the user's input: exit 2, one line, for every command that takes one
NOT_FOUND = [
    ["index", "list", "vectors-a", "no_such_collection"],
    ["index", "drop", "vectors-a", "no_such_index"],
    ["index", "drop", "vectors-a", "no_such_index", "--apply"],
    ["index", "fix", "vectors-a", "no_such_index", "--drop"],
    ["index", "build", "--quiet", "vectors-a", "no_such_collection"],
    ["query", "vectors-a", "no_such_collection", "--vector", "[1, 0, 0]"],
    ["recall", "--quiet", "vectors-a", "no_such_collection"],
    ["maintain", "analyze", "vectors-a", "no_such_collection"],
    ["load", "--quiet", "vectors-a", "no_such_collection", "{jsonl}"],
    ["wire", "vectors-a", "no_such_collection"],
    ["collection", "drop", "vectors-a", "no_such_collection"],
    ["query", "no_such_pod", "x", "--vector", "[1]"],
]


@pytest.mark.parametrize("args", NOT_FOUND, ids=[" ".join(a[:3]) + (" apply" if "--apply" in a else "") for a in NOT_FOUND])
def test_a_name_that_does_not_exist_is_exit_2_one_line(capsys, estate, tmp_path, args):
    cfg = estate.write_config(tmp_path / "c.yaml", names=["primary", "vectors-a"])
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"id": "a", "vec": [1, 2, 3]}\n')
    args = [a.format(jsonl=jsonl) for a in args]
    code, out, err = cli(capsys, *args, "--config", str(cfg))
    assert code == 2, (args, code, out, err)
    line = assert_one_line(err)
    assert "no_such" in line, line


def test_a_server_refusing_a_plan_step_is_exit_1_in_every_command(capsys, estate, tmp_path):
    """`wire`, `collection` and `index` plans refused by the server (a read-only role, on the server's
    side: default_transaction_read_only set for the database) all exit 1 with one line."""
    import uuid

    db = f"ro_{uuid.uuid4().hex[:8]}"
    estate.sql("vectors-a", f"create database {db}")
    estate.sql("vectors-a", f"alter database {db} set default_transaction_read_only = on")
    try:
        dsn = estate.pods["vectors-a"].dsn(db)
        path = tmp_path / "c.yaml"
        path.write_text(f"pods:\n  - name: ro\n    dsn: '{dsn}'\n")
        path.chmod(0o600)
        for args in (["collection", "create", "ro", "refused_here", "--dim", "3", "--apply"],
                     ["collection", "drop", "ro", "refused_here", "--apply"]):
            code, out, err = cli(capsys, *args, "--config", str(path))
            if args[1] == "drop" and code == 2:  # nothing to drop: not found is the user's input
                continue
            assert code == 1, (args, code, out, err)
            assert "read-only" in assert_one_line(err), err
    finally:
        estate.sql("vectors-a", f"drop database {db} with (force)")


def test_every_command_applying_a_plan_the_server_refuses_is_exit_1_with_one_masked_line(capsys, estate, tmp_path):
    """wire, collection create, index drop / build and doctor --fix, on a database the server keeps
    read-only (DSNs holding the password): every plan goes through the one executor (service.plans), so each
    refusal is exit 1 and one line naming the step, with no password in it."""
    import uuid

    db = f"ro_{uuid.uuid4().hex[:8]}"
    estate.sql("vectors-a", f"create database {db}")
    dsn = estate.pods["vectors-a"].dsn(db)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create extension vector")
        conn.execute("create schema vecs")
        conn.execute("create table vecs.indexed (id text primary key, vec vector(3), metadata jsonb)")
        conn.execute("create index indexed_hnsw on vecs.indexed using hnsw (vec vector_cosine_ops)")
        conn.execute("create table vecs.bare (id text primary key, vec vector(3), metadata jsonb)")
        conn.execute("insert into vecs.bare values ('1', '[1,2,3]', '{}')")
        conn.execute("create extension postgres_fdw")  # a server the doctor wants to fix (no extensions 'vector')
        conn.execute("create server legacy foreign data wrapper postgres_fdw options (host '127.0.0.1', dbname 'x')")
    estate.sql("vectors-a", f"alter database {db} set default_transaction_read_only = on")
    try:
        path = tmp_path / "c.yaml"
        path.write_text(f"pods:\n  - name: ro\n    role: primary\n    dsn: '{dsn}'\n"
                        f"  - name: ro2\n    dsn: '{dsn}'\n")
        path.chmod(0o600)
        for args in (["wire", "ro2", "vecs.bare", "--apply"],
                     ["collection", "create", "ro", "refused_here", "--dim", "3", "--apply"],
                     ["index", "drop", "ro", "indexed_hnsw", "--apply"],
                     ["index", "build", "ro", "bare", "--quiet"]):
            code, out, err = cli(capsys, *args, "--config", str(path))
            assert code == 1, (args, code, out, err)
            assert "read-only" in assert_one_line(err), (args, err)
        code, out, err = cli(capsys, "doctor", "--fix", "--config", str(path))
        failed = [line for line in out.splitlines() if line.startswith("fix FAILED")]
        assert code == 1 and failed, (out, err)
        assert all("read-only" in line and "step 1/1 failed" in line for line in failed), failed
        assert TEST_PASSWORD not in out + err
    finally:
        estate.sql("vectors-a", f"drop database {db} with (force)")


def test_an_integer_out_of_range_reads_the_same_everywhere():
    """One check (inputs.check_integer) for every "integer in a range" input: `NAME must be an integer
    from LO to HI, got VALUE`, in the caller's own UserError, before any I/O (no client is needed)."""
    from vecdash.model_data import BrowseSpec
    from vecdash.service.across import plan_across
    from vecdash.service.browse import check_browse
    from vecdash.service.collections import CollectionError, plan_create_collection
    from vecdash.service.keys import check_sample
    from vecdash.service.projection import MapError, collection_map
    from vecdash.service.query import QueryError, QuerySpec, check_spec

    cases = [
        (lambda: check_browse(BrowseSpec(pod="p", collection="c", limit=10_001)), UserError, "limit", "0 to 10,000", "10001"),
        (lambda: check_spec(QuerySpec(pod="p", collection="c", random=True, limit=True)), QueryError, "limit",
         "1 to 10,000", "True"),
        (lambda: check_spec(QuerySpec(pod="p", collection="c", random=True, ef_search=0)), QueryError, "ef_search",
         "1 to 1,000", "0"),
        (lambda: check_spec(QuerySpec(pod="p", collection="c", random=True, probes="9")), QueryError, "probes",
         "1 to 32,768", "'9'"),
        (lambda: check_sample(100_001), UserError, "sample", "1 to 100,000", "100001"),
        (lambda: check_sample(10, top=0), UserError, "top", "1 to 100", "0"),
        (lambda: asyncio.run(collection_map(None, "p", "c", sample=1)), MapError, "sample", "2 to 10,000", "1"),
        (lambda: asyncio.run(plan_create_collection(None, "p", "c", 1.5)), CollectionError, "dimension",
         "1 to 16,000", "1.5"),
        (lambda: plan_across(None, None, "c", "analyze", parallel=0), UserError, "parallel", "1 to 1,000", "0"),
        (lambda: check_sample(10**5000), UserError, "sample", "1 to 100,000", "an integer with too many digits"),
    ]
    for call, error, name, bounds, value in cases:
        with pytest.raises(error) as caught:
            call()
        assert str(caught.value) == f"{name} must be an integer from {bounds}, got {value}"
