"""Running the dashboard beside ``fastfit stream``: in its own process, on a lifeline.

Why a process and not a thread of the stream
--------------------------------------------
* The stream writes the store; HDF5 shares one open file between all handles of a
  process, so a reader thread in the writer's process would see (and hold) the writer's
  file, not an independent read-only view, and could stall the writer's reopen when it
  adds columns.  A separate process reads the file exactly as any other reader does.
* Drawing data for a browser (JSON of long columns) holds the GIL; in its own process
  it cannot delay the stream's event loop or its fits.
* Killing the dashboard (``kill -9``, a crash, an exception) cannot reach the stream:
  the stream only ever *writes* small JSON lines into the child's standard input, without
  blocking (a line that does not fit the pipe is dropped), and ignores a broken pipe.

The child is ``python -m fastfit.cli serve STORE --stream-stats ...``; its first line on
stdout is the URL (the parent waits for it, so a port in use is reported before the
stream starts), and it stops when its standard input closes, i.e. when the stream ends
or dies.
"""
from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time

from ..errors import ServeError

__all__ = ["DashboardProcess", "StreamDashboard", "parse_address", "loopback_warning",
           "stream_stats"]

_ADDRESS = re.compile(r"^(?:(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]*)):)?(?P<port>\d+)$")


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port).

    >>> parse_address("8050")
    ('127.0.0.1', 8050)
    >>> parse_address("0.0.0.0:80"), parse_address("[::1]:0")
    (('0.0.0.0', 80), ('::1', 0))
    """
    m = _ADDRESS.match(str(text).strip())
    port = int(m.group("port")) if m else -1
    if m is None or not 0 <= port <= 65535:
        raise ServeError(f"{text!r}: expected [HOST:]PORT, e.g. 8050 or 127.0.0.1:8050 "
                         "(port 0 picks a free one)")
    host = m.group("v6") or m.group("host") or default_host
    return host, port


def loopback_warning(host: str) -> str | None:
    """The warning given before serving on a non-loopback address (None for loopback)."""
    if host in ("127.0.0.1", "localhost", "::1"):
        return None
    return (f"warning: the dashboard listens on {host}, not only on this machine "
            "(127.0.0.1): anyone who can reach this address can read the store")


class DashboardProcess:
    """The dashboard of a store, served by a child process fed with stream counters.

    Parameters
    ----------
    store : path of the store (it may not exist yet)
    host, port : where to listen (port 0: a free one; see ``url`` after `start`)
    run : str, optional, the fit run to show
    timeout : float, s, how long `start` waits for the child to listen
    python : the interpreter (default: this one)
    """

    def __init__(self, store, host: str = "127.0.0.1", port: int = 8050,
                 run: str | None = None, *, timeout: float = 60.0, python: str | None = None):
        self.store, self.host, self.port, self.run = os.fspath(store), host, int(port), run
        self.timeout = timeout
        self.python = python or sys.executable
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self.dropped = 0
        self._fd: int | None = None
        self._err = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> "DashboardProcess":
        """Start the child and wait until it listens; :class:`ServeError` if it cannot."""
        cmd = [self.python, "-m", "fastfit.cli", "serve", self.store, "--host", self.host,
               "--port", str(self.port), "--stream-stats"]
        if self.run:
            cmd += ["--run", self.run]
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, start_new_session=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            first = lines.get(timeout=self.timeout).decode(errors="replace")
        except queue.Empty:
            first = ""
        m = re.search(r"http://\S+", first)
        if m is None:
            try:
                self.proc.wait(timeout=5)     # a child that failed exits by itself
            except subprocess.TimeoutExpired:
                pass
            reason = self._reason()
            self.stop()
            raise ServeError(f"the dashboard did not start: {reason}")
        self.url = m.group(0)
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        self._fd = self.proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        return self

    def _reason(self) -> str:
        try:
            self._err.seek(0)
            text = self._err.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            text = []
        last = text[-1] if text else "no answer from the server process"
        return last.split("error: ", 1)[-1]

    def alive(self) -> bool:
        """True while the child runs."""
        return self.proc is not None and self.proc.poll() is None

    def send(self, stats: dict) -> bool:
        """Pass counters to the page; never blocks, never raises (False: not delivered)."""
        if self._fd is None:
            return False
        try:
            line = (json.dumps(stats, default=float, allow_nan=False) + "\n").encode()
        except (TypeError, ValueError):
            return False
        if len(line) > 4096:                      # writes up to PIPE_BUF are atomic
            return False
        try:
            os.write(self._fd, line)
            return True
        except BlockingIOError:                    # the child is not reading: drop it
            self.dropped += 1
            return False
        except OSError:                            # the child is gone
            self._fd = None
            return False

    def stop(self, timeout: float = 5.0) -> int | None:
        """Close the child's input (it shows the final state and exits), wait, then
        terminate it; returns its exit status.  Idempotent, never raises."""
        p, self._fd = self.proc, None
        if p is None:
            return None
        try:
            if p.stdin is not None and not p.stdin.closed:
                p.stdin.close()
        except OSError:
            pass
        try:
            return self._wait(p, timeout)
        finally:
            for fh in (p.stdout, self._err):
                try:
                    fh.close()
                except (OSError, AttributeError):
                    pass

    @staticmethod
    def _wait(p, timeout: float) -> int:
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.terminate()
        try:
            return p.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()


def stream_stats(pipe, running: bool = True) -> dict:
    """The counters of a running :class:`fastfit.stream.Pipeline` shown on its dashboard:
    points, spectra read / stored / being fitted, result counts, the last and the median
    (of the last 50) latency from a spectrum's last point to its fit stored, s."""
    sm = pipe.summary
    lat = sorted(sm.latencies[-50:])
    return {"points": sm.n_points, "read": sm.n_stored + pipe.pending, "stored": sm.n_stored,
            "pending": pipe.pending, "counts": dict(sm.counts), "running": running,
            "latency_s": sm.latencies[-1] if sm.latencies else None,
            "latency_median_s": lat[len(lat) // 2] if lat else None}


class StreamDashboard:
    """The dashboard of ``fastfit stream --dashboard``: a `DashboardProcess` fed with
    `stream_stats` after every stored spectrum (`result`, an ``on_result`` callback) and
    twice a second (`tick`).

    Parameters
    ----------
    address : str, ``[HOST:]PORT``
    store : path of the store;  run : str or None, the fit run to show
    notice : callable(str), optional -- receives the messages for the user (address,
        warning for a non-loopback host, a dashboard that stopped)

    Nothing here blocks or raises into the stream: a dashboard that dies is reported once
    and the stream goes on.  A bad address or a port in use raises :class:`ServeError`
    at construction, before the stream starts.
    """

    def __init__(self, address: str, store, run: str | None, notice=None):
        host, port = parse_address(address)
        self.notice = notice or (lambda msg: None)
        warning = loopback_warning(host)
        if warning:
            self.notice(warning)
        self.proc = DashboardProcess(store, host, port, run).start()
        self.pipe = None
        self.gone = False
        self._last = 0.0
        self.notice(f"dashboard at {self.proc.url}")

    def result(self, r) -> None:
        """``on_result`` callback: a spectrum was stored, tell the page now."""
        self.tick(force=True)

    def tick(self, force: bool = False, running: bool = True) -> None:
        """Send the counters (at most every 0.5 s unless ``force``)."""
        if self.pipe is None or self.gone:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.5:
            return
        self._last = now
        try:
            sent = self.proc.send(stream_stats(self.pipe, running))
        except Exception:                         # noqa: BLE001 - never into the stream
            sent = False
        if not sent and not self.proc.alive():
            self.gone = True
            self.notice("the dashboard stopped; the stream goes on")

    def close(self) -> None:
        """Final counters, then stop the child (it shows the final state first)."""
        self.tick(force=True, running=False)
        self.proc.stop()
