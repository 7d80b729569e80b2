"""Twin starts: other parameter vectors of an element that give (nearly) the same
impedance, tried from every fitted result (``FitConfig.twins``).

Some elements have two parameter regions of similar shape that a local fit cannot cross.
Paasch's porous electrode (``T``), Z = (A cosh beta + B) / (beta sinh beta) with
beta^2 = a + j w b, is the clearest: with cosh beta + 1 = 2 cosh^2(beta/2) and
sinh beta = 2 sinh(beta/2) cosh(beta/2),

    T(A, B, a, b) = T(A/2, 0, a/4, b/4) + (B - A) / (beta sinh beta),

so (A, A, a, b) and (A/2, 0, a/4, b/4) are exactly the same impedance, and a spectrum
whose B is small or close to A has a near-twin on the other side.  The fits that miss
land there: B at 0.6-0.9 A, a and b 2-2.5x the truth, A / sqrt(b) (the high-frequency
Warburg) and Z(0) kept, chi2 1.01-2x the truth-started fit.  The twins tried are (a, b)
scaled by 1/4, 1/2, 2 and 4 (and, since session 21, 10^(-1/2) and 10^(1/2): ``T_FACTORS``)
with A scaled by the square root (A / sqrt(b) kept) and B solved from Z(0) = (A cosh
sqrt(a) + B) / (sqrt(a) sinh sqrt(a)) (floored at 1e-3 A).
Measured (issue 17, tests/test_element_basin.py's 1,000 spectra of ``R0-T1``): basin
0.919 -> 0.998 with one round of twin moves (18 % less throughput, 851 -> 693 fits/s),
1.000 with further rounds on the results the previous round improved by more than 0.1 %
(``kernels._moves.TWIN_ROUNDS``, ``TWIN_GAIN``; 28 % less throughput in all, 815 -> 587
fits/s); 500 other spectra (seed 7): 0.996.  Session 6: twins also after relocation and
escalation moved a result, in the second escalation round, and with ``TWIN_GAIN`` 1e-4
(a T whose B went to 0 first moved 6e-4 to a basin whose twins held the truth): 1.000 on
the 1,000 and on 2,500 other spectra (seeds 8-12), 0.9997 over 3,000 (seeds 7-12).
T has two degenerate ends where its scaled twins are more of the same.  At a <
``A_SMALL`` (with |beta| small over the window) T = (A + B) / (a + j w b) + A/3 - B/6 is
an RC arc in which A, B and a trade off: behind an R||CPE arc (``R0-p(R1,CPE1)-T1``,
issue 17's circuits the tests do not use) 2 of 9 misses in 300 spectra sat there (A ~
1e-11, B ~ 0.01, a ~ 6e-4 for a truth a of 2.8-3.7, chi2 1.08-1.16x); their growing
twins keep Z(0) and b / a and set a to 1 and 4 with B = A instead.  At a > ``A_FLAT``
(coth ~ 1, B / sinh ~ 0: a Gerischer A / sqrt(a + j w b)) the shrinking twins set a to
3 and 10 by the same A / sqrt(b) and Z(0) rule.
A T whose B vanished (below ``B_GONE`` x A; log-space B stalls there) is the other trap
behind an arc: its growing twin (A, A, a, b) is the exact twin of (A/2, 0, a/4, b/4) and
as stuck, so two more twins set B to ``B_LIFT`` x A (A, a, b kept; for other results they
are copies of the first twin), and where such a T is also Gerischer-like the pulled twins
get B = ``B_PULL`` x their A (Z(0) says nothing there).  ``R0-p(R1,CPE1)-T1``, 300
spectra of benchmarks/bench_elements.py's CONTEXT generator per seed: misses 3 / 4 / 2 ->
3 / 1 / 2 (seeds 3 / 4 / 5; every miss of seed 4 ended with B gone, at 1.003-1.03x).
Replacing the growing twins instead of adding these (8 misses more on seed 3) lost
results that reach the truth through the B ~ A twin.
Session 23: a Gerischer-like T behind an arc (a = 180 for a truth of 0.72, B = 2e6; 1.11x,
CONVERGED) is not reached from the pulled twins (a = 3, 10 with A / sqrt(b) kept: they end
at 1.12x); one more twin at a = ``FLAT_LIFT`` on the exact-twin line B = A, Z(0) and b / a
kept, reaches it.  And T's twins are slow winners: the one that reaches the optimum can be
behind after the tournament's short trip of 16 iterations and ahead after 26, so T's twin
tournaments continue the candidates still running 10 more (``SLOW_TWINS``,
``FitConfig.twin_mid``; benchmarks/bench_elements.py's CONTEXT spectra of
R0-p(R1,CPE1)-T1: two misses of 1.0001-1.0016x fixed, ~10-15 % fewer fits/s on T
circuits).

The finite-length Gerischer ``Gs``, Z = R / (x tanh(phi x)), x = sqrt(1 + j w tau), has
the same structure: its misses keep R / sqrt(tau) (the high-frequency Warburg) and
Z(0) = R / tanh(phi) while tau sits 0.6-0.7x the truth and phi 1.2-1.6 instead of 2.5-3.
Its twins scale tau by the same factors, R by the square root, and solve phi from Z(0)
(``PHI_LONG`` where R alone exceeds Z(0): the semi-infinite limit).  A result in the flat
region phi > ``PHI_FLAT``, where the impedance hardly depends on phi and LM stalls
(misses at phi 18-10^33 for a truth of 2.4-2.8 and chi2 1.0003-1.003x), would only get
more of the same from the lengthening twins: those two keep R and tau and set phi to 6
and 3 instead (LM from there reaches the shallow optima at phi 2.8-6.5 that 4 or 2
missed: a step overshoots into the flat region and stalls).  At the other end, phi <
``PHI_SHORT``, Gs is an RC arc R / phi / (1 + j w tau) in which R and phi trade off (a
miss at 2x the attainable chi2 used Gs that way, with R and phi ~1e-6, and its shortening
twins are more of the same): those two keep Z(0) and tau and set phi to 1 and 0.5.
Measured on the 1,000 spectra of tests/test_element_basin.py: basin 0.993 -> 0.996 with
the scaled twins alone (23 % less throughput, 730 -> 559 fits/s); 0.999 with the flat
and RC-like replacements and the session-6 rounds above (2 misses in 4,000 other
spectra, seeds 1 and 7-12: a buried high-frequency arc at 1.2x and phi 1.6 for 3.2 at
1.003x).

The Warburgs ``Wo``, ``Ws``, ``Woa`` and ``Wsa`` (issue 16's Randles cell
``R0-p(R1-Wo1,CPE1)``, 1 MHz - 0.1 Hz): 8 of 9 Randles-Wo misses in 500 spectra of
benchmarks/bench_circuit_families.py (its seed) had tau at 30-80x the truth (92-252 s for
1.5-8 s) with R / sqrt(tau) kept, chi2 1.0000-1.017x, all CONVERGED; more starts fixed 2-4
of them. Twins at tau x 10, / 10 and / 100 (``WO_FACTORS``, R / tau^n kept): basin 0.982 ->
0.998 there, 0.990 -> 0.996 on 800 spectra of each of seeds 7 and 8. Where tau is already
far beyond the lowest frequency (Ws, Wsa misses out at tau ~ 1e13 - 1e23), factors of 10
and 100 stay on the ridge: those shrinking twins set w_lo tau to ``RIDGE_BACK`` instead,
beyond w_lo tau ``RIDGE_FAR`` (100 for the first, 30 for the second; session 38,
docs/design-notes.md). Randles cells with each Warburg (400 spectra, the family benchmark's
ranges, seed 1, 2026-12-04): Wo 0.985 -> 0.9975, Ws 0.8975 -> 0.9775, Woa 0.88 -> 0.945,
Wsa 0.8175 -> 0.95. What stays is another basin, not a twin: the Warburg shrunk to a small
high-frequency term (tau 1e-9 - 1e-2 for 0.1-9 s) or swapping roles with R1. Cost: 15-40 %
fewer fits/s on circuits with a Warburg (every result runs the twin tournament; measured
beside other work).
The short Warburgs' Randles misses (session 9, same generator, 400 spectra per seed) are
mostly the element shrunk to a resistor: tau 1e-8 - 1e-3 s, far below the window, where Ws
= R tanh(u) / u is R and trades off with R1 (part of R1 in the Warburg, or R1 -> 0 and the
Warburg holding all of it). Two more twins for Ws and Wsa: the element itself brought to
w_lo tau = 1 with R (its Z(0)) kept (``_short_warburg``), and the resistor in series
exchanged with it (``_randles.series_swap``). Ws over seeds 1-4: 23 misses -> 4 (0.986 ->
0.9975; seed 3: 3 -> 0, the rows of tests/test_twins.py); Wsa over seeds 1, 3, 4: 44 -> 30
(the rest: R1 -> 0 with the Wsa's n at 0.3 broadening the arc, where LM from the swapped
start returns to the same basin -- the CPE's n has to move as well); no throughput change
measurable. Woa's Randles misses end on the other ridge: tau 1e-4 - 0.2 s with n 0.2-0.3,
where coth(u) / u ~ 1 / u^2 makes Woa a CPE of exponent 2n, while the truth's tail (tau
0.1-10 s, n 0.35-0.65) is the high-frequency ridge's CPE of exponent n. Its cross-ridge
twin (``_open_warburg``) doubles n, keeps the CPE's coefficient and puts tau beyond the
window: over seeds 1-4, 62 misses -> 32 with the twin for w_lo tau < 1/30, -> 23 for w_lo
tau < ``OPEN_NEAR`` = 0.3 (1.0: 12 on seeds 1-2 against 13); the family benchmark's
Randles-Woa 0.961 -> 0.984 strict, 317 -> 355 fits/s (same run order, host noise). Open Wo
with its fixed n = 1/2 has no such twin (2n = 1: a capacitor, which its high-frequency
ridge cannot make); the same low-frequency-ridge move with n kept changed nothing (22 ->
19, 14 -> 15 misses on seeds 1, 3).

Each entry maps the fitted parameters ``p`` (n, k) (physical units) of its columns (an
element's; for ``_randles.series_swap`` a resistor's and then the Warburg's in series with
it) and the lowest used angular frequency ``w_lo`` (n,) rad/s of each spectrum to a list of
(n, k) starting points (fixed parameters keep their values); the fit runs them as a
tournament against the result and keeps what is better (``kernels._moves.twin_moves``); a
result a twin improved gets the twins of its new parameters in the next round.
"""
from __future__ import annotations

import numpy as np

from ._arcs import branch_cpe, pair_merges
from ._exchange import gs_role_pairs
from ._vanished import branch_revivals, revival_pairs, series_revivals, wsa_takeover
from ._nested import nested_exchanges, nested_swap
from ._randles import (ARC_N, SHORT_BACK, SHORT_NEAR, SWAP_FLOOR, TAIL_PLACE,  # noqa: F401
                       TAIL_SHARE, series_swap as _series_swap,
                       series_swap_arc as _series_swap_arc, small_tail as _small_tail,
                       small_tail_open as _small_tail_open, odd_tail as _odd_tail,
                       capacitive_tail as _capacitive_tail, role_exchange as _role_exchange,
                       cpe_exchange as _cpe_exchange,
                       revive_branch as _revive_branch, shape_grid as _shape_grid)

__all__ = ["TWINS", "SERIES_SWAP", "SLOW_TWINS", "circuit_twins", "circuit_move_twins",
           "randles_twins", "ARC_N"]


# scale factors of the finite Gerischer's tau (R / sqrt(tau) and Z(0) kept)
TWIN_FACTORS = (0.25, 0.5, 2.0, 4.0)
# ... and of (a, b) tried from a fitted T (A / sqrt(b) and Z(0) kept).  1/3 and 3 or 0.4
# and 2.5 in addition changed nothing on R0-T1 (same 2 misses of 1,000, session 5); behind
# an arc (R0-p(R1,CPE1)-T1, benchmarks/bench_elements.py's CONTEXT spectra) 6 of 10 misses
# of seeds 3, 4, 5 and 11 sat at (a, b) x 2.8-3.7 with chi2 1.00002-1.0045x, and with
# 10^(-1/2) and 10^(1/2) in addition 4 of 6 reach the optimum (session 21; R0-T1 seed 1:
# 1 -> 0 misses of 1,000, ~10 % fewer fits/s on both)
T_FACTORS = (0.25, 10 ** -0.5, 0.5, 2.0, 10 ** 0.5, 4.0)


A_FLAT = 30.0     # sqrt(30) = 5.5: coth = 1 - 3e-5 and B / sinh ~ 0: T is a Gerischer
A_PULL = {0.25: 3.0, 0.5: 10.0}   # ... so the twins that would only shrink a set a to these
A_SMALL = 0.02    # below this T ~ (A + B) / (a + j w b) + A/3 - B/6: an RC where A, B, a trade off
A_LIFT = {2.0: 1.0, 4.0: 4.0}     # ... so the growing twins set a to these (Z(0), b / a kept)
B_GONE = 1e-6     # B below this x A has vanished (log-space B stalls there)
B_LIFT = (0.03, 0.3)  # ... so two more twins set B to these x A (A, a, b kept)
B_PULL = 0.3      # ... and the pulled twins of a Gerischer-like T with B gone set B = B_PULL A
FLAT_LIFT = 1.0   # ... and one more twin of a Gerischer-like T sets a to this with B = A


def _paasch(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    A, B, a, b = (np.asarray(p[:, i], np.float64) for i in range(4))
    out = []
    with np.errstate(all="ignore"):
        ra = np.sqrt(a)
        z0 = (A * np.cosh(ra) + B) / (ra * np.sinh(ra))        # Z(w -> 0)
        for s in T_FACTORS:
            # a, b scaled by s; A / sqrt(b) (the high-frequency Warburg) and Z(0) kept.  A
            # result at large a (Gerischer-like: a scaled by 1/4 is more of the same) gets a
            # moderate a instead, by the same rule
            sv = np.where(~(a < A_FLAT), A_PULL[s] / a, s) if s in A_PULL else np.full_like(a, s)
            A2, a2, b2 = A * np.sqrt(sv), a * sv, b * sv
            r2 = np.sqrt(a2)
            B2 = z0 * r2 * np.sinh(r2) - A2 * np.cosh(r2)
            B2 = np.where(np.isfinite(B2) & (B2 > 1e-3 * A2), B2, 1e-3 * A2)
            if s in A_PULL:
                # a Gerischer-like result whose B vanished: Z(0) says nothing there (the
                # window never reaches it), so the pulled twin gets a B of its own
                B2 = np.where(~(a < A_FLAT) & ~(B >= B_GONE * A), B_PULL * A2, B2)
            if s in A_LIFT:
                # a result that degenerated to an RC: the same Z(0) and b / a (its time
                # constant), a real a, and B = A (the exact-twin line of the identity above)
                rc = a < A_SMALL
                aL = A_LIFT[s]
                rL = np.sqrt(aL)
                AL = z0 * rL * np.tanh(rL / 2)                 # Z(0) = A (cosh r + 1)/(r sinh r)
                A2, B2 = np.where(rc, AL, A2), np.where(rc, AL, B2)
                a2, b2 = np.where(rc, aL, a2), np.where(rc, b / a * aL, b2)
            out.append(np.stack([A2, B2, a2, b2], axis=1))
        # B vanished: its growing twin (A, A, a, b) ~ (A/2, 0, a/4, b/4) is exact and as
        # stuck; B lifted, the rest kept (other rows: a copy of the first twin)
        gone = ~(B >= B_GONE * A)
        for f in B_LIFT:
            out.append(np.where(gone[:, None], np.stack([A, f * A, a, b], axis=1), out[0]))
        # Gerischer-like (a > A_FLAT): the pulled twins (a = 3, 10, A / sqrt(b) kept) can
        # stay on the flat side; one more at a = FLAT_LIFT on the exact-twin line B = A,
        # Z(0) and b / a kept (other rows: a copy of the first twin)
        rL = np.sqrt(FLAT_LIFT)
        AL = z0 * rL * np.tanh(rL / 2)
        q = np.stack([AL, AL, np.full_like(a, FLAT_LIFT), b / a * FLAT_LIFT], axis=1)
        flat = ~(a < A_FLAT) & np.all(np.isfinite(q) & (q > 0), axis=1)
        out.append(np.where(flat[:, None], q, out[0]))
    return out


PHI_LONG = 8.0     # a finite Gerischer this long is the semi-infinite one (tanh 8 = 1 - 2e-7)
PHI_FLAT = 4.0     # beyond this, phi hardly matters (tanh 4 = 1 - 7e-4): LM stalls there
PHI_PULL = {2.0: 6.0, 4.0: 3.0}   # ... so the twins that would only lengthen it set phi to these
PHI_SHORT = 0.05   # below this Gs is an RC, R / phi / (1 + j w tau): R and phi trade off
PHI_LIFT = {0.25: 1.0, 0.5: 0.5}  # ... so the shortening twins set phi to these (Z(0), tau kept)


def _gerischer_finite(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    R, tau, phi = (np.asarray(p[:, i], np.float64) for i in range(3))
    out = []
    with np.errstate(all="ignore"):
        z0 = R / np.tanh(phi)                                  # Z(w -> 0)
        for s in TWIN_FACTORS:
            # tau scaled by s; R / sqrt(tau) (the high-frequency Warburg) and Z(0) kept
            R2, tau2 = R * np.sqrt(s), tau * s
            t = R2 / z0
            phi2 = np.where(np.isfinite(t) & (t < np.tanh(PHI_LONG)), np.arctanh(t), PHI_LONG)
            if s in PHI_PULL:
                # a result in the flat semi-infinite region: the same R and tau, shorter
                flat = ~(phi < PHI_FLAT)
                R2, tau2 = np.where(flat, R, R2), np.where(flat, tau, tau2)
                phi2 = np.where(flat, PHI_PULL[s], phi2)
            if s in PHI_LIFT:
                # a result that degenerated to an RC: the same Z(0) and tau, a real length
                rc = phi < PHI_SHORT
                R2 = np.where(rc, z0 * np.tanh(PHI_LIFT[s]), R2)
                tau2 = np.where(rc, tau, tau2)
                phi2 = np.where(rc, PHI_LIFT[s], phi2)
            out.append(np.stack([R2, tau2, phi2], axis=1))
    return out


WO_FACTORS = (10.0, 0.1, 0.01)     # tau scaled by these, R by tau^n (R / tau^n kept)
RIDGE_FAR = (100.0, 30.0)          # w_lo tau beyond these: far out on the ridge ...
RIDGE_BACK = (3.0, 0.3)            # ... so the shrinking twins set w_lo tau to these
OPEN_NEAR = 0.3                    # w_lo tau below this: Woa is on its low-frequency ridge


def _warburg_ridge(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Wo(R, tau) = R coth(u) / u with u = sqrt(j w tau) is R / u, the semi-infinite
    Warburg of coefficient R / sqrt(tau), wherever w tau >> 1 (Ws with tanh alike; Woa and
    Wsa with u = (j w tau)^n along R / tau^n): a fit whose tau runs beyond the lowest
    measured frequency ``w_lo`` (rad/s) slides along that ridge and stops far out on it,
    at nearly the truth's chi2.  The twins keep R / tau^n and scale tau by ``WO_FACTORS``:
    two back towards the window, one further out (a tau that stopped short of the truth);
    a shrinking twin of a tau already beyond its own ``RIDGE_FAR`` (w_lo tau 100 for the
    first, 30 for the second) instead comes back to its w_lo tau of ``RIDGE_BACK``."""
    R, tau = (np.asarray(p[:, i], np.float64) for i in range(2))
    e = np.asarray(p[:, 2], np.float64) if p.shape[1] > 2 else 0.5
    out = []
    with np.errstate(all="ignore"):
        for s, far, back in zip(WO_FACTORS, (None,) + RIDGE_FAR, (None,) + RIDGE_BACK):
            sv = np.full_like(tau, s)
            if back is not None and w_lo is not None:
                sv = np.where(tau * w_lo > far, back / (w_lo * tau), sv)
            q = [R * sv ** e, tau * sv] + ([p[:, 2]] if p.shape[1] > 2 else [])
            out.append(np.stack(q, axis=1))
    return out


def _open_warburg(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Woa: the ridge twins and a cross-ridge one.  Where w tau << 1 over the whole window
    (w_lo tau < ``OPEN_NEAR``) coth(u) / u = 1 / u^2 + 1/3 + ...: Woa is a CPE R (j w
    tau)^(-2n) (plus R / 3), which its high-frequency ridge R (j w tau)^(-n) also makes with
    the exponent doubled.  The twin sets n' = 2n (where <= 1), keeps the CPE's
    coefficient R / tau^(2n) = R' / tau'^(n') and puts tau' at w_lo tau' = ``RIDGE_BACK[0]``,
    beyond the window; elsewhere it is the result itself."""
    out = _warburg_ridge(p, w_lo)
    if w_lo is not None and p.shape[1] > 2:
        R, tau, e = (np.asarray(p[:, i], np.float64) for i in range(3))
        near = (tau * w_lo < OPEN_NEAR) & (2 * e <= 1.0)
        q = np.array(p, np.float64, copy=True)
        with np.errstate(all="ignore"):
            t2 = RIDGE_BACK[0] / w_lo
            q[:, 0] = np.where(near, R * (t2 / tau) ** (2 * e), R)   # R'/t2^(2e) = R/tau^(2e)
            q[:, 1] = np.where(near, t2, tau)
            q[:, 2] = np.where(near, 2 * e, e)
        out.append(q)
    return out


def _short_warburg(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The ridge twins (:func:`_warburg_ridge`) and, for the short (finite-space) Warburgs
    Ws and Wsa, Z = R tanh(u) / u, one more: where w tau << 1 over the whole window
    (w_lo tau < ``SHORT_NEAR``) tanh(u) / u = 1 - u^2 / 3 + ...: the element is its DC
    resistance R, a resistor that trades off against its neighbours (R1 in a Randles
    branch, where such fits end with the Warburg's R in place of part of R1 and tau
    inside the arc).  The twin keeps R (Z(0)) and puts tau at w_lo tau = ``SHORT_BACK``,
    where the element is a diffusion tail again; elsewhere it is the result itself."""
    out = _warburg_ridge(p, w_lo)
    if w_lo is not None:
        tau = np.asarray(p[:, 1], np.float64)
        near = tau * w_lo < SHORT_NEAR
        q = np.array(p, np.float64, copy=True)
        with np.errstate(all="ignore"):
            q[:, 1] = np.where(near, SHORT_BACK / w_lo, tau)
        out.append(q)
    return out


G_FACTORS = (10.0, 0.1)   # Gerischer: tau scaled by these, R by their square root


def _gerischer_ridge(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """G(R, tau) = R / sqrt(1 + j w tau) is R / sqrt(j w tau), a semi-infinite Warburg of
    coefficient R / sqrt(tau), wherever w tau >> 1: behind an arc (R0-p(R1,CPE1)-G1, tau
    1e-3 - 0.1 s) fits stop along that ridge with tau 3-10x off either way and R /
    sqrt(tau) within 10-40 %, CONVERGED at 1.006-1.29x the truth-started chi2.  The twins
    keep R / sqrt(tau) and scale tau by ``G_FACTORS``."""
    R, tau = (np.asarray(p[:, i], np.float64) for i in range(2))
    return [np.stack([R * np.sqrt(s), tau * s], axis=1) for s in G_FACTORS]


TWINS = {"T": _paasch, "Gs": _gerischer_finite, "Wo": _warburg_ridge, "Ws": _short_warburg,
         "Woa": _open_warburg, "Wsa": _short_warburg, "G": _gerischer_ridge}
SERIES_SWAP = ("Ws", "Wsa")   # elements whose series resistors get _series_swap twins
# twins whose tournaments continue the candidates still running after the short trip
# (``FitConfig.twin_mid``): Paasch's T, whose reaching twin can lead only after ~20-60
# iterations (``_config.SLOW_TWIN_ITER``); a Randles branch's anomalous Warburg gets
# longer (``_config.TAIL_TWIN_MID``, through ``LATE_TAIL_TWINS``)
SLOW_TWINS = (_paasch,)


def circuit_twins(tree) -> tuple:
    """((parameter indices, twin function), ...) for every element of the circuit
    ``tree`` that has twins (built-in symbols only), and for every resistor in series
    (the same series group) with a ``SERIES_SWAP`` element: (R, element's parameters);
    and the revivals of a vanished resistor (``_vanished``): a T's beside its series
    resistor, a top-level resistor's, and an inner resistor's from a top-level one."""
    from fastfit.kernels import ELEMENTS

    from ._scanplan import element_slots

    out = []
    for sym, first in element_slots(tree):
        if isinstance(sym, str) and sym in TWINS:
            k = len(ELEMENTS[sym].names)
            out.append((tuple(range(int(first), int(first) + k)), TWINS[sym]))
    out.extend(_swaps(tree, ELEMENTS))
    out.extend(revival_pairs(tree, ELEMENTS))
    out.extend(series_revivals(tree))
    out.extend(branch_revivals(tree))
    return tuple(out)


def _swaps(node, elements, fns=None) -> list:
    """(R index, Warburg indices...) entries of the series groups below ``node``: with
    ``_series_swap`` for the ``SERIES_SWAP`` Warburgs, or with ``fns[symbol]`` for the
    Warburgs in ``fns``."""
    if node[0] == "E":
        return []
    fns = {sym: _series_swap for sym in SERIES_SWAP} if fns is None else fns
    out = []
    if node[0] == "S":
        leaves = [c for c in node[1] if c[0] == "E" and isinstance(c[1], str)]
        for r in (c for c in leaves if c[1] == "R"):
            for w in (c for c in leaves if c[1] in fns):
                k = len(elements[w[1]].names)
                out.append(((int(r[2]),) + tuple(range(int(w[2]), int(w[2]) + k)),
                            fns[w[1]]))
    for c in node[1]:
        out.extend(_swaps(c, elements, fns))
    return out


# the small-tail twins, measured 2026-12-05 (1,000 spectra of the family benchmark, its
# seed): misses Wsa 22 -> 4, Woa 19 -> 9, Ws 5 -> 2, at 2 / 15 / 13 % fewer fits/s (2,000
# spectra, warm); Randles-Wo 1 -> 1 with them at 29 % fewer fits/s, so Wo gets the
# capacitive tail instead (3 -> 1 of 2,000; for Woa it did not help: 17 -> 19)
TAIL_TWINS = {"Ws": _small_tail, "Wsa": _small_tail, "Woa": _small_tail_open,
              "Wo": _capacitive_tail}
# the role exchange of a capacitive arc (``_randles.role_exchange``): open Warburgs only
ROLE_TWINS = {"Wo": _role_exchange, "Woa": _role_exchange}
# ... and of a Randles branch whose CPE is no capacitor (``_randles.cpe_exchange``): Woa only
CPE_ROLE_TWINS = {"Woa": _cpe_exchange}


# the late twins of a Randles branch: the small-tail twins (``_randles.odd_tail``) of the
# short anomalous Warburg; the twins of a vanished Warburg or resistor
# (``_randles.revive_branch``) of the open one (Woa; Wo, Ws not measured: no such miss
# among their spectra; Wsa: its small tails cover both)
LATE_TAIL_TWINS = {"Wsa": _odd_tail, "Woa": _revive_branch}
# ... a Woa that is no tail (_randles.shape_grid), a minor flat Wsa (_vanished.wsa_takeover)
LATE_SHAPE_TWINS = {"Woa": _shape_grid, "Wsa": wsa_takeover}


def randles_twins(tree, *tables: dict) -> list:
    """((R, Warburg..., Q, n) parameter indices, table[symbol]) for every Randles branch of
    ``tree`` -- a parallel of a series group (holding a resistor and a Warburg in a table)
    and one CPE -- and every table, in that order."""
    out = []

    def walk(node):
        if node[0] != "E":
            out.extend(_randles_branch(node, tables))
            for c in node[1]:
                walk(c)

    walk(tree)
    return out


def _randles_branch(node, tables) -> list:
    """:func:`randles_twins` of ``node`` alone (none unless it is a Randles branch)."""
    from fastfit.kernels import ELEMENTS

    found = branch_cpe(node)
    if found is None:
        return []
    branch, q = found
    return [(cols + (q, q + 1), fn) for fns in tables
            for cols, fn in _swaps(branch, ELEMENTS, fns)]


def circuit_move_twins(tree) -> tuple:
    """((parameter indices, twin function), ...) tried with the relocation moves: a
    :func:`~._nested.nested_swap` for every resistor in series with an inner arc p(R', CPE) or
    p(R', C) inside a parallel (below the top level, where the relocation moves re-solve
    every term's scale but not the split of R and R' inside a term), and a
    :func:`_series_swap_arc` for every resistor in series with a ``SERIES_SWAP`` Warburg
    in a branch parallel to a CPE (a Randles cell, :func:`randles_twins`), and there the
    ``TAIL_TWINS`` of that Warburg (the small tail for Ws, Wsa, Woa; the capacitive tail
    for Wo; ``_randles``) and, for the open ones (Wo, Woa), the role exchange of a
    capacitive arc (``_randles.role_exchange``), and for Woa that of a branch whose CPE
    is no capacitor (``_randles.cpe_exchange``); the nested exchanges
    (``_nested.nested_exchanges``), the role exchange of every top-level arc and finite
    Gerischer in series (``_exchange.gs_role_exchange``), two arcs' merge (``_arcs``)."""
    tables = ({sym: _series_swap_arc for sym in SERIES_SWAP}, TAIL_TWINS, ROLE_TWINS,
              CPE_ROLE_TWINS)
    out = []

    def walk(node, inside):
        if node[0] == "E":
            return
        out.extend(_randles_branch(node, tables))
        if node[0] == "S" and inside:
            rs = [c for c in node[1] if c[0] == "E" and c[1] == "R"]
            for arc in (c for c in node[1] if c[0] == "P" and len(c[1]) == 2):
                r_in = [c for c in arc[1] if c[0] == "E" and c[1] == "R"]
                x = [c for c in arc[1] if c[0] == "E" and c[1] in ("CPE", "C")]
                if len(r_in) == 1 and len(x) == 1:
                    cols = (int(r_in[0][2]),) + ((int(x[0][2]), int(x[0][2]) + 1)
                                                 if x[0][1] == "CPE" else (int(x[0][2]),))
                    out.extend(((int(r[2]),) + cols, nested_swap) for r in rs)
        for c in node[1]:
            walk(c, inside or node[0] == "P")

    walk(tree, False)
    out.extend(nested_exchanges(tree))
    out.extend(gs_role_pairs(tree) + pair_merges(tree))
    return tuple(out)
