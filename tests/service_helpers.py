"""Running a service call from a synchronous test: a PodClient of its own, always closed."""

from __future__ import annotations

import asyncio

from vecdash.db.pods import PodClient


def run(coro_fn, config):
    """`await coro_fn(client)` on a fresh PodClient for `config`, in its own event loop."""
    async def go():
        client = PodClient(config)
        try:
            return await coro_fn(client)
        finally:
            await client.close()

    return asyncio.run(go())
