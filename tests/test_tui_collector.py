"""The console's collector policy (vecdash/tui/collector.py): no full collection while a refresh runs,
the deferred one once it has ended, none at all for an app that did not ask (tests run many apps)."""

from __future__ import annotations

import asyncio
import gc
import time

from vecdash.tui.collector import AFTER_PAINT_S, Collector


def _cycles(n: int) -> list:
    out = []
    for _ in range(n):
        a: list = []
        a.append(a)  # a cycle: only the collector frees it
        out.append(a)
    return out


def test_no_full_collection_during_a_refresh_then_one_after_the_paint():
    full: list[int] = []

    def seen(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    threshold = gc.get_threshold()
    gc.callbacks.append(seen)
    collector = Collector()
    later = []
    try:
        gc.set_threshold(100, 2, 2)  # a full collection every few hundred survivors, unless deferred
        collector.enable()
        collector.refresh_started()
        full.clear()  # one that the new thresholds started before the refresh
        kept = [_cycles(1000) for _ in range(20)]
        assert full == [] and gc.get_threshold()[2] > 2
        collector.refresh_ended(later.append)
        assert full == [] and len(later) == 1  # deferred to when the refresh is on screen

        async def painted() -> float:
            t = time.perf_counter()
            later[0]()  # the paint: the loop turns AFTER_PAINT_S before the collection
            assert full == []
            while not collector.deferred:
                await asyncio.sleep(0.002)
            return time.perf_counter() - t

        assert asyncio.run(painted()) >= AFTER_PAINT_S
        assert len(full) == 1 and collector.deferred == 1 and gc.get_threshold() == (100, 2, 2)
        del kept
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)


def test_a_collector_not_enabled_changes_nothing():
    threshold = gc.get_threshold()
    collector = Collector()
    later = []
    collector.refresh_started()
    assert gc.get_threshold() == threshold
    collector.refresh_ended(later.append)
    assert later == []
