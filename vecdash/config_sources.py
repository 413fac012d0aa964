"""Pods a DBA has already declared elsewhere: `pods_from_services` (pg_service.conf sections) and
`pods_from_primary` (the primary's postgres_fdw servers), with `tags:`; plain data like config.py.

Either key takes a glob (`"vec-*"`), a mapping `{match: "vec-*", tags: [a, b]}`, or a list of both;
`pods_from_primary: true` means every server. A service pod is `service=NAME` and nothing else:
libpq reads its host, database and password from the file itself. Explicit `pods:` entries of the
same name win. Problems are `FILE:LINE: problem` as everywhere in the config; a service file's own
problems point at the service file's line.
"""

from __future__ import annotations

import re

import yaml

from vecdash.config_pods import NAME_RE, NAME_RULE, PodConfig, PodSource
from vecdash.config_yaml import YamlDoc
from vecdash.errors import ConfigError
from vecdash.services_file import ServiceFiles, read_service_files

_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,31}$")
TAG_RULE = "a tag is letters, digits, '_', '-', '.', ':' or '/' (max 32)"
# a glob may hold pod-name characters and fnmatch's * ? [ ] !
_GLOB_RE = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,200}$")
SOURCE_KEYS = {"match", "tags"}


def parse_tags(doc: YamlDoc, node: yaml.Node, what: str) -> tuple[str, ...]:
    """A list of short names (the groups of the console's tree); duplicates dropped, order kept."""
    if not isinstance(node, yaml.SequenceNode):
        raise doc.err(node, f"{what} must be a list of short names, e.g. [eu, hot]")
    tags: list[str] = []
    for item in node.value:
        tag = doc.string(item, what)
        if not _TAG_RE.match(tag):
            raise doc.err(item, f"{what}: {tag!r}: {TAG_RULE}")
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def parse_sources(doc: YamlDoc, node: yaml.Node, key: str, *, allow_true: bool = False) -> tuple[PodSource, ...]:
    """`"glob"`, `{match: glob, tags: [...]}`, or a list of those (`true`: every name, if allowed)."""
    if isinstance(node, yaml.SequenceNode):
        if not node.value:
            raise doc.err(node, f"{key} is empty: give a glob such as \"vec-*\"")
        return tuple(_source(doc, item, f"{key}[{i}]", allow_true=False) for i, item in enumerate(node.value))
    return (_source(doc, node, key, allow_true=allow_true),)


def _source(doc: YamlDoc, node: yaml.Node, what: str, *, allow_true: bool) -> PodSource:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        fields = {}
        for k, knode, vnode in doc.mapping(node, what):
            if k not in SOURCE_KEYS:
                raise doc.err(knode, f"{what}: unknown key {k!r} (expected one of: {', '.join(sorted(SOURCE_KEYS))})")
            fields[k] = vnode
        if "match" not in fields:
            raise doc.err(node, f"{what}: missing `match` (a glob such as \"vec-*\")")
        tags = parse_tags(doc, fields["tags"], f"{what}.tags") if "tags" in fields else ()
        return PodSource(match=_glob(doc, fields["match"], what), tags=tags, line=line)
    if allow_true and isinstance(node, yaml.ScalarNode) and doc.scalar(node) is True:
        return PodSource(match="*", line=line)
    return PodSource(match=_glob(doc, node, what), line=line)


def _glob(doc: YamlDoc, node: yaml.Node, what: str) -> str:
    value = doc.scalar(node) if isinstance(node, yaml.ScalarNode) else None
    if not isinstance(value, str):
        raise doc.err(node, f"{what} must be a glob such as \"vec-*\" (or a mapping with `match:`)")
    glob = doc.interpolate(value, node, what)
    if not _GLOB_RE.match(glob):
        raise doc.err(node, f"{what}: {glob!r} is not a glob of pod names (letters, digits, '_', '-', '.' "
                            f"and * ? [...], at most 200)")
    depth = 0
    for ch in glob:  # fnmatch reads an unclosed '[' as a literal: say so instead of matching nothing
        depth = 1 if ch == "[" else (0 if ch == "]" else depth)
    if depth:
        raise doc.err(node, f"{what}: {glob!r}: '[' without a closing ']'")
    return glob


def service_pods(doc: YamlDoc, sources: tuple[PodSource, ...],
                 files: ServiceFiles | None = None) -> tuple[list[PodConfig], str | None]:
    """One secondary pod per service-file section a glob matches (file order; tags of every glob that
    matches it), and a note when no section matched."""
    files = read_service_files() if files is None else files
    if files.unreadable and sources:  # libpq cannot read it, so which services it holds is not known
        path, why = files.unreadable[0]
        source = sources[0]
        raise ConfigError(f"libpq cannot read this service file ({why}): pods_from_services {source.match!r} "
                          f"({doc.path}:{source.line}) cannot tell which services it holds", path)
    pods: dict[str, PodConfig] = {}
    for source in sources:
        for entry in files.matching(source.match):
            where = f"service {entry.name!r} (matched by pods_from_services {source.match!r}, {doc.path}:{source.line})"
            if not NAME_RE.match(entry.name):
                raise ConfigError(f"{where}: not a pod name: {NAME_RULE}", entry.path, entry.line)
            if entry.problems:
                line, problem = entry.problems[0]
                raise ConfigError(f"{where}: {problem}", entry.path, line)
            old = pods.get(entry.name)
            tags = tuple(dict.fromkeys((old.tags if old else ()) + source.tags))
            pods[entry.name] = PodConfig(name=entry.name, service=entry.name, tags=tags)
    note = None
    if not pods:
        globs = ", ".join(repr(s.match) for s in sources)
        note = f"pods_from_services {globs} matched no service in {' or '.join(files.paths)}"
    return list(pods.values()), note


def merge_pods(doc: YamlDoc, node: yaml.Node, explicit: tuple[PodConfig, ...], found: list[PodConfig],
               note: str | None) -> tuple[PodConfig, ...]:
    """Explicit pods first (each replaces a found pod of its name), then the found pods left."""
    names = {p.name for p in explicit}
    merged = explicit + tuple(p for p in found if p.name not in names)
    if not merged:
        raise doc.err(node, f"no pods: `pods:` lists none and {note or 'pods_from_services matched none'}")
    return merged


def primary_sources(doc: YamlDoc, entry: tuple[yaml.Node, yaml.Node] | None,
                    pods: tuple[PodConfig, ...]) -> tuple[PodSource, ...]:
    """`pods_from_primary`: false/absent -> (); it needs a primary to read the servers from."""
    if entry is None:
        return ()
    knode, vnode = entry
    if isinstance(vnode, yaml.ScalarNode) and doc.scalar(vnode) in (False, None):
        return ()
    sources = parse_sources(doc, vnode, "pods_from_primary", allow_true=True)
    if not any(p.is_primary for p in pods):
        raise doc.err(knode, "pods_from_primary needs a pod with `role: primary` (its foreign servers become pods)")
    return sources
