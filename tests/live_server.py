"""A FastAPI app served by a real uvicorn in a thread of the test process (browser, chunked-upload and
load tests need real sockets, which TestClient does not give)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dancesearch.bench.server import free_port


@contextmanager
def live_server(app: Any, start_timeout_s: float = 30.0) -> Iterator[int]:
    """Serve ``app`` on 127.0.0.1 at a free port (yielded) until the block ends."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield int(server.config.port)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
