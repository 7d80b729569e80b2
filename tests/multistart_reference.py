"""Multi-start scipy reference for fits: the best of N bounded ``least_squares`` (trf) fits
from random starts on a closed-form numpy model -- the real-data reference of
tests/test_fit_generic.py and benchmarks/bench_real_circuits.py (issue 16).

Parameters are fitted as ln p except exponents ("n", linear in their bounds); residuals
are weighted by 1/|Z| (fastfit's "modulus" weights).  Random starts by parameter kind:
"R" 1e-3..1 x max |Z|, "Q" 1e-11..1e-2, "n" 0.5..1, anything else (a time constant)
1e-7..1e2 s, all log-uniform except n.

The test suite reads finished references from ``tests/multistart_chi2.json``
(:func:`stored`, switched on by ``tests/conftest.py``): each entry is keyed by a hash of
everything the scipy fits see -- the frequencies, the data, the bounds, every start and
the model's impedance at every start -- so an edited model, spectrum, draw or seed misses
the store and is computed live, as before; only unchanged inputs reuse the stored best.
``FASTFIT_STORE_REFERENCES=1 pytest -p no:xdist tests/...`` adds the entries missing
(one process: the file is rewritten at every new entry).  ``tests/test_multistart_store.py``
recomputes a stored entry live.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

STORE = Path(__file__).resolve().parent / "multistart_chi2.json"
STORE_ENV = "FASTFIT_STORE_REFERENCES"
USE_STORE = False          # tests/conftest.py switches it on; the benchmarks compute live


def draw_start(kinds: str, scale: float, rng) -> np.ndarray:
    """One random start (physical parameters) for parameter kinds ``kinds``."""
    out = []
    for k in kinds:
        if k == "R":
            out.append(10 ** rng.uniform(-3, 0) * scale)
        elif k == "Q":
            out.append(10 ** rng.uniform(-11, -2))
        elif k == "n":
            out.append(rng.uniform(0.5, 1.0))
        else:
            out.append(10 ** rng.uniform(-7, 2))
    return np.array(out)


def best_of_random_starts(model, omega, z, bounds, kinds: str, n_starts: int, rng,
                          extra=()) -> float:
    """Best chi2 of ``n_starts`` bounded scipy trf fits of ``model(p, omega)`` to ``z``
    (omega rad/s, bounds (P, 2) physical) from random starts (:func:`draw_start`) and from
    the ``extra`` starts given (physical parameter vectors, e.g. another fit's optimum:
    a marginal basin that the random draws reach on one host and miss on another, whose
    numpy evaluates the model with other rounding)."""
    lm = np.array([k != "n" for k in kinds])
    a = np.abs(z)
    lo = np.where(lm, np.log(np.maximum(bounds[:, 0], 1e-300)), bounds[:, 0])
    hi = np.where(lm, np.log(np.minimum(bounds[:, 1], 1e300)), bounds[:, 1])

    def res(x):
        d = (model(np.where(lm, np.exp(x), x), omega) - z) / a
        return np.concatenate([d.real, d.imag])

    starts = [draw_start(kinds, a.max(), rng) for _ in range(n_starts)] + list(extra)
    return stored((omega, z, bounds, kinds), model, omega, starts,
                  lambda: _best_of(res, starts, lm, lo, hi))


def _best_of(res, starts, lm, lo, hi) -> float:
    best = np.inf
    for p0 in starts:
        x0 = np.clip(np.where(lm, np.log(np.maximum(p0, 1e-300)), p0), lo + 1e-9, hi - 1e-9)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                s = least_squares(res, x0, bounds=(lo, hi), method="trf", x_scale="jac",
                                  ftol=1e-12, xtol=1e-12, gtol=1e-12, max_nfev=3000)
            except ValueError:
                continue
        if np.isfinite(s.cost):
            best = min(best, 2 * s.cost)
    return best


def reference_key(inputs, model, omega, starts) -> str:
    """sha256 of the arrays and strings ``inputs``, every start and ``model(start, omega)``
    at every start (its mantissas rounded to 2^-30, so that a last-bit difference of
    another host's libm does not miss the store)."""
    h = hashlib.sha256()

    def add(v):
        if isinstance(v, str):
            h.update(v.encode())
            return
        v = np.asarray(v)
        if np.iscomplexobj(v):
            add(v.real)
            add(v.imag)
            return
        mant, expo = np.frexp(np.asarray(v, np.float64))
        h.update(np.ascontiguousarray(np.round(mant * 2.0 ** 30)).tobytes())
        h.update(np.ascontiguousarray(expo).tobytes())

    for v in inputs:
        add(v)
    for p0 in starts:
        add(p0)
        with np.errstate(all="ignore"):
            add(model(np.asarray(p0, np.float64), omega))
    return h.hexdigest()


def stored(inputs, model, omega, starts, compute):
    """``compute()`` (a float or a 1-D array of them), or the stored value of the same
    inputs (:func:`reference_key`) where the store is in use and has it.  With
    ``FASTFIT_STORE_REFERENCES=1`` a value computed is added to the store."""
    if not USE_STORE:
        return compute()
    key = reference_key(inputs, model, omega, starts)
    table = json.loads(STORE.read_text()) if STORE.exists() else {}
    if key in table:
        v = table[key]
        return np.array([float(x) for x in v]) if isinstance(v, list) else float(v)
    value = compute()
    if os.environ.get(STORE_ENV) == "1":
        table[key] = ([repr(float(x)) for x in value] if np.ndim(value)
                      else repr(float(value)))
        STORE.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n")
    return value


def randles_woa(p, w):
    """R0-p(R1-Woa1,CPE1) closed form (w rad/s): Woa = R coth(u) / u, u = (j w tau)^n."""
    u = (1j * w * p[3]) ** p[4]
    b = p[1] + p[2] / (np.tanh(u) * u)
    zq = 1.0 / (p[5] * (1j * w) ** p[6])
    return p[0] + b * zq / (b + zq)
