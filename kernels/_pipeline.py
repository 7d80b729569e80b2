"""The batched fit pipeline, as a few compiled programs shared by every stage.

The programs are in :mod:`._fit`, the moves in :mod:`._moves`, the state glue in
:mod:`._states`.

starts: the best combinations of the start scans (``kernels._scan``, any circuit) and any
        given starting points (user p0, warm starts)
  -> stage 1: each start, a few LM iterations (one call per start, same shape)
  -> stage 2: the best ``keep`` starts of every spectrum continue a few more iterations;
     the best of them goes on
  -> stage 3 ("rescue"): the spectra still running are gathered into fixed-size batches
     (a quarter of the chunk, then groups of 8) and get the remaining budget
  -> twin moves (circuits with an element that has twins, e.g. Paasch's T): every result
     with that element's parameters replaced by each of its twins (other parameter
     vectors of nearly the same impedance) as a tournament; kept where better, and the
     improved results get the twins of their new parameters (up to TWIN_ROUNDS rounds);
     a result that relocation or escalation moves to another basin (chi2 lower by more
     than TWIN_GAIN, or lower with a parameter moved by over a decade: ``moved_rows``)
     gets its new twins too (``cfg.twins`` empty: no twin moves); where
     ``cfg.twin_mid`` > 0 (slow twins, e.g. T's; a Randles branch's anomalous Warburg) the
     candidates still running after the short trip continue that many more iterations
     before the winner is picked
  -> relocation: a result whose parameters the data determine loosely (a relative standard
     error above ``reloc_rel``, a parameter pinned, singular) gets relocation moves: each
     top-level term moved to the best candidate shape of each time-constant band, the
     other terms kept in shape and every scale re-solved linearly
     (``_reloc.relocate_terms``), plus the result's move twins (``cfg.move_twins``: twins
     tried only here, e.g. R1 and R2 of a nested arc exchanged); every move runs
     ``reloc_iter`` iterations, the best
     continues to the end of the budget and is kept where it fits better; results still
     loose after that get ``reloc_pairs`` chained moves of two terms (``_reloc.pair_starts``:
     two terms that traded places), the same way
  -> late twins (``cfg.late_twins``: circuits with an R||CPE arc, a Randles branch with a
     Wsa or Woa, or a nested arc): every result with a smeared arc (``fastfit.fitting._arcs``) gets
     sharp twins of it, every result whose Wsa is no diffusion tail in the window a denser
     grid of small tails (``fastfit.fitting._randles.odd_tail``), every Woa-in-Randles
     result whose Warburg or resistor vanished a grid of revived ones
     (``fastfit.fitting._randles.revive_branch``), every Woa-in-Randles result whose
     Warburg is no diffusion tail a grid of places and exponents
     (``fastfit.fitting._randles.shape_grid``), every nested arc its
     inner arc on a grid of shares and places (``fastfit.fitting._nested``), every small
     arc of a chain of three or more arcs a grid of places (``fastfit.fitting._arcs``), as
     a tournament, after the moves rather than before them (a result the twins change would
     take other moves); the candidates still running after the short trip continue
     ``cfg.late_mid`` more iterations before the winner is picked
  -> exchange twins (``cfg.exchange_twins``: an arc in series with a Wsa, a Ws, a T, or a
     branch p(R' - X, CPE'), an R||C arc with an R||CPE arc, an arc with a nested arc):
     every result with the two time constants, the two roles, or the two arcs exchanged
     (``fastfit.fitting._exchange``), or the three arcs' roles permuted
     (``fastfit.fitting._cauer``), its candidates still running after the short trip
     continuing ``reloc_iter`` more; a result they move gets its own twins
     (``TWINS_AFTER_EXCHANGE``)
  -> escalation: a spectrum that ends at the budget, singular, with a parameter at a bound
     or vanished (R, Q, L -> 0 or infinity), or with chi2 above ``chi2_limit`` (a multiple
     of what its noise makes attainable), is fitted again from more starts -- its result with the offending
     parameters replaced by each initial start's values, and the next-best scan
     combinations -- each run to convergence; the best result is kept
  -> exponent restarts (``cfg.restarts``, ``_restarts``): a result still above
     ``chi2_limit`` restarts from itself with one exponent reset to a grid of values, or
     two exponents swapped, every candidate for the whole budget; the best is kept
  -> random restarts (``random_draws``, ``fastfit.fitting._random``): a result still
     above ``chi2_limit`` after that runs from each random start a short trip
     (``_restarts.RANDOM_TRIP``), the best of them to the end of the budget; kept where
     better
  -> covariance of the free, non-pinned parameters.

Staging with compaction makes multi-start affordable: all starts run only briefly, and
the long tail runs on a fraction of the batch (docs/design-notes.md, "Fit engine").
Every stage reuses the same compiled LM programs (chunk size, rescue sizes), so a fit
compiles a fixed, small number of programs per (circuit, chunk size).
"""
from __future__ import annotations

import numpy as np

from ._fit import (FitConfig, FitOut, fresh_state, lm_continue, lm_report, lm_rescue,
                   model_impedance)
from ._lm import RUNNING, LMState
from ._moves import (TWIN_GAIN, TWIN_ROUNDS, escalate, loose_rows, moved_rows, relocate,
                     suspicious, twin_moves)
from ._restarts import random_restarts, restart_exponents
from ._scan import scan_starts
from ._states import (TIER1_ITER, TIER1_MIN, better_of, host_state, put_rows, rescue_size,
                      row_groups, take_rows)

__all__ = ["fit_pipeline", "multistart"]

SAME_BASIN = 0.3   # runner-up within this of the best in every internal coordinate: same basin

# results the exchange twins moved get their own twins (cfg.twins, cfg.move_twins)
# afterwards.  Measured (session 21, benchmarks/bench_elements.py's CONTEXT spectra of
# R0-p(R1,CPE1)-T1): the T of two exchanged results ended with B gone (AT_BOUND, 1.4 and
# 2.0 % above the truth-started chi2) until its B-lift twins ran
TWINS_AFTER_EXCHANGE = True


def multistart(tree, cfg: FitConfig, starts, data, free, p_fixed) -> LMState:
    """Stages 1-3 for every spectrum from a list of (B, P) physical starting points."""
    lm = cfg.logmask
    lo, hi = data[4], data[5]
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    B = p_fixed.shape[0]
    stage1 = []
    for p0 in starts:                      # loop over starting points, not spectra
        st = fresh_state(lm, p0, lo, hi, free, p_fixed)
        stage1.append(host_state(lm_continue(tree, lm, st, *data, free, cfg.iter_stage1, *tols)))
    costs = np.stack([s.cost for s in stage1], axis=1)                      # (B, S)
    order = np.argsort(costs, axis=1, kind="stable")
    rows = np.arange(B)
    sorted_cost = costs[rows[:, None], order]
    st = None
    for j in range(min(cfg.keep, len(stage1))):
        pick = order[:, j]
        cand = LMState(*(np.stack(leaves, axis=1)[rows, pick] for leaves in zip(*stage1)))
        if st is None:
            st = host_state(lm_continue(tree, lm, cand, *data, free, cfg.iter_stage2, *tols))
            continue
        # a runner-up continues only where it is close to the best after stage 1 (a
        # different basin of similar depth); gathered into rescue-size groups
        best0 = LMState(*(np.stack(leaves, axis=1)[rows, order[:, 0]] for leaves in zip(*stage1)))
        apart = np.max(np.abs(cand.x - best0.x), axis=1) > SAME_BASIN
        close = np.nonzero((sorted_cost[:, j] <= cfg.keep_ratio * sorted_cost[:, 0])
                           & apart)[0]
        size = rescue_size(cfg, B, close.size)
        for idx in row_groups(close, size):
            sub = host_state(lm_rescue(tree, lm, take_rows(cand, idx), *(a[idx] for a in data), free,
                                  cfg.iter_stage2, *tols))
            st = put_rows(st, idx, better_of(sub, take_rows(st, idx)))
    # stage 3: compaction tiers -- a quarter of the chunk for up to TIER1_ITER iterations,
    # then groups of TIER2_SIZE for the rest of the budget (a pathological spectrum then
    # costs 8 problems per iteration, not a whole chunk)
    remaining = cfg.iter_stage3
    for tier in (1, 2):
        running = np.nonzero(st.status == RUNNING)[0]
        if not running.size or remaining <= 0:
            break
        if tier == 1 and running.size <= TIER1_MIN:
            continue
        # tier 1: a quarter of the chunk; tier 2: groups of TIER2_SIZE (a small chunk: itself)
        size = rescue_size(cfg, B, TIER1_MIN + 1 if tier == 1 else 0)
        iters = min(TIER1_ITER, remaining) if tier == 1 else remaining
        remaining -= iters
        for idx in row_groups(running, size):
            sub = host_state(lm_rescue(tree, lm, take_rows(st, idx), *(a[idx] for a in data), free,
                                  iters, *tols))
            st = put_rows(st, idx, sub)
    return st


def fit_pipeline(tree, cfg: FitConfig, omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts,
                 scans=(), scan_data=None, chi2_limit=None, reloc=None,
                 random_draws=None) -> FitOut:
    """Fit one chunk of spectra (all arrays already padded to the chunk size).

    Parameters
    ----------
    tree : static circuit tree;  cfg : static FitConfig
    omega : (B, F) rad/s;  Z : (B, F) complex128 ohm;  w_re, w_im : (B, F) weights (0 = unused)
    lo, hi : (B, P) bounds in internal (transformed) space
    free : (P,) bool;  p_fixed : (B, P) values used for fixed parameters (physical)
    p_starts : (B, S0, P) given physical starting points (user p0 / warm starts)
    scans : tuple of :class:`~fastfit.kernels._scan.ScanTables` (start scans)
    scan_data : (Z, wr2, wi2) of the chunk on the scans' common frequency grid
    chi2_limit : optional (B,) chi2 above which a result escalates (a multiple of what the
        spectrum's noise makes attainable)
    reloc : optional :class:`~fastfit.kernels._reloc.RelocTables`: relocation moves for
        results whose parameters the data determine loosely (``cfg.relocate``)
    random_draws : optional callable(rows) -> (len(rows), K, P) physical random starts of
        the chunk rows ``rows``, for the results still above ``chi2_limit`` at the end
        (``cfg.escalate`` only)

    Returns
    -------
    FitOut
    """
    B, P = p_fixed.shape
    lm = cfg.logmask
    # the glue between the compiled programs runs in numpy: selecting and compacting
    # states with jnp would compile a dozen one-operation programs per shape
    omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts = (
        np.asarray(a) for a in (omega, Z, w_re, w_im, lo, hi, free, p_fixed, p_starts))
    data = (omega, Z, w_re, w_im, lo, hi)
    starts = [p_starts[:, s, :] for s in range(p_starts.shape[1])]
    pool = []
    for tab in scans:
        p_sc = scan_starts(tab, scan_data, cfg.n_picks + cfg.n_escalate, P)
        starts += [p_sc[:, s] for s in range(cfg.n_picks)]
        pool += [p_sc[:, s] for s in range(cfg.n_picks, p_sc.shape[1])]
    if not starts:
        raise ValueError("fit_pipeline needs at least one start or scan")
    st = multistart(tree, cfg, starts, data, free, p_fixed)
    out = lm_report(lm, st, w_re, w_im, lo, hi, free)
    moved = np.zeros(B, bool)      # spectra refitted from more starts (moves, escalation)
    twins = bool(cfg.twins)

    def twin_rounds(st, out, rows, entries=cfg.twins, mid=cfg.twin_mid):
        # a result that moved to another basin has other twins: up to TWIN_ROUNDS rounds
        for _ in range(TWIN_ROUNDS if len(rows) else 0):
            before = st
            st, better = twin_moves(tree, cfg, st, out, rows, data, free, p_fixed, entries,
                                    mid)
            if st is before:                  # no twin applied: nothing ran, nothing changed
                break
            out = lm_report(lm, st, w_re, w_im, lo, hi, free)
            rows = np.nonzero(better)[0]      # unchanged results would give the same twins
            if not rows.size:
                break
        return st, out

    if twins:
        cost0 = out.cost
        st, out = twin_rounds(st, out, np.arange(B))
        moved |= out.cost < cost0 * (1.0 - TWIN_GAIN)
    if cfg.relocate and reloc is not None:
        n_res = np.sum(w_re > 0, axis=-1) + np.sum(w_im > 0, axis=-1)
        loose = loose_rows(out, free, lm, n_res, cfg.reloc_rel, cfg.loose_mask)
        if cfg.escalate:    # what escalation would refit gets the moves first
            loose |= suspicious(out, free, lm, chi2_limit)
        if loose.any():
            cost0, x0 = out.cost, np.asarray(st.x)
            st = relocate(tree, cfg, st, out, loose, reloc, scan_data, data, free, p_fixed)
            out = lm_report(lm, st, w_re, w_im, lo, hi, free)
            moved |= loose
            if cfg.reloc_pairs and len(reloc.Us) > 1:
                again = loose & loose_rows(out, free, lm, n_res, cfg.reloc_rel, cfg.loose_mask)
                if again.any():
                    st = relocate(tree, cfg, st, out, again, reloc, scan_data, data, free,
                                  p_fixed, pairs=cfg.reloc_pairs)
                    out = lm_report(lm, st, w_re, w_im, lo, hi, free)
            if twins or cfg.move_twins:
                # a move that changed the basin: the twins, and the move twins, of the new
                # result (a Randles-Wsa result whose swapped R1 a move restored reaches
                # the small diffusion tail only from there)
                st, out = twin_rounds(st, out, moved_rows(cost0, x0, st, free),
                                      cfg.twins + cfg.move_twins)
    if cfg.late_twins:
        cost0 = out.cost
        st, out = twin_rounds(st, out, np.arange(B), cfg.late_twins, cfg.late_mid)
        moved |= out.cost < cost0 * (1.0 - TWIN_GAIN)
    if cfg.exchange_twins:
        cost0 = out.cost
        st, out = twin_rounds(st, out, np.arange(B), cfg.exchange_twins, cfg.reloc_iter)
        gained = out.cost < cost0 * (1.0 - TWIN_GAIN)
        moved |= gained
        if TWINS_AFTER_EXCHANGE and gained.any() and (twins or cfg.move_twins):
            # an exchanged result is in another basin: its own twins (a T whose B
            # vanished there gets it lifted)
            st, out = twin_rounds(st, out, np.nonzero(gained)[0], cfg.twins + cfg.move_twins)

    def done(out, escalated):
        # the fitted spectra, once: the stages only read the LM states' summaries
        Zf = np.asarray(model_impedance(tree, out.p, omega))
        return out._replace(escalated=escalated, Z_fit=Zf)

    if not cfg.escalate:
        return done(out, moved)
    flag = suspicious(out, free, lm, chi2_limit)
    if not flag.any():
        return done(out, moved)
    cost0, x0 = out.cost, np.asarray(st.x)
    st = escalate(tree, cfg, st, out, flag, starts, pool, data, free, p_fixed)
    out = lm_report(lm, st, w_re, w_im, lo, hi, free)
    if twins or cfg.move_twins:
        st, out = twin_rounds(st, out, moved_rows(cost0, x0, st, free),
                              cfg.twins + cfg.move_twins)
    if cfg.restarts and chi2_limit is not None:
        far = flag & (2.0 * out.cost > np.asarray(chi2_limit))
        if far.any():
            st = restart_exponents(tree, cfg, st, out, far, data, free, p_fixed)
            out = lm_report(lm, st, w_re, w_im, lo, hi, free)
    if random_draws is not None and chi2_limit is not None:
        far = flag & (2.0 * out.cost > np.asarray(chi2_limit))
        if far.any():
            st = random_restarts(tree, cfg, st, far, random_draws, data, free, p_fixed)
            out = lm_report(lm, st, w_re, w_im, lo, hi, free)
    return done(out, flag | moved)
