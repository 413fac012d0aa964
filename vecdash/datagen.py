"""Deterministic synthetic collections: clustered unit vectors with realistic metadata.

Clustered, not uniform: uniform random vectors in 384-d are all nearly equidistant, which makes
HNSW recall and latency unrepresentative of real embeddings.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

TOPICS = ["postgres", "pgvector", "fdw", "indexing", "replication", "security", "python", "search",
          "embeddings", "scaling", "backups", "monitoring"]
LANGS = ["en", "en", "en", "de", "fr", "es", "ja"]
TAGS = ["guide", "reference", "blog", "faq", "tutorial", "release", "benchmark", "howto"]


def clustered_vectors(n: int, dim: int, *, clusters: int = 48, spread: float = 0.35, seed: int = 0,
                      dtype=np.float32) -> np.ndarray:
    """n unit vectors around `clusters` random centres (row i belongs to cluster i % clusters)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), dtype=dtype)
    step = 8192
    for start in range(0, n, step):
        stop = min(n, start + step)
        idx = np.arange(start, stop) % clusters
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32) * (spread / np.sqrt(dim))
        block = centres[idx] + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out


def metadata_for(i: int, kind: str = "docs", seed: int = 0) -> dict:
    """Stable per-row metadata: url, year, tags, lang (+ a few kind-specific fields)."""
    rng = np.random.default_rng((seed, i))
    topic = TOPICS[i % len(TOPICS)]
    meta = {
        "url": f"/{kind}/{topic}/{i}",
        "year": int(2008 + (i * 7 + int(rng.integers(0, 3))) % 17),
        "tags": sorted({TAGS[int(t)] for t in rng.integers(0, len(TAGS), size=int(rng.integers(1, 4)))}),
        "lang": LANGS[int(rng.integers(0, len(LANGS)))],
        "topic": topic,
    }
    if kind == "posts":
        meta["likes"] = int(rng.integers(0, 500))
        meta["published"] = bool(i % 5 != 0)
    if kind == "images":
        meta["width"] = int(rng.choice([640, 800, 1024, 1920]))
        meta["format"] = ["png", "jpg", "webp"][i % 3]
    return meta


def records(n: int, dim: int, *, kind: str = "docs", seed: int = 0, start: int = 0) -> Iterator[tuple[str, np.ndarray, dict]]:
    vecs = clustered_vectors(n, dim, seed=seed)
    for i in range(n):
        yield f"{kind[:-1] if kind.endswith('s') else kind}-{start + i}", vecs[i], metadata_for(start + i, kind, seed)
