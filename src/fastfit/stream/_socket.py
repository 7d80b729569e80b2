"""Line-protocol TCP source on the loopback interface, with a crash-safe point journal.

Protocol (one line per message, UTF-8, ``\\n`` terminated)
--------------------------------------------------------
1. The client connects to ``127.0.0.1:PORT``; the server greets with
   ``{"fastfit": "stream", "protocol": 1, "next_seq": N}``: N points (0..N-1) are already
   safely received -- after a reconnect, or after the server was restarted, the client
   resumes with point N.
2. The client sends points, one per line: a JSON object (``{"freq": 1e3, "re": 12.5,
   "im": -3.1, "t": 0.5, "loop": 0, "seq": 17}``; see :func:`fastfit.stream.as_point`)
   or a CSV row ``freq,re,im[,t[,loop]]`` (a non-numeric first line may name the columns,
   e.g. ``freq/Hz,Re(Z)/Ohm,-Im(Z)/Ohm``).  ``seq`` (the point's global 0-based number)
   is optional but makes delivery exact: points with ``seq < next_seq`` are duplicates
   and dropped, points ahead of ``next_seq`` wait until the gap is filled.
3. A line the server cannot read is answered with ``{"error": "..."}`` and skipped.
4. ``{"sync": true}`` is answered with ``{"next_seq": N}`` once every line sent before it
   has been handled (the client's way to know that all its points arrived).

Only loopback addresses are accepted.  One client is served at a time; a new connection
replaces the old one (a client reconnecting after a network hiccup wins over its own
half-open connection).

Journal: every accepted point is appended (one ``write`` per line batch) to the journal
file before it counts as received.  A restarted server replays the journal first, so a
kill -9 loses no acknowledged point, and the spectra are re-cut at the same positions
(the store's content keys recognise the ones already stored).
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time

from ..errors import DataError, StreamError
from ._points import LineParser, Point, Sequencer, as_point, point_to_json
from ._source import Marker, Source

__all__ = ["SocketSource", "send_points", "Journal"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Journal:
    """Append-only JSON-lines file of accepted points (with their ``seq``)."""

    def __init__(self, path):
        self.path = str(path)

    def load(self) -> list[Point]:
        """Points already journaled; a torn last line (killed mid-write) is cut off."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read()
        except FileNotFoundError:
            return []
        cut = raw.rfind(b"\n") + 1
        if cut < len(raw):
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
        out = []
        for line in raw[:cut].split(b"\n"):
            if line.strip():
                out.append(as_point(json.loads(line)))
        return out

    def open(self):
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def append(self, points: list[Point]) -> None:
        if points:
            data = "".join(point_to_json(p) + "\n" for p in points).encode()
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def close(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
            self._fd = None


class SocketSource(Source):
    """Points pushed by any program over a loopback TCP socket (see the module docstring).

    Parameters
    ----------
    port : int, 0 picks a free port (read it from ``.port`` once ``.ready`` is set)
    host : loopback address only ("127.0.0.1", "localhost" or "::1")
    journal : path, "auto" (``<store>.<run>.journal`` next to the store, set by the
        pipeline) or None (no crash safety: points in memory only)
    until_idle : float, s, optional: end after this long without a point (or a client
        connecting / disconnecting)
    name : str, the source name stored with the spectra
    meta, sweep : series metadata and stated sweep, as for `IterableSource`
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *, journal="auto",
                 until_idle: float | None = None, name: str = "tcp",
                 meta: dict | None = None, sweep: dict | None = None):
        super().__init__()
        if host not in _LOOPBACK:
            raise StreamError(f"the stream socket binds loopback addresses only "
                              f"({', '.join(_LOOPBACK)}), not {host!r}")
        self.host, self.port = host, int(port)
        self.journal = journal
        self.until_idle = until_idle
        self.name = name
        self.meta = dict(meta or {})
        self.sweep = sweep
        self.ready = threading.Event()
        self._seq = Sequencer()
        self._queue: asyncio.Queue | None = None
        self._writer = None

    @property
    def next_seq(self) -> int:
        """Points received so far (the number of the next point expected)."""
        return self._seq.next_seq

    @property
    def n_duplicates(self) -> int:
        return self._seq.n_duplicates

    @property
    def replayable(self) -> bool:
        return self.journal is not None and self.journal != "auto"

    def attach(self, store_path: str, run: str) -> None:
        if self.journal == "auto":
            self.journal = f"{store_path}.{run}.journal"

    async def items(self):
        self.final = False
        yield Marker("start", meta=self.meta, sweep=self.sweep)
        jr = None
        if self.journal not in (None, "auto"):
            jr = Journal(self.journal)
            old = jr.load()
            for p in old:
                yield p
            self._seq = Sequencer(len(old))
            jr.open()
        self._jr = jr
        self._queue = asyncio.Queue()
        server = await asyncio.start_server(self._client, self.host, self.port,
                                            reuse_address=True, limit=1 << 20)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        last = time.monotonic()
        try:
            while not self._stopping:
                timeout = 0.05
                try:
                    # waiting points first: wait_for sets up a task and a timer per call
                    item = (self._queue.get_nowait() if not self._queue.empty()
                            else await asyncio.wait_for(self._queue.get(), timeout))
                except asyncio.TimeoutError:
                    if self.until_idle is not None and time.monotonic() - last >= self.until_idle:
                        return
                    continue
                if isinstance(item, Point) or item.message.startswith("client"):
                    last = time.monotonic()          # a point or a (dis)connection
                yield item
        finally:
            server.close()
            if self._writer is not None:
                self._writer.close()
            await server.wait_closed()
            if jr is not None:
                jr.close()
            self.ready.clear()

    # ------------------------------------------------------------- clients
    def _deliver(self, points: list[Point]) -> None:
        """Journal accepted points (one write), then hand them to the pipeline."""
        if points:
            if self._jr is not None:
                self._jr.append(points)
            for q in points:
                self._queue.put_nowait(q)

    async def _client(self, reader, writer):
        if self._writer is not None:                     # newest client wins
            self._writer.close()
            self._queue.put_nowait(Marker("notice", "a new client replaced the connected one"))
        self._writer = writer
        self._seq.ahead.clear()
        peer = writer.get_extra_info("peername")
        self._queue.put_nowait(Marker("notice", f"client {peer} connected (next_seq "
                                                f"{self.next_seq})"))
        parser = LineParser()
        try:
            writer.write((json.dumps({"fastfit": "stream", "protocol": 1,
                                      "next_seq": self.next_seq}) + "\n").encode())
            await writer.drain()
            buf = b""
            while not self._stopping:
                data = await reader.read(1 << 16)
                if not data:
                    if buf:
                        self._queue.put_nowait(Marker("notice", "connection closed inside a "
                                                                f"line; ignored {buf[:60]!r}"))
                    break
                buf += data
                cut = buf.rfind(b"\n")
                if cut < 0:
                    continue
                lines, buf = buf[:cut].split(b"\n"), buf[cut + 1:]
                if writer is not self._writer:
                    continue
                ok: list[Point] = []
                for line in lines:
                    if line.startswith(b'{"sync"'):
                        self._deliver(ok)
                        ok = []
                        writer.write((json.dumps({"next_seq": self.next_seq}) + "\n").encode())
                        continue
                    try:
                        p = parser.parse(line)
                    except DataError as exc:
                        writer.write((json.dumps({"error": str(exc)}) + "\n").encode())
                        self._queue.put_nowait(Marker("notice", f"bad line from client: {exc}"))
                        continue
                    if p is not None:
                        ok += self._seq.accept(p)
                self._deliver(ok)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            self._queue.put_nowait(Marker("notice", f"client connection failed: {exc}"))
        finally:
            if self._writer is writer:
                self._writer = None
                self._queue.put_nowait(Marker("notice", f"client {peer} disconnected "
                                                        f"(next_seq {self.next_seq})"))
            writer.close()


def send_points(points, port: int, host: str = "127.0.0.1", *, rate: float | None = None,
                retries: int = 50, retry_wait: float = 0.1, timeout: float = 10.0,
                on_sent=None) -> int:
    """Push points to a :class:`SocketSource` (a reference client for acquisition scripts).

    ``points`` is the whole sequence from the first point of the experiment (Points,
    mappings or tuples); point i is sent with ``seq = i``.  After a connection failure
    the client reconnects and resumes at the server's ``next_seq``, so nothing is lost or
    sent twice.  ``rate`` paces the sending (points/s); ``on_sent(i)`` is called after
    point i was written.  Returns the number of points sent.
    """
    pts = [as_point(p, seq=i) for i, p in enumerate(points)]
    pts = [p if p.seq is not None else Point(p.freq, p.Z, p.channels, p.groups, i, p.last)
           for i, p in enumerate(pts)]
    sent = 0
    failures = 0
    t0 = time.monotonic()
    while True:
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                f = s.makefile("rb")
                hello = json.loads(f.readline() or b"{}")
                if "next_seq" not in hello:
                    raise ConnectionError("no greeting from the fastfit stream server")
                i = int(hello["next_seq"])
                if i >= len(pts):
                    return sent
                base = time.monotonic() - (i / rate if rate else 0.0)
                while i < len(pts):
                    if rate:
                        ahead = base + i / rate - time.monotonic()
                        if ahead > 0:
                            time.sleep(ahead)
                    s.sendall((point_to_json(pts[i]) + "\n").encode())
                    if on_sent is not None:
                        on_sent(i)
                    i += 1
                    sent += 1
                s.sendall(b'{"sync": true}\n')
                while True:
                    reply = json.loads(f.readline() or b"{}")
                    if "next_seq" in reply:
                        break
                    if not reply:
                        raise ConnectionError("connection closed before the sync reply")
                if int(reply["next_seq"]) >= len(pts):
                    return sent
                failures += 1                  # the server is missing points: resend them
                if failures > retries:
                    raise StreamError(f"send_points: the server still expects point "
                                      f"{reply['next_seq']} after {retries} retries")
        except (OSError, ValueError):
            failures += 1
            if failures > retries:
                raise
            time.sleep(retry_wait)
        if time.monotonic() - t0 > 3600:
            raise StreamError("send_points: gave up after an hour")
