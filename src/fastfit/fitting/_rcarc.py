"""Twins of a top-level R||C arc beside a top-level R||CPE arc in series (exchange twins,
listed by :func:`fastfit.fitting._exchange.branch_pairs`): the two arcs exchanged
(:func:`rc_exchange`), a minor R||C arc revived under the CPE arc
(:func:`fastfit.fitting._vanished.rc_revival`), and two arcs that hold one arc of the
spectrum merged with the R||C arc put back small on a grid of places (:func:`rc_merge`,
the R||C counterpart of :func:`fastfit.fitting._arcs.pair_merge`)."""
from __future__ import annotations

import numpy as np

from ._arcs import APEX_HALF, APEX_STEPS, PAIR_DEC, PAIR_PLACE, apex_zarc
from ._vanished import rc_revival

__all__ = ["RC_EXCHANGE_N", "rc_exchange", "RC_MERGE_SHARE", "rc_merge"]

# the R||CPE arc's exponent after it took the R||C arc's place: the R||C arc's own (n = 1)
# -- the shape moves with the role.  Measured (session 40, scratch): R0-p(R1,C1)-p(R2,CPE2),
# 500 spectra outside the zoo, the one wrong CONVERGED (1.05x) had the R||C arc holding the
# large arc at n = 1 and the CPE arc (n' 0.92) a small one beside it; from the exchange
# with n' kept the local fit went back there, from n' = 1 (or 0.97) it reached the
# truth-started optimum at every resistance share and place tried.
RC_EXCHANGE_N = (None, 1.0)      # None: n' kept


def rc_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A top-level R||C arc (R, C) and a top-level R||CPE arc (R', Q', n') in series with
    the two arcs exchanged, each time constant (R C, (R' Q')^(1/n')) and resistance moved
    to the other arc, n' kept or set to the R||C arc's n = 1 (``RC_EXCHANGE_N``: the arc
    shape that held the place goes with it); the result itself where a value is not finite
    and positive.

    R0-p(R1,C1)-p(R2,CPE2)-CPE3 (300 spectra outside the family zoo, the generator of
    :func:`_exchange.branch_exchange`) can end with the CPE arc at n' -> 1 in the R||C
    arc's place and the R||C arc elsewhere (at seconds, or a fraction of an ohm), 1.2x the
    truth-started chi2, CONVERGED; R0-p(R1,C1)-p(R2,CPE2) the other way round (the R||C
    arc in the large CPE arc's place, the CPE arc broadened beside it, 1.05x, CONVERGED),
    undone only with n' = 1 (``tests/synthetic/rc_cpe_shape_exchange.npz``).  A minor R||C
    arc also gets its size back under the CPE arc (:func:`_vanished.rc_revival`: two more
    twins), and two arcs that split one are merged (:func:`rc_merge`: four more, with
    ``w_lo``)."""
    P = np.asarray(p, np.float64)
    R, C, R2, Q2, n2 = (P[:, i] for i in range(5))
    out = []
    with np.errstate(all="ignore"):
        tau_c = R * C
        tau_q = np.exp(np.log(R2 * Q2) / n2)
        for n_new in RC_EXCHANGE_N:
            n_b = n2 if n_new is None else np.full_like(n2, n_new)
            q = P.copy()
            q[:, 0], q[:, 1] = R2, tau_q / R2
            q[:, 2], q[:, 3], q[:, 4] = R, np.exp(n_b * np.log(tau_c)) / R, n_b
            ok = np.all(np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out + rc_revival(P) + rc_merge(P, w_lo)


RC_MERGE_SHARE = 0.02     # the R||C arc's share of R + R' after the merge


def rc_merge(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A top-level R||C arc (R, C) and R||CPE arc (R', Q', n') in series, columns R, C, R',
    Q', n' (:func:`rc_exchange`'s), whose time constants R C and (R' Q')^(1/n')
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
