"""`refit_local`, `fit_from`: Levenberg-Marquardt from given starting points only, no
start search.

The path that bootstrap resamples and profile likelihoods need: many fits that start at
(or next to) a known optimum.  It runs only the stable LM stages of the kernels
(:func:`fastfit.kernels.fresh_state`, :func:`~fastfit.kernels.lm_continue`,
:func:`~fastfit.kernels.lm_finalize`), never the multi-start planning of
:func:`fastfit.fit`, so it costs a few LM iterations per row.

Rows are independent problems: row r fits spectrum ``rows[r]`` of a
:class:`~fastfit.fitting.FitProblem` (its frequencies, weights, mask and bounds), to the
problem's data or to a replacement ``Z[r]`` (a resampled spectrum), from ``p_start[r]``.
A resample batch is therefore just a bigger batch of spectra: rows are cut into chunks
padded to one shape bucket, so any number of rows runs through the same few compiled
programs.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .._devices import auto_chunk, devices_for, run_split, split_size
from ..errors import ShapeError
from ._driver import assemble
from ._problem import FitProblem
from ._result import FitResult, FitStatus, fit_status

__all__ = ["LocalFit", "refit_local", "fit_from", "FIRST_STAGE_ITER", "COMPACT_SIZE",
           "COMPACT_ITER", "TAIL_SIZE", "MU_START"]

FIRST_STAGE_ITER = 5    # LM iterations on a whole chunk; from an optimum bootstrap refits
                        # converge in a median of 4 (99 %: 6); 4-8 measured, 5 fastest
COMPACT_SIZE = 256      # chunks above this size: many rows still running continue in
COMPACT_ITER = 24       # groups of this size for up to this many iterations, ...
TAIL_SIZE = 32          # ... the rest in groups of this size
MU_START = 1e-3         # initial LM damping, relative to diag(J^T J): near an optimum the
                        # Gauss-Newton step is nearly right


class LocalFit(NamedTuple):
    """Outcome of :func:`refit_local` for R rows (row order of the call).

    params : (R, P) float64, fitted parameters in physical units (held ones as given)
    chi2 : (R,) float64, weighted sum of squared residuals at ``params``
    status : (R,) int64, :class:`FitStatus` codes (> 0 converged; SINGULAR, MAX_ITER and
        NONFINITE as in :func:`fastfit.fit`)
    n_iter : (R,) int64, LM iterations taken
    """

    params: np.ndarray
    chi2: np.ndarray
    status: np.ndarray
    n_iter: np.ndarray


def refit_local(problem: FitProblem, p_start, *, rows=None, Z=None, hold=None,
                max_iter: int = 200, ftol: float = 1e-10, xtol: float = 1e-10,
                gtol: float = 1e-12, mu_start: float | None = MU_START,
                chunk: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> LocalFit:
    """Fit R rows by LM from the given starting points (no start search).

    Parameters
    ----------
    problem : FitProblem of B spectra (:func:`fastfit.fitting.prepare`): frequencies,
        weights, mask, bounds and fixed parameters of every row come from it
    p_start : (R, P) float, physical starting points (clipped into the bounds); held and
        fixed columns keep these values (fixed ones: the problem's)
    rows : optional (R,) int, spectrum of the problem each row fits (default: row b fits
        spectrum b, R = B)
    Z : optional (R, F) complex, ohm: data replacing ``problem.batch.Z[rows]`` (e.g. a
        bootstrap resample); the weights stay the problem's
    hold : optional (P,) bool, parameters held at ``p_start`` as well (a profile)
    max_iter : LM iteration budget per row
    ftol, xtol, gtol : convergence tolerances as in :func:`fastfit.fit`
    mu_start : initial LM damping mu of (J^T J + mu diag(J^T J)) delta = -J^T r
        (default ``MU_START`` = 1e-3: nearly Gauss-Newton, for starts next to an optimum:
        a bootstrap resample converges in ~5 iterations instead of ~11); None: the
        kernels' start value for far starts (1e-3 max diag(J^T J)), more robust where the
        problem is nearly singular (a flat profile)
    chunk : rows per compiled call (default: as :func:`fastfit.fit`)
    progress : optional callable(done, total) after each chunk

    Returns
    -------
    LocalFit

    Notes
    -----
    A chunk of more than ``COMPACT_SIZE`` rows runs ``FIRST_STAGE_ITER`` iterations on all
    its rows; the rows still running are gathered into groups of ``COMPACT_SIZE`` for up
    to ``COMPACT_ITER`` more (when there are more than half a group of them), then into
    groups of ``TAIL_SIZE`` for the rest of the budget, so a few slow rows do not hold a
    whole chunk.  Smaller calls (padded to 256 rows) run to the end in one program.  Parameters, chi2 and status are read from the final LM state on
    the host (no covariance or model evaluation: :func:`fit_from` adds those).
    """
    held, p_fixed, out = _run_rows(problem, p_start, rows, Z, hold, max_iter,
                                   (ftol, xtol, gtol), mu_start, chunk, progress, False)
    return _local_fit(problem, held, p_fixed, out)


def fit_from(problem: FitProblem, p_start, *, max_iter: int = 200, absolute_sigma: bool = False,
             ftol: float = 1e-10, xtol: float = 1e-10, gtol: float = 1e-12,
             mu_start: float | None = MU_START, chunk: int | None = None) -> FitResult:
    """Fit every spectrum of ``problem`` by LM from ``p_start`` (B, P) only, as a
    :class:`FitResult` (covariance, status, residuals exactly as :func:`fastfit.fit`
    reports them; no start search, parameters keep the order they start in).

    Options as :func:`refit_local`; ``absolute_sigma`` as :func:`fastfit.fit`.
    """
    _, _, out = _run_rows(problem, p_start, None, None, None, max_iter, (ftol, xtol, gtol),
                          mu_start, chunk, None, True)
    # no attainable-chi2 estimate for local refits (inf: never ABOVE_ATTAINABLE); fastfit.fit
    # computes it for the spectra it fits from scratch
    return assemble(problem, out, np.full(problem.n_spectra, np.inf), absolute_sigma,
                    dict(starts=0, max_iter=max_iter, chunk=chunk, local=True))


def _run_rows(problem: FitProblem, p_start, rows, Z, hold, max_iter, tols, mu_start, chunk,
              progress, full: bool):
    """(held (P,), p_fixed (R, P), kernel output of numpy arrays for the R rows: a FitOut
    when ``full``, else the fields of :func:`_host_finish`)."""
    B, F = problem.batch.Z.shape
    P = problem.circuit.n_params
    rows = np.arange(B) if rows is None else np.asarray(rows, np.int64).reshape(-1)
    R = rows.size
    if R == 0:
        raise ShapeError("no rows to fit")
    p_start = np.asarray(p_start, np.float64)
    if p_start.shape != (R, P):
        raise ShapeError(f"p_start must have shape ({R}, {P}) for parameters "
                         f"{', '.join(problem.circuit.param_names)}; got {p_start.shape}")
    if (rows.min() < 0 or rows.max() >= B):
        raise ShapeError(f"rows must index the problem's {B} spectra")
    if Z is not None:
        Z = np.asarray(Z, np.complex128)
        if Z.shape != (R, F):
            raise ShapeError(f"Z must have shape ({R}, {F}); got {Z.shape}")
    held = problem.fixed.copy()
    if hold is not None:
        held |= np.asarray(hold, bool).reshape(P)
    free = ~held
    p_fixed = np.where(problem.fixed[None, :], problem.p_fixed[rows], p_start)
    size_hint = chunk or auto_chunk(F, P)
    devs = devices_for(min(R, size_hint))
    D = len(devs)
    size = split_size(_per_device(-(-min(R, size_hint) // D), -(-size_hint // D)) * D, D)
    outs = []
    for start in range(0, R, size):
        stop = min(start + size, R)
        idx = np.arange(start, stop)
        if stop - start < size:                       # pad with copies of the first row
            idx = np.concatenate([idx, np.full(size - (stop - start), start)])
        r = rows[idx]
        data = dict(omega=2 * np.pi * problem.batch.freq[r],
                    Z=problem.batch.Z[r] if Z is None else Z[idx],
                    w_re=problem.w_re[r], w_im=problem.w_im[r],
                    lo=np.broadcast_to(problem.lo, (size, P)),
                    hi=np.broadcast_to(problem.hi, (size, P)),
                    p_fixed=p_fixed[idx], p0=p_start[idx])
        call = _slice_program(problem, free, data, max_iter, tols, mu_start, full)
        o = run_split(call, size, devs)
        outs.append({k: v[: stop - start] for k, v in (o._asdict() if full else o).items()})
        if progress is not None:
            progress(stop, R)
    out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    if full:
        from fastfit.kernels import FitOut
        out = FitOut(**out)
    return held, p_fixed, out


def _per_device(n: int, full: int) -> int:
    """Rows per device for n rows: 256 or the full chunk -- one shape for every small
    call, so the many small refits of one analysis (profile steps, refits of a few
    spectra) share one compiled program (padding 256 rows costs a few ms per call,
    compiling another shape about a second)."""
    return min(256, full) if n <= 256 else full


def _slice_program(problem: FitProblem, free, data: dict, max_iter: int, tols, mu_start,
                   full: bool):
    """fn(slice) -> kernel output: the local LM on one device's slice of a padded chunk."""
    from fastfit.kernels import LM_STATUS, fresh_state, lm_continue, lm_finalize

    tree, lm = problem.circuit.tree, problem.logmask
    running_code = LM_STATUS["RUNNING"]

    def call(s):
        d = {k: np.asarray(v[s]) for k, v in data.items()}
        args = (d["omega"], d["Z"], d["w_re"], d["w_im"], d["lo"], d["hi"])
        st = fresh_state(lm, d["p0"], d["lo"], d["hi"], free, d["p_fixed"])
        # the evaluation trip alone (budget 0), then Gauss-Newton-like damping: the
        # kernels' start value (1e-3 max diag(J^T J), times diag(J^T J)) suits far starts
        if mu_start is not None:
            st = _host(lm_continue(tree, lm, st, *args, free, 0, *tols))
            st = st._replace(mu=np.where(st.status == running_code, mu_start, st.mu))
        n = st.x.shape[0]
        left = max_iter
        # a big chunk: the first iterations on all rows, stragglers in groups of 256,
        # then of 32; a small one (<= 256 rows): all of it to the end, in the one
        # program every small call shares (no other shape is compiled)
        big = n > COMPACT_SIZE
        tiers = ((n, FIRST_STAGE_ITER if big else None),
                 (COMPACT_SIZE if big else n, COMPACT_ITER),
                 (TAIL_SIZE if big else n, None))
        for k, (size, cap) in enumerate(tiers):
            running = np.nonzero(st.status == running_code)[0] if k else np.arange(n)
            if left <= 0 or not running.size:
                break
            if k == 1 and (not big or running.size <= size // 2):
                continue                    # few left: straight to the small batches
            iters = left if cap is None else min(cap, left)
            if size == n:
                st = _host(lm_continue(tree, lm, st, *args, free, iters, *tols))
            else:
                for j in range(0, running.size, size):
                    sel = running[j:j + size]
                    sel = np.concatenate([sel, np.full(size - sel.size, sel[0])])
                    sub = type(st)(*(leaf[sel] for leaf in st))
                    sub = _host(lm_continue(tree, lm, sub, *(a[sel] for a in args), free,
                                            iters, *tols))
                    for leaf, new in zip(st, sub):
                        leaf[sel] = new
            left -= iters
        if full:
            return lm_finalize(tree, lm, st, d["omega"], d["w_re"], d["w_im"], d["lo"], d["hi"],
                               free)
        return _host_finish(st, lm, d["lo"], d["hi"], free)

    return call


def _host_finish(st, logmask, lo, hi, free) -> dict:
    """What :func:`refit_local` reports, from the final LM state in numpy: physical
    parameters, cost, status, iterations, free parameters at a bound and the smallest
    relative Cholesky pivot of the Jacobi-scaled J^T J on the other free parameters (as
    ``kernels.lm_covariance`` computes them)."""
    x = st.x
    lm = np.asarray(logmask, bool)
    with np.errstate(over="ignore"):
        p = np.where(lm, np.exp(np.where(lm, x, 0.0)), x)
    with np.errstate(invalid="ignore"):
        eps = 1e-9 * (np.abs(hi - lo) + 1.0)
        at_bound = free & ((x <= lo + eps) | (x >= hi - eps))
    m = free & ~at_bound
    mm = m[:, :, None] & m[:, None, :]
    P = x.shape[1]
    H = np.where(mm, st.A, 0.0) + np.where(np.eye(P, dtype=bool) & ~m[:, :, None], 1.0, 0.0)
    dg = np.sqrt(np.maximum(np.diagonal(H, axis1=1, axis2=2), 1e-300))
    Hs = H / (dg[:, :, None] * dg[:, None, :])
    return dict(p=p, cost=st.cost, status=st.status, n_iter=st.n_iter, at_bound=at_bound,
                min_pivot=_min_pivot(Hs))


def _min_pivot(A: np.ndarray) -> np.ndarray:
    """(B,) smallest Cholesky pivot of A (B, P, P) relative to max |diag A| (the
    kernels' ``_factor``, in numpy)."""
    P = A.shape[-1]
    scale = np.max(np.abs(np.diagonal(A, axis1=1, axis2=2)), axis=1) + 1e-300
    L = np.zeros_like(A)
    piv = np.full(A.shape[0], np.inf)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for j in range(P):
            _pivot_column(A, L, j, scale, piv)
    return piv


def _pivot_column(A, L, j, scale, piv) -> None:
    """Column j of the Cholesky factor L (in place) and its pivot into ``piv``."""
    s = A[:, j, j] - np.sum(L[:, j, :j] ** 2, axis=1)
    np.minimum(piv, s / scale, out=piv)
    dj = np.sqrt(np.maximum(s, 1e-300 * scale))
    L[:, j, j] = dj
    if j + 1 < A.shape[-1]:
        L[:, j + 1:, j] = (A[:, j + 1:, j] - np.einsum("bik,bk->bi", L[:, j + 1:, :j],
                                                       L[:, j, :j])) / dj[:, None]


def _host(state):
    return type(state)(*(np.array(leaf) for leaf in state))


def _local_fit(problem: FitProblem, held, p_fixed, out: dict) -> LocalFit:
    """Physical parameters and :class:`FitStatus` codes (as :func:`fastfit.fit` assigns
    them: at a bound, singular normal matrix, non-finite chi2)."""
    params = np.where(held[None, :], p_fixed, out["p"])
    chi2 = 2.0 * out["cost"]
    status = fit_status(out["status"])
    conv = status > 0
    status = np.where(conv & out["at_bound"].any(axis=1), FitStatus.AT_BOUND, status)
    status = np.where(conv & (out["min_pivot"] < 1e-15), FitStatus.SINGULAR, status)
    status = np.where(~np.isfinite(chi2), FitStatus.NONFINITE, status)
    return LocalFit(params=params, chi2=chi2, status=status.astype(np.int64),
                    n_iter=out["n_iter"].astype(np.int64))
