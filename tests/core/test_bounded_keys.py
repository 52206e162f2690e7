"""Issue 18, class 4: memory bounded by the file for many dotted keys and many views of one
storage (the module hierarchy and the "shared with" lists used to grow quadratically)."""

from __future__ import annotations

import torch

from inspector.core.checkpoint import MAX_SHARED_LISTED
from inspector.core.formats import open_checkpoint
from inspector.core.hierarchy import MAX_GROUP_DEPTH, ModuleGroup, module_hierarchy


def _groups(items) -> list[ModuleGroup]:
    out, stack = [], [c for c in items if isinstance(c, ModuleGroup)]
    while stack:
        g = stack.pop()
        out.append(g)
        stack.extend(c for c in g.children if isinstance(c, ModuleGroup))
    return out


def test_deep_dotted_keys_make_a_bounded_number_of_groups(tmp_path):
    n, depth = 200, 400
    base = torch.zeros(2)
    path = tmp_path / "dotted.pth"
    torch.save({f"k{i}." + "x." * depth + "w": base for i in range(n)}, path)
    ck = open_checkpoint(path)
    groups = _groups(module_hierarchy(ck.root, collapse=False))
    assert len(groups) == n * MAX_GROUP_DEPTH  # not n * (depth + 1)
    deepest = max(groups, key=lambda g: g.prefix.count("."))
    # the key's deeper segments stay together in the last group's name
    assert deepest.prefix.count(".") == depth
    assert deepest.name.count(".") == depth - (MAX_GROUP_DEPTH - 1)
    assert deepest.num_tensors == 1 and deepest.children[0].key.startswith(deepest.prefix + ".")


def test_shallow_hierarchy_prefixes_are_the_dotted_prefix(tmp_path):
    path = tmp_path / "m.pth"
    torch.save({"enc.layer.0.weight": torch.zeros(2), "enc.layer.1.weight": torch.zeros(2),
                "head.bias": torch.zeros(1)}, path)
    ck = open_checkpoint(path)
    top = module_hierarchy(ck.root)
    names = {g.name: g for g in top}
    assert set(names) == {"enc.layer", "head"}  # the single-child chain enc ▸ layer collapsed
    assert [g.prefix for g in names["enc.layer"].children] == ["enc.layer.0", "enc.layer.1"]


def test_many_views_of_one_storage_list_a_bounded_number_of_others(tmp_path):
    n = 3000
    base = torch.arange(8.0)
    path = tmp_path / "views.pth"
    torch.save({f"v{i}": base[1:] for i in range(n)}, path)
    ck = open_checkpoint(path)
    others, count = ck.shared_with(("v0",))
    assert count == n - 1
    assert len(others) == MAX_SHARED_LISTED and ("v0",) not in others
    assert others[0] == ("v1",)
    assert ck.shared_with(("v5",), limit=3) == ([("v0",), ("v1",), ("v2",)], n - 1)
    assert ck.shared_with(("missing",)) == ([], 0)
