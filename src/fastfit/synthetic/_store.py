"""A fitted store without fitting: drifting spectra and their fit rows, written in chunks.

For the dashboard's tests and its 100,000-spectrum benchmark: the results are the true
parameters (with 1 % standard errors), so building a large store costs the store's
writes only, not a fit.
"""
from __future__ import annotations

import types

import numpy as np

from ._basic import PAPER_CIRCUIT, add_noise, log_freq

__all__ = ["fitted_store", "FITTED_STORE_NAMES"]

FITTED_STORE_NAMES = ["R0", "R1", "CPE1_Q", "CPE1_n", "R2", "CPE2_Q", "CPE2_n"]
_UNITS = ["ohm", "ohm", "F s^(n-1)", "1", "ohm", "F s^(n-1)", "1"]


def _drifting(k: np.ndarray, n: int, rng) -> np.ndarray:
    """(len(k), 7) parameters of spectra k of n: R0 +50 %, R1 +50 %, R2 x2 over the run,
    1 % scatter; apex frequencies ~1.6 kHz and ~1.6 Hz."""
    u = k / max(n - 1, 1)
    p = np.stack([10 * (1 + 0.5 * u), 100 * (1 + 0.5 * u), np.full(u.shape, 1e-6),
                  np.full(u.shape, 0.9), 300 * (1 + u), np.full(u.shape, 3e-4),
                  np.full(u.shape, 0.8)], axis=1)
    p *= 1 + 0.01 * rng.standard_normal(p.shape)
    p[:, [3, 6]] = np.clip(p[:, [3, 6]], 0.5, 1.0)
    return p


def _impedance(freq: np.ndarray, p: np.ndarray) -> np.ndarray:
    jw = 2j * np.pi * freq[None, :]
    R0, R1, Q1, n1, R2, Q2, n2 = (p[:, j:j + 1] for j in range(7))
    return R0 + R1 / (1 + R1 * Q1 * jw ** n1) + R2 / (1 + R2 * Q2 * jw ** n2)


def fitted_store(path, n: int, *, seed: int = 0, chunk: int = 10_000, freq=None,
                 noise: float = 0.002, area_cm2: float | None = 0.5, kk: bool = True,
                 failed_every: int = 97, dt: float = 60.0, run: str = "fit"):
    """Write ``n`` spectra of ``R0-p(R1,CPE1)-p(R2,CPE2)`` and a fit run to a new store.

    Parameters
    ----------
    path : the store (overwritten)
    n : int, spectra
    seed : int;  chunk : int, spectra per append (bounds memory)
    freq : (F,) Hz, default 1 MHz - 0.1 Hz, 5 per decade (36 points)
    noise : float, proportional noise on Z
    area_cm2 : float or None, recorded as the run's ``area_cm2`` option
    kk : bool, also write KK rows (every 10th spectrum has its highest frequency excluded)
    failed_every : int, every this many spectra has status -2 (failed) and NaN parameters
    dt : float, s between spectrum starts
    run : str, name of the fit run

    Returns
    -------
    (n, 7) float: the parameters written (NaN rows for the failed spectra).
    """
    from ..series import SpectrumSeries
    from ..store import Store

    f = log_freq(1e6, 0.1, 5) if freq is None else np.asarray(freq, np.float64)
    rng = np.random.default_rng(seed)
    options = {"circuit": PAPER_CIRCUIT, "area_cm2": area_cm2, "kk_threshold": 0.05 if kk else None}
    written = []
    with Store(path, "w") as st:
        for start in range(0, n, chunk):
            k = np.arange(start, min(n, start + chunk))
            p = _drifting(k, n, rng)
            Z = add_noise(_impedance(f, p), noise, rng) if noise > 0 else _impedance(f, p)
            series = SpectrumSeries(freq=np.broadcast_to(f, Z.shape), Z=Z,
                                    mask=np.ones(Z.shape, bool), time=dt * k,
                                    time_end=dt * k + 0.8 * dt,
                                    meta={"source": "synthetic", "technique": "PEIS"},
                                    info={"index": k})
            idx = st.append_spectra(series)
            status = np.where((k + 1) % failed_every == 0, -2, 1)
            p[status < 0] = np.nan
            res = types.SimpleNamespace(
                params=p, stderr=0.01 * np.abs(p), chi2=np.full(k.size, 1e-3),
                chi2_red=np.full(k.size, 1e-5), status=status, n_iter=np.full(k.size, 12),
                n_points=np.full(k.size, f.size), param_names=FITTED_STORE_NAMES,
                units=_UNITS, fixed=np.zeros(7, bool), weight="modulus")
            kres = None
            if kk:
                mask = np.ones(Z.shape, bool)
                mask[k % 10 == 0, 0] = False
                kres = types.SimpleNamespace(M=np.full(k.size, 12), mu=np.full(k.size, 0.7),
                                             pseudo_chi2=np.full(k.size, 1e-6),
                                             valid=np.ones(k.size, bool), mask=mask)
            st.write_fit(run, idx, res, PAPER_CIRCUIT, options, kk=kres)
            written.append(p)
    return np.concatenate(written) if written else np.zeros((0, 7))
