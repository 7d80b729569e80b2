"""Bulk refit through the command line: 100,000 spectra, wall time and peak RSS.

Task: ``fastfit fit *.mpr -c "R0-p(R1,CPE1)-p(R2,CPE2)" --out run.h5 --chunk 2000`` on
N synthetic spectra (default 100,000; ``FASTFIT_BENCH_CLI_N`` overrides) from
`fastfit.synthetic.paper_rcpe2` (59 points, 7 MHz - 10 Hz, 0.5 % noise), written as
BioLogic ``.mpr`` files of 5,000 spectra each.  The command runs as a child process in
a fresh interpreter with an empty JAX compilation cache, so the time includes reading
the files, ingesting them into the store, compiling, fitting and writing.  Peak RSS is
the child's ``ru_maxrss`` (``os.wait4``).  The acceptance limit is 3 GB.

Reference, same run: impedance.py 1.7.1 ``CustomCircuit.fit`` (scipy ``curve_fit``) in a
loop over the first ``N_REF`` spectra from a generic initial guess, the usual workflow;
the ratio compares time per spectrum.

Start-up (``test_cli_start_cold_warm``): ``fastfit fit pyeis_ex1.mpt -c
"R0-p(R1,CPE1)-p(R2,CPE2)" --out x.h5 -q`` (2 real spectra) as a whole process, first
with an empty persistent compilation cache (cold: every program compiles), then with the
cache it filled (warm: the issue asks for < 2 s).  Wall times depend on the machine's
load: quote them with the load average.

Run: ``pytest benchmarks/bench_cli.py --benchmark-only -s``.  Results: results_cli.md.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastfit.synthetic import PAPER_CIRCUIT, paper_rcpe2

N = int(os.environ.get("FASTFIT_BENCH_CLI_N", "100000"))
PER_FILE = 5000
N_REF = 20
RESULTS: dict = {}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import datetime as dt

    from fastfit.io import _writers

    d = tmp_path_factory.mktemp("bench_cli")
    paths = []
    t0 = dt.datetime(2025, 5, 15, 1, 0, 0)
    for k, start in enumerate(range(0, N, PER_FILE)):
        n = min(PER_FILE, N - start)
        f, Z, _ = paper_rcpe2(n, seed=1000 + k)
        p = _writers.write_mpr(d / f"series_{k:03d}.mpr", [f] * n, list(Z),
                               t0=t0 + dt.timedelta(hours=k))
        paths.append(p)
    return d, paths


def _fastfit_exe():
    return str(Path(sys.executable).parent / "fastfit")


def test_cli_bulk_refit(benchmark, files, tmp_path):
    d, paths = files
    out = tmp_path / "run.h5"
    env = {**os.environ, "FASTFIT_CACHE_DIR": str(tmp_path / "jax-cache")}
    cmd = [_fastfit_exe(), "fit", *map(str, paths), "-c", PAPER_CIRCUIT, "-o", str(out),
           "--chunk", "2000", "-q"]

    def run():
        t = time.perf_counter()
        p = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read()
        p.stderr.close()
        assert p.returncode == 0, err
        RESULTS["cli_s"] = time.perf_counter() - t
        RESULTS["cli_rss_gb"] = usage.ru_maxrss * 1024 / 1e9      # Linux: KiB
        RESULTS["cli_msg"] = err.strip().splitlines()[-1]

    benchmark.pedantic(run, rounds=1, iterations=1)
    from fastfit.store import Store

    with Store(out, "r") as st:
        df = st.params("fit")
        RESULTS["n_rows"] = len(df)
        RESULTS["converged"] = float((df["status"] > 0).mean())
        assert len(df) == N and df.index.is_unique
    RESULTS["store_mb"] = out.stat().st_size / 1e6
    RESULTS["files_mb"] = sum(p.stat().st_size for p in paths) / 1e6
    benchmark.extra_info.update(RESULTS)
    print(f"\nfastfit CLI: {N} spectra in {RESULTS['cli_s']:.1f} s "
          f"({N / RESULTS['cli_s']:.0f} spectra/s), peak RSS {RESULTS['cli_rss_gb']:.2f} GB, "
          f"converged {RESULTS['converged']:.4f}, store {RESULTS['store_mb']:.0f} MB")
    assert RESULTS["cli_rss_gb"] < 3.0


def test_reference_impedancepy_loop(benchmark):
    import warnings

    from impedance.models.circuits import CustomCircuit

    f, Z, _ = paper_rcpe2(N_REF, seed=1000)
    guess = [10.0, 100.0, 1e-8, 0.9, 100.0, 1e-6, 0.9]

    def run():
        out = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for z in Z:
                c = CustomCircuit(PAPER_CIRCUIT, initial_guess=guess)
                c.fit(f, z)
                out.append(c.parameters_)
        return np.array(out)

    t = time.perf_counter()
    benchmark.pedantic(run, rounds=1, iterations=1)
    RESULTS["ref_s_per_spectrum"] = (time.perf_counter() - t) / N_REF
    benchmark.extra_info.update(RESULTS)
    if "cli_s" in RESULTS:
        ratio = RESULTS["ref_s_per_spectrum"] / (RESULTS["cli_s"] / N)
        print(f"\nimpedance.py loop: {1 / RESULTS['ref_s_per_spectrum']:.1f} spectra/s; "
              f"fastfit CLI end-to-end is {ratio:.0f}x faster per spectrum")


START_FILE = "pyeis_ex1.mpt"


def test_cli_start_cold_warm(benchmark, tmp_path):
    data_dir = Path(__file__).resolve().parents[1] / "tests" / "data"

    env = {**os.environ, "FASTFIT_CACHE_DIR": str(tmp_path / "jax-cache")}
    out = tmp_path / "x.h5"
    cmd = [_fastfit_exe(), "fit", str(data_dir / START_FILE), "-c", PAPER_CIRCUIT,
           "-o", str(out), "-q"]

    def once() -> float:
        out.unlink(missing_ok=True)                 # a fresh store: the fit really runs
        t = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        return time.perf_counter() - t

    cold = once()
    warm = []
    benchmark.pedantic(lambda: warm.append(once()), rounds=5, iterations=1)
    RESULTS.update(start_cold_s=cold, start_warm_median_s=float(np.median(warm)),
                   start_warm_min_s=min(warm), loadavg=os.getloadavg()[0])
    benchmark.extra_info.update(RESULTS)
    print(f"\nfastfit fit start: cold {cold:.2f} s, warm median {np.median(warm):.2f} s "
          f"(min {min(warm):.2f}), load average {os.getloadavg()[0]:.1f}")
