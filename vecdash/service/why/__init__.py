"""Why not the index: EXPLAIN a statement (never run it) and say whether a vector index serves it, and if
not, why and how to rewrite it.

- `sqltext`  PostgreSQL tokens: the distance inside a deparsed sort key, the user's ORDER BY and LIMIT;
- `explain`  the read-only transaction, the one place the user's text becomes SQL, the catalog read;
- `plan`     what the JSON plan says (scans, indexes, sort keys, Limit), and its one-line summary;
- `causes`   the reasons and their rewrites, from plan and catalog (no I/O).

One session, one READ ONLY transaction with a statement timeout, rolled back: the statement's EXPLAIN,
the catalog of the relations it scans, a second EXPLAIN with sorts disabled when only that can tell a
cost choice from a structural cause, and one EXPLAIN per rewrite to say whether it uses the index.
"""

from __future__ import annotations

import psycopg

from vecdash.db.pods import PodClient
from vecdash.errors import ServerRefused, UserError
from vecdash.lines import error_line
from vecdash.model_why import WhyReport
from vecdash.service.why import causes, plan, sqltext
from vecdash.service.why.explain import Explainer

# statements EXPLAIN can plan and vecdash accepts (the first word; "(" for a parenthesized SELECT)
PLANNABLE = ("select", "with", "values", "table", "insert", "update", "delete", "merge", "(")


def check_text(text: str) -> str:
    """The statement as given, or UserError before any I/O: empty, EXPLAIN/ANALYZE, not plannable."""
    if not text or not text.strip():
        raise UserError("give a statement to explain (an empty one was given)")
    first = sqltext.first_word(text) or ""
    if first in ("explain", "analyze", "analyse"):
        raise UserError("give the statement itself, without EXPLAIN: vecdash EXPLAINs it and never runs it")
    if first not in PLANNABLE:
        raise UserError(f"not a statement EXPLAIN can plan ({first or 'no keyword'}): give a SELECT, WITH, VALUES, "
                        f"INSERT, UPDATE, DELETE or MERGE")
    return text


async def why(client: PodClient, pod: str, sql_text: str) -> WhyReport:
    """Does `sql_text` use a vector index on `pod`? EXPLAINed only, read-only, rolled back.

    UserError (exit 2) for an unknown pod or a statement that is not one plannable statement;
    PodError (exit 1) when the pod fails."""
    client.pod(pod)  # an unknown pod is a UserError before any I/O
    text = check_text(sql_text)
    timeout_ms = str(client.config.settings.statement_timeout_ms)

    async def work(conn: psycopg.AsyncConnection) -> WhyReport:
        async with conn.transaction(force_rollback=True):
            await conn.execute("set transaction read only")
            await conn.execute("select pg_catalog.set_config('statement_timeout', %s, true)", (timeout_ms,))
            version = (await (await conn.execute("select current_setting('server_version_num')::int")).fetchone())[0]
            ex = Explainer(conn, pod, version)
            return await _analyse(ex, pod, text)

    try:
        return await client.run(pod, work, what="why")
    except psycopg.Error as exc:
        raise ServerRefused(pod, error_line(exc)) from None


async def _analyse(ex: Explainer, pod: str, text: str) -> WhyReport:
    top, generic = await ex.explain(text)
    root = top["Plan"]
    scans = plan.scans(root)
    relations = sorted({(s.schema, s.table) for s in scans})
    catalog = await ex.catalog(relations)
    facts = causes.Facts(text=text, plan=root, settings=plan.changed_settings(top), catalog=catalog, scans=scans,
                         limit=sqltext.limit_value(text))
    report = WhyReport(pod=pod, statement=text, uses_index=False, generic=generic, plan=plan.summary(root),
                       indexes=catalog.indexes)
    used = causes.used_index(facts, plan.index_scans(root))
    if used is not None:
        report.uses_index, report.index = True, used.name
        findings = causes.warnings(facts, used)
    else:
        ix, findings = causes.structural(facts)
        report.index = ix.name if ix else None
        findings = causes.settings_off(facts) + findings
        blocking = {f.reason.code for f in findings}
        if ix is not None and ix.valid and not blocking:
            probe, _ = await ex.explain(text, causes.PROBE)
            if causes.used_index(facts, plan.index_scans(probe["Plan"])) is not None:
                findings.append(causes.cost(facts, ix))
            elif not findings:
                findings.append(causes.Finding(causes.Reason(
                    "not_usable", f"even with sorting disabled the planner does not use {ix.name}: its plan sorts by "
                    f"a distance vecdash cannot match to the index")))
    await _verify(ex, facts, findings)
    report.reasons = [f.reason for f in findings]
    return report


async def _verify(ex: Explainer, facts: causes.Facts, findings: list[causes.Finding]) -> None:
    """EXPLAIN each rewrite once: does it use a vector index? Its text is the reason's rewrite either way."""
    seen: dict[causes.Check, bool] = {}
    for f in findings:
        if f.check is None:
            continue
        if f.check not in seen:
            try:
                top, _ = await ex.explain(f.check.statement, f.check.settings)
                seen[f.check] = causes.used_index(facts, plan.index_scans(top["Plan"])) is not None
            except (UserError, ServerRefused):
                seen[f.check] = False
        f.reason.rewrite = f.check.text()
        f.reason.verified = seen[f.check]


__all__ = ["PLANNABLE", "check_text", "why"]
