"""Twins of an R||CPE arc whose exponent has collapsed: the smeared arc.

Z = R / (1 + R Q (j w)^n), time constant tau = (R Q)^(1/n).  Among arc chains
(``R0-p(R1,CPE1)-p(R2,CPE2)`` and longer), a small arc beside a large one (0.5-3 % of the
total resistance, a decade or more from the large arc's apex) is often fitted as a broad
one: n 0.3-0.6 for a truth of 0.7-1, R 1.5-4x the truth and tau up to a decade off,
1.0003-1.18x the truth-started chi2, most of them reported CONVERGED or AT_BOUND with a
tight covariance (benchmarks/bench_circuit_families.py, 6,000 spectra over three seeds:
21 of 45 two-arc misses had such an arc).  A broad arc spreads over the decades where
the sharp one and the neighbouring arc's flank overlap, so a local fit cannot narrow it:
every step towards n = 1 first loses that flank.  The twins give the arc a sharp shape
(``SHARP_N``) at its time constant and around it (``SHARP_TAU``) with a smaller
resistance (``SHARP_R``): Q = tau'^n' / R'.  They run on every result after the
relocation moves (``FitConfig.late_twins``; before them, a result they improved took
other moves and once ended worse).  Arcs with n >= ``SMEAR_N`` (small arcs: n >=
``SHARPEN_N``) keep their result (no
twin: ``kernels._moves.twin_moves`` leaves such results out), so circuits whose arcs are
sharp pay little (an arc whose exponent the user fixed gets none: ``_driver``).

Session 22: small arcs (below ``SHARPEN_SHARE`` of all the circuit's resistances) get
the twins below ``SHARPEN_N`` (0.75), and the twins are also at tau x 10^-0.5 and R x
0.5.  Two-arc misses that end CONVERGED 1.0006-1.005x above the truth-started chi2 had
the small arc (1-2 % of the resistance) at n 0.70-0.74 where the optimum has it at n = 1
with half the resistance, at or a half decade below its time constant; the twins at
R / 4 or tau x 0.1 / 10 did not reach it.  Measured (scratch A/B, default fit, 1,000
spectra per seed, family benchmark's spectra), with the gate at 0.75 for every arc: two
arcs 5 -> 3, 3 -> 2 (seeds 41, 43) and 5 -> 4 (seed 47, unseen while choosing), three
arcs 24 -> 21, nested 17 -> 15 (seed 41) at 6-12 % fewer fits/s -- but the seed-study
circuit (benchmarks/bench_fit.py's spectra, n 0.75-0.98) lost 19 % of its fits/s for
no gain, so the wider gate is for small arcs only: two arcs 5 -> 3, 3 -> 3, 5 -> 4,
nested 17 -> 17, the seed circuit and R||CPE within 2 % (noise).  The gate alone, or
without the half-decade place, fixed fewer (5 -> 5; 3 -> 3 on seed 43).  Each
function maps the fitted (n, k) columns (R, Q, n, then what it names) in physical units
and the lowest used angular frequency ``w_lo`` to a list of (n, k) starting points, as the
twins of :mod:`._twins` do."""
from __future__ import annotations

import numpy as np

__all__ = ["SMEAR_N", "SHARPEN_N", "SHARPEN_SHARE", "SHARP_N", "SHARP_TAU", "SHARP_R",
           "smeared_arc", "rcpe_arcs", "rcpe_columns", "branch_cpe", "MIN_CHAIN_ARCS",
           "MIN_CHAIN_TERMS", "CHAIN_ARC_PLACE", "CHAIN_ARC_N", "RUNAWAY_R", "arc_relocation",
           "chain_relocations", "OVERLAP_DEC", "SPLIT_BELOW_N", "SPLIT_SHIFT", "SPLIT_N",
           "MAX_SPLIT_ARCS", "merge_split", "chain_splits", "apex_zarc", "PAIR_DEC",
           "PAIR_SHARE", "PAIR_PLACE", "PAIR_N", "PAIR_R0", "APEX_HALF", "APEX_STEPS",
           "pair_merge", "pair_merges", "chain_arc_pairs", "OVERLAP_N", "OVERLAP_TAU", "OVERLAP_R",
           "overlap_sharp", "overlap_sharps"]

SMEAR_N = 0.65                 # an arc below this exponent is smeared (gets twins) ...
SHARPEN_N = 0.75               # ... or below this one and ...
SHARPEN_SHARE = 0.05           # ... this share of the resistances (the twins' gates),
SHARP_N = (1.0, 0.85)          # ... with these exponents,
SHARP_TAU = (0.1, 10 ** -0.5, 1.0, 10.0)   # its time constant scaled by these,
SHARP_R = (0.25, 0.5)          # its resistance by these

MIN_CHAIN_TERMS = 3            # chains of this many shaped terms (R||CPE arcs, CPEs) ...
MIN_CHAIN_ARCS = 2             # ... of which this many arcs or more have each arc ...
CHAIN_ARC_PLACE = (-0.5, -1.5, -2.5, -3.5, -4.5, -5.5)   # ... put at w_lo tau = 10^place
CHAIN_ARC_N = (0.7, 0.95)      # with these exponents
RUNAWAY_R = 100.0              # an arc's R above this x the other DC resistances: run off


def smeared_arc(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Sharp twins of a smeared R||CPE arc (columns R, Q, n, then the circuit's other
    resistances): for every n' in ``SHARP_N``, tau' = tau x ``SHARP_TAU`` and R' = R x
    ``SHARP_R``, Q' = tau'^n' / R'; the result itself where n >= ``SMEAR_N`` unless n <
    ``SHARPEN_N`` and R is below ``SHARPEN_SHARE`` of all the resistances."""
    R, Q, n = (np.asarray(p[:, i], np.float64) for i in range(3))
    others = np.asarray(p[:, 3:], np.float64).sum(axis=1)
    small = R < SHARPEN_SHARE * (R + others)
    smeared = (((n < SMEAR_N) | ((n < SHARPEN_N) & small))
               & (R > 0) & (Q > 0) & (n > 0))
    with np.errstate(all="ignore"):
        ln_tau = np.log(np.where(smeared, R * Q, 1.0)) / np.where(smeared, n, 1.0)
    out = []
    for n_new in SHARP_N:
        for m in SHARP_TAU:
            for r in SHARP_R:
                q = np.array(p, np.float64, copy=True)
                R_new = R * r
                with np.errstate(all="ignore"):
                    Q_new = np.exp(n_new * (ln_tau + np.log(m))) / R_new
                q[:, 0] = np.where(smeared, R_new, R)
                q[:, 1] = np.where(smeared, Q_new, Q)
                q[:, 2] = np.where(smeared, n_new, n)
                out.append(q)
    return out


def rcpe_arcs(tree) -> list[tuple]:
    """((R, Q, n, the other resistors' R...) parameter indices, :func:`smeared_arc`) for
    every parallel of exactly one resistor and one CPE in the circuit ``tree``, at any
    depth."""
    arcs, resistors = [], []

    def walk(node):
        if node[0] == "E":
            if node[1] == "R":
                resistors.append(int(node[2]))
            return
        cols = rcpe_columns(node)
        if cols is not None:
            arcs.append(cols)
        for c in node[1]:
            walk(c)

    walk(tree)
    return [(cols + tuple(r for r in resistors if r != cols[0]), smeared_arc)
            for cols in arcs]


def rcpe_columns(node) -> tuple | None:
    """(R, Q, n) parameter indices where ``node`` is a parallel of exactly one resistor
    and one CPE (an R||CPE arc), else None."""
    if node[0] != "P" or len(node[1]) != 2:
        return None
    r = [c for c in node[1] if c[0] == "E" and c[1] == "R"]
    x = [c for c in node[1] if c[0] == "E" and c[1] == "CPE"]
    if len(r) != 1 or len(x) != 1:
        return None
    q = int(x[0][2])
    return int(r[0][2]), q, q + 1


def branch_cpe(node) -> tuple | None:
    """(series branch node, CPE's Q index) where ``node`` is a parallel of exactly one
    series branch and one CPE -- a Randles cell p(R-W, CPE) or a nested arc
    p(R-p(R', CPE'), CPE) -- else None."""
    if node[0] != "P" or len(node[1]) != 2:
        return None
    branch = [c for c in node[1] if c[0] == "S"]
    cpe = [c for c in node[1] if c[0] == "E" and c[1] == "CPE"]
    if len(branch) != 1 or len(cpe) != 1:
        return None
    return branch[0], int(cpe[0][2])


def arc_relocation(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """An arc of an arc chain put elsewhere in the window: columns R, Q, n of the arc, then
    the chain's other DC resistances (R0 and the other arcs' R).  For every place in
    ``CHAIN_ARC_PLACE`` and exponent n' in ``CHAIN_ARC_N``: tau' = 10^place / w_lo,
    Q' = tau'^n' / R, R kept -- or, where R has run off (above ``RUNAWAY_R`` x the other
    DC resistances: the arc a bare CPE), R' = their sum.  Tried on every result after the
    relocation moves (``FitConfig.late_twins``).

    Three-arc misses of the family benchmark (``L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)``,
    0.5 % noise) often end with one small arc (a few % of the DC resistance, under or
    beside a large one) at another time constant than the truth's, with the large arcs
    sharing out its resistance: no local fit moves it across the large arc's apex, and
    the relocation moves (``kernels._reloc``) move whole terms with magnitudes from the
    scan, which re-splits the large arcs too.  Measured as late twins on the arcs below
    20 % of the DC resistance (session 20, scratch A/B): misses 31 -> 24 of 1,000 (seed
    41, worst 2.44 -> 1.05x), 10 -> 8 of 500 (seed 43) and 21 -> 16 of 500 (seed 47,
    unseen while choosing) at 10-12 % fewer fits/s; two arcs 5 -> 5 of 1,000.

    Session 22: two arcs and a CPE tail (``R0-p(R1,CPE1)-p(R2,CPE2)-CPE3``) end the same
    way, and also with an arc of a third of the resistance over the other arc and the
    tail smeared (n 0.35; 7.3x the truth-started chi2, ABOVE_ATTAINABLE) or with an arc's
    R run off to 1e291 (1.23x, AT_BOUND): every arc of such a chain, not only the small
    ones, and a run-off R revived.  Measured (scratch A/B, default fit, 1,000 spectra per
    seed): misses 4 -> 1, 2 -> 1 (seeds 41, 43) and 9 -> 3 (seed 47, unseen while
    choosing; wrong CONVERGED 4 -> 0) at 10-26 % fewer fits/s; three arcs 21 -> 20 (seed
    41) at 8 % fewer."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    others = P[:, 3:].sum(axis=1)
    R = np.where(P[:, 0] > RUNAWAY_R * others, others, P[:, 0])
    ok = (R > 0)[:, None]
    out = []
    with np.errstate(all="ignore"):
        for place in CHAIN_ARC_PLACE:
            tau = 10.0 ** place / w_lo
            for n in CHAIN_ARC_N:
                q = P.copy()
                q[:, 0] = R
                q[:, 2] = n
                q[:, 1] = tau ** n / R
                out.append(np.where(ok & np.isfinite(q), q, P))
    return out


def chain_relocations(tree) -> list[tuple]:
    """((R, Q, n, other DC resistances...) parameter indices, :func:`arc_relocation`) for
    every top-level R||CPE arc of a series chain of at least ``MIN_CHAIN_TERMS`` shaped
    terms (top-level R||CPE arcs and CPEs), at least ``MIN_CHAIN_ARCS`` of them arcs; the
    other DC resistances are the chain's top-level resistors and the other arcs' R.
    Empty for every other circuit."""
    if tree[0] != "S":
        return []
    arcs = [c for c in (rcpe_columns(node) for node in tree[1]) if c is not None]
    cpes = [node for node in tree[1] if node[0] == "E" and node[1] == "CPE"]
    if len(arcs) < MIN_CHAIN_ARCS or len(arcs) + len(cpes) < MIN_CHAIN_TERMS:
        return []
    resistors = [int(node[2]) for node in tree[1] if node[0] == "E" and node[1] == "R"]
    out = []
    for arc in arcs:
        others = tuple(resistors + [a[0] for a in arcs if a is not arc])
        out.append((arc + others, arc_relocation))
    return out


OVERLAP_DEC = 1.0              # two arcs within this many decades of each other ...
SPLIT_BELOW_N = 0.85           # ... and a third arc below this exponent: merge and split,
SPLIT_SHIFT = (-1.0, -0.5, 0.5, 1.0)   # the split arcs this many decades from its place,
SPLIT_N = 0.9                  # with this exponent
MAX_SPLIT_ARCS = 3             # chains of more arcs: none (the candidates grow as m^3)


def merge_split(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Merge two overlapping arcs of a chain and split a broad third one: columns R, Q, n
    of every arc of the chain (m arcs, 3 m columns).  For every ordered pair (i, j) whose
    time constants are within ``OVERLAP_DEC`` decades and every other arc k below
    ``SPLIT_BELOW_N``: j takes R_i + R_j at its own time constant and exponent, i and k
    each R_k / 2 and n = ``SPLIT_N``, i at log10 tau_k + s and k at log10 tau_k + s or
    at tau_k, for every s in ``SPLIT_SHIFT`` (two candidates per shift; the result
    itself where the gates fail).

    Three-arc misses of the family benchmark that end 1.3-2.1x above the truth-started
    chi2 (ABOVE_ATTAINABLE) have two arcs fitted over one of the truth's (their time
    constants 0.3-0.5 decades apart) and the third one broad (n 0.43-0.65) over the
    truth's other two; a local fit cannot pull one arc across the others, and the arc
    relocation (:func:`arc_relocation`) moves one arc but leaves the broad one broad.
    Measured (session 22, scratch A/B, default fit, 1,000 spectra per seed): three arcs
    29 -> 25 (seed 43), 25 -> 21 (seed 47, unseen while choosing; worst 1.28x -> 1.05x),
    20 -> 20 (seed 41) at 7 % fewer fits/s."""
    P = np.asarray(p, np.float64)
    m = P.shape[1] // 3
    R, Q, n = P[:, 0::3], P[:, 1::3], P[:, 2::3]
    with np.errstate(all="ignore"):
        lt = np.log10(R * Q) / n                     # log10 tau of every arc
    finite = np.all(np.isfinite(lt) & (R > 0), axis=1)
    out = []
    for i in range(m):
        for j in range(m):
            for k in range(m):
                if len({i, j, k}) < 3:
                    continue
                gate = (finite & (np.abs(lt[:, i] - lt[:, j]) < OVERLAP_DEC)
                        & (n[:, k] < SPLIT_BELOW_N))[:, None]
                R_j = R[:, j] + R[:, i]
                R_k = R[:, k] / 2
                for s in SPLIT_SHIFT:
                    for lt_k in (lt[:, k] + s, lt[:, k]):
                        q = P.copy()
                        with np.errstate(all="ignore"):
                            q[:, 3 * j] = R_j
                            q[:, 3 * j + 1] = 10.0 ** (lt[:, j] * n[:, j]) / R_j
                            q[:, 3 * i: 3 * i + 3] = np.stack(
                                [R_k, 10.0 ** ((lt[:, k] + s) * SPLIT_N) / R_k,
                                 np.full_like(R_k, SPLIT_N)], axis=1)
                            q[:, 3 * k: 3 * k + 3] = np.stack(
                                [R_k, 10.0 ** (lt_k * SPLIT_N) / R_k,
                                 np.full_like(R_k, SPLIT_N)], axis=1)
                        out.append(np.where(gate & np.all(np.isfinite(q), axis=1,
                                                          keepdims=True), q, P))
    return out


def chain_splits(tree) -> list[tuple]:
    """[((R, Q, n of every arc) parameter indices, :func:`merge_split`)] for a series chain
    of three to ``MAX_SPLIT_ARCS`` top-level R||CPE arcs; empty for every other circuit.
    The candidates grow as m^3 with the number of arcs m (48 for three, 192 for four);
    measured on three arcs only.  (One triple per row -- the arc of lowest exponent split,
    the closest pair of the others merged, 16 candidates for any m -- fixed 2 fewer of
    1,000 three-arc spectra, seed 47.)"""
    if tree[0] != "S":
        return []
    arcs = [c for c in (rcpe_columns(node) for node in tree[1]) if c is not None]
    if not 3 <= len(arcs) <= MAX_SPLIT_ARCS:
        return []
    return [(tuple(c for arc in arcs for c in arc), merge_split)]


def apex_zarc(w: np.ndarray, Z: np.ndarray, R_tot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q, n) of the ZARC R_tot / (1 + R_tot Q (j w)^n) with the apex of ``Z`` ((m, k)
    impedances on the (m, k) angular frequencies ``w``): at w_a = the w of max -Im Z,
    tau = 1 / w_a; a ZARC's apex has -Im Z = (R_tot / 2) tan(n pi / 4), so
    n = (4 / pi) arctan(2 max(-Im Z) / R_tot), clipped to [0.3, 1], and Q = tau^n / R_tot."""
    rows = np.arange(len(Z))
    k = np.argmax(-Z.imag, axis=1)
    with np.errstate(all="ignore"):
        n = np.clip(4.0 / np.pi * np.arctan(2.0 * -Z.imag[rows, k] / R_tot), 0.3, 1.0)
        return (1.0 / w[rows, k]) ** n / R_tot, n


PAIR_DEC = 1.0                 # two arcs whose time constants are this close are merged ...
PAIR_SHARE = (0.005,)          # ... into one ZARC, with a small arc of these shares ...
PAIR_PLACE = (-1.0, -7.0 / 3.0, -11.0 / 3.0, -5.0)   # ... put at w_lo tau = 10^place
PAIR_N = 0.8                   # ... with this exponent; a series resistor below ...
PAIR_R0 = 1e-3                 # ... this share of the pair's resistance is set to it
APEX_HALF = 3.0                # the pair's apex is sought this many decades either side ...
APEX_STEPS = 20                # ... of its mean time constant, on this many points a decade


def pair_merge(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Two overlapping arcs of a chain merged, and a small arc put back on a grid: columns
    R, Q, n of the two arcs.  Where their time constants are within ``PAIR_DEC`` decades,
    the first arc becomes the ZARC of R_tot = R_1 + R_2 with the apex of the pair's summed
    impedance (:func:`apex_zarc`, sought on ``APEX_STEPS`` points a decade within
    ``APEX_HALF`` decades of their mean log tau) and (1 - s) R_tot, the second one s R_tot
    for every share s of ``PAIR_SHARE`` at every place of ``PAIR_PLACE`` (tau = 10^place /
    w_lo, n = ``PAIR_N``); the result itself elsewhere.  A seventh column, the chain's
    series resistor, is raised to ``PAIR_R0`` R_tot where it is below that.  Tried with the
    relocation moves on loosely determined results (``FitConfig.move_twins``).

    Two-arc misses of the family benchmark (``R0-p(R1,CPE1)-p(R2,CPE2)``) end with the
    truth's large arc split between the two fitted arcs (time constants 0.01-1 decade
    apart, one exponent often at its bound 1, AT_BOUND) and its small arc (0.15-0.6 % of
    the resistance) lost: no local fit pulls one of two overlapping arcs out from under
    the other.  Measured (session 32, scratch A/B, default fit, misses against the better
    of fastfit's and a tight scipy fit from the truth): 2,000 spectra of the benchmark
    seed 10 -> 5, unseen seeds 7 and 11 (1,000) 4 -> 2 and 4 -> 2, at 11 % fewer fits/s;
    the seed-study circuit (benchmarks/bench_fit.py's spectra) the same results at the
    same speed (few of its results are loose).  As a late twin of every result it fixed
    as many or one more (10 -> 5, 4 -> 1, 4 -> 1) but cost the seed-study circuit 6 %;
    with a second share (5 %) 10 -> 3-4 at 23 % fewer fits/s (as a late twin 14-20 %, the
    seed-study circuit 14-18 %)."""
    if w_lo is None:
        return []
    P = np.asarray(p, np.float64)
    with np.errstate(all="ignore"):
        R_tot = P[:, 0] + P[:, 3]
        lt1 = np.log10(P[:, 0] * P[:, 1]) / P[:, 2]
        lt2 = np.log10(P[:, 3] * P[:, 4]) / P[:, 5]
        gate = (np.abs(lt1 - lt2) < PAIR_DEC) & np.isfinite(R_tot) & (R_tot > 0)
        if not gate.any():
            return []
        G = P[gate]
        mid = -(lt1[gate] + lt2[gate])[:, None] / 2.0
        half = int(APEX_HALF * APEX_STEPS)
        w = 10.0 ** (mid + np.arange(-half, half + 1)[None, :] / APEX_STEPS)
        Z = sum(G[:, j, None] / (1.0 + G[:, j, None] * G[:, j + 1, None] * w ** G[:, j + 2, None]
                                 * np.exp(0.5j * np.pi * G[:, j + 2, None])) for j in (0, 3))
        Q_a, n_a = apex_zarc(w, Z, R_tot[gate])
        base = P.copy()
        base[gate, 1], base[gate, 2] = Q_a, n_a
        if P.shape[1] > 6:               # the series resistor, revived where it vanished
            base[:, 6] = np.maximum(P[:, 6], PAIR_R0 * R_tot)
        out = []
        for share in PAIR_SHARE:
            for place in PAIR_PLACE:
                tau = 10.0 ** place / np.asarray(w_lo, np.float64)
                q = base.copy()
                q[:, 0] = (1.0 - share) * R_tot
                q[:, 1] = base[:, 1] * R_tot / q[:, 0]      # the merged arc's tau kept
                q[:, 3] = share * R_tot
                q[:, 5] = PAIR_N
                q[:, 4] = tau ** PAIR_N / q[:, 3]
                out.append(np.where((gate & np.all(np.isfinite(q), axis=1))[:, None], q, P))
    return out


def pair_merges(tree) -> list[tuple]:
    """[((R, Q, n of two arcs, then the chain's first series R if it has one) parameter
    indices, :func:`pair_merge`)] for every pair of top-level R||CPE arcs of a series
    chain whose other terms are R, L or bare CPEs (a capacitive tail); empty for every
    other circuit.  Measured on two arcs (session 32), three arcs and two arcs + CPE tail
    (session 33, scratch A/B, misses against the fit from the truth): three arcs 14 -> 11
    of 2,000 (benchmark seed) and 6 -> 3 of 1,000 (seed 7) at 12-13 % fewer fits/s; two
    arcs + CPE tail 3 -> 1 and 0 -> 0 at the same speed; no result worse."""
    pairs = chain_arc_pairs(tree)
    if not pairs:
        return []
    series_r = [int(node[2]) for node in tree[1] if node[0] == "E" and node[1] == "R"][:1]
    return [(cols + tuple(series_r), pair_merge) for cols in pairs]


def chain_arc_pairs(tree) -> list[tuple]:
    """(R, Q, n of one arc, then of another) parameter indices of every pair of top-level
    R||CPE arcs of a series chain whose other terms are R, L or bare CPEs; empty for every
    other circuit."""
    if tree[0] != "S":
        return []
    arcs = [c for c in (rcpe_columns(node) for node in tree[1]) if c is not None]
    other = [node for node in tree[1]
             if not (node[0] == "E" and node[1] in ("R", "L", "CPE"))
             and rcpe_columns(node) is None]
    if len(arcs) < 2 or other:
        return []
    return [arcs[i] + arcs[j] for i in range(len(arcs)) for j in range(i + 1, len(arcs))]


OVERLAP_N = 0.8                       # an arc below this exponent, within PAIR_DEC of
                                      # another arc, gets sharp twins (overlap_sharp) ...
OVERLAP_TAU = (10 ** -0.5, 1.0, 10 ** 0.5)   # ... at n = 1, its tau times these,
OVERLAP_R = (1.0, 0.5)                # ... and its R times these


def overlap_sharp(p: np.ndarray, w_lo=None) -> list[np.ndarray]:
    """Sharp twins of a broad arc beside another arc: columns R, Q, n of two arcs.  Where
    their time constants are within ``PAIR_DEC`` decades, each arc whose exponent is
    below ``OVERLAP_N`` is set to n = 1 at tau x ``OVERLAP_TAU`` with R x ``OVERLAP_R``
    (Q = tau' / R'), the other arc kept; the result itself elsewhere.  A late twin of
    every result (``_config.late_twins``).

    Two-arc misses left by the other twins (session 34, family benchmark): the two arcs
    0.5-1 decade apart, one of them broad (n 0.70-0.76, above the smeared-arc gates
    ``SMEAR_N`` / ``SHARPEN_N``, or a large arc) where the optimum has it near n = 1 and
    its R up to 2.5x smaller -- one of them 1.038x above the truth-started fit and
    CONVERGED with a tight covariance.  From the result a local fit reaches the optimum
    from these twins (offline: from 2-24 of a grid of 30 per miss).  Measured (scratch
    A/B, default fit, misses against the better of fastfit's and a tight scipy fit from
    the truth): two arcs 5 -> 3 (2,000 spectra, benchmark seed; its wrong CONVERGED one
    fixed), 2 -> 1 and 2 -> 1 (1,000 each, seeds 7 and 11), three arcs 11 -> 10 and 3 ->
    3 (seed 7), two arcs + CPE tail unchanged, no result worse anywhere; the seed-study
    circuit (10,000 spectra, alternating in one process) 6,334 -> 6,112 fits/s (medians
    of three, within this host's spread), no result changed.  The smeared-arc gate
    widened to n < 0.8 for every arc fixed the same misses but cost the seed-study
    circuit, whose arcs sit at n = 0.75-0.98, 74 % of its fits/s; with the overlap gate
    only 0.5 % of its results get these twins."""
    P = np.asarray(p, np.float64)
    with np.errstate(all="ignore"):
        lt1 = np.log10(P[:, 0] * P[:, 1]) / P[:, 2]
        lt2 = np.log10(P[:, 3] * P[:, 4]) / P[:, 5]
        near = np.abs(lt1 - lt2) < PAIR_DEC
        out = []
        for j, lt in ((0, lt1), (3, lt2)):
            gate = near & (P[:, j + 2] < OVERLAP_N) & (P[:, j] > 0)
            if not gate.any():
                continue
            for m in OVERLAP_TAU:
                for r in OVERLAP_R:
                    q = P.copy()
                    q[:, j] = P[:, j] * r
                    q[:, j + 1] = 10.0 ** lt * m / q[:, j]
                    q[:, j + 2] = 1.0
                    out.append(np.where((gate & np.all(np.isfinite(q), axis=1))[:, None], q, P))
    return out


def overlap_sharps(tree) -> list[tuple]:
    """[((R, Q, n of two arcs) parameter indices, :func:`overlap_sharp`)] for every pair of
    arcs of :func:`chain_arc_pairs`."""
    return [(cols, overlap_sharp) for cols in chain_arc_pairs(tree)]
