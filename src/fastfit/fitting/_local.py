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

from .._devices import map_leaves, auto_chunk, devices_for, run_split, split_size
from ..errors import ShapeError
from ._driver import assemble
from ._problem import FitProblem
from ._result import FitResult, FitStatus, fit_status

__all__ = ["LocalFit", "refit_local", "fit_from", "FIRST_STAGE_ITER", "COMPACT_SIZE",
           "COMPACT_ITER", "TAIL_SIZE", "MU_START"]

FIRST_STAGE_ITER = 4    # LM iterations on a whole chunk; from an optimum bootstrap refits
                        # converge in 3 (85 %) or 4 (99 %) with MU_START = 1e-5; 3-8
                        # measured, 4 fastest (with MU_START = 1e-3: 4-5, 5 fastest)
COMPACT_SIZE = 256      # chunks above this size: many rows still running continue in
COMPACT_ITER = 24       # groups of this size for up to this many iterations, ...
TAIL_SIZE = 32          # ... the rest in groups of this size
MU_START = 1e-5         # initial LM damping, relative to diag(J^T J): near an optimum the
                        # Gauss-Newton step is nearly right; 200 x 1,000 bootstrap refits
                        # of two-arc spectra take 12 % less time than with 1e-3 (one
                        # iteration fewer: a CPE's Q and n are strongly correlated, and
                        # 1e-3 damps that direction), none fails (1e-6: the same)


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
                chunk: int | None = None, normal=None,
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
        (default ``MU_START`` = 1e-5: nearly Gauss-Newton, for starts next to an optimum:
        a bootstrap resample converges in 3-4 iterations instead of ~11); None: the
        kernels' start value for far starts (1e-3 max diag(J^T J)), more robust where the
        problem is nearly singular (a flat profile)
    chunk : rows per compiled call (default: as :func:`fastfit.fit`)
    normal : optional (cost (R,), A (R, P, P), g (R, P)): the normal equations of every row
        at its (clipped) start in the kernels' transformed coordinates (ln p for
        log-scaled parameters): 0.5 sum r^2, J^T J and J^T r of the weighted residuals r =
        w (Z_model - Z).  Known without a model evaluation when rows share a Jacobian (the
        resamples of a bootstrap all start at the optimum); saves the evaluation trip
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
                                   (ftol, xtol, gtol), mu_start, chunk, progress, False, normal)
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
              progress, full: bool, normal=None):
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
    pending = None      # (start, stop, program, first stage in flight) of the previous chunk
    for start in range(0, R + size, size):
        if start < R:
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
            if normal is not None:
                data.update(n_cost=normal[0][idx], n_A=normal[1][idx], n_g=normal[2][idx])
            prog = _SliceProgram(problem, free, data, max_iter, tols, mu_start, full)
            # one device: this chunk's first LM stage is dispatched (asynchronously)
            # before the previous chunk's host work, so the two overlap
            nxt = (start, stop, prog, _on(devs[0], prog.begin) if D == 1 else None)
        else:
            nxt = None
        if pending is not None:
            c_start, c_stop, c_prog, c_first = pending
            o = (map_leaves(_on(devs[0], c_prog.end, c_first), np.asarray) if D == 1
                 else run_split(c_prog, size, devs))
            outs.append({k: v[: c_stop - c_start]
                         for k, v in (o._asdict() if full else o).items()})
            if progress is not None:
                progress(c_stop, R)
        pending = nxt
    out = {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}
    if full:
        from fastfit.kernels import FitOut
        out = FitOut(**out)
    return held, p_fixed, out


def _on(device, fn, *args):
    """fn(whole slice, *args) with ``device`` as JAX's default device."""
    import jax

    with jax.default_device(device):
        return fn(slice(None), *args)


def _per_device(n: int, full: int) -> int:
    """Rows per device for n rows: 256 or the full chunk -- one shape for every small
    call, so the many small refits of one analysis (profile steps, refits of a few
    spectra) share one compiled program (padding 256 rows costs a few ms per call,
    compiling another shape about a second)."""
    return min(256, full) if n <= 256 else full


class _SliceProgram:
    """The local LM on one device's slice of a padded chunk: ``prog(slice)`` -> kernel
    output, or in two halves, ``end(slice, begin(slice))``: ``begin`` dispatches the first
    stage (all rows, device arrays, not waited for), ``end`` runs the compacted stages
    and the finish on the host's copy."""

    def __init__(self, problem: FitProblem, free, data: dict, max_iter: int, tols, mu_start,
                 full: bool):
        self.problem, self.free, self.data = problem, free, data
        self.max_iter, self.tols, self.mu_start, self.full = max_iter, tols, mu_start, full

    def _args(self, s):
        d = {k: np.asarray(v[s]) for k, v in self.data.items()}
        return d, (d["omega"], d["Z"], d["w_re"], d["w_im"], d["lo"], d["hi"])

    def __call__(self, s):
        return self.end(s, self.begin(s))

    def begin(self, s):
        """(state after the first stage, iterations it was given), state not on the host."""
        from fastfit.kernels import fresh_state, lm_continue

        tree, lm = self.problem.circuit.tree, self.problem.logmask
        d, args = self._args(s)
        st = fresh_state(lm, d["p0"], d["lo"], d["hi"], self.free, d["p_fixed"])
        if "n_A" in d:      # normal equations given: no evaluation trip
            mu = (np.full(st.mu.shape, float(self.mu_start)) if self.mu_start is not None
                  else 1e-3 * np.max(np.diagonal(d["n_A"], axis1=1, axis2=2), axis=1) + 1e-30)
            st = st._replace(cost=d["n_cost"], A=d["n_A"], g=d["n_g"], mu=mu)
        # Gauss-Newton-like damping from the first step: a fresh state's negative mu is
        # taken as the start value by the kernel's evaluation trip (its own default,
        # 1e-3 max diag(J^T J) times diag(J^T J), suits far starts)
        elif self.mu_start is not None:
            st = st._replace(mu=np.full(st.mu.shape, -float(self.mu_start)))
        # a big chunk: the first iterations on all rows (stragglers later in groups of
        # 256, then of 32); a small one (<= 256 rows): all of it to the end, in the one
        # program every small call shares (no other shape is compiled)
        big = st.x.shape[0] > COMPACT_SIZE
        iters = min(FIRST_STAGE_ITER, self.max_iter) if big else self.max_iter
        if iters <= 0:
            return st, 0
        return lm_continue(tree, lm, st, *args, self.free, iters, *self.tols), iters

    def end(self, s, first):
        from fastfit.kernels import LM_STATUS, lm_continue, lm_finalize

        tree, lm, free = self.problem.circuit.tree, self.problem.logmask, self.free
        running_code = LM_STATUS["RUNNING"]
        d, args = self._args(s)
        st, done = first
        st = _host(st)
        n = st.x.shape[0]
        left = self.max_iter - done
        big = n > COMPACT_SIZE
        tiers = ((COMPACT_SIZE, COMPACT_ITER), (TAIL_SIZE, None)) if big else ()
        for k, (size, cap) in enumerate(tiers):
            running = np.nonzero(st.status == running_code)[0]
            if left <= 0 or not running.size:
                break
            if k == 0 and running.size <= size // 2:
                continue                    # few left: straight to the small batches
            iters = left if cap is None else min(cap, left)
            for j in range(0, running.size, size):
                sel = running[j:j + size]
                sel = np.concatenate([sel, np.full(size - sel.size, sel[0])])
                sub = type(st)(*(leaf[sel] for leaf in st))
                sub = _host(lm_continue(tree, lm, sub, *(a[sel] for a in args), free,
                                        iters, *self.tols))
                for leaf, new in zip(st, sub):
                    leaf[sel] = new
            left -= iters
        if self.full:
            return lm_finalize(tree, lm, st, d["omega"], d["w_re"], d["w_im"], d["lo"],
                               d["hi"], free)
        return _host_finish(st, lm, d["lo"], d["hi"], free)


def _host_finish(st, logmask, lo, hi, free) -> dict:
    """What :func:`refit_local` reports, from the final LM state in numpy: physical
    parameters, cost, status, iterations, free parameters at a bound and the smallest
    relative Cholesky pivot of the Jacobi-scaled J^T J on the other free parameters
    (``kernels.lm_covariance`` on the host, ``xp=numpy``; no vanished test)."""
    from fastfit.kernels import lm_covariance

    x = st.x
    lm = np.asarray(logmask, bool)
    with np.errstate(all="ignore"):
        p = np.where(lm, np.exp(np.where(lm, x, 0.0)), x)
        _, at_bound, piv = lm_covariance(st, lo, hi, free, xp=np)
    return dict(p=p, cost=st.cost, status=st.status, n_iter=st.n_iter, at_bound=at_bound,
                min_pivot=piv)


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
