"""Real servers on 127.0.0.1 for the remote-checkpoint tests (issue 16): nginx (the Debian
package, started with its own configuration on a free port), moto's S3 server, and tiny
Python servers that misbehave (no range support, a connection dropped mid-body, silence).

nginx writes an access log of the bytes it sent, so tests can check what was fetched from
the server's side, not only from ours.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None)


class Nginx:
    """nginx serving ``root`` on 127.0.0.1; ``/private/`` answers 403."""

    def __init__(self, root: Path, work: Path):
        self.root = root
        self.work = work
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "access.log"
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        conf = work / "nginx.conf"
        conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format bytes '$request_method $uri $status $body_bytes_sent "$http_range"';
  access_log {self.log} bytes;
  client_body_temp_path {work}/body;
  proxy_temp_path {work}/proxy;
  fastcgi_temp_path {work}/fastcgi;
  uwsgi_temp_path {work}/uwsgi;
  scgi_temp_path {work}/scgi;
  default_type application/octet-stream;
  server {{
    listen 127.0.0.1:{self.port};
    root {root};
    location /private/ {{ return 403; }}
  }}
}}
""")
        self.proc = subprocess.Popen([nginx_binary(), "-p", str(work), "-c", str(conf),
                                      "-e", str(work / "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_port(self.port, self.proc)
        except RuntimeError:
            self.stop()
            raise

    def bytes_sent(self, name: str | None = None) -> int:
        """Body bytes nginx has sent (for one file, or all), from its access log."""
        total = 0
        if not self.log.exists():
            return 0
        for line in self.log.read_text().splitlines():
            parts = line.split(" ")
            if len(parts) >= 4 and (name is None or parts[1] == "/" + name):
                total += int(parts[3])
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _DropHandler(_Quiet):
    """Answers a range request with 206 and the right headers, then closes the connection
    after half the body."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        rng = self.headers.get("Range")
        start, end = 0, len(data) - 1
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start, end = int(a), int(b) if b else len(data) - 1
        body = data[start:end + 1]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body[:max(1, len(body) // 2)])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class _SilentHandler(_Quiet):
    """Answers HEAD, then never answers a GET (a server that hangs)."""

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(30)


@contextmanager
def python_server(root: Path, kind: str):
    """``kind``: "norange" (http.server: no Range support), "drop", "silent"."""
    handler = {"norange": _Quiet, "drop": _DropHandler, "silent": _SilentHandler}[kind]

    class Handler(handler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:
            pass  # a client that hangs up early is what these servers are for

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
