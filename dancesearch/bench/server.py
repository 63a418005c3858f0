"""The HTTP service under test: ``uvicorn`` serving :func:`dancesearch.service.app.create_app` in a
child process on a free 127.0.0.1 port, over the benchmark's library and model.

A separate process, as ``dancesearch serve`` runs it, so the client's work does not share the
server's interpreter lock. The child opens the already indexed library (no re-embedding).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dancesearch.bench.config import BenchError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise BenchError(f"the HTTP server exited with code {proc.returncode} while starting:\n{tail}")
        try:
            if httpx.get(f"{url}/api/status", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError(f"the HTTP server did not answer within {START_TIMEOUT_S:g} s (log: {log_path})")


@contextmanager
def serve(data_dir: Path, model: Path, log_path: Path, api_key: str | None = None) -> Iterator[str]:
    """Run the service over ``data_dir`` with ``model``; yields its base URL; stops it afterwards.
    ``api_key`` enables the write endpoints (the mixed read/write load ingests and deletes)."""
    port = free_port()
    env = {**os.environ, "DANCESEARCH_HOME": str(data_dir), "DANCESEARCH_MODEL": str(model),
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("DANCESEARCH_DB", None)
    env.pop("DANCESEARCH_API_KEY", None)
    if api_key:
        env["DANCESEARCH_API_KEY"] = api_key
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "dancesearch.service.app:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(proc, url, log_path)
            log.info("HTTP server ready at %s (pid %d)", url, proc.pid)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
