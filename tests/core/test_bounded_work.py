"""Issue 18, class 4: work bounded by the file, not by what it claims. The child-process
checks (memory, time, exit codes) run for every case in test_hostile_round2; these tests
check what is shown."""

from __future__ import annotations

import resource
import time

import pytest

from inspector.core.checkpoint import REF, CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.formats.hf_folder import read_hf_index
from inspector.core.safety import scan
from tests.hostile_round2 import (
    dcp_column_chunks,
    dcp_row_chunks,
    folder_symlink_out,
    index_one_shard_aliased,
    many_views,
    pt2_json_bomb,
    scan_deflate_bomb,
    script_dag,
)

torch = pytest.importorskip("torch")


def test_an_aliased_shard_is_opened_once(tmp_path, marker):
    index = index_one_shard_aliased(tmp_path, marker)
    opened = []

    def counting_open(path):
        opened.append(path)
        return open_checkpoint(path)

    ck = read_hf_index(str(index), counting_open)
    assert len(opened) == 1
    assert [n.key for n in ck.root.children] == ["w"]
    assert any("200000 tensors named in the index were not found" in w for w in ck.warnings)


def test_nothing_is_read_through_a_symlink_out_of_the_folder(tmp_path, marker):
    with open_checkpoint(folder_symlink_out(tmp_path, marker)) as ck:
        assert ck.tensors() == []
        assert ck.details["config"] is None
        assert any("outside the folder" in w for w in ck.warnings)
        assert not any("secret" in str(n.key) for n in ck.root.walk())


@pytest.mark.parametrize("build", [dcp_row_chunks, dcp_column_chunks])
def test_ten_thousand_one_row_chunks_assemble(build, tmp_path, marker):
    with open_checkpoint(build(tmp_path, marker)) as ck:
        (_, info), = ck.tensors()
        assert info.layout == "sharded" and len(info.chunks) == 10_000
        assert torch.equal(ck.tensor(info), torch.ones(info.shape))


def test_overlapping_chunks_found_in_a_big_grid():
    from inspector.core.formats._chunks import first_overlap

    boxes = [((i, j), (1, 1)) for i in range(300) for j in range(300)]
    assert first_overlap(boxes) is None
    boxes.append(((150, 150), (2, 2)))
    assert first_overlap(boxes) is not None


def test_irregular_chunk_layout_over_the_cap_is_not_assembled(monkeypatch):
    from inspector.core.formats import _chunks

    monkeypatch.setattr(_chunks, "MAX_CELLS", 10)
    monkeypatch.setattr(_chunks, "MAX_COMPARISONS", 100)
    boxes = [((0, i), (5, 1)) for i in range(50)]  # one column each: the sweep compares all
    with pytest.raises(_chunks.TooIrregular, match="more than 100 comparisons"):
        _chunks.first_overlap(boxes)


def test_shared_script_modules_are_referenced_not_expanded(tmp_path, marker):
    with open_checkpoint(script_dag(tmp_path, marker)) as ck:
        assert len(ck.tensors()) == 1
        refs = [n for n in ck.root.walk() if n.kind == REF]
        assert len(refs) == 40
        assert sum(1 for _ in ck.root.walk()) < 100


def test_json_bomb_names_the_cap_and_keeps_the_weights(tmp_path, marker):
    with open_checkpoint(pt2_json_bomb(tmp_path, marker)) as ck:
        assert any("more than 8000000 JSON values" in w for w in ck.warnings)
        assert {p[0] for p, _ in ck.tensors()} == {"weight", "bias"}


def test_scan_of_deflate_bombs_stops_at_its_caps(tmp_path, marker):
    result = scan(scan_deflate_bomb(tmp_path, marker))
    assert result.verdict == "unsafe"  # not fully scanned is never "clean"
    assert any("limit" in n for n in result.notes)


def test_views_of_one_storage_cost_little(tmp_path, marker):
    path = many_views(tmp_path, marker)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with open_checkpoint(path) as ck:
        assert len(ck.tensors()) == 20_000
        assert len(ck.shared_groups()) == 1
        assert ck.totals()["unique_storage_bytes"] == 40_000 * 4
    assert time.monotonic() - start < 30  # a hang detector
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 200 << 20


def test_dcp_fan_out_names_the_cap(tmp_path, marker):
    from tests.hostile_round2 import dcp_fan_out

    with pytest.raises(CheckpointError, match="more than the limit of 1000000 chunks"):
        open_checkpoint(dcp_fan_out(tmp_path, marker))
