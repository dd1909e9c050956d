"""Test helpers: import path, the real ``tlog`` binary, servers and proxies.

The integration tests start a real ``tlog serve`` on 127.0.0.1. The binary
is ``$TLOG_BIN`` when set; otherwise it is built once per test run with
``go build -o <tmpdir>/tlog-ai-tests/tlog ./cmd/tlog`` from the repository
root (two directories above clients/python).
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from typing import Callable, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)  # clients/python
REPO_ROOT = os.path.dirname(os.path.dirname(PKG_ROOT))
if PKG_ROOT not in sys.path:
    sys.path.insert(0, PKG_ROOT)

_bin_lock = threading.Lock()
_bins: dict = {}


def _binary(name: str, env_var: str, pkg: Optional[str] = None) -> str:
    """The path of the command of package ``pkg`` (default cmd/<name>):
    ``$<env_var>``, or built once; skip the calling test when there is
    none."""
    with _bin_lock:
        if name not in _bins:
            env = os.environ.get(env_var)
            if env:
                _bins[name] = (env, None) if os.access(env, os.X_OK) else (None, f"{env_var}={env} is not an executable")
            else:
                _bins[name] = _build(name, pkg or "./cmd/" + name)
        path, err = _bins[name]
        if path is None:
            raise unittest.SkipTest(err or f"no {name} binary")
        return path


def tlog_bin() -> str:
    """Return the path of the tlog binary (``$TLOG_BIN``, or built once)."""
    return _binary("tlog", "TLOG_BIN")


def witness_bin() -> str:
    """Return the path of the witness binary (``$WITNESS_BIN``, or built once)."""
    return _binary("witness", "WITNESS_BIN")


def testsigstore_bin() -> str:
    """Return the path of internal/tools/testsigstore (``$TESTSIGSTORE_BIN``,
    or built once): a trusted root and keyless bundles from sigstore-go's
    in-memory test Sigstore."""
    return _binary("testsigstore", "TESTSIGSTORE_BIN", "./internal/tools/testsigstore")


def _build(name: str, pkg: str) -> Tuple[Optional[str], Optional[str]]:
    if not os.path.exists(os.path.join(REPO_ROOT, "go.mod")) or shutil.which("go") is None:
        return None, f"no binary and no Go toolchain/repository to build cmd/{name}"
    out_dir = os.path.join(tempfile.gettempdir(), f"tlog-ai-tests-{os.getuid()}")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, name)
    tmp = out + ".new"
    p = subprocess.run(
        ["go", "build", "-o", tmp, pkg], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if p.returncode == 0:
        os.replace(tmp, out)
        return out, None
    if os.path.exists(out):  # the tree is mid-edit: use the last good build
        sys.stderr.write(f"warning: go build {pkg} failed, using the previous build:\n" + p.stdout.decode()[-2000:])
        return out, None
    return None, f"go build {pkg} failed:\n" + p.stdout.decode()[-2000:]


def keygen(directory: str, origin: str = "test.example/log", name: str = "log") -> Tuple[str, str]:
    """Make a log key with ``tlog keygen``; return (key file, verifier key)."""
    prefix = os.path.join(directory, name)
    out = subprocess.run(
        [tlog_bin(), "keygen", "--origin", origin, "--out", prefix], check=True, stdout=subprocess.PIPE
    ).stdout.decode().strip()
    with open(prefix + ".pub") as f:
        assert f.read().strip() == out
    return prefix + ".key", out


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real ``tlog serve`` (or, with ``binary``, ``witness serve``)
    process on 127.0.0.1."""

    def __init__(self, data: str, key_file: str, port: int = 0, args: Optional[List[str]] = None,
                 binary: Optional[Callable[[], str]] = None) -> None:
        self.data = data
        self.key_file = key_file
        self.port = port
        self.args = list(args or [])
        self.binary = binary or tlog_bin
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(os.path.dirname(os.path.abspath(data)), os.path.basename(data) + ".serve.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15) -> "Server":
        """Start the server and wait until it listens."""
        logf = open(self.log_path, "ab")
        start_at = logf.tell()
        self.proc = subprocess.Popen(
            [self.binary(), "serve", "--data", self.data, "--key", self.key_file, "--listen", f"127.0.0.1:{self.port}"]
            + self.args,
            stdout=logf,
            stderr=logf,
            stdin=subprocess.DEVNULL,
        )
        logf.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with open(self.log_path, "rb") as f:
                f.seek(start_at)
                text = f.read().decode("utf-8", "replace")
            m = re.search(r"msg=listening addr=127\.0\.0\.1:(\d+)", text)
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.binary()} serve exited {self.proc.returncode}:\n{text}")
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("tlog serve did not start in time")

    def kill(self) -> None:
        """SIGKILL the server and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM the server and wait for it (SIGKILL after 10 s)."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Proxy:
    """An HTTP proxy in front of a server. ``hook(handler, n)`` is called
    for the n-th request (from 1); when it returns True it has answered and
    the request is not forwarded. Request times are in ``times``."""

    def __init__(self, upstream: str, hook: Optional[Callable[[http.server.BaseHTTPRequestHandler, int, bytes], bool]] = None) -> None:
        self.upstream = upstream
        self.hook = hook
        self.count = 0
        self.times: List[Tuple[float, str, int]] = []  # (monotonic time, path, status)
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: object) -> None:
                pass

            def _do(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with proxy._lock:
                    proxy.count += 1
                    k = proxy.count
                if proxy.hook is not None and proxy.hook(self, k, body):
                    return
                req = urllib.request.Request(proxy.upstream + self.path, data=body if self.command == "POST" else None, method=self.command)
                for h in ("Content-Type", "Authorization"):
                    if self.headers.get(h):
                        req.add_header(h, self.headers[h])
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, headers, data = r.status, r.headers, r.read()
                except urllib.error.HTTPError as e:
                    status, headers, data = e.code, e.headers, e.read()
                except OSError:
                    self.send_error(502)
                    return
                proxy.record(self.path, status)
                self.send_response(status)
                for h in ("Content-Type", "Retry-After"):
                    if headers.get(h):
                        self.send_header(h, headers[h])
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _do
            do_POST = _do

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def record(self, path: str, status: int) -> None:
        with self._lock:
            self.times.append((time.monotonic(), path, status))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def answer(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, headers: Optional[dict] = None) -> None:
    """Answer a proxied request directly."""
    handler.send_response(status)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class TempDir:
    """A temporary directory removed at the end (a context manager)."""

    def __enter__(self) -> str:
        self.path = tempfile.mkdtemp(prefix="tlog-ai-test-")
        return self.path

    def __exit__(self, *a: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
