"""The Inference view on a masked language model: the sentence field starts with a [MASK]
sentence, and the results show the guesses for the masked word as tokens."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QMessageBox

from inspector.core.inference.config import DEFAULT_MASKED_TEXT
from tests.core.test_models_masked import _save
from tests.ui.test_inference_models import RUN_TIMEOUT, jobs, make_panel, run_and_wait  # noqa: F401

pytest.importorskip("transformers")


def test_masked_lm_shows_guesses_for_the_masked_word(qtbot, make_panel, tmp_path,  # noqa: F811
                                                     monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec", lambda *a: pytest.fail("no question expected"))
    folder = tmp_path / "bert-mlm"
    _save(str(folder), "[MASK]")
    panel = make_panel(folder)
    controls = panel.controls
    assert controls.architecture_key() == "spec:hf:BertForMaskedLM"
    inputs = controls.inputs
    assert inputs.input_kind == "text" and inputs.text_edit.text() == DEFAULT_MASKED_TEXT
    inputs.text_edit.setText("paris is the [MASK] of france .")
    controls.runs_spin.setValue(3)
    assert run_and_wait(qtbot, panel) == "done"
    r = panel.result()
    assert r.predictions.kind == "masked-token"
    rows = panel.results.predictions.row_texts()
    assert [row[0] for row in rows] == [f"{i + 1}. “{lab.label}”"
                                        for i, lab in enumerate(r.predictions.eval)]
    assert "guesses for the masked word" in panel.results.predictions.caption_text()
    assert "guess for the masked word" in panel.verdict()
    assert panel.results.predictions.table.horizontalHeaderItem(0).text() == "Token"
