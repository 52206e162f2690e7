"""Main window: Open Folder (HF model folders as one checkpoint), stale banners, tab
switching, Ctrl+R on the Tensors tab, and the hint when Qt's platform plugin cannot start."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut

from inspector.ui import app as ui_app
from inspector.ui.main_window import is_checkpoint_folder


@pytest.fixture
def hf_folder(tmp_path, torch_mod):
    from safetensors.torch import save_file

    folder = tmp_path / "tiny-model"
    folder.mkdir()
    save_file({"embed.weight": torch_mod.ones(4, 2), "head.weight": torch_mod.zeros(2, 4)},
              str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "tiny", "hidden_size": 2}))
    return folder


def test_a_model_folder_opens_as_one_checkpoint_with_its_config(qtbot, make_window, open_file,
                                                                 hf_folder, tmp_path, torch_mod):
    w = make_window()
    assert w.act_open_folder in w.file_menu.actions()
    from PySide6.QtWidgets import QPushButton

    assert w.welcome.findChild(QPushButton, "openFolderButton") is not None
    assert is_checkpoint_folder(str(hf_folder))
    view = open_file(w, hf_folder)
    assert len(w.documents()) == 1 and view.path == str(hf_folder)
    assert "Details" in view.view_names()
    view.select_view("Details")
    details = view._views.currentWidget()
    assert "config.json" in details.section_titles()
    assert details.show_section("config.json") and '"hidden_size": 2' in \
        details.text.toPlainText()
    # picking the folder's config.json opens the folder (the same tab here)
    assert w.open_path(hf_folder / "config.json") is view
    # a plain folder of checkpoints still opens each file
    plain = tmp_path / "runs"
    plain.mkdir()
    for i in (1, 2):
        torch_mod.save({"w": torch_mod.zeros(1)}, plain / f"epoch_{i}.pth")
    assert not is_checkpoint_folder(str(plain))
    with qtbot.waitSignals([w.sig_opened, w.sig_opened], timeout=15_000):
        assert w.open_path(plain) is None
    assert len(w.documents()) == 3


def test_open_error_banner_goes_when_another_file_opens(qtbot, make_window, open_file,
                                                        tmp_path, state_dict_ckpt):
    w = make_window()
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint at all")
    with qtbot.waitSignal(w.sig_open_failed, timeout=15_000):
        w.open_path(broken)
    assert w.message_text().startswith("Could not open")
    open_file(w, state_dict_ckpt)
    assert w.message_text() == ""
    w.show_message("something else", "warning")  # other messages are not ours to hide
    w.close_document()
    open_file(w, state_dict_ckpt)
    assert w.message_text() == "something else"


def test_ctrl_page_up_down_switch_tabs(qtbot, make_window, open_file, training_ckpt,
                                       state_dict_ckpt):
    w = make_window()
    assert w.act_next_tab.shortcut() == QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_PageDown)
    view = open_file(w, training_ckpt)
    names = view.view_names()
    assert len(names) > 1 and view.current_view_index() == 0
    w.act_next_tab.trigger()  # one file: its views
    assert view.current_view_index() == 1
    w.act_prev_tab.trigger()
    w.act_prev_tab.trigger()
    assert view.current_view_index() == len(names) - 1
    other = open_file(w, state_dict_ckpt)
    assert w.current_document() is other
    w.act_next_tab.trigger()  # several files: the file tabs
    assert w.current_document() is view


def test_ctrl_r_on_the_tensors_tab_says_what_it_does(qtbot, make_window, open_file, tmp_path,
                                                     torch_mod, training_ckpt):
    w = make_window()
    path = tmp_path / "scalars.pth"
    torch_mod.save({"epoch": 3, "lr": 0.1}, path)
    view = open_file(w, path)
    shortcut = view._splitter.findChild(QShortcut)
    assert shortcut.key() == QKeySequence("Ctrl+R")
    shortcut.activated.emit()
    assert "no tensors" in w.statusBar().currentMessage()
    view = open_file(w, training_ckpt)
    assert view.view_names()[0] == "Tensors"
    assert view._splitter.findChild(QShortcut).context() == Qt.ShortcutContext.WindowShortcut


def test_missing_qt_system_libraries_are_named(monkeypatch, capsys):
    monkeypatch.setattr(ui_app.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)

    def load(name):
        if name == "libxcb-cursor.so.0":
            raise OSError(f"{name}: cannot open shared object file")

    missing = ui_app.missing_xcb_libraries
    assert missing(load) == ["libxcb-cursor.so.0"]
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # another plugin: nothing to check
    assert missing(load) == []
    monkeypatch.setattr(ui_app, "missing_xcb_libraries", lambda: ["libxcb-cursor.so.0"])
    assert ui_app.run_gui([]) == 3
    err = capsys.readouterr().err
    assert "sudo apt-get install libxcb-cursor0" in err
