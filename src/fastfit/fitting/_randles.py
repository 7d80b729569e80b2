"""Twins of a resistor in series with a Warburg -- the branch of a Randles cell
R0-p(R1-W1,CPE1): the series swap of R1 and a short Warburg that has become a resistor,
with the enclosing arc's exponent moved too, and the small diffusion tail
(docs/design-notes.md, "Generic start search", steps 4 and 6).  Each function maps the
fitted parameters of its columns (physical units) and the lowest used angular frequency
``w_lo`` (n,) rad/s to a list of (n, k) starting points, as the twins of
:mod:`._twins` do."""
from __future__ import annotations

import numpy as np

__all__ = ["SHORT_NEAR", "SHORT_BACK", "SWAP_FLOOR", "ARC_N", "TAIL_SHARE", "TAIL_PLACE",
           "CAP_NEAR", "CAP_PLACE", "ROLE_CAP_N", "ROLE_RES_N", "ROLE_PLACE", "ODD_N",
           "ODD_PLACE", "ODD_SHARE", "LATE_SHARE", "LATE_PLACE", "VANISH_SHARE",
           "REVIVE_SHARE", "REVIVE_PLACE", "REVIVE_N", "REVIVE_R", "vanished_warburg",
           "SHAPE_N_RANGE", "SHAPE_PLACE", "SHAPE_N", "shape_grid", "warburg_z",
           "vanished_resistor", "revive_branch", "series_swap",
           "series_swap_arc", "small_tail", "small_tail_open", "odd_tail", "capacitive_tail",
           "role_exchange", "ROLE_CPE_N", "ROLE_CPE_PLACE", "cpe_exchange"]

SHORT_NEAR = 1.0 / 30.0   # w_lo tau below this: a short Warburg is a resistor ...
SHORT_BACK = 1.0          # ... so its twins (here and _twins._short_warburg) put tau at this
SWAP_FLOOR = 1e-2     # the swapped Warburg's R is at least this fraction of the resistance


def series_swap(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A resistor R in series with a short Warburg (columns R, then the Warburg's R_w,
    tau[, n]).  Where the Warburg is a resistor over the window (w_lo tau <
    ``SHORT_NEAR``) R and R_w trade off, and fits end with the roles swapped: R near 0
    (or small) and the Warburg's R_w in its place, tau inside the arc -- the truth's small
    diffusion tail is missing (Randles cells R0-p(R1-Ws1,CPE1), R0-p(R1-Wsa1,CPE1), 1.01-
    1.08x the truth-started chi2).  The twin exchanges R and R_w (R_w floored at
    ``SWAP_FLOOR`` x the new R) and puts tau at w_lo tau = ``SHORT_BACK``; elsewhere it is
    the result itself."""
    if w_lo is None:
        return []
    R, Rw, tau = (np.asarray(p[:, i], np.float64) for i in range(3))
    near = tau * w_lo < SHORT_NEAR
    q = np.array(p, np.float64, copy=True)
    with np.errstate(all="ignore"):
        q[:, 0] = np.where(near, Rw, R)
        q[:, 1] = np.where(near, np.maximum(R, SWAP_FLOOR * Rw), Rw)
        q[:, 2] = np.where(near, SHORT_BACK / w_lo, tau)
    return [q]


# CPE exponents of the enclosing arc tried with a series swap (``series_swap_arc``);
# measured on the Randles-Wsa family (400 spectra, seeds 23 and 29): misses 16 -> 14 and
# 13 -> 9, wrong CONVERGED 11 -> 4 and 9 -> 4, at 12-16 % fewer fits/s
ARC_N = (0.7, 0.8, 0.9, 1.0)


def series_swap_arc(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The series swap (:func:`series_swap`) of a resistor R and a short Warburg in a
    Randles branch, with the enclosing arc's CPE moved too: columns R, the Warburg's (R_w,
    tau[, n]), then the CPE's Q, n.  Randles-Wsa misses end with R -> 0, the Warburg
    holding R's resistance at tau ~ 1e-6 s and n ~ 0.3 broadening the arc, and the CPE's
    n off by 0.1; from the plain swap the fit returns to the same basin, because the
    CPE's n has to move as well.  These twins set the CPE's n to ``ARC_N`` with the arc's
    time constant ((R + R_w) Q)^(1/n) kept; where the Warburg is not a resistor over the
    window (w_lo tau >= ``SHORT_NEAR``) they are the result itself."""
    if w_lo is None:
        return []
    (q,) = series_swap(p[:, :-2], w_lo)
    near = (p[:, 2] * w_lo < SHORT_NEAR)[:, None]
    R_tot = q[:, 0] + q[:, 1]
    out = []
    with np.errstate(all="ignore"):
        tau_arc = ((p[:, 0] + p[:, 1]) * p[:, -2]) ** (1.0 / p[:, -1])
        for n in ARC_N:
            c = np.array(p, np.float64, copy=True)
            c[:, :-2] = q
            c[:, -1] = n
            c[:, -2] = tau_arc ** n / R_tot
            out.append(np.where(near & np.isfinite(c), c, p))
    return out


def warburg_z(Rw, tau, n, w, open_end: bool) -> np.ndarray:
    """Impedance (ohm) of an anomalous finite Warburg at angular frequency ``w`` (rad/s),
    u = (j w tau)^n: R_w coth(u) / u for the open one (Wo, Woa: a capacitive tail below
    1 / tau), R_w tanh(u) / u for the short one (Ws, Wsa: the resistance R_w below 1 / tau),
    n = 0.5 for Wo and Ws; the series of either end where |u| is very large or small (tau
    may sit at its bound, 1e300)."""
    with np.errstate(all="ignore"):
        u = np.exp(n * (np.log(w) + np.log(tau)) + 0.5j * np.pi * n)
        if open_end:
            return np.where(np.abs(u) > 1e3, Rw / u,
                            np.where(np.abs(u) < 1e-8, Rw / u ** 2 + Rw / 3,
                                     Rw / (np.tanh(u) * u)))
        return np.where(np.abs(u) > 1e3, Rw / u,
                        np.where(np.abs(u) < 1e-8, Rw + 0j, Rw * np.tanh(u) / u))


# a small diffusion tail behind a large Randles arc: the Warburg's share of the branch's
# low-frequency resistance and the place of its time constant (w_lo tau) tried by
# ``small_tail``
TAIL_SHARE = (0.003, 0.03)
TAIL_PLACE = (0.3, 3.0)


def small_tail(p: np.ndarray, w_lo=None, open_end: bool = False, shares=None,
               places=None) -> list[np.ndarray]:
    """A Randles branch R - W (short Warburg R_w, tau[, n]) parallel to a CPE (Q, n_q), the
    columns as for :func:`series_swap_arc`: the diffusion tail when it is a small part of
    the branch.  Randles-Wsa misses with R_w 0.2-1 % of R (1 MHz - 0.1 Hz, 0.5 % noise)
    end elsewhere -- the Warburg swapped into R's place (R -> 0), at n -> 0 and tau at its
    bound acting as a resistor, or at n -> 1 -- 1-7 % above the truth-started chi2, where
    neither the ridge twins nor the series swap reach a tail that small.  These twins keep
    the branch's resistance at the lowest frequency (R + Re Z_W(w_lo)) and the arc's time
    constant (R_tot Q)^(1/n_q) and give the Warburg ``TAIL_SHARE`` of it at w_lo tau =
    ``TAIL_PLACE`` (n = 0.5 for an anomalous one), or the ``shares`` x ``places`` given.
    (The Warburg's own share as a third changed nothing: 7 -> 7 misses of 1,000.)"""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Rw, tau = P[:, 0], P[:, 1], P[:, 2]
    has_n = P.shape[1] == 6
    n = P[:, 3] if has_n else np.full_like(tau, 0.5)
    with np.errstate(all="ignore"):
        Zw = warburg_z(Rw, tau, n, w_lo, open_end)
        R_tot = R + np.maximum(Zw.real, 0.0)
        tau_arc = (R_tot * P[:, -2]) ** (1.0 / P[:, -1])
        out = []
        for share in TAIL_SHARE if shares is None else shares:
            for place in TAIL_PLACE if places is None else places:
                c = P.copy()
                c[:, 0] = (1.0 - share) * R_tot
                c[:, 1] = share * R_tot
                c[:, 2] = place / w_lo
                if has_n:
                    c[:, 3] = 0.5
                c[:, -2] = tau_arc ** P[:, -1] / R_tot
                out.append(np.where(np.isfinite(c) & (R_tot > 0)[:, None], c, P))
    return out


def small_tail_open(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`small_tail` for the open Warburgs (Wo, Woa)."""
    return small_tail(p, w_lo, open_end=True)


# the late small-tail twins (``odd_tail``): a fitted short Warburg counts as no diffusion
# tail in the window where its exponent is at least ODD_N (an RC-like shape), w_lo tau is
# below ODD_PLACE (a resistor over the window), or one of R, R_w is below ODD_SHARE x the
# other; such results get the denser grid LATE_SHARE x LATE_PLACE of small tails
ODD_N = 0.85
ODD_PLACE = 0.1
ODD_SHARE = 1e-3
LATE_SHARE = (0.001, 0.003, 0.01, 0.03)
LATE_PLACE = (0.3, 1.0, 3.0, 10.0)


def odd_tail(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The small-tail twins (:func:`small_tail`, short Warburgs: Ws, Wsa) on the denser grid
    ``LATE_SHARE`` x ``LATE_PLACE``, for the results whose Warburg is no diffusion tail
    inside the window (exponent >= ``ODD_N``, w_lo tau < ``ODD_PLACE``, R or R_w below
    ``ODD_SHARE`` x the other); the result itself elsewhere.  Tried on every result after
    the relocation moves (``FitConfig.late_twins``), not only those a move changed.

    Randles-Wsa misses of the family benchmark are tails of 0.1-1 % of R, under the
    0.5 % noise, on a rugged landscape: from near-truth starts the local fit ends in one
    of several minima 0.5-8 % apart, so more tails tried is what finds the lowest.
    Measured (1,000 spectra, seeds 41, 43 and 47 of benchmarks/bench_circuit_families.py,
    47 unseen while choosing): misses 8 / 15 / 17 -> 5 / 9 / 11 at 12-17 % fewer fits/s
    (2,000 spectra of the family seed: 24 -> 18 at 25 % fewer);
    the dense grid as the ordinary move twins instead: 8 / 15 -> 3 / 10 at 28 % fewer; the
    exponent gate alone 6 / 11, the place gate alone 7 / 13.  Not for Woa (the same grid
    fixed none of 5 misses at 34 % fewer fits/s) or Ws (no misses)."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Rw, tau = P[:, 0], P[:, 1], P[:, 2]
    n = P[:, 3] if P.shape[1] == 6 else np.full_like(tau, 0.5)
    with np.errstate(all="ignore"):
        odd = ((n >= ODD_N) | (w_lo * tau < ODD_PLACE) | (Rw < ODD_SHARE * R)
               | (R < ODD_SHARE * Rw))
    return [np.where(odd[:, None], c, P)
            for c in small_tail(P, w_lo, shares=LATE_SHARE, places=LATE_PLACE)]


# the vanished-Warburg twins (``vanished_warburg``): a fitted Warburg whose R_w is below
# VANISH_SHARE x R has left the branch; its twins give it REVIVE_SHARE of R + R_w at
# w_lo tau = 10^REVIVE_PLACE, with exponent REVIVE_N
VANISH_SHARE = 1e-3
REVIVE_SHARE = (0.5, 0.9)
REVIVE_PLACE = (-1.0, -2.0, -3.0, -4.0)
REVIVE_N = 0.5


def _vanished(p: np.ndarray, warburg: bool) -> tuple:
    """(P, R + R_w, (n, 1) mask) of the Randles columns ``p`` (R, R_w first): the rows
    whose Warburg (``warburg``) or resistor is below ``VANISH_SHARE`` x the other."""
    P = np.asarray(p, np.float64)
    R, Rw = P[:, 0], P[:, 1]
    small, big = (Rw, R) if warburg else (R, Rw)
    R_tot = R + Rw
    return P, R_tot, ((small < VANISH_SHARE * big) & (R_tot > 0))[:, None]


def vanished_warburg(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A Randles branch R - W parallel to a CPE, the columns as for :func:`small_tail`
    (R, R_w, tau[, n], Q, n_q), whose Warburg has vanished (R_w < ``VANISH_SHARE`` x R):
    for every share s in ``REVIVE_SHARE`` and place in ``REVIVE_PLACE``, R_w = s (R + R_w),
    R = (1 - s) (R + R_w), tau = 10^place / w_lo and n = ``REVIVE_N`` (an anomalous
    Warburg), the CPE kept; the result itself elsewhere.  Tried on every result after the
    relocation moves (``FitConfig.late_twins``).

    An open anomalous Warburg (Woa) a few decades inside a wide window (1 MHz - 1 mHz,
    benchmarks/bench_elements.py's CONTEXT) can end with R_w -> 0 and R holding the
    branch: the low-frequency capacitive tail missing, up to 5x the truth-started chi2
    (SINGULAR), where the small-tail twins (tails of a few % at the window's end) and the
    random starts of escalation do not reach it; from the grid above a local fit reaches
    the truth's optimum within 16 iterations.  Measured (CONTEXT Woa-in-Randles, seeds 3,
    5, 7, 11, 13, 17, 29 x 300 and 19, 23, 29 x 1,000 spectra): misses 7 -> 3 (5.1x,
    2.8x, 1.03x, 1.01x fixed; two of them pass through R_w -> 0 and end, after escalation,
    with R -> 0), no fits/s lost; the family benchmark (1 MHz - 0.1 Hz, seed 41, 1,000
    spectra): 5 -> 5."""
    if w_lo is None:
        return []
    P, R_tot, gone = _vanished(p, warburg=True)
    out = []
    with np.errstate(all="ignore"):
        for share in REVIVE_SHARE:
            for place in REVIVE_PLACE:
                c = P.copy()
                c[:, 0] = (1.0 - share) * R_tot
                c[:, 1] = share * R_tot
                c[:, 2] = 10.0 ** place / w_lo
                if P.shape[1] == 6:
                    c[:, 3] = REVIVE_N
                out.append(np.where(gone & np.isfinite(c), c, P))
    return out


# the vanished-resistor twins (``vanished_resistor``): R below VANISH_SHARE x R_w has left
# the branch; its twins give it REVIVE_R of R + R_w
REVIVE_R = (0.1, 0.3)


def vanished_resistor(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """The Randles branch of :func:`vanished_warburg` whose resistor has vanished (R <
    ``VANISH_SHARE`` x R_w): for every share s in ``REVIVE_R``, R = s (R + R_w) and R_w =
    (1 - s)(R + R_w), the Warburg's tau and n and the CPE kept; the result itself elsewhere.

    Woa-in-Randles results with R -> 0 (AT_BOUND, 1.01-1.03x the truth-started chi2; the
    truth's R 1-3 % of the branch) reach the truth's optimum from R = 10 or 30 % of it (1 or
    3 % do not).  Measured with :func:`vanished_warburg` (:func:`revive_branch`): CONTEXT
    seed 3 1 -> 0 misses, the family benchmark (1,000 spectra) seed 41 5 -> 4, seed 43
    (unseen) 7 -> 7, no fits/s lost."""
    if w_lo is None:
        return []
    P, R_tot, gone = _vanished(p, warburg=False)
    out = []
    for share in REVIVE_R:
        c = P.copy()
        c[:, 0] = share * R_tot
        c[:, 1] = (1.0 - share) * R_tot
        out.append(np.where(gone & np.isfinite(c), c, P))
    return out


def revive_branch(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`vanished_warburg` and :func:`vanished_resistor` of a Randles branch: the twins
    of whichever of its series pair R - W has vanished."""
    return vanished_warburg(p, w_lo) + vanished_resistor(p, w_lo)


# the shape grid (``shape_grid``): an anomalous Warburg whose exponent is outside
# SHAPE_N_RANGE (n -> 0 a resistor, n -> 1 a capacitor, n ~ 0.2 a broad shoulder of the arc)
# or which has vanished (R_w < VANISH_SHARE x R) is no diffusion tail; its twins put it
# at w_lo tau = SHAPE_PLACE with exponent SHAPE_N, its magnitude at w_lo kept
SHAPE_N_RANGE = (0.35, 0.9)
SHAPE_PLACE = (1.0, 3.0, 10.0, 30.0)
SHAPE_N = (0.35, 0.5, 0.65, 0.8)


def shape_grid(p: np.ndarray, w_lo=None, open_end: bool = True) -> list[np.ndarray]:
    """A Randles branch R - W (anomalous Warburg R_w, tau, n) parallel to a CPE, the
    columns (R, R_w, tau, n, Q, n_q) as for :func:`small_tail`, whose Warburg is no
    diffusion tail (its exponent outside ``SHAPE_N_RANGE``, or R_w below ``VANISH_SHARE``
    x R): for every place in ``SHAPE_PLACE`` and exponent n' in ``SHAPE_N``, tau' =
    place / w_lo, n = n' and R_w' such that |Z_W(w_lo)| is the fitted Warburg's
    (:func:`warburg_z`; 3 % of the branch where that is not finite), R and the CPE kept;
    the result itself elsewhere.  Tried on every result after the relocation moves
    (``FitConfig.late_twins``).

    A Woa tail of 0.1-80 % of R1 that runs past the window's low end (w_lo tau 0.1-6,
    0.5 % noise) is weakly determined, and fits end with the exponent at 0.2-0.3 (a broad
    shoulder of the arc, tau 3-10x short), at n -> 1 or n -> 0, or with the Warburg gone:
    1.001-1.06x the truth-started chi2, LOOSE or SINGULAR (one CONVERGED at 1.06x).
    From a tail of the fitted size at the truth's place and shape the local fit reaches
    the truth's optimum; which grid point does it differs from spectrum to spectrum.
    Measured on those misses (the family benchmark, 1 MHz - 0.1 Hz): 14 of 16 (its seed)
    and 3 of 5 (seed 7) reached from the grid; the two left have R1 gone too."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Rw, tau, n = P[:, 0], P[:, 1], P[:, 2], P[:, 3]
    out = []
    with np.errstate(all="ignore"):
        odd = (~((n >= SHAPE_N_RANGE[0]) & (n <= SHAPE_N_RANGE[1]))
               | (Rw < VANISH_SHARE * R))[:, None]
        mag = np.abs(warburg_z(Rw, tau, n, w_lo, open_end))
        mag = np.where(np.isfinite(mag) & (mag > 0), mag, TAIL_SHARE[-1] * (R + Rw))
        for place in SHAPE_PLACE:
            t = place / w_lo
            for e in SHAPE_N:
                c = P.copy()
                c[:, 1] = mag / np.abs(warburg_z(1.0, t, e, w_lo, open_end))
                c[:, 2] = t
                c[:, 3] = e
                out.append(np.where(odd & np.isfinite(c), c, P))
    return out


# an open Warburg whose tau has shrunk to a capacitor: w_lo tau below CAP_NEAR, and the
# places (w_lo tau) its twins from ``capacitive_tail`` try
CAP_NEAR = 0.03
CAP_PLACE = (0.1, 1.0)


def capacitive_tail(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A Randles branch R - W with an open Warburg (Wo: R_w, tau; Woa: R_w, tau, n) parallel
    to a CPE, the columns as for :func:`small_tail`.  Below 1/tau, R_w coth(u) / u with u =
    (j w tau)^n is R_w / u^2 + R_w / 3: a CPE of exponent 2n and coefficient R_w / tau^(2n)
    (a capacitor tau / R_w for Wo) in series with R_w / 3.  Randles-Wo misses (a tail of 10
    % of R at w_lo tau ~ 0.1) end with tau 1,000x too short and R_w as much too small, that
    capacitor kept: the low-frequency branch is right, the diffusion shape is missing
    (1.10-1.12x the truth-started chi2, reported CONVERGED).  Where w_lo tau <
    ``CAP_NEAR`` the twins keep the capacitor (R_w / tau^(2n)) and R + R_w / 3, and put tau
    at w_lo tau = ``CAP_PLACE``; elsewhere, or where R would turn negative, they are the
    result itself."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Rw, tau = P[:, 0], P[:, 1], P[:, 2]
    n = P[:, 3] if P.shape[1] == 6 else np.full_like(tau, 0.5)
    near = tau * w_lo < CAP_NEAR
    out = []
    with np.errstate(all="ignore"):
        for place in CAP_PLACE:
            t2 = place / w_lo
            c = P.copy()
            c[:, 1] = Rw * (t2 / tau) ** (2.0 * n)
            c[:, 2] = t2
            c[:, 0] = R + (Rw - c[:, 1]) / 3.0
            ok = near & (c[:, 0] > 0) & np.all(np.isfinite(c), axis=1)
            out.append(np.where(ok[:, None], c, P))
    return out


# the role exchange of a capacitive Randles arc: the CPE exponents at or above which the
# parallel CPE counts as a capacitor, the exponent its twin takes as a resistor, and the
# place (w_lo tau) of the open Warburg's time constant, far above the window
ROLE_CAP_N = 0.9
ROLE_RES_N = 0.01
ROLE_PLACE = 1e-9


def role_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A Randles branch R - W (open Warburg Wo: R_w, tau; Woa: R_w, tau, n) parallel to a
    CPE (Q, n_q), the columns as for :func:`capacitive_tail`, on a spectrum that is a
    plain arc R || C: the CPE a capacitor (n_q -> 1), the Warburg a small series term.
    The same arc is also R_w' / (j w tau') + R' (the open Warburg below 1/tau' is a
    capacitor tau' / R_w' in series with R_w' / 3) parallel to a resistor (a CPE with
    n_q -> 0, Q = 1 / R), with the CPE's small residual slope to spare; on real spectra
    fitted with R0-p(R1-Wo1,CPE1) that basin was 0.06-0.3 % lower in chi2 (3 of 22
    spectra, benchmarks/bench_real_circuits.py, against the best of 20 random scipy
    starts) and no move reached it.  Where n_q >= ``ROLE_CAP_N`` the twin sets the CPE to
    (1 / R, ``ROLE_RES_N``), the Warburg to the capacitor Q (tau' = ``ROLE_PLACE`` /
    w_lo, R_w' = tau' / Q, n = 1/2 for Woa) and R to 1e-3 R; elsewhere it is the result
    itself."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Q, n_q = P[:, 0], P[:, -2], P[:, -1]
    with np.errstate(all="ignore"):
        c = P.copy()
        c[:, 2] = ROLE_PLACE / w_lo
        c[:, 1] = c[:, 2] / Q
        if P.shape[1] == 6:
            c[:, 3] = 0.5
        c[:, 0] = 1e-3 * R
        c[:, -2] = 1.0 / R
        c[:, -1] = ROLE_RES_N
        ok = ((n_q >= ROLE_CAP_N) & (R > 0) & np.all(np.isfinite(c), axis=1)
              & np.all(c[:, :-1] > 0, axis=1))
    return [np.where(ok[:, None], c, P)]


ROLE_CPE_N = 0.5   # a CPE below this exponent beside an anomalous open Warburg ...
ROLE_CPE_PLACE = (1e-9, 1e-5, 1e-2)   # ... gives its shape to the Warburg at these w_lo tau


def cpe_exchange(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """:func:`role_exchange`'s other half, for an anomalous open Warburg (Woa: R_w, tau,
    n; the columns R, R_w, tau, n, Q, n_q): below 1/tau, R_w coth(u) / u with u = (j w
    tau)^n is a CPE of exponent 2n and coefficient tau^(2n) / R_w (plus R_w / 3), so a
    Randles branch whose CPE is no capacitor (n_q < ``ROLE_CPE_N``) has the same shape with
    the Warburg as that CPE (n = n_q / 2, R_w = tau^(n_q) / Q, w_lo tau at
    ``ROLE_CPE_PLACE``) and the CPE as the resistor (1 / R, ``ROLE_RES_N``), R -> 1e-3 R.
    Real spectra fitted with R0-p(R1-Woa1,CPE1), a circuit that does not describe them
    (benchmarks/bench_real_circuits.py, 22 spectra): 7 ended 2.1-2.7x above the best of 20
    random scipy starts, all with the CPE at n_q 0.34-0.39 and the best fit in that other
    basin (the CPE a resistor, the Warburg's n 0.25-0.32), which more starts (128) did
    not reach.  Elsewhere (n_q >= ``ROLE_CPE_N``, a fixed-n Wo) the result itself."""
    if w_lo is None or p.shape[1] != 6:
        return []
    P = np.asarray(p, np.float64)
    R, Q, n_q = P[:, 0], P[:, 4], P[:, 5]
    out = []
    with np.errstate(all="ignore"):
        for place in ROLE_CPE_PLACE:
            c = P.copy()
            c[:, 2] = place / w_lo
            c[:, 3] = n_q / 2.0
            c[:, 1] = np.exp(n_q * np.log(c[:, 2])) / Q
            c[:, 0] = 1e-3 * R
            c[:, 4] = 1.0 / R
            c[:, 5] = ROLE_RES_N
            ok = ((n_q < ROLE_CPE_N) & (n_q > 0) & (R > 0) & (Q > 0)
                  & np.all(np.isfinite(c), axis=1) & np.all(c > 0, axis=1))
            out.append(np.where(ok[:, None], c, P))
    return out
