"""Security review as tests: read-only cannot write, passwords never leak, SQL is composed safely,
exposed config files warn.

Read-only has two layers and both are tested: vecdash refuses writes before touching the database
(`PodClient.run(..., write=True)` -> ReadOnlyError, CLI exit 2), and every session is opened with
`default_transaction_read_only=on`, so the server refuses DDL/DML sent through a vecdash session
even if a code path forgot to ask. (Maintenance commands such as VACUUM/ANALYZE/REINDEX and an
explicit `BEGIN READ WRITE` are not covered by that server setting; vecdash never sends them in
read-only mode - for a hard guarantee, connect as a role without write privileges. See README.)
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.db.pods import PodClient
from vecdash.embedded import free_port
from vecdash.errors import ReadOnlyError

from .conftest import TEST_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vecdash"


def in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """The CLI's real entry point without a new interpreter (saves ~1 s per call); same result shape."""
    from vecdash.cli import main

    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def vecdash_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vecdash", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def write_config(path: Path, pods: list[tuple[str, str, str]], mode: int = 0o600, **settings) -> Path:
    lines = ["pods:"]
    for n, r, d in pods:
        lines += [f"  - name: {n}", f"    role: {r}", f"    dsn: {d}"]
    base = {"connect_timeout_s": 1, "statement_timeout_ms": 2000}
    base.update(settings)
    lines += ["settings:"] + [f"  {k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in base.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(mode)
    return path


# --- read-only: vecdash refuses before the database, the server refuses anyway ----------------------


def test_write_refused_before_touching_the_database():
    """Read-only + write=True fails with ReadOnlyError even when the pod does not exist at all."""
    nowhere = f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:{free_port()}/postgres"
    cfg = Config(pods=(PodConfig(name="p", dsn=nowhere),), settings=Settings(read_only=True, connect_timeout_s=1))

    async def go():
        client = PodClient(cfg)
        touched = []

        async def write(conn):
            touched.append(conn)

        try:
            with pytest.raises(ReadOnlyError) as info:
                await client.run("p", write, write=True, what="create index")
        finally:
            await client.close()
        assert touched == [] and "read-only" in str(info.value) and "create index" in str(info.value)

    asyncio.run(go())


SERVER_REFUSES = [
    "create table {t}_new (i int)",
    "create temp table {t}_tmp (i int)",
    "insert into {t} values (1)",
    "update {t} set i = 2",
    "delete from {t}",
    "truncate {t}",
    "drop table {t}",
    "alter table {t} add column j int",
    "create index on {t} (i)",
    "comment on table {t} is 'x'",
    "grant select on {t} to public",
    "create schema {t}_s",
    "create extension if not exists hstore",
    "create server {t}_srv foreign data wrapper postgres_fdw",
    "create role {t}_role",
    "select nextval('{t}_seq')",
    "do $$ begin insert into {t} values (3); end $$",
    "set default_transaction_read_only = off; insert into {t} values (4)",
    "copy {t} from program 'true'",
]


@pytest.fixture(scope="module")
def ro_target(estate):
    import uuid

    t = f"ro_{uuid.uuid4().hex[:8]}"
    estate.sql("vectors-b", f"create extension if not exists postgres_fdw; create table public.{t} (i int); "
                            f"insert into public.{t} values (42); create sequence public.{t}_seq")
    return t


@pytest.mark.parametrize("statement", SERVER_REFUSES, ids=[s.split(" {")[0][:28] for s in SERVER_REFUSES])
def test_server_refuses_writes_sent_through_a_read_only_session(estate, ro_target, statement):
    """Asked directly, bypassing vecdash's own check (no write=True): the server says no."""
    client = PodClient(estate.config(names=["vectors-b"], read_only=True))
    text = statement.format(t=ro_target)

    async def go():
        try:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await client.run("vectors-b", lambda c: c.execute(text))
        finally:
            await client.close()

    asyncio.run(go())
    # nothing changed
    assert estate.sql("vectors-b", f"select array_agg(i) from public.{ro_target}") == [([42],)]
    cols = estate.sql("vectors-b", "select count(*) from information_schema.columns where table_name = %s", (ro_target,))
    assert cols == [(1,)]
    others = estate.sql("vectors-b", "select relname from pg_class where starts_with(relname, %s) and relname <> all(%s) "
                                     "union all select nspname from pg_namespace where starts_with(nspname, %s) "
                                     "union all select rolname from pg_roles where starts_with(rolname, %s) "
                                     "union all select srvname from pg_foreign_server where starts_with(srvname, %s)",
                        (ro_target, [ro_target, f"{ro_target}_seq"], ro_target, ro_target, ro_target))
    assert others == [], others
    assert estate.sql("vectors-b", "select count(*) from pg_extension where extname = 'hstore'") == [(0,)]
    assert estate.sql("vectors-b", "select last_value, is_called from " + f"public.{ro_target}_seq") == [(1, False)]


def test_a_calls_session_settings_cannot_lift_read_only(estate, ro_target):
    """Settings a call asks its session to open with come before the enforced ones (the last -c of a name
    wins), and only plain names and values pass: a session cannot be opened writable in read-only mode."""
    client = PodClient(estate.config(names=["vectors-b"], read_only=True))
    lift = (("default_transaction_read_only", "off"),)

    async def go():
        try:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                await client.run("vectors-b", lambda c: c.execute(f"insert into public.{ro_target} values (1)"),
                                 session=lift)
            with pytest.raises(ValueError, match="names and values"):
                await client.run("vectors-b", lambda c: c.execute("select 1"),
                                 session=(("work_mem", "1MB -c default_transaction_read_only=off"),))
        finally:
            await client.close()

    asyncio.run(go())
    assert estate.sql("vectors-b", f"select array_agg(i) from public.{ro_target}") == [([42],)]


def test_read_only_cli_status_reports_sessions_read_only(capsys, estate, tmp_path):
    path = write_config(tmp_path / "c.yaml", [("vectors-b", "secondary", estate.dsn("vectors-b"))])
    res = vecdash_cli("--read-only", "status", "--json", "--config", str(path))  # once in a real process
    assert res.returncode == 0, res.stderr
    assert [p["read_only"] for p in json.loads(res.stdout)["pods"]] == [True]
    # the config setting alone does it too
    path = write_config(tmp_path / "ro.yaml", [("vectors-b", "secondary", estate.dsn("vectors-b"))], read_only=True)
    res = in_process(capsys, "status", "--json", "--config", str(path))
    assert [p["read_only"] for p in json.loads(res.stdout)["pods"]] == [True]
    res = in_process(capsys, "status", "--json", "--config", str(write_config(tmp_path / "rw.yaml",
                      [("vectors-b", "secondary", estate.dsn("vectors-b"))])))
    assert [p["read_only"] for p in json.loads(res.stdout)["pods"]] == [False]


def test_vecdash_never_reenables_writes_in_its_own_sql():
    """The server-side read-only default can be overridden by a session; vecdash's code never does it."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text().lower()
        for needle in ("read write", "default_transaction_read_only = off", "default_transaction_read_only=off",
                       "transaction_read_only to off", "set session characteristics"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle!r}")
    assert offenders == []


# --- passwords never leak ----------------------------------------------------------------------------


def _leak_check(outputs: dict[str, str]) -> None:
    leaks = [where for where, text in outputs.items() if TEST_PASSWORD in (text or "")]
    assert leaks == [], f"password visible in: {leaks}"


def test_cli_outputs_never_show_the_password(capsys, estate, tmp_path):
    up = [("primary", "primary", estate.dsn("primary")), ("vectors-a", "secondary", estate.dsn("vectors-a"))]
    refused = f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:{free_port()}/postgres"
    wrong_user = estate.dsn("vectors-b").replace("postgres:", "nobody:", 1)
    conninfo = f"host=127.0.0.1 port={free_port()} user=postgres password={TEST_PASSWORD} dbname=postgres"
    configs = {
        "all up": write_config(tmp_path / "up.yaml", up),
        "refused": write_config(tmp_path / "refused.yaml", up + [("gone", "secondary", refused)]),
        "auth failure": write_config(tmp_path / "auth.yaml", [("x", "secondary", wrong_user)]),
        "conninfo refused": write_config(tmp_path / "ci.yaml", [("x", "secondary", f"'{conninfo}'")]),
        "bad dsn": write_config(tmp_path / "bad.yaml", [("x", "secondary", f"'password={TEST_PASSWORD} host'")]),
        "typo key": write_config(tmp_path / "typo.yaml", [("x", "secondary", f"'hots=h password={TEST_PASSWORD}'")]),
        "group readable": write_config(tmp_path / "exposed.yaml", up, mode=0o644),
    }
    outputs = {}
    codes = {}
    for label, path in configs.items():
        for args in (["status", "--json"], ["status"], ["--read-only", "status"]):
            res = in_process(capsys, *args, "--config", str(path))
            outputs[f"{label} {' '.join(args)} stdout"] = res.stdout
            outputs[f"{label} {' '.join(args)} stderr"] = res.stderr
            codes[label] = res.returncode
            assert "Traceback" not in res.stderr, (label, res.stderr)
    _leak_check(outputs)
    # the cases really happened (a test that greps empty output proves nothing)
    assert codes == {"all up": 0, "refused": 1, "auth failure": 1, "conninfo refused": 1, "bad dsn": 2,
                     "typo key": 2, "group readable": 0}
    assert "password authentication failed" in outputs["auth failure status stdout"]
    assert "refused" in outputs["conninfo refused status stdout"].lower()
    assert "readable by group/others" in outputs["group readable status stderr"]


def svg_glyphs(svg: str) -> str:
    """The characters a Rich/Textual SVG screenshot draws, in order, without whitespace: styles split a
    line into many <text> elements and spaces are often gaps, not characters, so a grep of the raw file
    alone could miss a secret drawn in two colours."""
    import html
    import re

    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]*>", "", svg)))


def test_snapshot_and_text_artifacts_under_tests_never_hold_the_password():
    """SVG snapshots (pytest-textual-snapshot) and any other saved output committed under tests/. The
    snapshot estate's DSNs carry the test password and its confirm modal shows a plan whose user-mapping
    step the wiring service built with it, so this grep fails if any masking on the way breaks."""
    checked = []
    for path in (ROOT / "tests").rglob("*"):
        if path.is_file() and path.suffix not in {".py", ".pyc"}:
            text = path.read_text(errors="replace")
            assert TEST_PASSWORD not in text, path
            if path.suffix == ".svg":
                assert TEST_PASSWORD not in svg_glyphs(text), path
            checked.append(path)
    confirm = svg_glyphs((ROOT / "tests/__snapshots__/test_tui_snapshots/test_confirm_modal.svg").read_text())
    assert "createusermappingforcurrent_user" in confirm and "'********');" in confirm
    # the secret itself is defined in exactly one source file
    holders = [p.name for p in (ROOT / "tests").rglob("*.py") if TEST_PASSWORD in p.read_text()]
    assert holders == ["conftest.py"]


def test_error_texts_mask_the_password():
    from vecdash.db.connect import describe_error

    pod = PodConfig(name="p", dsn=f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:1/db")
    # an error message that echoes the DSN (as some drivers do) is masked on the way out
    msg = describe_error(RuntimeError(f"could not parse {pod.dsn}"), pod)
    assert TEST_PASSWORD not in msg and "********" in msg
    msg = describe_error(RuntimeError(f"bad value {TEST_PASSWORD!r} somewhere"), pod)
    assert TEST_PASSWORD not in msg


# --- SQL is composed only with psycopg.sql and parameters --------------------------------------------
# Two checks side by side: ruff's flake8-bandit S608 (a maintained rule for SQL built as text), and this
# scanner, which knows psycopg: what reaches execute()/executemany()/copy()/stream() (positionally or as
# `query=`) or sql.SQL() must be text fixed in the code, never text built from runtime values.

SQL_SINKS = {"execute", "executemany", "copy", "stream", "SQL"}
SQL_KEYWORDS = ("query", "statement", "obj")  # execute(query=...), copy(statement=...), sql.SQL(obj=...)
STRING_METHODS = {"replace", "strip", "lower", "upper"}  # fixed text stays fixed through these


class _Ctx:
    """What a scope's names are bound to: its own and the module's assignments, the module's functions
    and the UPPER_CASE constants it imports from other vecdash modules (read from their source)."""

    def __init__(self, assigned: dict[str, list[ast.AST]], funcs: dict[str, ast.AST], imported: dict[str, ast.AST]):
        self.assigned, self.funcs, self.imported = assigned, funcs, imported

    def values(self, name: str) -> list[ast.AST]:
        if name in self.assigned:
            return self.assigned[name]
        return [self.imported[name]] if name in self.imported else []


def _fixed_text(node: ast.AST, ctx: _Ctx, depth: int = 0) -> bool:
    """Is `node` text written in the code (literals, constants, lookups in constant tables)?"""
    if depth > 6:
        return False
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(isinstance(v, ast.Constant) or _fixed_text(v.value, ctx, depth + 1) for v in node.values)
    if isinstance(node, ast.IfExp):
        return _fixed_text(node.body, ctx, depth + 1) and _fixed_text(node.orelse, ctx, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _fixed_text(node.left, ctx, depth + 1) and _fixed_text(node.right, ctx, depth + 1)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_fixed_text(e, ctx, depth + 1) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(_fixed_text(v, ctx, depth + 1) for v in node.values)
    if isinstance(node, ast.Name):
        values = ctx.values(node.id)
        return bool(values) and all(_fixed_text(v, ctx, depth + 1) for v in values)
    if isinstance(node, ast.Subscript):  # a lookup in a constant table: the key picks, the table holds the text
        return _fixed_text(node.value, ctx, depth + 1)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STRING_METHODS
            and not node.keywords):
        return _fixed_text(node.func.value, ctx, depth + 1) and all(_fixed_text(a, ctx, depth + 1) for a in node.args)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
        return _fixed_text(node.func.value, ctx, depth + 1) and all(_fixed_text(a, ctx, depth + 1) for a in node.args[1:])
    return False


def _dynamic_string(node: ast.AST, ctx: _Ctx, depth: int = 0) -> str | None:
    """Why `node` builds a string from runtime values, else None: f-string, % or str.format, `+` of text
    and a runtime value, str.join, or a call to a helper of this module that returns such a string.

    Follows plain names to their assignments in the same function or module. Concatenating code
    constants (`ACTIONS[action] + " {}"`, a lookup in a constant table) is not flagged.
    """
    if depth > 6:
        return None
    if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
        return "f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) or _dynamic_string(
                node.left, ctx, depth + 1):
            return "% formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        for side in (node.left, node.right):
            why = _dynamic_string(side, ctx, depth + 1)
            if why:
                return why
        text = any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(node))
        if text and not (_fixed_text(node.left, ctx) and _fixed_text(node.right, ctx)):
            return "+ concatenation"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Constant) \
            and isinstance(node.func.value.value, str):
        if node.func.attr == "format":
            return "str.format"
        if node.func.attr == "join" and not all(_fixed_text(a, ctx) for a in node.args):
            return "str.join"
    if isinstance(node, ast.Call):
        callee = node.func.id if isinstance(node.func, ast.Name) else (
            node.func.attr if isinstance(node.func, ast.Attribute) else None)
        helper = ctx.funcs.get(callee)
        if helper is not None:
            inner = _Ctx({**ctx.assigned, **_assignments(helper)}, ctx.funcs, ctx.imported)
            for ret in (n for n in ast.walk(helper) if isinstance(n, ast.Return) and n.value is not None):
                why = _dynamic_string(ret.value, inner, depth + 1)
                if why:
                    return f"{why} returned by helper {callee}()"
    if isinstance(node, ast.Name):
        for value in ctx.assigned.get(node.id, []):
            why = _dynamic_string(value, ctx, depth + 1)
            if why:
                return f"{why} (via {node.id})"
    return None


def _assignments(scope: ast.AST) -> dict[str, list[ast.AST]]:
    out: dict[str, list[ast.AST]] = {}
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(node.value)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name) and node.value:
            out.setdefault(node.target.id, []).append(
                node.value if isinstance(node, ast.AnnAssign) else ast.BinOp(node.target, node.op, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):  # a loop variable is a runtime value
            for target in ast.walk(node.target):
                if isinstance(target, ast.Name):
                    out.setdefault(target.id, []).append(ast.Name("<loop value>"))
        elif isinstance(node, ast.arguments):
            for arg in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg]:
                if arg is not None:
                    out.setdefault(arg.arg, []).append(ast.Name("<argument>"))
    return out


def _imported_constants(tree: ast.AST) -> dict[str, ast.AST]:
    """UPPER_CASE names imported from vecdash modules, bound to their module-level values."""
    out: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vecdash"):
            path = ROOT / (node.module.replace(".", "/") + ".py")
            if not path.is_file():
                continue
            top = {t.id: n.value for n in ast.parse(path.read_text()).body if isinstance(n, ast.Assign)
                   for t in n.targets if isinstance(t, ast.Name)}
            for alias in node.names:
                if alias.name.isupper() and alias.name in top:
                    out[alias.asname or alias.name] = top[alias.name]
    return out


EXEMPT = "# sql-ok:"  # followed by why the formatted text cannot carry runtime data

# Call sites where sql.SQL() gets text that is not a literal, each with why it cannot carry a runtime value:
# (file, the argument as written) -> reason. Kept here, not as comments, so the reasons have one home;
# an entry that no longer matches anything fails the test (no stale excuses).
SQL_TEXT_FROM_CODE = {
    ("vecdash/service/wiring/statements.py", "verb + '{} {}'"): "option_list(): verb is '' or 'add '/'set ', passed by vecdash's own callers",
    ("vecdash/service/wiring/statements.py", "verb"): "alter_server_sql(): 'add'/'set' from vecdash's own change list",
    ("vecdash/service/wiring/statements.py", "k"): "an FDW option name vecdash chose (host, port, dbname, user, password, ...)",
    ("vecdash/service/wiring/statements.py", "col.type"):
        "format_type() text of a pg_catalog type from the pod's catalog, matched against _PLAIN_TYPE first",
    ("vecdash/service/wiring/fast_path.py", "t"): "ARG_TYPES: the fast-path functions' argument type names, constants",
    ("vecdash/service/wiring/verification.py", "where.replace('%', '%%')"):
        "verify --where: the user's own predicate, only ever EXPLAINed in a read-only transaction (tested)",
    ("vecdash/service/recall.py", "setting"): "plan_search_setting() refuses anything not in SETTINGS first",
    ("vecdash/service/filters.py", "op"): "compare() gets _COMPARE[op]: =, <>, <, <=, >, >=",
    ("vecdash/service/query/statements.py", "where_text"): "a filter composed with psycopg.sql, rendered by as_string()",
    ("vecdash/service/query/run.py", "stmt"): "knn_text(): a statement composed with psycopg.sql, rendered",
    ("vecdash/service/query/statements.py", "knn_text(b.relation, b.column, b.vtype, measure, where_text, "
                                            "include_vector, exact and b.remote, True, b.has_metadata)"):
        "knn_text(): a statement composed with psycopg.sql, rendered",
    ("vecdash/service/index_plans.py", "method"): "plan_build_index() refuses anything not in METHODS first",
    ("vecdash/service/doctor.py", "p.kind"): "ViewProps.kind: 'view' or 'materialized view', from relkind",
    ("vecdash/service/view_rebuild.py", "v.kind"): "ViewProps.kind: 'view' or 'materialized view', from relkind",
    ("vecdash/service/view_rebuild.py", "privilege"):
        "the doctor refuses the fix when any privilege is not in view_rebuild.PRIVILEGES",
    ("vecdash/service/view_rebuild.py", "e['definition'].strip().rstrip(';')"):
        "pg_get_viewdef() of the view being recreated, as the server printed it",
    ("vecdash/service/view_rebuild.py", "ix['definition']"): "pg_get_indexdef() of the index being recreated",
    ("vecdash/service/view_rebuild.py", "col['default']"): "pg_get_expr() of the column default being recreated",
    ("vecdash/service/why/explain.py", "text"):
        "vecdash why: the user's statement, proved one statement (PREPARE over the extended protocol), only ever "
        "EXPLAINed in a read-only transaction, never run, never with parameters (tests/test_why.py)",
    ("vecdash/db/placeholders.py", "params_text(query, context)"):
        "the statement's own psycopg.sql composition, rendered with % doubled inside identifiers and literals",
}


def unsafe_sql_calls(source: str, filename: str = "<src>", used: set | None = None) -> list[str]:
    tree = ast.parse(source, filename)
    lines = source.splitlines()
    top = {t.id: [n.value] for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    imported = _imported_constants(tree)
    parents = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
    findings = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    seen: set[int] = set()
    for scope in scopes[::-1] + [tree]:  # innermost first: a call belongs to the scope nearest to it
        local = dict(top)
        chain, node = [], scope
        while node is not None and node is not tree:
            chain.append(node)
            node = parents.get(id(node))
        for enclosing in chain[::-1]:  # closures see their enclosing functions' names
            local.update(_assignments(enclosing))
        ctx = _Ctx(local, funcs, imported)
        for node in ast.walk(scope):
            if id(node) in seen or not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name not in SQL_SINKS:
                continue
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in SQL_KEYWORDS), None)
            if arg is None:
                continue
            seen.add(id(node))
            why = _dynamic_string(arg, ctx)
            if why is None and name == "SQL" and not _fixed_text(arg, ctx):
                why = "sql.SQL(variable)"
            key = (filename, ast.unparse(arg))
            if why and name == "SQL" and key in SQL_TEXT_FROM_CODE:
                if used is not None:
                    used.add(key)
                continue
            line = lines[node.lineno - 1] if node.lineno <= len(lines) else ""
            if why and EXEMPT in line and line.split(EXEMPT, 1)[1].strip():
                continue
            if why:
                findings.append(f"{filename}:{node.lineno}: {name}() gets SQL built by {why}")
    return findings


BAD_SNIPPETS = [
    "def f(c, t):\n    c.execute(f'select {t}')  # sql-ok:\n",
    "def f(c, t):\n    c.execute(f'select * from {t}')\n",
    "def f(c, t):\n    c.execute('select * from %s' % t)\n",
    "def f(c, t):\n    c.execute('select * from {}'.format(t))\n",
    "def f(c, t):\n    q = f'drop table {t}'\n    c.execute(q)\n",
    "async def f(c, t):\n    await c.execute('select * from ' + f'{t}')\n",
    "def f(c, t):\n    q = 'select 1'\n    q += ' from %s' % t\n    c.execute(q)\n",
    "from psycopg import sql\ndef f(t):\n    return sql.SQL(f'select {t}')\n",
    "def f(cur, t):\n    with cur.copy(f'copy {t} from stdin'):\n        pass\n",
    # + concatenation of text and a runtime value
    "def f(c, t):\n    c.execute('select * from ' + t)\n",
    "def f(c, t):\n    c.execute(t + ' where true')\n",
    "ACTIONS = {'a': 'analyze'}\ndef f(c, action, t):\n    c.execute(ACTIONS[action] + ' ' + t)\n",
    "def f(c, t):\n    q = 'select * from ' + t.name\n    c.execute(q)\n",
    "def f(c, t):\n    q = 'select 1'\n    q += ' from ' + t\n    c.execute(q)\n",
    # str.join of runtime values
    "def f(c, cols):\n    c.execute('select ' + ', '.join(cols) + ' from x')\n",
    "def f(c, cols):\n    c.execute(' '.join(['select', cols[0], 'from x']))\n",
    # sql.SQL() of a variable (text that is not in the code)
    "from psycopg import sql\ndef f(c, t):\n    c.execute(sql.SQL(t))\n",
    "from psycopg import sql\ndef f(c, row):\n    c.execute(sql.SQL('select {}').format(sql.SQL(row['expr'])))\n",
    "from psycopg import sql\ndef f(c, names):\n    for n in names:\n        c.execute(sql.SQL(n))\n",
    "from psycopg.sql import SQL\ndef f(c, t):\n    c.execute(SQL(t.upper()))\n",
    # f-strings (and friends) returned by helpers
    "def q(t):\n    return f'select * from {t}'\ndef f(c, t):\n    c.execute(q(t))\n",
    "def q(t):\n    s = 'select * from ' + t\n    return s\ndef f(c, t):\n    stmt = q(t)\n    c.execute(stmt)\n",
    "class A:\n    def q(self, t):\n        return 'drop table {}'.format(t)\n    def f(self, c, t):\n        c.execute(self.q(t))\n",
    # the statement as a keyword argument
    "def f(c, t):\n    c.execute(query=f'select * from {t}')\n",
    "def f(c, t):\n    c.execute(params=(1,), query='select * from ' + t)\n",
    "def f(cur, t):\n    with cur.copy(statement=f'copy {t} from stdin'):\n        pass\n",
]
GOOD_SNIPPETS = [
    "def f(c, n):\n    c.execute(f'select {n}')  # sql-ok: n is an int from range()\n",
    "from psycopg import sql\ndef f(c, t, v):\n    c.execute(sql.SQL('select * from {} where id = %s').format(sql.Identifier(t)), (v,))\n",
    "Q = 'select 1'\ndef f(c):\n    c.execute(Q)\n",
    "def f(c):\n    c.execute(f'select 1')\n",
    "def f(c, v):\n    c.execute('select %s::int', (v,))\n",
    "def f(c, v):\n    c.execute(query='select %s::int', params=(v,))\n",
    "ACTIONS = {'a': 'analyze', 'v': 'vacuum'}\nfrom psycopg import sql\n"
    "def f(c, action, t):\n    c.execute(sql.SQL(ACTIONS[action] + ' {}').format(sql.Identifier(t)))\n",
    "from psycopg import sql\ndef f(c, t, m):\n    kind = 'materialized view' if m else 'view'\n"
    "    c.execute(sql.SQL('drop {} {}').format(sql.SQL(kind), sql.Identifier(t)))\n",
    "from psycopg import sql\nOPS = {'cosine': '<=>'}\ndef f(m):\n    return sql.SQL(OPS[m].replace('%', '%%'))\n",
    "from psycopg import sql\ndef f(c, cols):\n    c.execute(sql.SQL(', ').join(sql.Identifier(x) for x in cols))\n",
    "def q():\n    return 'select 1'\ndef f(c):\n    c.execute(q())\n",
]


@pytest.mark.parametrize("src", BAD_SNIPPETS)
def test_sql_scanner_catches_unsafe_composition(src):
    assert unsafe_sql_calls(src), src


@pytest.mark.parametrize("src", GOOD_SNIPPETS)
def test_sql_scanner_accepts_psycopg_sql_and_parameters(src):
    assert unsafe_sql_calls(src) == [], src


def test_no_sql_built_from_runtime_values_anywhere_in_vecdash():
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    assert len(files) > 10
    findings, used = [], set()
    for path in files:
        findings += unsafe_sql_calls(path.read_text(), str(path.relative_to(ROOT)), used)
    assert findings == [], "\n".join(findings)
    assert set(SQL_TEXT_FROM_CODE) - used == set(), "stale entries in SQL_TEXT_FROM_CODE"


def test_ruff_flake8_bandit_sql_rule_is_clean():
    """ruff's S608 (SQL built as a string) over the package and the benchmarks, configured in pyproject.toml;
    the real ruff in a real process. Planted code proves the rule is on: a clean run of nothing proves nothing."""
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                          "vecdash", "benchmarks"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    planted = "def f(c, t):\n    c.execute('select * from ' + t)\n    c.execute(f'delete from {t} where x')\n"
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                          "--stdin-filename", "vecdash/planted.py", "-"], cwd=ROOT, input=planted,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stdout.count("S608") == 2, res.stdout + res.stderr


# --- exposed config files warn, as .pgpass does ------------------------------------------------------


@pytest.mark.parametrize("mode,password_in_file,warns", [
    (0o644, True, True), (0o640, True, True), (0o604, True, True), (0o600, True, False), (0o400, True, False),
    (0o644, False, False),
])
def test_exposed_config_with_password_warns_through_the_cli(capsys, monkeypatch, estate, tmp_path, mode,
                                                            password_in_file, warns):
    if password_in_file:
        dsn = estate.dsn("vectors-b")
    else:  # the password comes from the environment: nothing secret in the file
        monkeypatch.setenv("VD_SEC_PW", TEST_PASSWORD)
        dsn = estate.dsn("vectors-b").replace(TEST_PASSWORD, "${VD_SEC_PW}")
    path = write_config(tmp_path / "c.yaml", [("vectors-b", "secondary", dsn)], mode=mode)
    if mode == 0o644 and password_in_file:  # once in a real process: the warning reaches the real stderr
        res = vecdash_cli("status", "--config", str(path))
    else:
        res = in_process(capsys, "status", "--config", str(path))
    assert res.returncode == 0, res.stderr
    warning = [line for line in res.stderr.splitlines() if "readable by group/others" in line]
    assert bool(warning) == warns, res.stderr
    if warns:
        assert len(warning) == 1 and str(path) in warning[0] and "chmod 600" in warning[0]
    assert TEST_PASSWORD not in res.stderr + res.stdout


# --- every write path of the CLI refuses in read-only mode; every output is free of the password ------


@pytest.fixture(scope="module")
def sec_estate(estate):
    """A primary of this module's own (wiring is applied there) + a collection on the shared vectors-a."""
    import shutil
    import uuid

    from vecdash.embedded import default_root, start_pods

    u = uuid.uuid4().hex[:8]
    coll = f"sec_{u}"
    estate.sql("vectors-a", f"create schema if not exists vecs; create table vecs.{coll} (id varchar primary key, "
                            "vec vector(3) not null, metadata jsonb not null default '{}'::jsonb); "
                            f"insert into vecs.{coll} select 'r' || g, array[g, 1, 0]::vector, jsonb_build_object('g', g) "
                            "from generate_series(1, 300) g; "
                            f"create index sec_ix_{u} on vecs.{coll} using hnsw (vec vector_cosine_ops); "
                            f"analyze vecs.{coll}")
    root = default_root("vds-")
    [primary] = start_pods(root, ["sec-primary"], password=TEST_PASSWORD)
    primary.psql("create extension if not exists vector; create extension if not exists postgres_fdw")
    try:
        yield {"coll": coll, "index": f"sec_ix_{u}", "primary": primary}
    finally:
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
        estate.sql("vectors-a", f"drop table if exists vecs.{coll}")


def _fingerprint(estate, sec) -> dict:
    """Everything a write command could have changed."""
    coll = sec["coll"]
    a = estate.sql("vectors-a", """
        select (select count(*) from vecs.""" + coll + """),
               (select array_agg(indexrelid::regclass::text order by 1) from pg_index where indrelid = %s::regclass),
               (select array_agg(relname::text order by 1) from pg_class where relnamespace = 'vecs'::regnamespace),
               (select array_agg(array_to_string(setconfig, ',') order by 1) from pg_db_role_setting),
               (select coalesce(analyze_count, 0) + coalesce(vacuum_count, 0) from pg_stat_all_tables where relid = %s::regclass)
    """, (f"vecs.{coll}", f"vecs.{coll}"))
    p = sec["primary"].psql("select string_agg(x, ',' order by x) from ("
                            "select 'srv:' || srvname || coalesce(array_to_string(srvoptions, ';'), '') as x from pg_foreign_server "
                            "union all select 'um:' || srvname from pg_user_mappings "
                            "union all select 'rel:' || oid::regclass::text from pg_class where relkind in ('v', 'f')) s")
    return {"vectors-a": a, "primary": p.strip()}


def _sec_config(tmp_path, estate, sec, **settings) -> Path:
    return write_config(tmp_path / "sec.yaml", [("sec-primary", "primary", sec["primary"].dsn()),
                                               ("vectors-a", "secondary", estate.dsn("vectors-a"))],
                        statement_timeout_ms=5000, **settings)


READ_ONLY_REFUSES = [
    ["wire", "vectors-a", "{coll}", "--apply"],
    ["doctor", "--fix"],
    ["collection", "create", "vectors-a", "{coll}_new", "--dim", "3", "--apply"],
    ["collection", "drop", "vectors-a", "{coll}", "--apply"],
    ["load", "--quiet", "vectors-a", "{coll}", "{jsonl}"],
    ["index", "build", "--quiet", "vectors-a", "{coll}", "--measure", "l2"],
    ["index", "drop", "vectors-a", "{index}", "--apply"],
    ["index", "fix", "vectors-a", "{index}", "--drop", "--apply"],
    ["index", "cancel", "vectors-a", "{coll}"],
    ["recall", "--quiet", "vectors-a", "{coll}", "--samples", "5", "--apply"],
    ["maintain", "analyze", "vectors-a", "{coll}"],
    ["maintain", "vacuum", "vectors-a", "{coll}"],
    ["across", "analyze", "{coll}"],
    ["across", "index", "{coll}"],
    ["across", "wire", "{coll}"],
    ["activity", "cancel", "vectors-a", "1"],
    ["activity", "terminate", "vectors-a", "1"],
]


def test_every_cli_write_path_refuses_in_read_only_mode_and_changes_nothing(capsys, estate, sec_estate, tmp_path):
    from vecdash.cli import main

    sec = sec_estate
    # a hand-made wiring doctor wants to fix (no extensions 'vector'): --fix must still refuse
    a = estate.pods["vectors-a"]
    sec["primary"].psql(f"create server if not exists hand_made foreign data wrapper postgres_fdw "
                        f"options (host '127.0.0.1', port '{a.port}', dbname 'postgres')")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"id": "new1", "vec": [1, 2, 3]}\n')
    cfg = _sec_config(tmp_path, estate, sec)
    before = _fingerprint(estate, sec)
    ran = []
    for template in READ_ONLY_REFUSES:
        args = [t.format(coll=sec["coll"], index=sec["index"], jsonl=jsonl) for t in template]
        try:
            code = main(["--read-only", "--config", str(cfg), *args])
        except SystemExit as exc:  # argparse: the command's options changed
            code = exc.code
        out, err = capsys.readouterr()
        assert code == 2, (args, code, out, err)
        lines = [l for l in err.splitlines() if l.strip()]
        assert len(lines) == 1 and "read-only" in lines[0], (args, err)
        assert "Traceback" not in err and TEST_PASSWORD not in out + err
        assert _fingerprint(estate, sec) == before, args
        ran.append(args[0])
    assert len(ran) == len(READ_ONLY_REFUSES)
    # unwire needs a wiring to refuse to remove
    assert main(["--config", str(cfg), "wire", "vectors-a", sec["coll"], "--apply"]) == 0
    wired = _fingerprint(estate, sec)
    assert wired["primary"] != before["primary"]
    code = main(["--read-only", "--config", str(cfg), "unwire", "vectors-a", sec["coll"], "--apply"])
    out, err = capsys.readouterr()
    assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1, (code, out, err)
    assert _fingerprint(estate, sec) == wired
    assert main(["--config", str(cfg), "unwire", "vectors-a", sec["coll"], "--apply"]) == 0
    capsys.readouterr()
    # and the same config without --read-only can write (the refusals above were not accidents)
    code = main(["--config", str(cfg), "maintain", "analyze", "vectors-a", sec["coll"]])
    capsys.readouterr()
    assert code == 0
    sec["primary"].psql("drop server if exists hand_made cascade")


def test_wire_query_doctor_outputs_never_show_the_password(capsys, estate, sec_estate, tmp_path):
    """The whole life of a wiring, plus reads, with DSNs that hold the password: grep every output."""
    from vecdash.cli import main

    sec = sec_estate
    cfg = _sec_config(tmp_path, estate, sec)
    coll = sec["coll"]
    steps = [
        ["wire", "vectors-a", coll],
        ["wire", "vectors-a", coll, "--json"],
        ["wire", "vectors-a", coll, "--expose", "g:int", "--apply"],
        ["verify", "vectors-a", coll],
        ["verify", "vectors-a", coll, "--json"],
        ["doctor"],
        ["doctor", "--json"],
        ["status", "--json"],
        ["query", "vectors-a", coll, "--random", "--json"],
        ["query", "vectors-a", coll, "--vector", "[1, 1, 0]", "--route", "primary", "--json"],
        ["query", "vectors-a", coll, "--vector", "[1, 1, 0]", "--explain"],
        ["index", "list", "vectors-a", coll],
        ["unwire", "vectors-a", coll, "--json"],
        ["unwire", "vectors-a", coll, "--apply"],
    ]
    outputs = {}
    codes = {}
    for args in steps:
        try:
            code = main(["--config", str(cfg), *args])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        outputs[" ".join(args)] = out + err
        codes[" ".join(args[:3])] = code
        assert "Traceback" not in err, (args, err)
    _leak_check(outputs)
    wire_json = outputs[f"wire vectors-a {coll} --json"]
    assert "user mapping" in wire_json.lower() and "********" in wire_json, "the plan must show the mapping, masked"
    assert codes[f"wire vectors-a {coll}"] == 0 and codes[f"verify vectors-a {coll}"] == 0, codes
    # the password really went into the database (masked output, real DDL)
    um = sec["primary"].psql("select count(*) from pg_user_mapping")
    assert um.strip() == "0", "unwire --apply removed the mapping"


async def test_console_screens_never_show_the_password(estate, sec_estate):
    """The real console on DSNs holding the password: every screen on the way to applying a wiring
    (tree, stats, wiring plan, confirmation modal, workbench) exported as SVG and grepped."""
    from vecdash.tui import app as app_mod
    from vecdash.tui.widgets.topology import Ref, TopologyTree
    from vecdash.tui.widgets.wiring import WiringPane

    sec = sec_estate
    cfg = Config(pods=(PodConfig(name="sec-primary", role="primary", dsn=sec["primary"].dsn()),
                       PodConfig(name="vectors-a", role="secondary", dsn=estate.dsn("vectors-a"))),
                 settings=Settings(connect_timeout_s=2, statement_timeout_ms=5000, refresh_seconds=60), path="<sec>")
    app = app_mod.VecdashApp(cfg)
    screens = {}

    async def until(pilot, cond, what, timeout=20.0):
        import time

        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await pilot.pause(0.05)

    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.topology is not None and not app.refreshing, "first refresh")
        screens["tree"] = app.export_screenshot()
        assert app.query_one(TopologyTree).select_ref(Ref("collection", "vectors-a", "vecs", sec["coll"]))
        await pilot.pause(0.2)
        screens["stats"] = app.export_screenshot()
        pane = app.query_one(WiringPane)
        await pilot.press("w")
        await until(pilot, lambda: pane.plan_shown is not None, "wiring plan")
        await pilot.pause(0.2)
        screens["plan"] = app.export_screenshot()
        await pilot.press("a")
        from textual.widgets import Static

        from vecdash.tui.screens.confirm import ConfirmScreen

        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen.query(Static).filter(
            "#confirm-sql"), "the confirm modal")
        await pilot.pause(0.2)
        screens["confirm"] = app.export_screenshot()
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the modal to close")
        await pilot.press("3")
        await pilot.pause(0.2)
        screens["workbench"] = app.export_screenshot()
        # the plan that would run does carry the password: the masking above is real, not absent data
        assert any(TEST_PASSWORD in str(step.sql.as_string() if hasattr(step.sql, "as_string") else step.sql)
                   for step in pane.plan_shown.steps)
    leaks = [name for name, svg in screens.items() if TEST_PASSWORD in svg or TEST_PASSWORD in svg_glyphs(svg)]
    assert leaks == []
    for name in ("plan", "confirm"):  # the screens grepped did show the step that holds the password
        assert "createusermappingforcurrent_user" in svg_glyphs(screens[name]), name
