"""Elements of issue 17 and user elements.

1. User element vs built-in: the same model written as a JAX function
   (``fastfit.element``, derivatives by forward-mode autodiff) against the built-in with
   analytic derivatives -- fit throughput (1,000 spectra, one batched call) and the cost
   of one LM trip (model + Jacobian + normal equations, 1,024 spectra x 59 points).
2. Basin rate per new element: 1,000 synthetic spectra of a circuit around each of Gs,
   TLMQ, TLMRQ, T, Woa, Wsa (``fastfit.synthetic.element_spectra``), fitted with the
   default ``fastfit.fit``; "basin" = fraction with chi2 <= (1 + 1e-6) x chi2 of a tight
   scipy ``least_squares`` (trf) fit started at the true parameters, with the same
   modulus-weighted objective, the same log-scale parameters and the same bounds
   (``reference_chi2`` of tests/test_element_basin.py).

    pytest benchmarks/bench_elements.py --benchmark-only
    python benchmarks/bench_elements.py [N]          # writes results_elements.md
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import fastfit as ff
from fastfit.kernels._lm import _normal_equations
from fastfit.synthetic import ELEMENT_CIRCUITS, add_noise, element_spectra, log_freq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_element_basin import reference_chi2  # noqa: E402  (the scipy reference fit)

INF = float("inf")


# ----------------------------------------------------- user re-implementations of built-ins
@ff.element("URQ", params=["R", "Q", "n"], units=["ohm", "F s^(n-1)", "1"],
            bounds=[(0, INF), (0, INF), (0, 1)], defaults=[100.0, 1e-6, 0.9])
def user_r_cpe(p, omega):
    """Z = R/(1 + R Q (j w)^n)"""
    R, Q, n = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return R / (1 + R * Q * (1j * omega) ** n)


@ff.element("UZarc", params=["R", "tau", "phi"], units=["ohm", "s", "1"],
            bounds=[(0, INF), (0, INF), (0, 1)], defaults=[10.0, 1e-3, 0.9])
def user_zarc(p, omega):
    """Z = R/(1 + (j w tau)^phi)"""
    R, tau, phi = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return R / (1 + (1j * omega * tau) ** phi)


# built-in, user; the third pair is not a chain either way (Wo), so both circuits take
# the same start path and differ only in the element
PAIRS = [("R0-p(R1,CPE1)", "R0-URQ1"), ("R0-Zarc1", "R0-UZarc1"),
         ("R0-p(R1,CPE1)-Wo2", "R0-URQ1-Wo2")]


def pair_data(text: str, n: int, seed: int = 17):
    """Spectra of a built-in circuit of PAIRS: arc apex 10 Hz - 10 kHz, n 0.7-0.98,
    Wo (if any) with 1/(2 pi tau) 0.1-10 Hz; 0.5 % noise; 1 MHz - 0.1 Hz."""
    rng = np.random.default_rng(seed)
    f = log_freq(1e6, 0.1, 10)
    c = ff.Circuit(text)
    R1 = 10 ** rng.uniform(1, 3, n)
    e = rng.uniform(0.7, 0.98, n)
    tau = 1 / (2 * np.pi * 10 ** rng.uniform(1, 4, n))
    cols = {"R0": 10 ** rng.uniform(0, 1.5, n), "R1": R1, "CPE1_Q": tau ** e / R1,
            "CPE1_n": e, "Zarc1_R": R1, "Zarc1_tau": tau, "Zarc1_phi": e,
            "Wo2_R": 10 ** rng.uniform(1.5, 3, n),
            "Wo2_tau": 1 / (2 * np.pi * 10 ** rng.uniform(-1, 1, n))}
    P = np.stack([cols[k] for k in c.param_names], axis=1)
    return f, add_noise(c.impedance(f, P), 0.005, rng), P


def fit_rate(f, Z, circuit, repeats=3, **kw):
    ff.fit(f, Z, circuit, **kw)                       # compile this shape
    best, r = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        r = ff.fit(f, Z, circuit, **kw)
        best = min(best, time.perf_counter() - t)
    return len(Z) / best, r


def lm_trip_ms(text, f, P, repeats=7, n_call=20):
    """ms per evaluation of the LM normal equations (model, Jacobian, J^T J, J^T r)."""
    c = ff.Circuit(text)
    lm = tuple(bool(v) for v in c.log_scale)
    x = jnp.asarray(np.where(lm, np.log(P), P))
    w = jnp.asarray(2 * np.pi * f)
    Z = jnp.asarray(c.impedance(f, P)) * 1.01
    wr = 1 / jnp.abs(Z)
    fn = jax.jit(lambda x: _normal_equations(c.tree, lm, x, w, Z, wr, wr))
    jax.block_until_ready(fn(x))
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n_call):
            out = fn(x)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t) / n_call)
    return 1e3 * best


def user_vs_builtin(n=1000):
    rows = []
    for builtin, user in PAIRS:
        f, Z, P = pair_data(builtin, n)
        for kw, how in (({}, "default starts"), ({"p0": P}, "p0 = truth, both")):
            rb, resb = fit_rate(f, Z, builtin, **kw)
            ru, resu = fit_rate(f, Z, user, **kw)
            same = np.mean(np.abs(resu.chi2 - resb.chi2) <= 1e-8 * resb.chi2)
            rows.append((f"`{builtin}` vs `{user}`", how, f"{rb:,.0f}", f"{ru:,.0f}",
                         f"**{ru / rb:.2f}**", f"{same:.4f}", f"{resb.ok.mean():.3f} / {resu.ok.mean():.3f}"))
        # one LM trip, 1,024 spectra (interleaved repeats, best of each)
        fk, _, Pk = pair_data(builtin, 1024, seed=5)
        tb = min(lm_trip_ms(builtin, fk, Pk) for _ in range(2))
        tu = min(lm_trip_ms(user, fk, Pk) for _ in range(2))
        rows.append((f"`{builtin}` vs `{user}`", "one LM trip, 1,024 x 59", f"{tb:.2f} ms",
                     f"{tu:.2f} ms", f"**{tb / tu:.2f}**", "-", "-"))
    return rows


# ------------------------------------------------------------------------ basin rates
def basin_rate(circuit, n=1000, seed=0):
    """(basin, converged fraction, fits/s, misses, control basin) for one circuit of
    ELEMENT_CIRCUITS; the control fit also starts at the truth (``p0``)."""
    f, Z, P = element_spectra(circuit, n, seed=seed)
    ff.fit(f, Z, circuit)                             # compile this shape
    t = time.perf_counter()
    r = ff.fit(f, Z, circuit)
    rate = n / (time.perf_counter() - t)
    ref = np.array([reference_chi2(circuit, f, Z[i], P[i]) for i in range(n)])
    hit = r.chi2 <= ref * (1 + 1e-6)
    control = np.mean(ff.fit(f, Z, circuit, p0=P).chi2 <= ref * (1 + 1e-6))
    return hit.mean(), r.ok.mean(), rate, np.nonzero(~hit)[0], control


# ------------------------------------- basin of the new elements in other circuits
def _lu(rng, lo, hi, n):
    return 10 ** rng.uniform(lo, hi, n)


def _arc(rng, n, lo, hi):
    """R||CPE: R 10-300 ohm, apex 10^lo - 10^hi Hz, n 0.75-0.98 -> [R, Q, n]."""
    R, e = _lu(rng, 1, 2.5, n), rng.uniform(0.75, 0.98, n)
    return [R, (1 / (2 * np.pi * _lu(rng, lo, hi, n))) ** e / R, e]


def _elem(rng, n, sym):
    """Parameters of one new element in the ranges of fastfit.synthetic.element_spectra."""
    if sym == "T":
        A = _lu(rng, 1, 3, n)
        return [A, A * _lu(rng, -1, 0, n), _lu(rng, -1, 1, n), 1 / (2 * np.pi * _lu(rng, 0, 2, n))]
    if sym == "Gs":
        return [_lu(rng, 1.5, 3, n), 1 / (2 * np.pi * _lu(rng, 0, 2, n)), _lu(rng, -0.5, 0.5, n)]
    if sym == "TLMQ":
        Rion, e = _lu(rng, 1, 3, n), rng.uniform(0.75, 0.98, n)
        return [Rion, (2 * np.pi * _lu(rng, 1, 3, n)) ** (-e) / Rion, e]
    return [_lu(rng, 1.5, 3, n), 1 / (2 * np.pi * _lu(rng, -1, 1, n)),     # Woa / Wsa
            rng.uniform(0.35, 0.65, n)]


# circuits around each new element that tests/test_element_basin.py does not use:
# (element, frequency window) -- parameter columns in param_names order
CONTEXT = {
    "R0-p(R1,CPE1)-T1": (lambda r, n: [_lu(r, 0, 1.5, n)] + _arc(r, n, 4, 5) + _elem(r, n, "T"),
                         (1e6, 1e-2)),
    "R0-p(R1,CPE1)-TLMQ1": (lambda r, n: [_lu(r, 0, 1.5, n)] + _arc(r, n, 4, 5)
                            + _elem(r, n, "TLMQ"), (1e6, 1e-2)),
    "R0-Gs1": (lambda r, n: [_lu(r, 0, 1.5, n)] + _elem(r, n, "Gs"), (1e5, 1e-2)),
    "R0-p(R1,C1)-Gs1": (lambda r, n: [_lu(r, 0, 1.5, n)] + _arc(r, n, 4, 5)[:2]
                        + _elem(r, n, "Gs"), (1e6, 1e-2)),
    "R0-p(R1-Woa1,CPE1)": (lambda r, n: (lambda a, w: [_lu(r, 0, 1.5, n), a[0]] + w + a[1:])(
        _arc(r, n, 2, 3.5), _elem(r, n, "Woa")), (1e6, 1e-3)),
    "R0-p(R1,CPE1)-Wsa1": (lambda r, n: [_lu(r, 0, 1.5, n)] + _arc(r, n, 3, 4)
                           + _elem(r, n, "Wsa"), (1e6, 1e-3)),
}


def context_basin(circuit, n=300, seed=3):
    """(basin, misses, chi2 ratios of the misses, fits/s) of the default fit on ``n``
    spectra of a CONTEXT circuit.  Reference: a tight bounded scipy ``trf`` fit from the
    truth on the circuit's own JAX model (``Circuit.jax_fn``, checked against impedance.py
    to 1e-10 in the tests) with its forward-mode Jacobian; same weights, log scales and
    bounds as ``reference_chi2``."""
    import warnings

    from scipy.optimize import least_squares

    gen, (f_hi, f_lo) = CONTEXT[circuit]
    rng = np.random.default_rng(seed)
    f = log_freq(f_hi, f_lo)
    c = ff.Circuit(circuit)
    P = np.stack(gen(rng, n), axis=1)
    Z = add_noise(c.impedance(f, P), 0.005, rng)
    fn, b = c.jax_fn(), c.default_bounds
    lm = c.log_scale & (b[:, 0] >= 0)

    @jax.jit
    def res(x, z):
        d = fn(jnp.where(lm, jnp.exp(x), x), f) - z
        return jnp.concatenate([d.real, d.imag]) / jnp.tile(jnp.abs(z), 2)

    jac = jax.jit(jax.jacfwd(res))
    ref = np.empty(n)
    for i in range(n):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            sol = least_squares(lambda x: np.asarray(res(x, Z[i])),
                                np.where(lm, np.log(P[i]), P[i]),
                                jac=lambda x: np.asarray(jac(x, Z[i])),
                                bounds=(np.where(lm, -np.inf, b[:, 0]), np.where(lm, np.inf, b[:, 1])),
                                method="trf", ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=20000)
        ref[i] = 2 * sol.cost
    rate, r = fit_rate(f, Z, circuit, repeats=1)
    miss = np.nonzero(r.chi2 > ref * (1 + 1e-6))[0]
    return 1 - miss.size / n, miss, r.chi2[miss] / ref[miss], rate


# ----------------------------------------------------------------- pytest-benchmark
@pytest.mark.parametrize("builtin, user", PAIRS[:2])
def test_user_element_fit_throughput(benchmark, builtin, user):
    f, Z, P = pair_data(builtin, 1000)
    rb, _ = fit_rate(f, Z, builtin)
    ff.fit(f, Z, user)
    r = benchmark.pedantic(ff.fit, args=(f, Z, user), rounds=3, iterations=1)
    ru = len(Z) / benchmark.stats["min"]
    benchmark.extra_info.update(builtin_fits_per_s=rb, user_fits_per_s=ru, ratio=ru / rb,
                                user_ok=float(r.ok.mean()))


@pytest.mark.parametrize("circuit", list(ELEMENT_CIRCUITS))
def test_new_element_basin(benchmark, circuit):
    f, Z, P = element_spectra(circuit, 1000)
    ff.fit(f, Z, circuit)
    r = benchmark.pedantic(ff.fit, args=(f, Z, circuit), rounds=1, iterations=1)
    ref = np.array([reference_chi2(circuit, f, Z[i], P[i]) for i in range(200)])
    benchmark.extra_info.update(basin_200=float(np.mean(r.chi2[:200] <= ref * (1 + 1e-6))),
                                converged=float(r.ok.mean()))


def _table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def main(N=1000):
    import os

    from _common import write_results

    rows = user_vs_builtin(N)
    load1 = os.getloadavg()
    basin = []
    for circuit in ELEMENT_CIRCUITS:
        b, ok, rate, miss, control = basin_rate(circuit, N)
        held_out = basin_rate(circuit, N, seed=1)[0]   # spectra no test or tuning used
        basin.append((f"`{circuit}`", f"{N:,}", f"{rate:,.0f}", f"{ok:.3f}", f"**{b:.4f}**",
                      f"{held_out:.4f}", f"{control:.4f}",
                      ", ".join(str(i) for i in miss[:8]) + (" ..." if len(miss) > 8 else "")))
        print(basin[-1], flush=True)
    load2 = os.getloadavg()
    context = []
    for circuit in CONTEXT:
        b, miss, ratio, rate = context_basin(circuit)
        context.append((f"`{circuit}`", "300", f"{rate:,.0f}", f"**{b:.4f}**",
                        ", ".join(f"{i} ({q:.3g}x)" for i, q in zip(miss[:8], ratio[:8]))))
        print(context[-1], flush=True)
    load3 = os.getloadavg()
    notes = (
        "Fits: best of 3 timed `fastfit.fit` calls after compiling, fits/s. \"default "
        "starts\": what a user gets -- the built-in R||CPE and ZARC chains start from the "
        "variable-projection scan, the user element (never a chain) from today's generic "
        "starts, whose heuristics key on built-in names (a user element's Q is started like "
        "a resistance). \"p0 = truth, both\": the same extra start for both, which isolates "
        "the element. The LM-trip row times one evaluation of model + Jacobian + normal "
        f"equations (the loop body), best of 7 x 20 calls. Load average after: {load1[0]:.1f}"
        f" / {load1[1]:.1f}.\n\n"
        "## Basin rate per new element (default fastfit.fit, today's engine)\n\n"
        + _table(("circuit", "spectra", "fits/s", "converged", "basin", "basin, seed 1",
                  "control: p0 = truth", "first misses"), basin)
        + "\n\nbasin: chi2 <= (1 + 1e-6) x chi2 of a tight scipy least_squares (trf) fit "
        "started at the true parameters, same 1/|Z| weights, log-scale parameters and bounds "
        "(numpy closed-form models). control: the same with the truth as an extra start "
        "(separates the start search from the element's Jacobian and LM). Spectra: "
        f"`fastfit.synthetic.element_spectra(circuit, N, seed=0)` (the test suite's set; "
        "\"basin, seed 1\": N others). Load average after: "
        f"{load2[0]:.1f} / {load2[1]:.1f}.\n\n"
        "## Basin of the new elements in circuits the tests do not use\n\n"
        + _table(("circuit", "spectra", "fits/s", "basin", "misses (chi2 / reference)"),
                 context)
        + "\n\nSpectra: `CONTEXT` of this file (each element in the ranges of "
        "`element_spectra`, an R||CPE arc beside or around it), seed 3, 0.5 % noise. "
        "Reference: tight scipy trf from the truth on the circuit's own JAX model "
        "(`context_basin`). fits/s: one timed call after compiling. Load average after: "
        f"{load3[0]:.1f} / {load3[1]:.1f}.")
    path = write_results(
        "elements", f"User elements vs built-ins ({N:,} spectra, 1 MHz - 0.1 Hz, 61 points)",
        rows, ("circuits", "how", "built-in", "user", "user / built-in", "same chi2 (1e-8)",
               "converged (b / u)"), notes=notes)
    print(path.read_text())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
