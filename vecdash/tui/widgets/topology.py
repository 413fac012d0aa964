"""Topology pane: pods -> schemas -> collections, and the primary's wiring (servers, foreign tables, views).

Rebuilt from one Topology on every refresh, keeping which nodes were open and where the cursor was.
Badges carry state (● up / ✖ down, ✔ pushdown / ⚠ slow, ⚡ indexed); details live in the Stats pane.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from vecdash.model import Collection, PodStatus, Topology
from vecdash.service.stats import server_pod
from vecdash.tui.format import human_count, ms


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
        self._endpoints: dict = {}
        self._filter = ""
        self._collapsed: set[tuple] = set()  # nodes the user closed stay closed across refreshes

    # --- data in ---------------------------------------------------------------------------

    def show(self, topology: Topology, endpoints: dict | None = None) -> None:
        self._topology = topology
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
        text = Text(no_wrap=True, overflow="ellipsis")
        for chunk, style in parts:
            text.append(chunk, self._st(style) if style else "")
        return text

    def _match(self, *names: str) -> bool:
        return not self._filter or any(self._filter in n.lower() for n in names)

    def _rebuild(self) -> None:
        topo = self._topology
        if topo is None:
            return
        keep = self.selected_ref
        self.clear()
        for pod in topo.pods:
            self._add_pod(pod)
        node = self._find(keep.key) if keep else None
        if node is None and self.root.children:
            node = self.root.children[0]
        if node is not None:
            self._place_cursor(node)

    def _group(self, parent: TreeNode[Ref], ref: Ref, label: Text) -> TreeNode[Ref]:
        node = parent.add(label, data=ref, expand=ref.key not in self._collapsed or bool(self._filter))
        return node

    def _add_pod(self, pod: PodStatus) -> None:
        ref = Ref("pod", pod.name)
        if pod.up:
            label = self._label(("● ", "up"), (pod.name, "name"), (f"  {ms(pod.latency_ms)}", "dim"))
        else:
            label = self._label(("✖ ", "down"), (pod.name, "name"), ("  down", "down"))
        node = self._group(self.root, ref, label)
        if not pod.up:
            node.allow_expand = False
            return
        if pod.is_primary:
            self._add_wiring(node, pod)
        schemas: dict[str, list[Collection]] = {}
        for c in pod.collections:
            # foreign tables on the primary are listed under "foreign tables", not as collections
            if c.kind != "foreign" and self._match(c.name, c.qualified, pod.name):
                schemas.setdefault(c.schema, []).append(c)
        for schema, colls in sorted(schemas.items()):
            snode = self._group(node, Ref("schema", pod.name, schema), self._label((schema, None)))
            for c in sorted(colls, key=lambda c: c.name):
                dims = f"{c.dimension}d" if c.dimension else c.type
                badge = index_badge(c)
                snode.add_leaf(
                    self._label(
                        (c.name, "name"),
                        (f"  {dims}  {human_count(c.rows_estimate)}  ", "dim"),
                        (badge, "ok" if badge.startswith("⚡") else "warn"),
                    ),
                    data=Ref("collection", pod.name, schema, c.name),
                )
        if not node.children:
            node.allow_expand = False

    def _add_wiring(self, node: TreeNode[Ref], pod: PodStatus) -> None:
        servers = [s for s in pod.foreign_servers if s.fdw == "postgres_fdw" and self._match(s.name)]
        if servers:
            g = self._group(node, Ref("group", pod.name, "", "servers"), self._label(("wiring", None)))
            for s in servers:
                target = server_pod(s, self._endpoints) or s.options.get("host", "?")
                good = s.pushdown_vector
                g.add_leaf(
                    self._label(
                        ("✔ " if good else "⚠ ", "ok" if good else "warn"),
                        (s.name, "name"),
                        (f" → {target}  ", "dim"),
                        ("pushdown" if good else "slow", "ok" if good else "warn"),
                    ),
                    data=Ref("server", pod.name, "", s.name),
                )
        fts = [f for f in pod.foreign_tables if self._match(f.qualified, f.remote_table)]
        if fts:
            g = self._group(node, Ref("group", pod.name, "", "foreign"), self._label(("foreign tables", None)))
            for f in fts:
                g.add_leaf(
                    self._label((f.qualified, "name"), (f" → {f.remote_schema}.{f.remote_table}", "dim")),
                    data=Ref("foreign_table", pod.name, f.schema, f.name),
                )
        views = [v for v in pod.views if v.reads and self._match(v.qualified, *v.reads)]
        if views:
            g = self._group(node, Ref("group", pod.name, "", "views"), self._label(("views", None)))
            for v in views:
                g.add_leaf(
                    self._label((v.qualified, "name"), (f" → {', '.join(v.reads)}", "dim")),
                    data=Ref("view", pod.name, v.schema, v.name),
                )

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


def _ancestors(node: TreeNode) -> list[TreeNode]:
    out = []
    p = node.parent
    while p is not None:
        out.append(p)
        p = p.parent
    return out
