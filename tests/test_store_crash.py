"""Crash safety of Store appends: writers killed with SIGKILL, then reopened."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastfit.store import Store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

# Child writer: spectra i have Z = (i+1) * ones; fit rows of spectrum i have params = i * [1..3].
CHILD = textwrap.dedent("""
    import os, signal, sys, types
    import numpy as np
    from fastfit.series import SpectrumSeries
    from fastfit.store import Store
    import fastfit.store._table as tb

    path, mode, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    F = 16

    def series(lo, hi):
        i = np.arange(lo, hi)
        Z = (i[:, None] + 1.0) * (1 - 0.5j) * np.ones(F)
        return SpectrumSeries(freq=np.broadcast_to(np.logspace(4, 0, F), Z.shape), Z=Z,
                              mask=np.ones(Z.shape, bool), time=i * 1.0,
                              meta={"source": "synthetic"}, info={"index": i})

    def result(idx):
        p = idx[:, None] * np.array([1.0, 2.0, 3.0])
        B = idx.size
        return types.SimpleNamespace(params=p, stderr=p / 10, chi2=idx * 1.0, chi2_red=idx * 1.0,
                                     status=np.ones(B, int), n_iter=np.ones(B, int))

    if mode == "kill-before-commit":
        real = tb.append_rows
        def append_then_die(table, rows, flush):
            def flush_then_die():
                flush()
                if table.name.endswith("/fit"):
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(table, rows, flush_then_die)
        tb.append_rows = append_then_die
    st = Store(path, "a")
    lo = start
    while lo < 10**6:
        idx = st.append_spectra(series(lo, lo + 50))
        st.write_fit("fit", idx, result(idx), "R0-p(R1,C1)", {"weight": "modulus"})
        print(lo + 50, flush=True)
        lo += 50
        if mode == "once":
            break
""")


def _args(path, mode, start=0):
    return [sys.executable, "-c", CHILD, str(path), mode, str(start)]


def _run(path, mode, start=0):
    """Run the child to completion (or to its own SIGKILL); returns CompletedProcess."""
    return subprocess.run(_args(path, mode, start), capture_output=True, text=True, timeout=120)


def _looping(path):
    return subprocess.Popen(_args(path, "loop"), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)


def _check_consistent(path):
    """Every committed row is what the writer wrote; no spectrum has two rows."""
    with Store(path, "a") as st:
        n = len(st)
        s = st.spectra() if n else None
        done = st.done("fit") if "fit" in st.runs() else np.zeros(0, int)
        df = st.params("fit") if "fit" in st.runs() else None
    if n:
        i = s.info["index"]
        np.testing.assert_array_equal(i, np.arange(n))
        np.testing.assert_array_equal(s.Z[:, 0], (i + 1.0) * (1 - 0.5j))
    if df is not None:
        assert df.index.is_unique and df.index.tolist() == done.tolist()
        assert done.size <= n and (done.size == 0 or done.max() < n)
        np.testing.assert_array_equal(df["R1"], df.index.to_numpy() * 2.0)
        np.testing.assert_array_equal(df["R0_stderr"], df.index.to_numpy() / 10)
    return n, done


def test_killed_between_data_write_and_commit(tmp_path):
    path = tmp_path / "crash.h5"
    p = _run(path, "once")
    assert p.returncode == 0, p.stderr
    p = _run(path, "kill-before-commit", start=50)
    assert p.returncode == -signal.SIGKILL, p.stderr
    n, done = _check_consistent(path)
    assert n == 100                      # the spectra of the second chunk were committed
    assert done.tolist() == list(range(50))   # its fit rows were written but not committed
    with Store(path, "r") as st:
        assert st.run_info("fit")["n_fit"] == 50
    # resume: the same work again completes the store without duplicates
    p = _run(path, "once", start=50)
    assert p.returncode == 0, p.stderr
    n, done = _check_consistent(path)
    assert n == 100 and done.tolist() == list(range(100))


@pytest.mark.parametrize("delay", [0.15, 0.6])
def test_sigkill_at_random_moment_then_resume(tmp_path, delay):
    path = tmp_path / "crash.h5"
    with _looping(path) as p:
        # wait until at least one chunk is committed, then kill somewhere in the next ones
        first = p.stdout.readline()
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    assert first.strip()
    n, done = _check_consistent(path)
    assert n >= 50 and done.size >= 50
    assert done.tolist() == list(range(done.size))
    # resume from the first spectrum without results: afterwards all rows are present once
    p = _run(path, "once", start=int(done.size))
    assert p.returncode == 0, p.stderr
    n2, done2 = _check_consistent(path)
    assert done2.tolist() == list(range(int(done.size) + 50))


def test_reader_sees_committed_rows_while_writer_runs(tmp_path):
    path = tmp_path / "live.h5"
    with _looping(path) as p:
        try:
            assert p.stdout.readline().strip()
            seen = []
            for _ in range(3):
                with Store(path, "r") as st:
                    seen.append(len(st))
                    df = st.params("fit")
                    assert df.index.is_unique
                    np.testing.assert_array_equal(df["R1"], df.index.to_numpy() * 2.0)
                time.sleep(0.1)
        finally:
            p.kill()
            p.wait(timeout=30)
    assert seen[0] >= 50 and seen == sorted(seen)


def test_new_stores_use_paged_file_space(tmp_path):
    """New stores allocate file space in 4 KiB pages (no metadata block straddles a page
    boundary, where SIGKILL can tear a write; see fastfit.store._h5file)."""
    import h5py

    path = tmp_path / "paged.h5"
    with Store(path, "w"):
        pass
    with h5py.File(path, "r") as f:
        plist = f.id.get_create_plist()
        assert plist.get_file_space_strategy()[0] == h5py.h5f.FSPACE_STRATEGY_PAGE
        assert plist.get_file_space_page_size() == 4096
