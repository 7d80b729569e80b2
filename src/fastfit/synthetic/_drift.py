"""Time-dependent series: drifting sweeps (lin-KK) and a live GEIS dissolution run (streaming)."""
from __future__ import annotations

import numpy as np

from ._basic import PAPER_CIRCUIT, add_noise, log_freq

# =====================================================================================
# Drifting sweep series (issue 5, Kramers-Kronig / nonstationarity)
# =====================================================================================

__all__ = ["DRIFT_CIRCUIT", "drift_series", "sweep_fraction", "magnitude_drift"]

DRIFT_CIRCUIT = PAPER_CIRCUIT


def drift_series(n_sweeps: int = 12, seed: int = 0, drift: float = 0.02, noise: float = 0.001,
                 *, freq=None, point_time: str = "cycles", params=None):
    """Consecutive sweeps of one cell whose resistances grow *during* every sweep.

    Circuit ``R0-p(R1,CPE1)-p(R2,CPE2)``, random parameters (apex frequencies 10 Hz -
    10 kHz, R in 10-1000 ohm, CPE exponents 0.75-0.98) unless ``params`` (7,) is given.
    Sweeps run back to back from high to low frequency (100 kHz - 0.1 Hz, 8 per decade,
    unless ``freq``), so low frequencies are measured last.  Every resistance follows
    ``R(t) = R(0) (1 + drift)^(t / T)`` with T the sweep duration (``drift`` = 0.02: +2 %
    per sweep, continuously, also while a sweep runs); Q and n stay fixed.

    point_time : "cycles" (each point lasts 0.5 s + 2 periods, as an instrument that
        integrates 2 cycles; the point is stamped at its middle) or "linear" (equal
        duration per point, stamped at the start of the point).

    Returns
    -------
    series : SpectrumSeries with time (sweep start, s), time_end (last point, s),
        points["t"] (time of every point, s), info["series"] (0), meta["technique"] "GEIS"
    truth : dict -- circuit, params0 (7,) at t = 0, point_params (n_sweeps, F, 7) at every
        point's time, drift, noise, sweep_s (T)
    """
    from ..series import SpectrumSeries

    rng = np.random.default_rng(seed)
    f = log_freq(1e5, 0.1, 8) if freq is None else np.asarray(freq, np.float64)
    if params is None:
        R0 = 10 ** rng.uniform(1.0, 2.5)
        R1 = 10 ** rng.uniform(1.0, 3.0)
        R2 = 10 ** rng.uniform(1.0, 3.0)
        n1, n2 = rng.uniform(0.75, 0.98, 2)
        fa1 = 10 ** rng.uniform(2.5, 4.0)
        fa2 = fa1 / 10 ** rng.uniform(1.0, 2.5)
        Q1 = (1.0 / (2 * np.pi * fa1)) ** n1 / R1
        Q2 = (1.0 / (2 * np.pi * fa2)) ** n2 / R2
        params = np.array([R0, R1, Q1, n1, R2, Q2, n2])
    params = np.asarray(params, np.float64)
    if point_time == "cycles":
        dur = 0.5 + 2.0 / f
        t_in = np.cumsum(dur) - dur / 2
    elif point_time == "linear":
        dur = np.full(f.shape, 1.0)
        t_in = np.cumsum(dur) - dur
    else:
        raise ValueError(f"point_time must be 'cycles' or 'linear', got {point_time!r}")
    T = float(dur.sum())
    t = np.arange(n_sweeps)[:, None] * T + t_in[None, :]            # (N, F)
    g = (1.0 + drift) ** (t / T)
    p = np.broadcast_to(params, t.shape + (7,)).copy()
    for k in (0, 1, 4):
        p[..., k] = params[k] * g
    jw = 1j * 2 * np.pi * f[None, :]
    Z = (p[..., 0] + p[..., 1] / (1 + p[..., 1] * p[..., 2] * jw ** p[..., 3])
         + p[..., 4] / (1 + p[..., 4] * p[..., 5] * jw ** p[..., 6]))
    if noise > 0:
        Z = add_noise(Z, noise, rng)
    series = SpectrumSeries(
        freq=np.broadcast_to(f, Z.shape).copy(), Z=Z, mask=np.ones(Z.shape, bool),
        time=t[:, 0].copy(), time_end=t[:, -1].copy(),
        meta={"technique": "GEIS", "source": f"synthetic drift_series(seed={seed})"},
        info={"series": np.zeros(n_sweeps, np.int64), "index": np.arange(n_sweeps)},
        points={"t": t})
    truth = {"circuit": DRIFT_CIRCUIT, "params0": params, "point_params": p, "drift": drift,
             "noise": noise, "sweep_s": T}
    return series, truth


def sweep_fraction(freq, point_time: str = "cycles") -> np.ndarray:
    """(F,) fraction of a high-to-low frequency sweep elapsed at each point of ``freq``
    (any order): 0 at the start of the first (highest) point, 1 at the end of the last.
    Each point lasts 0.5 s + 2 periods ("cycles") or the same time ("linear"); a point is
    stamped at its middle."""
    f = np.asarray(freq, np.float64)
    order = np.argsort(-f, kind="stable")
    if point_time == "cycles":
        dur = 0.5 + 2.0 / f[order]
    elif point_time == "linear":
        dur = np.ones(f.size)
    else:
        raise ValueError(f"point_time must be 'cycles' or 'linear', got {point_time!r}")
    frac = np.empty(f.size)
    frac[order] = (np.cumsum(dur) - dur / 2) / dur.sum()
    return frac


def magnitude_drift(freq, Z, drift: float = 0.05, point_time: str = "cycles"):
    """Spectra whose magnitude drifts during the sweep (Z-HIT tests, issue 21).

    The sweep runs from high to low frequency, so low frequencies are measured last;
    every point is scaled by ``1 + drift * s`` with s the elapsed fraction of the sweep at
    that point (:func:`sweep_fraction`): |Z| grows by ``drift`` (5 %: 0.05) over the
    sweep while the phase is untouched -- a spectrum no single KK-compliant impedance
    produces.  ``Z`` (F,) or (B, F) complex; returns the same shape.
    """
    return np.asarray(Z) * (1.0 + drift * sweep_fraction(freq, point_time))


# =====================================================================================
# Live GEIS dissolution series (issue 8, streaming)
# =====================================================================================

__all__ += ["DISSOLUTION_CIRCUIT", "geis_dissolution"]

DISSOLUTION_CIRCUIT = PAPER_CIRCUIT


def geis_dissolution(n_sweeps: int = 20, seed: int = 0, noise: float = 0.002, *, freq=None,
                     i_dc: float = 1e-3, rate: float = 0.05):
    """Galvanostatic EIS sweeps during anodic dissolution, with the interface changing
    while it is measured.

    Circuit ``R0-p(R1,CPE1)-p(R2,CPE2)``: R0 electrolyte (5 ohm, fixed); R1 ‖ CPE1 the
    charge-transfer arc (R1 falls from 60 ohm as the surface roughens,
    R1(t) = 60 exp(-rate u) with u = t / sweep duration; Q1 = 2e-5 F s^(n-1) grows by
    the same factor, n1 = 0.9); R2 ‖ CPE2 a salt film that thickens (R2(t) = 15 (1 + rate u)
    ohm, Q2 = 1e-2, n2 = 0.7).  The DC potential follows the total DC resistance:
    Ewe = 0.2 V + i_dc (R0 + R1 + R2).  Each sweep runs 100 kHz -> 0.1 Hz at 10 points per
    decade (unless ``freq``); each point lasts 0.2 s + 2 periods and is stamped at its
    middle.  These numbers are illustrative choices, not taken from a study.

    Returns
    -------
    freq : (F,) Hz
    Z : (n_sweeps, F) complex128 ohm, with ``noise`` proportional noise
    t : (n_sweeps, F) s, time of every point
    params : (n_sweeps, F, 7) true parameters at every point's time
    channels : dict of (n_sweeps, F): ``Ewe`` (V), ``I`` (A)
    """
    rng = np.random.default_rng(seed)
    f = log_freq(1e5, 0.1, 10) if freq is None else np.asarray(freq, np.float64)
    dur = 0.2 + 2.0 / f
    T = float(dur.sum())
    t = np.arange(n_sweeps)[:, None] * T + (np.cumsum(dur) - dur / 2)[None, :]
    u = t / T
    p = np.empty(t.shape + (7,))
    p[..., 0] = 5.0
    p[..., 1] = 60.0 * np.exp(-rate * u)
    p[..., 2] = 2e-5 * np.exp(rate * u)
    p[..., 3] = 0.9
    p[..., 4] = 15.0 * (1.0 + rate * u)
    p[..., 5] = 1e-2
    p[..., 6] = 0.7
    jw = 1j * 2 * np.pi * f[None, :]
    Z = (p[..., 0] + p[..., 1] / (1 + p[..., 1] * p[..., 2] * jw ** p[..., 3])
         + p[..., 4] / (1 + p[..., 4] * p[..., 5] * jw ** p[..., 6]))
    if noise > 0:
        Z = add_noise(Z, noise, rng)
    ewe = 0.2 + i_dc * (p[..., 0] + p[..., 1] + p[..., 4])
    return f, Z, t, p, {"Ewe": ewe, "I": np.full(t.shape, i_dc)}
