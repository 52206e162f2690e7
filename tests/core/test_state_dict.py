"""inspector.core.state_dict: where the weights are and which wrapper prefixes they carry."""

from __future__ import annotations

import torch

from inspector.core.formats import open_checkpoint
from inspector.core.state_dict import (
    find_weights,
    shared_wrapper_prefix,
    split_wrapper_prefix,
    state_dict_roots,
    strip_wrapper_prefixes,
    wrapper_names,
)


def _save(tmp_path, obj, name="c.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return open_checkpoint(str(path))


def _sd(prefix=""):
    return {f"{prefix}fc.weight": torch.zeros(2, 3), f"{prefix}fc.bias": torch.zeros(2),
            f"{prefix}bn.running_mean": torch.zeros(2),
            f"{prefix}bn.num_batches_tracked": torch.tensor(0)}


def test_bare_state_dict_at_the_root(tmp_path):
    w = find_weights(_save(tmp_path, _sd()))
    assert w.path == () and w.label == "root (a bare state_dict)" and w.prefix is None
    assert [e.name for e in w.entries] == ["fc.weight", "fc.bias", "bn.running_mean",
                                           "bn.num_batches_tracked"]
    assert [e.is_buffer for e in w.entries] == [False, False, True, True]
    assert w.shapes()["fc.weight"] == (2, 3)
    assert not w.from_module


def test_training_checkpoint_entry_wins_and_prefix_is_reported(tmp_path):
    ck = _save(tmp_path, {"epoch": 3, "model_state_dict": _sd("module."),
                          "optimizer": {"state": {}, "param_groups": []}})
    w = find_weights(ck)
    assert w.path == ("model_state_dict",) and w.prefix == "module."
    assert w.entries[0].path == ("model_state_dict", "module.fc.weight")
    assert state_dict_roots(ck) == [(), ("model_state_dict",)]


def test_fallback_finds_a_nested_state_dict_but_not_optimizer_state(tmp_path):
    ck = _save(tmp_path, {"optim": {"state": {0: {"exp_avg": torch.zeros(2)}},
                                    "param_groups": [{"params": [0]}]},
                          "meta": {"weights_here": _sd()}, "note": "x"})
    w = find_weights(ck)
    assert w.path == ("meta", "weights_here") and len(w.entries) == 4


def test_no_weights(tmp_path):
    w = find_weights(_save(tmp_path, {"epoch": 1, "lr": 0.1}))
    assert w.path is None and not w.found and w.entries == ()


def test_explicit_container(tmp_path):
    ck = _save(tmp_path, {"model": _sd(), "ema": _sd("model.")})
    w = find_weights(ck, container=("ema",))
    assert w.path == ("ema",) and w.prefix == "model."
    missing = find_weights(ck, container=("nope",))
    assert missing.path is None and "nope" in missing.label


def test_wrapper_prefix_helpers():
    assert split_wrapper_prefix("module._orig_mod.fc.weight") == ["module.", "_orig_mod."]
    assert split_wrapper_prefix("fc.weight") == []
    assert wrapper_names("module._orig_mod.") == ["DataParallel/DDP", "torch.compile"]
    assert shared_wrapper_prefix(["_orig_mod.a", "_orig_mod.b"]) == "_orig_mod."
    assert shared_wrapper_prefix(["module.a", "b"]) is None
    assert shared_wrapper_prefix([]) is None
    assert strip_wrapper_prefixes({"module._orig_mod.a": 1, "module._orig_mod.b": 2}) == {
        "a": 1, "b": 2}
    assert strip_wrapper_prefixes({"module.a": 1, "b": 2}) == {"module.a": 1, "b": 2}
