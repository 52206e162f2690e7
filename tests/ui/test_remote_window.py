"""File ▸ Open URL… and Statistics ▸ Cluster Scheduler… in a real main window (issue 16):
a URL served by nginx on 127.0.0.1 opens as a tab with the local file's tensors, a server
without range support ends in one message while the window keeps working, and a scheduler
address sends the statistics job to the cluster target."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

from inspector.core import stats_job
from inspector.core.cluster import job as cluster_job
from inspector.core.formats import open_checkpoint
from inspector.ui import remote
from tests.remote_servers import Nginx, nginx_binary, python_server

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INSPECTOR_REMOTE_TIMEOUT", "5")


@pytest.fixture
def www(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    torch.manual_seed(0)
    torch.save({"model_state_dict": {"fc.weight": torch.randn(8, 4), "fc.bias": torch.randn(8)},
                "epoch": 3}, root / "model.pth")
    return root


def _answer(monkeypatch, dialog_cls, text: str | None) -> None:
    """The dialog answers as a user typing ``text`` and pressing OK (None: Cancel)."""
    def exec_(self):
        if text is None:
            return QDialog.Rejected
        self.edit.setText(text)
        self._check_and_accept()
        return self.result()
    monkeypatch.setattr(dialog_cls, "exec", exec_)


def test_the_url_dialog_refuses_what_is_not_a_url(qtbot):
    dialog = remote.OpenUrlDialog(None)
    qtbot.addWidget(dialog)
    assert dialog.problem_with("model.pth")
    assert dialog.problem_with("ftp://host/model.pth")
    assert dialog.problem_with("https://host/model.pth") == ""
    dialog.edit.setText("model.pth")
    dialog._check_and_accept()
    assert dialog.result() != QDialog.Accepted and dialog.problem.isVisibleTo(dialog)


def test_open_url_shows_the_remote_files_tensors(qtbot, make_window, www, tmp_path, monkeypatch):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    server = Nginx(www, tmp_path / "nginx")
    try:
        url = f"{server.url}/model.pth"
        w = make_window()
        assert w.act_open_url in w.file_menu.actions()
        _answer(monkeypatch, remote.OpenUrlDialog, url)
        with qtbot.waitSignal(w.sig_opened, timeout=20_000) as opened:
            w.act_open_url.trigger()
        assert opened.args == [url]
        view = w.current_document()
        with open_checkpoint(www / "model.pth") as local:
            want = sorted((k, i.shape, i.dtype) for k, i in local.tensors())
        assert sorted((k, i.shape, i.dtype) for k, i in view.ckpt.tensors()) == want
        assert url in w.settings.recent_files()
        assert server.bytes_sent("model.pth") > 0
    finally:
        server.stop()


def test_a_server_without_ranges_gets_one_message(qtbot, make_window, www, monkeypatch):
    w = make_window()
    with python_server(www, "norange") as base:
        _answer(monkeypatch, remote.OpenUrlDialog, f"{base}/model.pth")
        with qtbot.waitSignal(w.sig_open_failed, timeout=20_000) as failed:
            w.act_open_url.trigger()
    path, problem = failed.args
    assert path.endswith("/model.pth") and problem
    assert "\n" not in problem.strip()
    assert "range" in problem.lower() and "range" in w.message_text().lower(), w.message_text()
    assert w.documents() == []  # nothing half-open; the window goes on
    w.open_path(www / "model.pth")
    qtbot.waitUntil(lambda: len(w.documents()) == 1, timeout=15_000)


def test_a_scheduler_address_routes_statistics_to_the_cluster(qtbot, make_window, monkeypatch):
    w = make_window()
    assert w.act_scheduler in w.stats_menu.actions()
    _answer(monkeypatch, remote.SchedulerDialog, "not an address")
    w.act_scheduler.trigger()
    assert w.settings.scheduler_address() == ""  # refused, nothing stored
    _answer(monkeypatch, remote.SchedulerDialog, "tcp://127.0.0.1:8786")
    w.act_scheduler.trigger()
    assert w.settings.scheduler_address() == "tcp://127.0.0.1:8786"

    sent = []

    class Runner:  # what the window's statistics runner receives, after the routing
        def submit(self, target, kwargs):
            sent.append((target, kwargs))
            return len(sent)

    runner = Runner()
    remote._route_statistics(runner, w.settings)
    runner.submit(stats_job.TARGET, {"path": "/m.pth", "device": "cpu"})
    runner.submit("other:target", {"x": 1})
    assert sent[0] == (cluster_job.TARGET, {"path": "/m.pth",
                                            "scheduler": "tcp://127.0.0.1:8786"})
    assert sent[1] == ("other:target", {"x": 1})
    _answer(monkeypatch, remote.SchedulerDialog, "")
    w.act_scheduler.trigger()
    runner.submit(stats_job.TARGET, {"path": "/m.pth"})
    assert sent[2] == (stats_job.TARGET, {"path": "/m.pth"})
