"""Shared fixtures: real embedded PostgreSQL pods (one server per pod), never mocks.

`estate` starts three pods once per test session: primary, vectors-a, vectors-b. Tests that change
a pod's state (stop, pause) use their own throwaway pod (`spare_pod`) so the shared estate stays
healthy. Collections are created with the real `vecs` client where the test is about compatibility.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from vecdash.config import Config, PodConfig, Settings
from vecdash.embedded import LocalPod, default_root, start_pods

# A known password, so security tests can grep every output for it.
TEST_PASSWORD = "Sup3r-Secret-vecdash-pw"


@dataclass
class Estate:
    root: Path
    pods: dict[str, LocalPod]

    def dsn(self, name: str) -> str:
        return self.pods[name].dsn()

    def config(self, *, read_only: bool = False, names: list[str] | None = None, **settings) -> Config:
        chosen = names or list(self.pods)
        pods = tuple(
            PodConfig(name=n, role="primary" if n == "primary" else "secondary", dsn=self.pods[n].dsn())
            for n in chosen
        )
        base = dict(statement_timeout_ms=5000, connect_timeout_s=3, refresh_seconds=5)
        base.update(settings)
        return Config(pods=pods, settings=Settings(read_only=read_only, **base), path="<test>")

    def write_config(self, path: Path, **kwargs) -> Path:
        cfg = self.config(**kwargs)
        lines = ["pods:"]
        for p in cfg.pods:
            lines += [f"  - name: {p.name}", f"    role: {p.role}", f"    dsn: {p.dsn}"]
        s = cfg.settings
        lines += ["settings:", f"  statement_timeout_ms: {s.statement_timeout_ms}",
                  f"  connect_timeout_s: {s.connect_timeout_s}", f"  read_only: {str(s.read_only).lower()}"]
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    def sql(self, name: str, statement: str, params=None):
        with psycopg.connect(self.dsn(name), autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else None


def _new_pods(names: list[str]) -> tuple[Path, list[LocalPod]]:
    root = default_root("vdt-")
    pods = start_pods(root, names, password=TEST_PASSWORD)
    for p in pods:
        p.psql("create extension if not exists vector")
    return root, pods


@pytest.fixture(scope="session")
def estate():
    root, pods = _new_pods(["primary", "vectors-a", "vectors-b"])
    try:
        yield Estate(root=root, pods={p.name: p for p in pods})
    finally:
        for p in pods:
            p.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def spare_pod():
    """A throwaway pod a test may stop, pause or kill."""
    root, pods = _new_pods(["spare"])
    try:
        yield pods[0]
    finally:
        pods[0].resume()
        pods[0].stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def unique():
    """A short unique suffix for object names, so tests sharing the estate never collide."""
    return uuid.uuid4().hex[:8]


def vecs_client(pod: LocalPod):
    import vecs

    return vecs.create_client(pod.sqlalchemy_url())


@pytest.fixture
def make_vecs_client():
    clients = []

    def make(pod: LocalPod):
        c = vecs_client(pod)
        clients.append(c)
        return c

    yield make
    for c in clients:
        try:
            c.disconnect()
        except Exception:
            pass


@pytest.fixture(autouse=True)
def _no_user_config(monkeypatch, tmp_path):
    """Tests never pick up a developer's own config, state or PG* environment."""
    monkeypatch.delenv("VECDASH_CONFIG", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)  # state (history, last demo estate) goes under HOME
    for k in list(os.environ):
        if k.startswith("PG"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    yield


def pytest_sessionstart(session):
    tempfile.tempdir = None
