"""Passwords never leave vecdash, whatever libpq makes of the DSN that holds them (issue #12, section 5).

Passwords are generated: runs of letters (`tokens`, each one unlikely anywhere else) joined by the
characters that break DSN parsing (space, quotes, `@`, `%`, `:`, `/`, `#`, `?`, `=`, backslash,
unicode). Each goes into DSNs of both forms, written as a careful user would (percent-encoded, quoted)
and as a careless one would (raw), then through the real config loader, the real CLI (`status`,
`status --json`) connecting to a real pod that refuses the password, and the pod's server log. No
token of the password may appear anywhere: a fragment is a leak too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecdash.config import load_config
from vecdash.errors import ConfigError
from vecdash.secrets import MASK, mask_text

from .test_security import in_process

SEPARATORS = [" ", "'", '"', "@", "%", ":", "/", "#", "?", "=", "\\", "é", "☃", "%4", "%zz", "''", "\\'", "@/", ":@"]

# "Qz" makes a token unlike any word vecdash prints (Hypothesis also tries constants from the source)
tokens = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=4, max_size=8).map(lambda t: "Qz" + t)


@st.composite
def passwords(draw) -> tuple[str, list[str]]:
    """A password and the letter runs it is made of (each must stay invisible)."""
    parts = draw(st.lists(tokens, min_size=2, max_size=4, unique=True).filter(
        lambda ps: not any(a != b and a in b for a in ps for b in ps)))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=len(parts) - 1, max_size=len(parts) - 1))
    password = parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))
    return password, parts


@pytest.fixture(autouse=True)
def _forget_remembered_secrets():
    """The loader remembers every DSN secret for the process (a CLI run loads one config); generated
    passwords must not stay masked in later tests' output."""
    from vecdash import secrets

    before = set(secrets._REMEMBERED)
    yield
    secrets._REMEMBERED.clear()
    secrets._REMEMBERED.update(before)


def _kv_quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dsn_variants(password: str, port: int) -> dict[str, str]:
    """The same password in every DSN shape a user may write: right and wrong."""
    return {
        "uri encoded": f"postgresql://postgres:{quote(password, safe='')}@127.0.0.1:{port}/postgres",
        "uri raw": f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres",
        "uri raw, query": f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres?connect_timeout=2",
        "kv quoted": f"host=127.0.0.1 port={port} user=postgres password={_kv_quoted(password)} dbname=postgres",
        "kv raw": f"host=127.0.0.1 port={port} user=postgres password={password} dbname=postgres",
        "kv raw last": f"host=127.0.0.1 port={port} dbname=postgres user=postgres password={password}",
        "kv single-quoted sql style": f"host=127.0.0.1 port={port} user=postgres password='{password}'",
    }


def _write(path: Path, dsn: str) -> Path:
    """yaml.safe_dump quotes whatever the DSN holds: the YAML is valid, only the DSN may not be."""
    path.write_text(yaml.safe_dump({"pods": [{"name": "p", "role": "secondary", "dsn": dsn}],
                                    "settings": {"connect_timeout_s": 3, "statement_timeout_ms": 3000}},
                                   allow_unicode=True))
    path.chmod(0o600)
    return path


def _leaks(parts: list[str], outputs: dict[str, str]) -> list[str]:
    return [f"{where}: {part!r}" for where, text in outputs.items() for part in parts if part in (text or "")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pw=passwords())
def test_generated_passwords_never_leak_through_loader_cli_or_server_log(capsys, tmp_path, estate, pw):
    password, parts = pw
    pod = estate.pods["vectors-a"]
    log_before = pod.log.stat().st_size
    outputs: dict[str, str] = {}
    codes: dict[str, int] = {}
    for shape, dsn in dsn_variants(password, pod.port).items():
        path = _write(tmp_path / "c.yaml", dsn)
        try:
            cfg = load_config(str(path))
            outputs[f"{shape} repr"] = repr(cfg)
        except ConfigError as exc:
            outputs[f"{shape} config error"] = str(exc)
        for args in (["status", "--json"], ["status"]):
            res = in_process(capsys, *args, "--config", str(path))
            outputs[f"{shape} {args} stdout"] = res.stdout
            outputs[f"{shape} {args} stderr"] = res.stderr
            codes[f"{shape} {args}"] = res.returncode
            assert "Traceback" not in res.stderr
            # a DSN vecdash refuses is the user's input (2); one it accepts reaches a pod that refuses (1)
            assert res.returncode in (1, 2), (shape, res)
            if res.returncode == 1 and "--json" in args:
                [entry] = json.loads(res.stdout)["pods"]
                assert entry["up"] is False and entry["error"]
    outputs["server log"] = pod.log.read_text(errors="replace")[log_before:]
    assert _leaks(parts, outputs) == []
    # the examples really reached the server: a correctly encoded DSN gets as far as authentication
    assert codes["uri encoded ['status', '--json']"] == 1
    assert "password authentication failed" in outputs["uri encoded ['status', '--json'] stdout"]


@pytest.mark.parametrize("dsn,expect", [
    ("postgresql://u:50%offSale!@127.0.0.1:5/db", "invalid percent-encoded token"),
    ("postgresql://u:a bLEAKc@127.0.0.1:5/db", "unexpected spaces"),
    ("postgresql://u:pa@LEAKss@127.0.0.1:5/db", "unencoded '@'"),
    ("postgresql://u:pa/LEAKss@127.0.0.1:5/db", "unencoded '@'"),
    ("host=127.0.0.1 password=pa LEAKss", "missing \"********\" in connection info string"),
    ("host=127.0.0.1 password='paLEAKss", "unterminated quoted string"),
    ("postgresql://u:paLEAK@127.0.0.1:5/db?x", "missing key/value separator"),
    ("postgresql://u:pa:LEAK@127.0.0.1:xx/db", "is not a number"),
])
def test_an_unparseable_dsn_is_refused_with_its_reason_and_without_its_password(capsys, tmp_path, dsn, expect):
    """Through a real process: the message says what is wrong and shows no piece of the password."""
    path = _write(tmp_path / "c.yaml", dsn)
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res
    assert expect in res.stderr, res.stderr
    for fragment in ("LEAK", "offSale", "50%"):
        assert fragment not in res.stderr + res.stdout


@pytest.mark.parametrize("text,secret", [
    ("could not parse postgresql://u:p@ss w:rd'SECRET@h/db here", "SECRET"),
    ("conninfo host=h password='it\\'s SECRET' user=u", "SECRET"),
    ("conninfo host=h password=SECRET user=u", "SECRET"),
    ("create user mapping for current_user server s options (user 'u', password 'x''SECRET')", "SECRET"),
    ("alter user mapping for current_user server s options (set password E'a\\\\b''SECRET')", "SECRET"),
    ("export PGPASSWORD=with space SECRET", "SECRET"),
    ('{"password": "a SECRET b"}', "SECRET"),
    ("PGSSLPASSWORD=SECRET", "SECRET"),
])
def test_mask_text_masks_by_shape(text, secret):
    masked = mask_text(text)
    assert secret not in masked and MASK in masked, masked


def test_mask_text_keeps_text_that_holds_no_password():
    for text in ("password authentication failed for user \"postgres\"", "fe_sendauth: no password supplied",
                 "postgresql://h:5432/db failed", "options (password_required 'false')"):
        assert mask_text(text) == text


# --- server logs: a user-mapping password is never statement text --------------------------------


@pytest.fixture
def loud_primary(estate, unique):
    """A primary that logs everything a DBA may ask it to log, and a collection on vectors-a to wire."""
    from vecdash.embedded import default_root, start_pods

    coll = f"slog_{unique}"
    estate.sql("vectors-a", f"create schema if not exists vecs; create table vecs.{coll} (id varchar primary key, "
                            "vec vector(3) not null, metadata jsonb not null default '{}'::jsonb); "
                            f"insert into vecs.{coll} values ('a', '[1,0,0]', '{{}}'); analyze vecs.{coll}")
    root = default_root("vdlog-")
    [primary] = start_pods(root, ["loud-primary"], password=estate.pods["vectors-a"].password)
    primary.psql("create extension if not exists vector; create extension if not exists postgres_fdw")
    for setting, value in (("log_statement", "all"), ("log_min_duration_statement", "0"),
                           ("log_parameter_max_length", "-1"), ("log_parameter_max_length_on_error", "-1"),
                           ("log_min_error_statement", "error"), ("log_min_messages", "info")):
        primary.psql(f"alter system set {setting} = '{value}'")
    primary.psql("select pg_reload_conf()")
    # a DBA's event trigger refuses the mapping: the step fails on the server
    primary.psql("create function refuse() returns event_trigger language plpgsql as "
                 "$$begin raise exception 'mappings are frozen today'; end$$")
    primary.psql("create event trigger refuse_mappings on ddl_command_start "
                 "when tag in ('CREATE USER MAPPING') execute function refuse()")
    try:
        yield primary, coll
    finally:
        primary.stop("immediate")
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        estate.sql("vectors-a", f"drop table if exists vecs.{coll}")


async def test_a_user_mapping_step_keeps_the_password_out_of_the_server_log(estate, loud_primary):
    """log_statement = all, every duration and parameter logged, and the mapping refused by the server:
    the primary's log holds the statements and the error, never the password (first a failing apply,
    then one that succeeds)."""
    from vecdash.config import Config, PodConfig, Settings
    from vecdash.db.pods import PodClient
    from vecdash.service import wiring

    primary, coll = loud_primary
    password = estate.pods["vectors-a"].password
    cfg = Config(pods=(PodConfig(name="primary", role="primary", dsn=primary.dsn()),
                       PodConfig(name="vectors-a", dsn=estate.dsn("vectors-a"))),
                 settings=Settings(statement_timeout_ms=5000, connect_timeout_s=3), path="<test>")
    client = PodClient(cfg)
    try:
        plan = await wiring.plan_wire(client, "vectors-a", coll)
        assert any(isinstance(s, wiring.SecretStep) and not s.satisfied for s in plan.steps)
        with pytest.raises(wiring.PlanFailed, match="mappings are frozen today") as err:
            await wiring.apply_plan(client, plan)
        assert password not in str(err.value)
        primary.psql("drop event trigger refuse_mappings")
        await wiring.apply_plan(client, plan)
    finally:
        await client.close()
    log = primary.log.read_text(errors="replace")
    mapping = primary.psql("select array_to_string(umoptions, ',') from pg_user_mappings")
    assert f"password={password}" in mapping, "the password really went into the mapping"
    assert "mappings are frozen today" in log and "user mapping" in log.lower(), "the log really holds the steps"
    assert password not in log


async def test_a_role_that_cannot_quiet_the_log_still_keeps_the_password_out_of_statement_text(estate, loud_primary):
    """A non-superuser wires (it may not SET the log settings): DDL logged, every error logged with its
    statement. The password is never statement text, so the log holds none; the plan says what remains."""
    from vecdash.config import Config, PodConfig, Settings
    from vecdash.db.pods import PodClient
    from vecdash.db.secret_statement import NOT_QUIET_NOTE
    from vecdash.service import wiring

    primary, coll = loud_primary
    for setting, value in (("log_statement", "ddl"), ("log_min_duration_statement", "-1")):
        primary.psql(f"alter system set {setting} = '{value}'")
    primary.psql("select pg_reload_conf()")
    primary.psql("create role wirer login password 'wirer-login-pw'; "
                 "grant usage on foreign data wrapper postgres_fdw to wirer; "
                 "grant create on database postgres to wirer; grant create on schema public to wirer")
    password = estate.pods["vectors-a"].password
    cfg = Config(pods=(PodConfig(name="primary", role="primary",
                                 dsn=f"postgresql://wirer:wirer-login-pw@127.0.0.1:{primary.port}/postgres"),
                       PodConfig(name="vectors-a", dsn=estate.dsn("vectors-a"))),
                 settings=Settings(statement_timeout_ms=5000, connect_timeout_s=3), path="<test>")
    client = PodClient(cfg)
    try:
        plan = await wiring.plan_wire(client, "vectors-a", coll)
        assert NOT_QUIET_NOTE in plan.notes
        with pytest.raises(wiring.PlanFailed, match="mappings are frozen today"):
            await wiring.apply_plan(client, plan)
        primary.psql("drop event trigger refuse_mappings")
        await wiring.apply_plan(client, plan)
    finally:
        await client.close()
    log = primary.log.read_text(errors="replace")
    assert "mappings are frozen today" in log and "create foreign table" in log.lower(), "DDL and errors are logged"
    assert password not in log
    assert f"password={password}" in primary.psql("select array_to_string(umoptions, ',') from pg_user_mappings")
