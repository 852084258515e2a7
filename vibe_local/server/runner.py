"""Run the app with uvicorn: bind safely, start, and stop cleanly on Ctrl+C / SIGTERM.

Stopping: the first signal closes the generation queue at once (the running reply stops after its
current token, waiting requests get 503), uvicorn stops accepting and lets open responses end,
and `serve` returns so the command exits 0. uvicorn's own handler would re-raise the signal after
shutdown (killing the process with SIGTERM's status); ours does not. A second Ctrl+C forces it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import socket
import threading
from collections.abc import Callable

import uvicorn

from ..engine import Model
from ..errors import InvalidRequestError
from .app import ServerConfig, close_app, create_app

GRACE_S = 5  # open responses get this long to end after the queue was closed


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def check_bind(host: str, api_key: str | None, no_auth: bool) -> str | None:
    """Refuse to expose an unauthenticated model to the network; return a warning, if any.

    Raises:
        InvalidRequestError: a non-loopback host, no key and no --no-auth.
    """
    if is_loopback(host) or api_key:
        return None
    if not no_auth:
        raise InvalidRequestError(f"--host {host} accepts connections from other machines; set "
                                  "--api-key KEY (or VIBE_LOCAL_API_KEY), or pass --no-auth to "
                                  "serve without one")
    return f"serving on {host} without an API key: anyone who can reach it can use it"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port). Raises InvalidRequestError when taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise InvalidRequestError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                                  "choose another --port or --host") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_first_exit: Callable[[], None]):
        super().__init__(config)
        self._on_first_exit = on_first_exit

    def handle_exit(self, sig: int, frame) -> None:  # signal handler: no re-raise afterwards
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        elif not self.should_exit:
            # another thread: the handler may have interrupted code holding the queue's lock
            threading.Thread(target=self._on_first_exit, daemon=True).start()
        self.should_exit = True


def _uvicorn(app, on_first_exit: Callable[[], None]) -> _Server:
    config = uvicorn.Config(app, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=GRACE_S)
    return _Server(config, on_first_exit)


def serve(model: Model, config: ServerConfig, sock: socket.socket) -> None:
    """Serve until Ctrl+C / SIGTERM, on a socket from `bind`."""
    app = create_app(model, config)
    server = _uvicorn(app, lambda: app.state.vibe.queue.close())
    try:
        server.run(sockets=[sock])
    finally:
        close_app(app)


class BackgroundServer:
    """The server on a thread of this process (tests, benchmarks): `with BackgroundServer(model,
    config) as server: ... server.url ...`. Binds 127.0.0.1 on a free port by default."""

    def __init__(self, model: Model, config: ServerConfig, host: str = "127.0.0.1",
                 port: int = 0):
        self.app = create_app(model, config)
        self._sock = bind(host, port)
        self.url = url_of(self._sock)
        self._server = _uvicorn(self.app, lambda: None)
        self._thread = threading.Thread(target=self._run, name="vibe-local-server", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            threading.Event().wait(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        close_app(self.app)
        self._server.should_exit = True
        self._thread.join(GRACE_S + 5)
