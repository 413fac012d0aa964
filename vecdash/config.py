"""YAML configuration -> frozen dataclasses.

Every problem is reported as one line naming the file, the line and what is wrong (ConfigError).
`${VAR}` / `${VAR:-default}` are interpolated from the environment in string values. DSNs may be
URIs or libpq conninfo strings; `service:` names a pg_service.conf entry; libpq itself applies
`.pgpass` and `PG*` variables when connecting, exactly as psql does.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from psycopg import conninfo as pg_conninfo

from vecdash.config_pods import NAME_RE, NAME_RULE, PodConfig, PodSource
from vecdash.config_yaml import YamlDoc
from vecdash.errors import ConfigError
from vecdash.inputs import integer_problem

ROLES = ("primary", "secondary")
POD_KEYS = {"name", "role", "dsn", "service", "description", "tags"}
SETTING_KEYS = {
    "refresh_seconds": (int, float),
    "statement_timeout_ms": (int,),
    "connect_timeout_s": (int, float),
    "long_transaction_s": (int, float),
    "replication_lag_s": (int, float),
    "read_only": (bool,),
    "theme": (str,),
}
# What the server and libpq accept, so a value that passes here cannot make every pod look DOWN:
# statement_timeout is an int GUC in ms (max INT_MAX; 0 = none, not allowed: calls must be bounded);
# libpq's connect_timeout is whole seconds in an int; refresh is a timer interval (max one day); the
# activity alerts' thresholds (a transaction open that long, a standby replaying that far behind) up to a week.
INT_MAX = 2**31 - 1
SETTING_RANGES = {
    "refresh_seconds": (0.1, 86_400.0),
    "statement_timeout_ms": (1, INT_MAX),
    "connect_timeout_s": (0.5, float(INT_MAX)),
    "long_transaction_s": (1.0, 604_800.0),
    "replication_lag_s": (0.1, 604_800.0),
}
TOP_KEYS = {"pods", "settings", "pods_from_services", "pods_from_primary"}


@dataclass(frozen=True)
class Settings:
    refresh_seconds: float = 5.0
    statement_timeout_ms: int = 5000
    connect_timeout_s: float = 3.0
    long_transaction_s: float = 300.0  # alert: a transaction open longer than this (vecdash activity)
    replication_lag_s: float = 60.0  # alert: a standby replaying further behind than this
    read_only: bool = False
    theme: str = "textual-dark"

    @property
    def call_timeout_s(self) -> float:
        """The documented bound (README): a call to a hung or dead pod has failed, and said so, within
        connect_timeout_s + statement_timeout_ms + 1 s. Tests assert exactly this number.

        The server enforces statement_timeout, but a hung (SIGSTOPped) server enforces nothing, so the
        client abandons a call earlier (abandon_after_s), leaving the rest for reporting it.
        """
        return self.connect_timeout_s + self.statement_timeout_ms / 1000 + 1.0

    @property
    def abandon_after_s(self) -> float:
        """When PodClient gives up on a call: half a second inside call_timeout_s."""
        return self.call_timeout_s - 0.5


@dataclass(frozen=True)
class Config:
    pods: tuple[PodConfig, ...]
    settings: Settings = field(default_factory=Settings)
    path: str | None = None
    # `pods_from_primary`: the primary's postgres_fdw servers matching these become pods when a command
    # or the console starts (service.discovery, which needs the primary's catalog)
    from_primary: tuple[PodSource, ...] = ()
    # what loading and discovery had to say that is not an error (one line each; the CLI prints them to
    # stderr, the console shows them once)
    notes: tuple[str, ...] = ()
    # pods that did not answer while a command completed this config (discovery asking the primary):
    # (pod, reason). `status` reports them down with that reason instead of waiting on them a second time
    unanswered: tuple[tuple[str, str], ...] = ()

    @property
    def primary(self) -> PodConfig | None:
        return next((p for p in self.pods if p.is_primary), None)

    @property
    def secondaries(self) -> tuple[PodConfig, ...]:
        return tuple(p for p in self.pods if not p.is_primary)

    def pod(self, name: str) -> PodConfig:
        for p in self.pods:
            if p.name == name:
                return p
        from vecdash.errors import unknown_pod

        raise unknown_pod(name, (p.name for p in self.pods), self.path)

    def with_overrides(self, *, read_only: bool | None = None, refresh_seconds: float | None = None) -> "Config":
        s = self.settings
        if read_only is not None:
            s = replace(s, read_only=read_only or s.read_only)
        if refresh_seconds is not None:
            problem = setting_problem("refresh_seconds", refresh_seconds)
            if problem:
                raise ConfigError(f"--refresh {problem}")
            s = replace(s, refresh_seconds=refresh_seconds)
        return replace(self, settings=s)


def state_dir() -> Path:
    """Where vecdash keeps what it remembers between runs: $XDG_STATE_HOME/vecdash, else ~/.local/state/vecdash."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vecdash"


def last_demo_pointer() -> Path:
    """The file in which `vecdash demo` records its estate's config path (one line)."""
    return state_dir() / "last-demo-config"


def last_demo_config() -> Path | None:
    """The config of the last estate `vecdash demo` brought up, if it is still there."""
    try:
        path = Path(last_demo_pointer().read_text(encoding="utf-8").strip())
    except OSError:
        return None
    return path if path.is_absolute() and path.is_file() else None


def config_search_path(explicit: str | None = None) -> list[Path]:
    """Where a config is looked for, in order: --config, $VECDASH_CONFIG, ./vecdash.yaml,
    ~/.config/vecdash/config.yaml, and last the config of the last `vecdash demo` estate."""
    if explicit:
        return [Path(explicit)]
    candidates = []
    if os.environ.get("VECDASH_CONFIG"):
        return [Path(os.environ["VECDASH_CONFIG"])]
    candidates.append(Path.cwd() / "vecdash.yaml")
    candidates.append(Path.home() / ".config" / "vecdash" / "config.yaml")
    demo = last_demo_config()
    if demo is not None:
        candidates.append(demo)
    return candidates


def find_config(explicit: str | None = None) -> Path:
    paths = config_search_path(explicit)
    for p in paths:
        if p.is_file():
            return p
    if explicit or os.environ.get("VECDASH_CONFIG"):
        raise ConfigError("config file not found", str(paths[0]))
    raise ConfigError(
        "no config found (looked for --config, $VECDASH_CONFIG, ./vecdash.yaml, ~/.config/vecdash/config.yaml "
        "and the last `vecdash demo` estate); try `vecdash demo` or copy config.example.yaml"
    )


def is_last_demo_config(path: str | Path) -> bool:
    """Whether `path` is the config `vecdash demo` recorded last (the lookup's last fallback)."""
    demo = last_demo_config()
    return demo is not None and Path(path).resolve() == demo.resolve()


def load_config(explicit: str | None = None) -> Config:
    path = find_config(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", str(path)) from None
    config = parse_config(text, str(path))
    warn_if_exposed(path, text)
    return config


def warn_if_exposed(path: Path, text: str) -> None:
    """Warn, as libpq does for .pgpass, when a config holding a password is group/world readable."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and _has_literal_password(text):
        print(
            f"vecdash: warning: {path} contains a password and is readable by group/others; "
            f"chmod 600 it or use ${{ENV}} / .pgpass",
            file=sys.stderr,
        )


def _has_literal_password(text: str) -> bool:
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if re.search(r"://[^:/@\s]+:[^@\s$]+@", line) or re.search(r"password\s*=\s*[^\s$]", line, re.I):
            return True
    return False


# --- parsing -----------------------------------------------------------------------------------


def parse_config(text: str, path: str = "<config>") -> Config:
    from vecdash.config_sources import merge_pods, parse_sources, primary_sources, service_pods

    doc = YamlDoc(text, path)
    root = doc.root()
    if root is None:
        raise ConfigError("empty config: expected a `pods:` list", path, 1)
    nodes: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, knode, vnode in doc.mapping(root, "config"):
        if key not in TOP_KEYS:
            raise doc.err(knode, f"unknown key {key!r} (expected one of: {', '.join(sorted(TOP_KEYS))})")
        nodes[key] = (knode, vnode)
    if "pods" not in nodes and "pods_from_services" not in nodes:
        raise doc.err(root, "missing `pods:` list (or `pods_from_services:`)")
    settings = _parse_settings(doc, nodes.get("settings", (None, None))[1])
    found: list[PodConfig] = []
    note = None
    if "pods_from_services" in nodes:
        found, note = service_pods(doc, parse_sources(doc, nodes["pods_from_services"][1], "pods_from_services"))
    pods: tuple[PodConfig, ...] = ()
    if "pods" in nodes:
        pods = _parse_pods(doc, nodes["pods"][1], {p.name: p for p in found}, allow_empty="pods_from_services" in nodes)
    merged = merge_pods(doc, nodes.get("pods_from_services", nodes.get("pods"))[0], pods, found, note)
    from_primary = primary_sources(doc, nodes.get("pods_from_primary"), merged)
    return Config(pods=merged, settings=settings, path=path, from_primary=from_primary,
                  notes=(note,) if note else ())


def _parse_settings(doc: YamlDoc, node: yaml.Node | None) -> Settings:
    if node is None or (isinstance(node, yaml.ScalarNode) and doc.scalar(node) is None):
        return Settings()
    values: dict[str, Any] = {}
    for key, knode, vnode in doc.mapping(node, "settings"):
        if key not in SETTING_KEYS:
            raise doc.err(knode, f"settings: unknown key {key!r} (expected one of: {', '.join(sorted(SETTING_KEYS))})")
        value = doc.scalar(vnode)
        if isinstance(value, str):
            value = yaml.safe_load(doc.interpolate(value, vnode, f"settings.{key}"))
        types = SETTING_KEYS[key]
        whole = types == (int,) and key in SETTING_RANGES  # an integer in a range: setting_problem says it all
        if not whole and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            names = " or ".join("number" if t is float else t.__name__ for t in types)
            raise doc.err(vnode, f"settings.{key} must be {names}, got {value!r}")
        problem = setting_problem(key, value)
        if problem:
            raise doc.err(vnode, f"settings.{key} {problem}")
        values[key] = value
    return Settings(**values)


def setting_problem(key: str, value: Any) -> str | None:
    """What is wrong with a numeric setting's value (None: nothing), for the config and CLI overrides."""
    if key not in SETTING_RANGES:
        return None
    lo, hi = SETTING_RANGES[key]
    if SETTING_KEYS[key] == (int,):
        return integer_problem(value, lo, hi)
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if value <= 0:
        return f"must be positive, got {value!r}"
    if not lo <= value <= hi:
        return f"must be between {lo:g} and {hi:.0f}, got {value!r}"
    return None


def _parse_pods(doc: YamlDoc, node: yaml.Node, found: dict[str, PodConfig], *, allow_empty: bool = False) -> tuple[PodConfig, ...]:
    """The `pods:` list. An entry named like a pod `found` in the service files replaces it, and takes
    from it what it leaves out (`service`, `tags`): `{name: vec-1, role: primary}` is enough."""
    from vecdash.config_sources import parse_tags

    if isinstance(node, yaml.ScalarNode) and allow_empty and doc.scalar(node) is None:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise doc.err(node, "pods must be a list")
    if not node.value and not allow_empty:
        raise doc.err(node, "pods is empty: list at least one pod")
    pods: list[PodConfig] = []
    names: dict[str, int] = {}
    primary_line: int | None = None
    for i, item in enumerate(node.value):
        where = f"pods[{i}]"
        fields: dict[str, Any] = {}
        tags: tuple[str, ...] | None = None
        for key, knode, vnode in doc.mapping(item, where):
            if key not in POD_KEYS:
                raise doc.err(knode, f"{where}: unknown key {key!r} (expected one of: {', '.join(sorted(POD_KEYS))})")
            if key == "tags":
                tags = parse_tags(doc, vnode, f"{where}.tags")
            else:
                fields[key] = (doc.string(vnode, f"{where}.{key}"), vnode)
        line = item.start_mark.line + 1
        if "name" not in fields:
            raise doc.err(item, f"{where}: missing `name`")
        name, name_node = fields["name"]
        where = f"pod {name!r}"
        if not NAME_RE.match(name):
            raise doc.err(name_node, f"{where}: {NAME_RULE}")
        if name in names:
            raise doc.err(name_node, f"duplicate pod name {name!r} (first defined on line {names[name]})")
        names[name] = line
        role = fields.get("role", ("secondary", None))[0]
        if role not in ROLES:
            raise doc.err(fields["role"][1], f"{where}: role must be primary or secondary, got {role!r}")
        if role == "primary":
            if primary_line is not None:
                raise doc.err(fields["role"][1], f"{where}: a second primary (the first is on line {primary_line}); at most one pod may be primary")
            primary_line = line
        dsn = fields.get("dsn", (None, None))[0]
        service = fields.get("service", (None, None))[0]
        if dsn and service:
            raise doc.err(item, f"{where}: give either `dsn` or `service`, not both")
        base = found.get(name)
        if not dsn and not service and base is not None:
            service = base.service
        if not dsn and not service:
            node_for = fields["dsn"][1] if "dsn" in fields else item
            raise doc.err(node_for, f"{where}: missing `dsn` (a URI or conninfo string) or `service`")
        if dsn:
            _check_dsn(doc, fields["dsn"][1], where, dsn)
        if tags is None:
            tags = base.tags if base is not None else ()
        pods.append(PodConfig(name=name, role=role, dsn=dsn, service=service, line=line, tags=tags))
    return tuple(pods)


def _check_dsn(doc: YamlDoc, node: yaml.Node, where: str, dsn: str) -> None:
    """libpq must read the DSN as written; what it says about it never quotes the password."""
    from vecdash.secrets import dsn_secrets, mask_libpq_message, remember, uri_misread

    remember(dsn_secrets(dsn))
    try:
        info = pg_conninfo.conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError with libpq's message
        raise doc.err(node, f"{where}: invalid dsn: {mask_libpq_message(str(exc), dsn)}") from None
    if uri_misread(dsn):
        raise doc.err(node, f"{where}: invalid dsn: an unencoded '@' after the userinfo; libpq would read part "
                            f"of it as the host or database (percent-encode '@' as %40 and '/' as %2F in the "
                            f"user and password)")
    # libpq only checks the port when connecting; a typo there is a config error, not a down pod
    port = str(info.get("port") or "")
    if port and not all(p.strip().isdigit() for p in port.split(",")):
        problem = mask_libpq_message('port "' + port + '" is not a number', dsn)
        raise doc.err(node, f"{where}: invalid dsn: {problem}")
