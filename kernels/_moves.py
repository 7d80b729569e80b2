"""The moves that follow the multistart (:mod:`fastfit.kernels._pipeline`): twin
moves, relocation moves and escalation, each a tournament of candidate starts run on the
compiled LM programs; never worse than the result they replace."""
from __future__ import annotations

import numpy as np

from ._fit import FitConfig, FitOut, fresh_state, lm_continue, lm_rescue
from ._lm import RUNNING, LMState
from ._reloc import RelocTables, pair_starts, relocation_starts
from ._states import (SMALL_CHUNK, better_of, host_state, put_rows, rescue_size, row_groups,
                      take_rows)

__all__ = ["suspicious", "tournament", "run_rows", "escalate", "loose_rows", "twin_moves",
           "relocate", "TWIN_ROUNDS", "TWIN_GAIN", "MOVE_DX", "MOVE_GAIN", "moved_rows"]

SEGMENT = 10       # LM iterations of a tournament's first call before the rows still
                   # running are regrouped (run_rows); each later segment doubles
SKIPPED = 9        # status of a tournament candidate that is not run (never a result's)
TWIN_ROUNDS = 3    # twin-move rounds; each on the results the previous round improved
TWIN_GAIN = 1e-4   # ... by more than this relative chi2 (a basin change; 28 % of the T
                   # fits gain > 1e-6 from a twin, a polish of the same optimum; a T whose
                   # B went to 0 first moved 6e-4 to a basin whose twins held the truth)
MOVE_DX = 2.3      # ... or by any gain above MOVE_GAIN with a free parameter moved by more
MOVE_GAIN = 1e-9   # than this in its fitted coordinate (ln p: a decade); see moved_rows


def suspicious(out: FitOut, free, logmask, chi2_limit) -> np.ndarray:
    """(B,) bool: results that get more starts (see the module docstring)."""
    flag = (out.status == RUNNING) | (out.min_pivot < 1e-15) | ~np.isfinite(out.cost)
    # a positive (log-space) parameter at its bound or vanished (R, Q, L, tau -> 0): a
    # term switched off, the typical trace of a wrong basin.  An exponent at n = 1 is not
    # (a legitimate optimum, and frequent).
    positive = np.asarray(free) & np.asarray(logmask)
    flag |= np.any(out.at_bound & positive[None, :], axis=1)
    if chi2_limit is not None:
        flag |= 2.0 * out.cost > np.asarray(chi2_limit)
    return flag


def tournament(tree, cfg: FitConfig, st: LMState, idx, make_cands, short: int, data, free,
                p_fixed, mid: int = 0) -> LMState:
    """Run the candidate starts of the spectra ``idx`` for ``short`` iterations each,
    continue the best per spectrum to the end of the budget, and keep it where it beats
    the state it would replace.  ``make_cands(rows)`` returns the candidates (a list of
    (len(rows), P) physical points) of chunk rows ``rows``.  With ``mid`` > 0, every
    candidate still running after ``short`` iterations continues ``mid`` more before the
    winner is picked.  A candidate equal to the state's own point (a twin that does not
    apply to that result) is not run where the state has converged; where one was, a
    winner that does not beat the state after ``short`` iterations stops there (the own
    point would have won).  Every (candidate, spectrum) pair is one row of a flat batch
    (:func:`run_rows`), so few spectra with many candidates fill whole compiled calls
    instead of padded groups."""
    lm = cfg.logmask
    lo, hi = data[4], data[5]
    B = p_fixed.shape[0]
    idx = np.asarray(idx)
    n = idx.size
    best = take_rows(st, idx)
    cands = list(make_cands(idx)) if n else []
    if not cands:
        return st
    S = len(cands)
    rows = np.tile(idx, S)                             # candidate-major: k = j * n + i
    s0 = fresh_state(lm, np.concatenate(cands), lo[rows], hi[rows], free, p_fixed[rows])
    # a candidate that is the state's own point (a twin that does not apply there) is not
    # run where that state has converged: it would only polish the result (cost stays
    # inf, it never wins).  A state still running (budget exhausted) does run from itself.
    x_best = np.tile(np.asarray(best.x), (S, 1))
    same = (np.all(np.abs(s0.x - x_best) <= 1e-12 * (1.0 + np.abs(x_best)), axis=1)
            & np.tile(np.asarray(best.status) != RUNNING, S))
    s0 = s0._replace(status=np.where(same, SKIPPED, s0.status).astype(np.int32))
    var = run_rows(tree, cfg, s0, rows, short, data, free, B)
    used = short
    if mid > 0:
        var = run_rows(tree, cfg, var, rows, mid, data, free, B)    # only the running ones
        used = short + mid
    win = np.argmin(var.cost.reshape(S, n), axis=0) * n + np.arange(n)
    lead = take_rows(var, win)
    # where the state's own point was among the candidates, it wins unless beaten
    # already: a worse winner does not run on (as the skipped candidate would have won)
    stay = same.reshape(S, n).any(axis=0) & ~(lead.cost < np.asarray(best.cost))
    lead = lead._replace(status=np.where(stay, SKIPPED, lead.status).astype(np.int32))
    remaining = max(cfg.iter_stage1 + cfg.iter_stage2 + cfg.iter_stage3 - used, 0)
    if remaining > 0:
        lead = run_rows(tree, cfg, lead, idx, remaining, data, free, B)
    return put_rows(st, idx, better_of(lead, best))


def run_rows(tree, cfg: FitConfig, state: LMState, rows, iters: int, data, free,
             B: int) -> LMState:
    """Continue the LM states ``state`` (N rows; row i fits chunk spectrum ``rows[i]``)
    for up to ``iters`` iterations where still running, with the programs a chunk of ``B``
    compiles anyway: whole-chunk calls while at least half a chunk is left, then rescue-size
    groups (``_states.rescue_size``).  Rows are independent, so a state's result does not
    depend on which others share its call.

    The budget is spent in segments of ``SEGMENT``, 2 ``SEGMENT``, 4 ``SEGMENT``, ...
    iterations, the rows still running regrouped between them: a compiled call iterates
    until its slowest row stops, and the rows that stopped early would otherwise be carried
    (masked, at full cost) to the end of the budget.  Each row gets the same iterations as
    from one call of ``iters``, so the results are the same."""
    out = state
    seg = SEGMENT
    while iters > 0:
        n = min(seg, iters)
        out, live = _run_segment(tree, cfg, out, rows, n, data, free, B)
        if not live:
            break
        iters -= n
        seg *= 2
    return out


def _run_segment(tree, cfg: FitConfig, state: LMState, rows, iters: int, data, free, B: int):
    """One call per group of the rows still running, ``iters`` iterations; returns the
    new states and whether any row is still running."""
    lm = cfg.logmask
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    live = np.nonzero(np.asarray(state.status) == RUNNING)[0]
    if not live.size or iters <= 0:
        return state, False
    out = LMState(*(np.array(leaf) for leaf in state))     # one copy, written in place
    pos = 0
    calls = []
    if B > SMALL_CHUNK:
        while live.size - pos >= B // 2:
            calls.append((next(row_groups(live[pos:pos + B], B)), lm_continue))
            pos += B
    if pos < live.size:
        calls += [(g, lm_rescue) for g in row_groups(live[pos:], rescue_size(cfg, B,
                                                                             live.size - pos))]
    for g, fn in calls:
        sub = host_state(fn(tree, lm, take_rows(out, g), *(a[rows[g]] for a in data), free,
                            iters, *tols))
        for leaf, v in zip(out, sub):
            leaf[g] = v
    return out, bool(np.any(np.asarray(out.status)[live] == RUNNING))


def escalate(tree, cfg: FitConfig, st: LMState, out: FitOut, flag, starts, pool, data, free,
              p_fixed) -> LMState:
    """Refit the flagged spectra from more starts (a tournament; the winner runs to the end
    of the budget).  Never worse than the result it replaces."""
    idx = np.nonzero(flag)[0]
    positive = (np.asarray(free) & np.asarray(cfg.logmask))[None, :]

    def make_cands(rows):
        # the result with its offending parameters from each start, then the scan pool
        bad = out.at_bound[rows] & positive
        return ([np.where(bad, p0[rows], out.p[rows]) for p0 in starts]
                + [p[rows] for p in pool])

    return tournament(tree, cfg, st, idx, make_cands, cfg.iter_stage1 + cfg.iter_stage2,
                       data, free, p_fixed)


def loose_rows(out: FitOut, free, logmask, n_res, rel_max: float, mask=()) -> np.ndarray:
    """(B,) bool: results with a parameter that the data hardly determine (relative
    standard error above ``reloc_rel``), pinned at a bound, or not finite -- where another
    placement of a term may fit as well or better."""
    n_free = int(np.sum(free))
    s2 = 2.0 * out.cost / np.maximum(n_res - n_free, 1)
    var = np.diagonal(out.cov_x, axis1=1, axis2=2) * s2[:, None]
    lm = np.asarray(logmask, bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.where(lm[None, :], np.sqrt(var), np.sqrt(var) / np.abs(out.x))
    use = np.asarray(free, bool) & (np.asarray(mask, bool) if len(mask) else True)
    rel = np.where(use[None, :], rel, 0.0)
    return (~np.isfinite(out.cost) | out.at_bound.any(axis=1) | (out.min_pivot < 1e-15)
            | np.any(~(rel <= rel_max), axis=1))


def _lowest_omega(data) -> np.ndarray:
    """(B,) lowest used angular frequency of every spectrum, rad/s."""
    omega, w_re, w_im = (np.asarray(data[i]) for i in (0, 2, 3))
    return np.min(np.where((w_re > 0) | (w_im > 0), omega, np.inf), axis=1)


def twin_candidates(twins: tuple, p: np.ndarray, w_lo: np.ndarray) -> list:
    """The points (n, P) physical of ``p`` with each twin entry's columns replaced by each
    of its twins (``fastfit.fitting._twins``)."""
    cands = []
    for cols, fn in twins:
        cols = list(cols)
        for q in fn(p[:, cols], w_lo):
            c = p.copy()
            c[:, cols] = q
            cands.append(c)
    return cands


def moved_rows(cost0, x0, st: LMState, free) -> np.ndarray:
    """Rows of ``st`` that a move or escalation took to another basin, from the cost
    ``cost0`` (B,) and the fitted coordinates ``x0`` (B, P) before it: chi2 lower by more
    than ``TWIN_GAIN``, or lower at all (``MOVE_GAIN``) with a free parameter moved by more
    than ``MOVE_DX`` (a decade, in ln p).  Such results get their twins again.

    The second clause is for flat basins: on a real spectrum (hybriddrt Sample2, fitted
    with ``R0-p(R1-Wo1,CPE1)``), relocation took a vanished Warburg (tau ~ 1e112 s) to a
    capacitor inside the branch (tau ~ 1e-6 s, R_w ~ 2e-7 ohm) for only 5e-5 of chi2, so
    its capacitive-tail twin (``_randles.capacitive_tail``, gated on a short tau) never
    ran; from it a local fit reaches the best of 40 scipy starts (another 1.3e-6)."""
    cost = np.asarray(st.cost)
    dx = np.abs(np.asarray(st.x) - np.asarray(x0))
    far = np.any(np.where(np.asarray(free)[None, :], dx, 0.0) > MOVE_DX, axis=1)
    return np.nonzero((cost < cost0 * (1.0 - TWIN_GAIN))
                      | ((cost < cost0 * (1.0 - MOVE_GAIN)) & far))[0]


def twin_moves(tree, cfg: FitConfig, st: LMState, out: FitOut, rows, data, free,
                p_fixed, entries=None, mid: int = 0) -> tuple[LMState, np.ndarray]:
    """The results of chunk rows ``rows`` with each twin element's parameters replaced by
    each of its twins (``cfg.twins``, or the twin ``entries`` given;
    ``fastfit.fitting._twins``) as a tournament (``mid``: its further iterations of the
    candidates still running after the short trip).  Never worse than the result; returns
    the state and the (B,) rows a twin improved by more than ``TWIN_GAIN``."""
    p = np.asarray(out.p)
    w_lo = _lowest_omega(data)
    entries = cfg.twins if entries is None else entries

    def make_cands(rows):
        return twin_candidates(entries, p[rows], w_lo[rows])

    # a converged result none of whose twins applies (each is the result itself, which the
    # tournament would skip) is left out before the tournament's per-candidate work: most
    # results of an arc chain, whose smeared-arc twins apply below an exponent of 0.65
    rows = np.asarray(rows)
    if rows.size:
        keep = np.asarray(st.status)[rows] == RUNNING
        for c in make_cands(rows):
            keep |= np.any(c != p[rows], axis=1)
        rows = rows[keep]
    before = np.asarray(st.cost).copy()
    st = tournament(tree, cfg, st, rows, make_cands,
                     cfg.iter_stage1 + cfg.iter_stage2, data, free, p_fixed, mid)
    # a basin change, not a polish of the same optimum (which most results get)
    return st, np.asarray(st.cost) < before * (1.0 - TWIN_GAIN)


def relocate(tree, cfg: FitConfig, st: LMState, out: FitOut, flag, reloc: RelocTables,
              scan_data, data, free, p_fixed, pairs: int = 0) -> LMState:
    """Relocation moves (``kernels._reloc``) for the flagged spectra: every term moved to
    the best candidate of each time-constant band and the move twins of the result
    (``cfg.move_twins``) (``pairs`` = 0), or the ``pairs``
    best chained moves of two terms (``pair_starts``), a tournament as in escalation.
    Never worse than the result it replaces."""
    idx = np.nonzero(flag)[0]
    p = np.asarray(out.p)
    w_lo = _lowest_omega(data)

    def make_cands(rows):
        sd = tuple(np.asarray(a)[rows] for a in scan_data)
        if pairs:
            return pair_starts(reloc, p[rows], sd, pairs)
        return (relocation_starts(reloc, p[rows], sd)
                + twin_candidates(cfg.move_twins, p[rows], w_lo[rows]))

    return tournament(tree, cfg, st, idx, make_cands, cfg.reloc_iter, data, free, p_fixed,
                      mid=cfg.reloc_mid)
