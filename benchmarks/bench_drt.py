"""DRT throughput: fastfit.drt on 1,000 and 10,000 spectra vs (a) pyDRTtools' simple_run
in a loop and (b) a hand-written scipy NNLS loop on the same shared matrices, same run.

Spectra: ``fastfit.synthetic.drt_mixtures`` (1-3 processes among ZARC, RC, Gerischer,
finite Warburg; 0.1-1 % noise), 81 points, 1 MHz - 10 mHz, and ``drt_series`` (a slowly
drifting two-arc cell) for the time-series case.

* Exactness: every fastfit answer is compared with scipy's Lawson-Hanson NNLS on the
  augmented system [A; sqrt(lam) R] (R^T R = M, the same matrices); the table gives the
  fraction within 1e-6 relative L2.
* (a) pyDRTtools ``simple_run`` (Gaussian RBF, FWHM coefficient 0.5, 2nd derivative,
  R_inf and L, cv_type="custom") rebuilds its matrices for every spectrum and takes
  ~0.1 s each, so it is timed on ``N_PDT`` spectra and extrapolated (stated in the table).
* (b) scipy: the augmented matrix is built once; the loop only calls ``nnls``.  For the
  200-function fastfit discretisation it is timed on ``N_SCIPY_BIG`` spectra and
  extrapolated.

    pytest benchmarks/bench_drt.py --benchmark-only      # pytest-benchmark
    python benchmarks/bench_drt.py                       # writes results_drt.md
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from fastfit.relaxation import drt, drt_system
from fastfit.synthetic import drt_mixtures, drt_series

F = np.logspace(6, -2, 81)
SIZES = (1_000, 10_000)
N_PDT = 20
N_SCIPY_BIG = 300


INTERPRETATION = """What the numbers say (measured while writing the solver, same machine):

* Cost model on an 81-point grid (N = 83 unknowns, padded to 88): one ADMM iteration for
  the whole batch is a matrix product, ~0.5 us per spectrum; one exact solve on a
  spectrum's positive set (Cholesky of the smaller of P and its complement, via the
  shared inverse) ~25-30 us.  scipy's Lawson-Hanson takes ~0.4-0.5 ms per spectrum.
  fastfit spends ~200 staged ADMM iterations and ~1.6-3.6 solves per spectrum; the
  slow ones (block pivoting crawls from a poor guess) are retried in a smaller batch
  with 600 and then 3000 ADMM iterations.  So the margin over (b) is modest with 83
  unknowns (1.1-2.5x in wall time in this table, 0.8-1.6x per CPU-second) and larger
  with 200 unknowns (the default discretisation: 1.6-2.8x), where scipy's cost per
  spectrum grows ~N^3 while fastfit's exact solves stay on the smaller of P and its
  complement.  With 200 unknowns the first stage runs 150 ADMM iterations (2.4x faster
  than starting pivoting from the unconstrained optimum's sign pattern at lam = 1e-6).
  Wall-clock ratios move with the machine's load.
* Warm start from the predecessor's positive set (time series): measured *slower*
  here (8 vs 1.9 factorisations per spectrum on drt_series with 0.2 % noise: the
  positive sets of neighbouring noisy spectra differ in ~7 indices, and block
  pivoting from there costs more than 200 shared ADMM iterations), so ``warm_start``
  defaults to False.
* The 300x target against (a) is met by a wide margin because pyDRTtools rebuilds its
  matrices by numerical quadrature and solves a QP with cvxopt for every spectrum."""


def _pydrttools():
    if "pyDRTtools" not in sys.modules:      # its package __init__ imports a PyQt GUI
        spec = importlib.util.find_spec("pyDRTtools")
        pkg = types.ModuleType("pyDRTtools")
        pkg.__path__ = [str(Path(list(spec.submodule_search_locations)[0]))]
        sys.modules["pyDRTtools"] = pkg
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = importlib.import_module("pyDRTtools.runs")
    import cvxopt
    cvxopt.solvers.options["show_progress"] = False
    return runs


def _timed(fn, rounds=3):
    """(result, best wall s, CPU s of that round)"""
    best = (None, np.inf, np.inf)
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        r = fn()
        w, cp = time.perf_counter() - t, time.process_time() - c
        if w < best[1]:
            best = (r, w, cp)
    return best


def _scipy(system, Z, lam, order, n=None):
    """(x (n, N), wall s per spectrum, CPU s per spectrum) for scipy nnls on the shared
    augmented matrix (built once, outside the timing)."""
    free = system.free
    Mf = system.M[np.ix_(free, free)]
    w, V = np.linalg.eigh(Mf)
    R = (V * np.sqrt(np.clip(w, 0.0, None))).T
    Aaug = np.vstack([system.A[:, free], np.sqrt(lam) * R])
    zeros = np.zeros(R.shape[0])
    n = Z.shape[0] if n is None else n
    X = np.zeros((n, free.size))
    t, c = time.perf_counter(), time.process_time()
    for i in range(n):
        z = Z[i][order]
        X[i, free] = nnls(Aaug, np.concatenate([z.real, z.imag, zeros]), maxiter=100 * free.size)[0]
    return X, (time.perf_counter() - t) / n, (time.process_time() - c) / n


def _pdt_loop(Z, lam):
    runs = _pydrttools()
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for z in Z[:N_PDT]:
            e = runs.EIS_object(F, z.real, z.imag)
            runs.simple_run(e, rbf_type="Gaussian", data_used="Combined Re-Im Data",
                            induct_used=1, der_used="2nd order", cv_type="custom",
                            reg_param=lam, shape_control="FWHM Coefficient", coeff=0.5)
    return (time.perf_counter() - t) / N_PDT, (time.process_time() - c) / N_PDT


def _exact_fraction(d, X):
    ours = np.concatenate([d.R_inf[:, None], d.L[:, None], d.coef], axis=1)[: X.shape[0]]
    err = np.linalg.norm(ours - X, axis=1) / np.maximum(np.linalg.norm(X, axis=1), 1e-300)
    return float(np.mean(err < 1e-6)), float(err.max())


def test_drt_throughput(benchmark):
    """pyDRTtools discretisation, lam = 1e-6 (its units), 1,000 spectra."""
    Z = drt_mixtures(F, 1_000, seed=1)
    drt(F, Z, lam=1e-6, discretisation="pydrttools")            # compile
    d = benchmark.pedantic(drt, args=(F, Z), kwargs=dict(lam=1e-6, discretisation="pydrttools"),
                           rounds=3, iterations=1)
    s = drt_system(F, discretisation="pydrttools")
    X, t_sc, _ = _scipy(s, Z, 1e-6, np.argsort(-F))
    frac, _ = _exact_fraction(d, X)
    assert frac >= 0.999 and d.ok.all()
    benchmark.extra_info.update(fastfit_per_spectrum_s=benchmark.stats["median"] / 1_000,
                                scipy_per_spectrum_s=t_sc, exact_fraction=frac)


def main():
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import write_results

    rows, notes = [], []
    order = np.argsort(-F)
    cases = [("pydrttools", 1e-6, "lam_p = 1e-6 (pyDRTtools units, ill-conditioned)"),
             ("pydrttools", 81e-6, "lam_p = 81e-6 (= fastfit default 1e-6 x 81 points)"),
             ("fastfit", 1e-6, "fastfit default: 200 RBFs, lam = 1e-6")]
    Zall = drt_mixtures(F, max(SIZES), seed=1)
    for disc, lam, label in cases:
        s = drt_system(F, discretisation=disc)
        lam_u = lam
        ordr = order if disc == "pydrttools" else np.arange(F.size)
        t_pdt = None
        if disc == "pydrttools":
            t_pdt, c_pdt = _pdt_loop(Zall, lam)
        for n in SIZES:
            Z = Zall[:n]
            t0 = time.perf_counter()
            drt(F, Z, lam=lam, discretisation=disc)             # compile + first run
            t_first = time.perf_counter() - t0
            d, w, cpu = _timed(lambda: drt(F, Z, lam=lam, discretisation=disc))
            n_sc = n if disc == "pydrttools" else N_SCIPY_BIG
            X, t_sc, c_sc = _scipy(s, Z, lam_u, ordr, n_sc)
            frac, emax = _exact_fraction(d, X)
            rows.append((label, f"{n:,}", f"{w:.2f} s", f"{cpu:.2f} s", f"{n / w:,.0f}",
                         f"{t_sc * n:.1f} s" + ("" if n_sc == n else f" (extrap. from {n_sc})"),
                         f"{t_sc * n / w:.1f}x / {c_sc * n / cpu:.1f}x",
                         "-" if t_pdt is None else f"{t_pdt * n:.0f} s (extrap. from {N_PDT})",
                         "-" if t_pdt is None else f"{t_pdt * n / w:,.0f}x",
                         f"{100 * frac:.2f} % (max {emax:.1e}, on {X.shape[0]:,})",
                         f"{d.n_solves.mean():.2f}"))
            notes.append(f"{label}, N={n:,}: first call (compile + run) {t_first:.1f} s; "
                         f"scipy CPU {c_sc * 1e3:.2f} ms/spectrum; fastfit status "
                         f"{np.bincount(d.status + 1, minlength=3).tolist()} (failed/max-iter/exact).")
        if t_pdt is not None:
            notes.append(f"pyDRTtools simple_run ({label}): {t_pdt * 1e3:.0f} ms wall, "
                         f"{c_pdt * 1e3:.0f} ms CPU per spectrum on {N_PDT} spectra.")
    # time series: warm start from the positive set of the spectrum before
    Zs = drt_series(F, max(SIZES), seed=2)
    for ws in (False, True):
        drt(F, Zs, lam=1e-6, discretisation="pydrttools", warm_start=ws)
        d, w, cpu = _timed(lambda: drt(F, Zs, lam=1e-6, discretisation="pydrttools",
                                       warm_start=ws))
        notes.append(f"Time series (drt_series, 10,000 spectra, pyDRTtools discretisation, "
                     f"lam_p = 1e-6), warm_start={ws}: {w:.2f} s wall, {cpu:.2f} s CPU, "
                     f"{d.n_solves.mean():.2f} factorisations per spectrum, "
                     f"{int(d.ok.sum()):,} exact.")
    notes.append(f"Load average during the run: {' / '.join(f'{v:.1f}' for v in os.getloadavg())} "
                 "(shared machine: wall times inflated; CPU = process time, all threads).")
    path = write_results(
        "drt", "DRT: 81 frequencies (1 MHz - 10 mHz), drt_mixtures, Gaussian RBF, "
        "2nd-derivative penalty", rows,
        ("case", "N", "fastfit wall", "fastfit CPU", "spectra/s", "(b) scipy nnls loop (wall)",
         "vs (b) wall / CPU", "(a) pyDRTtools simple_run (wall)", "vs (a) wall",
         "exact vs scipy (<1e-6)", "factorisations/spectrum"),
        notes="fastfit: best of 3 runs after one compile, whole `fastfit.drt` call "
              "(validation, assembly, solve, gamma, Z_fit).  The scipy loop is single-"
              "threaded, fastfit uses both cores (XLA), hence the two ratios against (b).  "
              "pyDRTtools' own answer is not the exact optimum (its QP stops early), so "
              "exactness is measured against scipy.  " + "  ".join(notes) + "\n\n" + INTERPRETATION)
    print(path.read_text())


if __name__ == "__main__":
    main()
