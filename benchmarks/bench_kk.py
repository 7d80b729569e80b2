"""lin-KK throughput: fastfit.kk on 10,000 spectra (one compiled batched call) vs
impedance.py `validation.linKK` in a Python loop, same run, same spectra, same options.

Spectra: `fastfit.synthetic.paper_rcpe2` (R0-p(R1,CPE1)-p(R2,CPE2), 59 points, 7 MHz -
10 Hz, 0.5 % noise).  impedance.py takes 20-150 ms per spectrum, so it is timed on the
first ``N_REF`` spectra and its time per spectrum is extrapolated to N (stated in the
table).  Both use c = 0.85, max_M = 50; modes "complex" (fastfit's default) and "real"
(impedance.py's default).  Agreement with impedance.py is checked on the reference sample.

    pytest benchmarks/bench_kk.py --benchmark-only      # pytest-benchmark
    python benchmarks/bench_kk.py                       # writes results_kk.md
"""
from __future__ import annotations

import contextlib
import io
import os
import time

import numpy as np

import fastfit as ff
from fastfit.synthetic import paper_rcpe2

N = 10_000
N_REF = 150
MODES = ("complex", "real")


def _data(n=N):
    f, Z, _ = paper_rcpe2(n, seed=11)
    return f, Z


def _impedancepy(f, Z, mode, n_ref=N_REF):
    """(wall s per spectrum, CPU s per spectrum, list of (M, mu, res_re, res_im)) for the
    first n_ref spectra."""
    import impedance.validation as v

    v.circuit_elements["np"] = np          # its eval() needs np under numpy 2 (DESIGN.md)
    out = []
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        for z in Z[:n_ref]:
            M, mu, _, rr, ri = v.linKK(f, z, c=0.85, max_M=50, fit_type=mode)
            out.append((M, mu, rr, ri))
    return (time.perf_counter() - t) / n_ref, (time.process_time() - c) / n_ref, out


def _agreement(r, ref):
    same_M = np.mean([r.M[i] == M for i, (M, *_) in enumerate(ref)])
    dmu = max(abs(r.mu[i] - mu) for i, (_, mu, _, _) in enumerate(ref))
    dres = max(max(np.abs(r.residuals_real[i] - rr).max(), np.abs(r.residuals_imag[i] - ri).max())
               for i, (_, _, rr, ri) in enumerate(ref))
    within = np.mean([max(abs(r.mu[i] - mu), np.abs(r.residuals_real[i] - rr).max(),
                          np.abs(r.residuals_imag[i] - ri).max()) <= 1e-8
                      for i, (_, mu, rr, ri) in enumerate(ref)])
    return same_M, dmu, dres, within


def test_kk_throughput(benchmark):
    f, Z = _data()
    ff.kk(f, Z, mode="complex")                       # compile
    r = benchmark.pedantic(ff.kk, args=(f, Z), kwargs=dict(mode="complex"), rounds=3,
                           iterations=1)
    assert r.M.shape == (N,)
    t_ref, _, ref = _impedancepy(f, Z, "complex", n_ref=50)
    rate = N / benchmark.stats["median"]
    same_M, dmu, dres, within = _agreement(r, ref)
    assert same_M == 1.0
    benchmark.extra_info.update(fastfit_spectra_per_s=rate, impedancepy_spectra_per_s=1 / t_ref,
                                ratio=rate * t_ref, max_dmu=dmu, max_dres=dres)


def main():
    from _common import write_results

    f, Z = _data()
    rows, notes = [], []
    for mode in MODES:
        t = time.perf_counter()
        ff.kk(f, Z, mode=mode)
        first = time.perf_counter() - t
        walls, cpus = [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            r = ff.kk(f, Z, mode=mode)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        t_ff, c_ff = float(np.median(walls)), float(np.median(cpus))
        t_ref, c_ref, ref = _impedancepy(f, Z, mode)
        same_M, dmu, dres, within = _agreement(r, ref)
        rows.append((f"fastfit.kk, mode={mode}", f"{t_ff:.2f} s", f"{c_ff:.2f} s",
                     f"{N / t_ff:,.0f}", f"{t_ref * N / t_ff:,.0f}x", f"{c_ref * N / c_ff:,.0f}x",
                     f"{np.mean(r.M):.1f}"))
        rows.append((f"impedance.py linKK loop, fit_type={mode} ({N_REF} spectra timed, "
                     "extrapolated)", f"{t_ref * N:,.0f} s", f"{c_ref * N:,.0f} s",
                     f"{1 / t_ref:,.1f}", "1x", "1x", f"{np.mean([m for m, *_ in ref]):.1f}"))
        notes.append(f"mode={mode}: first call (compile + run) {first:.1f} s; on the "
                     f"{N_REF} reference spectra M agrees for {same_M:.0%}, {within:.0%} agree "
                     f"to 1e-8 in mu and residuals (max |dmu| {dmu:.1e}, max |d residual| "
                     f"{dres:.1e}).")
    load = os.getloadavg()
    path = write_results(
        "kk", f"lin-KK validation: {N:,} spectra x 59 frequencies (paper_rcpe2, 0.5 % noise), "
              "c = 0.85, max_M = 50",
        rows, ("method", f"wall time for {N:,}", "CPU time", "spectra/s (wall)", "ratio (wall)",
               "ratio (CPU)", "mean M"),
        notes=("fastfit: median of 3 runs after one compile; CPU time = process time (all "
               "threads).  " + "  ".join(notes) + f"  Load average during the run: "
               f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine; wall times "
               "are inflated accordingly, the CPU-time ratio is the steadier figure)."))
    print(path.read_text())


if __name__ == "__main__":
    main()
