"""A loopback TCP forwarder that tests can cut and restore, to make a database 'go away'."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `stop()` cuts every connection, refuses new ones.

    `hang()` is the nastier outage: open connections stay open but nothing is forwarded or
    answered any more (a paused server, a path that drops the replies).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._listener.close()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._hung: set[socket.socket] = set()
        self._hang_new = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Accept and forward connections until stopped."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def hang(self, new_connections: bool = False) -> None:
        """Swallow what open connections send, unanswered; with `new_connections`, new ones too."""
        with self._lock:
            self._hung.update(self._conns)
            self._hang_new = new_connections

    def stop(self) -> None:
        """Close the listener and cut every open connection."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()
            self._hung.clear()
            self._hang_new = False

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with self._lock:
                if self._hang_new:  # accepted, then never answered
                    self._conns.append(client)
                    self._hung.add(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                if src not in self._hung and dst not in self._hung:
                    dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
