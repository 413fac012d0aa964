"""Routes: which relation each pod scans for a query (direct, through the primary's foreign tables,
on every holder), and the path a route took, in words."""

from __future__ import annotations

from dataclasses import dataclass

from vecdash.config import Config
from vecdash.db.pods import PodClient
from vecdash.errors import PodUnavailable
from vecdash.model import Collection, ForeignServer, ForeignTable, PodStatus, Topology
from vecdash.service.endpoints import pod_of_server
from vecdash.service.query.spec import QueryError, QuerySpec

@dataclass
class Target:
    """One relation scanned on one pod: what a route turns into, one per statement it runs."""

    run_on: str  # pod whose session executes the statement
    relation: tuple[str, str]  # schema, name as seen from run_on
    holder: str  # pod that holds the rows
    collection: Collection  # the holder's collection (type, dimension, indexes)
    server: ForeignServer | None = None  # set when the relation is a foreign table

    @property
    def via_fdw(self) -> bool:
        return self.server is not None

    @property
    def remote(self) -> bool:
        """The scan happens in another server's session: SET LOCAL does not reach it."""
        return self.via_fdw or self.collection.kind == "foreign"


def _holders(topology: Topology, schema: str, name: str) -> list[tuple[PodStatus, Collection]]:
    out = []
    for p in topology.pods:
        if not p.up:
            continue
        c = p.collection(schema, name)
        if c is not None and c.kind != "foreign":
            out.append((p, c))
    return out


def wired_table(topology: Topology, config: Config, holder: str, schema: str, name: str) -> tuple[ForeignTable, ForeignServer] | None:
    """The primary's foreign table that reads `schema.name` on pod `holder`."""
    primary = topology.primary
    if primary is None:
        return None
    servers = {s.name: s for s in primary.foreign_servers}
    candidates = [f for f in primary.foreign_tables if f.remote_schema == schema and f.remote_table == name]
    resolved = [(f, servers.get(f.server)) for f in candidates if f.server in servers]
    # only a server decided to reach the holder (`service.endpoints`); one of unknown reach is never taken
    exact = [(f, s) for f, s in resolved if pod_of_server(config, s).pod == holder]
    return exact[0] if exact else None


def _views_reading(primary: PodStatus, ft: ForeignTable) -> list[str]:
    return [v.qualified for v in primary.views if ft.qualified in v.reads]


def route_targets(config: Config, topology: Topology, spec: QuerySpec, home: Collection, warnings: list[str]) -> list[Target]:
    """The relations `spec.route` scans, with a warning for each pod it leaves out or cannot ship to."""
    if spec.route == "direct":
        return [Target(run_on=spec.pod, relation=(home.schema, home.name), holder=spec.pod, collection=home)]
    primary = topology.primary
    if spec.route == "primary":
        if primary is None:  # the config names none: the route asked for cannot exist (exit 2)
            raise QueryError("route primary: no primary pod in the configuration")
        if not primary.up:  # configured but down: the pod's state (exit 1)
            raise PodUnavailable(primary.name, f"route primary: {primary.error or 'down'}")
        holder, coll = spec.pod, home
        if home.kind == "foreign" and spec.pod == primary.name:
            ft = next((f for f in primary.foreign_tables if (f.schema, f.name) == (home.schema, home.name)), None)
            server = next((s for s in primary.foreign_servers if ft and s.name == ft.server), None)
            if ft is None or server is None:
                raise QueryError(f"route primary: {home.qualified} on {primary.name} is not a postgres_fdw foreign table")
            holder = pod_of_server(config, server).pod or server.name
            return [Target(run_on=primary.name, relation=(ft.schema, ft.name), holder=holder, collection=home, server=server)]
        wired = wired_table(topology, config, holder, spec.schema, spec.collection)
        if wired is None:
            raise QueryError(f"route primary: the primary has no foreign table for {spec.schema}.{spec.collection} "
                             f"on {spec.pod} (wire it first: vecdash wire {spec.pod} {spec.collection})")
        ft, server = wired
        if not server.pushdown_vector:
            warnings.append(f"server {server.name} lacks extensions 'vector': ORDER BY distance LIMIT k is not "
                            f"shipped, every matching row crosses the wire and is sorted on the primary")
        return [Target(run_on=primary.name, relation=(ft.schema, ft.name), holder=holder, collection=coll, server=server)]
    holders = _holders(topology, spec.schema, spec.collection)
    down = [p.name for p in topology.pods if not p.up]
    if down:
        warnings.append(f"pods down, not queried: {', '.join(down)}")
    if spec.route == "fanout":
        return [Target(run_on=p.name, relation=(c.schema, c.name), holder=p.name, collection=c) for p, c in holders]
    # federated
    if primary is None:
        raise QueryError("route federated: no primary pod in the configuration")
    if not primary.up:
        raise PodUnavailable(primary.name, f"route federated: {primary.error or 'down'}")
    out = []
    for p, c in holders:
        if p.name == primary.name:
            out.append(Target(run_on=primary.name, relation=(c.schema, c.name), holder=p.name, collection=c))
            continue
        wired = wired_table(topology, config, p.name, spec.schema, spec.collection)
        if wired is None:
            warnings.append(f"{p.name} holds {c.qualified} but the primary has no foreign table for it: "
                            f"left out of the federated answer (use route fanout, or wire it)")
            continue
        ft, server = wired
        if not server.pushdown_vector:
            warnings.append(f"server {server.name} lacks extensions 'vector': its branch sorts every row on the primary")
        out.append(Target(run_on=primary.name, relation=(ft.schema, ft.name), holder=p.name, collection=c, server=server))
    if not out:
        raise QueryError(f"route federated: no pod's {spec.schema}.{spec.collection} is reachable from the primary")
    serial = sorted({t.server.name for t in out if t.server and t.server.options.get("async_capable", "").lower() != "true"})
    if len(out) > 1 and serial:
        warnings.append(f"servers not async_capable ({', '.join(serial)}): their branches run one after another; "
                        f"ALTER SERVER ... OPTIONS (ADD async_capable 'true') lets the primary run them concurrently "
                        f"(and parallel_commit 'true' ends the remote transactions together)")
    return out


def rows_home(client: PodClient, t: Target) -> tuple[str, tuple[str, str], bool]:
    """Where to count / scan exactly: the pod holding the rows, or the route's own relation when that
    pod is not in the configuration (a foreign server vecdash cannot map to a pod)."""
    if any(p.name == t.holder for p in client.config.pods):
        return t.holder, (t.collection.schema, t.collection.name), t.collection.kind == "foreign"
    return t.run_on, t.relation, t.remote


def route_detail(spec: QuerySpec, targets: list[Target], topology: Topology) -> str:
    """The path the route took, in words (pod, relation, foreign server, holder)."""
    if spec.route == "direct":
        return f"{spec.pod}: {targets[0].relation[0]}.{targets[0].relation[1]}"
    if spec.route == "fanout":
        return "concurrently on " + ", ".join(f"{t.holder}" for t in targets) + "; top-k merged client side"
    parts = []
    for t in targets:
        if t.via_fdw:
            views = _views_reading(topology.primary, ForeignTable(t.relation[0], t.relation[1], "", "", "")) \
                if topology.primary else []
            seen = f" (read by view {', '.join(views)})" if views else ""
            parts.append(f"{t.run_on}: foreign table {t.relation[0]}.{t.relation[1]}{seen} -> server {t.server.name} "
                         f"-> {t.holder} {t.collection.qualified}")
        else:
            parts.append(f"{t.run_on}: {t.relation[0]}.{t.relation[1]} (local)")
    return "; ".join(parts)
