"""Twins of an R||CPE arc and a diffusion element in series whose time constants traded
places.

In R0-p(R1,CPE1)-Wsa1 (an arc in series with a finite-length Warburg: a solid electrolyte
behind a porous electrode, say) a fit can end with the arc where the Warburg's time
constant belongs and the Warburg where the arc's does: the arc broadened (n 0.71 for a
truth of 0.86-0.89) and holding most of the Warburg's resistance, 1.02-1.18x the
truth-started chi2, reported CONVERGED with a tight covariance, so no relocation move
(those run on loosely determined results) sees it (benchmarks/bench_elements.py's CONTEXT
spectra: the one miss of each of seeds 3, 11, 5, 23, 29).  From the same point with the
two time constants exchanged -- the arc's tau = (R Q)^(1/n) given to the Warburg, the
Warburg's tau to the arc (Q = tau^n / R), every resistance and exponent kept -- the local
fit reaches the truth's optimum.  The twin (columns R, Q, n of the arc, then the
Warburg's R_w, tau[, n_w]) is that exchange; ``w_lo`` (the lowest used angular frequency)
is not used.  Which pairs get it: :func:`exchange_pairs`.
"""
from __future__ import annotations

import numpy as np

from ._arcs import rcpe_columns

__all__ = ["EXCHANGE", "tau_exchange", "exchange_pairs"]

# diffusion elements (R_w, tau[, n] first) whose time constant an arc in series may take
# (Ws measured too: no miss to fix on 600 spectra, at 25 % fewer fits/s; not included)
EXCHANGE = ("Wsa",)


def tau_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The arc (R, Q, n) and the Warburg (R_w, tau[, n_w]) with their time constants
    exchanged: tau_arc' = tau_w, tau_w' = (R Q)^(1/n), Q' = tau_arc'^n / R; the result
    itself where a time constant is not finite and positive."""
    P = np.asarray(p, np.float64)
    R, Q, n, tau_w = P[:, 0], P[:, 1], P[:, 2], P[:, 4]
    with np.errstate(all="ignore"):
        tau_arc = np.exp(np.log(R * Q) / n)
        q = P.copy()
        q[:, 1] = np.exp(n * np.log(tau_w)) / R
        q[:, 4] = tau_arc
        ok = (R > 0) & (Q > 0) & (n > 0) & (tau_w > 0) & np.all(np.isfinite(q), axis=1) \
            & (q[:, 1] > 0) & (q[:, 4] > 0)
    return [np.where(ok[:, None], q, P)]


def exchange_pairs(tree, elements) -> list[tuple]:
    """((R, Q, n, Warburg parameters...), :func:`tau_exchange`) for every top-level
    series pair of an R||CPE arc (a parallel of exactly one R and one CPE) and an
    ``EXCHANGE`` element.  ``elements``: the kernel element table (parameter counts)."""
    if tree[0] != "S":
        return []
    arcs, diff = [], []
    for c in tree[1]:
        cols = rcpe_columns(c)
        if cols is not None:
            arcs.append(cols)
        elif c[0] == "E" and isinstance(c[1], str) and c[1] in EXCHANGE:
            k = len(elements[c[1]].names)
            diff.append(tuple(range(int(c[2]), int(c[2]) + k)))
    return [(a + w, tau_exchange) for a in arcs for w in diff]
