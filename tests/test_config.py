"""Config loading: the documented shape works; every bad config is one line with file:line, exit 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from vecdash.config import load_config, parse_config
from vecdash.errors import ConfigError

GOOD = """\
pods:
  - name: primary
    role: primary
    dsn: postgresql://app@db.example.internal:5432/postgres
  - name: vectors-a
    role: secondary
    dsn: ${VECTORS_A_DSN}
  - name: vectors-b
    service: vectors_b
settings:
  refresh_seconds: 5
  statement_timeout_ms: 5000
  connect_timeout_s: 3
  read_only: false
"""


def test_documented_shape_parses(monkeypatch):
    monkeypatch.setenv("VECTORS_A_DSN", "host=10.0.0.2 dbname=vectors user=app")
    cfg = parse_config(GOOD, "vecdash.yaml")
    assert [p.name for p in cfg.pods] == ["primary", "vectors-a", "vectors-b"]
    assert cfg.primary.name == "primary"
    assert cfg.pod("vectors-a").dsn == "host=10.0.0.2 dbname=vectors user=app"
    assert cfg.pod("vectors-b").conninfo == "service=vectors_b"
    assert cfg.pod("vectors-b").role == "secondary"
    assert cfg.settings.statement_timeout_ms == 5000
    assert cfg.settings.read_only is False


def test_single_pod_without_primary_is_valid():
    cfg = parse_config("pods:\n  - name: only\n    dsn: dbname=x\n", "c.yaml")
    assert cfg.primary is None and len(cfg.pods) == 1


def test_env_default_and_example_file_parse(monkeypatch):
    from pathlib import Path

    monkeypatch.delenv("VECTORS_A_DSN", raising=False)
    cfg = parse_config("pods:\n  - name: a\n    dsn: ${NOPE_X:-dbname=fallback}\n", "c.yaml")
    assert cfg.pods[0].dsn == "dbname=fallback"
    example = Path(__file__).resolve().parent.parent / "config.example.yaml"
    monkeypatch.setenv("VECTORS_A_DSN", "dbname=a")
    assert len(parse_config(example.read_text(), str(example)).pods) >= 1


BAD = [
    ("pods:\n  - name: a\n    dsn: 'x\n", 3, "YAML syntax error"),
    ("pods:\n  - name: a\n    dsn: dbname=x\n    colour: red\n", 4, "unknown key 'colour'"),
    ("pods:\n  - name: a\n    dsn: dbname=x\n  - name: a\n    dsn: dbname=y\n", 4, "duplicate pod name 'a'"),
    ("pods:\n  - name: a\n    role: primary\n    dsn: dbname=x\n  - name: b\n    role: primary\n    dsn: dbname=y\n", 6, "second primary"),
    ("pods:\n  - name: a\n    role: secondary\n", 2, "missing `dsn`"),
    ("pods:\n  - name: a\n    dsn: ${VECDASH_TEST_UNSET_VAR}\n", 3, "environment variable VECDASH_TEST_UNSET_VAR is not set"),
    ("pods:\n  - name: a\n    dsn: 'host=x port'\n", 3, "invalid dsn"),
    ("pods:\n  - name: a\n    dsn: dbname=x\nsettings:\n  refresh_seconds: soon\n", 5, "settings.refresh_seconds must be"),
    ("pods:\n  - name: a\n    dsn: dbname=x\nsettings:\n  read_only: 3\n", 5, "settings.read_only must be bool"),
    ("pods:\n  - name: a\n    dsn: dbname=x\nsetings: {}\n", 4, "unknown key 'setings'"),
    ("pods:\n  - name: a\n    role: boss\n    dsn: dbname=x\n", 3, "role must be primary or secondary"),
    ("pods: []\n", 1, "pods is empty"),
    ("pods:\n  - name: a b\n    dsn: dbname=x\n", 2, "name must be"),
    ("pods:\n  - name: a\n    dsn: dbname=x\n    service: s\n", 2, "either `dsn` or `service`"),
]


@pytest.mark.parametrize("text,line,problem", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_config_names_file_line_and_problem(text, line, problem, monkeypatch):
    monkeypatch.delenv("VECDASH_TEST_UNSET_VAR", raising=False)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "bad.yaml")
    msg = str(info.value)
    assert msg.startswith(f"bad.yaml:{line}: "), msg
    assert problem in msg
    assert "\n" not in msg


def test_invalid_dsn_error_never_shows_password():
    with pytest.raises(ConfigError) as info:
        parse_config("pods:\n  - name: a\n    dsn: 'password=hunter2secret host'\n", "c.yaml")
    assert "hunter2secret" not in str(info.value)


def test_lookup_order(tmp_path, monkeypatch):
    (tmp_path / "vecdash.yaml").write_text("pods:\n  - name: cwd\n    dsn: dbname=x\n")
    home_cfg = tmp_path / "home" / ".config" / "vecdash"
    home_cfg.mkdir(parents=True)
    (home_cfg / "config.yaml").write_text("pods:\n  - name: home\n    dsn: dbname=x\n")
    env_cfg = tmp_path / "env.yaml"
    env_cfg.write_text("pods:\n  - name: env\n    dsn: dbname=x\n")
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text("pods:\n  - name: explicit\n    dsn: dbname=x\n")
    monkeypatch.chdir(tmp_path)
    assert load_config().pods[0].name == "cwd"
    monkeypatch.setenv("VECDASH_CONFIG", str(env_cfg))
    assert load_config().pods[0].name == "env"
    assert load_config(str(explicit)).pods[0].name == "explicit"
    monkeypatch.delenv("VECDASH_CONFIG")
    (tmp_path / "vecdash.yaml").unlink()
    assert load_config().pods[0].name == "home"


def test_world_readable_config_with_password_warns(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("pods:\n  - name: a\n    dsn: postgresql://u:pw123@h/db\n")
    path.chmod(0o644)
    load_config(str(path))
    assert "readable by group/others" in capsys.readouterr().err
    path.chmod(0o600)
    load_config(str(path))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("text,expect", [
    ("pods:\n  - name: a\n    dsn: dbname=x\n    bogus: 1\n", ":4: "),
    ("pods: [\n", ":2: YAML syntax error"),
])
def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path, text, expect):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert str(path) in lines[0] and expect.split(": ")[0] in lines[0]


def test_missing_config_file_is_user_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--config", str(tmp_path / "nope.yaml")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "config file not found" in res.stderr and "Traceback" not in res.stderr


def test_pod_repr_masks_the_password():
    """A repr lands in tracebacks and in Textual's crash screen, which shows local variables."""
    cfg = parse_config("pods:\n  - name: a\n    dsn: postgresql://u:hunter2secret@h/db\n", "c.yaml")
    assert "hunter2secret" not in repr(cfg.pods[0]) and "hunter2secret" not in repr(cfg)
    assert cfg.pods[0].dsn.endswith("hunter2secret@h/db")  # the value itself is intact for libpq
