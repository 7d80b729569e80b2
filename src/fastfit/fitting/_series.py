"""`fit_series`: time-resolved series -- warm starts and parameters shared across spectra."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from ..errors import DataError
from ._driver import run
from ._problem import FitProblem, prepare
from ._result import FitResult, FitStatus

__all__ = ["fit_series", "joint_solve"]


def fit_series(freq, Z=None, circuit=None, *, shared: Sequence[str] | None = None,
               warm_start: bool = True, p0=None, bounds=None, fixed=None, weight="modulus",
               mask=None, starts: int = 2, max_iter: int = 1000, joint_max_iter: int = 200,
               absolute_sigma: bool = False, chunk: int | None = None, ftol: float = 1e-10,
               xtol: float = 1e-10, gtol: float = 1e-12,
               progress: Callable[[int, int], None] | None = None) -> FitResult:
    r"""Fit a time-ordered series of spectra.

    Parameters
    ----------
    freq, Z, circuit, p0, bounds, fixed, weight, mask, starts, max_iter, absolute_sigma, chunk, ftol, xtol, gtol, progress :
        as :func:`fastfit.fit`; spectra are taken in the given (time) order
    shared : parameter names whose value is common to all spectra (e.g. bulk ``R0`` and
        the CPE exponents); the others are fitted per spectrum.  Solved jointly: the sum
        of all spectra's chi2 is minimised over (shared, all local) parameters by LM with
        the Schur complement of the block-arrow normal equations
        (:mod:`fastfit.kernels._joint`).
    warm_start : each spectrum is also started from its predecessor's solution; the full
        data-derived start procedure always runs too, and the best start wins, so a bad
        predecessor (a jump in the series) falls back to the full procedure.
    joint_max_iter : LM iteration budget of the joint solve with ``shared``

    Returns
    -------
    FitResult
        With ``shared``, the shared columns of ``params`` are equal in every row; their
        ``stderr`` is the joint-fit standard error, and ``chi2_red`` is the series value
        (sum chi2 / (sum 2 n_points - n_free_total)) in every row.  ``cov[b]`` is the
        block of the joint covariance for spectrum b's local and the shared parameters,
        including their cross terms (block-arrow inverse: cov_LS = -A_LL^-1 A_LS S^-1).

    Notes
    -----
    Warm starting is batched, not sequential: pass 1 fits every spectrum from its own
    data-derived starts; pass 2 starts every spectrum b from the pass-1 solution of b-1
    (and b+1) and keeps whichever of the two is better.  A sequential chain would make the
    result of spectrum b depend on the failure of any earlier spectrum; the batched form
    gives each spectrum both chances at the cost of a second, cheaper pass.
    """
    problem = prepare(freq, Z, circuit, p0=p0, bounds=bounds, fixed=fixed, weight=weight,
                      mask=mask)
    run_kw = dict(starts=starts, max_iter=max_iter, absolute_sigma=absolute_sigma, chunk=chunk,
                  ftol=ftol, xtol=xtol, gtol=gtol, progress=progress)
    res = run(problem, **run_kw)
    if warm_start and len(res) > 1:
        res = _warm_pass(problem, res, run_kw)
    res = replace(res, options={**res.options, "warm_start": warm_start})
    if shared:
        res = _joint(problem, res, list(shared), joint_max_iter, ftol, absolute_sigma)
        # The joint solve is local: a spectrum whose own parameters sit in a worse basin at
        # the shared values (e.g. two arcs exchanged) is re-fitted with the shared values
        # held fixed (full multi-start); if any spectrum improves, the joint solve restarts
        # from the improved local parameters.
        res = _refine_locals(problem, res, list(shared), run_kw, joint_max_iter, ftol,
                             absolute_sigma)
    return res


def _warm_pass(problem: FitProblem, res: FitResult, run_kw: dict) -> FitResult:
    """Pass 2: every spectrum also started from its neighbours' pass-1 solutions."""
    prev = np.concatenate([res.params[:1], res.params[:-1]])
    nxt = np.concatenate([res.params[1:], res.params[-1:]])
    res2 = run(problem, **{**run_kw, "starts": 1}, extra_starts=np.stack([prev, nxt], axis=1))
    return _pick(res, res2, res2.chi2 < res.chi2 * (1 - 1e-12))


def _refine_locals(problem: FitProblem, res: FitResult, shared, run_kw, max_iter, ftol,
                   absolute_sigma):
    sh = [problem.circuit.param_index(n) for n in shared]
    loc = run(problem.holding(sh, res.params), **run_kw)
    better = loc.chi2 < res.chi2 * (1 - 1e-9)
    if not better.any():
        return res
    start = np.where(better[:, None], loc.params, res.params)
    res2 = _joint(problem, replace(res, params=start), shared, max_iter, ftol, absolute_sigma,
                  keep_shared=True)
    return res2 if res2.chi2.sum() < res.chi2.sum() else res


def _pick(a: FitResult, b: FitResult, use_b: np.ndarray) -> FitResult:
    def sel(x, y):
        m = use_b.reshape((-1,) + (1,) * (np.ndim(x) - 1))
        return np.where(m, y, x)

    fields = ("params", "stderr", "cov", "chi2", "chi2_red", "residuals", "Z_fit", "n_iter", "status", "escalated", "chi2_attainable")
    return replace(a, **{f: sel(getattr(a, f), getattr(b, f)) for f in fields})


def _joint_columns(problem: FitProblem, shared: list[str]) -> tuple[tuple, tuple]:
    """(local, shared) free parameter indices, checked."""
    c, fixed = problem.circuit, problem.fixed
    sh = tuple(sorted({c.param_index(n) for n in shared}))
    if any(fixed[k] for k in sh):
        raise DataError("a parameter cannot be both fixed and shared: "
                        + ", ".join(c.param_names[k] for k in sh if fixed[k]))
    loc = tuple(k for k in range(c.n_params) if not fixed[k] and k not in sh)
    if not loc:
        raise DataError("shared= names every free parameter; use fit() on the stacked data instead")
    return loc, sh


def joint_solve(problem: FitProblem, x, shared: Sequence[str], max_iter: int, ftol: float,
                Z=None):
    """The joint LM of all spectra of ``problem`` (kernels.joint_lm) from ``x`` (B, P)
    internal parameters (shared columns equal in every row), to the problem's data or to
    ``Z`` (B, F) complex (a resample).  Returns (kernel output as numpy, physical params)."""
    from fastfit.kernels import joint_lm, to_physical

    c, batch, lm = problem.circuit, problem.batch, problem.logmask
    loc, sh = _joint_columns(problem, list(shared))
    lo = np.broadcast_to(problem.lo, x.shape)
    hi = np.broadcast_to(problem.hi, x.shape)
    x = np.clip(x, lo, hi)
    out = joint_lm(c.tree, lm, loc, sh, x, 2 * np.pi * batch.freq,
                   batch.Z if Z is None else Z, problem.w_re, problem.w_im, lo, hi,
                   max_iter, ftol)
    out = type(out)(*(np.asarray(v) for v in out))
    p = np.where(problem.fixed, problem.p_fixed, np.asarray(to_physical(out.x, lm)))
    return out, p


def _joint(problem: FitProblem, res: FitResult, shared: list[str], max_iter: int, ftol: float,
           absolute_sigma: bool, keep_shared: bool = False) -> FitResult:
    """Local and shared parameters fitted jointly (kernels.joint_lm), from ``res``."""
    from fastfit.kernels import to_internal

    c, batch, lm = problem.circuit, problem.batch, problem.logmask
    loc, sh = _joint_columns(problem, shared)
    B = len(res)
    x = np.array(to_internal(res.params, lm))
    ok = res.ok if res.ok.any() else np.ones(B, bool)
    if not keep_shared:
        x[:, list(sh)] = np.median(x[ok][:, list(sh)], axis=0)
    out, p = joint_solve(problem, x, shared, max_iter, ftol)
    chi2 = 2.0 * out.cost
    n_free_total = len(sh) + B * len(loc)
    dof_total = int(2 * problem.n_points.sum() - n_free_total)
    if dof_total <= 0:
        raise DataError(f"series has {dof_total} degrees of freedom for {n_free_total} free parameters")
    s2 = 1.0 if absolute_sigma else chi2.sum() / dof_total
    cov = _joint_covariance(problem, out, p, loc, sh) * s2
    stderr = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
    stderr = np.where(problem.fixed[None, :], np.nan, stderr)
    status = np.full(B, FitStatus.CONVERGED if out.converged else FitStatus.MAX_ITER, np.int64)
    status = np.where(np.isfinite(chi2), status, FitStatus.NONFINITE)
    Zf = np.asarray(c.impedance(batch.freq, p))
    return replace(res, params=p, stderr=stderr, cov=cov, chi2=chi2,
                   chi2_red=np.full(B, chi2.sum() / dof_total),
                   residuals=problem.weighted_residuals(Zf), Z_fit=Zf,
                   n_iter=np.full(B, int(out.n_iter), np.int64), status=status,
                   options={**res.options, "shared": [c.param_names[k] for k in sh]})


def _joint_covariance(problem: FitProblem, out, p: np.ndarray, loc, sh) -> np.ndarray:
    """(B, P, P) unscaled covariance in physical units from the joint kernel's blocks."""
    B, P = p.shape
    dpdx = np.where(problem.logmask, p, 1.0)
    cov = np.zeros((B, P, P))
    li, si = np.array(loc), np.array(sh)
    cov[np.ix_(np.arange(B), li, li)] = out.cov_L
    cov[:, si[:, None], si[None, :]] = out.cov_S[None]
    cov[:, li[:, None], si[None, :]] = out.cov_LS          # local-shared correlations
    cov[:, si[:, None], li[None, :]] = np.swapaxes(out.cov_LS, 1, 2)
    return cov * dpdx[:, :, None] * dpdx[:, None, :]
