"""``run`` is bounded by the file, not by what its metadata claims (issue 18, class 4)."""

from __future__ import annotations

import resource

import pytest

from inspector.core.inference import (
    MAX_RUN_BYTES,
    InferenceError,
    RunConfig,
    check_run_bytes,
    inference_options,
    run_demo,
    sample_input,
)
from tests.inference_corpus import (
    HUGE,
    OVER_CAP,
    write_meta_mlp,
    write_stride0_mlp,
    write_stride0_whole_model,
)

CAP_TEXT = "more than the 4.0 GiB a run may use"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("write", [write_stride0_mlp, write_meta_mlp])
@pytest.mark.parametrize("shape, size_text", [(HUGE, "1024.0 TiB"), (OVER_CAP, "8.0 GiB")])
def test_a_builtin_sized_by_the_file_is_refused_before_it_is_built(tmp_path, write, shape,
                                                                    size_text):
    path = write(tmp_path / "claims.pth", shape)
    assert path.stat().st_size < 10_000
    before = _rss_mib()
    with pytest.raises(InferenceError) as info:
        run_demo(RunConfig(str(path), runs=2))
    assert info.value.message == (f"the plain-mlp model these weights describe would take "
                                  f"{size_text} in memory, {CAP_TEXT}")
    with pytest.raises(InferenceError, match=CAP_TEXT):  # named explicitly: the same check
        run_demo(RunConfig(str(path), architecture="plain-mlp", runs=2))
    assert _rss_mib() - before < 512  # nothing of that size was ever allocated


def test_options_for_such_a_file_allocate_nothing(tmp_path):
    path = write_stride0_mlp(tmp_path / "claims.pth")
    before = _rss_mib()
    opts = inference_options(str(path))
    assert opts.proposed == "plain-mlp" and not opts.problem
    assert _rss_mib() - before < 512


def test_a_trusted_model_with_stride0_weights_is_refused_before_it_runs(tmp_path):
    path = write_stride0_whole_model(tmp_path / "whole.pth", OVER_CAP)
    before = _rss_mib()
    with pytest.raises(InferenceError, match=f"the model in the file would take 8.0 GiB in "
                                             f"memory, {CAP_TEXT}"):
        run_demo(RunConfig(str(path), runs=2, trust=True, input_shape=(4,)))
    assert _rss_mib() - before < 512


def test_an_input_beyond_the_cap_is_refused(state_dict_ckpt):
    from torch import nn

    with pytest.raises(InferenceError, match=r"the input \[4, 65536, 65536\] would take "
                                             r"64.0 GiB in memory"):
        sample_input(nn.Linear(4, 2), input_shape=(65536, 65536))
    with pytest.raises(InferenceError, match=CAP_TEXT):
        run_demo(RunConfig(str(state_dict_ckpt), input_shape=(65536, 65536), runs=2))


def test_check_run_bytes_names_the_cap():
    check_run_bytes(MAX_RUN_BYTES, "exactly the cap")
    with pytest.raises(InferenceError, match=r"^the weights would take 4.0 GiB in memory, "
                                             r"more than the 4.0 GiB a run may use$"):
        check_run_bytes(MAX_RUN_BYTES + 1, "the weights")
