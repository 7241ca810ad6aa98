"""A threaded loopback HTTP server in a daemon thread (the process's "twin", and test servers)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log: URLs may carry tokens, and the service logs what matters itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Skip werkzeug's per-request access line."""


class LoopbackServer:
    """Serve a WSGI app on 127.0.0.1:<ephemeral port> until `stop()`."""

    def __init__(self, wsgi_app: Any, port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, wsgi_app, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll keeps stop() quick (tests start and stop many of these).
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
