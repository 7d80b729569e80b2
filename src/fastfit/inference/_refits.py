"""Refits of candidates whose start search missed, from another candidate's optimum
(the ``shared_starts`` step of :func:`~fastfit.inference.compare`)."""
from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from .._batch import as_batch
from ..circuit import Circuit
from ..fitting import FitResult, fit_from, prepare, refit_local
from ._criteria import criterion_at, rank_scores
from ._nesting import is_nested

__all__ = ["PER_NAME", "TOLS", "shared_refits", "LACK_OF_FIT", "residual_correlation",
           "refit_from", "N_TAU", "START_ITER", "CONTINUE_ITER", "added_starts",
           "replace_rows"]

PER_NAME = ("p0", "bounds", "fixed")      # fit options given per parameter name
TOLS = ("ftol", "xtol", "gtol", "absolute_sigma")


def shared_refits(freq, Z, cs, results: list, criterion: str, options: dict) -> None:
    """Refit candidates whose start search missed, from another candidate's solution.

    Candidate j is fitted again on a spectrum, starting from the values of the parameters
    it shares (by element name) with a *donor* candidate i, when

    * i is nested in j and fits better (lower chi2): j has missed its optimum for sure (a
      circuit fits at least as well as any circuit nested in it);
    * i and j are not nested either way, i fits better, j is not the chosen circuit, and
      j would be chosen if it fitted as well as i (a circuit sharing most elements with a
      better one, e.g. two arcs and a Warburg against three arcs, starts next to its own
      optimum from there);
    * the chosen circuit does not fit: its residuals are correlated along frequency
      (:func:`residual_correlation` > ``LACK_OF_FIT``), and j has more free parameters,
      is not nested in it and shares elements with i (a missing arc or tail leaves such
      a trace; j may have missed it).

    The donor is the eligible candidate with the lowest chi2.  The refit runs LM from the
    donor's shared values and :func:`added_starts` for j's other parameters; the better
    of old and new fit is kept.  ``results`` is updated in place.
    """
    if any(options.get(k) is not None for k in PER_NAME):
        return                                  # the user's p0/fixed decide the starts
    batch = as_batch(freq, Z, options.get("mask"))
    sub = {k: v for k, v in options.items() if k not in ("mask", "weight")}
    weight = options.get("weight", "modulus")
    scores, _, best = rank_scores(results, criterion)
    B = len(best)
    best_score = np.where(best >= 0, np.nanmin(np.where(np.isnan(scores), np.inf, scores),
                                               axis=1), np.inf)
    chi2 = np.stack([r.chi2 for r in results], axis=1)
    k_free = np.array([r.n_free for r in results])
    rho = np.full(B, -np.inf)
    for m, r in enumerate(results):
        sel = best == m
        if sel.any():
            rho[sel] = residual_correlation(r[np.nonzero(sel)[0]], batch.freq[sel])
    misfit = rho > LACK_OF_FIT
    for j, cj in enumerate(cs):
        donor = np.full(B, -1)
        donor_chi2 = np.full(B, np.inf)
        bigger = (best >= 0) & (k_free[np.maximum(best, 0)] < k_free[j]) & (best != j)
        not_in_best = np.array([not is_nested(cj, cs[b]) if b >= 0 else False for b in range(len(cs))])
        for i, ci in enumerate(cs):
            if i == j or is_nested(cj, ci) or not set(ci.elements) & set(cj.elements):
                continue
            ok = np.isfinite(chi2[:, i])
            with np.errstate(invalid="ignore"):
                worse = ok & ~(chi2[:, j] <= chi2[:, i] * (1 + 1e-9))
                if is_nested(ci, cj):
                    want = worse
                else:
                    could_win = criterion_at(chi2[:, i], results[j], criterion) < best_score
                    want = worse & (best != j) & could_win
            want |= ok & misfit & bigger & not_in_best[np.maximum(best, 0)]
            take = want & (chi2[:, i] < donor_chi2)
            donor = np.where(take, i, donor)
            donor_chi2 = np.where(take, chi2[:, i], donor_chi2)
        for i in np.unique(donor[donor >= 0]):
            rows = np.nonzero(donor == i)[0]
            again = refit_from(cs[i], results[i], cj, rows, batch, weight, sub)
            big = results[j]
            with np.errstate(invalid="ignore"):
                better = (again.status > 0) & ((big.status[rows] <= 0)
                                               | ~(big.chi2[rows] <= again.chi2))
            if better.any():
                results[j] = replace_rows(big, rows[better], again[np.nonzero(better)[0]])


LACK_OF_FIT = 0.3   # lag-1 residual correlation above which the chosen fit is suspect


def residual_correlation(result: FitResult, freq) -> np.ndarray:
    r"""(B,) lag-1 autocorrelation of a fit's weighted residuals along frequency.

    :math:`\rho = \sum_k (e'_k e'_{k+1} + e''_k e''_{k+1}) / \sum_k (e'^2_k + e''^2_k)`
    over neighbouring used points in frequency order (real and imaginary parts pooled).
    White noise gives rho ~ N(-1/N, 1/(2N)) for N points per part (sd 0.08 at N = 80);
    a missing arc or tail gives long runs of one sign and rho near 1 (the idea of the
    Durbin-Watson statistic, d ~ 2 (1 - rho)).
    """
    f = np.broadcast_to(np.asarray(freq, np.float64), result.residuals.shape)
    o = np.argsort(f, axis=1)
    e = np.take_along_axis(result.residuals, o, axis=1)
    m = np.take_along_axis(result.mask, o, axis=1)
    pair = m[:, 1:] & m[:, :-1]
    num = np.zeros(e.shape[0])
    den = np.zeros(e.shape[0])
    for part in (e.real, e.imag):
        x = np.where(m, part, 0.0)
        num += np.sum(np.where(pair, x[:, 1:] * x[:, :-1], 0.0), axis=1)
        den += np.sum(x * x, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, 0.0)



def refit_from(ci: Circuit, donor: FitResult, cj: Circuit, rows, batch, weight, sub):
    """Fit ``cj`` to the spectra ``rows`` from ``donor``'s values of the shared parameters.

    Starting points: the shared parameters from the donor, ``cj``'s other parameters
    from :func:`added_starts` (a grid of time constants over each spectrum's range); LM
    from every start (:func:`fastfit.fitting.refit_local`, all parameters free), the best
    per spectrum is returned as a FitResult.
    """
    shared = [n for n in ci.param_names if n in set(cj.param_names)]
    cols = [cj.param_names.index(n) for n in shared]
    held = np.zeros(cj.n_params, bool)
    held[cols] = True
    w = weight if isinstance(weight, str) else \
        np.broadcast_to(np.asarray(weight), batch.Z.shape)[rows]
    data = (batch.freq[rows], batch.Z[rows])
    mask = batch.mask[rows]
    starts = added_starts(cj, ~held, data[0], data[1], mask)          # (S, R, P)
    starts[:, :, cols] = donor.params[rows][:, [ci.param_names.index(n) for n in shared]]
    problem = prepare(*data, cj, mask=mask, weight=w)
    S, R, P = starts.shape
    lm = dict(max_iter=sub.get("max_iter", 1000), chunk=sub.get("chunk"),
              **{k: sub[k] for k in TOLS if k in sub and k != "absolute_sigma"})
    lf = refit_local(problem, starts.reshape(S * R, P), rows=np.tile(np.arange(R), S),
                     mu_start=None,               # far starts: the kernels' damping
                     **{**lm, "max_iter": min(START_ITER, lm["max_iter"])})
    chi2 = np.where(lf.status >= 0, lf.chi2, np.inf).reshape(S, R)
    pick = np.argmin(chi2, axis=0)
    best = lf.params.reshape(S, R, P)[pick, np.arange(R)]
    return fit_from(problem, best, absolute_sigma=sub.get("absolute_sigma", False),
                    **{**lm, "max_iter": min(CONTINUE_ITER, lm["max_iter"])})


N_TAU = 6         # time constants tried for the added elements
START_ITER = 100  # LM iterations of each of those starts (the best one then continues ...
CONTINUE_ITER = 300   # ... for up to this many: a refit still running then is dropped
                      # (the candidate keeps its own fit; ~1 % of refits, but they cost as
                      # much as all the others)


def added_starts(c: Circuit, which: np.ndarray, freq: np.ndarray, Z: np.ndarray, mask: np.ndarray,
                 n_tau: int = N_TAU) -> np.ndarray:
    """(n_tau, B, P) starting values for the parameters ``which`` of circuit ``c``, from
    their units: time constants tau_k = 1/(2 pi f_k) at ``n_tau`` frequencies log-spaced
    over each spectrum's measured range; resistances ("ohm") 0.3 x the spread of Re(Z);
    capacitances tau/R, CPE Q tau^0.85/R, exponents 0.85, Warburg coefficients
    R sqrt(omega_min); anything else its default value.  Other columns: the defaults."""
    B = Z.shape[0]
    fm = np.where(mask, freq, np.nan)
    zr = np.where(mask, Z.real, np.nan)
    R = 0.3 * np.maximum(np.nanmax(zr, axis=1) - np.nanmin(zr, axis=1), 1e-3 * np.nanmax(
        np.where(mask, np.abs(Z), np.nan), axis=1))
    lo, hi = np.log10(np.nanmin(fm, axis=1)), np.log10(np.nanmax(fm, axis=1))
    frac = (np.arange(n_tau) + 0.5) / n_tau
    tau = 1.0 / (2 * np.pi * 10 ** (lo[None, :] + frac[:, None] * (hi - lo)[None, :]))  # (S, B)
    w_min = 2 * np.pi * 10 ** lo
    out = np.broadcast_to(c.default_values, (n_tau, B, c.n_params)).copy()
    by_unit = {"ohm": lambda: R, "s": lambda: tau, "F": lambda: tau / R,
               "F s^(n-1)": lambda: tau ** 0.85 / R, "1": lambda: 0.85,
               "ohm s^-1/2": lambda: R * np.sqrt(w_min)}
    for k, unit in enumerate(c.units):
        if which[k] and unit in by_unit:
            out[:, :, k] = by_unit[unit]()
    lo_b, hi_b = c.default_bounds.T
    return np.clip(out, lo_b, hi_b)


def replace_rows(base: FitResult, rows: np.ndarray, new: FitResult) -> FitResult:
    """``base`` with its spectra ``rows`` taken from ``new`` (same circuit, len(rows))."""
    kw = {}
    for fld in fields(base):
        if fld.name in base.shared_fields:
            continue
        a = np.array(getattr(base, fld.name), copy=True)
        a[rows] = getattr(new, fld.name)
        kw[fld.name] = a
    return replace(base, **kw)

