"""FaultProxy: a TCP proxy a test puts between the app (or a child process) and PostgreSQL,
to make the database pause, go away or slow down on command.

    with FaultProxy(upstream=("127.0.0.1", 5432)) as proxy:
        env["DATABASE_URL"] = proxy.database_url("test_x")   # the child talks through it
        ...
        proxy.pause()            # hold every byte, both directions (a stalled database)
        proxy.resume()
        proxy.cut()              # close every connection (a database restart, a network reset)
        proxy.cut(refuse=True)   # ... and refuse new ones until restore() (an outage)
        proxy.delay(0.005)       # add 5 ms to each chunk the client sends (a slower network)
        proxy.restore()          # back to normal: flowing, accepting, no delay

Threads, two per connection; every wait wakes on a state change, so pause, cut and stop
take effect at once.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

CHUNK = 65536


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            with suppress(OSError):
                # RST, not FIN: the peer sees "connection reset", as after a network fault.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()


class FaultProxy:
    """Forwards 127.0.0.1:`port` to `upstream`; pause / cut / delay / restore on command.

    `accepted` counts the connections accepted so far, `refused` those turned away while
    refusing; `upstream_ports()` lists the local ports of the open upstream connections
    (pg_stat_activity.client_port of the sessions that go through the proxy)."""

    def __init__(self, *, upstream: tuple[str, int], port: int = 0):
        self.upstream = upstream
        self._state = threading.Condition()
        self._flowing = True
        self._refusing = False
        self._delay = 0.0
        self._stopped = False
        self._links: set[_Link] = set()
        self.accepted = 0
        self.refused = 0
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_forever, name="fault-proxy", daemon=True)

    # --- use ---------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        with self._state:
            self._stopped = True
            self._state.notify_all()
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._close_links()
        self._acceptor.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def database_url(self, name: str, *, user: str = "root") -> str:
        """A DATABASE_URL for database `name` through this proxy."""
        return f"postgres://{user}@127.0.0.1:{self.port}/{name}"

    def pause(self) -> None:
        """Hold all traffic, both directions, on every connection (new ones too) until resume()."""
        self._set(_flowing=False)

    def resume(self) -> None:
        self._set(_flowing=True)

    def cut(self, *, refuse: bool = False) -> None:
        """Close every open connection (both ends see a reset). refuse=True: also turn away
        every new connection (accepted and reset at once) until restore()."""
        self._set(_refusing=refuse)
        self._close_links()

    def delay(self, seconds: float) -> None:
        """Hold each chunk the client sends this long before forwarding it: about `seconds`
        more per round trip. 0 for none."""
        self._set(_delay=seconds)

    def restore(self) -> None:
        """Flowing, accepting, no delay."""
        self._set(_flowing=True, _refusing=False, _delay=0.0)

    @property
    def open_connections(self) -> int:
        with self._state:
            return len(self._links)

    def upstream_ports(self) -> set[int]:
        with self._state:
            links = list(self._links)
        ports = set()
        for link in links:
            with suppress(OSError):
                ports.add(link.upstream.getsockname()[1])
        return ports

    # --- inside ----------------------------------------------------------------

    def _set(self, **state) -> None:
        with self._state:
            for name, value in state.items():
                setattr(self, name, value)
            self._state.notify_all()

    def _close_links(self) -> None:
        with self._state:
            links, self._links = self._links, set()
            self._state.notify_all()
        for link in links:
            link.close()

    def _accept_forever(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            with self._state:
                if self._stopped:
                    client.close()
                    return
                refusing = self._refusing
                if refusing:
                    self.refused += 1
                else:
                    self.accepted += 1
            if refusing:
                _Link(client, socket.socket()).close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self._state:
                self._links.add(link)
            for source, target, delayed in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump,
                    args=(link, source, target, delayed),
                    name="fault-proxy-pump",
                    daemon=True,
                ).start()

    def _pump(self, link: _Link, source: socket.socket, target: socket.socket, delayed: bool) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                with self._state:
                    if delayed and self._delay:
                        # Wakes early only when the link is cut or the proxy stopped.
                        self._state.wait_for(lambda: link.closed or self._stopped, timeout=self._delay)
                    self._state.wait_for(lambda: self._flowing or link.closed or self._stopped)
                    if link.closed or self._stopped:
                        break
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._state:
                self._links.discard(link)
            link.close()
