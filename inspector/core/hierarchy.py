"""Group a state_dict's dotted keys into the module hierarchy they spell.

``{"features.0.weight": t, "features.0.bias": t, "classifier.weight": t}`` reads better as
``features ▸ 0 ▸ weight`` with the parameter count of each module beside it. The groups are
virtual: the checkpoint's own Node tree is left untouched, so a key path still names the
tensor exactly as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inspector.core.checkpoint import DICT, TENSOR, Node
from inspector.core.text import safe_str

MIN_DOTTED_KEYS = 1  # a dict needs at least this many dotted keys to count as a state_dict
MAX_GROUP_DEPTH = 32  # module levels made from one key; deeper segments stay in one group name


@dataclass(eq=False, slots=True)
class ModuleGroup:
    """One module of a state_dict: the tensors and submodules under a dotted prefix.

    ``name`` is what the tree shows (``"0"``, or ``"encoder.layer"`` when single-child chains
    are collapsed); :attr:`prefix` the full dotted prefix (``"features.0"``), built from the
    parents on demand so that a hierarchy costs memory proportional to its keys' length (a
    key of many dots would otherwise store one long prefix string per segment). ``numel``,
    ``nbytes`` and ``num_tensors`` count every tensor below, however deep.
    """

    name: str
    parent: ModuleGroup | None = None
    children: list[ModuleGroup | Node] = field(default_factory=list)
    numel: int = 0
    nbytes: int = 0
    num_tensors: int = 0

    @property
    def prefix(self) -> str:
        names = []
        group: ModuleGroup | None = self
        while group is not None and group.parent is not None:
            names.append(group.name)
            group = group.parent
        return ".".join(reversed(names))


def is_state_dict_like(node: Node) -> bool:
    """True for a dict whose keys are strings, at least one dotted, and whose values are tensors."""
    if node.kind != DICT or not node.children:
        return False
    dotted = 0
    for child in node.children:
        if child.kind != TENSOR or not isinstance(child.key, str):
            return False
        if "." in child.key:
            dotted += 1
    return dotted >= MIN_DOTTED_KEYS


def leaf_name(node: Node) -> str:
    """The last dotted segment of a tensor's key (``"weight"`` for ``"features.0.weight"``)."""
    return safe_str(node.key).rsplit(".", 1)[-1]


def group_dotted_keys(children: list[Node], collapse: bool = True) -> list[ModuleGroup | Node]:
    """The module hierarchy spelled by the children's dotted keys, in first-seen order.

    Each tensor becomes a leaf under the groups named by its key's segments (at most
    :data:`MAX_GROUP_DEPTH` levels: the deeper segments of a hostile key of thousands of dots
    stay together in the last group's name, so memory is bounded by the number of keys); a
    key without a dot stays at the top. With ``collapse``, a group whose only child is another group is
    merged with it (``model ▸ encoder`` becomes ``model.encoder``), so deep single-module
    wrappers do not cost a click each. The Nodes themselves are returned, not copies.
    """
    top = ModuleGroup(name="")
    # Groups by (parent, segment): memory stays proportional to the keys' total length
    # whatever their depth. Siblings ("h.0.attn.weight", "h.0.attn.bias") find their group
    # with one lookup of the whole prefix first. The key ".x" belongs to a group named "".
    groups: dict[tuple[ModuleGroup, str], ModuleGroup] = {}
    last_prefix: str | None = None
    last_group = top
    for node in children:
        prefix, dot, _leaf = safe_str(node.key).rpartition(".")
        if not dot:
            top.children.append(node)
            continue
        if prefix != last_prefix:
            parent = top
            for part in prefix.split(".", MAX_GROUP_DEPTH - 1):
                group = groups.get((parent, part))
                if group is None:
                    group = ModuleGroup(name=part, parent=parent)
                    groups[(parent, part)] = group
                    parent.children.append(group)
                parent = group
            last_prefix, last_group = prefix, parent
        last_group.children.append(node)
    _count(top)
    if collapse:
        top.children = [_collapse(c) if isinstance(c, ModuleGroup) else c for c in top.children]
    return top.children


def module_hierarchy(node: Node, collapse: bool = True) -> list[ModuleGroup | Node] | None:
    """The grouped children of a state_dict-like dict node, or None for any other node."""
    if not is_state_dict_like(node):
        return None
    return group_dotted_keys(node.children, collapse=collapse)


# ---- Private API
def _count(root: ModuleGroup) -> None:
    """Fill numel/nbytes/num_tensors bottom-up without recursion (hierarchies can be deep)."""
    order: list[ModuleGroup] = []
    stack = [root]
    while stack:
        group = stack.pop()
        order.append(group)
        stack.extend(c for c in group.children if isinstance(c, ModuleGroup))
    itemsizes: dict[str, int] = {}  # per dtype: the property looks it up in a table each time
    for group in reversed(order):  # children before parents
        numel = nbytes = count = 0
        for c in group.children:
            if isinstance(c, ModuleGroup):
                numel += c.numel
                nbytes += c.nbytes
                count += c.num_tensors
            elif c.tensor is not None:
                info = c.tensor
                n = info.numel
                size = itemsizes.get(info.dtype)
                if size is None:
                    size = itemsizes[info.dtype] = info.itemsize
                numel += n
                nbytes += n * size
                count += 1
        group.numel, group.nbytes, group.num_tensors = numel, nbytes, count


def _collapse(group: ModuleGroup) -> ModuleGroup:
    stack = [group]
    while stack:
        g = stack.pop()
        while len(g.children) == 1 and isinstance(g.children[0], ModuleGroup):
            only = g.children[0]
            g.name = f"{g.name}.{only.name}"
            g.children = only.children
            for c in g.children:
                if isinstance(c, ModuleGroup):
                    c.parent = g
        stack.extend(c for c in g.children if isinstance(c, ModuleGroup))
    return group
