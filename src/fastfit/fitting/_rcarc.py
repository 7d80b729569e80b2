"""Twins of an R||C arc beside an R||CPE arc that both hold one arc of the spectrum: the two
merged into the CPE arc and the R||C arc put back small on a grid of places (the R||C
counterpart of :func:`fastfit.fitting._arcs.pair_merge`, carried by
:func:`fastfit.fitting._exchange.rc_exchange`'s twins)."""
from __future__ import annotations

import numpy as np

from ._arcs import APEX_HALF, APEX_STEPS, PAIR_DEC, PAIR_PLACE, apex_zarc

__all__ = ["RC_MERGE_SHARE", "rc_merge"]

RC_MERGE_SHARE = 0.02     # the R||C arc's share of R + R' after the merge


def rc_merge(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A top-level R||C arc (R, C) and R||CPE arc (R', Q', n') in series, columns R, C, R',
    Q', n' (:func:`_exchange.rc_exchange`'s), whose time constants R C and (R' Q')^(1/n')
    are within ``_arcs.PAIR_DEC`` decades, merged: the CPE arc becomes the ZARC of
    (1 - s) (R + R') with the apex of the two arcs' summed impedance
    (:func:`_arcs.apex_zarc`, sought on ``APEX_STEPS`` points a decade within ``APEX_HALF``
    decades of their mean log tau; the merged arc's tau kept), the R||C arc s (R + R') at
    tau = 10^place / w_lo for every place of ``_arcs.PAIR_PLACE``, s = ``RC_MERGE_SHARE``;
    the result itself elsewhere or where a value is not finite and positive.

    R0-p(R1,C1)-p(R2,CPE2)-CPE3 (benchmarks/bench_circuits_beyond.py's generator) can end
    with the two arcs splitting the truth's large arc (time constants within 1.5x) and
    its small R||C arc (1-2 % of R2, 20-200x slower) lost, 1.17-1.31x the truth-started
    chi2, reported CONVERGED.  Measured (session 41, the benchmark's seed, spectra 174
    and 235): from the fitted results merged this way the local fit reaches the optimum
    at shares 0.005-0.05 from places -1, -7/3 and -11/3 (w_lo tau = 10^place), one of
    them not from -5."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, C, R2, Q2, n2 = (P[:, i] for i in range(5))
    with np.errstate(all="ignore"):
        R_tot = R + R2
        lt1 = np.log10(R * C)
        lt2 = np.log10(R2 * Q2) / n2
        gate = (np.abs(lt1 - lt2) < PAIR_DEC) & np.isfinite(R_tot) & (R_tot > 0)
        if not gate.any():
            return []
        G = P[gate]
        half = int(APEX_HALF * APEX_STEPS)
        w = 10.0 ** (-(lt1[gate] + lt2[gate])[:, None] / 2.0
                     + np.arange(-half, half + 1)[None, :] / APEX_STEPS)
        Z = (G[:, 0, None] / (1.0 + 1j * w * G[:, 0, None] * G[:, 1, None])
             + G[:, 2, None] / (1.0 + G[:, 2, None] * G[:, 3, None] * w ** G[:, 4, None]
                                * np.exp(0.5j * np.pi * G[:, 4, None])))
        Q_a, n_a = apex_zarc(w, Z, R_tot[gate])
        base = P.copy()
        base[gate, 3], base[gate, 4] = Q_a, n_a
        s = RC_MERGE_SHARE
        out = []
        for place in PAIR_PLACE:
            q = base.copy()
            q[:, 2] = (1.0 - s) * R_tot
            q[:, 3] = base[:, 3] * R_tot / q[:, 2]          # the merged arc's tau kept
            q[:, 0] = s * R_tot
            q[:, 1] = 10.0 ** place / np.asarray(w_lo, np.float64) / q[:, 0]
            ok = gate & np.all(np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out
