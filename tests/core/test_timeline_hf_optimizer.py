"""A Hugging Face Trainer run's Adam moments (``optimizer.pt`` beside ``model.safetensors``)
reach the timeline under their parameters' names, only when the naming is certain.

The run is a real ``transformers.Trainer`` run (tiny models, a few steps on the CPU); the
expected norms come from ``torch.load`` of each ``optimizer.pt`` and the Trainer's own
grouping of the model's parameters."""

from __future__ import annotations

import json
import math
import os

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from inspector.core.timeline import hf_optimizer  # noqa: E402
from inspector.core.timeline.build import build_timeline  # noqa: E402

STEPS = (2, 4, 6)


def _bert():
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=32)
    return transformers.BertForMaskedLM(cfg)


def _gpt2():  # LayerNorms named ln_1/ln_f (only their type keeps them out of decay), tied head
    cfg = transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=32)
    return transformers.GPT2LMHeadModel(cfg)


class _Tokens(torch.utils.data.Dataset):
    def __len__(self):
        return 32

    def __getitem__(self, i):
        ids = torch.randint(0, 64, (8,), generator=torch.Generator().manual_seed(i))
        return {"input_ids": ids, "labels": ids}


def _train(folder, make_model):
    torch.manual_seed(0)
    model = make_model()
    args = transformers.TrainingArguments(
        output_dir=str(folder), max_steps=STEPS[-1], save_steps=STEPS[0],
        per_device_train_batch_size=8, learning_rate=1e-2, report_to=[], use_cpu=True,
        seed=0, disable_tqdm=True)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_Tokens())
    trainer.train()
    decay = set(trainer.get_decay_parameter_names(model))
    names = [n for n, _p in model.named_parameters()]
    return [n for n in names if n in decay] + [n for n in names if n not in decay]


def _expected(folder, order):
    """name -> [(‖exp_avg‖, ‖exp_avg_sq‖) per checkpoint], from torch.load."""
    out = {n: [] for n in order}
    for step in STEPS:
        sd = torch.load(os.path.join(folder, f"checkpoint-{step}", "optimizer.pt"),
                        weights_only=True)
        ids = [i for g in sd["param_groups"] for i in g["params"]]
        assert len(ids) == len(order)
        for i, name in zip(ids, order):
            st = sd["state"][i]
            out[name].append((st["exp_avg"].double().norm().item(),
                              st["exp_avg_sq"].double().norm().item()))
    return out


@pytest.fixture(scope="module", params=[_bert, _gpt2], ids=["bert", "gpt2"])
def trained(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param.__name__.strip("_"))
    order = _train(folder, request.param)
    return folder, order


@pytest.fixture(autouse=True)
def _fresh_orders():
    hf_optimizer._GROUPINGS.clear()
    yield
    hf_optimizer._GROUPINGS.clear()


def test_trainer_run_moments_are_named_as_the_trainer_grouped_them(trained):
    folder, order = trained
    tl = build_timeline(str(folder), cache_dir=None)
    assert tl.steps == list(STEPS)
    expected = _expected(folder, order)
    decay_rule_matters = any(not n.endswith(".weight") for n in order)  # biases, norms
    assert decay_rule_matters
    for name in order:
        series = tl.series(name)
        assert series is not None, name
        assert series.metric("exp_avg") == pytest.approx(
            [m for m, _v in expected[name]], rel=1e-12), name
        assert series.metric("exp_avg_sq") == pytest.approx(
            [v for _m, v in expected[name]], rel=1e-12), name
    # the module rows combine their parameters' moments
    module = tl.series("transformer.h.0.ln_1" if "transformer.h.0.ln_1.weight" in order
                       else "bert.embeddings.LayerNorm")
    want = [math.sqrt(sum(expected[n][i][0] ** 2 for n in order
                          if n.startswith(module.name + "."))) for i in range(len(STEPS))]
    assert module.metric("exp_avg") == pytest.approx(want, rel=1e-12)


def test_named_moments_survive_the_cache(trained, tmp_path):
    folder, order = trained
    fresh = build_timeline(str(folder), cache_dir=str(tmp_path))
    cached = build_timeline(str(folder), cache_dir=str(tmp_path))
    for name in order:
        assert cached.series(name).metric("exp_avg") == fresh.series(name).metric("exp_avg")
        assert None not in cached.series(name).metric("exp_avg")


def test_a_grouping_no_rule_gives_keeps_numbers_not_wrong_names(trained, tmp_path):
    """One checkpoint's optimizer regrouped (group sizes no rule produces): nothing named."""
    import shutil

    from inspector.core.formats import open_checkpoint

    folder, order = trained
    src = tmp_path / "checkpoint-2"
    shutil.copytree(folder / f"checkpoint-{STEPS[0]}", src)
    sd = torch.load(src / "optimizer.pt", weights_only=True)
    ids = [i for g in sd["param_groups"] for i in g["params"]]
    sd["param_groups"] = [dict(sd["param_groups"][0], params=ids[:3]),
                          dict(sd["param_groups"][1], params=ids[3:])]
    torch.save(sd, src / "optimizer.pt")
    weights = open_checkpoint(str(src))
    try:
        norms = hf_optimizer.folder_moment_norms(str(src), weights)
    finally:
        weights.close()
    assert len(norms) == len(order)
    assert all(k.startswith("optimizer 0 parameter ") for k in norms)


def test_without_transformers_a_bin_folder_is_named_in_its_file_order(tmp_path, monkeypatch):
    """No model to build: the weight file's parameter order is the only candidate (right for
    a pytorch_model.bin written from state_dict() with one param group)."""
    from inspector.core.inference.zoo import libraries

    monkeypatch.setattr(libraries, "library", lambda name: None)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for step in (1, 2):
        model(torch.randn(5, 4)).square().mean().backward()
        opt.step()
        opt.zero_grad()
        ck = tmp_path / f"checkpoint-{step}"
        ck.mkdir()
        torch.save(model.state_dict(), ck / "pytorch_model.bin")
        torch.save(opt.state_dict(), ck / "optimizer.pt")
        (ck / "config.json").write_text(json.dumps({"model_type": "custom-mlp"}))
        (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    tl = build_timeline(str(tmp_path), cache_dir=None)
    state = opt.state_dict()["state"]
    for i, (name, _p) in enumerate(model.named_parameters()):
        assert tl.series(name).metric("exp_avg")[-1] == pytest.approx(
            state[i]["exp_avg"].double().norm().item(), rel=1e-12)


def test_a_broken_or_outside_optimizer_file_is_left_out(tmp_path):
    import shutil

    from safetensors.torch import save_file

    from inspector.core.formats import open_checkpoint

    layer = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(layer.parameters())
    layer(torch.ones(1, 2)).sum().backward()
    opt.step()
    outside = tmp_path / "elsewhere.pt"
    torch.save(opt.state_dict(), outside)
    for step, make in ((1, lambda p: p.write_bytes(b"PK\x03\x04 truncated")),
                       (2, lambda p: p.symlink_to(outside)),
                       (3, lambda p: shutil.copy(outside, p))):
        ck = tmp_path / "run" / f"checkpoint-{step}"
        ck.mkdir(parents=True)
        save_file({"weight": torch.full((2, 2), float(step)), "bias": torch.zeros(2)},
                  str(ck / "model.safetensors"))
        (ck / "config.json").write_text(json.dumps({"model_type": "test"}))
        (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        make(ck / "optimizer.pt")
    tl = build_timeline(str(tmp_path / "run"), cache_dir=None)
    assert tl.series("weight").metric("l2") == pytest.approx([2.0, 4.0, 6.0])
    # the copy inside its folder is read (one group, file order: bias, weight do not fit the
    # optimizer's weight, bias: numbered); the link out of the folder and the broken file not
    assert tl.series("weight").metric("exp_avg") == [None, None, None]
    norms = []
    for step in (1, 2, 3):
        weights = open_checkpoint(str(tmp_path / "run" / f"checkpoint-{step}"))
        norms.append(hf_optimizer.folder_moment_norms(weights.path, weights))
        weights.close()
    assert norms[0] == {} and norms[1] == {}
    assert sorted(norms[2]) == ["optimizer 0 parameter 0", "optimizer 0 parameter 1"]
    assert norms[2]["optimizer 0 parameter 0"]["exp_avg"] == pytest.approx(
        opt.state_dict()["state"][0]["exp_avg"].double().norm().item(), rel=1e-12)


def test_a_config_claiming_more_layers_than_weights_is_not_built(trained, monkeypatch):
    """config.json says a million layers: the model is not built (it could not match the
    weights, and building it would take minutes), so nothing is named — nothing hangs."""
    from inspector.core.formats import open_checkpoint
    from inspector.core.inference.zoo import build as zoo_build

    folder, _order = trained
    weights = open_checkpoint(str(folder / f"checkpoint-{STEPS[0]}"))
    built = []
    monkeypatch.setattr(zoo_build, "build", lambda *a, **k: built.append(a) or 1 / 0)
    try:
        config = weights.details["config"]
        key = "num_hidden_layers" if "num_hidden_layers" in config else "n_layer"
        monkeypatch.setitem(config, key, 1_000_000)
        assert hf_optimizer._model_groupings(weights) == [] and built == []
        monkeypatch.setitem(config, key, 2)
        assert hf_optimizer._model_groupings(weights) == [] and len(built) == 1  # tried, refused
    finally:
        weights.close()
