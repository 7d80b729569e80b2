"""The refits of :func:`fastfit.bootstrap`: every resample of every spectrum on its own
(batched, warm-started at the optimum), or whole resampled series as joint fits when
parameters are shared across spectra."""
from __future__ import annotations

import numpy as np

from ..fitting import FitResult, FitStatus, refit_local

__all__ = ["independent_refits", "joint_refits", "weighted_jacobian", "ROWS_PER_CALL"]

ROWS_PER_CALL = 16384     # resample rows generated and refitted per call (bounds memory)


def independent_refits(r: FitResult, setup, samples, status, opts: dict, progress) -> None:
    """Every resample of every converged spectrum refitted on its own from the optimum
    (:func:`~fastfit.fitting.refit_local`, many resamples per call); fills ``samples`` and
    ``status`` (n, B, ...) in place."""
    problem, ok = setup.problem, setup.ok
    n = samples.shape[0]
    per_call = max(1, ROWS_PER_CALL // ok.size)
    # every resample of a spectrum starts at its optimum, where the Jacobian J is the
    # fit's: the first LM trip's normal equations (J^T J, J^T e*, |e*|^2 / 2 with e* the
    # drawn weighted residuals) need no model evaluation
    Jx = weighted_jacobian(r, problem, ok)                      # (B_ok, 2F, P)
    A = np.einsum("bip,biq->bpq", Jx, Jx)
    for first in range(0, n, per_call):
        reps = range(first, min(n, first + per_call))
        E = np.stack([setup.residuals(i) for i in reps])        # (reps, B_ok, 2, F)
        Zstar = np.concatenate([setup.data(e) for e in E])
        E = E.reshape(len(reps), ok.size, -1)
        g = np.matmul(E.transpose(1, 0, 2), Jx).transpose(1, 0, 2)  # (reps, B_ok, P)
        normal = (0.5 * np.einsum("rbi,rbi->rb", E, E).reshape(-1),
                  np.tile(A, (len(reps), 1, 1)), g.reshape(-1, A.shape[-1]))
        rows = np.tile(ok, len(reps))
        lf = refit_local(problem, r.params[rows], rows=rows, Z=Zstar, normal=normal, **opts)
        good = lf.status > 0
        for k, i in enumerate(reps):
            sl = slice(k * ok.size, (k + 1) * ok.size)
            samples[i, ok] = np.where(good[sl, None], lf.params[sl], np.nan)
            status[i, ok] = lf.status[sl]
        if progress is not None:
            progress(reps.stop * ok.size, n * ok.size)


def weighted_jacobian(r: FitResult, problem, ok: np.ndarray) -> np.ndarray:
    """(B_ok, 2F, P) Jacobian of the weighted residuals [w_re Re; w_im Im] at the fit's
    optimum by the kernels' transformed parameters (ln p for log-scaled ones: dZ/dln p =
    p dZ/dp); 0 at unused points."""
    c, lm = r.circuit, np.asarray(problem.logmask, bool)
    p = r.params[ok]
    with np.errstate(divide="ignore"):            # the start as the kernels clip it
        x = np.clip(np.where(lm, np.log(np.where(lm, p, 1.0)), p), problem.lo, problem.hi)
    p = np.where(lm, np.exp(x), x)
    _, J = c.impedance_and_jacobian(problem.batch.freq[ok], p)       # (B_ok, F, P)
    J = J * np.where(problem.logmask, p, 1.0)[:, None, :]
    w_re, w_im = problem.w_re[ok][:, :, None], problem.w_im[ok][:, :, None]
    return np.concatenate([np.where(w_re > 0, w_re * J.real, 0.0),
                           np.where(w_im > 0, w_im * J.imag, 0.0)], axis=1)


def joint_refits(r: FitResult, setup, samples, status, opts: dict, progress) -> None:
    """Refits of a joint fit (shared parameters): every resample of the whole series is
    one joint LM from the fit's optimum (the series' spectra are coupled through the
    shared values, so they are resampled and refitted together); fills ``samples`` and
    ``status`` (n, B, ...) in place."""
    from ..fitting import joint_solve
    from ..kernels import to_internal

    problem, ok = setup.problem, setup.ok
    n = samples.shape[0]
    x0 = np.array(to_internal(r.params, problem.logmask))
    Zs = np.array(problem.batch.Z)
    for i in range(n):
        Zs[ok] = setup.draw(i)
        out, p = joint_solve(problem, x0, r.options["shared"], opts["max_iter"], opts["ftol"],
                             Z=Zs)
        finite = np.isfinite(out.cost[ok]) & np.all(np.isfinite(p[ok]), axis=1)
        code = np.where(finite, FitStatus.CONVERGED if out.converged else FitStatus.MAX_ITER,
                        FitStatus.NONFINITE)
        status[i, ok] = code
        samples[i, ok] = np.where((code > 0)[:, None], p[ok], np.nan)
        if progress is not None:
            progress((i + 1) * ok.size, n * ok.size)
