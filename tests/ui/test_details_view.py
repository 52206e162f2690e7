"""The Details tab: TorchScript code, an exported program's graph, unsafe globals — as text."""

from __future__ import annotations

import os
import warnings

import pytest

from inspector.core.details import detail_sections
from inspector.core.formats import open_checkpoint
from tests.ckpt_factory import Payload

torch = pytest.importorskip("torch")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x):
        return torch.relu(self.fc(x))


@pytest.fixture
def scripted(tmp_path):
    p = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(Small()), p)
    return p


@pytest.fixture
def exported(tmp_path):
    p = tmp_path / "small.pt2"
    torch.export.save(torch.export.export(Small(), (torch.randn(1, 3),)), p)
    return p


def test_core_sections_for_torchscript_show_code_as_text(scripted):
    with open_checkpoint(scripted) as ck:
        sections = detail_sections(ck)
        code = [s for s in sections if s.title.startswith("code/")]
        assert code, [s.title for s in sections]
        text = "\n".join(s.load() for s in code)
        assert "def forward" in text and "relu" in text


def test_core_sections_for_exported_program(exported):
    with open_checkpoint(exported) as ck:
        by_title = {s.title: s for s in detail_sections(ck)}
        assert "aten.relu" in by_title["graph"].load()
        assert "user_input" in by_title["inputs"].load() and "[1, 3]" in by_title["inputs"].load()
        assert "aten.linear" in by_title["operators"].load()


def test_plain_state_dict_has_no_details(state_dict_ckpt):
    with open_checkpoint(state_dict_ckpt) as ck:
        assert detail_sections(ck) == []


def test_details_tab_in_the_window(make_window, open_file, exported, scripted, tmp_path, marker):
    w = make_window()
    view = open_file(w, exported)
    assert "Details" in view.view_names()
    assert view.select_view("Details")
    from inspector.ui.details_view import DetailsView

    details = view.findChild(DetailsView)
    assert details.show_section("graph")
    assert "aten.relu" in details.text.toPlainText()

    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "x": Payload(os.system, f"touch {marker}")}, evil)
    view2 = open_file(w, evil)
    assert "Details" in view2.view_names()
    d2 = view2.findChild(DetailsView)
    assert d2.show_section("unsafe globals")
    assert "posix.system" in d2.text.toPlainText() and "NOT run" in d2.text.toPlainText()
    assert not marker.exists()
