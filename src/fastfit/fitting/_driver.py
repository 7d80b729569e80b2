"""The fit driver: a `FitProblem` through the compiled pipeline to a `FitResult`.

Steps, for each group of spectra measured over the same window
(:func:`~fastfit.fitting._groups.window_groups`): plan the starting points
(:func:`~fastfit.fitting._starts.plan_starts`), configure
the compiled stages, cut the batch into chunks padded to a shape bucket and split each
over the devices (:mod:`fastfit._devices`), put interchangeable blocks in canonical
order, and assemble the result in physical units.
"""
from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from .._devices import auto_chunk, devices_for, run_split, split_size
from .._map_pressure import relieve
from ..errors import DataError
from ._attainable import ATTAINABLE_FACTOR, attainable_chi2
from ._groups import group_problem, merge_rows, window_groups
from ._problem import FitProblem
from ._random import RANDOM_RESTARTS, random_starts
from ._result import FitResult, FitStatus, fit_status, loose_status
from ._scanplan import loose_mask
# the per-circuit rules (tests patch the names the driver calls)
from ._config import (RELOC_MID, RELOC_PAIRS, RELOC_REL, RELOC_REL_NESTED,  # noqa: F401
                      SLOW_TWIN_ITER, exchange_twins, late_mid, late_twins, reloc_mid,
                      reloc_pairs, reloc_rel, twin_mid)
from ._twins import circuit_move_twins, circuit_twins
from ._starts import N_SCAN, StartPlan, canonical_permutation, is_arc_chain, plan_starts

__all__ = ["run", "STAGES", "assemble"]

# LM iterations: every start (stage 1), then the best two starts of every spectrum
# (stage 2); what is still running after that continues in compacted batches
# (kernels._pipeline)
STAGES = (6, 10)
ESCALATION_PICKS = 3     # further scan combinations per scan kept for escalation
RELOC_ITER = 50          # LM iterations of every relocation move before its tournament
CHUNK_THREADS = 2        # chunks in flight at once on one CPU device: one chunk's host-side
                         # glue (numpy between the compiled programs) overlaps another's
                         # compiled work; 10,000 seed-circuit spectra 24 % faster on the
                         # 2-core VM (same results), 2 threads being enough to fill it
SPLIT_MIN = 256          # smallest batch cut into CHUNK_THREADS chunks (_thread_chunk)
KEEP = 2                 # starts of every spectrum that continue into stage 2 (1 for arc
                         # chains, where the scan is a variable projection of the model)
DEEP_STARTS = 32         # starts of the second escalation round (see _deep_escalation)
DEEP_RELOCATE = True     # ... which also runs the relocation moves (see _deep_escalation)
RESTARTS = True          # exponent restarts after escalation (kernels._restarts)


def run(problem: FitProblem, *, starts: int, max_iter: int, absolute_sigma: bool,
        chunk: int | None, ftol: float, xtol: float, gtol: float,
        progress: Callable[[int, int], None] | None, extra_starts=None,
        escalate: bool = True, relocate: bool = True) -> FitResult:
    """Fit every spectrum of ``problem`` (the options are those of :func:`fastfit.fit`):
    each group of spectra with the same measured window (:func:`window_groups`) as a batch
    of its own, so that a spectrum's fit does not depend on batch-mates measured over
    other windows."""
    if starts < 0:
        raise DataError(f"starts must be >= 0, got {starts}")
    if starts == 0 and not (problem.have_p0 or extra_starts is not None):
        raise DataError("starts=0 fits from the given starting points only: pass p0 "
                        "or extra_starts")
    # a long-lived process that met many circuits: drop the compiled programs before the
    # memory-map limit crashes the compiler (fastfit._map_pressure)
    relieve()
    groups = window_groups(problem.batch)
    parts = []
    for rows in groups:
        sub = problem if len(groups) == 1 else group_problem(problem, rows)
        extra = (None if extra_starts is None or len(groups) == 1
                 else np.asarray(extra_starts)[rows])
        report = progress
        if progress is not None and len(groups) > 1:
            done_before = int(sum(g.size for g in groups[:len(parts)]))
            report = (lambda k, _, off=done_before: progress(off + k, problem.n_spectra))
        parts.append(_fit_rows(sub, starts=starts, max_iter=max_iter, chunk=chunk, ftol=ftol,
                               xtol=xtol, gtol=gtol, progress=report, extra_starts=extra,
                               escalate=escalate, relocate=relocate))
    if len(groups) == 1:
        out, attainable, chunk = parts[0]
    else:
        out = merge_rows([o for o, _, _ in parts], groups, problem.n_spectra)
        attainable = np.empty(problem.n_spectra)
        for (_, att, _), rows in zip(parts, groups):
            attainable[rows] = att
        chunk = chunk if chunk is not None else max(c for _, _, c in parts)
    return _assemble(problem, out, attainable, absolute_sigma,
                     dict(starts=starts, max_iter=max_iter, chunk=chunk, escalate=escalate,
                          relocate=relocate))


def _fit_rows(problem: FitProblem, *, starts: int, max_iter: int, chunk: int | None,
              ftol: float, xtol: float, gtol: float, progress, extra_starts, escalate: bool,
              relocate: bool):
    """(FitOut in canonical order, attainable chi2, chunk) of the spectra of ``problem``,
    all fitted as one batch (one window group, :func:`window_groups`)."""
    from fastfit.kernels import FitConfig   # importing the kernels enables float64

    plan = plan_starts(problem, extra_starts, scan=starts > 0)
    it1, it2 = STAGES
    late = late_twins(problem) if starts > 0 and relocate else ()
    cfg = FitConfig(logmask=problem.logmask, n_picks=-(-starts // len(N_SCAN)),
                    n_escalate=ESCALATION_PICKS if escalate and starts else 0,
                    iter_stage1=min(it1, max_iter), iter_stage2=min(it2, max(max_iter - it1, 0)),
                    iter_stage3=max(max_iter - it1 - it2, 0), rescue_frac=0.25,
                    ftol=ftol, xtol=xtol, gtol=gtol,
                    keep=1 if is_arc_chain(plan.terms) else KEEP, escalate=escalate,
                    relocate=relocate, reloc_iter=RELOC_ITER, reloc_rel=reloc_rel(plan.terms),
                    reloc_pairs=reloc_pairs(plan.terms),
                    reloc_mid=reloc_mid(plan.terms),
                    loose_mask=loose_mask(problem.circuit.tree),
                    twins=circuit_twins(problem.circuit.tree) if starts > 0 and relocate else (),
                    twin_mid=twin_mid(problem.circuit.tree) if starts > 0 and relocate else 0,
                    move_twins=(circuit_move_twins(problem.circuit.tree)
                                if starts > 0 and relocate else ()),
                    late_twins=late,
                    late_mid=late_mid(late),
                    exchange_twins=(exchange_twins(problem) if starts > 0 and relocate
                                    else ()),
                    restarts=RESTARTS and escalate and starts > 0)
    if chunk is None:
        chunk = _thread_chunk(problem.n_spectra, _auto_chunk(problem, plan))
    # on this thread, before the chunks: its program calls LAPACK, and two such programs
    # running at once deadlocked (kernels._linalg.cholesky_inverse)
    attainable = attainable_chi2(problem)
    # random restarts (_random): not for chains of arcs, whose scan is a variable projection
    # of the whole model (a batch of 1,000 two-arc spectra fitted with R0-p(R1,CPE1), 82 %
    # of it above attainable: 2.5x the time for the same results)
    n_random = (RANDOM_RESTARTS if escalate and starts > 0 and not is_arc_chain(plan.terms)
                else 0)
    out = _fit_chunks(problem, plan, cfg, chunk, progress, attainable, n_random)
    if escalate and 0 < starts < DEEP_STARTS:
        out = _deep_escalation(problem, out, attainable, extra_starts, cfg, chunk)
    out = _canonical_order(problem, plan, out)
    out = out._replace(escalated=np.asarray(out.escalated, bool))
    return out, attainable, chunk


def _auto_chunk(problem: FitProblem, plan: StartPlan) -> int:
    """Spectra per compiled call from the device (docs/scaling.md)."""
    n_cols = len(plan.scans[0].statics) + len(plan.scans[0].Us) if plan.scans else 0
    return auto_chunk(problem.batch.n_freq, problem.circuit.n_params, plan.n_combos, n_cols)


def _thread_chunk(B: int, chunk: int) -> int:
    """The automatic chunk for a batch of ``B`` spectra that one chunk of ``chunk`` would
    hold: on one CPU device, batches of at least ``SPLIT_MIN`` spectra are cut into
    CHUNK_THREADS chunks so that all of them are in flight at once (one chunk keeps one
    core busy).  Measured (2026-12-05, 2-core VM, 1,000 spectra of the family benchmark,
    warm): R||CPE 7,843 -> 8,915 fits/s, two arcs 382 -> 504, R||CPE + Gerischer
    469 -> 681."""
    devs = devices_for(min(B, chunk))
    if (CHUNK_THREADS > 1 and len(devs) == 1 and devs[0].platform == "cpu"
            and SPLIT_MIN <= B <= chunk):
        return -(-B // CHUNK_THREADS)
    return chunk


def _per_spectrum(problem: FitProblem, plan: StartPlan, attainable) -> dict[str, np.ndarray]:
    """The kernel inputs with the batch first, by name (cut into chunks and padded), and
    every spectrum's row in the batch (``row``)."""
    batch = problem.batch
    shape = (batch.n_spectra, problem.circuit.n_params)
    arrays = dict(omega=2 * np.pi * batch.freq, Z=batch.Z, w_re=problem.w_re, w_im=problem.w_im,
                  lo=np.broadcast_to(problem.lo, shape), hi=np.broadcast_to(problem.hi, shape),
                  p_fixed=problem.p_fixed, p_starts=plan.p_starts, scan_Z=plan.scan_Z,
                  scan_wr2=plan.scan_wr2, scan_wi2=plan.scan_wi2, attainable=attainable,
                  row=np.arange(batch.n_spectra))
    return arrays


def _padded(arrays: dict, start: int, stop: int, size: int) -> dict:
    """Rows start:stop of every array, padded to ``size`` rows with copies of the first."""
    sl = {k: v[start:stop] for k, v in arrays.items()}
    pad = size - (stop - start)
    if pad:
        sl = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in sl.items()}
    return sl


def _chunk_program(problem: FitProblem, plan: StartPlan, cfg, chunk: dict,
                   n_random: int = 0) -> Callable:
    """fn(slice) -> FitOut: the pipeline on one device's equal slice of a padded chunk,
    with ``n_random`` random restarts (:mod:`._random`) for the spectra that need them."""
    from fastfit.kernels import fit_pipeline

    free = np.asarray(~problem.fixed)

    def call(s):
        d = {k: v[s] for k, v in chunk.items()}
        draws = (None if n_random <= 0 else
                 (lambda local, rows=d["row"]: random_starts(problem, n_random, rows[local])))
        return fit_pipeline(problem.circuit.tree, cfg, d["omega"], d["Z"], d["w_re"], d["w_im"],
                            d["lo"], d["hi"], free, d["p_fixed"], d["p_starts"], plan.scans,
                            (d["scan_Z"], d["scan_wr2"], d["scan_wi2"]),
                            ATTAINABLE_FACTOR * d["attainable"], reloc=plan.reloc,
                            random_draws=draws)

    return call


def _fit_chunks(problem: FitProblem, plan: StartPlan, cfg, chunk: int, progress, attainable,
                n_random: int = 0):
    """Kernel output (FitOut of numpy arrays, B rows) of every chunk, in batch order;
    ``n_random``: random restarts per spectrum that needs them (:mod:`._random`)."""
    B = problem.n_spectra
    devs = devices_for(min(B, chunk))
    size = split_size(min(B, chunk), len(devs))   # bucket_size(...) on one device
    arrays = _per_spectrum(problem, plan, attainable)

    def one(start: int):
        stop = min(start + size, B)
        call = _chunk_program(problem, plan, cfg, _padded(arrays, start, stop, size), n_random)
        o = run_split(call, size, devs)
        return stop, type(o)(*(v[: stop - start] for v in o))

    starts = range(0, B, size)
    # several chunks on one CPU device: CHUNK_THREADS of them in flight (JAX releases the
    # GIL while a program runs); an accelerator overlaps host and device work by itself,
    # and several devices already run in parallel (run_split), one chunk each
    threads = (CHUNK_THREADS if len(starts) > 1 and len(devs) == 1
               and devs[0].platform == "cpu" else 1)
    outs = []
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    key = _program_key(problem, plan, cfg, size, devs)
    try:
        if pool is not None and key in _COMPILED:
            done = pool.map(one, starts)
        else:
            # the first chunk alone: it compiles the programs the others then share (two
            # threads would compile each of them twice)
            first = one(starts[0])
            _COMPILED.add(key)
            rest = pool.map(one, starts[1:]) if pool else map(one, starts[1:])
            done = itertools.chain([first], rest)
        for stop, o in done:
            outs.append(o)
            if progress is not None:
                progress(stop, B)
    finally:
        if pool is not None:       # an error or interrupt: chunks not started are dropped
            pool.shutdown(wait=True, cancel_futures=True)
    return type(outs[0])(*(np.concatenate(vs) for vs in zip(*outs)))


# programs of the fit pipeline already compiled in this process, by what selects them
# (``_program_key``): a warm fit runs all its chunks CHUNK_THREADS at a time from the
# start instead of the first one alone (10,000 seed-circuit spectra: 4-6 % less wall time)
_COMPILED: set = set()


def _shapes(tree):
    """Hashable outline of a (nested) structure of arrays: shapes and dtypes, not values."""
    if isinstance(tree, np.ndarray):
        return ("array", tree.shape, tree.dtype.str)
    if isinstance(tree, (tuple, list)):
        return tuple(_shapes(v) for v in tree)
    return tree


def _program_key(problem: FitProblem, plan: StartPlan, cfg, size: int, devs) -> tuple:
    """What decides which compiled programs a chunk needs: the circuit, the parameter
    transforms, the chunk and frequency sizes, the scan and relocation tables' shapes, the
    scan picks and the devices.  A key seen before whose programs are not all compiled
    (a rescue size a chunk has not met) costs only a program compiled twice, in parallel;
    the results never depend on it."""
    return (problem.circuit.tree, cfg.logmask, cfg.n_picks, cfg.n_escalate, size,
            problem.batch.n_freq, plan.p_starts.shape[1:], _shapes(plan.scans),
            _shapes(plan.reloc), tuple(str(d) for d in devs))


def _deep_escalation(problem: FitProblem, out, attainable, extra_starts, cfg, chunk: int):
    """Second escalation round: spectra whose chi2 is still above ``ATTAINABLE_FACTOR`` x
    the attainable estimate after the compiled pipeline (its own escalation included) are
    fitted again from ``DEEP_STARTS`` starts (16 scan picks per scan exponent); a row is
    replaced where that fit is better, and every such spectrum counts as escalated.

    Measured (issue 16): on real spectra fitted with circuits that do not describe them
    (benchmarks/bench_real_circuits.py) this lifted ``R0-p(R1,CPE1)-G1`` from 59 % to 95 %
    of spectra at or below the best of 20 scipy starts, ``R0-p(R1-Wo1,CPE1)`` from 82 % to
    86 %; on the synthetic families it touches 0-1 % of the spectra (0-13 % more time).
    Gating on AT_BOUND / SINGULAR alone would also refit the many correct fits whose
    parameter legitimately vanishes (L0 = 0 of a 3-arc circuit: 54 % of them, +40 % time).

    The round runs the relocation moves too (``DEEP_RELOCATE``, session 25): hybriddrt's
    SSB spectrum fitted with ``R0-p(R1-Woa1,CPE1)`` ended at chi2 0.762 (R1 -> 0, the
    Warburg a resistor at n = 0; 2,500x its attainable chi2) with or without the 32 plain
    starts, 1 % above the best of 20 scipy starts, and at 0.131 with them.  On the 42
    bundled real spectra x 10 circuits: one more pass (415 -> 416 of 420), that batch's
    Woa fit 0.83 -> 1.00 s; the synthetic families (1,000 spectra, seed 41, eight
    families): the same results and times (the round touches almost none of them).
    """
    chi2 = 2.0 * np.asarray(out.cost)
    rows = np.nonzero(np.isfinite(attainable) & (chi2 > ATTAINABLE_FACTOR * attainable))[0]
    if rows.size == 0:
        return out
    sub = problem.rows(rows)
    extra = None if extra_starts is None else np.asarray(extra_starts)[rows]
    plan = plan_starts(sub, extra, scan=True)
    deep = cfg._replace(n_picks=DEEP_STARTS // len(N_SCAN), relocate=DEEP_RELOCATE,
                        escalate=False, n_escalate=0)
    o2 = _fit_chunks(sub, plan, deep, min(chunk, rows.size), None, attainable[rows])
    better = np.asarray(o2.cost) < np.asarray(out.cost)[rows]
    take = rows[better]
    merged = []
    for name, v, v2 in zip(out._fields, out, o2):
        v = np.array(v)
        if name == "escalated":
            v[rows] = True
        else:
            v[take] = np.asarray(v2)[better]
        merged.append(v)
    return type(out)(*merged)


def _canonical_order(problem: FitProblem, plan: StartPlan, out):
    """Interchangeable terms fastest first (:func:`canonical_permutation`)."""
    perm = canonical_permutation(plan.terms, out.p, problem.fixed)
    if perm is None:
        return out
    rows = np.arange(problem.n_spectra)[:, None]
    return out._replace(x=out.x[rows, perm], p=out.p[rows, perm],
                        at_bound=out.at_bound[rows, perm],
                        cov_x=out.cov_x[rows[:, :, None], perm[:, :, None], perm[:, None, :]])


def _assemble(problem: FitProblem, out, attainable, absolute_sigma: bool,
              options: dict) -> FitResult:
    """FitResult in physical units: covariance, standard errors, status per spectrum."""
    fixed = problem.fixed
    p = np.where(fixed, problem.p_fixed, out.p)
    chi2 = 2.0 * out.cost
    dof = 2 * problem.n_points - problem.n_free
    chi2_red = chi2 / dof
    dpdx = np.where(problem.logmask, p, 1.0)
    s2 = np.ones_like(chi2) if absolute_sigma else chi2_red
    with np.errstate(over="ignore", invalid="ignore"):
        cov = out.cov_x * dpdx[:, :, None] * dpdx[:, None, :] * s2[:, None, None]
        var = np.diagonal(cov, axis1=1, axis2=2).copy()
        pinned = out.at_bound | fixed[None, :]
        stderr = np.where(pinned, np.nan, np.sqrt(np.maximum(var, 0.0)))
    unidentifiable = ~pinned & ~np.isfinite(stderr)
    stderr = np.where(unidentifiable, np.inf, stderr)
    status = fit_status(out.status)
    conv = status > 0
    status = np.where(conv & out.at_bound.any(axis=1), FitStatus.AT_BOUND, status)
    singular = (out.min_pivot < 1e-15) | unidentifiable.any(axis=1)
    status = np.where(conv & singular, FitStatus.SINGULAR, status)
    poor = (status == FitStatus.CONVERGED) | (status == FitStatus.CONVERGED_XTOL) | \
        (status == FitStatus.CONVERGED_GTOL)
    status = np.where(poor & (chi2 > ATTAINABLE_FACTOR * attainable),
                      FitStatus.ABOVE_ATTAINABLE, status)
    # signed parameters (a lower bound below 0) can sit at 0 by right: not judged
    signed = ~np.asarray(problem.logmask, bool) & (np.asarray(problem.lo) < 0)
    judged = ~fixed & ~signed & np.asarray(loose_mask(problem.circuit.tree), bool)
    status = loose_status(status, p, stderr, judged)
    status = np.where(~np.isfinite(chi2), FitStatus.NONFINITE, status)
    Zf = out.Z_fit
    return FitResult(circuit=problem.circuit, params=p, stderr=stderr, cov=cov, chi2=chi2,
                     chi2_red=chi2_red, residuals=problem.weighted_residuals(Zf), Z_fit=Zf,
                     n_iter=out.n_iter.astype(np.int64), status=status.astype(np.int64),
                     n_points=problem.n_points.astype(np.int64), dof=dof.astype(np.int64),
                     fixed=fixed, weight=problem.weight, mask=problem.batch.mask,
                     escalated=np.asarray(out.escalated, bool), chi2_attainable=attainable,
                     options={**options, "absolute_sigma": bool(absolute_sigma)})


# public for fitting._local (a local refit is assembled exactly as a fit)
assemble = _assemble
