"""FDW wiring that is fast by construction: plan, apply, verify and unwire a collection on the primary.

A collection C on pod S becomes readable on the primary through postgres_fdw: a foreign server for S
(with `extensions 'vector'`, without which pgvector's distance operators cannot ship and every k-NN
query drags the whole table to the primary), a user mapping, a foreign table whose columns are read
from S's catalog, an ANALYZE (without table statistics the planner sorts filtered k-NN locally), and
optionally a view in `public`.

Plans hold the exact statements (`PlanStep.sql`) and a masked preview; `apply_plan` (service.plans, the
one executor) runs the pending steps in one transaction: all or nothing.

names: names and input; state: what is read (the primary's catalog in model types, a pod's table,
locate); statements: the DDL; plan: plan_wire; verification: verify; unwire: plan_unwire; fast_path,
fast_body, fast_plan, fast_checks: the `--fast-path` functions (k-NN on the pod over dblink).
"""

from vecdash.model import SecretStep
from vecdash.service.plans import PlanFailed, apply_plan
from vecdash.service.wiring.names import (
    EXPOSE_TYPES,
    WiringError,
    parse_expose,
    pod_ident,
    split_collection,
)
from vecdash.service.wiring.plan import plan_wire
from vecdash.service.wiring.state import (
    PrimaryState,
    RemoteCollection,
    Target,
    drift,
    locate,
    read_primary,
    read_remote,
    read_remotes,
    reaches_among,
    read_target,
)
from vecdash.service.wiring.statements import (
    FETCH_SIZE,
    SERVER_MARK,
    alter_server_sql,
    analyze_sql,
    drop_table_steps,
    local_type,
    mapping_create_step,
    vector_extension_change,
)
from vecdash.service.wiring.fast_path import FastPath, Member
from vecdash.service.wiring.unwire import plan_unwire
from vecdash.service.wiring.verification import Check, Verification, verify

__all__ = [
    "EXPOSE_TYPES", "FETCH_SIZE", "FastPath", "Member", "SERVER_MARK", "Check", "PlanFailed", "PrimaryState", "RemoteCollection",
    "SecretStep", "Target", "Verification", "WiringError", "alter_server_sql", "analyze_sql", "apply_plan", "drift",
    "drop_table_steps", "local_type", "locate", "mapping_create_step", "parse_expose", "plan_unwire", "plan_wire",
    "pod_ident", "read_primary", "reaches_among", "read_remote", "read_remotes", "read_target",
    "split_collection",
    "vector_extension_change", "verify",
]
