"""Topology pane: pods -> schemas -> collections, and the primary's wiring (servers, foreign tables, views).

Rebuilt from one Topology on every refresh, keeping which nodes were open and where the cursor was,
and each down pod's last-known collections (dimmed) from the last refresh that saw it up.
Badges carry state (● up / ✖ down, ✔ pushdown / ⚠ slow, ⚡ indexed); details live in the Stats pane.

An estate of more than GROUP_OVER pods stays navigable: each pod sits under its first tag (config
`tags:`; one group per pod, so no pod is listed twice), pods and groups start collapsed, a group's
label counts its pods, how many are up or down and their collections, and the filter opens what
matches and hides pods where nothing does. The primary stays on top, outside the groups: every wiring
goes through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from vecdash.model import Collection, PodStatus, Topology
from vecdash.service.stats import Pods, server_reach
from vecdash.tui.text import styled, theme_style
from vecdash.units import human_count, ms


@dataclass(frozen=True)
class Ref:
    """What a tree node stands for. kind: tag | pod | group | schema | collection | server | foreign_table | view
    (a tag: a group of pods, `name` its tag; a group: a wiring group of the primary)."""

    kind: str
    pod: str
    schema: str = ""
    name: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.pod, self.schema, self.name)


GROUP_OVER = 8  # more configured pods than this: pods start collapsed, grouped under their first tag
UNTAGGED = "untagged"  # the group of pods without a tag (when some pods have one)
LABELS_KEPT = 20_000  # labels kept for reuse (_label); more than a 200-pod estate's nodes twice over


def index_badge(c: Collection) -> str:
    ann = [i for i in c.indexes if i.method in ("hnsw", "ivfflat") and i.valid]
    if not ann:
        return "no index"
    return "⚡" + ",".join(sorted({i.method for i in ann}))


class TopologyTree(Tree[Ref]):
    """The estate as a tree. Posts `Selected` when the cursor moves to a node."""

    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        "topology--up",
        "topology--down",
        "topology--ok",
        "topology--warn",
        "topology--dim",
        "topology--name",
    }

    class Selected(Message):
        def __init__(self, ref: Ref | None) -> None:
            self.ref = ref
            super().__init__()

    def __init__(self, **kwargs) -> None:
        super().__init__("estate", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._topology: Topology | None = None
        self._endpoints = Pods(())
        self._filter = ""
        self._open: dict[tuple, bool] = {}  # nodes the user opened or closed stay so across refreshes
        self._groups: dict[str, str] = {}  # pod -> its first tag
        self._configured = 0  # pods in the config: decides grouping before every pod has answered
        self._shape: tuple = ()
        self._lazy: dict[tuple, Callable[[], list[_Entry]]] = {}  # closed nodes: how to build their children
        self._last_up: dict[str, PodStatus] = {}  # each pod as last seen up: a down pod keeps its collections
        self._announced: Ref | None = None  # the selection the app was last told of (Selected)
        self._labels: dict[tuple, Text] = {}  # labels made, by parts and theme (_label)

    # --- data in ---------------------------------------------------------------------------

    def set_pods(self, tags: Mapping[str, Iterable[str]]) -> None:
        """The configured pods and their tags (pod name -> tags). Their number, not the pods answered so
        far, decides whether the tree groups: it keeps one layout while pods arrive one by one."""
        self._configured = len(tags)
        self._groups = {pod: next(iter(t), "") for pod, t in tags.items()}
        self._rebuild()

    @property
    def grouped(self) -> bool:
        pods = len(self._topology.pods) if self._topology is not None else 0
        return max(self._configured, pods) > GROUP_OVER

    def show(self, topology: Topology, endpoints: list | None = None) -> None:
        self._topology = topology
        self._last_up.update((p.name, p) for p in topology.pods if p.up)
        if endpoints is not None:
            self._endpoints = endpoints
        self._rebuild()

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._rebuild()

    @property
    def selected_ref(self) -> Ref | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def select_ref(self, ref: Ref) -> bool:
        """Put the cursor on `ref`, opening its group, pod and schema; False when the tree has no such node."""
        node = self._find_or_load(ref)
        if node is None:
            return False
        self._reveal(node)
        self._place_cursor(node)
        return True

    def _reveal(self, node: TreeNode[Ref]) -> None:
        for parent in _ancestors(node):
            if parent is not self.root and not parent.is_expanded:
                self._open[parent.data.key] = True
                parent.expand()

    def _place_cursor(self, node: TreeNode[Ref]) -> None:
        self._tree_lines  # noqa: B018 - rebuilds line numbers after adds/expands so the cursor lands right
        self.move_cursor(node)
        self._announce(node.data)

    def _announce(self, ref: Ref | None) -> None:
        """Tell the app the selection changed. Not only on Textual's NodeHighlighted: when a filter or a
        rebuild puts another node on the cursor's line, the line number does not change and Textual
        posts nothing, so the Stats pane went on describing the node that was there before."""
        if ref != self._announced:
            self._announced = ref
            self.post_message(self.Selected(ref))

    # --- building ----------------------------------------------------------------------------

    def _st(self, name: str):
        return theme_style(self, f"topology--{name}")

    def _label(self, *parts: tuple[str, str | None]) -> Text:
        """A node's label from (text, style name) parts, made once per parts and theme: a refresh of 200
        pods relabels only the pods whose label changed, without styling the other labels again."""
        key = (parts, self.app.theme)
        text = self._labels.get(key)
        if text is None:
            if len(self._labels) >= LABELS_KEPT:
                self._labels.clear()
            text = styled(*((chunk, self._st(style) if style else None) for chunk, style in parts))
            text.no_wrap, text.overflow = True, "ellipsis"
            self._labels[key] = text
        return text

    def render_label(self, node: TreeNode[Ref], base_style, style) -> Text:
        """The label, cut with an ellipsis where the pane ends (Tree itself crops it mid-word)."""
        text = super().render_label(node, base_style, style)
        room = self.scrollable_content_region.width - (len(_ancestors(node)) - 1) * self.guide_depth
        if room > 1 and text.cell_len > room:
            text.truncate(room, overflow="ellipsis")
        return text

    def _match(self, *names: str) -> bool:
        return not self._filter or any(self._filter in n.lower() for n in names)

    def _rebuild(self) -> None:
        """Same shape as last time: relabel in place (scroll, cursor and open nodes untouched).
        Otherwise rebuild, keeping the cursor on the same object when it still exists.

        A closed group or pod is built lazily: its label now, its children when it opens (`_load`), so a
        refresh of a collapsed 200-pod estate costs a label per visible node, not one per collection."""
        topo = self._topology
        if topo is None:
            return
        self._lazy = {}
        entries = self._grouped(topo) if self.grouped else self._pods_shown(list(topo.pods))
        shape = _shape(entries)
        if shape == self._shape and self.root.children:
            _relabel(self.root, entries)
            return
        if self.root.children and self._grow(entries, shape):
            return
        keep = self.selected_ref
        self.clear()
        for e in entries:
            self._materialize(self.root, e)
        self._shape = shape
        node = self._find_or_load(keep) if keep else None
        if node is None and self.root.children:  # gone (filtered out): the first node the filter names
            node = self._first_named() or self.root.children[0]
        if node is not None:
            self._reveal(node)  # found through the filter, kept in view once it is cleared
            self._place_cursor(node)

    def _first_named(self) -> TreeNode[Ref] | None:
        """The first node, top to bottom, whose own name holds the filter (a pod shown for a collection
        of its that matches is not one): `/images` then enter leaves the cursor on the collection."""
        stack = list(reversed(self.root.children)) if self._filter else []
        while stack:
            node = stack.pop()
            ref = node.data
            if ref is not None and self._filter in (ref.name or ref.pod).lower():
                return node
            stack.extend(reversed(node.children))
        return None

    def _grow(self, entries: list["_Entry"], shape: tuple) -> bool:
        """Update in place when the top level only gained nodes, as while pods answer one by one: new
        nodes are inserted, a node whose subtree changed is made again alone, the others relabelled, and
        the cursor stays on its node. A first refresh of 200 pods then adds each pod once, not the
        answered ones again with every batch. False (nothing done) when a node went or moved."""
        nodes = {n.data.key: n for n in self.root.children if n.data is not None}
        if [e.ref.key for e in entries if e.ref.key in nodes] != list(nodes) or len(nodes) != len(self.root.children):
            return False
        keep = self.selected_ref
        before: TreeNode[Ref] | None = None
        old = dict(self._shape)
        for e, (key, sub) in reversed(list(zip(entries, shape))):
            node = nodes.get(key)
            if node is not None and old.get(key) == sub:
                if node._label != e.label:
                    node.set_label(e.label)
                if e.children:
                    _relabel(node, e.children)
            else:
                if node is not None:
                    node.remove()
                node = self._materialize(self.root, e, before=before)
            before = node
        self._shape = shape
        target = self._find_or_load(keep) if keep else self.root.children[0]
        if target is not None:  # the same node, perhaps on another line now (or made again: kept in view)
            self._reveal(target)
            self._place_cursor(target)
        return True

    def _starts_open(self, ref: Ref) -> bool:
        if self._filter:
            return True
        opened = self._open.get(ref.key)
        if opened is not None:
            return opened
        return not (ref.kind in ("tag", "pod") and self.grouped)

    def _entry(self, ref: Ref, label: Text, children: Callable[[], list["_Entry"]], more: bool) -> "_Entry":
        """A group or pod node: its children now when it starts open, else when it opens."""
        if self._starts_open(ref):
            return _Entry(ref, label, children())
        self._lazy[ref.key] = children
        return _Entry(ref, label, [], lazy=more)

    def get_label_width(self, node: TreeNode[Ref]) -> int:
        """The label's own width plus its icon: Tree's default renders every label of the tree again
        on each change to measure it (render_label cuts each to the pane anyway)."""
        return node.label.cell_len + 2

    def _materialize(self, parent: TreeNode[Ref], e: "_Entry", before: TreeNode[Ref] | None = None) -> TreeNode[Ref]:
        if e.children is None:
            return parent.add_leaf(e.label, data=e.ref, before=before)
        node = parent.add(e.label, data=e.ref, before=before, expand=not e.lazy and self._starts_open(e.ref))
        for child in e.children:
            self._materialize(node, child)
        if not e.children and not e.lazy:
            node.allow_expand = False
        return node

    def _load(self, node: TreeNode[Ref]) -> None:
        """Add the children of a node built closed (a no-op once they are there)."""
        build = self._lazy.pop(node.data.key, None) if node.data is not None else None
        if build is not None and not node.children:
            for child in build():
                self._materialize(node, child)

    def _find_or_load(self, ref: Ref) -> TreeNode[Ref] | None:
        """The node of `ref`, adding the children of the closed group and pod that hold it first."""
        node = self._find(ref.key)
        if node is None and ref.pod:
            for key in (("tag", "", "", self._groups.get(ref.pod) or UNTAGGED), ("pod", ref.pod, "", "")):
                holder = self._find(key)
                if holder is not None:
                    self._load(holder)
            node = self._find(ref.key)
        return node

    def _pod_entry(self, pod: PodStatus) -> "_Entry":
        ref = Ref("pod", pod.name)
        if not pod.up:
            last = self._last_up.get(pod.name)
            label = self._label(("✖ ", "down"), (pod.name, "name"), ("  down", "down"),
                                ("  (last known)" if last and last.collections else "", "dim"))
            return self._entry(ref, label, lambda: self._collection_groups(last, stale=True) if last else [],
                               bool(last and _listed(last)))
        label = self._label(("● ", "up"), (pod.name, "name"), (f"  {ms(pod.latency_ms)}", "dim"))
        wiring = pod.is_primary and bool(pod.foreign_servers or pod.foreign_tables or pod.views)
        return self._entry(ref, label, lambda: self._pod_children(pod), wiring or _listed(pod))

    def _pod_children(self, pod: PodStatus) -> list["_Entry"]:
        return (self._wiring_entries(pod) if pod.is_primary else []) + self._collection_groups(pod)

    def _grouped(self, topo: Topology) -> list["_Entry"]:
        """The primary first, then one node per tag (in name order, `untagged` last) holding its pods;
        no tag at all: the pods stay at the top. A filter hides the pods where nothing matches."""
        top = self._pods_shown([p for p in topo.pods if p.is_primary])
        rest = [p for p in topo.pods if not p.is_primary]
        if not any(self._groups.get(p.name) for p in rest):
            return top + self._pods_shown(rest)
        groups: dict[str, list[PodStatus]] = {}
        for p in rest:
            groups.setdefault(self._groups.get(p.name) or UNTAGGED, []).append(p)
        for tag in sorted(groups, key=lambda t: (t == UNTAGGED, t)):
            members = groups[tag]
            entry = self._entry(Ref("tag", "", "", tag), self._group_label(tag, members),
                                partial(self._pods_shown, members), True)
            if entry.lazy or entry.children:
                top.append(entry)
        return top

    def _pods_shown(self, pods: list[PodStatus]) -> list["_Entry"]:
        entries = [self._pod_entry(p) for p in pods]
        if self._filter:
            entries = [e for e in entries if e.children or self._match(e.ref.pod)]
        return entries

    def _group_label(self, tag: str, pods: list[PodStatus]) -> Text:
        up = sum(p.up for p in pods)
        down = len(pods) - up
        colls = sum(1 for p in pods for c in p.collections if c.kind != "foreign")
        return self._label((tag, "name"), (f"  ●{up}", "up"), (f" ✖{down}" if down else "", "down"),
                           (f"  {colls} coll. · {len(pods)} pods", "dim"))

    def _collection_groups(self, pod: PodStatus, stale: bool = False) -> list["_Entry"]:
        """Schema groups with their collections; `stale` (a down pod as last seen) dims the names."""
        out = []
        schemas: dict[str, list[Collection]] = {}
        for c in pod.collections:
            # foreign tables on the primary are listed under "foreign tables", not as collections
            if c.kind != "foreign" and self._match(c.name, c.qualified, pod.name):
                schemas.setdefault(c.schema, []).append(c)
        for schema, colls in sorted(schemas.items()):
            group = _Entry(Ref("schema", pod.name, schema), self._label((schema, None)), [])
            for c in sorted(colls, key=lambda c: c.name):
                dims = f"{c.dimension}d" if c.dimension else c.type
                badge = index_badge(c)
                group.children.append(_Entry(
                    Ref("collection", pod.name, schema, c.name),
                    self._label(
                        (c.name, "dim" if stale else "name"),
                        (f"  {dims}  {human_count(c.rows_estimate)}  ", "dim"),
                        (badge, "dim" if stale else "ok" if badge.startswith("⚡") else "warn"),
                    ),
                ))
            out.append(group)
        return out

    def _wiring_entries(self, pod: PodStatus) -> list["_Entry"]:
        out = []
        servers = [s for s in pod.foreign_servers if s.fdw == "postgres_fdw" and self._match(s.name)]
        if servers:
            g = _Entry(Ref("group", pod.name, "", "servers"), self._label(("wiring", None)), [])
            for s in servers:
                target = server_reach(s, self._endpoints).label()
                good = s.pushdown_vector
                g.children.append(_Entry(
                    Ref("server", pod.name, "", s.name),
                    self._label(
                        ("✔ " if good else "⚠ ", "ok" if good else "warn"),
                        (s.name, "name"),
                        (f" → {target}  ", "dim"),
                        ("pushdown" if good else "slow", "ok" if good else "warn"),
                    ),
                ))
            out.append(g)
        fts = [f for f in pod.foreign_tables if self._match(f.qualified, f.remote_table)]
        if fts:
            g = _Entry(Ref("group", pod.name, "", "foreign"), self._label(("foreign tables", None)), [])
            for f in fts:
                g.children.append(_Entry(
                    Ref("foreign_table", pod.name, f.schema, f.name),
                    self._label((f.qualified, "name"), (f" → {f.remote_schema}.{f.remote_table}", "dim")),
                ))
            out.append(g)
        views = [v for v in pod.views if v.reads and self._match(v.qualified, *v.reads)]
        if views:
            g = _Entry(Ref("group", pod.name, "", "views"), self._label(("views", None)), [])
            for v in views:
                g.children.append(_Entry(
                    Ref("view", pod.name, v.schema, v.name),
                    self._label((v.qualified, "name"), (f" → {', '.join(v.reads)}", "dim")),
                ))
            out.append(g)
        return out

    def _find(self, key: tuple) -> TreeNode[Ref] | None:
        stack = list(self.root.children)
        while stack:
            n = stack.pop()
            if n.data is not None and n.data.key == key:
                return n
            stack.extend(n.children)
        return None

    # --- events ------------------------------------------------------------------------------

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Ref]) -> None:
        event.stop()
        self._announce(event.node.data)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Ref]) -> None:
        event.stop()
        if event.node.data is not None:
            self._open[event.node.data.key] = False

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Ref]) -> None:
        event.stop()
        if event.node.data is not None:
            self._open[event.node.data.key] = True
            self._load(event.node)


@dataclass
class _Entry:
    """One node to show: children None for a leaf, [] for a group that is empty now."""

    ref: Ref
    label: Text
    children: list["_Entry"] | None = None
    lazy: bool = False  # closed, with children built when it opens


def _shape(entries: list[_Entry]) -> tuple:
    return tuple((e.ref.key, "lazy" if e.lazy else None if e.children is None else _shape(e.children))
                 for e in entries)


def _listed(pod: PodStatus) -> bool:
    """Whether a pod has collections the tree lists (foreign tables are listed under the wiring)."""
    return any(c.kind != "foreign" for c in pod.collections)


def _relabel(parent: TreeNode[Ref], entries: list[_Entry]) -> None:
    for node, e in zip(parent.children, entries):
        if node._label is not e.label and node._label != e.label:
            node.set_label(e.label)
        if e.children:
            _relabel(node, e.children)


def _ancestors(node: TreeNode) -> list[TreeNode]:
    out = []
    p = node.parent
    while p is not None:
        out.append(p)
        p = p.parent
    return out
