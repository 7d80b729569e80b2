"""`Dashboard`: the HTTP server of the live page -- static page, JSON API, server-sent events.

Standard library only (``http.server.ThreadingHTTPServer``): one thread per connection,
which suits a page watched by a few browsers, and keeps the dashboard free of web
frameworks.  A poller thread watches the store (`StoreView.poll`) and wakes the
``/api/events`` streams when something changed, so a fit stored by ``fastfit stream``
reaches the page within the poll interval plus one round trip (0.2 s by default).

Nothing here raises into the threads of the caller or prints: request errors become JSON
answers (404 / 400 / 500), and errors of the poller are kept in the status.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from ..errors import FastfitError, ServeError, StoreError
from ._json import dumps
from ._spectrum import SpectrumService
from ._view import NotFound, StoreView

__all__ = ["Dashboard", "LOOPBACK"]

#: host names that only this machine can reach
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
           "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
           "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8")}
_SPECTRUM = re.compile(r"^/api/spectrum/(-?\d+|latest)$")
_KEEPALIVE_S = 10.0


def _asset(name: str) -> bytes:
    return (resources.files(__package__) / "assets" / name).read_bytes()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    dashboard: "Dashboard"

    def handle_error(self, request, client_address):     # no traceback on stderr
        self.dashboard.last_error = "request handler failed"


class _Handler(BaseHTTPRequestHandler):
    server_version = "fastfit-dashboard"
    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):                  # library code never prints
        pass

    @property
    def dash(self) -> "Dashboard":
        return self.server.dashboard

    def setup(self):
        super().setup()
        self.server.dashboard._count_request(+1)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.dashboard._count_request(-1)

    # ------------------------------------------------------------- answers
    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, code: int = 200) -> None:
        self._send(code, dumps(obj).encode(), "application/json")

    def _error(self, code: int, msg: str) -> None:
        self._json({"error": msg, "status": code}, code)

    def do_POST(self):                                    # noqa: N802 - http.server API
        self._error(405, "the dashboard is read only")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def do_GET(self):                                     # noqa: N802 - http.server API
        try:
            if not self.dash.host_allowed(self.headers.get("Host", "")):
                return self._error(403, "unexpected Host header (the dashboard answers "
                                        "only requests addressed to its own host)")
            url = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            path = url.path
            if path in _ASSETS:
                name, ctype = _ASSETS[path]
                return self._send(200, self.dash.asset(name), ctype)
            if path == "/api/status":
                return self._json(self.dash.status(q.get("run")))
            if path == "/api/params":
                return self._params(q)
            m = _SPECTRUM.match(path)
            if m:
                i = -1 if m.group(1) == "latest" else int(m.group(1))
                wait = float(q.get("wait", 120.0))
                return self._json(self.dash.spectrum(i, q.get("run"), wait=wait))
            if path == "/api/events":
                return self._events(q.get("run"))
            if path == "/favicon.ico":
                return self._send(204, b"", "image/x-icon")
            return self._error(404, f"no such page: {path}")
        except NotFound as exc:
            return self._error(404, str(exc))
        except StoreError as exc:                 # not readable now (no file yet, busy)
            return self._error(503, str(exc))
        except (ValueError, FastfitError) as exc:
            return self._error(400, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            return None
        except Exception as exc:                          # noqa: BLE001 - one answer, no crash
            self.dash.last_error = f"{type(exc).__name__}: {exc}"
            try:
                return self._error(500, f"{type(exc).__name__}: {exc}")
            except OSError:
                return None

    def _params(self, q: dict) -> None:
        cols = [c for c in q.get("columns", "").split(",") if c] or None
        mp = q.get("max_points")
        since = int(q.get("since", 0))
        if mp is not None and int(mp) < 1:
            raise ValueError("max_points must be a positive integer")
        self._json(self.dash.view.params(q.get("run"), cols, None if mp is None else int(mp),
                                         since))

    def _events(self, run) -> None:
        """Server-sent events: ``status`` (the /api/status object) on every change,
        a comment line as keep-alive, ``end`` when the server stops."""
        if run is not None:
            self.dash.status(run)                        # 404 for an unknown run, now
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        d = self.dash
        seen = -1
        while True:
            with d.changed:
                d.changed.wait_for(lambda: d.seq != seen or d.closing, timeout=_KEEPALIVE_S)
                seq, closing = d.seq, d.closing
            try:
                if closing:
                    self.wfile.write(b"event: end\ndata: {}\n\n")
                    self.wfile.flush()
                    return
                if seq != seen:
                    seen = seq
                    body = dumps(d.status(run))
                    self.wfile.write(f"event: status\ndata: {body}\n\n".encode())
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
            except OSError:                               # the browser went away
                return


class Dashboard:
    """The live dashboard of one store: page, JSON API (docs/dashboard.md) and pushes.

    Parameters
    ----------
    store : str or Path
        The fastfit store (HDF5); read only, and it may not exist yet.
    host : str
        Address to listen on; loopback (127.0.0.1) by default.  Other addresses expose
        the store to the network: the command line asks for an explicit ``--host``.
    port : int
        TCP port; 0 picks a free one (see ``port`` after `start`).
    run : str, optional
        Fit run shown by default (default: the last fit run of the store).
    poll : float, s
        How often the store's file is checked for changes.

    Examples
    --------
    >>> with Dashboard("run.h5", port=0) as d:         # doctest: +SKIP
    ...     print(d.url)
    """

    def __init__(self, store, host: str = "127.0.0.1", port: int = 8050,
                 run: str | None = None, poll: float = 0.2):
        self.store = store
        self.host = host
        self.poll = float(poll)
        self.view = StoreView(store, run)
        self.spectra = SpectrumService(store)
        self.changed = threading.Condition()
        self.seq = 0
        self.closing = False
        self.last_error: str | None = None
        self.started = time.time()
        self._stream: dict | None = None
        self._wake = threading.Event()
        self._active = 0
        self._assets: dict = {}
        self._threads: list = []
        try:
            cls = type("_Server", (_HTTPServer,), {"address_family": (
                socket.AF_INET6 if ":" in host else socket.AF_INET)})
            self._httpd = cls((host, int(port)), _Handler)
        except OSError as exc:
            raise ServeError(f"cannot serve the dashboard on {host}:{port}: "
                             f"{exc.strerror or exc}") from None
        self._httpd.dashboard = self
        self.port = self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def host_allowed(self, header: str) -> bool:
        """Requests to a loopback server must name a loopback host (a web page elsewhere
        cannot make the browser read the API through a rebound DNS name)."""
        if self.host not in LOOPBACK:
            return True
        name = header.rsplit(":", 1)[0] if not header.endswith("]") else header
        return name.strip("[]").lower() in LOOPBACK + ("",)

    def asset(self, name: str) -> bytes:
        if name not in self._assets:
            self._assets[name] = _asset(name)
        return self._assets[name]

    # -------------------------------------------------------------- state
    def _count_request(self, delta: int) -> None:
        """Count requests being answered (`stop` lets them finish)."""
        with self.changed:
            self._active += delta
            self.changed.notify_all()

    def _bump(self) -> None:
        with self.changed:
            self.seq += 1
            self.changed.notify_all()

    def update_stream(self, stats: dict) -> None:
        """Counters of a running ``fastfit stream`` (spectra read, points, latency ...),
        shown with the store's counts; also triggers an immediate look at the store."""
        self._stream = dict(stats, received=time.time())
        self._wake.set()
        self._bump()

    def status(self, run: str | None = None) -> dict:
        """The ``/api/status`` object (see docs/dashboard.md)."""
        v = self.view
        c = v.counts()
        r = run or v.default_run()
        fr = c["fit_runs"].get(r) if r is not None else None
        if run is not None and fr is None:
            raise NotFound(f"{self.store}: no fit run {run!r} (fit runs: "
                           f"{', '.join(c['fit_runs']) or 'none yet'})")
        latest = c["latest"]
        if latest is not None:
            fit = latest["fits"].get(r, {})
            latest = {"spectrum": latest["spectrum"], "time": latest["time"],
                      "fitted": bool(fit), "fit_status": fit.get("fit_status"),
                      "ok": fit.get("ok"), "chi2_red": fit.get("chi2_red"),
                      "params": fit.get("params"), "stderr": fit.get("stderr"),
                      "kk": latest.get("kk", {}).get(r)}
        return {"store": os.fspath(self.store), "error": v.error,
                "spectra": c["spectra"], "fitted": fr["fitted"] if fr else 0,
                "failed": fr["failed"] if fr else 0, "latest": latest,
                "run": r, "runs": list(c["fit_runs"]),
                "circuit": fr["circuit"] if fr else None,
                "params": fr["names"] if fr else [], "units": fr["units"] if fr else [],
                "kk": bool(fr and fr["kk"]), "area_cm2": (fr or {}).get("options", {}).get(
                    "area_cm2"),
                "stream": self._stream, "version": self.seq,
                "params_version": v.params_version, "read_s": v.read_seconds,
                "server": {"pid": os.getpid(), "started": self.started, "poll_s": self.poll}}

    def spectrum(self, index: int, run: str | None = None, wait: float | None = None) -> dict:
        """The ``/api/spectrum/<i>`` object (see docs/dashboard.md); ``wait``: s to wait
        for the model curve and KK residuals (then ``pending`` is true without them)."""
        r = run or self.view.default_run()
        meta = self.view.counts()["fit_runs"].get(r) if r is not None else None
        if run is not None and meta is None:
            raise NotFound(f"{self.store}: no fit run {run!r}")
        return self.spectra.payload(index, r, meta, wait=wait)

    # ---------------------------------------------------------- threads
    def _watch(self) -> None:
        """Poller: look at the store every ``poll`` s (at once after a stream update),
        slower when reading takes long (large stores), and wake the event streams."""
        last_full = 0.0
        while not self.closing:
            try:
                now = time.monotonic()
                if now - last_full > 5.0:            # a missed change (same mtime) heals
                    changed = self.view.refresh()
                    last_full = now
                else:
                    changed = self.view.poll()
                if changed:
                    self._bump()
            except Exception as exc:                 # noqa: BLE001 - the poller never dies
                self.last_error = f"{type(exc).__name__}: {exc}"
            wait = max(self.poll, 2.0 * self.view.read_seconds)
            self._wake.wait(min(wait, 2.0))
            self._wake.clear()

    def start(self) -> "Dashboard":
        """Read the store once, then serve and watch it from background threads."""
        self.view.refresh()
        for target, name in ((self._httpd.serve_forever, "fastfit-dashboard-http"),
                             (self._watch, "fastfit-dashboard-watch")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, grace: float = 2.0) -> None:
        """End the event streams (they send ``end``), let the requests being answered
        finish (up to ``grace`` s), stop serving, close the socket (idempotent)."""
        if self.closing:
            return
        self.closing = True
        self._wake.set()
        self._bump()
        with self.changed:
            self.changed.wait_for(lambda: self._active <= 0, timeout=grace)
        if self._threads:
            self._httpd.shutdown()
        self._httpd.server_close()
        self.spectra.close()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def __enter__(self) -> "Dashboard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
