"""``fastfit stream --dashboard``: the page runs beside the stream and can never harm it.

The stream runs in a subprocess (``python -m fastfit.stream.cli``) following a file that a
thread writes line by line; no circuit, so no JAX start-up and the tests stay fast (the
fitted case is checked in a browser in tests/test_serve_browser.py).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

import fastfit as ff
from fastfit.stream.cli import main as stream_main

SAMPLE2 = "hybriddrt_Sample2_PEIS_AtRest.csv"


class Writer(threading.Thread):
    """Appends a file line by line at ``rate`` lines/s, up to the line count allowed so
    far (`allow`), so that a test can act while the stream is surely mid-file."""

    def __init__(self, src: bytes, dst, rate=400.0):
        super().__init__(daemon=True)
        self.lines = src.split(b"\n")
        self.dst, self.rate = dst, rate
        self.n = 0
        self._allowed = 0
        self._cv = threading.Condition()

    def allow(self, n_lines: int) -> None:
        with self._cv:
            self._allowed = max(self._allowed, min(n_lines, len(self.lines)))
            self._cv.notify()

    def run(self):
        with open(self.dst, "ab") as f:
            for i, line in enumerate(self.lines):
                with self._cv:
                    if not self._cv.wait_for(lambda: self._allowed > i, timeout=300):
                        return
                f.write(line + (b"\n" if i < len(self.lines) - 1 else b""))
                f.flush()
                self.n = i + 1
                time.sleep(1.0 / self.rate)


def start_stream(live, store, *extra):
    """The stream subprocess and its dashboard URL (read from its stderr)."""
    p = subprocess.Popen([sys.executable, "-m", "fastfit.stream.cli", str(live), "--store",
                          str(store), "--dashboard", "127.0.0.1:0", *map(str, extra)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    found = threading.Event()

    def read():
        for line in p.stderr:
            err.append(line)
            if "dashboard at" in line:
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    p.finish = lambda: (p.wait(timeout=120), reader.join(30), p.stderr.close())
    assert found.wait(120), "".join(err)
    url = re.search(r"(http://\S+)", "".join(err)).group(1)
    return p, url, err


def status(url):
    with urllib.request.urlopen(url + "api/status", timeout=30) as r:
        return json.loads(r.read())


def wait_for(cond, timeout=120.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


class Hammer(threading.Thread):
    """Asks a dashboard for the status and the newest spectra as fast as it answers (each
    spectrum request opens the store), until the server goes away."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.answers = url, 0

    def run(self):
        paths = ("api/status", "api/spectrum/latest?wait=0", "api/spectrum/0?wait=0")
        while True:
            try:
                with urllib.request.urlopen(self.url + paths[self.answers % 3], timeout=30):
                    self.answers += 1
            except (OSError, ValueError):           # killed: connection refused / reset
                return


def test_a_hung_then_killed_dashboard_never_affects_the_stream(data_dir, tmp_path):
    """kill -9 of a busy ``fastfit serve`` reading the store, then a hung (SIGSTOP) and
    killed ``--dashboard`` child, each while the stream is mid-file: the stream goes on,
    stores every spectrum and the store equals the file read in bulk."""
    bulk = ff.read(data_dir / SAMPLE2)
    live, store = tmp_path / "live.csv", tmp_path / "s.h5"
    live.write_bytes(b"")
    w = Writer((data_dir / SAMPLE2).read_bytes(), live, rate=500)
    per = (len(w.lines) - 1) // len(bulk)                # lines per sweep (after the header)
    sweeps = lambda k: 1 + k * per                       # noqa: E731 - lines of k sweeps
    # no idle stop: the writer pauses between the steps; the test ends the stream (Ctrl-C)
    p, url, err = start_stream(live, store, "--until-idle", 600, "-q")
    serve = None
    try:
        w.start()
        w.allow(sweeps(3))
        wait_for(lambda: _stored(store) >= 2)
        # an independent `fastfit serve` of the same store, under load, killed mid-request
        serve = subprocess.Popen([sys.executable, "-m", "fastfit.cli", "serve", str(store),
                                  "--port", "0"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
        hammer = Hammer(serve.stdout.readline().split()[2])
        hammer.start()
        w.allow(sweeps(5))
        wait_for(lambda: hammer.answers >= 20 and _stored(store) >= 4)
        serve.kill()
        serve.wait(30)
        hammer.join(30)
        assert serve.returncode == -signal.SIGKILL and w.n < len(w.lines)
        # the stream's own dashboard child: hung, the stream goes on ...
        pid = status(url)["server"]["pid"]
        assert pid not in (p.pid, serve.pid)
        os.kill(pid, signal.SIGSTOP)
        try:
            w.allow(sweeps(7))
            wait_for(lambda: _stored(store) >= 6)
        finally:
            os.kill(pid, signal.SIGKILL)                 # ... and killed, it goes on too
        w.allow(len(w.lines))
        w.join(60)
        wait_for(lambda: _stored(store) == len(bulk))
        p.send_signal(signal.SIGINT)                     # stops after storing everything
        p.finish()
    finally:
        for proc in (p, serve):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)
        if serve is not None:
            serve.stdout.close()
    text = "".join(err)
    assert p.returncode == 130, text                     # 130: stopped by Ctrl-C
    assert "the dashboard stopped; the stream goes on" in text
    assert f"{len(bulk)} stored" in text and "Traceback" not in text
    with ff.Store(store, "r") as st:
        s = st.spectra()
    assert len(s) == len(bulk)
    for name in ("freq", "Z", "mask", "time"):
        np.testing.assert_array_equal(getattr(s, name), getattr(bulk, name), err_msg=name)


def _stored(path) -> int:
    try:
        with ff.Store(path, "r") as st:
            return len(st)
    except Exception:                        # noqa: BLE001 - being written
        return 0


def test_stream_status_agrees_with_the_store_and_stops_with_it(data_dir, tmp_path):
    bulk = ff.read(data_dir / SAMPLE2)
    live, store = tmp_path / "live.csv", tmp_path / "s.h5"
    live.write_bytes((data_dir / SAMPLE2).read_bytes())
    p, url, err = start_stream(live, store, "--until-idle", 4, "-q")
    wait_for(lambda: status(url)["spectra"] == len(bulk))
    s = status(url)
    with ff.Store(store, "r") as st:
        assert s["spectra"] == len(st)
    assert s["run"] is None and s["fitted"] == 0 and s["failed"] == 0
    wait_for(lambda: (status(url).get("stream") or {}).get("stored") == len(bulk))
    st = status(url)["stream"]
    assert st["points"] >= bulk.mask.sum() and st["read"] == len(bulk)
    assert st["counts"]["stored"] == len(bulk) and st["latency_s"] >= 0
    pid = status(url)["server"]["pid"]
    p.finish()
    assert p.returncode == 0, "".join(err)
    wait_for(lambda: not _alive(pid), timeout=30)   # the dashboard ended with the stream


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                     # a zombie child of the (ended) stream is gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("address, needle", [
    ("nonsense", "expected [HOST:]PORT"), ("127.0.0.1:99999", "expected [HOST:]PORT")])
def test_bad_dashboard_address_is_refused_before_streaming(tmp_path, capsys, address, needle):
    live = tmp_path / "live.csv"
    live.write_text("")
    rc = stream_main([str(live), "--store", str(tmp_path / "s.h5"), "--dashboard", address])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.h5").exists()


def test_dashboard_port_in_use_is_refused_before_streaming(tmp_path, capsys):
    live = tmp_path / "live.csv"
    live.write_text("")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        rc = stream_main([str(live), "--store", str(tmp_path / "s.h5"), "--dashboard",
                          f"127.0.0.1:{busy.getsockname()[1]}"])
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert rc == 2 and "cannot serve the dashboard" in err
    assert not (tmp_path / "s.h5").exists()
