"""What the fit pipeline does beyond the plain multistart for a given circuit: which twin,
late-twin and exchange moves it tries, how loose a result must be to get the relocation
moves, and how long those moves run (the per-circuit parts of ``kernels.FitConfig``,
assembled by :mod:`._driver`).  Each rule carries the measurement that set it."""
from __future__ import annotations

import numpy as np

from ._arcs import chain_relocations, chain_splits, overlap_sharps, rcpe_arcs
from ._cauer import cauer_pairs, cauer_permute
from ._exchange import WARBURG_RESET, branch_exchange, exchange_pairs, t_role_exchange
from ._nested import (cpe_swaps, inner_relocations, nested_exchanges, nested_merges,
                      nested_unfolds)
from ._problem import FitProblem
from ._rcarc import rc_exchange
from ._relocplan import arc_like
from ._twins import (LATE_SHAPE_TWINS, LATE_TAIL_TWINS, SLOW_TWINS, circuit_twins,
                     randles_twins)

__all__ = ["SLOW_TWIN_ITER", "RELOC_REL", "RELOC_REL_NESTED", "RELOC_PAIRS", "RELOC_MID",
           "LATE_MID", "TAIL_TWIN_MID", "reloc_pairs", "reloc_rel", "reloc_mid", "late_twins",
           "late_mid", "twin_mid", "exchange_twins"]

SLOW_TWIN_ITER = 10      # further iterations of slow twins (T's) still running after the
                         # short trip (twin_mid; 50: 27 % fewer fits/s for the same fixes)
RELOC_REL = 0.2          # relative standard error above which a result gets the moves
RELOC_REL_NESTED = 0.1   # ... on circuits with a nested arc (see reloc_rel)
RELOC_PAIRS = 4          # chained two-term moves for results still loose after the single
                         # moves (kernels._reloc.pair_starts; see reloc_pairs)
RELOC_MID = 150          # further iterations of the relocation moves still running after
                         # RELOC_ITER, on circuits with two or more arc-like terms or a
                         # nested arc (see reloc_mid)
LATE_MID = 84            # further iterations of the late twins still running after their
                         # short trip (16 + 84 = 100 before the winner is picked; late_mid)
TAIL_TWIN_MID = 34       # further iterations of the twins still running after their short
                         # trip in a Randles branch with an anomalous Warburg (twin_mid)


def reloc_pairs(terms: list) -> int:
    """Chained two-term moves per loose result: RELOC_PAIRS where two terms can trade
    places in a way the single moves do not undo -- three or more shaped terms, or two of
    which one holds a diffusion element (T, W, Wo, G, ...); none for a single term or two
    arc-like ones (R||C, R||CPE, a CPE tail: the 8-band single moves cover them).

    Measured (scratch A/B, 2026-12-04, relocation as before plus these moves): misses
    against the truth-started fit `R0-p(R1,CPE1)-T1` 10 -> 5 of 300, three arcs 23 -> 19
    and 36 -> 26 of 400 (two seeds), two arcs + CPE tail 4 -> 3 and 16 -> 13, at 10-37 %
    fewer fits/s (the arcs' results are loose on most spectra: a small arc's n, L0 = 0).
    Two arcs: no change (5 -> 5) at -7 % fits/s on the seed circuit; R||C + CPE tail
    (basin already 1.000): -20 % fits/s; both skip them."""
    from fastfit.kernels import ELEMENTS

    if len(terms) < 2 or (len(terms) == 2 and all(arc_like(t.node, ELEMENTS) for t in terms)):
        return 0
    return RELOC_PAIRS


def reloc_rel(terms: list) -> float:
    """Relative standard error above which a result counts as loose and gets the
    relocation moves: ``RELOC_REL_NESTED`` on circuits with a nested arc (a parallel
    block inside a parallel block: coating / pore circuits), ``RELOC_REL`` otherwise.

    Measured (scratch A/B, 2026-12-05, nested family of benchmarks/bench_circuit_families.py,
    1,000 spectra of each of two seeds): nested misses are often *tight* results (the
    inner arc's parameters 5-20 % uncertain) that the moves never saw; at 0.1 misses
    39 -> 29 and 29 -> 26, wrong CONVERGED 15 -> 6 and 10 -> 7, at 1-7 % fewer fits/s
    (0.05: 28 misses, -14 %).  Elsewhere 0.1 cost more than it gained: two arcs 5 -> 3
    misses at -10 %, and the seed-study circuit (two arcs) 23 % fewer fits/s (0.3 -> 1.8 %
    of its results loose); two arcs + CPE tail 13 -> 10 at -19 %; the diffusion families
    (Wo tail, Gerischer, Randles-Woa / Wsa) 0-1 fewer misses at 9-22 % fewer fits/s."""
    if any(_nested_parallel(t.node) for t in terms):
        return RELOC_REL_NESTED
    return RELOC_REL


def _nested_parallel(node, inside: bool = False) -> bool:
    """Whether ``node`` holds a parallel block inside another parallel block."""
    if node[0] == "E":
        return False
    if node[0] == "P" and inside:
        return True
    return any(_nested_parallel(c, inside or node[0] == "P") for c in node[1])


def reloc_mid(terms: list) -> int:
    """Extra LM iterations for relocation moves still running after RELOC_ITER, before
    the tournament picks its winner: RELOC_MID on circuits with two or more arc-like terms
    (R||CPE chains, a CPE tail beside arcs) or a nested arc with the time-constant exchange
    among its move twins (``_nested.nested_exchanges``), none otherwise.

    Measured (scratch A/B, 2026-12-05, seed 23, 400 spectra per family, misses against the
    truth-started fit): the move that wins among overlapping arcs is often not ahead after
    50 iterations -- a start at 3.8x the leader's chi2 after 50 iterations ended 1 % below
    it after 140 -- so every move still running continues.  Three arcs 26 -> 15 misses,
    two arcs 6 -> 4 (10 -> 5 of the family benchmark's 1,000), two arcs + CPE tail
    14 -> 12, at 37 / 35 / 29 % fewer fits/s; seed circuit 10,000 spectra -5 % (few loose
    results).  100 iterations instead of 150: 17 / 4 / 13 misses.  No gain where a term
    holds a diffusion element or a nested arc (Randles-Wo 1 -> 1, Gerischer 2 -> 2,
    nested 13 -> 13 of 300) at up to 20 % fewer fits/s, hence the rule.  Nested arcs got
    it with the exchange twins (same day): with the exchange among the move twins but
    without the extension, the exchange candidate can lead after 50 iterations and end
    above where the nested swap would have ended (a spectrum of the test suite: 1.18x);
    with both, nested misses 16 -> 14 and 22 -> 19 (exchange alone) -> 15 of 400 (seeds
    23, 29)."""
    from fastfit.kernels import ELEMENTS

    if any(nested_exchanges(t.node) for t in terms):
        return RELOC_MID
    return RELOC_MID if sum(arc_like(t.node, ELEMENTS) for t in terms) >= 2 else 0


def late_twins(problem: FitProblem) -> tuple:
    """The smeared-arc twins of every R||CPE arc whose exponent is fitted (``_arcs``), the
    late small-tail twins of every short anomalous Warburg and the twins of a vanished
    Warburg or resistor beside every open anomalous one in a Randles branch whose time
    constant and exponent are fitted (``_randles.odd_tail``, ``_randles.revive_branch``)
    and, for the open one, the grid of places and exponents of a Warburg that is no
    diffusion tail (``_randles.shape_grid``),
    the relocation of every nested arc's inner arc whose R, R', Q', n' are fitted
    (``_nested.inner_relocation``), the rebuilt nested arc of a result that lost a role
    and the merge of a nested arc's CPEs, where none of the parameters they move is fixed
    (``_nested.nested_unfold``, ``_nested.nested_merge``), the swap of every nested arc's
    two CPEs whose Q and n are all fitted (``_nested.cpe_swap``), the relocation of every
    arc of a chain of three or more arcs and CPEs whose Q and n are fitted
    (``_arcs.arc_relocation``), and the
    merge-and-split of a chain of three or more arcs whose R, Q, n are all fitted
    (``_arcs.merge_split``), and the sharp twins of a broad arc beside another arc of a
    chain whose R, Q, n are all fitted (``_arcs.overlap_sharp``): what the user fixed
    stays where it is, so those twins would only cost."""
    fixed = np.asarray(problem.fixed, bool)
    tree = problem.circuit.tree
    # Randles columns R, R_w, tau, n, Q, n_q: the Warburg's tau and n are 2 and 3
    return (tuple(e for e in rcpe_arcs(tree) if not fixed[e[0][2]])
            + tuple(e for e in randles_twins(tree, LATE_TAIL_TWINS, LATE_SHAPE_TWINS)
                    if not fixed[list(e[0][2:4])].any())
            + tuple(e for e in inner_relocations(tree) if not fixed[list(e[0])].any())
            + tuple(e for e in nested_unfolds(tree) + nested_merges(tree)
                    if not fixed[list(e[0])].any())
            + tuple(e for e in cpe_swaps(tree) if not fixed[list(e[0][2:])].any())
            + tuple(e for e in chain_relocations(tree) if not fixed[list(e[0][1:3])].any())
            + tuple(e for e in chain_splits(tree) if not fixed[list(e[0])].any())
            + tuple(e for e in overlap_sharps(tree) if not fixed[list(e[0])].any()))


def late_mid(late: tuple) -> int:
    """LATE_MID where the circuit has late twins (``late``, from :func:`late_twins`): every
    late-twin candidate still running after the short trip (stage 1 + 2 iterations)
    continues that many more before the tournament picks its winner, else 0.

    The late twins put a small arc or an inner arc elsewhere (``_arcs``, ``_nested``); from
    there the way into the truth's basin is long, and after 16 iterations the candidate
    that would end lowest is often behind one that polishes the result's own basin.
    Measured (session 30, scratch A/B, family benchmark, default fit, misses against the
    truth-started fits): 2,000 spectra of the benchmark seed, LATE_MID 84 / 34 / 0: three
    arcs 16 / 24 / 40 misses (wrong CONVERGED 1 / 2 / 5) at 73 / 84 / 115 fits/s, nested
    25 / 30 / 39 at 472 / 510 / 621, two arcs + CPE tail 3 / 3 / 6 at 200 / 221 / 282,
    Randles-Wsa 14 / 15 / 19 at 638 / 646 / 758; R||CPE, two arcs, Gerischer, Wo tail,
    Randles-Wo / Ws / Woa and R||C + CPE the same misses at the same speed (few of their
    late-twin candidates run long); 184: three arcs 15 at 63 fits/s, nested 25 at 406.
    Unseen seed 7 (1,000 spectra, 84 / 0): three arcs 6 / 20, nested 14 / 18, two arcs +
    CPE tail 0 / 2, Randles-Wsa 2 / 4."""
    return LATE_MID if late else 0


def twin_mid(tree) -> int:
    """Further LM iterations of the twin tournaments' candidates still running after the
    short trip, before the winner is picked: ``TAIL_TWIN_MID`` where a Randles branch holds
    an anomalous Warburg (Woa, Wsa: the elements with late tail twins,
    ``_twins.LATE_TAIL_TWINS``), else ``SLOW_TWIN_ITER`` where the circuit has an element
    with slow twins (``_twins.SLOW_TWINS``), else 0.

    In a Randles branch the small-tail twins (``_randles.small_tail``) put a tail of
    0.2-3 % of R1 under the 0.5 % noise, where the landscape is rugged: after 16
    iterations the candidate that ends lowest is often behind one that polishes the
    result's own basin.  Measured (session 31, scratch A/B, family benchmark, default fit,
    misses against the better of fastfit's and a tight scipy fit from the truth, twin_mid
    0 / 34 / 84): Randles-Wsa 2,000 spectra of the benchmark seed 17 / 14 / 14 misses
    (wrong CONVERGED 9 / 8 / 8) at 363 / 337 / 319 fits/s, unseen seed 7 (1,000) 4 / 4 / 3
    (3 / 2 / 1); Randles-Woa 19 / 16 / 15 (9 / 9 / 9) at 643 / 565 / ~500 fits/s, seed 7
    9 / 5 / 5 (an AMD host about half as fast as the benchmarks' of session 30)."""
    if randles_twins(tree, LATE_TAIL_TWINS):
        return TAIL_TWIN_MID
    return SLOW_TWIN_ITER if any(fn in SLOW_TWINS for _, fn in circuit_twins(tree)) else 0


def exchange_twins(problem: FitProblem) -> tuple:
    """The time-constant exchange of every top-level arc and short Warburg in series, the
    role exchange of every top-level arc and T in series, the resistance re-sharing of
    every top-level arc and TLMQ in series, both exchanges and the resistance re-sharing
    (``_vanished.g_revival``) of every top-level arc and Gerischer G in series, and the
    exchange of every top-level arc and branch p(R' - X,
    CPE') (with a Randles branch's Warburg reset, ``_exchange.WARBURG_RESET``; the plain
    exchange where a Warburg parameter is fixed) or R||C arc in series (``_exchange``),
    and the role permutation of every
    top-level arc and nested arc in series (``_cauer``), where none of the parameters the
    exchange moves is fixed.

    The role permutation, measured (session 36, scratch A/B, 300 spectra of
    benchmarks/bench_circuits_beyond.py's generator, misses against the better of
    fastfit's and a tight scipy fit from the truth): R0-p(R1,CPE1)-p(R2-p(R3,CPE3),CPE2)
    on the benchmark's seed 32 -> 22 misses (worst 1.10x -> 1.05x), on seeds 7 and 11 35
    -> 27 (wrong CONVERGED 2 -> 0) and 33 -> 18; no result worse by more than 1e-6 except
    one that stays below the truth-started chi2 (0.9957x -> 0.9962x); no measurable cost
    (23.2 -> 24.2 fits/s, alternating in one process)."""
    from fastfit.kernels import ELEMENTS

    fixed = np.asarray(problem.fixed, bool)
    # columns R, Q, n, then the element's: the arc's tau needs R, Q, n; a Warburg's is
    # col 4 (its R and n are kept); the role and branch exchanges move every column
    whole = (t_role_exchange, branch_exchange, rc_exchange, cauer_permute,
             *WARBURG_RESET.values())
    tree = problem.circuit.tree
    out = []
    for cols, fn in exchange_pairs(tree, ELEMENTS) + cauer_pairs(tree):
        if fn in WARBURG_RESET.values() and fixed[list(cols[6:])].any():
            cols, fn = cols[:6], branch_exchange     # the Warburg held: the plain exchange
        if not fixed[list(cols if fn in whole else cols[:5])].any():
            out.append((cols, fn))
    return tuple(out)
