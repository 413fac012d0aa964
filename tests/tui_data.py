"""Fixed data for console snapshot tests: the demo estate's Topology captured once (masked volatile
values), rebuilt into the real model classes, and a Config whose DSNs match the captured servers and
carry the test password (so the grep of every committed snapshot for it can fail)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from vecdash.config import Config, PodConfig, Settings
from vecdash.model import Collection, ForeignServer, ForeignTable, Index, PodStatus, Topology, UserMapping, View

from .conftest import TEST_PASSWORD

FIXTURE = Path(__file__).parent / "fixtures" / "demo_topology.json"
PORTS = {"primary": 54001, "vectors-a": 54002, "vectors-b": 54003, "vectors-c": 54004}


def _dt(v):
    return datetime.fromisoformat(v) if v else None


def load_topology() -> Topology:
    doc = json.loads(FIXTURE.read_text())
    pods = []
    for p in doc["pods"]:
        colls = []
        for c in p["collections"]:
            c = dict(c, indexes=[Index(**i) for i in c["indexes"]], last_analyze=_dt(c["last_analyze"]),
                     last_vacuum=_dt(c["last_vacuum"]))
            colls.append(Collection(**c))
        pods.append(PodStatus(**dict(
            p,
            collections=colls,
            foreign_servers=[ForeignServer(**s) for s in p["foreign_servers"]],
            user_mappings=[UserMapping(**m) for m in p["user_mappings"]],
            foreign_tables=[ForeignTable(**f) for f in p["foreign_tables"]],
            views=[View(**v) for v in p["views"]],
        )))
    return Topology(pods=pods, taken_at=_dt(doc["taken_at"]), elapsed_ms=doc["elapsed_ms"])


def fixed_config(*, read_only: bool = False, with_down: bool = False) -> Config:
    names = ["primary", "vectors-a", "vectors-b"] + (["vectors-c"] if with_down else [])
    pods = tuple(PodConfig(name=n, role="primary" if n == "primary" else "secondary",
                           dsn=f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:{PORTS[n]}/postgres") for n in names)
    return Config(pods=pods, settings=Settings(read_only=read_only, refresh_seconds=3600), path="fixed.yaml")


def topology_with_down_pod() -> Topology:
    topo = load_topology()
    down = PodStatus(name="vectors-c", role="secondary", up=False,
                     error="connection refused (is the server running on 127.0.0.1:54004?)")
    return replace(topo, pods=[*topo.pods, down])
