"""The role permutation of a top-level arc and a nested arc in series, through the exact
equivalence of a nested (Cauer-like) and a series (Voigt, Foster) pair of RC arcs.

A nested arc p(R2 - p(R3, C3), C2) with ideal capacitors has the impedance

    Z = (Rt + s R2 t3) / (1 + s (t3 + C2 Rt) + s^2 C2 R2 t3),  Rt = R2 + R3, t3 = R3 C3,

and two arcs in series, Ra / (1 + s ta) + Rb / (1 + s tb), have

    Z = (Rt + s (Ra tb + Rb ta)) / (1 + s (ta + tb) + s^2 ta tb),  Rt = Ra + Rb.

Matching the coefficients gives one pair for the other, both ways: with m = Ra tb + Rb ta,
C2 = ta tb / m, t3 = ta + tb - C2 Rt = (Ra tb^2 + Rb ta^2) / m, R2 = m / t3, R3 = Rt - R2
(R3 >= 0: Rt (Ra tb^2 + Rb ta^2) - m^2 = Ra Rb (ta - tb)^2); and ta, tb the
roots of x^2 - (t3 + C2 Rt) x + C2 R2 t3, Ra = (R2 t3 - Rt ta) / (tb - ta), Rb = Rt - Ra.
(The two forms are the Foster and Cauer realisations of one RC network, a textbook fact
of network synthesis; the formulas above are derived here by matching coefficients.)  So
R0-p(R1,CPE1)-p(R2-p(R3,CPE3),CPE2) describes three apparent arcs, and which of them is
the top-level one is a choice the fit makes once: misses of that circuit end with the
arcs' roles permuted (a top-level arc fitted where the truth's inner or outer arc is,
1.001-1.1x the truth-started chi2).  The twins here convert the result's nested arc to
its series pair, put each of the pair's arcs at the top level in turn and convert the
other two arcs back to a nested arc.

CPEs are carried by effective capacitances and their exponents: the top-level arc's
tau = (R Q)^(1/n); the inner arc's t3 = (R3 Q3)^(1/n3); the outer CPE's C2 = tau / Rt
with tau = (Rt Q2)^(1/n2).  Of a series pair the faster arc becomes the outer CPE's
(its exponent), the slower the inner arc's (at well separated time constants the outer
CPE with R2 is the fast apparent arc and the inner arc the slow one)."""
from __future__ import annotations

import numpy as np

from ._arcs import branch_cpe, rcpe_columns
from ._nested import nested_exchanges

__all__ = ["cauer_permute", "cauer_pairs", "series_pair", "nested_pair"]


def series_pair(R2, C2, R3, t3):
    """The series (Voigt) pair (Ra, ta, Rb, tb), ta <= tb, of a nested arc with ideal
    capacitors (ohm, F, ohm, s)."""
    Rt = R2 + R3
    S = t3 + C2 * Rt
    Pp = C2 * R2 * t3
    root = np.sqrt(np.maximum(S * S - 4.0 * Pp, 0.0))
    ta, tb = 0.5 * (S - root), 0.5 * (S + root)
    Ra = np.clip((R2 * t3 - Rt * ta) / (tb - ta), 0.0, Rt)
    return Ra, ta, Rt - Ra, tb


def nested_pair(Ra, ta, Rb, tb):
    """The nested arc (R2, C2, R3, t3) of a series pair of RC arcs (ohm, s)."""
    Rt = Ra + Rb
    m = Ra * tb + Rb * ta
    C2 = ta * tb / m
    t3 = ta + tb - C2 * Rt
    R2 = m / t3
    return R2, C2, Rt - R2, t3


def cauer_permute(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Columns: a top-level R||CPE arc's R, Q, n, then a nested arc's R2, R3, Q3, n3, Q2,
    n2 (:func:`fastfit.fitting._nested.nested_exchange`'s order).  Two twins: the nested
    arc's faster and slower apparent arc at the top level, the other two arcs nested.
    The result itself where a value is not finite and positive.  ``w_lo`` is not used."""
    P = np.asarray(p, np.float64)
    R1, Q1, n1, R2, R3, Q3, n3, Q2, n2 = (P[:, j] for j in range(9))
    out = []
    with np.errstate(all="ignore"):
        t1 = np.exp(np.log(R1 * Q1) / n1)
        Rt = R2 + R3
        C2 = np.exp(np.log(Rt * Q2) / n2) / Rt
        t3 = np.exp(np.log(R3 * Q3) / n3)
        Ra, ta, Rb, tb = series_pair(R2, C2, R3, t3)
        arcs = [(R1, t1, n1), (Ra, ta, n2), (Rb, tb, n3)]
        for top in (1, 2):
            (Rk, tk, nk) = arcs[top]
            (Rx, tx, nx), (Ry, ty, ny) = (a for j, a in enumerate(arcs) if j != top)
            fast = tx <= ty
            Rf, tf, nf = (np.where(fast, u, v) for u, v in ((Rx, Ry), (tx, ty), (nx, ny)))
            Rs, ts, ns = (np.where(fast, v, u) for u, v in ((Rx, Ry), (tx, ty), (nx, ny)))
            R2n, C2n, R3n, t3n = nested_pair(Rf, tf, Rs, ts)
            Rtn = R2n + R3n
            q = P.copy()
            q[:, 0], q[:, 1], q[:, 2] = Rk, np.exp(nk * np.log(tk)) / Rk, nk
            q[:, 3], q[:, 4] = R2n, R3n
            q[:, 5], q[:, 6] = np.exp(ns * np.log(t3n)) / R3n, ns
            q[:, 7], q[:, 8] = np.exp(nf * np.log(C2n * Rtn)) / Rtn, nf
            ok = np.all(np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out


def cauer_pairs(tree) -> list[tuple]:
    """((R, Q, n, R2, R3, Q3, n3, Q2, n2), :func:`cauer_permute`) for every top-level
    R||CPE arc and every top-level nested arc p(R2 - p(R3, CPE3), CPE2) in series."""
    if tree[0] != "S":
        return []
    arcs = [c for c in map(rcpe_columns, tree[1]) if c is not None]
    nests = [cols for c in tree[1] if branch_cpe(c) is not None
             for cols, _ in nested_exchanges(c) if cols[4] == branch_cpe(c)[1]]
    return [(a + n, cauer_permute) for a in arcs for n in nests]
