"""The command line on URLs (issue 16): ``info`` says what listing fetched, ``stats`` of a
URL equals the local file's, and a failing server is one ``error:`` line with exit code 2."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fsspec")

from inspector.cli import main  # noqa: E402
from tests.remote_servers import Nginx, nginx_binary  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    root = tmp_path_factory.mktemp("www")
    gen = torch.Generator().manual_seed(2)
    torch.save({"epoch": 2, "model_state_dict": {"fc.weight": torch.randn(8, 4, generator=gen),
                                                 "fc.bias": torch.randn(8, generator=gen)}},
               root / "run.pth")
    nginx = Nginx(root, tmp_path_factory.mktemp("nginx"))
    try:
        yield nginx, root
    finally:
        nginx.stop()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(tmp_path / "cache"))


def test_info_of_a_url_says_what_it_fetched(server, capsys):
    nginx, root = server
    url = f"{nginx.url}/run.pth"
    assert main(["info", url]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == url
    assert "  format:   torch-zip" in out
    fetched = next(line for line in out.splitlines() if line.startswith("  fetched:"))
    assert "request" in fetched and "to list it" in fetched
    assert main(["info", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["remote"]["bytes_fetched"] > 0 and doc["remote"]["requests"] > 0
    assert main(["info", str(root / "run.pth"), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert doc["tensors"] == local["tensors"] and "remote" not in local


def test_stats_and_diff_of_urls(server, capsys):
    nginx, root = server
    url = f"{nginx.url}/run.pth"
    assert main(["stats", url, "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert main(["stats", str(root / "run.pth"), "--json"]) == 0
    assert remote["tensors"] == json.loads(capsys.readouterr().out)["tensors"]
    assert main(["diff", url, str(root / "run.pth"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["identical"] == 2 and report["summary"]["changed"] == 0


@pytest.mark.parametrize("command", ["info", "stats", "scan"])
def test_a_failing_url_is_one_error_line(server, capsys, command):
    nginx, _ = server
    code = main([command, f"{nginx.url}/missing.pth"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"error: {nginx.url}/missing.pth: not found (HTTP 404: "
                                        "no such file or object)"]


def test_info_verify_of_a_url_checks_every_record(server, capsys):
    nginx, root = server
    assert main(["info", f"{nginx.url}/run.pth", "--verify"]) == 0
    assert "  checksums: every record matches its CRC-32" in capsys.readouterr().out
    data = bytearray((root / "run.pth").read_bytes())
    # flip a bit in the first tensor record's bytes (after its local header)
    from inspector.core.formats import open_checkpoint

    with open_checkpoint(root / "run.pth") as ck:
        offset = min(i.storage.file_offset for _, i in ck.tensors())
    data[offset] ^= 1
    (root / "flipped.pth").write_bytes(bytes(data))
    assert main(["info", f"{nginx.url}/flipped.pth", "--verify", "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert any("fails its CRC-32 check" in w for w in warnings), warnings
