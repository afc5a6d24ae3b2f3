"""A real TCP proxy between a device and the server that can cut a connection at any byte.

Tests put it on 127.0.0.1 in front of uvicorn and choose, connection by connection, how much
of the request and of the response gets through: the network failing mid-sync, for real.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["SERVER_ERROR", "Cut", "FaultyProxy"]


@dataclass(frozen=True)
class Cut:
    """Close the connection once this many bytes went through in that direction (None: no limit).

    `reply` answers in the server's stead (an HTTP 500, say) without reaching it; `hang` holds
    the connection open, silent, for that many seconds (a server that does not answer in time).
    """

    request_bytes: int | None = None
    response_bytes: int | None = None
    reply: bytes | None = None
    hang: float | None = None


SERVER_ERROR = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass
class FaultyProxy:
    upstream_port: int
    port: int = 0
    #: One plan per new connection, in order; connections past the list go through untouched.
    plans: deque[Cut] = field(default_factory=deque)
    connections: int = 0
    #: Bytes that went through, device to server and back (headers included).
    bytes_up: int = 0
    bytes_down: int = 0
    _server: socket.socket | None = None
    _stopped: bool = False

    def start(self) -> FaultyProxy:
        self._server = socket.create_server(("127.0.0.1", self.port))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_next(self, *cuts: Cut) -> None:
        self.plans.extend(cuts)

    def stop(self) -> None:
        self._stopped = True
        if self._server is not None:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stopped:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            plan = self.plans.popleft() if self.plans else Cut()
            if plan.reply is not None or plan.hang is not None:
                threading.Thread(target=self._fake, args=(client, plan), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            done = threading.Event()
            for source, target, limit, direction in (
                (client, upstream, plan.request_bytes, "bytes_up"),
                (upstream, client, plan.response_bytes, "bytes_down"),
            ):
                threading.Thread(target=self._pipe, args=(source, target, limit, done, direction), daemon=True).start()

    @staticmethod
    def _fake(client: socket.socket, plan: Cut) -> None:
        try:
            client.recv(65536)
            if plan.hang is not None:
                threading.Event().wait(plan.hang)
            if plan.reply is not None:
                client.sendall(plan.reply)
        except OSError:
            pass
        finally:
            client.close()

    def _pipe(
        self, source: socket.socket, target: socket.socket, limit: int | None, done: threading.Event, direction: str
    ) -> None:
        sent = 0
        try:
            while not done.is_set():
                chunk = source.recv(65536)
                if not chunk:
                    break
                if limit is not None and sent + len(chunk) >= limit:
                    chunk = chunk[: max(0, limit - sent)]
                    target.sendall(chunk)
                    setattr(self, direction, getattr(self, direction) + len(chunk))
                    break
                target.sendall(chunk)
                sent += len(chunk)
                setattr(self, direction, getattr(self, direction) + len(chunk))
        except OSError:
            pass
        finally:
            done.set()
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
