"""Twins of a result in which a term vanished: its resistance handed to a neighbour, or
revived.

A log-scaled parameter that runs to 0 stalls there (its steps shrink with it), so a fit
that switched a term off cannot switch it on again, and escalation's replacement values
from the scan do not help where the scan's own scale for that term was clamped at 0.
The twins put the term back at a few sizes; like every twin (``_twins``) they are
tournament candidates, kept only where the local fit from them ends lower.
"""
from __future__ import annotations

import numpy as np

__all__ = ["A_GONE", "REVIVE_A", "REVIVE_R", "t_revival", "revival_pairs", "R_GONE",
           "REVIVE_SERIES", "series_revival", "series_revivals", "REVIVE_SPLIT",
           "branch_revival", "branch_revivals", "G_MINOR", "G_PLACES", "ARC_MINOR",
           "ARC_PLACE", "g_revival", "WSA_FLAT_N", "WSA_TAKE", "WSA_TAKE_PLACE", "WSA_TAKE_N",
           "wsa_takeover", "RC_MINOR", "RC_HIDDEN", "rc_revival", "WS_MINOR", "WS_PLACES",
           "ws_revival"]

A_GONE = 1e-6             # a T whose A is below this x the series resistor's R has lost it
REVIVE_A = (1.0, 3.0)     # ... so the twins give it A = these x R ...
REVIVE_R = 1e-3           # ... and leave the resistor this x R


def t_revival(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A series resistor R and Paasch's T (A, B, a, b) whose A vanished (A < ``A_GONE`` R;
    log-space A stalls there) revived: A' = R x ``REVIVE_A``, with the resistance handed
    over (R' = ``REVIVE_R`` x R) or R kept, B, a, b kept (the result itself elsewhere or
    where a value is not finite and positive).  ``w_lo`` is not used.

    Measured (bench_real_circuits.py, pyeis_ex2.mpt fitted with ``R0-p(R1,CPE1)-T1``): a
    fit can end with R0 = 859 ohm and A -> 1e-15 (AT_BOUND), 2.7 % above the basin where
    R0 -> 0 and A = 9.9e3 (B, a, b 1.7-57x apart); the local fit from either twin that
    hands R0 over reaches it.  The ones that keep R0 (session 23, bench_elements' CONTEXT
    spectra, seed 19, 110): A -> 1e-55 with a = 0.025, 1.15x above the truth-started
    chi2, reached from A = R0 with R0 = 10 ohm kept."""
    P = np.asarray(p, np.float64)
    R, A = P[:, 0], P[:, 1]
    gone = ((A < A_GONE * R) & np.all(np.isfinite(P), axis=1) & (R > 0)
            & np.all(P[:, 2:] > 0, axis=1))
    out = []
    for k in REVIVE_A:
        for r in (REVIVE_R, 1.0):
            q = P.copy()
            q[:, 0] = r * R
            q[:, 1] = k * R
            out.append(np.where(gone[:, None], q, P))
    return out


def revival_pairs(tree, elements) -> list[tuple]:
    """((R, A, B, a, b), :func:`t_revival`) for every resistor and T of the top-level
    series group."""
    if tree[0] != "S":
        return []
    rs = [int(c[2]) for c in tree[1] if c[0] == "E" and c[1] == "R"]
    ts = [int(c[2]) for c in tree[1] if c[0] == "E" and c[1] == "T"]
    k = len(elements["T"].names)
    return [((r,) + tuple(range(t, t + k)), t_revival) for r in rs for t in ts]


R_GONE = 1e-6                  # a series resistor below this x the others has vanished ...
REVIVE_SERIES = (1e-3, 1e-2)   # ... so the twins give it these x the others


def series_revival(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A top-level series resistor R (column 0) that vanished (below ``R_GONE`` x the sum
    of the circuit's other resistors, columns 1:) revived at ``REVIVE_SERIES`` x that sum,
    everything else kept (the result itself elsewhere).  ``w_lo`` is not used.

    Measured (session 23): bench_elements' CONTEXT spectra of R0-p(R1,CPE1)-T1 (seed 16,
    spectrum 165) ended with R0 -> 1e-24 (AT_BOUND) 2.6x above the truth-started chi2,
    the rest within 10-30 % of the optimum's, which has R0 = 1.3 ohm (0.5 % of R1); a
    nested-arc family spectrum (seed 41, 949) 1.04x the same way.  The local fit from R0
    = 0.1-3 ohm reaches the optimum in both."""
    P = np.asarray(p, np.float64)
    others = P[:, 1:].sum(axis=1)
    gone = (P[:, 0] < R_GONE * others) & np.isfinite(others) & (others > 0)
    out = []
    for f in REVIVE_SERIES:
        q = P.copy()
        q[:, 0] = f * others
        out.append(np.where(gone[:, None], q, P))
    return out


def series_revivals(tree) -> list[tuple]:
    """((R, every other resistor...) parameter indices, :func:`series_revival`) for every
    resistor of the top-level series group, the other resistors taken anywhere in the
    circuit; empty where the circuit has no other resistor."""
    from ._scanplan import element_slots

    if tree[0] != "S":
        return []
    resistors = [int(first) for sym, first in element_slots(tree) if sym == "R"]
    top = [int(c[2]) for c in tree[1] if c[0] == "E" and c[1] == "R"]
    return [((r,) + tuple(o for o in resistors if o != r), series_revival)
            for r in top if len(resistors) > 1]


REVIVE_SPLIT = (0.1, 0.5)      # the shares of a series resistor a vanished inner one gets


def branch_revival(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A resistor inside a parallel (column 1) that vanished (below ``R_GONE`` x a
    top-level series resistor R0, column 0) revived with a share f of R0 for every f in
    ``REVIVE_SPLIT``: R = f R0, R0 = (1 - f) R0 (their sum kept), everything else kept
    (the result itself elsewhere).  ``w_lo`` is not used.

    The mirror of :func:`series_revival`: the resistance in series with a branch's other
    terms is split between the series resistor and the branch's own, and a fit that puts
    it all into R0 (log-space R -> 0 stalls) cannot take it back.  Measured (session 29):
    impedance.py's Circuit3_EIS_2 (spectrum 0) fitted with R0-p(R1-Wo1,CPE1) ended with
    R1 -> 1e-83 and R0 = 1,504 ohm (SINGULAR, the Wo a capacitor, the CPE a resistor),
    8e-5 above the best of 20 scipy starts, which has R0 = 1,358 and R1 = 150 ohm; the
    local fit from R1 = 0.01-0.5 x R0 reaches that optimum (and 1.6e-6 below it)."""
    P = np.asarray(p, np.float64)
    R0 = P[:, 0]
    gone = (P[:, 1] < R_GONE * R0) & np.isfinite(R0) & (R0 > 0)
    out = []
    for f in REVIVE_SPLIT:
        q = P.copy()
        q[:, 1] = f * R0
        q[:, 0] = (1.0 - f) * R0
        out.append(np.where(gone[:, None], q, P))
    return out


def branch_revivals(tree) -> list[tuple]:
    """((R0, R) parameter indices, :func:`branch_revival`) for every resistor R of the
    circuit below its top-level series group (inside a parallel) and every resistor R0 of
    that series group; empty where the circuit has no top-level series group."""
    from ._scanplan import element_slots

    if tree[0] != "S":
        return []
    top = [int(c[2]) for c in tree[1] if c[0] == "E" and c[1] == "R"]
    inner = [int(first) for sym, first in element_slots(tree)
             if sym == "R" and int(first) not in top]
    return [((r0, r), branch_revival) for r0 in top for r in inner]


G_MINOR = 0.2      # a Gerischer below this x the arc's R may have the wrong share ...
G_PLACES = ((0.1, 3.0), (0.01, 0.03))   # ... so its twins: (share f of R, k x arc tau)
ARC_MINOR = 0.5    # an arc below this x the Gerischer's R_g ...
ARC_PLACE = (0.1, 0.3)   # ... gets this share of R + R_g at this x the Gerischer's tau


def g_revival(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """An R||CPE arc (R, Q, n) and a Gerischer G (R_g, tau_g) in series with their
    resistance re-shared.  A minor Gerischer (R_g < ``G_MINOR`` x R) is put back beside
    the arc for every (f, k) of ``G_PLACES``: R_g' = f R, R' = (1 - f) R, tau_g' = k
    (R Q)^(1/n), Q and n kept; a minor arc (R < ``ARC_MINOR`` x R_g) gets the share f of
    R + R_g at k tau_g, (f, k) = ``ARC_PLACE`` (Q' = (k tau_g)^n / R', n kept), the
    Gerischer the rest at its tau (the result itself elsewhere or where a value is not
    finite and positive).  ``w_lo`` is not used.

    A Gerischer a few per cent of the arc's resistance on the arc's low-frequency flank
    (tau_g a few times the arc's) can be absorbed by the arc, broadened a little, the
    Gerischer parked tiny at the high-frequency end, where log-space R_g stalls; a small
    one on the high-frequency flank can instead end large on the low-frequency flank,
    holding part of the arc.  Neither exchange of :func:`_exchange.g_exchange` (whose
    twins trade the two places or the two roles) gives the Gerischer its size back.
    Measured (session 37, benchmarks/bench_circuit_families.py's ``R0-p(R1,CPE1)-G1``
    generator, 2,000 spectra per seed, misses against the truth-started fit): the wrong
    CONVERGED results of seeds 20261203 (the benchmark's; 1.17x, R_g 0.13 % of R at
    1/150 of the arc's tau, truth 6 % at 5x), 7 (1.15x; truth 3 % at 7x) and 12 (1.064x:
    R_g 8 % at 4x, truth 0.4 % at 1/40); from the fitted results the local fit reaches the
    optimum from f = 0.03-0.3 at k = 3-100 (the first two) and f = 0.003-0.01 at k =
    0.01-0.1 (the third); seed 13's (1.028x: the arc 22 % of R + R_g at 1.25 x tau_g, truth 9 %
    at 0.43 x) from an arc share of 0.03-0.1 at 0.03-10 x tau_g."""
    P = np.asarray(p, np.float64)
    R, Q, n, Rg = P[:, 0], P[:, 1], P[:, 2], P[:, 3]
    out = []
    with np.errstate(all="ignore"):
        tau_arc = np.exp(np.log(R * Q) / n)
        minor = ((Rg < G_MINOR * R) & np.all(np.isfinite(P), axis=1)
                 & np.all(P > 0, axis=1) & np.isfinite(tau_arc) & (tau_arc > 0))
        for f, k in G_PLACES:
            q = P.copy()
            q[:, 0] = (1.0 - f) * R
            q[:, 3] = f * R
            q[:, 4] = k * tau_arc
            out.append(np.where(minor[:, None], q, P))
        f, k = ARC_PLACE
        q = P.copy()
        q[:, 0] = f * (R + Rg)
        q[:, 1] = np.exp(n * np.log(k * P[:, 4])) / q[:, 0]
        q[:, 3] = (1.0 - f) * (R + Rg)
        small = ((R < ARC_MINOR * Rg) & np.all(np.isfinite(P), axis=1) & np.all(P > 0, axis=1)
                 & np.all(np.isfinite(q), axis=1) & np.all(q > 0, axis=1))
        out.append(np.where(small[:, None], q, P))
    return out


WSA_FLAT_N = 0.9          # a minor short anomalous Warburg above this exponent ...
WSA_TAKE = (0.9, 0.97)    # ... gets these shares of the branch's R + R_w ...
WSA_TAKE_PLACE = 0.3      # ... at w_lo tau = this, with the exponent WSA_TAKE_N
WSA_TAKE_N = 0.5


def wsa_takeover(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A Randles branch R - Wsa (R_w, tau, n) parallel to a CPE, the columns (R, R_w, tau,
    n, Q, n_q), whose Warburg is minor (R_w < R) and flat (n > ``WSA_FLAT_N``, a
    capacitor-like shoulder, no diffusion tail): for every share s of ``WSA_TAKE``, R_w' =
    s (R + R_w), R' = (1 - s)(R + R_w), tau' = ``WSA_TAKE_PLACE`` / w_lo, n' =
    ``WSA_TAKE_N``, the CPE kept (the branch's DC resistance kept); the result itself
    elsewhere or where a value is not finite and positive.

    A branch whose diffusion holds most of its resistance (truth: R 4-8 % of R + R_w,
    tau 0.1-0.2 s, n 0.5-0.8, at 1 MHz - 0.1 Hz) can end with the roles exchanged: R
    holding the resistance, the Warburg a tenth of it with n -> 1, 1.03-1.13x the
    truth-started chi2, reported CONVERGED with tight parameters.  Measured (session 38,
    benchmarks/bench_circuit_families.py's ``R0-p(R1-Wsa1,CPE1)`` generator, seed 2, 1,000
    spectra: #182, #347): from the fitted results the local fit reaches the optimum from
    shares 0.9-0.99 at w_lo tau 0.3, n 0.5; not from shares 0.01-0.7, nor at w_lo tau 1-3
    (#347)."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Rw, n = P[:, 0], P[:, 1], P[:, 3]
    out = []
    with np.errstate(all="ignore"):
        flat = ((Rw < R) & (n > WSA_FLAT_N) & np.all(np.isfinite(P), axis=1)
                & np.all(P > 0, axis=1))
        for s in WSA_TAKE:
            q = P.copy()
            q[:, 0] = (1.0 - s) * (R + Rw)
            q[:, 1] = s * (R + Rw)
            q[:, 2] = WSA_TAKE_PLACE / w_lo
            q[:, 3] = WSA_TAKE_N
            ok = flat & np.all(np.isfinite(q), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out


RC_MINOR = 1e-2     # an R||C arc below this x the R||CPE arc's resistance ...
RC_HIDDEN = ((0.03, 0.3), (0.1, 1.0))   # ... gets the share s of R + R' at k x its tau


def rc_revival(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A top-level R||C arc (R, C) and R||CPE arc (R', Q', n') in series, columns R, C,
    R', Q', n' (:func:`_rcarc.rc_exchange`'s), where the R||C arc shrank to a minor one
    (R < ``RC_MINOR`` x R'): for every (s, k) of ``RC_HIDDEN`` the R||C arc gets the share s
    of R + R' at k times the CPE arc's time constant tau' = (R' Q')^(1/n') -- R = s (R +
    R'), C = k tau' / R -- and the CPE arc the rest at its own tau' and n' (Q' = tau'^n' /
    R'); the result itself elsewhere or where a value is not finite and positive.  ``w_lo``
    is not used.

    An R||C arc of a few per cent of the CPE arc's resistance at nearly the CPE arc's time
    constant (within 2x) is the CPE arc's to absorb: the fit broadens the CPE arc a little
    and parks the R||C arc at a fraction of an ohm at the high-frequency end, where
    log-space R stalls -- tight and CONVERGED, 1.0002-1.22x the truth-started chi2 --
    and the exchange (:func:`_rcarc.rc_exchange`) moves that tiny arc to the other
    place without giving it its size back.  Measured (session 41, scratch probe of
    R0-p(R1,C1)-p(R2,CPE2): resistances over three decades, time constants 0.3 us -
    0.3 s, 500 spectra a seed): of the seven misses of seeds 1-3, four (three of them
    CONVERGED) had the R||C arc at 2e-5 - 4e-4 of R'; the local fit from every share
    0.01-0.3 at k = 0.3 or 1 reaches the truth-started optimum on all four."""
    P = np.asarray(p, np.float64)
    R, C, R2, Q2, n2 = (P[:, i] for i in range(5))
    out = []
    with np.errstate(all="ignore"):
        tau = np.exp(np.log(R2 * Q2) / n2)
        R_tot = R + R2
        minor = R < RC_MINOR * R2
        for s, k in RC_HIDDEN:
            q = P.copy()
            q[:, 0] = s * R_tot
            q[:, 1] = k * tau / q[:, 0]
            q[:, 2] = (1.0 - s) * R_tot
            q[:, 3] = np.exp(n2 * np.log(tau)) / q[:, 2]
            ok = minor & np.all(np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out


WS_MINOR = 0.2                  # a Ws below this x the arc's R may be a lost minor one ...
WS_PLACES = ((0.1, 3.0), (0.1, 10.0))   # ... so its twins: (share f of R, k x arc tau)


def ws_revival(p: np.ndarray) -> list[np.ndarray]:
    """An arc (R, Q, n) and a short Warburg (R_w, tau) in series where the Warburg is minor
    (R_w < ``WS_MINOR`` R): for every (f, k) of ``WS_PLACES`` it gets the share f of R
    at k times the arc's tau, the arc the rest at its tau (Q' = tau^n / R'); the result
    itself elsewhere or where a value is not finite and positive.

    The Gerischer's minor-term twin (:func:`g_revival`) for a Ws: two arcs and
    a Ws (session 41, generic probe) can end with a Ws of a few per cent of an arc's
    resistance, a decade behind it, parked at an ohm or less far from it (1.095x,
    CONVERGED), or with the arc in the Warburg's place and the Warburg minor (1.12x);
    from these twins of the right arc the local fit reaches the optimum."""
    P = np.asarray(p, np.float64)
    R, Q, n, Rw = P[:, 0], P[:, 1], P[:, 2], P[:, 3]
    out = []
    with np.errstate(all="ignore"):
        tau = np.exp(np.log(R * Q) / n)
        minor = Rw < WS_MINOR * R
        for f, k in WS_PLACES:
            q = P.copy()
            q[:, 0] = (1.0 - f) * R
            q[:, 1] = np.exp(n * np.log(tau)) / q[:, 0]
            q[:, 3] = f * R
            q[:, 4] = k * tau
            ok = minor & np.all(np.isfinite(P) & (P > 0), axis=1) & np.all(
                np.isfinite(q) & (q > 0), axis=1)
            out.append(np.where(ok[:, None], q, P))
    return out
