"""`fit_series`: time-resolved series -- warm starts and parameters shared across spectra."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from ._fitresult import FitResult, FitStatus
from .errors import DataError

__all__ = ["fit_series"]


def fit_series(freq, Z=None, circuit=None, shared: Sequence[str] | None = None,
               warm_start: bool = True, p0=None, bounds=None, fixed=None, weight="modulus",
               mask=None, starts: int = 2, max_iter: int = 1000, joint_max_iter: int = 200,
               ftol: float = 1e-10, absolute_sigma: bool = False, **kwargs) -> FitResult:
    r"""Fit a time-ordered series of spectra.

    Parameters
    ----------
    freq, Z, circuit, p0, bounds, fixed, weight, mask, starts, max_iter :
        as :func:`fastfit.fit`; spectra are taken in the given (time) order
    shared : parameter names whose value is common to all spectra (e.g. bulk ``R0`` and
        the CPE exponents); the others are fitted per spectrum.  Solved jointly: the sum
        of all spectra's chi2 is minimised over (shared, all local) parameters by LM with
        the Schur complement of the block-arrow normal equations
        (:mod:`fastfit.kernels._joint`).
    warm_start : each spectrum is also started from its predecessor's solution; the full
        data-derived start procedure always runs too, and the best start wins, so a bad
        predecessor (a jump in the series) falls back to the full procedure.

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
    from .fitting import _run, prepare

    prep = prepare(freq, Z, circuit, p0=p0, bounds=bounds, fixed=fixed, weight=weight, mask=mask)
    run_kw = dict(starts=starts, max_iter=max_iter, absolute_sigma=absolute_sigma,
                  chunk=kwargs.pop("chunk", None), ftol=ftol, xtol=kwargs.pop("xtol", 1e-10),
                  gtol=kwargs.pop("gtol", 1e-12), progress=kwargs.pop("progress", None))
    if kwargs:
        raise TypeError(f"fit_series got unexpected arguments: {', '.join(kwargs)}")
    res = _run(prep, **run_kw)
    B = len(res)
    if warm_start and B > 1:
        prev = np.concatenate([res.params[:1], res.params[:-1]])
        nxt = np.concatenate([res.params[1:], res.params[-1:]])
        res2 = _run(prep, **{**run_kw, "starts": 1}, extra_starts=np.stack([prev, nxt], axis=1))
        better = res2.chi2 < res.chi2 * (1 - 1e-12)
        res = _pick(res, res2, better)
    res = replace(res, options={**res.options, "warm_start": warm_start})
    if shared:
        res = _joint(prep, res, list(shared), joint_max_iter, ftol, absolute_sigma)
        # The joint solve is local: a spectrum whose own parameters sit in a worse basin at
        # the shared values (e.g. two arcs exchanged) is re-fitted with the shared values
        # held fixed (full multi-start); if any spectrum improves, the joint solve restarts
        # from the improved local parameters.
        res = _refine_locals(prep, res, list(shared), run_kw, joint_max_iter, ftol, absolute_sigma)
    return res


def _refine_locals(prep, res: FitResult, shared, run_kw, max_iter, ftol, absolute_sigma):
    from .fitting import _run

    c = prep["circuit"]
    sh = [c.param_index(n) for n in shared]
    fixed = prep["fixed"].copy()
    fixed[sh] = True
    p_fixed = prep["p_fixed"].copy()
    p_fixed[:, sh] = res.params[:, sh]
    prep2 = {**prep, "fixed": fixed, "p_fixed": p_fixed, "n_free": int((~fixed).sum()),
             "have_p0": True}
    p_fixed_start = p_fixed.copy()
    p_fixed_start[:, ~fixed] = res.params[:, ~fixed]
    prep2["p_fixed"] = p_fixed_start
    loc = _run(prep2, **run_kw)
    better = loc.chi2 < res.chi2 * (1 - 1e-9)
    if not better.any():
        return res
    start = np.where(better[:, None], loc.params, res.params)
    res2 = _joint(prep, replace(res, params=start), shared, max_iter, ftol, absolute_sigma,
                  keep_shared=True)
    return res2 if res2.chi2.sum() < res.chi2.sum() else res


def _pick(a: FitResult, b: FitResult, use_b: np.ndarray) -> FitResult:
    def sel(x, y):
        m = use_b.reshape((-1,) + (1,) * (np.ndim(x) - 1))
        return np.where(m, y, x)

    fields = ("params", "stderr", "cov", "chi2", "chi2_red", "residuals", "Z_fit", "n_iter", "status")
    return replace(a, **{f: sel(getattr(a, f), getattr(b, f)) for f in fields})


def _joint(prep, res: FitResult, shared: list[str], max_iter: int, ftol: float,
           absolute_sigma: bool, keep_shared: bool = False) -> FitResult:
    from fastfit.kernels._joint import joint_lm
    from fastfit.kernels._fit import to_internal, to_physical

    c = prep["circuit"]
    fixed = prep["fixed"]
    sh = tuple(sorted({c.param_index(n) for n in shared}))
    if any(fixed[k] for k in sh):
        raise DataError("a parameter cannot be both fixed and shared: "
                        + ", ".join(c.param_names[k] for k in sh if fixed[k]))
    loc = tuple(k for k in range(c.n_params) if not fixed[k] and k not in sh)
    if not loc:
        raise DataError("shared= names every free parameter; use fit() on the stacked data instead")
    lm = prep["logmask"]
    batch = prep["batch"]
    B = len(res)
    x = np.array(to_internal(res.params, lm))
    ok = res.ok if res.ok.any() else np.ones(B, bool)
    if not keep_shared:
        x[:, list(sh)] = np.median(x[ok][:, list(sh)], axis=0)
    lo = np.broadcast_to(prep["lo"], x.shape)
    hi = np.broadcast_to(prep["hi"], x.shape)
    x = np.clip(x, lo, hi)
    out = joint_lm(c.tree, lm, loc, sh, x, 2 * np.pi * batch.freq, batch.Z, prep["w_re"],
                   prep["w_im"], lo, hi, max_iter, ftol)
    out = {k: np.asarray(v) for k, v in out.items()}
    p = np.where(fixed, prep["p_fixed"], np.asarray(to_physical(out["x"], lm)))
    chi2 = 2.0 * out["cost"]
    n_free_total = len(sh) + B * len(loc)
    dof_total = int(2 * prep["n_points"].sum() - n_free_total)
    if dof_total <= 0:
        raise DataError(f"series has {dof_total} degrees of freedom for {n_free_total} free parameters")
    s2 = 1.0 if absolute_sigma else chi2.sum() / dof_total
    dpdx = np.where(lm, p, 1.0)
    P = c.n_params
    cov = np.zeros((B, P, P))
    li, si = np.array(loc), np.array(sh)
    cov[np.ix_(np.arange(B), li, li)] = out["cov_L"]
    cov[:, si[:, None], si[None, :]] = out["cov_S"][None]
    cov[:, li[:, None], si[None, :]] = out["cov_LS"]          # local-shared correlations
    cov[:, si[:, None], li[None, :]] = np.swapaxes(out["cov_LS"], 1, 2)
    cov = cov * dpdx[:, :, None] * dpdx[:, None, :] * s2
    stderr = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0.0))
    stderr = np.where(fixed[None, :], np.nan, stderr)
    status = np.full(B, FitStatus.CONVERGED if out["converged"] else FitStatus.MAX_ITER, np.int64)
    status = np.where(np.isfinite(chi2), status, FitStatus.NONFINITE)
    Zf = np.asarray(c.impedance(batch.freq, p))
    resid = prep["w_re"] * (Zf.real - batch.Z.real) + 1j * prep["w_im"] * (Zf.imag - batch.Z.imag)
    return replace(res, params=p, stderr=stderr, cov=cov, chi2=chi2,
                   chi2_red=np.full(B, chi2.sum() / dof_total), residuals=resid, Z_fit=Zf,
                   n_iter=np.full(B, int(out["n_iter"]), np.int64), status=status,
                   options={**res.options, "shared": [c.param_names[k] for k in sh]})
