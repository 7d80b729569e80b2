"""Twins of nested arcs (``R0-p(R1-p(R2,CPE2),CPE1)``, coating / pore circuits): other
placements of a nested arc's resistors, time constants and CPEs that a local fit cannot
reach from a wrong basin.  The swap and the exchange are move twins, tried with the
relocation moves on loosely determined results (``FitConfig.move_twins``, assembled by
:func:`fastfit.fitting._twins.circuit_move_twins`); the inner relocation and the CPE swap
are late twins, tried on every result (``FitConfig.late_twins``,
:func:`fastfit.fitting._config.late_twins`; docs/design-notes.md, "Generic start
search", steps 4 and 6)."""
from __future__ import annotations

import numpy as np

from ._arcs import branch_cpe, rcpe_columns

__all__ = ["nested_swap", "nested_exchange", "nested_exchanges", "inner_relocation",
           "inner_relocations", "cpe_swap", "cpe_swaps", "NEST_FACTORS", "NEST_FLOOR",
           "EXCHANGE_R", "INNER_SHARE", "INNER_PLACE", "INNER_N", "SWAP_Q"]

NEST_FLOOR = 1e-2     # the swapped inner R' is at least this fraction of the new R (the
                      # series swap's floor, _twins.SWAP_FLOOR)


# time-constant factors of the inner arc in a nested swap (1 keeps it); measured on the
# nested family (400 spectra, seed 23): factors (1, 10) 22 -> 19 misses at -13 % fits/s,
# these five 22 -> 17 at -25 %; (1,) alone on seed 29: 36 -> 30 at -7 %
NEST_FACTORS = (1.0, 3.0, 10.0, 1.0 / 3.0, 0.1)


def nested_swap(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A resistor R in series with an inner arc p(R', X), X a CPE (Q, n) or a capacitor
    (C), inside a parallel: columns R, R', then X's.  Nested circuits (coating/pore,
    ``R0-p(R1-p(R2,CPE2),CPE1)``) end with R and R' in each other's roles -- R + R'
    (the DC resistance) kept, the inner arc's time constant 0.3-10x off, chi2 1.003-1.2x
    the truth-started fit (9 of 13 misses in 300 spectra of the family benchmark).  The
    twins exchange R and R' (the new R' floored at ``NEST_FLOOR`` x the new R) and put
    the inner arc's time constant at ``NEST_FACTORS`` x its fitted value, n kept.  Run
    with the relocation moves on loosely determined results only (``FitConfig.move_twins``):
    as twins of every result they halved the family's fits/s for the same gain."""
    R, Rp = np.asarray(p[:, 0], np.float64), np.asarray(p[:, 1], np.float64)
    cpe = p.shape[1] == 4
    n = np.asarray(p[:, 3], np.float64) if cpe else 1.0
    out = []
    with np.errstate(all="ignore"):
        tau = (Rp * p[:, 2]) ** (1.0 / n)
        R_in = np.maximum(R, NEST_FLOOR * Rp)
        for fac in NEST_FACTORS:
            q = np.array(p, np.float64, copy=True)
            q[:, 0], q[:, 1] = Rp, R_in
            q[:, 2] = (tau * fac) ** n / R_in
            out.append(np.where(np.isfinite(q), q, p))
    return out


# factors on the series resistor R of a nested arc tried with the time-constant exchange
# (``nested_exchange``), R + R' kept
EXCHANGE_R = (1.0, 3.0, 10.0, 30.0)


def nested_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A nested arc p(R - p(R', CPE'), CPE) with its two time constants exchanged:
    columns R, R', Q', n', then the enclosing CPE's Q, n.  Nested misses of the family
    benchmark (400 spectra, seed 23) end with the inner arc's (tau, n) where the outer
    one's belong and vice versa -- tau_in 1 decade slower than tau_out instead of faster,
    R + R' kept, R 6-27x too small -- at 1.01-1.14x the truth-started chi2.  The twins
    put the inner arc at the outer one's time constant ((R + R') Q)^(1/n) and exponent,
    the outer at the inner one's (R' Q')^(1/n'), with R at ``EXCHANGE_R`` x its fitted
    value (at most 0.9 (R + R'), the sum kept)."""
    R, Rp, Qp, n_in, Q, n_out = (np.asarray(p[:, k], np.float64) for k in range(6))
    out = []
    with np.errstate(all="ignore"):
        R_tot = R + Rp
        tau_in = (Rp * Qp) ** (1.0 / n_in)
        tau_out = (R_tot * Q) ** (1.0 / n_out)
        for fac in EXCHANGE_R:
            q = np.array(p, np.float64, copy=True)
            R_new = np.minimum(R * fac, 0.9 * R_tot)
            q[:, 0], q[:, 1] = R_new, R_tot - R_new
            q[:, 2], q[:, 3] = tau_out ** n_out / (R_tot - R_new), n_out
            q[:, 4], q[:, 5] = tau_in ** n_in / R_tot, n_in
            out.append(np.where(np.isfinite(q), q, p))
    return out


def nested_exchanges(node) -> list:
    """(R, R', Q', n', Q, n) entries with :func:`nested_exchange` for every nested arc
    p(R - p(R', CPE'), CPE) below ``node`` (R and the inner arc in one series branch,
    parallel to a CPE)."""
    if node[0] == "E":
        return []
    out = []
    found = branch_cpe(node)
    if found is not None:
        branch, q = found
        rs = [c for c in branch[1] if c[0] == "E" and c[1] == "R"]
        for arc in branch[1]:
            cols = rcpe_columns(arc)
            if cols is not None:
                out.extend(((int(r[2]),) + cols + (q, q + 1), nested_exchange) for r in rs)
    for c in node[1]:
        out.extend(nested_exchanges(c))
    return out


# the inner arc of a nested arc relocated (``inner_relocation``): its share R' / (R + R')
# of the branch's resistance, its time constant's places log10(w_lo tau) and its exponents
INNER_SHARE = (0.005, 0.05, 0.95, 0.995)
INNER_PLACE = (-1.0, -7.0 / 3.0, -11.0 / 3.0, -5.0)
INNER_N = (0.8,)


def inner_relocation(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The inner arc p(R', CPE') of a nested arc p(R - p(R', CPE'), CPE) put elsewhere:
    columns R, R', Q', n'.  For every share s in ``INNER_SHARE``, place in ``INNER_PLACE``
    and exponent n' in ``INNER_N`` (one): R' = s (R + R'), R = (1 - s) (R + R') (the branch's
    DC resistance kept), tau' = 10^place / w_lo, Q' = tau'^n' / R'.  Tried on every result
    after the relocation moves (``FitConfig.late_twins``).

    Nested misses of the family benchmark end with the inner arc's share or time constant
    far from the truth's (a small inner arc, 0.1-2 % of the branch, fitted as half of it or
    all of it; or R -> 0 where the truth's R is 0.5-10 %), often tight and CONVERGED, so
    no move sees them; from the result with the inner arc replaced on this grid a local
    fit reaches the truth's optimum on 16 of 26 and 23 of 37 of them (seeds 41, 43; every
    candidate run to convergence, with n' 0.7 and 0.9).  Measured as late twins (1,000
    spectra, seeds 41, 43 and 47, 47 unseen while choosing): misses 26 / 37 / 26 -> 17 /
    29 / 20 with n' = 0.8 (16 candidates) at 14 % fewer fits/s; with n' 0.7 and 0.9 (32)
    16 / 28 / 19 at 29-32 % fewer; 2,000 spectra of the family seed, n' = 0.8: 56 -> 38
    at 17 % fewer (n' 0.7 / 0.9: 38 at 31 % fewer).  The shares (0.005, 0.05) alone (n'
    0.7 / 0.9): 16 / 33 / 25; (0.005, 0.995): 19 / 32; three or six places: no more fixed.
    Random perturbations of every parameter (16, up to 3x) fixed none in the tournament."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R_tot = P[:, 0] + P[:, 1]
    ok = (R_tot > 0)[:, None]
    out = []
    with np.errstate(all="ignore"):
        for share in INNER_SHARE:
            for place in INNER_PLACE:
                tau = 10.0 ** place / w_lo
                for n in INNER_N:
                    q = P.copy()
                    q[:, 1] = share * R_tot
                    q[:, 0] = (1.0 - share) * R_tot
                    q[:, 3] = n
                    q[:, 2] = tau ** n / q[:, 1]
                    out.append(np.where(ok & np.isfinite(q), q, P))
    return out


def inner_relocations(tree) -> list:
    """(R, R', Q', n') entries with :func:`inner_relocation` for every nested arc of
    :func:`nested_exchanges`."""
    return [(cols[:4], inner_relocation) for cols, _ in nested_exchanges(tree)]


# the inner CPE's Q in a CPE swap (``cpe_swap``): the outer one's Q times these
SWAP_Q = (1.0, 0.3, 0.1)


def cpe_swap(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The two CPEs of a nested arc p(R - p(R', CPE'), CPE) exchanged: columns R, R', Q',
    n', then the enclosing CPE's Q, n.  Where R is small beside R', the two CPEs act
    nearly in parallel across R' (Y = Q (jw)^n + Q' (jw)^n' around the arc), so a fit can
    end with each one's (Q, n) where the other's belongs -- R and R' close to the truth's,
    tight and CONVERGED, 1.002-1.05x the truth-started chi2.  For every factor f in
    ``SWAP_Q`` the twin has (Q', n') = (f Q, n) and (Q, n) = (Q' / f, n'), the
    resistances kept (the admittance sum is kept at f = 1).  Tried on every result after
    the relocation moves (``FitConfig.late_twins``).

    Measured (session 30, scratch A/B, family benchmark, default fit with the late twins'
    longer trip, misses against the truth-started fits): 2,000 spectra of the benchmark
    seed 25 -> 14 (wrong CONVERGED 6 -> 0); unseen seeds 7 and 11 (1,000 spectra) 14 -> 13
    and 13 -> 10, at 5-10 % fewer fits/s.  f = (1, 0.3): 16 on the benchmark seed, with
    or without the time-constant exchange (:func:`nested_exchange`) as a late twin too
    (with it 13 / 10 on seeds 7 / 11); that exchange alone as a late twin: 20 / 14 / 11."""
    out = []
    with np.errstate(all="ignore"):
        for f in SWAP_Q:
            q = np.array(p, np.float64, copy=True)
            q[:, 2], q[:, 3] = f * p[:, 4], p[:, 5]
            q[:, 4], q[:, 5] = p[:, 2] / f, p[:, 3]
            out.append(np.where(np.isfinite(q), q, p))
    return out


def cpe_swaps(tree) -> list:
    """(R, R', Q', n', Q, n) entries with :func:`cpe_swap` for every nested arc of
    :func:`nested_exchanges` (one per arc: the swap does not move R)."""
    out, seen = [], set()
    for cols, _ in nested_exchanges(tree):
        if cols[1:] not in seen:
            seen.add(cols[1:])
            out.append((cols, cpe_swap))
    return out
