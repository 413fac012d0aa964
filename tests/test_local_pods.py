"""Local pods are safe on a shared machine (issue #12, section 7).

Another local OS user (`nobody`, run through a real setuid subprocess) cannot get into a pod over the
socket or over TCP without the password, while the owner's paths still work; `demo --stop` signals
only the postmaster of the estate's own data directories; `demo --reset` and `demo` refuse a directory
vecdash did not make; files are never written through a planted link.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest

from vecdash import demo
from vecdash.embedded import LocalPod, SUPERUSER, _bin

NOBODY = pwd.getpwnam("nobody")


def psql_as_nobody(*conn: str) -> subprocess.CompletedProcess:
    """psql run as the OS user `nobody`, with no password available to it."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C"}
    return subprocess.run([str(_bin("psql")), "-X", "-w", "-At", *conn, "-c", "select current_user"],
                          capture_output=True, text=True, timeout=30, env=env, check=False,
                          user=NOBODY.pw_uid, group=NOBODY.pw_gid, extra_groups=[], cwd="/")


def vecdash_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vecdash", *args], capture_output=True, text=True, timeout=120)


def test_another_local_user_cannot_get_into_a_pod(spare_pod):
    pod = spare_pod
    sock = ["-h", str(pod.socket_dir), "-p", str(pod.port), "-U", SUPERUSER, "-d", "postgres"]
    tcp = ["-h", "127.0.0.1", "-p", str(pod.port), "-U", SUPERUSER, "-d", "postgres"]
    # layer 1: the socket directory is the server's, 0700
    mode = pod.socket_dir.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o700
    res = psql_as_nobody(*sock)
    assert res.returncode != 0 and "Permission denied" in res.stderr, res
    res = psql_as_nobody(*tcp)
    assert res.returncode != 0 and "no password supplied" in res.stderr, res
    for user in (SUPERUSER, "nobody"):
        res = psql_as_nobody("-h", "127.0.0.1", "-p", str(pod.port), "-U", user, "-d", "postgres")
        assert res.returncode != 0, res
    # layer 2: with the directory opened up, peer authentication still refuses another OS user
    os.chmod(pod.socket_dir, 0o755)
    try:
        for user in (SUPERUSER, "nobody"):
            res = psql_as_nobody("-h", str(pod.socket_dir), "-p", str(pod.port), "-U", user, "-d", "postgres")
            assert res.returncode != 0 and "authentication failed" in res.stderr, res
    finally:
        os.chmod(pod.socket_dir, 0o700)
    # the owner's paths still work: the server's OS user over the socket, root over the socket, TCP + password
    assert pod.psql("select current_user").strip() == SUPERUSER
    with psycopg.connect(host=str(pod.socket_dir), port=pod.port, user=SUPERUSER, dbname="postgres") as conn:
        assert conn.execute("select current_user").fetchone()[0] == SUPERUSER
    with psycopg.connect(pod.dsn()) as conn:
        assert conn.execute("select current_user").fetchone()[0] == SUPERUSER


def test_a_pod_made_with_trust_gets_the_owner_only_rules_at_its_next_start(spare_pod):
    """Pods made before the rule (local trust) are fixed by init, which every start goes through."""
    pod = spare_pod
    (pod.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    pod.psql("select pg_reload_conf()")
    os.chmod(pod.socket_dir, 0o755)
    assert psql_as_nobody("-h", "127.0.0.1", "-p", str(pod.port), "-U", SUPERUSER, "-d", "postgres").returncode == 0
    again = LocalPod(name=pod.name, root=pod.root)
    again.init()
    res = psql_as_nobody("-h", "127.0.0.1", "-p", str(pod.port), "-U", SUPERUSER, "-d", "postgres")
    assert res.returncode != 0, res
    assert stat.S_IMODE(pod.socket_dir.stat().st_mode) == 0o700


def _fake_estate(root: Path, pids: dict[str, int]) -> None:
    root.mkdir(mode=0o700)
    (root / demo.ESTATE_MARKER).write_text("vecdash demo estate\n")
    for name, pid in pids.items():
        data = root / name / "data"
        data.mkdir(parents=True)
        (data / "postmaster.pid").write_text(f"{pid}\n{data}\n")


def test_demo_stop_signals_only_the_postmaster_of_its_own_data_directory(tmp_path, spare_pod):
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        other_postmaster = spare_pod.pid()
        assert other_postmaster is not None
        root = tmp_path / "estate"
        _fake_estate(root, {"primary": sleeper.pid, "vectors-a": other_postmaster, "vectors-b": os.getpid()})
        res = vecdash_cli("demo", "--stop", "--dir", str(root))
        assert res.returncode == 0, res
        assert sleeper.poll() is None, "an unrelated process named by postmaster.pid was signalled"
        assert psutil.Process(sleeper.pid).status() != psutil.STATUS_STOPPED
        assert spare_pod.is_running() and spare_pod.psql("select 1").strip() == "1", "another pod's postmaster was stopped"
    finally:
        sleeper.kill()
        sleeper.wait()
    # and the real postmaster of a data directory is still found and stopped
    spare_pod.stop()
    assert not spare_pod.is_running()
    assert not psutil.pid_exists(other_postmaster) or psutil.Process(other_postmaster).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("layout", ["stray file", "no marker", "stray in a pod", "pod is a link"])
def test_demo_reset_refuses_a_directory_that_is_not_an_estate(tmp_path, layout):
    root = tmp_path / "d"
    root.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious\n")
    if layout != "no marker":
        (root / demo.ESTATE_MARKER).write_text("vecdash demo estate\n")
    (root / "pgpass").write_text("x\n")
    (root / "primary").mkdir()
    if layout in ("stray file", "no marker"):
        (root / "thesis.tex").write_text("precious\n")
    elif layout == "stray in a pod":
        (root / "primary" / "notes.txt").write_text("precious\n")
    else:
        (root / "vectors-a").symlink_to(victim)
    before = sorted(str(p) for p in root.rglob("*"))
    for args in (["demo", "--reset", "--no-tui", "--dir", str(root)], ["demo", "--no-tui", "--dir", str(root)]):
        res = vecdash_cli(*args)
        assert res.returncode == 2, res
        assert "not a vecdash demo estate" in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert sorted(str(p) for p in root.rglob("*")) == before
    assert (victim / "keep.txt").read_text() == "precious\n"


def test_demo_reset_deletes_an_estate_vecdash_made(tmp_path):
    root = tmp_path / "d"
    _fake_estate(root, {})
    for name in ("pgpass", "vecdash.yaml", "seeded.json"):
        (root / name).write_text("x\n")
    (root / "primary" / "data").mkdir(parents=True)
    (root / "primary" / "server.log").write_text("log\n")
    demo.reset_estate(root)
    assert not root.exists()


def test_demo_refuses_an_estate_directory_owned_by_someone_else(tmp_path):
    root = tmp_path / "d"
    _fake_estate(root, {})
    os.chown(root, NOBODY.pw_uid, NOBODY.pw_gid)
    res = vecdash_cli("demo", "--no-tui", "--dir", str(root))
    assert res.returncode == 2 and "owned by another user" in res.stderr, res


def test_files_are_never_written_through_a_planted_link(tmp_path):
    root = tmp_path / "d"
    _fake_estate(root, {})
    targets = {}
    for name in ("pgpass", "vecdash.yaml"):
        target = tmp_path / f"target-{name}"
        target.write_text("original\n")
        (root / name).symlink_to(target)
        targets[name] = target
    pods = [LocalPod(name=n, root=root / n, port=5000 + i, password=f"pw-{n}-secret")
            for i, n in enumerate(demo.POD_NAMES)]
    demo.write_config(root, pods)
    for name, target in targets.items():
        assert target.read_text() == "original\n", f"{name} was written through the link"
        path = root / name
        assert not path.is_symlink() and stat.S_IMODE(path.lstat().st_mode) == 0o600
    assert "pw-primary-secret" in (root / "pgpass").read_text()
    # the pod's own files: pod.json replaced, never followed; a linked server log is refused
    pod = pods[0]
    pod.root.mkdir(exist_ok=True)
    state_target = tmp_path / "target-pod.json"
    state_target.write_text("original\n")
    pod.state_file.symlink_to(state_target)
    pod._write_state()
    assert state_target.read_text() == "original\n" and not pod.state_file.is_symlink()
    log_target = tmp_path / "target-log"
    log_target.write_text("original\n")
    pod.log.symlink_to(log_target)
    with pytest.raises(RuntimeError, match="cannot open"):
        pod._open_log()
    assert log_target.read_text() == "original\n" and log_target.stat().st_uid == 0
