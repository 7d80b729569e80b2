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
is not used.

Paasch's porous electrode ``T`` behind an arc (``R0-p(R1,CPE1)-T1``, the same CONTEXT
spectra) has a worse trap, a role exchange: the T sits where the arc belongs (its
characteristic time b / a at the arc's apex, b ~ 1e-6 s, holding about the arc's
resistance as an RC) and the arc, smeared over the whole window (n 0.23-0.51), holds the
T's low-frequency part -- 1.3-6x the truth-started chi2, CONVERGED or AT_BOUND (four of
the misses of seeds 3 and 6-8, 1,200 spectra).  Nothing local undoes it: the arc's own
sharp twins (``_arcs.smeared_arc``) stay at the arc's place, the T's scaled twins at the
T's.  The twin (columns R, Q, n of the arc, then A, B, a, b of the T;
:func:`t_role_exchange`) gives the arc the T's place and resistance, sharp, and the T the
arc's resistance at a grid of places below it.  Which pairs get it: :func:`exchange_pairs`.
Session 23: the same trade with the arc not smeared (n 0.71) but the T at its apex (b / a
within ``ROLE_NEAR`` decades of the arc's time constant), 1.15x, so the exchange also
applies there (seed 12 of the CONTEXT spectra; tests/synthetic/arc_t_held.npz).  A de
Levie line ``TLMQ`` behind an arc trades its R_ion / 3 with the arc's R instead
(:func:`tlm_share`).
"""
from __future__ import annotations

import numpy as np

from ._arcs import SMEAR_N, branch_cpe, rcpe_columns
from ._randles import SHORT_NEAR
from ._rcarc import rc_exchange
from ._vanished import g_revival, ws_revival

__all__ = ["EXCHANGE", "tau_exchange", "g_exchange", "t_role_exchange", "exchange_pairs",
           "ROLE_N", "ROLE_PLACE", "ROLE_A", "ROLE_NEAR", "tlm_share", "TLM_TWINS", "TLM_BROAD",
           "gs_role_exchange", "gs_role_pairs", "branch_exchange", "branch_pairs",
           "short_exchange", "role_swap"]

ROLE_N = (0.8, 0.95)                       # the arc's exponent after the role exchange
ROLE_PLACE = (0.5, -0.5, -1.5, -2.5, -3.5)  # the T's b / a at w_lo b / a = 10^place
ROLE_A = (0.3, 3.0)                        # with these a (B = A, Z(0) = the arc's R)
ROLE_NEAR = 1.0    # the T within this many decades of the arc's apex: roles traded


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


def short_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`tau_exchange` of an arc and a short Warburg (Ws: R_w, tau) where the Warburg
    is a resistor over the window (w_lo tau < ``_randles.SHORT_NEAR``: tanh(u) / u ~ 1);
    the result itself elsewhere.

    Two arcs and a Ws in series (R0-p(R1,CPE1)-p(R2,CPE2)-Ws1, 300 spectra outside the
    family zoo, the Ws 10-1,000 ohm at 0.1-10 s, arcs at 1 us - 0.1 s) can end with the
    Warburg's tau far below the window, its R_w a resistor, and an arc broadened into the
    diffusion tail's place, 1.06-1.26x the truth-started chi2, CONVERGED; the exchange of
    the arc's and the Warburg's time constants reaches the truth's optimum.  Ungated (on
    every result) it cost 25 % of the fits/s of one arc and a Ws with no miss to fix
    (session 18).  The second twin exchanges their roles (:func:`role_swap`, as for a
    Gerischer): the same circuit can end with the Warburg at the arc's place and the arc
    at the diffusion tail's, each holding the other's resistance, 1.2-1.33x, CONVERGED;
    from the role swap the local fit reaches the optimum, from the time-constant
    exchange it does not (session 41, the benchmark's spectra 198 and 229).  A minor Ws
    is also put back beside the arc, near or not (:func:`_vanished.ws_revival`: two
    more twins)."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    with np.errstate(invalid="ignore"):
        near = (P[:, 4] * w_lo < SHORT_NEAR)[:, None]
    return ([np.where(near, q, P) for q in tau_exchange(P, w_lo) + [role_swap(P)]]
            + ws_revival(P))   # _vanished: a minor Ws put back


def g_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The arc (R, Q, n) and a Gerischer G (R_g, tau_g) traded: their time constants
    exchanged (:func:`tau_exchange`, resistances kept), and their roles exchanged (the arc
    at tau_g holding R_g, Q' = tau_g^n / R_g; the Gerischer at the arc's (R Q)^(1/n)
    holding R); the result itself where a value is not finite and positive.  Then the
    two resistances re-shared (:func:`_vanished.g_revival`: three more twins).  ``w_lo``
    is not used.

    Measured (session 29, benchmarks/bench_circuit_families.py's ``R0-p(R1,CPE1)-G1``
    generator, 2,000 spectra per seed, misses against the truth-started fit): seeds
    20261203 (the benchmark's), 1, 2, 3 had 9 misses, all CONVERGED, 1.0015-1.32x, most
    with the arc and the Gerischer within a decade of each other and their resistances
    shared the other way round; with both twins 2 (the time-constant exchange alone 3,
    the role exchange alone 3); unseen seeds 4, 5, 6: 6 -> 2 (the two left 1.003x); 15-19 %
    fewer fits/s on that family (every result gets the two twins)."""
    P = np.asarray(p, np.float64)
    return tau_exchange(P) + [role_swap(P)] + g_revival(P)


def role_swap(p: np.ndarray) -> np.ndarray:
    """The arc (R, Q, n) and an element (R_x, tau_x) with their roles exchanged: the arc
    at tau_x holding R_x (Q' = tau_x^n / R_x), the element at the arc's (R Q)^(1/n)
    holding R; the result itself where a value is not finite and positive."""
    P = np.asarray(p, np.float64)
    R, Q, n, Rx, tx = (P[:, k] for k in range(5))
    with np.errstate(all="ignore"):
        q = P.copy()
        q[:, 0] = Rx
        q[:, 1] = np.exp(n * np.log(tx)) / Rx
        q[:, 3] = R
        q[:, 4] = np.exp(np.log(R * Q) / n)
        ok = (np.all(P > 0, axis=1) & np.all(np.isfinite(P), axis=1)
              & np.all(np.isfinite(q) & (q > 0), axis=1))
    return np.where(ok[:, None], q, P)


def t_role_exchange(p: np.ndarray, w_lo) -> list[np.ndarray]:
    """The arc (R, Q, n) and Paasch's T (A, B, a, b) with their roles exchanged, where the
    arc is smeared (n < ``_arcs.SMEAR_N``) or the T's b / a lies within ``ROLE_NEAR``
    decades of the arc's time constant (R Q)^(1/n) (the result itself elsewhere or where
    a value is not finite and positive).  With beta^2 = a (1 + j w b / a), the T's place is its time
    constant b / a and its resistance Z(0) = (A cosh sqrt(a) + B) / (sqrt(a) sinh sqrt(a)):

    * the arc: R' = Z(0) of the T, tau' = b / a, n' in ``ROLE_N``, Q' = tau'^n' / R';
    * the T: b' / a' = 10^place / ``w_lo`` for every place in ``ROLE_PLACE`` and a' in
      ``ROLE_A``, B' = A' and Z(0)' = R: A' = R sqrt(a') tanh(sqrt(a') / 2) (with B = A,
      Z(0) = A / (sqrt(a) tanh(sqrt(a) / 2))).

    Measured (benchmarks/bench_elements.py's CONTEXT spectra of ``R0-p(R1,CPE1)-T1``,
    seeds 3, 6, 7, 8: the four misses of this kind, 1.3-6.2x): from the best of these 20
    the local fit ends at 0.98-1.014x the truth-started chi2."""
    P = np.asarray(p, np.float64)
    R, Q, n, A, B, a, b = (P[:, i] for i in range(7))
    w_lo = np.asarray(w_lo, np.float64).reshape(-1)
    with np.errstate(all="ignore"):
        ra = np.sqrt(a)
        e = np.exp(-2.0 * ra)                  # overflow-free cosh / sinh and 1 / sinh
        z0 = (A * (1.0 + e) + 2.0 * B * np.exp(-ra)) / (ra * (1.0 - e))
        tau_t = b / a
        tau_arc = np.exp(np.log(R * Q) / n)
        # smeared, or the T at the arc's own place (within ROLE_NEAR decades of its apex)
        near = np.abs(np.log10(tau_t / tau_arc)) < ROLE_NEAR
        applies = (((n < SMEAR_N) | near) & np.all(P > 0, axis=1)
                   & np.all(np.isfinite(P), axis=1))
        out = []
        for n_new in ROLE_N:
            for place in ROLE_PLACE:
                for a_new in ROLE_A:
                    r = np.sqrt(a_new)
                    A_new = R * r * np.tanh(r / 2.0)
                    q = np.stack([z0, np.exp(n_new * np.log(tau_t)) / z0,
                                  np.full_like(R, n_new), A_new, A_new,
                                  np.full_like(R, a_new), a_new * 10.0 ** place / w_lo], axis=1)
                    ok = applies & np.all(np.isfinite(q) & (q > 0), axis=1)
                    out.append(np.where(ok[:, None], q, P))
    return out


TLM_TWINS = ((1.0, 0.95), (3.0, None))   # (R_ion scale, the arc's n or None: kept) ...
TLM_BROAD = 0.9                         # ... where the arc's n is below this


def tlm_share(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """An R||CPE arc (R, Q, n) and a de Levie line with CPE interface (R_ion, Q_t, n_t) in
    series with the line's resistance re-shared: below the line's characteristic
    frequency TLMQ = R_ion / 3 + 1 / (Q_t (j w)^n_t), so R_ion / 3 trades with the arc's
    R, and above it the line is a CPE of exponent n_t / 2 that a broadened arc mimics.
    Twins: for every (s, n') in ``TLM_TWINS``, R_ion' = s R_ion, R' = R + (R_ion -
    R_ion') / 3 (floored at 1e-3 R), the arc's time constant kept at exponent n' (None:
    n kept); the result itself where a value is not finite and positive.  ``w_lo`` is
    not used.

    Measured (session 23, benchmarks/bench_elements.py's CONTEXT spectra of
    R0-p(R1,CPE1)-TLMQ1, seeds 4 and 5): misses 1.03-1.29x above the truth-started chi2,
    reported CONVERGED, had the line's Q_t and n_t exact, R_ion 0.35-1.8x the truth's and
    R + R_ion / 3 kept, the arc at n 0.80-0.85 for a truth of 0.94-0.97 (or the reverse:
    R_ion too large); from these twins the local fit reaches the optimum (the best after
    66 iterations)."""
    P = np.asarray(p, np.float64)
    R, Q, n, Ri = P[:, 0], P[:, 1], P[:, 2], P[:, 3]
    ok0 = (n < TLM_BROAD) & np.all(P > 0, axis=1) & np.all(np.isfinite(P), axis=1)
    out = []
    with np.errstate(all="ignore"):
        tau = np.exp(np.log(R * Q) / n)
        for s, n_new in TLM_TWINS:
            n2 = n if n_new is None else np.full_like(n, n_new)
            R2 = np.maximum(R + (Ri - s * Ri) / 3.0, 1e-3 * R)
            q = P.copy()
            q[:, 0], q[:, 1], q[:, 2], q[:, 3] = R2, np.exp(n2 * np.log(tau)) / R2, n2, s * Ri
            ok = ok0 & np.all(np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out


def gs_role_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """An arc -- R||C (columns R, C) or R||CPE (R, Q, n) -- and a finite Gerischer Gs (R_g,
    tau_g, phi) in series with their places exchanged: the arc at tau_g holding the
    Gerischer's resistance Z_g(0) = R_g / tanh(phi), the Gerischer at the arc's time
    constant with Z_g(0) = the arc's R (phi kept); the result itself where a value is not
    finite and positive.  ``w_lo`` is not used.

    Measured (session 23, benchmarks/bench_elements.py's CONTEXT spectra of
    R0-p(R1,C1)-Gs1, seeds 5 and 12): two misses 4.4x and 12x above the truth-started
    chi2 (ABOVE_ATTAINABLE) had the arc where the Gerischer belongs, holding its
    resistance (R1 540-755 ohm for 12-25), and the Gerischer a decade or more faster; the
    local fit from this twin reaches the optimum on both.  A move twin: tried only on
    results the relocation moves see (loose or flagged), not on every result."""
    P = np.asarray(p, np.float64)
    k = P.shape[1] - 3                          # the arc's columns: 2 (R||C) or 3 (R||CPE)
    R = P[:, 0]
    Rg, tg, phi = P[:, k], P[:, k + 1], P[:, k + 2]
    with np.errstate(all="ignore"):
        n = P[:, 2] if k == 3 else np.ones_like(R)
        tau = np.exp(np.log(R * P[:, 1]) / n)
        R2 = Rg / np.tanh(phi)
        q = P.copy()
        q[:, 0] = R2
        q[:, 1] = np.exp(n * np.log(tg)) / R2
        q[:, k] = R * np.tanh(phi)
        q[:, k + 1] = tau
        ok = (np.all(P > 0, axis=1) & np.all(np.isfinite(P), axis=1)
              & np.all(np.isfinite(q) & (q > 0), axis=1))
    return [np.where(ok[:, None], q, P)]


def gs_role_pairs(tree) -> list[tuple]:
    """((the arc's columns, R_g, tau_g, phi), :func:`gs_role_exchange`) for every top-level
    series pair of an R||C or R||CPE arc and a finite Gerischer ``Gs``."""
    if tree[0] != "S":
        return []
    arcs, gs = [], []
    for c in tree[1]:
        cols = rcpe_columns(c)
        if cols is None and c[0] == "P" and len(c[1]) == 2:
            r = [x for x in c[1] if x[0] == "E" and x[1] == "R"]
            cap = [x for x in c[1] if x[0] == "E" and x[1] == "C"]
            if len(r) == 1 and len(cap) == 1:
                cols = (int(r[0][2]), int(cap[0][2]))
        if cols is not None:
            arcs.append(cols)
        elif c[0] == "E" and c[1] == "Gs":
            gs.append((int(c[2]), int(c[2]) + 1, int(c[2]) + 2))
    return [(a + g, gs_role_exchange) for a in arcs for g in gs]


# elements (their parameters after the arc's) that trade places, roles or resistance with
# an arc in series, and the twin that exchanges them (Ws ungated, session 18: no miss to
# fix on 600 spectra, at 25 % fewer fits/s; now gated, ``short_exchange``).  TLMQ: misses
# 3 -> 0 of 1,200 (CONTEXT seeds 3-6) and 4 -> 1 of 1,800 unseen (7, 8, 11-14), 22 % fewer
# fits/s there (two twins, gated on the arc's n < TLM_BROAD; five ungated: 47 % fewer)
# G: time constants and roles (``g_exchange``; 15 -> 4 misses in 14,000 family spectra)
# Ws: only where it is a resistor over the window (``short_exchange``; session 35)
EXCHANGE = {"Wsa": tau_exchange, "Ws": short_exchange, "T": t_role_exchange, "TLMQ": tlm_share,
            "G": g_exchange}


def exchange_pairs(tree, elements) -> list[tuple]:
    """((R, Q, n, element parameters...), its ``EXCHANGE`` twin) for every top-level
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
            diff.append((tuple(range(int(c[2]), int(c[2]) + k)), EXCHANGE[c[1]]))
    return [(a + w, fn) for a in arcs for w, fn in diff] + branch_pairs(tree)


def branch_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A top-level R||CPE arc (R, Q, n) and a top-level branch p(R' - X, CPE') in series
    (R', Q', n'; X a Warburg, an inner arc or any other terms, not moved) with the two arcs
    exchanged: (R, Q, n) <-> (R', Q', n').  ``w_lo`` is not used.

    In R0-p(R1,CPE1)-p(R2-Wo2,CPE2) (a film or bulk arc, then charge transfer with
    diffusion) the two arcs look alike to the start scan, and a fit can end with the
    Warburg behind the wrong one: the branch holding the other arc's R and CPE, the
    Warburg reshaped to make up for it, 1.001-1.26x the truth-started chi2, mostly
    CONVERGED with a tight covariance (300 spectra, arcs at 1 us - 0.1 s, a Wo of 10-1,000
    ohm at 0.1-10 s, 1 MHz - 0.1 Hz, 0.5 % noise: 62 misses, 35 of them CONVERGED).  From
    the result with the two arcs exchanged the local fit reached the truth's optimum on
    53 of the 62."""
    P = np.asarray(p, np.float64)
    q = P.copy()
    q[:, :3], q[:, 3:6] = P[:, 3:6], P[:, :3]
    return [q]


# the branch's Warburg reset after an arc-branch exchange (``branch_exchange_short`` /
# ``branch_exchange_open``): a short Warburg's share of the branch's DC resistance R' + R_w,
# an open one's R_w over R', and its place w_lo tau
RESET_SHARE = (0.3, 0.6)
RESET_RATIO = (0.3, 1.0)
RESET_PLACE = (0.3, 3.0)
RESET_W_MAG = (0.3, 1.0, 3.0)   # a semi-infinite W: |Z_W(w_lo)| over R'


def _exchange_reset(p: np.ndarray, w_lo, kind: str) -> list[np.ndarray]:
    """The arc-branch exchange of ``p`` (columns R, Q, n, R', Q', n', then the Warburg's),
    and the same with the Warburg reset (``kind``: "short", "open" or "semi"; see the
    three public functions below) where the values are finite and positive."""
    P = np.asarray(p, np.float64)
    base = P.copy()
    base[:, :6] = branch_exchange(P[:, :6])[0]
    out = [base]
    if w_lo is None:
        return out
    with np.errstate(all="ignore"):
        for q in _resets(base, np.asarray(w_lo, np.float64), kind):
            ok = np.all(np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, base))
    return out


def _resets(base: np.ndarray, w_lo: np.ndarray, kind: str):
    """The reset Warburgs of the exchanged points ``base`` (a generator of (B, P))."""
    if kind == "semi":             # sigma: |Z_W(w_lo)| = sqrt(2 / w_lo) sigma = g R'
        for g in RESET_W_MAG:
            q = base.copy()
            q[:, 6] = g * base[:, 3] * np.sqrt(w_lo / 2.0)
            yield q
        return
    for f in (RESET_SHARE if kind == "short" else RESET_RATIO):
        for place in RESET_PLACE:
            q = base.copy()
            if kind == "short":
                dc = base[:, 3] + base[:, 6]
                q[:, 3], q[:, 6] = (1.0 - f) * dc, f * dc
            else:
                q[:, 6] = f * base[:, 3]
            q[:, 7] = place / w_lo
            yield q


def branch_exchange_short(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`branch_exchange` of an arc and a Randles branch p(R' - W, CPE') whose W is a
    short Warburg (Ws, Wsa: a resistor R_w at DC): columns R, Q, n, R', Q', n', then the
    Warburg's R_w, tau.  The plain exchange, and the exchange with the Warburg reset: R'
    + R_w (the branch's DC resistance) shared as R_w = s (R' + R_w) for the shares s of
    ``RESET_SHARE``, at w_lo tau = each place of ``RESET_PLACE`` (its exponent, if any,
    kept); the plain exchange where a value is not finite and positive.

    R0-p(R1,CPE1)-p(R2-Ws2,CPE2) (300 spectra of benchmarks/bench_circuits_beyond.py) ends
    with the arcs exchanged and the Warburg misplaced (R_w 1-16 % of the truth's at 0.1-0.4x
    its tau, or larger at 0.02x), 1.04-1.14x the truth-started chi2, CONVERGED: the arc
    holding the branch's arc and its Warburg's resistance.  From the plain exchange the
    local fit keeps that Warburg; from one holding a share of the branch's resistance near
    the lowest frequencies it reaches the truth's optimum (docs/design-notes.md)."""
    return _exchange_reset(p, w_lo, "short")


def branch_exchange_open(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`branch_exchange_short` for an open Warburg (Wo, Woa: no DC resistance): the
    reset Warburg gets R_w = f R' for the ratios f of ``RESET_RATIO``, R' kept."""
    return _exchange_reset(p, w_lo, "open")


def branch_exchange_semi(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`branch_exchange_short` for a semi-infinite Warburg W (columns R, Q, n, R', Q',
    n', sigma): the plain exchange, and the exchange with sigma reset so that the
    Warburg's modulus at the lowest used angular frequency, sqrt(2 / w_lo) sigma, is
    g R' for the g of ``RESET_W_MAG`` (W has no time constant to place)."""
    return _exchange_reset(p, w_lo, "semi")


# the exchange of an arc and a Randles branch with each Warburg (``branch_pairs``)
WARBURG_RESET = {"Ws": branch_exchange_short, "Wsa": branch_exchange_short,
                 "Wo": branch_exchange_open, "Woa": branch_exchange_open,
                 "W": branch_exchange_semi}


def branch_pairs(tree) -> list[tuple]:
    """((R, Q, n, R', Q', n'), :func:`branch_exchange`) for every top-level R||CPE arc and
    every top-level branch p(R' - ..., CPE') whose series group holds exactly one
    resistor R' (``_arcs.branch_cpe``), in series -- ((R, Q, n, R', Q', n', R_w, tau), or
    sigma alone for W, ``WARBURG_RESET``'s exchange) where the group is R' and one
    Warburg; and ((R, C, R', Q', n'), :func:`_rcarc.rc_exchange`) for every top-level R||C arc
    and top-level R||CPE arc.
    (A top-level arc and a nested arc's inner arc exchanged, the same way: 19 -> 18 misses
    of 300 on R0-p(R1,CPE1)-p(R2-p(R3,CPE3),CPE2); not taken.)"""
    if tree[0] != "S":
        return []
    arcs, others, rcs = [], [], []
    for c in tree[1]:
        cols = rcpe_columns(c)
        found = branch_cpe(c)
        if cols is not None:
            arcs.append(cols)
        elif found is not None:
            group = found[0][1]
            r = [x for x in group if x[0] == "E" and x[1] == "R"]
            w = [x for x in group if x[0] == "E" and x[1] in WARBURG_RESET]
            if len(r) == 1 and len(w) == 1 and len(group) == 2:
                k = int(w[0][2])
                ks = (k,) if w[0][1] == "W" else (k, k + 1)       # W: sigma alone
                others.append(((int(r[0][2]), found[1], found[1] + 1, *ks),
                               WARBURG_RESET[w[0][1]]))
            elif len(r) == 1:
                others.append(((int(r[0][2]), found[1], found[1] + 1), branch_exchange))
        elif c[0] == "P" and len(c[1]) == 2:
            r = [x for x in c[1] if x[0] == "E" and x[1] == "R"]
            cap = [x for x in c[1] if x[0] == "E" and x[1] == "C"]
            if len(r) == 1 and len(cap) == 1:
                rcs.append((int(r[0][2]), int(cap[0][2])))
    return ([(a + b, fn) for a in arcs for b, fn in others]
            + [(rc + a, rc_exchange) for rc in rcs for a in arcs])
