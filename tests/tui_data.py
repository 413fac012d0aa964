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


def topology_with_activity() -> Topology:
    """The demo topology with what its pods are doing at the snapshot: vector queries (one slow, one
    blocked), an idle-in-transaction session holding a lock, vecdash's own session, an index build, a
    VACUUM and an ANALYZE, counters that raise flags, statements on one pod, notes and alerts; sessions
    whose user, application and query are the hostile strings (markup, %, {}, quotes, newlines)."""
    from vecdash.model_activity import (Alert, CollectionActivity, PodActivity, Progress, Rates, Session,
                                        Statement)

    from .hostile_data import HOSTILE

    topo = load_topology()
    vec = "'[" + ",".join(f"0.0{i % 10}" for i in range(384)) + "]'::vector"
    index_a = "ix_vector_cosine_ops_hnsw_m16_efc64_demo1"
    acts = {
        "primary": PodActivity("primary", up=True, sessions=[
            Session(3001, "app", "search-api", "10.0.0.7:51234", "active", "Client:ClientRead", 0.8, 0.8,
                    "select id, vec <-> $1 as d from public.docs order by vec <-> $1 limit 5", True),
            Session(3002, "postgres", "vecdash 0.1", "local", "active", None, 0.0, 0.0,
                    "select ... from pg_stat_activity", False, own=True),
            Session(3003, "app", "search-api", "10.0.0.7:51240", "idle", None, None, 310.0, "commit"),
            Session(3004, backend_type="client backend"),  # another role's session, seen without pg_read_all_stats
        ], notes=["pg_read_all_stats missing: other roles' query text is hidden"],
            statements=None, rates=Rates(5.0, 3.2, 4.0, 120.0)),
        "vectors-a": PodActivity("vectors-a", up=True, sessions=[
            Session(4101, "app", "search-api", "10.0.0.9:40001", "active", None, 0.31, 0.31,
                    f"select id from vecs.docs order by vec <=> {vec} limit 10", True),
            Session(4102, "app", "search-api", "10.0.0.9:40002", "active", "IO:DataFileRead", 42.0, 42.0,
                    "select id from vecs.docs order by 1 - (vec <=> $1) desc limit 20", True),
            Session(4104, "etl", "loader", "10.0.0.12:5001", "idle in transaction", None, 780.0, 779.0,
                    "update vecs.docs set metadata = metadata || '{\"seen\": true}' where id = 'doc-1'"),
            Session(4105, "app", "search-api", "10.0.0.9:40003", "active", "Lock:transactionid", 12.5, 12.5,
                    "delete from vecs.docs where id = 'doc-1'", blocked_by=[4104]),
            Session(4106, "etl", "loader", "10.0.0.12:5002", "idle", None, None, 95.0, "select 1"),
        ], progress=[Progress(4190, "VACUUM", "scanning heap", "vecs.docs", 62.0)],
            collections=[CollectionActivity("vecs", "docs", seq_scan=340, idx_scan=12, vector_index=index_a,
                                            vector_index_scans=10, seq_tup_read=6_800_000, n_live_tup=20_000,
                                            n_dead_tup=9_000, index_hit_ratio=0.99)],
            statements=[
                Statement("select id from vecs.docs order by vec <=> $1 limit $2", 18_200, 41_000.0, 2.25, 182_000, True),
                Statement("update vecs.docs set metadata = $1 where id = $2", 900, 120.0, 0.13, 900),
                Statement("select id from vecs.docs order by 1 - (vec <=> $1) desc limit $2", 64, 2_900.0, 45.3, 1280, True),
            ], rates=Rates(5.0, 12.4, 30.0, 5400.0, seq_scans={"vecs.docs": 12})),
        "vectors-b": PodActivity("vectors-b", up=True, sessions=[
            Session(5201, "postgres", "psql", "local", "active", None, 95.0, 95.0,
                    "create index concurrently on vecs.images using hnsw (vec vector_l2_ops)"),
            *(Session(5300 + i, h, h, "local", "active", None, 1.5 + i, 1.5 + i,
                      f"select '{h}' as label, id from vecs.posts order by vec <#> $1 limit 3", True)
              for i, h in enumerate(HOSTILE[:6] + HOSTILE[-3:])),
        ], progress=[Progress(5201, "CREATE INDEX CONCURRENTLY", "building index: loading tuples in tree", "vecs.images",
                              37.5, "vecs_images_vec_idx"),
                     Progress(5290, "ANALYZE", "acquiring sample rows", "vecs.posts", None)],
            collections=[CollectionActivity("vecs", "images", 4, 900, "ix_vector_l2_ops_hnsw_m16_efc64_demo3", 880,
                                            n_live_tup=5_000, n_dead_tup=20, index_hit_ratio=0.62),
                         CollectionActivity("vecs", "posts", 1, 80, "ix_vector_cosine_ops_hnsw_m16_efc64_demo2", 80,
                                            n_live_tup=1_000, n_dead_tup=0, index_hit_ratio=1.0)],
            statements=None, notes=["pg_stat_statements is not installed: no top statements (vecdash never installs it)"],
            rates=Rates(5.0, 1.8, 2.0, 40.0)),
    }
    for pod in topo.pods:
        pod.activity = acts.get(pod.name)
    topo.alerts = [
        Alert("vectors-a", "seq_scan_indexed", f"vecs.docs on vectors-a (20,000 rows) has vector index {index_a} "
              "but 12 sequential scan(s) since the last refresh: a query that does not use the index (vecdash why)",
              "vecs.docs"),
        Alert("vectors-a", "long_transaction", "pid 4104 on vectors-a (etl) has had a transaction open for 13 min "
              "(state idle in transaction)", "4104"),
        Alert("vectors-b", "index_over_shared_buffers", "index [bold]ix of vecs.images on vectors-b (210 MB) is larger "
              "than shared_buffers (128 MB)", "vecs.images"),
    ]
    return topo


FLEET_TAGS = ("eu-west", "us-east", "ap-south", "staging")


def fleet_config(n: int = 200) -> Config:
    """`n` secondaries pod-000.. plus the primary, tagged round-robin by FLEET_TAGS; every 7th pod untagged,
    every 10th with a second tag (the tree groups by the first). DSNs carry the test password."""
    pods = [PodConfig(name="primary", role="primary",
                      dsn=f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:54001/postgres")]
    for i in range(n):
        tags = () if i % 7 == 6 else (FLEET_TAGS[i % len(FLEET_TAGS)],) + (("gpu",) if i % 10 == 0 else ())
        pods.append(PodConfig(name=f"pod-{i:03d}", dsn=f"postgresql://postgres:{TEST_PASSWORD}@127.0.0.1:54001/fleet_{i:03d}",
                              tags=tags))
    return Config(pods=tuple(pods), settings=Settings(refresh_seconds=3600), path="fleet.yaml")


def fleet_topology(n: int = 200, per: int = 5) -> Topology:
    """The fleet of fleet_config: `per` vecs collections on each pod, sizes and indexes varied by pod so
    the collections table has something to sort: some never indexed, one index invalid, one larger than
    its pod's shared_buffers, every 13th pod down."""
    names = ("docs", "images", "posts", "faq", "chunks", "events", "notes")[:per]
    mb = 1024 * 1024
    pods = [PodStatus(name="primary", role="primary", up=True, latency_ms=0.9, database="postgres",
                      server_version="17.2", pgvector_version="0.8.0", shared_buffers_bytes=128 * mb)]
    for i in range(n):
        name = f"pod-{i:03d}"
        if i % 13 == 12:
            pods.append(PodStatus(name=name, role="secondary", up=False, error="connection refused"))
            continue
        colls = []
        for j, coll in enumerate(names):
            rows = (i * 37 + j * 1009) % 50_000 + 100
            dim = (384, 768, 1536, 512, 128, 256, 64)[j]
            indexes = []
            if (i + j) % 4:
                method = "ivfflat" if j == 3 else "hnsw"
                measure = ("cosine", "l2", "ip")[(i + j) % 3]
                size = rows * dim * 5 * (40 if (i, j) == (4, 1) else 1)
                indexes.append(Index(name=f"ix_{coll}_{method}", method=method, column="vec",
                                     opclass=f"vector_{measure}_ops", measure=measure, bytes=size,
                                     params={"lists": 100} if method == "ivfflat" else {"m": 16},
                                     valid=(i, j) != (2, 0)))
            colls.append(Collection(pod=name, schema="vecs", name=coll, column="vec", type="vector", dimension=dim,
                                    rows_estimate=rows, table_bytes=rows * dim * 4 + 8192,
                                    index_bytes=sum(x.bytes for x in indexes), has_metadata=True, indexes=indexes))
        pods.append(PodStatus(name=name, role="secondary", up=True, latency_ms=0.5 + (i * 7 % 40) / 10,
                              database=f"fleet_{i:03d}", server_version="17.2", pgvector_version="0.8.0",
                              shared_buffers_bytes=128 * mb, collections=colls))
    return Topology(pods=pods, taken_at=datetime(2025, 1, 1, 12, 0, 0), elapsed_ms=850.0)
