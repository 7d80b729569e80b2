"""Starting points of a fit: the start plan (scans over candidate shapes of every term of
the circuit, given starts) and the canonical order of interchangeable terms.

Any circuit is covered: the planner (:mod:`._scanplan`) splits it into top-level terms and
builds candidate shapes from each element's parameter roles, so built-in elements, nested
blocks, diffusion tails and user-registered elements all take part in the scan.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._relocplan import reloc_tables
from ._scanplan import (N_SCAN, Term, loose_mask, plan_scan, scan_grid, scan_tables,
                        term_log_tau)

__all__ = ["is_arc_chain", "StartPlan", "plan_starts", "canonical_permutation", "N_SCAN",
           "loose_mask"]


class StartPlan(NamedTuple):
    """Where the starting points of a fit come from (inputs of ``kernels.fit_pipeline``).

    scans : tuple of ``kernels.ScanTables``, one per scan exponent (``N_SCAN``)
    terms : list of :class:`~._scanplan.Term` of the first scan (canonical order)
    scan_Z, scan_wr2, scan_wi2 : (B, Fs) the spectra and squared weights on the scans'
        common frequency grid
    p_starts : (B, S, P) float64, physical starting points given directly (user p0, warm
        starts)
    n_combos : int, combinations per scan (the largest)
    reloc : ``kernels.RelocTables`` for relocation moves of fitted terms (None: no scan)
    """

    scans: tuple
    terms: list
    scan_Z: np.ndarray
    scan_wr2: np.ndarray
    scan_wi2: np.ndarray
    p_starts: np.ndarray
    n_combos: int
    reloc: object = None


def _fixed_shape_values(problem) -> dict:
    """{parameter index: batch median} of fixed parameters (a scan dimension collapses to
    it; the LM then holds every spectrum at its own value)."""
    return {int(k): float(np.median(problem.p_fixed[:, k])) for k in np.nonzero(problem.fixed)[0]}


def plan_starts(problem, extra_starts=None, scan: bool = True) -> StartPlan:
    """The start plan of ``problem`` (a :class:`~fastfit.fitting.FitProblem`).

    One scan per exponent of ``N_SCAN``; the user's ``p0`` comes first among the given
    starts and ``extra_starts`` (B, S, P) last.  ``scan=False``: no scan (a local fit from
    the given starts only).
    """
    from fastfit.kernels import ELEMENTS

    c, batch = problem.circuit, problem.batch
    B, P = batch.n_spectra, c.n_params
    grid, Zs, wr, wi = scan_grid(batch.freq, batch.Z, problem.w_re, problem.w_im, batch.mask,
                                 batch.shared_freq)
    fm = np.where(batch.mask, batch.freq, np.nan)
    f_lo, f_hi = float(np.nanmin(fm)), float(np.nanmax(fm))
    fixed_vals = _fixed_shape_values(problem)
    plans = [plan_scan(c.tree, ELEMENTS, f_lo, f_hi, n, fixed_vals) for n in N_SCAN]
    scans = tuple(scan_tables(pl, P, grid) for pl in plans) if scan else ()
    reloc = (reloc_tables(c.tree, ELEMENTS, f_lo, f_hi, fixed_vals, P, grid)
             if scan and plans[0].terms else None)
    p_starts = np.zeros((B, 0, P))
    if problem.have_p0:
        p_starts = np.concatenate([problem.p_fixed[:, None, :], p_starts], axis=1)
    if extra_starts is not None:
        extra = np.asarray(extra_starts, np.float64).reshape(B, -1, P)
        p_starts = np.concatenate([p_starts, extra], axis=1)
    return StartPlan(scans=scans, terms=plans[0].terms, scan_Z=Zs, scan_wr2=wr * wr,
                     scan_wi2=wi * wi, p_starts=p_starts,
                     n_combos=max(len(pl.combos) for pl in plans) if scan else 0,
                     reloc=reloc)


_ARCS = {("P", (("E", "R"), ("E", q))) for q in ("C", "CPE")} | {
    ("P", (("E", q), ("E", "R"))) for q in ("C", "CPE")} | {("E", "K"), ("E", "Zarc")}


def is_arc_chain(terms: list[Term]) -> bool:
    """True when every shaped term is an R||C / R||CPE / K / Zarc arc in series: the scan is
    then a variable projection of the whole model (only the exponent is gridded) and its
    best pick is reliable enough that one start continues past stage 1."""
    return bool(terms) and all(t.sig in _ARCS for t in terms)


def canonical_permutation(terms: list[Term], params: np.ndarray,
                          fixed: np.ndarray) -> np.ndarray | None:
    """(B, P) parameter permutation putting interchangeable terms in ascending tau.

    Top-level terms of the same structure (two R||CPE blocks, two p(R-Wo, CPE) blocks, ...)
    are interchangeable -- the model is symmetric under swapping them -- so a fit may
    return them in any order; fastfit reports them fastest first (R1 is the
    high-frequency arc), which keeps labels stable along a series.  Terms with fixed
    parameters stay in place.  Returns None when nothing moves.
    """
    B, P = params.shape
    perm = np.tile(np.arange(P), (B, 1))
    moved = False
    for sig in {t.sig for t in terms}:
        group = [t for t in terms if t.sig == sig and not fixed[t.idx].any() and t.tau_rule]
        if len(group) < 2:
            continue
        taus = np.stack([term_log_tau(t, params) for t in group], axis=1)     # (B, G)
        order = np.argsort(taus, axis=1, kind="stable")
        idx = np.stack([t.idx for t in group])                                # (G, Pk)
        for slot, t in enumerate(group):
            perm[:, t.idx] = idx[order[:, slot]]
        moved = moved or bool(np.any(order != np.arange(len(group))))
    return perm if moved else None
