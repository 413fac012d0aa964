"""What the console's panes may call: the service layer, bound to this console's PodClient.

Widgets get this object injected and never open connections themselves. Service modules are imported
on first use, so the first frame does not wait for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from vecdash.db.pods import PodClient
from vecdash.errors import UserError
from vecdash.model import Plan, Topology


class ServiceMissing(UserError):
    def __init__(self, module: str):
        super().__init__(f"{module} is not part of this build")


def _service(name: str) -> Any:
    module = f"vecdash.service.{name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            raise ServiceMissing(module) from None
        raise


class Services:
    def __init__(self, client: PodClient):
        self.client = client

    @property
    def read_only(self) -> bool:
        return self.client.read_only

    async def snapshot(self) -> Topology:
        from vecdash.service.catalog import snapshot

        return await snapshot(self.client)

    # wiring
    async def plan_wire(self, pod: str, collection: str, **kw) -> Plan:
        return await _service("wiring").plan_wire(self.client, pod, collection, **kw)

    async def plan_unwire(self, pod: str, collection: str, **kw) -> Plan:
        return await _service("wiring").plan_unwire(self.client, pod, collection, **kw)

    def parse_expose(self, text: str) -> list[tuple[str, str]] | None:
        return _service("wiring").parse_expose(text) or None

    async def apply_plan(self, plan: Plan) -> None:
        from vecdash.errors import ReadOnlyError

        if self.read_only:  # the service refuses too, and the server after it
            raise ReadOnlyError(plan.title)
        return await _service("wiring").apply_plan(self.client, plan)

    async def verify(self, pod: str, collection: str, **kw):
        return await _service("wiring").verify(self.client, pod, collection, **kw)

    async def diagnose(self, topology: Topology | None = None):
        return await _service("doctor").diagnose(self.client, topology)

    # query
    def query_module(self):
        return _service("query")

    def filters_module(self):
        return _service("filters")

    async def run_query(self, spec, topology: Topology | None = None):
        return await _service("query").run_query(self.client, spec, topology)
