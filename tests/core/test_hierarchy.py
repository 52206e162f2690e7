"""Dotted state_dict keys grouped into a module hierarchy (Qt-free)."""

from __future__ import annotations

from inspector.core.checkpoint import DICT, TENSOR, Node, TensorInfo
from inspector.core.formats import open_checkpoint
from inspector.core.hierarchy import (
    ModuleGroup,
    group_dotted_keys,
    is_state_dict_like,
    leaf_name,
    module_hierarchy,
)


def _dict(keys_shapes: dict[str, tuple[int, ...]]) -> Node:
    root = Node(None, DICT, "OrderedDict")
    for key, shape in keys_shapes.items():
        root.add(key, TENSOR, type_name="Tensor",
                 tensor=TensorInfo("float32", shape, (1,) * len(shape), 0, None))
    return root


def _names(items) -> list[str]:
    return [c.name if isinstance(c, ModuleGroup) else leaf_name(c) for c in items]


def test_groups_follow_dotted_keys_in_first_seen_order():
    d = _dict({"features.0.weight": (8, 3), "features.0.bias": (8,), "features.2.weight": (4, 8),
               "classifier.weight": (2, 4), "scale": (1,)})
    top = group_dotted_keys(d.children, collapse=False)
    assert _names(top) == ["features", "classifier", "scale"]
    features = top[0]
    assert _names(features.children) == ["0", "2"]
    assert _names(features.children[0].children) == ["weight", "bias"]
    assert features.children[0].children[0] is d.children[0]  # the Nodes themselves
    assert features.prefix == "features" and features.children[1].prefix == "features.2"


def test_parameter_counts_sum_every_tensor_below():
    d = _dict({"a.0.weight": (8, 3), "a.0.bias": (8,), "a.1.weight": (4, 8), "b.w": (2, 2)})
    a, b = group_dotted_keys(d.children, collapse=False)
    assert (a.numel, a.num_tensors, a.nbytes) == (24 + 8 + 32, 3, (24 + 8 + 32) * 4)
    assert a.children[0].numel == 32 and a.children[1].numel == 32
    assert (b.numel, b.num_tensors) == (4, 1)


def test_single_child_chains_collapse():
    d = _dict({"model.encoder.layer.0.w": (2,), "model.encoder.layer.1.w": (3,),
               "model.head.w": (1,)})
    (model,) = group_dotted_keys(d.children)
    assert model.name == "model"  # two children: encoder and head
    encoder = model.children[0]
    assert encoder.name == "encoder.layer" and encoder.prefix == "model.encoder.layer"
    assert _names(encoder.children) == ["0", "1"]
    assert encoder.numel == 5
    only = group_dotted_keys(_dict({"net.block.w": (2,), "net.block.b": (2,)}).children)
    assert only[0].name == "net.block" and _names(only[0].children) == ["w", "b"]


def test_only_tensor_dicts_with_dotted_string_keys_are_state_dicts():
    assert is_state_dict_like(_dict({"a.w": (1,), "b": (1,)}))
    assert not is_state_dict_like(_dict({"w": (1,), "b": (1,)}))  # nothing to group
    assert not is_state_dict_like(Node(None, DICT, "dict"))
    mixed = _dict({"a.w": (1,)})
    mixed.add("epoch", "scalar", type_name="int", value=3)
    assert not is_state_dict_like(mixed)
    assert module_hierarchy(mixed) is None


def iter_groups(items):
    """Every ModuleGroup in ``items`` and below, parents first."""
    stack = [c for c in reversed(items) if isinstance(c, ModuleGroup)]
    while stack:
        group = stack.pop()
        yield group
        stack.extend(c for c in reversed(group.children) if isinstance(c, ModuleGroup))


def test_odd_keys_do_not_break_grouping():
    d = _dict({".w": (1,), "a..b": (2,), "a": (3,), "a.c": (4,), "trailing.": (5,)})
    top = group_dotted_keys(d.children, collapse=False)
    total = sum(c.numel if isinstance(c, ModuleGroup) else c.tensor.numel for c in top)
    assert total == 15  # every tensor is placed exactly once
    leaves = [n for g in iter_groups(top) for n in g.children if not isinstance(n, ModuleGroup)]
    leaves += [n for n in top if not isinstance(n, ModuleGroup)]
    assert sorted(n.key for n in leaves) == sorted(c.key for c in d.children)


def test_deep_hierarchy_without_recursion():
    key = ".".join(f"m{i}" for i in range(3000)) + ".w"
    top = group_dotted_keys(_dict({key: (2,), "x.w": (1,)}).children)
    assert top[0].name.count(".") == 2999  # the whole chain collapsed into one group
    assert top[0].numel == 2


def test_real_state_dict(state_dict_ckpt, training_ckpt):
    with open_checkpoint(state_dict_ckpt) as ck:
        top = module_hierarchy(ck.root)
        assert _names(top) == ["0", "2"]
        assert top[0].numel == 4 * 8 + 8 and top[1].numel == 8 * 2 + 2
    with open_checkpoint(training_ckpt) as ck:
        assert module_hierarchy(ck.root) is None  # the outer dict holds an int and a float
        groups = module_hierarchy(ck.find(["model_state_dict"]))
        assert _names(groups) == ["0", "1", "5"]
        bn = groups[1]
        assert _names(bn.children) == ["weight", "bias", "running_mean", "running_var",
                                       "num_batches_tracked"]
