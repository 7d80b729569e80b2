"""Spectra for DRT tests and benchmarks: random process mixtures and a slowly changing series."""
from __future__ import annotations

import numpy as np

from ._basic import add_noise

# ---------------------------------------------------------------- DRT (issue 6) -----
__all__ = ["drt_mixtures", "drt_series", "inductive_loops", "circuit_loops"]


def drt_mixtures(freq, n: int, seed: int = 0, noise=(1e-3, 1e-2)):
    """Random spectra for DRT benchmarks: R_inf (+ an inductance half the time) plus 1-3
    processes drawn from ZARC (phi 0.6-1), RC, Gerischer R/sqrt(1 + j w tau) and finite
    Warburg R tanh(s)/s with s = sqrt(j w tau); tau log-uniform in the central 80 % of
    the measured 1/w range; proportional noise with a level drawn from ``noise``.

    Returns Z (n, F) complex128, ohm.
    """
    rng = np.random.default_rng(seed)
    f = np.asarray(freq, np.float64)
    w = 2 * np.pi * f
    lo, hi = np.log10(1 / w.max()), np.log10(1 / w.min())
    Z = np.zeros((n, f.size), complex)
    for i in range(n):
        z = rng.uniform(0, 30) + 1j * w * 10 ** rng.uniform(-9, -6) * (rng.random() < 0.5)
        for _ in range(rng.integers(1, 4)):
            R = 10 ** rng.uniform(0, 2)
            tau = 10 ** (lo + (hi - lo) * rng.uniform(0.1, 0.9))
            kind = rng.integers(4)
            if kind == 0:
                z = z + R / (1 + (1j * w * tau) ** rng.uniform(0.6, 1.0))
            elif kind == 1:
                z = z + R / (1 + 1j * w * tau)
            elif kind == 2:
                z = z + R / np.sqrt(1 + 1j * w * tau)
            else:
                s = np.sqrt(1j * w * tau)
                z = z + R * np.tanh(s) / s
        Z[i] = add_noise(z, rng.uniform(*noise), rng)
    return Z


def drt_series(freq, n: int, seed: int = 0, noise: float = 0.002):
    """A slowly evolving cell for DRT time-series benchmarks: R0 + two ZARCs whose
    resistances grow and time constants drift (half a decade up, 0.3 decade down) over
    the ``n`` spectra.  Returns Z (n, F) complex128, ohm."""
    rng = np.random.default_rng(seed)
    f = np.asarray(freq, np.float64)[None, :]
    t = np.linspace(0.0, 1.0, n)[:, None]
    jw = 2j * np.pi * f
    Z = (10 + 5 * t + 50 * (1 + t) / (1 + (jw * 1e-4 * 10 ** (0.5 * t)) ** 0.85)
         + 80 * (1 + 2 * t ** 2) / (1 + (jw * 1e-2 * 10 ** (-0.3 * t)) ** 0.9))
    return add_noise(Z, noise, rng)


def inductive_loops(freq, n: int, seed: int = 0, noise: float = 0.002):
    """Spectra with one capacitive arc and one low-frequency inductive loop (signed DRT,
    issue 21): R0 + R1 / (1 + (j w tau1)^phi) - R2 / (1 + j w tau2), i.e. R0 - p(R1, CPE)
    - p(R2, L2) with R2 moved into R0 (p(R2, L2) = R2 - R2 / (1 + j w L2/R2)).

    R1 10-1000 ohm, phi 0.9-1, tau1 log-uniform over [1e-4, 1e-2] s clipped to 1.2 decades
    inside the measured 1/w range; R2 = 0.15-0.6 R1, tau2 1.8-3 decades above tau1
    (clipped 0.5 decade inside the range); R0 5-50 % of R1; proportional noise ``noise``.

    Returns
    -------
    Z : (n, F) complex128, ohm
    truth : dict of (n,) arrays R1, tau1, R2, tau2 (the DRT has a positive peak of area R1
        at tau1 and a negative one of area -R2 at tau2)
    """
    rng = np.random.default_rng(seed)
    f = np.asarray(freq, np.float64)
    w = 2 * np.pi * f
    lo, hi = np.log10(1 / w.max()), np.log10(1 / w.min())
    Z = np.zeros((n, f.size), complex)
    truth = {k: np.zeros(n) for k in ("R1", "tau1", "R2", "tau2")}
    for i in range(n):
        R1 = 10 ** rng.uniform(1, 3)
        t1 = 10 ** np.clip(rng.uniform(-4, -2), lo + 1.2, hi - 3.0)
        R2 = R1 * rng.uniform(0.15, 0.6)
        t2 = 10 ** min(np.log10(t1) + rng.uniform(1.8, 3.0), hi - 0.5)
        z = R1 * rng.uniform(0.05, 0.5) + R1 / (1 + (1j * w * t1) ** rng.uniform(0.9, 1.0)) \
            - R2 / (1 + 1j * w * t2)
        Z[i] = add_noise(z, noise, rng)
        for k, v in zip(truth, (R1, t1, R2, t2)):
            truth[k][i] = v
    return Z, truth


def circuit_loops(freq, n: int, seed: int = 0, noise: float = 0.002):
    """Arc + loop spectra built from the circuit string ``R0-p(R1,CPE1)-p(R2,L2)`` (signed
    DRT, issue 21), as a user would: p(R2, L2) = R2 - R2 / (1 + j w L2/R2) is a loop of
    -R2 at tau2 = L2 / R2 (R_inf = R0 + R2).

    R1 1-1e4 ohm with tau1 log-uniform from 1 decade inside the highest frequency to 2.5
    decades before the lowest, n 0.85-1 (Q = tau1^n / R1); R2 0.2-0.8 R1 with tau2 at
    least 1.5 decades above tau1 and 0.3 decade inside the lowest frequency; R0 0.05-1 R1;
    noise ``noise`` x |Z| on the real and on the imaginary part.

    Returns
    -------
    Z : (n, F) complex128, ohm
    truth : (n, 4) R1, tau1, R2, tau2 (a positive DRT peak of area R1 at tau1 and a
        negative one of area -R2 at tau2)
    """
    from ..circuit import Circuit

    rng = np.random.default_rng(seed)
    w = 2 * np.pi * np.asarray(freq, np.float64)
    lo, hi = np.log10(1 / w.max()), np.log10(1 / w.min())
    P, truth = np.zeros((n, 6)), np.zeros((n, 4))
    for i in range(n):
        R1, t1 = 10 ** rng.uniform(0, 4), 10 ** rng.uniform(lo + 1, hi - 2.5)
        e = rng.uniform(0.85, 1.0)
        R2 = R1 * rng.uniform(0.2, 0.8)
        t2 = 10 ** rng.uniform(np.log10(t1) + 1.5, hi - 0.3)
        P[i] = R1 * rng.uniform(0.05, 1), R1, t1 ** e / R1, e, R2, R2 * t2
        truth[i] = R1, t1, R2, t2
    Z = Circuit("R0-p(R1,CPE1)-p(R2,L2)").impedance(freq, P)
    Z = Z + noise * np.abs(Z) * (rng.standard_normal(Z.shape) + 1j * rng.standard_normal(Z.shape))
    return Z, truth
