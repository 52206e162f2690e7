"""Issue 18, class 5: malformed fields end in the usual one-line message naming the file and
the problem (the child-process checks run in test_hostile_round2); odd but readable values
(ints too long to print, lone surrogates) are shown as text everywhere."""

from __future__ import annotations

import json

import pytest

from inspector.core.formats import open_checkpoint
from inspector.core.safety import scan
from inspector.core.text import format_value, path_text  # noqa: E402
from tests.hostile_round2 import CLASS_5, run_cli

torch = pytest.importorskip("torch")
CASES = {c.name: c for c in CLASS_5}


def _open(name, tmp_path, marker):
    return open_checkpoint(CASES[name].build(tmp_path, marker))


def test_build_after_the_rebuild_never_changes_the_tensor(tmp_path, marker):
    with _open("fields_changed_by_build", tmp_path, marker) as ck:
        (_, info), = ck.tensors()
        assert info.shape == (4,) and info.dtype == "float32" and info.storage is not None
        assert ck.tensor(info).shape == (4,)


def test_ints_too_long_to_print_are_described(tmp_path, marker):
    with _open("huge_int_key_and_value", tmp_path, marker) as ck:
        first = ck.root.children[0]
        # the key is part of every printed path: described; the value stays exact (a diff
        # must still see two different values) and is described where it is printed
        assert first.key == "<int of 16610 bits>"
        assert isinstance(first.value, int) and first.value.bit_length() == 16610
        assert format_value(first.value) == "<int of 16610 bits>"
        assert [p for p, _ in ck.tensors()] == [("w",)]


def test_an_int_too_long_to_print_inside_a_size(tmp_path, marker):
    with _open("huge_int_in_size", tmp_path, marker) as ck:
        assert ck.root.children[0].value == "torch.Size([<int of 16610 bits>])"


def test_lone_surrogates_stay_exact_and_print_as_escapes(tmp_path, marker):
    with _open("lone_surrogates", tmp_path, marker) as ck:
        first = ck.root.children[0]
        assert first.key == "k\udc80ey" and first.value == "v\udc80"  # what torch loads
        assert path_text(ck.find([first.key]).path()) == "k\\udc80ey"
        assert format_value(first.value) == "v\\udc80"
        format_value(first.value).encode("utf-8")  # printable anywhere


def test_surrogates_in_a_global_name_are_escaped_and_unsafe(tmp_path, marker):
    path = CASES["surrogate_global"].build(tmp_path, marker)
    result = scan(path)
    assert result.verdict == "unsafe"
    assert "os\\udc80.sys\\ud800tem" in result.unsafe_globals


@pytest.mark.parametrize("name", ["huge_int_key_and_value", "lone_surrogates", "surrogate_global",
                                  "huge_int_in_size"])
def test_info_json_is_valid_json(name, tmp_path, marker):
    path = CASES[name].build(tmp_path, marker)
    run = run_cli(tmp_path, "info", "--json", str(path))
    assert run.code == 0 and run.stderr == "", run.stderr
    doc = json.loads(run.stdout)
    assert doc["path"] == str(path)
    assert not marker.exists()
