"""fastfit stream under faults: kill -9 mid-stream then restart, a killed socket server,
Ctrl-C.  Checked by comparing the store with a bulk read: nothing lost, nothing twice.

The command runs in a subprocess (``python -m fastfit.stream.cli``, the implementation
of ``fastfit stream``).  Most runs store spectra only (no circuit: no JAX start-up, so
the tests stay fast); one slow test kills a fitting run.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastfit as ff
import fastfit.stream as fs

SAMPLE2 = "hybriddrt_Sample2_PEIS_AtRest.csv"


def cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "fastfit.stream.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})


def kill9(p) -> None:
    p.send_signal(signal.SIGKILL)
    p.communicate()


def stored(path) -> int:
    try:
        with ff.Store(path, "r") as st:
            return len(st)
    except Exception:                    # noqa: BLE001 - not created yet / being created
        return 0


def wait_for(cond, timeout=60.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.02)


def assert_store_equals(path, bulk):
    with ff.Store(path, "r") as st:
        s = st.spectra()
        keys = st._f["spectra/key"][:len(st)]
    assert len(set(keys.tolist())) == len(keys) == len(bulk)
    for name in ("freq", "Z", "mask", "time", "time_end"):
        np.testing.assert_array_equal(getattr(s, name), getattr(bulk, name), err_msg=name)
    for k, v in bulk.points.items():
        np.testing.assert_array_equal(s.points[k], v, err_msg=k)


class Writer(threading.Thread):
    """Appends a file line by line at ``rate`` lines/s; can pause after ``stop_at`` lines."""

    def __init__(self, src: bytes, dst, rate=400.0, stop_at=None):
        super().__init__(daemon=True)
        self.lines = src.split(b"\n")
        self.dst, self.rate, self.stop_at = dst, rate, stop_at
        self.go = threading.Event()
        self.n = 0

    def run(self):
        with open(self.dst, "ab") as f:
            for i, line in enumerate(self.lines):
                if self.stop_at is not None and i == self.stop_at:
                    self.go.wait(60)
                f.write(line + (b"\n" if i < len(self.lines) - 1 else b""))
                f.flush()
                self.n = i + 1
                time.sleep(1.0 / self.rate)


def test_kill9_while_following_a_file_then_resume(data_dir, tmp_path):
    bulk = ff.read(data_dir / SAMPLE2)
    live, store = tmp_path / "live.csv", tmp_path / "s.h5"
    w = Writer((data_dir / SAMPLE2).read_bytes(), live, rate=600)
    w.start()
    p = cli(live, "--store", store, "--until-idle", 20, "-q")
    wait_for(lambda: stored(store) >= 4)
    kill9(p)
    w.join()
    assert 4 <= stored(store) < len(bulk)
    p = cli(live, "--store", store, "--until-idle", 0.5, "-q")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert_store_equals(store, bulk)
    assert b"resumed" in err and b"stored" in err


def test_kill9_socket_server_client_resumes(data_dir, tmp_path):
    bulk = ff.read(data_dir / SAMPLE2)
    pts = fs.series_points(bulk)
    store = tmp_path / "s.h5"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sent = {}
    client = threading.Thread(target=lambda: sent.update(
        n=fs.send_points(pts, port, rate=1500, retries=400, retry_wait=0.05)), daemon=True)
    p = cli(f"tcp://127.0.0.1:{port}", "--store", store, "--until-idle", 30, "-q")
    client.start()
    wait_for(lambda: stored(store) >= 3)
    kill9(p)                                      # the client keeps retrying meanwhile
    p = cli(f"tcp://127.0.0.1:{port}", "--store", store, "--until-idle", 1.0, "-q")
    client.join(60)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert sent["n"] >= len(pts)                   # points the dead server never read: resent
    assert_store_equals(store, bulk)


def test_sigint_stores_every_complete_spectrum(data_dir, tmp_path):
    bulk = ff.read(data_dir / SAMPLE2)
    live, store = tmp_path / "live.csv", tmp_path / "s.h5"
    # header + 3 sweeps of 90 rows + half of the 4th, then the writer waits
    w = Writer((data_dir / SAMPLE2).read_bytes(), live, rate=2000, stop_at=1 + 3 * 90 + 45)
    w.start()
    p = cli(live, "--store", store, "-q")
    wait_for(lambda: w.n == 1 + 3 * 90 + 45 and stored(store) >= 3)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert b"stopped by signal" in err and b"1 incomplete" in err
    assert stored(store) == 3
    w.go.set()
    w.join()
    p = cli(live, "--store", store, "--until-idle", 0.5, "-q")
    p.communicate(timeout=60)
    assert_store_equals(store, bulk)


@pytest.mark.slow
def test_kill9_while_fitting_then_resume(data_dir, tmp_path):
    """A fitting run killed while it commits its first fits; the re-run stores and fits
    the rest: no spectrum is stored or fitted twice, and the fits equal a bulk fit (made
    in a subprocess that loads the same compiled programs from the persistent cache)."""
    circuit = "R0-p(R1,CPE1)-p(R2,CPE2)"
    bulk1 = ff.read(data_dir / "pyeis_ex1.mpt")
    # a longer experiment: the two sweeps of ex1 repeated as 8 loops (csv), times shifted
    rows = ["freq/Hz,Re(Z)/Ohm,-Im(Z)/Ohm,time/s,loop"]
    for rep in range(4):
        for q in fs.series_points(bulk1):
            rows.append(f"{q.freq!r},{q.Z.real!r},{-q.Z.imag!r},{q.channels['t'] + 1e4 * rep!r},"
                        f"{2 * rep + int(q.groups['loop']) - 1}")
    src = ("\n".join(rows) + "\n").encode()
    (tmp_path / "full.csv").write_bytes(src)
    bulk = ff.read(tmp_path / "full.csv")
    assert len(bulk) == 8
    live, store = tmp_path / "live.csv", tmp_path / "s.h5"
    env = {"FASTFIT_CACHE_DIR": str(tmp_path / "jax-cache")}
    w = Writer(src, live, rate=3000, stop_at=1 + 5 * 59 + 30)    # 5 sweeps and a half
    w.start()
    args = [live, "-c", circuit, "--store", store, "--no-warm-start", "-q"]
    p = cli(*args, "--until-idle", 300, env=env)

    def fitted():
        try:
            with ff.Store(store, "r") as st:
                return st.done("stream").size
        except Exception:                # noqa: BLE001
            return 0

    wait_for(lambda: fitted() >= 1, timeout=300)
    kill9(p)
    w.go.set()
    w.join()
    p = cli(*args, "--until-idle", 0.5, env=env)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert_store_equals(store, bulk)
    ref = subprocess.run(
        [sys.executable, "-c", "import sys, numpy as np, fastfit as ff\n"
         "from fastfit.cli._common import setup_jax\nsetup_jax()\n"
         f"r = ff.fit(ff.read(sys.argv[1]), circuit={circuit!r})\n"
         "np.save(sys.argv[2], np.column_stack([r.params, r.chi2]))",
         str(tmp_path / "full.csv"), str(tmp_path / "ref.npy")],
        env={**os.environ, **env}, capture_output=True, timeout=300)
    assert ref.returncode == 0, ref.stderr
    expect = np.load(tmp_path / "ref.npy")
    with ff.Store(store, "r") as st:
        assert st.run_info("stream")["n_fit"] == 8            # each spectrum fitted once
        r = st.results("stream", "fit")
    np.testing.assert_array_equal(r["spectrum"], np.arange(8))
    np.testing.assert_array_equal(r["params"], expect[:, :-1])
    np.testing.assert_array_equal(r["chi2"], expect[:, -1])
