"""Wiring editor: pick a secondary pod and collection, a view name, exposed metadata fields and whether
to add the fast path (the view's `_knn` functions over dblink); see the
plan (masked SQL, satisfied steps marked), apply it behind a confirmation, verify pushdown. Doctor
findings are listed with their fix plans; unwire goes the same way.

Every service call runs in a worker of this pane (group "wiring"); the pane only renders results. What
it shows is true now or gone: a plan lives only while the form names its target, a verification says
what it verified, and an applied change is handed to the app (`EstateChanged`), which re-reads the
estate and then asks this pane to re-diagnose and verify what the change touched (`after_change`).
"""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Label, LoadingIndicator, OptionList, Select, Static
from textual.widgets.option_list import Option

from vecdash.errors import UserError
from vecdash.model import Plan, Topology
from vecdash.secrets import mask_text
from vecdash.service.console_api import ConsoleApi
from vecdash.tui.busy import Busy
from vecdash.tui.messages import ConfirmPlan, EstateChanged
from vecdash.tui.text import NL, block, line, styled, theme_style
from vecdash.tui.workers import failure_text, worker
from vecdash.tui.widgets.choices import refill
from vecdash.tui.widgets.topology import Ref

describe_error = failure_text  # the console's one wording of a failure (vecdash.tui.workers)

Target = tuple[str, str, str]  # (secondary pod, schema, collection)


def target_text(target: Target) -> str:
    pod, schema, name = target
    return f"{pod}: {schema}.{name}"


class WiringPane(VerticalScroll):
    COMPONENT_CLASSES = {"wiring--ok", "wiring--warn", "wiring--error", "wiring--dim"}

    def __init__(self, api: ConsoleApi, **kwargs) -> None:
        super().__init__(**kwargs)
        self.api = api
        self.topology: Topology | None = None
        self.plan_shown: Plan | None = None
        self._plan_for: tuple[str, object] | None = None  # ("wire" | "unwire", Target) or ("fix", Finding)
        self.findings: list = []
        self.findings_at: datetime | None = None  # when the listed findings were diagnosed
        self.last_verification = None
        self._verified_target: Target | None = None  # the form target a shown verification is of
        self._remembered: tuple[str, tuple[str, str]] | None = None  # the form's last whole choice
        self._read_only = False

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("pod", classes="form-label")
            yield Select([], prompt="secondary pod", id="wire-pod", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("collection", classes="form-label")
            yield Select([], prompt="collection", id="wire-collection", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("view", classes="form-label")
            yield Input(placeholder="public.<collection> (default)", id="wire-view", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("expose", classes="form-label")
            yield Input(placeholder="url:text, year:int", id="wire-expose", compact=True)
        with Horizontal(classes="form-row"):
            yield Label("fast path", classes="form-label")
            yield Checkbox("k-NN functions over dblink (<view>_knn)", value=False, id="wire-fast-path", compact=True)
        with Horizontal(id="wire-buttons", classes="button-row"):
            yield Button("Plan", id="wire-plan", compact=True)
            yield Button("Apply", id="wire-apply", classes="dangerous", compact=True)
            yield Button("Verify", id="wire-verify", compact=True)
            yield Button("Unwire", id="wire-unwire", classes="dangerous", compact=True)
            yield Button("Doctor", id="wire-doctor", compact=True)
        yield LoadingIndicator(id="wire-spinner", classes="spinner")
        yield Static("Choose a pod and a collection, then Plan (w).", id="wire-status")
        yield Static(id="wire-plan-view")
        yield Static(id="wire-verify-view")
        yield Label("Doctor findings (f: fix plan)", id="wire-findings-title")
        yield OptionList(id="wire-findings")

    def on_mount(self) -> None:
        self.query_one("#wire-spinner").display = False
        self.query_one("#wire-plan-view").display = False
        self.query_one("#wire-verify-view").display = False
        self.query_one("#wire-findings-title").display = False
        self.query_one("#wire-findings").display = False

    # --- state from the app ----------------------------------------------------------------------

    def set_read_only(self, read_only: bool) -> None:
        self._read_only = read_only
        for b in self.query(".dangerous"):
            b.display = not read_only

    def show_topology(self, topo: Topology) -> None:
        self.topology = topo
        pods = [p.name for p in topo.pods if not p.is_primary]
        refill(self.query_one("#wire-pod", Select), pods, line)
        self._fill_collections()
        self._drop_stale()

    def _fill_collections(self) -> None:
        pod_name = self.query_one("#wire-pod", Select).value
        select = self.query_one("#wire-collection", Select)
        current = select.value
        if select.is_blank() and self._remembered and self._remembered[0] == pod_name:
            current = self._remembered[1]  # its pod is back: the form names what it named before
        pod = self.topology.pod(pod_name) if self.topology and isinstance(pod_name, str) else None
        values = [(c.schema, c.name) for c in (pod.collections if pod else [])]
        refill(select, values, lambda v: line(f"{v[0]}.{v[1]}"))
        if current in values and select.value != current:
            select.value = current

    @on(Select.Changed, "#wire-pod")
    def _pod_changed(self, event: Select.Changed) -> None:
        self._fill_collections()
        self._drop_stale()

    @on(Checkbox.Changed, "#wire-fast-path")
    def _fast_path_changed(self, event: Checkbox.Changed) -> None:
        # a shown wiring plan was made with the other choice: `a` must not apply what the form no longer says
        if self._plan_for is not None and self._plan_for[0] == "wire":
            self._clear_plan()
            self._status("the fast-path choice changed: plan again (w)", "dim")

    @on(Select.Changed, "#wire-collection")
    def _collection_changed(self, event: Select.Changed) -> None:
        now = self.form_target()
        if now is not None:
            self._remembered = (now[0], (now[1], now[2]))
        self._drop_stale()

    def form_target(self) -> Target | None:
        try:
            return self.target()
        except UserError:
            return None

    def _drop_stale(self) -> None:
        """A plan or verification of a target the form no longer names goes: `a` must never apply a plan
        for something the form does not show (a pod that went down blanks the collection)."""
        now = self.form_target()
        kind, about = self._plan_for or ("", None)
        if self.plan_shown is not None and kind in ("wire", "unwire") and about != now:
            self._clear_plan()
            self._status(f"plan dropped: the form no longer names {target_text(about)}"
                         + (f" but {target_text(now)} (w plans it)" if now else " (its collection is gone: pod down?)"),
                         "warn")
        if self._verified_target is not None and self._verified_target != now:
            self._clear_verification()

    def follow_pod(self, pod: str) -> None:
        """The form's pod becomes `pod` (a pod chosen in the tree); its collection stays only if that pod has it."""
        select = self.query_one("#wire-pod", Select)
        if pod != select.value and any(v == pod for _, v in select._options):
            select.value = pod
            self._fill_collections()
            self._drop_stale()

    def suggest(self, ref: Ref, force: bool = False) -> None:
        """Preselect a collection chosen in the tree (only if the user has not picked one, unless forced)."""
        if ref.kind != "collection" or self.topology is None:
            return
        pod = self.topology.pod(ref.pod)
        if pod is None or pod.is_primary:
            return
        if not force and not self.query_one("#wire-collection", Select).is_blank():
            return
        if not any(v == ref.pod for _, v in self.query_one("#wire-pod", Select)._options):
            return
        self.query_one("#wire-pod", Select).value = ref.pod
        self._fill_collections()
        coll = self.query_one("#wire-collection", Select)
        if any(v == (ref.schema, ref.name) for _, v in coll._options):
            coll.value = (ref.schema, ref.name)

    def target(self) -> Target:
        pod = self.query_one("#wire-pod", Select).value
        coll = self.query_one("#wire-collection", Select).value
        if not isinstance(pod, str):
            raise UserError("wiring: choose a secondary pod and a collection first")
        if not isinstance(coll, tuple):
            raise UserError(f"wiring: choose a collection of pod {pod} first")
        return pod, coll[0], coll[1]

    # --- rendering -------------------------------------------------------------------------------

    def show_failure(self, what: str, message: str) -> None:
        self._status(message, "error")

    def _status(self, text: str, kind: str | None = None) -> None:
        style = theme_style(self, f"wiring--{kind}") if kind else None
        self.query_one("#wire-status", Static).update(line(text, style))

    def _clear_plan(self) -> None:
        self.plan_shown = None
        self._plan_for = None
        self.query_one("#wire-plan-view").display = False

    def _clear_verification(self) -> None:
        self.last_verification = None
        self._verified_target = None
        self.query_one("#wire-verify-view").display = False

    def _clear_findings(self) -> None:
        self.findings = []
        self.findings_at = None
        self.query_one("#wire-findings", OptionList).clear_options()
        self.query_one("#wire-findings").display = False
        self.query_one("#wire-findings-title").display = False

    def _findings_outdated(self) -> None:
        if self.findings_shown:
            self.query_one("#wire-findings-title", Label).update(
                line("Doctor findings from before the change: re-checking…", self._tone("warn")))

    def _tone(self, kind: str):
        return theme_style(self, f"wiring--{kind}")

    @property
    def findings_shown(self) -> bool:
        return bool(self.query_one("#wire-findings").display)

    def _show_plan(self, plan: Plan, for_: tuple[str, object] | None = None) -> None:
        self.plan_shown = plan
        self._plan_for = for_
        from rich.syntax import Syntax  # pygments: loaded on the first plan, not at start-up

        view = self.query_one("#wire-plan-view", Static)
        theme = "ansi_dark" if self.app.current_theme.dark else "ansi_light"
        # preview_sql() is built from PlanStep.preview (masked); mask once more in case a note leaks.
        view.update(Syntax(mask_text(plan.preview_sql()), "sql", theme=theme, word_wrap=True,
                           background_color="default"))
        view.display = True
        if plan.is_noop:
            self._status(f"{plan.title}: nothing to do, every step already holds", "ok")
        else:
            done = len(plan.steps) - len(plan.pending)
            extra = f", {done} already done (marked skip)" if done else ""
            self._status(f"{plan.title}: {len(plan.pending)} step(s) to apply on {plan.pod}{extra}"
                         + ("" if self._read_only else "; a applies"), None)

    def _show_verification(self, v, target: Target | None = None, *, of_form: bool = True) -> None:
        """One verification; `of_form`: of the form's target (it goes when the form names another)."""
        self._show_verifications([(target, v)])
        self._verified_target = target if of_form else None

    def _show_verifications(self, checked: list) -> None:
        """Each (target, Verification), headed by what it verified."""
        t = Text()
        for i, (target, v) in enumerate(checked):
            t += (NL if i else Text()) + self._verification_text(v, target)
        self.last_verification = checked[-1][1] if checked else None
        self._verified_target = None
        view = self.query_one("#wire-verify-view", Static)
        view.update(t)
        view.display = bool(checked)
        self.call_after_refresh(self.scroll_to_widget, view, top=True)

    def _verification_text(self, v, target: Target | None) -> Text:
        ok = theme_style(self, "wiring--ok")
        bad = theme_style(self, "wiring--error")
        dim = theme_style(self, "wiring--dim")
        nl = NL
        t = styled(("verified ", dim), target_text(target), nl) if target else Text()
        t += styled(("pushdown: ", dim), ("YES" if v.pushdown else "NO", ok if v.pushdown else bad),
                    "  ", mask_text(v.reason), nl)
        if getattr(v, "view", None) or getattr(v, "foreign_table", None):
            t += styled((f"via {v.view or '-'} -> {v.foreign_table or '-'} (server {v.server or '-'})", dim),
                        Text("\n", dim))
        if v.filter_pushdown is not None:
            t += styled(("filter pushdown: ", dim), ("yes" if v.filter_pushdown else "no", ok if v.filter_pushdown else bad), nl)
        warn = theme_style(self, "wiring--warn")
        for c in v.checks:
            advisory = getattr(c, "advisory", False)
            t += styled(("✔ " if c.ok else ("⚠ " if advisory else "✖ "), ok if c.ok else (warn if advisory else bad)),
                        c.name, (f"  {mask_text(c.detail)}", dim), Text("\n", dim))
        if v.remote_sql:
            t += styled(("Remote SQL: ", dim)) + block(mask_text(v.remote_sql))
        return t

    # --- actions (workers) -----------------------------------------------------------------------

    def _options(self) -> dict:
        view = self.query_one("#wire-view", Input).value.strip() or None
        expose = self.api.parse_expose(self.query_one("#wire-expose", Input).value)
        return {"view": view, "expose": expose, "fast_path": self.query_one("#wire-fast-path", Checkbox).value}

    @worker(group="wiring", what="plan")
    async def plan(self, unwire: bool = False) -> None:
        self._clear_plan()  # a plan that failed to come must not leave the previous one appliable
        try:
            target = self.target()
            pod, schema, name = target
            opts = self._options()
            with Busy(self.query_one("#wire-spinner")):
                if unwire:
                    opts.pop("fast_path")
                    plan = await self.api.plan_unwire(pod, name, schema=schema)
                else:
                    plan = await self.api.plan_wire(pod, name, schema=schema, **opts)
        except Exception as exc:
            self._status(describe_error(exc), "error")
            return
        # one subject on the pane: an earlier verification or doctor list is not about this plan
        self._clear_verification()
        self._clear_findings()
        self._show_plan(plan, ("unwire" if unwire else "wire", target))
        self._drop_stale()  # the form may have moved on while the plan was being made

    @worker(group="wiring", what="apply")
    async def apply(self) -> None:
        plan, (kind, about) = self.plan_shown, self._plan_for or ("", None)
        if plan is None:
            self._status("nothing to apply: make a plan first (w, or f on a doctor finding)", "warn")
            return
        if plan.is_noop:
            self._status("nothing to apply: every step already holds", "ok")
            return
        if self._read_only or self.api.read_only:
            self._status("read-only: refused", "error")
            return
        request = ConfirmPlan(plan)
        self.post_message(request)  # the app asks (ConfirmScreen) and answers
        if not await request.answer:
            self._status("cancelled: nothing changed", "warn")
            return
        try:
            with Busy(self.query_one("#wire-spinner")):
                await self.api.apply_plan(plan)
        except Exception as exc:
            self._status(f"not applied (rolled back): {describe_error(exc)}", "error")
            return
        # what was shown described the estate before the change: the plan, its verification ("pushdown:
        # YES ... remote table exists" after an unwire) go; the doctor list is marked until re-diagnosed
        self._clear_plan()
        self._clear_verification()
        self._findings_outdated()
        self._status(f"applied: {plan.title}; re-reading the estate…", "ok")
        self.post_message(EstateChanged(plan.title, fixed=about if kind == "fix" else None,
                                        wired=about if kind == "wire" else None))

    def after_change(self, topology: Topology, changes: list[EstateChanged]) -> None:
        """The app has re-read the estate after `changes`: re-diagnose a shown doctor list (a fix's finding
        must leave it), verify what a fix fixed or what was wired."""
        fixed = next((c.fixed for c in reversed(changes) if c.fixed is not None), None)
        wired = next((c.wired for c in reversed(changes) if c.wired is not None), None)
        if fixed is not None or self.findings_shown:
            self._findings_outdated()
            self.doctor(topology, fixed=fixed)
        if wired is not None:
            self.verify(wired)
        if fixed is None and wired is None and changes and not self.findings_shown:
            self._status(f"applied: {changes[-1].what}; the estate was read again", "ok")

    @worker(group="wiring-verify", what="verify")
    async def verify(self, target: Target | None = None) -> None:
        try:
            target = target or self.target()
            pod, schema, name = target
            with Busy(self.query_one("#wire-spinner")):
                v = await self.api.verify(pod, name, schema=schema)
        except Exception as exc:
            self._status(f"verify: {describe_error(exc)}", "error")
            return
        self._show_verification(v, target)
        self._drop_stale()

    @worker(group="wiring-doctor", what="doctor")
    async def doctor(self, topology: Topology | None = None, fixed=None) -> None:
        """List the findings; `fixed`: the finding whose fix was just applied (say whether it is gone and
        verify what it fixed)."""
        try:
            with Busy(self.query_one("#wire-spinner")):
                findings = await self.api.diagnose(topology)
        except Exception as exc:
            self._status(f"doctor: {describe_error(exc)}", "error")
            return
        self.findings = list(findings)
        self.findings_at = datetime.now(timezone.utc)
        box = self.query_one("#wire-findings", OptionList)
        box.clear_options()
        for f in self.findings:
            mark = "✖" if f.severity == "error" else "⚠"
            fix = "" if f.fix is None else "  [fix]"
            box.add_option(Option(styled(mark, " ", f.subject, ": ", mask_text(f.message), fix)))
        if not self.findings:
            box.add_option(Option(line("✔ no problems found"), disabled=True))
        box.display = True
        self.query_one("#wire-findings-title", Label).update(
            line(f"Doctor findings at {self.findings_at:%H:%M:%S} UTC (f: fix plan)"))
        self.query_one("#wire-findings-title").display = True
        # the findings come right under the status line (at 80x24 an earlier plan or verification pushed
        # them off screen); a finding's fix plan (f) is shown above them. Nothing unseen stays appliable.
        self._clear_plan()
        self._clear_verification()
        if self.findings:
            box.highlighted = 0
        count = f"{len(self.findings)} finding(s)"
        self._status(f"doctor: {count}", "warn" if self.findings else "ok")
        # after the layout has the findings (the pane may only just have been shown)
        self.set_timer(0.1, lambda: self.scroll_to_widget(self.query_one("#wire-status"), top=True))
        if fixed is None:
            return
        still = next((f for f in self.findings if (f.kind, f.subject) == (fixed.kind, fixed.subject)), None)
        if still is not None:
            self._status(f"applied, but the doctor still finds {fixed.subject}: {mask_text(still.message)}", "error")
            return
        self._status(f"fixed: {fixed.subject} is no longer found; {count} left", "ok")
        try:
            with Busy(self.query_one("#wire-spinner")):
                checked = await self.api.verify_fix(fixed, topology or getattr(self.app, "topology", None))
        except Exception as exc:
            self._status(f"fixed: {fixed.subject} is no longer found; verifying it: {describe_error(exc)}", "warn")
            return
        self._show_verifications(checked)

    def show_fix(self) -> None:
        box = self.query_one("#wire-findings", OptionList)
        idx = box.highlighted
        if not self.findings or idx is None or idx >= len(self.findings):
            self._status("run the doctor (d) and pick a finding first", "warn")
            return
        finding = self.findings[idx]
        if finding.fix is None:
            self._status("this finding has no automatic fix", "warn")
            return
        self._clear_verification()
        self._show_plan(finding.fix, ("fix", finding))

    @on(OptionList.OptionSelected, "#wire-findings")
    def _finding_chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.show_fix()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        bid = event.button.id
        if bid == "wire-plan":
            self.plan()
        elif bid == "wire-apply":
            self.app.run_action("apply_plan")
        elif bid == "wire-verify":
            self.verify()
        elif bid == "wire-unwire":
            self.plan(unwire=True)
        elif bid == "wire-doctor":
            topo = getattr(self.app, "topology", None)
            self.doctor(topo)
