"""Topology pane: pods -> schemas -> collections, and the primary's wiring (servers, foreign tables, views).

Rebuilt from one Topology on every refresh, keeping which nodes were open and where the cursor was,
and each down pod's last-known collections (dimmed) from the last refresh that saw it up. While a
refresh's pods arrive, only the pods that changed are rebuilt (`show` compares PodStatus objects):
hundreds of pods answering cost the UI loop a few pods' nodes at a time, not the whole tree.
Badges carry state (● up / ✖ down, ✔ pushdown / ⚠ slow, ⚡ indexed); details live in the Stats pane.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from vecdash.model import Collection, PodStatus, Topology
from vecdash.service.stats import Pods, server_reach
from vecdash.tui.text import styled
from vecdash.units import human_count, ms


@dataclass(frozen=True)
class Ref:
    """What a tree node stands for. kind: pod | group | schema | collection | server | foreign_table | view."""

    kind: str
    pod: str
    schema: str = ""
    name: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.kind, self.pod, self.schema, self.name)


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
        self._collapsed: set[tuple] = set()  # nodes the user closed stay closed across refreshes
        self._shape: tuple = ()
        self._shown: dict[str, PodStatus] = {}  # the PodStatus each pod's nodes were built from
        self._pod_shapes: dict[str, tuple] = {}
        self._last_up: dict[str, PodStatus] = {}  # each pod as last seen up: a down pod keeps its collections

    # --- data in ---------------------------------------------------------------------------

    def show(self, topology: Topology, endpoints: list | None = None) -> None:
        self._topology = topology
        self._last_up.update((p.name, p) for p in topology.pods if p.up)
        if endpoints is not None:
            self._endpoints = endpoints
        if not self._update_pods(topology):
            self._rebuild()

    def set_filter(self, text: str) -> None:
        self._filter = text.strip().lower()
        self._rebuild()

    @property
    def selected_ref(self) -> Ref | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def select_ref(self, ref: Ref) -> bool:
        node = self._find(ref.key)
        if node is None:
            return False
        for parent in _ancestors(node):
            if parent is not self.root:
                parent.expand()
        self._place_cursor(node)
        return True

    def _place_cursor(self, node: TreeNode[Ref]) -> None:
        self._tree_lines  # noqa: B018 - rebuilds line numbers after adds/expands so the cursor lands right
        self.move_cursor(node)

    # --- building ----------------------------------------------------------------------------

    def _st(self, name: str):
        return self.get_component_rich_style(f"topology--{name}", partial=True)

    def _label(self, *parts: tuple[str, str | None]) -> Text:
        text = styled(*((chunk, self._st(style) if style else None) for chunk, style in parts))
        text.no_wrap, text.overflow = True, "ellipsis"
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
        Otherwise rebuild, keeping the cursor on the same object when it still exists."""
        topo = self._topology
        if topo is None:
            return
        entries = [self._pod_entry(pod) for pod in topo.pods]
        shape = _shape(entries)
        if shape == self._shape and self.root.children:
            _relabel(self.root, entries)
            self._shown = {p.name: p for p in topo.pods}
            return
        keep = self.selected_ref
        self.clear()
        for e in entries:
            self._materialize(self.root, e)
        self._shape = shape
        self._shown = {p.name: p for p in topo.pods}
        self._pod_shapes = {e.ref.pod: _shape([e]) for e in entries}
        node = self._find(keep.key) if keep else None
        if node is None and self.root.children:
            node = self.root.children[0]
        if node is not None:
            self._place_cursor(node)

    def _update_pods(self, topo: Topology) -> bool:
        """Rebuild only the pods whose PodStatus is not the one shown (new pods are inserted in place);
        False when the whole tree must be rebuilt: first show, a filter, pods gone or reordered."""
        children = self.root.children
        nodes = {n.data.pod: n for n in children if n.data is not None and n.data.kind == "pod"}
        if self._filter or not nodes or len(nodes) != len(children):
            return False
        if [p.name for p in topo.pods if p.name in nodes] != [n.data.pod for n in children]:
            return False
        keep = self.selected_ref
        after: TreeNode[Ref] | None = None
        for pod in topo.pods:
            node = nodes.get(pod.name)
            if node is not None and self._shown.get(pod.name) is pod:
                after = node
                continue
            entry = self._pod_entry(pod)
            shape = _shape([entry])
            if node is None:
                node = self._materialize(self.root, entry, after=after, before=0 if after is None else None)
            elif shape == self._pod_shapes.get(pod.name):
                _relabel(self.root, [entry], [node])
            else:
                node.remove_children()
                node.set_label(entry.label)
                for child in entry.children or []:
                    self._materialize(node, child)
                node.allow_expand = bool(entry.children)
            self._shown[pod.name], self._pod_shapes[pod.name] = pod, shape
            after = node
        self._shape = tuple(s for p in topo.pods for s in self._pod_shapes[p.name])
        if keep is not None and (self.cursor_node is None or self.cursor_node.data != keep):
            node = self._find(keep.key)
            if node is not None:
                self._place_cursor(node)
        return True

    def get_label_width(self, node: TreeNode[Ref]) -> int:
        """The label's own width plus its icon: Tree's default renders every label of the tree again
        on each change to measure it (render_label cuts each to the pane anyway)."""
        return node.label.cell_len + 2

    def _materialize(self, parent: TreeNode[Ref], e: "_Entry", **where) -> TreeNode[Ref]:
        """Add `e` under `parent` (`where`: Tree's before=/after= placement)."""
        if e.children is None:
            return parent.add_leaf(e.label, data=e.ref, **where)
        node = parent.add(e.label, data=e.ref, expand=e.ref.key not in self._collapsed or bool(self._filter), **where)
        for child in e.children:
            self._materialize(node, child)
        if not e.children:
            node.allow_expand = False
        return node

    def _pod_entry(self, pod: PodStatus) -> "_Entry":
        ref = Ref("pod", pod.name)
        if not pod.up:
            last = self._last_up.get(pod.name)
            label = self._label(("✖ ", "down"), (pod.name, "name"), ("  down", "down"),
                                ("  (last known)" if last and last.collections else "", "dim"))
            return _Entry(ref, label, self._collection_groups(last, stale=True) if last else [])
        entry = _Entry(ref, self._label(("● ", "up"), (pod.name, "name"), (f"  {ms(pod.latency_ms)}", "dim")), [])
        if pod.is_primary:
            entry.children += self._wiring_entries(pod)
        entry.children += self._collection_groups(pod)
        return entry

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
        self.post_message(self.Selected(event.node.data))

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed[Ref]) -> None:
        event.stop()
        if event.node.data is not None:
            self._collapsed.add(event.node.data.key)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[Ref]) -> None:
        event.stop()
        if event.node.data is not None:
            self._collapsed.discard(event.node.data.key)


@dataclass
class _Entry:
    """One node to show: children None for a leaf, [] for a group that is empty now."""

    ref: Ref
    label: Text
    children: list["_Entry"] | None = None


def _shape(entries: list[_Entry]) -> tuple:
    return tuple((e.ref.key, None if e.children is None else _shape(e.children)) for e in entries)


def _relabel(parent: TreeNode[Ref], entries: list[_Entry], nodes: list[TreeNode[Ref]] | None = None) -> None:
    """Set changed labels in place; `nodes`: which of parent's children the entries are (default: all)."""
    for node, e in zip(parent.children if nodes is None else nodes, entries):
        if node._label != e.label:
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
