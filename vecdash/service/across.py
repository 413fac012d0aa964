"""One operation on every pod holding a collection: ANALYZE / VACUUM, an index build, wiring into the primary.

Which pods: those whose catalog, in one snapshot, holds `schema.name` as a table (a foreign table is a
wiring, not the collection), narrowed by a glob on pod names; a pod that was down when the snapshot was
read may hold it too, so it is reported as not run. Each pod's work is exactly the one-pod command's
(maintenance.maintain, indexes.build_index, wiring.plan_wire + plans.apply_plan): the same sessions,
the same transactions. `plan_across` decides per pod without I/O (the console's confirmation lists it);
`run_across` runs the pods N at a time in pod order, reporting each step to one callback. After a
failure no further pod starts (pods already running finish) unless `keep_going`. Cancelled (Ctrl-C),
it cancels the running pods' statements and still says what ran where (`on_interrupt`) before the
cancellation goes on.

Wiring runs one pod at a time whatever N is: every wiring plan runs on the primary, and two concurrent
`create extension / schema if not exists` on one database can fail with a unique violation. Wiring
across pods makes no view: the foreign table `<pod>.<name>` (its schema named after the pod, as
`vecdash wire` names it) is already distinct per pod, while plan_wire's default view `public.<name>`
would be taken by the first pod and refused (WiringError) for every other pod holding that name.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from vecdash.config import PodConfig
from vecdash.db.connect import pod_secrets
from vecdash.db.pods import PodClient
from vecdash.errors import PodError, ReadOnlyError, UserError
from vecdash.inputs import check_integer
from vecdash.lines import error_line, one_line
from vecdash.model import Collection, Topology, to_jsonable
from vecdash.secrets import mask_text
from vecdash.service import index_plans
from vecdash.service.collections import CollectionFacts

# operation -> what a line says it does (the maintenance ones are maintenance.ACTIONS' keys)
OPERATIONS = {"analyze": "ANALYZE", "vacuum": "VACUUM", "vacuum analyze": "VACUUM ANALYZE",
              "index": "index build", "wire": "wiring into the primary"}
# what each pod's outcome can be; any but `done` and `skipped` makes the whole run fail (exit 1);
# `interrupted`: running when the run was cancelled, its statement cancelled with it
STATES = ("done", "failed", "skipped", "not run", "interrupted")
MAX_PARALLEL = 1_000  # pods at a time: a bound on the tasks one run starts, far above any pool's sense
INDEX_DEFAULTS = {"method": "hnsw", "measure": "cosine", "m": index_plans.DEFAULT_M,
                  "ef_construction": index_plans.DEFAULT_EF_CONSTRUCTION, "lists": None, "concurrently": True}
# the build options that decide the statement (the others, maintenance_work_mem and parallel_workers, the session)
PLANNED = ("method", "measure", "m", "ef_construction", "lists", "concurrently")


@dataclass
class PodTarget:
    """What the run will do on one pod: `run`, `skip` (nothing to do), `refuse` (planning failed:
    reported as failed at its turn) or `unreached` (down when read: reported as not run)."""

    pod: str
    action: str
    detail: str
    preview: str = ""  # the statement, when it is known before the run


@dataclass
class AcrossPlan:
    operation: str
    schema: str
    collection: str
    parallel: int
    targets: list[PodTarget]
    options: dict[str, Any] = field(default_factory=dict)  # the index build's options
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"{OPERATIONS[self.operation]} of {self.schema}.{self.collection} on {len(self.runs)} pod(s)"

    @property
    def runs(self) -> list[PodTarget]:
        return [t for t in self.targets if t.action == "run"]


@dataclass
class AcrossEvent:
    """One step of the run on one pod: kind is `started`, `step`, `done`, `failed`, `skipped` or `not run`."""

    pod: str
    kind: str
    text: str  # one line, masked
    fraction: float | None = None  # an index build's progress
    at: float = 0.0  # seconds since the run began


@dataclass
class PodOutcome:
    pod: str
    state: str  # one of STATES
    detail: str  # one line: what was done, why skipped or not run, the masked error
    started_s: float | None = None
    ended_s: float | None = None
    result: Any = None  # the one-pod command's result, as JSON

    @property
    def seconds(self) -> float | None:
        return None if self.started_s is None or self.ended_s is None else self.ended_s - self.started_s


@dataclass
class AcrossSummary:
    operation: str
    schema: str
    collection: str
    parallel: int
    keep_going: bool
    outcomes: list[PodOutcome]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.state in ("done", "skipped") for o in self.outcomes)

    def pods(self, state: str) -> list[str]:
        return [o.pod for o in self.outcomes if o.state == state]

    def to_json(self) -> dict[str, Any]:
        return {"operation": self.operation, "schema": self.schema, "collection": self.collection,
                "parallel": self.parallel, "keep_going": self.keep_going, "ok": self.ok,
                "counts": {s: len(self.pods(s)) for s in STATES}, "notes": self.notes,
                "pods": [{"pod": o.pod, "state": o.state, "detail": o.detail, "seconds": o.seconds,
                          "result": to_jsonable(o.result)} for o in self.outcomes]}


def holders(topology: Topology, schema: str, name: str, pods: str | None = None) -> tuple[list[Collection], list[str]]:
    """(the collection on each pod holding it, pods that were down when read), pods matching the glob `pods`."""
    held, down = [], []
    for p in topology.pods:
        if pods and not fnmatch.fnmatchcase(p.name, pods):
            continue
        if not p.up:
            down.append(p.name)
            continue
        c = p.collection(schema, name)
        if c is not None and c.kind != "foreign":
            held.append(c)
    return held, down


def _index_target(c: Collection, options: dict[str, Any]) -> PodTarget:
    """The build from the snapshot alone (as the doctor's advised index is planned): the statement, or
    why there is nothing to do (an identical valid index) or why it cannot be planned on this pod."""
    f = CollectionFacts(schema=c.schema, name=c.name, exists=True, type=c.type, dimension=c.dimension,
                        rows_estimate=-1 if c.rows_estimate is None else c.rows_estimate)
    plan, _, params = index_plans.plan_build_index(f, c.pod, column=c.column, **{k: options[k] for k in PLANNED})
    same = index_plans.identical_index(c.indexes, options["method"],
                                       index_plans.opclass_for(c.type, options["measure"]), params)
    if same is not None:
        return PodTarget(c.pod, "skip", f"identical valid index {same.name} exists")
    return PodTarget(c.pod, "run", plan.steps[0].purpose, plan.steps[0].preview)


def plan_across(topology: Topology, client: PodClient, collection: str, operation: str, *, schema: str = "vecs",
                pods: str | None = None, parallel: int = 1, index_options: dict[str, Any] | None = None) -> AcrossPlan:
    """Which pods the operation runs on and what it does on each, from `topology` (no I/O).

    UserError when the input is wrong for every pod (unknown operation, no pod matches or holds the
    collection, index options no pod accepts): nothing has run."""
    if operation not in OPERATIONS:
        raise UserError(f"unknown operation {operation!r} (choose from {', '.join(OPERATIONS)})")
    check_integer("parallel", parallel, 1, MAX_PARALLEL)
    if pods and not any(fnmatch.fnmatchcase(p.name, pods) for p in client.config.pods):
        raise UserError(f"no pod matches {pods!r} (pods: {', '.join(p.name for p in client.config.pods)})")
    held, down = holders(topology, schema, collection, pods)
    where = f" among pods matching {pods!r}" if pods else ""
    if not held and not down:
        raise UserError(f"no pod holds {schema}.{collection}{where}")
    options = {**INDEX_DEFAULTS, **(index_options or {})} if operation == "index" else {}
    notes = []
    if operation == "wire":
        if client.config.primary is None:
            raise UserError("no primary pod in the config: mark the pod that reads the others with `role: primary`")
        if parallel > 1:
            notes.append("wiring runs one pod at a time: every plan runs on the primary")
        parallel = 1
    targets: list[PodTarget] = []
    refusals: list[UserError] = []
    for c in held:
        if operation == "index":
            try:
                targets.append(_index_target(c, options))
            except UserError as exc:
                refusals.append(exc)
                targets.append(PodTarget(c.pod, "refuse", one_line(str(exc))))
        elif operation == "wire" and c.pod == client.config.primary.name:
            targets.append(PodTarget(c.pod, "skip", "the primary: its collections need no wiring"))
        elif operation == "wire":
            targets.append(PodTarget(c.pod, "run", "plan made at its turn (after the wirings before it)"))
        else:
            targets.append(PodTarget(c.pod, "run", f"{operation} (verbose) {c.schema}.{c.name}"))
    if refusals and len(refusals) == len(held):
        raise refusals[0]  # the options are wrong everywhere: the user's input, nothing ran
    targets += [PodTarget(p, "unreached", "down when the estate was read: it may hold the collection") for p in down]
    order = {p.name: i for i, p in enumerate(client.config.pods)}
    targets.sort(key=lambda t: order.get(t.pod, len(order)))
    return AcrossPlan(operation=operation, schema=schema, collection=collection, parallel=parallel, targets=targets,
                      options=options, notes=notes)


def _failure(exc: BaseException, cfg: PodConfig) -> str:
    """One masked line for a pod's failure: the error contract's message, a server's first line, or the type."""
    text = str(exc) if isinstance(exc, (UserError, PodError)) else error_line(exc)
    if not isinstance(exc, (UserError, PodError, psycopg.Error)):
        text = f"{type(exc).__name__}: {text}"
    return one_line(mask_text(text, pod_secrets(cfg)))


async def run_across(client: PodClient, collection: str, operation: str, *, schema: str = "vecs",
                     pods: str | None = None, parallel: int = 1, keep_going: bool = False,
                     index_options: dict[str, Any] | None = None, topology: Topology | None = None,
                     plan: AcrossPlan | None = None, stop: asyncio.Event | None = None,
                     on_event: Callable[[AcrossEvent], None] | None = None,
                     on_interrupt: Callable[[AcrossSummary], None] | None = None) -> AcrossSummary:
    """Run `operation` on every pod holding `schema.collection` (see the module's docstring).

    `topology`: the snapshot to find the pods in (default: one read now); `plan`: one plan_across already
    made (the console confirmed it); `stop`: once set, no further pod starts (the console's stop key).
    `on_interrupt`: when the run is cancelled once pods were planned, called with the summary so far
    (the pods running then `interrupted`, those not started `not run`) before CancelledError goes on.
    Read-only mode refuses before any I/O (ReadOnlyError)."""
    if client.read_only:
        raise ReadOnlyError(f"{OPERATIONS.get(operation, operation)} across pods")
    if plan is None:
        if topology is None:
            from vecdash.service.catalog import snapshot

            topology = await snapshot(client)
        plan = plan_across(topology, client, collection, operation, schema=schema, pods=pods, parallel=parallel,
                           index_options=index_options)
    t0 = time.monotonic()
    outcomes = {t.pod: PodOutcome(t.pod, "not run", "") for t in plan.targets}
    stopped_by: list[str] = []
    gate = asyncio.Semaphore(plan.parallel)

    def emit(pod: str, kind: str, text: str, fraction: float | None = None) -> None:
        if on_event is not None:
            on_event(AcrossEvent(pod, kind, one_line(text), fraction, time.monotonic() - t0))

    def finish(o: PodOutcome, state: str, detail: str) -> None:
        o.state, o.detail, o.ended_s = state, one_line(detail), time.monotonic() - t0
        emit(o.pod, state, o.detail)

    async def one(t: PodTarget) -> None:
        o = outcomes[t.pod]
        if t.action == "skip":
            return finish(o, "skipped", t.detail)
        if t.action == "unreached":
            return finish(o, "not run", t.detail)
        async with gate:
            if stopped_by:
                return finish(o, "not run", f"stopped after the failure on pod {stopped_by[0]}")
            if stop is not None and stop.is_set():
                return finish(o, "not run", "stopped before its turn")
            o.started_s = time.monotonic() - t0
            emit(t.pod, "started", t.detail)
            try:
                if t.action == "refuse":
                    raise UserError(t.detail)
                state, detail, o.result = await _RUNNERS[plan.operation](client, plan, t, lambda *a: emit(t.pod, *a))
            except Exception as exc:  # noqa: BLE001 - a pod's failure is reported, the others go on or stop
                if not keep_going:
                    stopped_by.append(t.pod)
                return finish(o, "failed", _failure(exc, client.pod(t.pod)))
            finish(o, state, detail)

    notes = list(plan.notes)

    def summary() -> AcrossSummary:
        return AcrossSummary(operation=plan.operation, schema=plan.schema, collection=plan.collection,
                             parallel=plan.parallel, keep_going=keep_going,
                             outcomes=[outcomes[t.pod] for t in plan.targets], notes=notes)

    tasks = [asyncio.ensure_future(one(t)) for t in plan.targets]
    try:
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        # gather gives up at the first pod cancelled (one waiting for its turn): the running pods' own
        # cancellation (the statement cancelled on its server) must end before the caller goes on, or
        # the loop's shutdown interrupts it and the statement is left running on the server
        try:
            for task in tasks:
                if not task.done() and not task.cancelling():  # a second cancel would interrupt the first's
                    task.cancel()
            await asyncio.wait(tasks)
        finally:  # also when a second interrupt ends the wait: what ran where is said either way
            for o in outcomes.values():
                if o.started_s is not None and o.ended_s is None:
                    o.state, o.detail = "interrupted", "interrupted while running: its statement was cancelled"
                    o.ended_s = time.monotonic() - t0
                elif o.ended_s is None:
                    o.detail = "interrupted before its turn"
            notes.append("interrupted: running pods were cancelled, pods not started were not run")
            if on_interrupt is not None:
                on_interrupt(summary())
        raise
    if stopped_by:
        notes.append(f"stopped after the failure on pod {stopped_by[0]}: keep going runs the rest")
    elif stop is not None and stop.is_set() and any(o.state == "not run" for o in outcomes.values()):
        notes.append("stopped: pods not started by then were not run")
    return summary()


# --- one pod: each runner returns (state, one line, the result as JSON) ---------------------------------


async def _maintain(client: PodClient, plan: AcrossPlan, t: PodTarget, step: Callable) -> tuple[str, str, Any]:
    from vecdash.service.maintenance import maintain

    step("step", f"{plan.operation} (verbose) {plan.schema}.{plan.collection}")
    r = await maintain(client, t.pod, plan.collection, action=plan.operation, schema=plan.schema)
    dead = f"; dead tuples {r.before.get('dead_tuples')} -> {r.after.get('dead_tuples')}" if "vacuum" in plan.operation else ""
    return "done", f"{plan.operation} in {r.seconds * 1000:.0f} ms; ~{r.after.get('rows_estimate')} rows{dead}", r


async def _index(client: PodClient, plan: AcrossPlan, t: PodTarget, step: Callable) -> tuple[str, str, Any]:
    from vecdash.service.indexes import DuplicateIndex, build_index
    from vecdash.units import human_bytes

    last = [""]

    def progress(p) -> None:
        label = p.label
        if label.split(" (")[0] != last[0]:  # a phase, not every poll: 200 pods' lines stay readable
            last[0] = label.split(" (")[0]
            step("step", label, p.fraction)

    try:
        r = await build_index(client, t.pod, plan.collection, schema=plan.schema, on_progress=progress, **plan.options)
    except DuplicateIndex as exc:  # made since the snapshot was read
        return "skipped", str(exc), None
    if r.status != "built":
        raise PodError(f"pod {t.pod}: the build of {r.index} was cancelled from elsewhere; no invalid index left behind")
    return "done", f"built {r.index} in {r.seconds:.1f} s ({human_bytes(r.index_bytes)})", r


async def _wire(client: PodClient, plan: AcrossPlan, t: PodTarget, step: Callable) -> tuple[str, str, Any]:
    from vecdash.service import wiring

    p = await wiring.plan_wire(client, t.pod, plan.collection, schema=plan.schema, create_view=False)
    if not p.pending:
        return "skipped", "already wired", p.to_json()
    step("step", f"{len(p.pending)} step(s) on the primary in one transaction")
    await wiring.apply_plan(client, p)
    v = await wiring.verify(client, t.pod, plan.collection, schema=plan.schema)
    where = f"{v.foreign_table} via server {v.server}" if v.foreign_table else "wired"
    if not v.ok:
        raise PodError(f"pod {t.pod}: wired as {where}, but k-NN is not pushed down: {v.reason}")
    return "done", f"wired as {where}; k-NN pushed down", {"plan": p.to_json(), "verify": v.to_json()}


_RUNNERS = {"analyze": _maintain, "vacuum": _maintain, "vacuum analyze": _maintain, "index": _index, "wire": _wire}
