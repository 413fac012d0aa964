"""The doctor: walk every wiring on the primary, report each problem with a plan that fixes it.

Problems found: a server without `extensions 'vector'` (k-NN cannot ship), an unreachable server (with
a fix when vecdash made it for a configured pod that moved), a missing user mapping, a foreign table whose
remote table is gone (and the views reading it), a foreign table whose vector dimension drifted from
the pod's, a foreign table never analyzed (filtered k-NN sorts on the primary), collections of at least
indexes.MIN_INDEX_ROWS rows without a vector index, fast-path functions whose server, remote table or
dimension went away (fixed by dropping, or dropping and recreating, them) (fixed by the plan `index build` makes), and vector
indexes larger than their pod's shared_buffers (no fix plan: that takes a restart). Each probe is
bounded like every other call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from vecdash.config import PodConfig
from vecdash.db.connect import pod_secrets
from vecdash.db.pods import PodClient
from vecdash.errors import PodUnavailable
from vecdash.model import ForeignServer, ForeignTable, Plan, Topology
from vecdash.secrets import mask_text
from vecdash.service import indexes, view_rebuild, wiring
from vecdash.service.cache_fit import cache_warning
from vecdash.service.catalog import snapshot
from vecdash.service.endpoints import Reach
from vecdash.service.plans import PlanFailed, apply_plan, step
from vecdash.service.wiring import PrimaryState, RemoteCollection, Target, fast_checks


@dataclass
class Finding:
    kind: str  # no_vector_pushdown | unreachable_server | missing_user_mapping | remote_table_gone |
    #            view_reads_dropped_table | dimension_drift | column_drift | not_analyzed | no_vector_index |
    #            primary_down | no_primary | fast_path_broken
    severity: str  # error | warning
    subject: str
    message: str
    fix: Plan | None = None
    pod: str | None = None  # the pod it is about (a wiring's: the pod its server reaches; None: unknown)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "subject": self.subject,
                "message": mask_text(self.message), "fix": self.fix.to_json() if self.fix else None, "pod": self.pod}

    @property
    def what(self) -> str:
        """The subject without its pod (`vecs.docs`, `server x`): what a list grouped by pod shows."""
        prefix = f"{self.pod}:"
        return self.subject[len(prefix):] if self.pod and self.subject.startswith(prefix) else self.subject


@dataclass
class FindingGroup:
    """Findings of one kind: how many pods have it and what on each (pods in config order)."""

    kind: str
    severity: str
    findings: list[Finding]

    @property
    def pods(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.pod or "", []).append(f)
        return out


def group_by_kind(findings: list[Finding]) -> list[FindingGroup]:
    """Errors first, then the kinds on most pods: at fleet scale the same problem on 200 pods is one line."""
    groups: dict[str, FindingGroup] = {}
    for f in findings:
        groups.setdefault(f.kind, FindingGroup(f.kind, f.severity, [])).findings.append(f)
        if f.severity == "error":
            groups[f.kind].severity = "error"
    return sorted(groups.values(), key=lambda g: (g.severity != "error", -len(g.pods), g.kind))


def group_by_pod(findings: list[Finding]) -> dict[str, list[Finding]]:
    """Each pod's findings ("" for those no pod is known for), in the order found."""
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.pod or "", []).append(f)
    return out


# which findings are about a whole server (subject "server NAME") and which about one foreign table
# (subject "schema.name"): after a fix, these say what to verify
SERVER_KINDS = ("no_vector_pushdown", "missing_user_mapping", "unreachable_server")
TABLE_KINDS = ("remote_table_gone", "column_drift", "dimension_drift", "read_failed", "not_analyzed")


def foreign_tables_of(finding: Finding, topology: Topology) -> list[ForeignTable]:
    """The foreign tables on the primary a finding is about (all of a server's), as `topology` has them."""
    primary = topology.primary
    if primary is None:
        return []
    if finding.kind in SERVER_KINDS:
        return [ft for ft in primary.foreign_tables if f"server {ft.server}" == finding.subject]
    if finding.kind in TABLE_KINDS:
        return [ft for ft in primary.foreign_tables if ft.qualified == finding.subject]
    return []


async def diagnose(client: PodClient, topology: Topology | None = None) -> list[Finding]:
    """Every problem of every wiring on the primary (plus unindexed collections), each with a fix plan."""
    topology = topology or await snapshot(client)
    findings: list[Finding] = []
    primary_cfg = client.config.primary
    if primary_cfg is None:
        return [Finding("no_primary", "warning", "config", "no primary pod: nothing is wired")] + \
            _index_findings(client, topology)
    pstat = topology.pod(primary_cfg.name)
    if pstat is None or not pstat.up:
        reason = pstat.error if pstat else "not read"
        return [Finding("primary_down", "error", primary_cfg.name, f"unreachable (the primary): {reason}",
                        pod=primary_cfg.name)] + \
            _index_findings(client, topology)
    state = await wiring.read_primary(client, primary_cfg)
    targets = await _targets(client, topology)
    secrets = [t.password for t in targets.values() if t.password]
    for p in client.config.pods:
        secrets += pod_secrets(p)
    reaches = await wiring.reaches_among(client, primary_cfg, state, list(client.config.secondaries), targets)
    for server in state.fdw_servers():
        found = await _server_findings(client, primary_cfg, state, server, targets, reaches[server.name], secrets)
        for f in found:  # about the pod the server reaches (a moved one's: the pod vecdash made it for)
            f.pod = reaches[server.name].pod or _marked_for(server, client)
        findings += found
    findings += await _fast_path_findings(client, primary_cfg, state, targets, reaches)
    findings += _index_findings(client, topology)
    return findings


async def _fast_path_findings(client: PodClient, primary: PodConfig, state: PrimaryState, targets: dict[str, Target],
                              reaches: dict[str, Reach]) -> list[Finding]:
    """Fast-path functions whose server, remote table or dimension went away: drop (and recreate) them."""
    wanted: dict[str, list[tuple[str, str]]] = {}
    for fp in state.fast_paths:
        for m in fp.members:
            if m.pod in targets:
                wanted.setdefault(m.pod, []).append(m.remote)
    remotes: dict[tuple[str, str, str], RemoteCollection] = {}
    for pod, names in wanted.items():
        try:
            _, found = await wiring.read_remotes(client, client.pod(pod), names)
        except (PodUnavailable, psycopg.Error):
            continue
        remotes.update({(pod, s, n): r for (s, n), r in found.items()})
    out = []
    for fp in state.fast_paths:
        why = fast_checks.broken(fp, state, reaches, remotes)
        if why is not None:
            out.append(Finding("fast_path_broken", "error", fp.qualified, f"fast path broken: {why}",
                               fast_checks.fix_plan(fp, why, primary.name, state, remotes), pod=fp.members[0].pod))
    return out


async def _targets(client: PodClient, topology: Topology) -> dict[str, Target]:
    """How each reachable secondary pod is addressed (for matching servers to pods and for credentials)."""
    pods = [p for p in client.config.secondaries if (topology.pod(p.name) and topology.pod(p.name).up)]

    async def one(p: PodConfig) -> Target | None:
        try:
            return await wiring.read_target(client, p)
        except (PodUnavailable, psycopg.Error):
            return None

    found = await asyncio.gather(*(one(p) for p in pods))
    return {p.name: t for p, t in zip(pods, found) if t is not None}


def _marked_for(server: ForeignServer, client: PodClient) -> str | None:
    """The configured pod vecdash created this server for (its comment says so), else None."""
    comment = str(server.comment or "")
    return next((p.name for p in client.config.secondaries if comment == f"{wiring.SERVER_MARK} {p.name}"), None)


async def _server_findings(client: PodClient, primary: PodConfig, state: PrimaryState, server: ForeignServer,
                           targets: dict[str, Target], reach: Reach, secrets: list[str]) -> list[Finding]:
    """Findings on one server. Fixes that use a pod's credentials or catalog need the pod it reaches
    decided (`reach`); a server vecdash made for a pod that moved is offered the pod's new address."""
    out: list[Finding] = []
    name = server.name
    tables = state.tables_on(name)
    pod, exact = reach.pod, reach.pod is not None
    target = targets.get(pod) if pod else None
    vector_change = wiring.vector_extension_change(server)
    if vector_change:
        fix = Plan(title=f"let server {name} ship pgvector operators", pod=primary.name,
                   steps=[step("add extensions 'vector' to the server", wiring.alter_server_sql(name, [vector_change]))])
        out.append(Finding("no_vector_pushdown", "error", f"server {name}",
                           f"lacks extensions 'vector': k-NN through its {len(tables)} foreign table(s) "
                           f"fetches every row and sorts on the primary", fix))
    if not tables:
        return out
    if not state.has_mapping(name):
        fix = None
        if target is not None:
            fix = Plan(title=f"user mapping on {name}", pod=primary.name,
                       steps=[wiring.mapping_create_step(name, target, f"user mapping on {name} (user {target.user})")])
        out.append(Finding("missing_user_mapping", "error", f"server {name}",
                           f"no user mapping for role {state.current_user} (or PUBLIC): "
                           f"every read through it fails" + ("" if fix else " (" + (
                               "vecdash cannot tell which pod it reaches" if reach.unknown else
                               "no configured pod reaches it") + ": create one by hand)"), fix))
        return out
    remotes: dict[tuple[str, str], RemoteCollection] = {}
    if target is not None:  # every table of this server in one round trip to the pod, not one per table
        try:
            _, remotes = await wiring.read_remotes(client, client.pod(pod), [ft.remote for ft in tables])
        except (PodUnavailable, psycopg.Error):
            remotes = {}
    unreachable_reported = False
    for ft in tables:
        ftq = ft.qualified
        rschema, rname = ft.remote
        error = await _probe(client, primary, ft, secrets)
        if error is not None:
            exc, text = error
            if isinstance(exc, pg_errors.UndefinedTable) or "does not exist" in text and "relation" in text:
                fix = Plan(title=f"remove the dangling wiring {ftq}", pod=primary.name,
                           steps=wiring.drop_table_steps(state, ft))
                out.append(Finding("remote_table_gone", "error", ftq,
                                   f"reads {rschema}.{rname} through {name}, which no longer exists on the pod", fix))
                for v in state.readers(ft.schema, ft.name):
                    out.append(Finding("view_reads_dropped_table", "error", f"view {v.qualified}",
                                       f"reads {ftq}, whose remote table is gone", fix))
                continue
            if isinstance(exc, PodUnavailable) or _is_connect_error(exc, text):
                if not unreachable_reported:
                    unreachable_reported = True
                    moved = None if exact else _marked_for(server, client)
                    out.append(_unreachable(primary, server, pod or moved, exact, target or targets.get(moved or ""), text))
                continue
            if isinstance(exc, pg_errors.UndefinedColumn):
                out.append(Finding("column_drift", "error", ftq, f"no longer matches {rschema}.{rname}: {text}; "
                                   f"unwire and wire it again", None))
                continue
            if "dimensions" in text:
                if target is None:  # no configured pod to compare catalogs with: report what the read said
                    out.append(Finding("dimension_drift", "error", ftq, f"drifted from the pod: {text}", None))
                    continue
                # else a vector of another size came back: the catalog comparison below explains and fixes it
            else:
                out.append(Finding("read_failed", "error", ftq, f"a read through it fails: {text}", None))
                continue
        remote = remotes.get((rschema, rname))
        if remote is not None and remote.exists:
            drift = wiring.drift(ft, remote)
            if drift:
                out.append(await _drift_finding(client, primary, state, ft, remote, drift))
        if not ft.analyzed:
            fix = Plan(title=f"statistics for {ftq}", pod=primary.name,
                       steps=[step(f"analyze {ftq} (sampled on the pod)", wiring.analyze_sql(ft.schema, ft.name),
                                       kind="analyze")])
            out.append(Finding("not_analyzed", "warning", ftq,
                               "never analyzed: k-NN with a filter sorts every matching row on the primary",
                               fix))
    return out


def _is_connect_error(exc: BaseException, text: str) -> bool:
    state = getattr(exc, "sqlstate", None) or ""
    return state.startswith("08") or "could not connect" in text or "connection to server" in text


async def _probe(client: PodClient, primary: PodConfig, ft: ForeignTable, secrets: list[str]):
    """Read one row through the foreign table: None when it works, else (exception, masked first line)."""
    vcol = ft.main_vector()

    async def work(conn: psycopg.AsyncConnection) -> None:
        col = sql.Identifier(vcol.name) if vcol else sql.SQL("1")
        await conn.execute(sql.SQL("select {} from {} limit 1").format(col, sql.Identifier(ft.schema, ft.name)))

    try:
        await client.run(primary, work)
        return None
    except PodUnavailable as exc:
        return exc, mask_text(exc.reason, secrets)
    except psycopg.Error as exc:
        lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
        text = " ".join(lines[:2]) if lines else type(exc).__name__
        return exc, mask_text(text, secrets)


def _unreachable(primary: PodConfig, server: ForeignServer, pod: str | None, exact: bool, target: Target | None,
                 text: str) -> Finding:
    name = server.name
    fix = None
    if pod and not exact and target is not None:
        opts = server.options
        changes = [("set" if k in opts else "add", k, v) for k, v in target.server_options() if opts.get(k) != v]
        if changes:
            q = wiring.alter_server_sql(name, changes)
            fix = Plan(title=f"point server {name} at pod {pod}", pod=primary.name,
                       steps=[step(f"pod {pod} is now at {target.describe()}", q)])
    hint = f" (pod {pod} is now at {target.describe()})" if fix else ""
    return Finding("unreachable_server", "error", f"server {name}",
                   f"unreachable from the primary{hint}: {text}", fix)


async def _drift_finding(client: PodClient, primary: PodConfig, state: PrimaryState, ft: ForeignTable,
                         remote: RemoteCollection, drift: str) -> Finding:
    """Fix: drop the views reading it, retype the drifted columns, recreate the views exactly as they were
    (view_rebuild), checked in the same transaction; no fix when a rebuild would lose something."""
    ftq = ft.qualified
    message = f"drifted from the pod: {drift}"
    readers = state.readers(ft.schema, ft.name)
    props = await view_rebuild.read_views(client, primary, [(v.schema, v.name) for v in readers])
    views = [props.get((v.schema, v.name)) for v in readers]
    lost = [f"{v.qualified} (gone since it was read)" for v, p in zip(readers, views) if p is None]
    for p in views:
        if p is not None:
            lost += p.blockers
            lost += [f"privilege {x} on {p.kind} {p.schema}.{p.name}" for x in view_rebuild.unknown_privileges(p)]
    if lost:
        return Finding("dimension_drift", "error", ftq, f"{message}; no automatic fix: recreating the views that "
                       f"read it would lose {'; '.join(lost)} (fix it by hand)", None)
    vs = state.extensions.get("vector") or remote.vector_schema or "public"
    steps = [step(f"drop {p.kind} {p.schema}.{p.name} (recreated below)",
                   sql.SQL("drop {} {}").format(sql.SQL(p.kind), sql.Identifier(p.schema, p.name))) for p in views]
    remote_cols = {c.name: c for c in remote.columns}
    fixable = True
    for col in ft.columns:
        rc = remote_cols.get(col.remote_name)
        if rc is None:
            fixable = False
            continue
        if rc.from_vector and (rc.typname != col.typname or rc.typmod != col.typmod):
            typ = wiring.local_type(rc, vs)
            steps.append(step(f"{ftq}.{col.name} becomes {rc.type.split('.')[-1]} like on the pod",
                               sql.SQL("alter foreign table {} alter column {} type {}").format(
                                   sql.Identifier(ft.schema, ft.name), sql.Identifier(col.name), typ)))
    for p in reversed(views):
        steps += view_rebuild.recreate_steps(p)
    if views:
        steps.append(view_rebuild.check_step(views))
    fix = Plan(title=f"bring {ftq} in line with the pod", pod=primary.name, steps=steps) if fixable else None
    return Finding("dimension_drift", "error", ftq, message, fix)


def _index_findings(client: PodClient, topology: Topology) -> list[Finding]:
    out = []
    for p in topology.pods:
        for c in p.collections:
            if c.kind == "foreign":
                continue
            if c.measures_indexed():
                w = cache_warning(p, c, named=False)
                if w:  # no fix plan: shared_buffers takes a restart, the DBA's call
                    out.append(Finding("index_exceeds_shared_buffers", "warning", f"{p.name}:{c.qualified}", w,
                                       pod=p.name))
                continue
            if not indexes.index_advised(c.rows_estimate):
                continue  # an exact scan of so few rows is as fast as an index scan, and exact
            rows = f"~{c.rows_estimate:,} rows" if c.rows_estimate is not None else "rows unknown"
            out.append(Finding("no_vector_index", "warning", f"{p.name}:{c.qualified}",
                               f"no vector index ({rows}): every k-NN query scans it",
                               indexes.plan_advised_index(c), pod=p.name))
    return out


async def apply_fixes(client: PodClient, findings: list[Finding]) -> list[tuple[Finding, str | None]]:
    """Apply every distinct fix plan once, each in its own transaction; (finding, error or None) per plan."""
    done: list[tuple[Finding, str | None]] = []
    seen: set[int] = set()
    for f in findings:
        if f.fix is None or id(f.fix) in seen:
            continue
        seen.add(id(f.fix))
        try:
            await apply_plan(client, f.fix)
            done.append((f, None))
        except PlanFailed as exc:
            done.append((f, str(exc)))
    return done
