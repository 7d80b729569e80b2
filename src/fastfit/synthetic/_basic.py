"""Shared pieces: log-spaced frequencies, relative noise, paper-style R-(RQ)-(RQ) spectra."""
from __future__ import annotations

import numpy as np

__all__ = ["log_freq", "add_noise", "paper_rcpe2", "PAPER_CIRCUIT"]

PAPER_CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)"


def log_freq(f_max: float = 7e6, f_min: float = 10.0, per_decade: int = 10) -> np.ndarray:
    """Log-spaced frequencies from ``f_max`` down to ``f_min`` (Hz), descending like an
    instrument sweep, ``per_decade`` points per decade, both ends included."""
    n = int(round(np.log10(f_max / f_min) * per_decade)) + 1
    return np.logspace(np.log10(f_max), np.log10(f_min), n)


def add_noise(Z: np.ndarray, rel: float, rng: np.random.Generator) -> np.ndarray:
    """Proportional complex Gaussian noise: Z + rel*|Z|*(e1 + j e2), e ~ N(0, 1)."""
    s = rel * np.abs(Z)
    return Z + s * rng.standard_normal(Z.shape) + 1j * s * rng.standard_normal(Z.shape)


def paper_rcpe2(n: int, seed: int = 0, noise: float = 0.005, freq: np.ndarray | None = None):
    """Spectra of R0-p(R1,CPE1)-p(R2,CPE2) in the style of the reference study.

    Grain-boundary apex 0.25-2 MHz, interface apex 1-2 decades lower, R2/R1 from 0.2
    to 10, R0 (bulk) 5-50 % of R1, CPE exponents 0.75-0.98.

    Returns
    -------
    freq : (F,) Hz (7 MHz - 10 Hz, 10/decade unless given)
    Z : (n, F) complex128 with ``noise`` proportional noise
    params : (n, 7) true parameters in ``Circuit.param_names`` order
    """
    rng = np.random.default_rng(seed)
    f = log_freq() if freq is None else np.asarray(freq, np.float64)
    R1 = 10 ** rng.uniform(1.5, 3.0, n)
    R0 = R1 * rng.uniform(0.05, 0.5, n)
    R2 = R1 * 10 ** rng.uniform(np.log10(0.2), 1.0, n)
    n1 = rng.uniform(0.75, 0.98, n)
    n2 = rng.uniform(0.75, 0.98, n)
    f1 = 10 ** rng.uniform(np.log10(2.5e5), np.log10(2e6), n)
    f2 = f1 / 10 ** rng.uniform(1.0, 2.0, n)
    # apex of R||CPE: f = 1/(2 pi (R Q)^(1/n))  ->  Q = (1/(2 pi f))^n / R
    Q1 = (1.0 / (2 * np.pi * f1)) ** n1 / R1
    Q2 = (1.0 / (2 * np.pi * f2)) ** n2 / R2
    params = np.stack([R0, R1, Q1, n1, R2, Q2, n2], axis=1)
    w = 2 * np.pi * f
    jw = 1j * w[None, :]
    Z = (R0[:, None] + R1[:, None] / (1 + R1[:, None] * Q1[:, None] * jw ** n1[:, None])
         + R2[:, None] / (1 + R2[:, None] * Q2[:, None] * jw ** n2[:, None]))
    if noise > 0:
        Z = add_noise(Z, noise, rng)
    return f, Z, params
