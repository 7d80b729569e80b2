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

from ._arcs import apex_zarc, branch_cpe, rcpe_columns

__all__ = ["nested_swap", "nested_exchange", "nested_exchanges", "inner_relocation",
           "inner_relocations", "cpe_swap", "cpe_swaps", "NEST_FACTORS", "NEST_FLOOR",
           "EXCHANGE_R", "INNER_SHARE", "INNER_PLACE", "INNER_N", "SWAP_Q", "nested_unfold",
           "nested_unfolds", "nested_merge", "nested_merges", "R_GONE", "CPE_FLAT", "CPE_OPEN",
           "MERGE_SHARE", "MERGE_DECADES", "MERGE_STEPS"]

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
    return _inner_grid(P, 0, R_tot, R_tot > 0, INNER_SHARE, w_lo)


def _inner_grid(P: np.ndarray, o: int, R_tot, ok, shares, w_lo,
                base: np.ndarray | None = None, places=INNER_PLACE) -> list[np.ndarray]:
    """Copies of ``base`` (default ``P``) with the inner arc of columns o + (0, 1, 2, 3) =
    (R, R', Q', n') at every share s of ``shares``, place of ``INNER_PLACE`` and exponent
    of ``INNER_N``: R' = s R_tot, R = (1 - s) R_tot, tau' = 10^place / w_lo, Q' = tau'^n' /
    R' -- where ``ok`` and the copy is finite, else ``P`` itself."""
    ok = np.asarray(ok, bool)[:, None]
    base = P if base is None else base
    out = []
    with np.errstate(all="ignore"):
        for share in shares:
            for place in places:
                tau = 10.0 ** place / w_lo
                for n in INNER_N:
                    q = base.copy()
                    q[:, o + 1] = share * R_tot
                    q[:, o] = (1.0 - share) * R_tot
                    q[:, o + 3] = n
                    q[:, o + 2] = tau ** n / q[:, o + 1]
                    out.append(np.where(ok & np.isfinite(q), q, P))
    return out


def inner_relocations(tree) -> list:
    """(R, R', Q', n') entries with :func:`inner_relocation` for every nested arc of
    :func:`nested_exchanges`."""
    return [(cols[:4], inner_relocation) for cols, _ in nested_exchanges(tree)]


R_GONE = 1e-6       # a series resistance below this x the branch's others has vanished
CPE_FLAT = 0.3      # a CPE whose exponent is below this acts as a resistor ...
CPE_OPEN = 1e3      # ... which cuts off a branch whose resistance is this x its |Z(w_lo)|
                    # (the same factor: an inner CPE with R' above it x its |Z(w_lo)| is
                    # all the inner arc the window sees)


def _cpe_ohm(Q, n, w_lo):
    """|Z| of a CPE (Q, n) at the lowest measured angular frequency, ohm."""
    return 1.0 / (Q * w_lo ** n)


def nested_unfold(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A nested arc whose fit lost a role, rebuilt with the inner arc on the grid of
    :func:`inner_relocation`: columns R0 (a top-level series resistor, where the nested
    arc is a top-level term), then R, R', Q', n', Q, n (:func:`nested_exchange`'s).  With
    the inner CPE's resistance seen in the window R'_w = min(R', |Z_CPE'(w_lo)|) when R'
    exceeds ``CPE_OPEN`` x that (the inner arc a bare CPE there), a result is rebuilt as

    - *outer shell a resistor* (the outer CPE's n below ``CPE_FLAT`` and R + R'_w above
      ``CPE_OPEN`` x its |Z(w_lo)|: the DC current flows through the CPE): the branch's
      resistance R_tot = |Z_CPE(w_lo)|, the inner CPE's (Q', n') taken outside;
    - *a series resistance vanished* (R0 or R below ``R_GONE`` x the others): R0 = R0 + R,
      R_tot = R'_w, the inner CPE's (Q', n') taken outside -- the inner arc had taken the
      outer arc's place and the outer CPE a role of its own (n 0.05-0.5, or a capacitance
      across the whole cell);
    - *inner arc a bare CPE*: R_tot = R + R'_w, the outer CPE kept;

    then R' = s R_tot, R = (1 - s) R_tot for the shares s of ``INNER_SHARE`` and the inner
    arc at every place of ``INNER_PLACE`` (n' = ``INNER_N``).  The result itself where none
    of these holds (most results: the tournament skips it there).  Tried on every result
    after the relocation moves (``FitConfig.late_twins``).

    Measured (session 32, family benchmark ``R0-p(R1-p(R2,CPE2),CPE1)``, default fit,
    misses against the better of fastfit's and a tight scipy fit from the truth): 8 of its
    2,000 spectra's 17 misses (1.003-1.19x, AT_BOUND) were these three shapes -- the
    truth's small inner arc (0.2-50 %) lost -- and the local fit from the rebuilt result
    reaches the truth's optimum on each; as a late twin misses 17 -> 9 (benchmark seed),
    16 -> 12 and 11 -> 9 (unseen seeds 7 and 11, 1,000 spectra)."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    o = P.shape[1] - 6
    R, Rp, Qp, n_in, Q, n = (P[:, o + j] for j in range(6))
    R0 = P[:, 0] if o else np.zeros(len(P))
    with np.errstate(all="ignore"):
        z_in, z_out = _cpe_ohm(Qp, n_in, w_lo), _cpe_ohm(Q, n, w_lo)
        bare = Rp > CPE_OPEN * z_in
        Rp_w = np.where(bare, z_in, Rp)
        shell = (n < CPE_FLAT) & (R + Rp_w > CPE_OPEN * z_out)
        gone = (~shell & (o > 0)
                & ((R0 < R_GONE * (R + Rp_w)) | (R < R_GONE * (R0 + Rp_w))))
        R_tot = np.where(shell, z_out, np.where(gone, Rp_w, R + Rp_w))
        moved = shell | gone
        q0 = P.copy()
        q0[:, o + 4] = np.where(moved, Qp, Q)
        q0[:, o + 5] = np.where(moved, n_in, n)
        if o:
            q0[:, 0] = np.where(gone, R0 + R, R0)
        ok = (shell | gone | bare) & (R_tot > 0) & np.isfinite(R_tot)
    return _inner_grid(P, o, R_tot, ok, INNER_SHARE, w_lo, q0)


def nested_unfolds(tree) -> list:
    """([R0,] R, R', Q', n', Q, n) entries with :func:`nested_unfold` for every nested arc
    of :func:`nested_exchanges`, with R0 the first resistor of the top-level series group
    where the nested arc is one of its terms."""
    top_r, top_cpe = [], set()
    if tree[0] == "S":
        top_r = [int(c[2]) for c in tree[1] if c[0] == "E" and c[1] == "R"]
        top_cpe = {found[1] for found in map(branch_cpe, tree[1]) if found is not None}
    return [(((top_r[0],) if top_r and cols[4] in top_cpe else ()) + cols, nested_unfold)
            for cols, _ in nested_exchanges(tree)]


# the inner arc's shares R' / (R + R') in a merge (``nested_merge``), and the grid on which
# the merged arc's apex is found: MERGE_DECADES decades above w_lo, MERGE_STEPS per decade
MERGE_SHARE = (0.005, 0.05)
MERGE_PLACE = INNER_PLACE
MERGE_DECADES = 10
MERGE_STEPS = 20


def nested_merge(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """A nested arc's two CPEs merged into one arc with a small inner arc on the grid:
    columns R, R', Q', n', Q, n.  The result's branch impedance Z_b (the nested arc alone)
    has its apex, max -Im Z_b, at w_a; the outer CPE becomes the ZARC of resistance
    R_tot = R + R' with that apex -- Z = R_tot / (1 + (j w tau)^n), whose apex at
    w = 1/tau has -Im Z = (R_tot / 2) tan(n pi / 4), so n = (4 / pi) arctan(2 max(-Im Z_b)
    / R_tot) (clipped to [0.3, 1]) and Q = tau^n / R_tot with tau = 1 / w_a -- and the
    inner arc gets the shares s of ``MERGE_SHARE`` of R_tot at every place of
    ``INNER_PLACE`` (n' = ``INNER_N``; :func:`inner_relocation`'s grid).  Z_b is evaluated
    on ``MERGE_STEPS`` points per decade over ``MERGE_DECADES`` decades above w_lo.  Tried
    on every result after the relocation moves (``FitConfig.late_twins``).

    Nested misses of the family benchmark that survive the inner relocation (CONVERGED,
    1.002-1.03x the truth-started chi2) have the truth's small inner arc (0.1-1 % of the
    branch) lost and the branch split into two halves whose CPEs smear one arc (n' 0.6-
    0.67, n 0.76-0.84): relocating the inner arc with the smeared outer CPE kept falls
    back into that basin, from the merged ZARC it reaches the truth's optimum.  Measured
    (session 32, scratch A/B, default fit with :func:`nested_unfold`, misses against the
    better of fastfit's and a tight scipy fit from the truth): 2,000 spectra of the
    benchmark seed 9 -> 6; unseen seeds 7 and 11 (1,000) 12 -> 5 and 9 -> 3, wrong
    CONVERGED 4 -> 1 and 4 -> 0.  Without the unfold: 17 -> 13 and 16 -> 9."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    R, Rp, Qp, n_in, Q, n = (P[:, j, None] for j in range(6))
    w = np.asarray(w_lo, np.float64)[:, None] * 10.0 ** (
        np.arange(MERGE_DECADES * MERGE_STEPS + 1) / MERGE_STEPS)
    with np.errstate(all="ignore"):
        # (j w)^n = w^n e^{j n pi / 2}: a real power times a phase (no complex powers)
        inner = 1.0 / (1.0 / Rp + Qp * w ** n_in * np.exp(0.5j * np.pi * n_in))
        Zb = 1.0 / (1.0 / (R + inner) + Q * w ** n * np.exp(0.5j * np.pi * n))
        R_tot = P[:, 0] + P[:, 1]
        q0 = P.copy()
        q0[:, 4], q0[:, 5] = apex_zarc(w, Zb, R_tot)
        ok = np.all(np.isfinite(q0), axis=1) & (R_tot > 0) & (q0[:, 4] > 0)
    return _inner_grid(P, 0, R_tot, ok, MERGE_SHARE, w_lo, q0, MERGE_PLACE)


def nested_merges(tree) -> list:
    """(R, R', Q', n', Q, n) entries with :func:`nested_merge` for every nested arc of
    :func:`nested_exchanges` (one per arc)."""
    return _per_arc(tree, nested_merge)


def _per_arc(tree, fn) -> list:
    """(R, R', Q', n', Q, n) entries with ``fn`` for every nested arc of
    :func:`nested_exchanges`, one per arc (the first of its series resistors)."""
    out, seen = [], set()
    for cols, _ in nested_exchanges(tree):
        if cols[1:] not in seen:
            seen.add(cols[1:])
            out.append((cols, fn))
    return out


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
    return _per_arc(tree, cpe_swap)
