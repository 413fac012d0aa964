"""What the Stats pane warns about and which wiring it says exposes a collection (pure functions on
model objects; the catalog that fills them is tested against real pods in test_catalog.py)."""

from __future__ import annotations

from vecdash.model import Collection, Index, PodStatus
from vecdash.service.stats import collection_warnings, exposures, pod_endpoints

from .tui_data import fixed_config, load_topology


def coll(**kw) -> Collection:
    base = dict(pod="vectors-a", schema="vecs", name="c", column="vec", type="vector", dimension=384, rows_estimate=50_000)
    base.update(kw)
    return Collection(**base)


def hnsw(measure="cosine", valid=True) -> Index:
    return Index(name=f"ix_{measure}", method="hnsw", column="vec", opclass=f"vector_{measure}_ops", measure=measure,
                 params={"m": 16, "ef_construction": 64}, valid=valid)


def test_healthy_collection_has_no_warning():
    assert collection_warnings(coll(indexes=[hnsw()]), {"cosine"}) == []


def test_no_index():
    assert collection_warnings(coll()) == ["no vector index: every search scans the whole table"]


def test_measure_queried_differs_from_index():
    [w] = collection_warnings(coll(indexes=[hnsw("cosine")]), {"l2"})
    assert w.startswith("queried with l2 but indexes serve cosine")


def test_too_many_dimensions_for_vector_index():
    ws = collection_warnings(coll(dimension=3072))
    assert any("3072 dimensions" in w and "2000" in w for w in ws)
    assert not any("dimensions" in w for w in collection_warnings(coll(type="halfvec", dimension=3072)))


def test_ivfflat_on_too_few_rows_and_invalid_index():
    ivf = Index(name="ix_ivf", method="ivfflat", column="vec", opclass="vector_l2_ops", measure="l2", params={"lists": 100})
    ws = collection_warnings(coll(rows_estimate=300, indexes=[ivf, hnsw(valid=False)]))
    assert any("100 lists on ~300 rows" in w for w in ws)
    assert any("ix_cosine is invalid" in w for w in ws)
    assert not any("lists" in w for w in collection_warnings(coll(rows_estimate=200_000, indexes=[ivf])))


def test_never_analyzed():
    assert any("never analyzed" in w for w in collection_warnings(coll(rows_estimate=None, indexes=[hnsw()])))


def test_index_larger_than_shared_buffers():
    big = Index(name="ix_big", method="hnsw", column="vec", opclass="vector_cosine_ops", measure="cosine",
                bytes=200 * 2**20)
    pod = PodStatus(name="vectors-a", role="secondary", up=True, shared_buffers_bytes=128 * 2**20)
    [w] = collection_warnings(coll(indexes=[big]), {"cosine"}, pod)
    assert w.startswith("index ix_big of vecs.c on vectors-a is 200 MB, more than its shared_buffers (128 MB): ")
    pod.shared_buffers_bytes = 256 * 2**20
    assert collection_warnings(coll(indexes=[big]), {"cosine"}, pod) == []
    assert collection_warnings(coll(indexes=[big]), {"cosine"}) == []  # memory unknown: no guess


def test_exposure_follows_server_host_port_to_the_pod():
    topo = load_topology()
    endpoints = pod_endpoints(fixed_config())
    docs = topo.pod("vectors-a").collection("vecs", "docs")
    [e] = exposures(docs, topo, endpoints)
    assert (e.foreign_table, e.server, e.views) == ("vectors_a.docs", "vectors_a", ("public.docs",))
    images = topo.pod("vectors-b").collection("vecs", "images")
    assert exposures(images, topo, endpoints) == []
