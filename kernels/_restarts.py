"""Exponent restarts: the pipeline's last move, after escalation
(:func:`~fastfit.kernels._pipeline.fit_pipeline`).

A constant-phase exponent (CPE n, the n of an anomalous Warburg, the alpha / beta of a
Havriliak-Negami term) decides which feature of the spectrum its element describes: at
n ~ 0.8 a CPE is an arc's capacitance, at n ~ 0.2 it is nearly a resistor.  A local fit
cannot carry an exponent across that range when the rest of the model has settled around
it, and neither the scan picks nor the relocation moves change an exponent of a fitted
result by much.  For the spectra still far above their attainable chi2 after every other
round, :func:`restart_candidates` builds starting points from the result itself with one
exponent reset to each value of ``RESTART_GRID`` (a fraction of its bounds), and with two
exponents swapped (two elements exchanging their roles: the Warburg of a Randles branch
acting as the CPE and the CPE as a near-resistor).  Every candidate runs to convergence
(a tournament whose short trip is the whole budget: the same restarts as extra starts of
a multistart lost after its first stage's 6 iterations) on the LM programs the chunk has
compiled already, and the best is kept where it beats the result.

Measured (issue 16, 2026-12-06, the 42 bundled real spectra x 10 circuits against the best
of 20 scipy starts): hybriddrt Sample1 EndOfDischarge fitted with
``R0-p(R1-p(R2,CPE2),CPE1)`` went from 3.36x the scipy chi2 (2, 8 or 32 starts alike) to
0.30x, reached from CPE1_n = 0.2; pyeis_ex3 with the same circuit from 1.0015x to 1.0
(CPE2_n = 0.5 or CPE1_n = 0.2), and with ``R0-p(R1-Woa1,CPE1)`` from 1.0008x to 0.983x (the
swap of the Warburg's and the CPE's exponents).  Of the ~100 (spectrum, circuit) pairs the
restarts run on, no other changed: a circuit that does not describe a spectrum stays above
its attainable chi2 whatever the start.  Cost: on the synthetic families the restarts run on
almost no spectrum (1 of 200 nested ones); where a circuit describes none of the batch
(two-arc spectra fitted with ``R0-p(R1,CPE1)``, three-arc ones with
``R0-p(R1,CPE1)-p(R2,CPE2)-CPE3``: 82-87 % of the spectra above 1.25x attainable) the
warm fit takes 13-18 % longer for the same results.
"""
from __future__ import annotations

import itertools

import numpy as np

from ._fit import FitConfig, FitOut
from ._lm import LMState
from ._moves import tournament

__all__ = ["RESTART_GRID", "RANDOM_TRIP", "exponent_columns", "restart_candidates",
           "restart_exponents", "random_restarts"]

RESTART_GRID = (0.2, 0.5, 0.8)   # restart values of an exponent, as fractions of its bounds
# iterations every random start runs, and the more iterations those still running then get,
# before the best of a spectrum's random starts continues to the end of the budget
RANDOM_TRIP = (40, 40)


def exponent_columns(logmask, free, lo, hi) -> np.ndarray:
    """Indices of the free parameters fitted on a linear scale between finite bounds (the
    exponents: CPE n, Woa n, HN alpha / beta, La n, ...); ``lo``, ``hi`` (P,) or (B, P)
    internal bounds (a column counts where its bounds are finite in every row)."""
    lo2, hi2 = np.atleast_2d(lo), np.atleast_2d(hi)
    lin = ~np.asarray(logmask, bool) & np.asarray(free, bool)
    return np.flatnonzero(lin & np.all(np.isfinite(lo2) & np.isfinite(hi2), axis=0))


def restart_candidates(p, cols, lo, hi) -> list:
    """Starting points from the results ``p`` (n, P, physical): for every exponent column
    and grid value g the result with that exponent at lo + g (hi - lo), then for every
    pair of exponent columns the result with the two values swapped (clipped to the
    receiving column's bounds); ``lo``, ``hi`` (P,) or (n, P).  A list of (n, P) arrays,
    empty without exponents."""
    p = np.asarray(p, np.float64)
    lo, hi = np.broadcast_to(lo, p.shape), np.broadcast_to(hi, p.shape)
    cands = []
    for k in cols:
        for g in RESTART_GRID:
            q = p.copy()
            q[:, k] = lo[:, k] + g * (hi[:, k] - lo[:, k])
            cands.append(q)
    for a, b in itertools.combinations(cols, 2):
        q = p.copy()
        q[:, a] = np.clip(p[:, b], lo[:, a], hi[:, a])
        q[:, b] = np.clip(p[:, a], lo[:, b], hi[:, b])
        cands.append(q)
    return cands


def restart_exponents(tree, cfg: FitConfig, st: LMState, out: FitOut, flag, data, free,
                      p_fixed) -> LMState:
    """Restart the flagged results (:func:`restart_candidates`), every candidate for the
    whole LM budget, the best kept where it beats the result (never worse)."""
    lo, hi = data[4], data[5]
    cols = exponent_columns(cfg.logmask, free, lo, hi)
    idx = np.nonzero(flag)[0]
    if not cols.size or not idx.size:
        return st

    def make_cands(rows):
        return restart_candidates(out.p[rows], cols, lo[rows], hi[rows])

    budget = cfg.iter_stage1 + cfg.iter_stage2 + cfg.iter_stage3
    return tournament(tree, cfg, st, idx, make_cands, budget, data, free, p_fixed)


def random_restarts(tree, cfg: FitConfig, st: LMState, flag, draws, data, free,
                    p_fixed) -> LMState:
    """Restart the flagged results from random starts, ``draws(rows)`` -> (len(rows), K, P)
    physical (``fastfit.fitting._random``), on the chunk's compiled programs: every
    start runs ``RANDOM_TRIP`` iterations (the second number only where still running), the
    best of each spectrum continues to the end of the budget and is kept where it beats
    the result.

    Measured (2026-12-06, 64 draws on each of seven real (spectrum, circuit) misses, every
    draw also run to convergence): the draws that reach the best basin (1-4 of 64) rank
    first among the 64 after 80 iterations in all seven, after 40 in six, after 20 in
    three."""
    idx = np.nonzero(flag)[0]
    if not idx.size:
        return st

    def make_cands(rows):
        p = np.asarray(draws(rows), np.float64)
        return [p[:, k] for k in range(p.shape[1])]

    short, mid = RANDOM_TRIP
    return tournament(tree, cfg, st, idx, make_cands, short, data, free, p_fixed, mid)
