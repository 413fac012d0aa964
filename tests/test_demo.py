"""The demo estate, at a small scale: three pods, vecs collections (docs sharded over two pods), HNSW
indexes, vecdash's wirings and one legacy wiring; `vecdash demo` tells how to reach it from the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from vecdash import demo
from vecdash.config import load_config
from vecdash.embedded import default_root

from .test_catalog import take


@pytest.fixture(scope="module")
def small_demo():
    root = default_root("vdemo-")
    config_path, pods = demo.bring_up(root, scale=0.02)
    try:
        yield root, config_path, pods
    finally:
        demo.stop(pods)
        shutil.rmtree(root, ignore_errors=True)


def test_demo_estate_shape(small_demo):
    root, config_path, pods = small_demo
    config = load_config(str(config_path))
    assert [p.name for p in config.pods] == ["primary", "vectors-a", "vectors-b"]
    assert oct(config_path.stat().st_mode & 0o777) == "0o600"
    # the YAML holds no password: it lives in a 0600 passfile beside it
    for p in pods:
        assert p.password not in config_path.read_text()

    topo = take(config)
    assert topo.all_up
    a, b, primary = topo.pod("vectors-a"), topo.pod("vectors-b"), topo.primary
    docs = a.collection("vecs", "docs")
    assert docs.dimension == 384 and docs.indexes[0].method == "hnsw" and docs.indexes[0].measure == "cosine"
    assert {c.name: c.dimension for c in b.collections} == {"docs": 384, "images": 512, "posts": 384}
    assert b.collection("vecs", "images").indexes[0].measure == "l2"
    servers = {s.name: s.pushdown_vector for s in primary.foreign_servers}
    assert servers == {"vectors_a": True, "vectors_b": True, "legacy_b": False}
    assert {v.qualified: v.reads for v in primary.views} == {
        "public.docs": ["vectors_a.docs"], "public.posts": ["legacy_b.posts"]}


def test_demo_second_start_reuses_data_and_cli_status(small_demo):
    root, config_path, pods = small_demo
    demo.stop(pods)
    again, pods2 = demo.bring_up(root)  # no re-seed: the marker and data are kept
    assert again == config_path
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--json", "--config", str(config_path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    rows = {(p["name"], c["name"]): c["rows_estimate"] for p in doc["pods"] for c in p["collections"]
            if p["role"] == "secondary"}
    assert rows == {("vectors-a", "docs"): 200, ("vectors-b", "docs"): 200, ("vectors-b", "posts"): 400,
                    ("vectors-b", "images"): 200}


def test_demo_doctor_flags_only_the_legacy_wiring(small_demo):
    """docs is wired by vecdash's own service (clean); posts by hand without extensions 'vector'."""
    import asyncio

    from vecdash.db.pods import PodClient
    from vecdash.service.doctor import diagnose

    root, config_path, pods = small_demo

    async def go():
        client = PodClient(load_config(str(config_path)))
        try:
            return await diagnose(client)
        finally:
            await client.close()

    findings = asyncio.run(go())
    kinds = sorted((f.kind, f.subject) for f in findings)
    assert ("no_vector_pushdown", "server legacy_b") in kinds
    assert not [k for k in kinds if "vectors_" in k[1] or "docs" in k[1]], kinds
    for f in findings:  # a line is "subject: message": the message does not say the subject again
        assert f.subject.split()[-1] not in f.message, (f.subject, f.message)


def test_fanout_and_federated_merge_both_shards_of_docs(small_demo):
    """docs lives on vectors-a and vectors-b: the merged answers hold rows of both pods."""
    root, config_path, pods = small_demo
    for route in ("fanout", "federated"):
        res = subprocess.run([sys.executable, "-m", "vecdash", "--config", str(config_path), "query", "vectors-a",
                              "docs", "--like", "doc-5", "--limit", "40", "--route", route, "--json"],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        rows = json.loads(res.stdout)["rows"]
        assert rows[0]["id"] == "doc-5" and {r["pod"] for r in rows} == {"vectors-a", "vectors-b"}, (route, rows)


def test_demo_says_how_to_reach_it_and_status_finds_it_from_anywhere(small_demo, tmp_path):
    """`vecdash demo --no-tui --dir D` prints how to point the CLI at the estate and records it; a later
    `vecdash status` in another directory, with no config of its own, finds that estate and names it."""
    import os

    root, config_path, pods = small_demo
    env = {k: v for k, v in os.environ.items() if k != "VECDASH_CONFIG"}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    res = subprocess.run([sys.executable, "-m", "vecdash", "demo", "--no-tui", "--dir", str(root)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(config_path.resolve())
    assert f"vecdash --config {config_path.resolve()} status" in res.stderr, res.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = subprocess.run([sys.executable, "-m", "vecdash", "status", "--json"], capture_output=True, text=True,
                         timeout=60, env=env, cwd=elsewhere)
    assert res.returncode == 0, res.stderr
    assert f"the last `vecdash demo` estate's: {config_path.resolve()}" in res.stderr
    assert {p["name"] for p in json.loads(res.stdout)["pods"]} == {"primary", "vectors-a", "vectors-b"}
