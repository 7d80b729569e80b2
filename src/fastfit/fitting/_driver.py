"""The fit driver: a `FitProblem` through the compiled pipeline to a `FitResult`.

Steps: plan the starting points (:func:`~fastfit.fitting._starts.plan_starts`), configure
the compiled stages, cut the batch into chunks padded to a shape bucket and split each
over the devices (:mod:`fastfit._devices`), put interchangeable blocks in canonical
order, and assemble the result in physical units.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._devices import auto_chunk, devices_for, run_split, split_size
from ..errors import DataError
from ._problem import FitProblem
from ._result import FitResult, FitStatus, fit_status
from ._starts import StartPlan, canonical_permutation, chain_of, plan_starts

__all__ = ["run", "STAGES", "assemble"]

# LM iterations: every start (stage 1), then the best start of every spectrum (stage 2);
# what is still running after that continues in compacted batches (kernels._fit)
STAGES = (6, 10)


def run(problem: FitProblem, *, starts: int, max_iter: int, absolute_sigma: bool,
        chunk: int | None, ftol: float, xtol: float, gtol: float,
        progress: Callable[[int, int], None] | None, extra_starts=None) -> FitResult:
    """Fit every spectrum of ``problem`` (the options are those of :func:`fastfit.fit`)."""
    from fastfit.kernels import FitConfig   # importing the kernels enables float64

    if starts < 1:
        raise DataError(f"starts must be >= 1, got {starts}")
    plan = plan_starts(problem, starts, extra_starts)
    it1, it2 = STAGES
    cfg = FitConfig(logmask=problem.logmask, chain=plan.chain, n_starts=plan.vp_starts,
                    iter_stage1=min(it1, max_iter), iter_stage2=min(it2, max(max_iter - it1, 0)),
                    iter_stage3=max(max_iter - it1 - it2, 0), rescue_frac=0.25,
                    ftol=ftol, xtol=xtol, gtol=gtol)
    if chunk is None:
        chunk = _auto_chunk(problem, plan)
    out = _fit_chunks(problem, plan, cfg, chunk, progress)
    out = _canonical_order(problem, out)
    return _assemble(problem, out, absolute_sigma, dict(starts=starts, max_iter=max_iter,
                                                        chunk=chunk))


def _auto_chunk(problem: FitProblem, plan: StartPlan) -> int:
    """Spectra per compiled call from the device (docs/scaling.md)."""
    chain = plan.chain
    return auto_chunk(problem.batch.n_freq, problem.circuit.n_params,
                      len(plan.combos) if chain is not None else 0,
                      len(chain[0]) + len(chain[1]) if chain is not None else 0)


def _per_spectrum(problem: FitProblem, plan: StartPlan) -> dict[str, np.ndarray]:
    """The kernel inputs with the batch first, by name (cut into chunks and padded)."""
    batch = problem.batch
    shape = (batch.n_spectra, problem.circuit.n_params)
    arrays = dict(omega=2 * np.pi * batch.freq, Z=batch.Z, w_re=problem.w_re, w_im=problem.w_im,
                  lo=np.broadcast_to(problem.lo, shape), hi=np.broadcast_to(problem.hi, shape),
                  p_fixed=problem.p_fixed, p_starts=plan.p_starts)
    if plan.log_tau.ndim == 2:
        arrays["log_tau"] = plan.log_tau
    for j, nb in enumerate(plan.n_blocks):
        if nb.ndim == 2:
            arrays[f"n_block{j}"] = nb
    return arrays


def _padded(arrays: dict, start: int, stop: int, size: int) -> dict:
    """Rows start:stop of every array, padded to ``size`` rows with copies of the first."""
    sl = {k: v[start:stop] for k, v in arrays.items()}
    pad = size - (stop - start)
    if pad:
        sl = {k: np.concatenate([v, np.repeat(v[:1], pad, axis=0)]) for k, v in sl.items()}
    return sl


def _chunk_program(problem: FitProblem, plan: StartPlan, cfg, chunk: dict) -> Callable:
    """fn(slice) -> FitOut: the pipeline on one device's equal slice of a padded chunk."""
    from fastfit.kernels import fit_pipeline

    free = np.asarray(~problem.fixed)
    omega_shared = 2 * np.pi * problem.batch.freq[0] if problem.batch.shared_freq else None

    def call(s):
        d = {k: v[s] for k, v in chunk.items()}
        log_tau = d["log_tau"] if plan.log_tau.ndim == 2 else plan.log_tau
        n_block = [nb if nb.ndim == 1 else d[f"n_block{j}"] for j, nb in enumerate(plan.n_blocks)]
        return fit_pipeline(problem.circuit.tree, cfg, d["omega"], d["Z"], d["w_re"], d["w_im"],
                            d["lo"], d["hi"], free, d["p_fixed"], d["p_starts"], log_tau,
                            plan.combos, n_block, omega_shared)

    return call


def _fit_chunks(problem: FitProblem, plan: StartPlan, cfg, chunk: int, progress):
    """Kernel output (FitOut of numpy arrays, B rows) of every chunk, in batch order."""
    B = problem.n_spectra
    devs = devices_for(min(B, chunk))
    size = split_size(min(B, chunk), len(devs))   # bucket_size(...) on one device
    arrays = _per_spectrum(problem, plan)
    outs = []
    for start in range(0, B, size):
        stop = min(start + size, B)
        call = _chunk_program(problem, plan, cfg, _padded(arrays, start, stop, size))
        o = run_split(call, size, devs)
        outs.append(type(o)(*(v[: stop - start] for v in o)))
        if progress is not None:
            progress(stop, B)
    return type(outs[0])(*(np.concatenate(vs) for vs in zip(*outs)))


def _canonical_order(problem: FitProblem, out):
    """Same-kind chain blocks fastest first (:func:`canonical_permutation`)."""
    perm = canonical_permutation(chain_of(problem.circuit), out.p, problem.fixed)
    if perm is None:
        return out
    rows = np.arange(problem.n_spectra)[:, None]
    return out._replace(x=out.x[rows, perm], p=out.p[rows, perm],
                        at_bound=out.at_bound[rows, perm],
                        cov_x=out.cov_x[rows[:, :, None], perm[:, :, None], perm[:, None, :]])


def _assemble(problem: FitProblem, out, absolute_sigma: bool, options: dict) -> FitResult:
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
    status = np.where(~np.isfinite(chi2), FitStatus.NONFINITE, status)
    Zf = out.Z_fit
    return FitResult(circuit=problem.circuit, params=p, stderr=stderr, cov=cov, chi2=chi2,
                     chi2_red=chi2_red, residuals=problem.weighted_residuals(Zf), Z_fit=Zf,
                     n_iter=out.n_iter.astype(np.int64), status=status.astype(np.int64),
                     n_points=problem.n_points.astype(np.int64), dof=dof.astype(np.int64),
                     fixed=fixed, weight=problem.weight, mask=problem.batch.mask,
                     options=options)


# public for fitting._local (a local refit is assembled exactly as a fit)
assemble = _assemble
