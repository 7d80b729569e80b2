"""Circuit impedance throughput: fastfit (one compiled batched call) vs impedance.py
`CustomCircuit.predict` in a Python loop, same run, same parameters.

    pytest benchmarks/bench_impedance.py --benchmark-only      # pytest-benchmark
    python benchmarks/bench_impedance.py                       # writes results_impedance.md
"""
from __future__ import annotations

import time
import warnings

import numpy as np

import fastfit as ff
from fastfit.synthetic import PAPER_CIRCUIT, paper_rcpe2

N = 10_000
F = 60


def _data(n=N):
    f = np.logspace(np.log10(7e6), 1, F)
    _, _, P = paper_rcpe2(n, seed=7, noise=0.0, freq=f)
    return f, P


def _fastfit_eval(c, f, P):
    return c.impedance(f, P)


def _impedancepy_rate(f, P, n_ref=300):
    from impedance.models.circuits import CustomCircuit

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in P[:n_ref]:
            CustomCircuit(PAPER_CIRCUIT, initial_guess=list(p)).predict(f, use_initial=True)
    return n_ref / (time.perf_counter() - t)


def test_impedance_throughput(benchmark):
    c = ff.Circuit(PAPER_CIRCUIT)
    f, P = _data()
    _fastfit_eval(c, f, P)  # compile
    out = benchmark(_fastfit_eval, c, f, P)
    assert out.shape == (N, F)
    ref = _impedancepy_rate(f, P)
    rate = N / benchmark.stats["median"]
    benchmark.extra_info.update(fastfit_spectra_per_s=rate, impedancepy_spectra_per_s=ref,
                                ratio=rate / ref)


def main():
    from _common import write_results

    c = ff.Circuit(PAPER_CIRCUIT)
    f, P = _data()
    t = time.perf_counter()
    _fastfit_eval(c, f, P)
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(7):
        t = time.perf_counter()
        _fastfit_eval(c, f, P)
        times.append(time.perf_counter() - t)
    rate = N / np.median(times)
    ref = _impedancepy_rate(f, P)
    # agreement on the benchmarked data
    from impedance.models.circuits import CustomCircuit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zr = np.array([CustomCircuit(PAPER_CIRCUIT, initial_guess=list(p)).predict(f, use_initial=True)
                       for p in P[:50]])
    err = float(np.max(np.abs(c.impedance(f, P[:50]) - zr) / np.abs(zr)))
    path = write_results(
        "impedance", "Circuit impedance: 10,000 spectra x 60 frequencies, R0-p(R1,CPE1)-p(R2,CPE2)",
        [("fastfit Circuit.impedance (batched, compiled)", f"{np.median(times)*1e3:.1f} ms", f"{rate:,.0f}", f"{rate/ref:,.0f}x"),
         ("impedance.py CustomCircuit.predict loop (300 spectra, per-spectrum rate)", "-", f"{ref:,.0f}", "1x")],
        ("method", "time for 10,000", "spectra/s", "ratio"),
        notes=(f"Median of 7 runs after one compile ({compile_s:.2f} s, incl. compile). Max relative "
               f"difference to impedance.py on 50 spectra: {err:.1e}. Reference rate measured in the "
               "same process on the first 300 parameter sets."))
    print(path.read_text())


if __name__ == "__main__":
    main()
