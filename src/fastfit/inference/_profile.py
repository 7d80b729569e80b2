"""`profile`: profile-likelihood interval of one parameter, for every spectrum at once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .._results import BatchResult
from ..circuit import Circuit
from ..errors import DataError, ShapeError
from ..fitting import FitResult, FitStatus, refit_local
from ._data import problem_of
from ._stats import normal_ppf_two_sided, t_ppf_two_sided

__all__ = ["profile", "ProfileResult", "STEPS"]

#: positions of the profile, in units of the linearised half-width (both sides of the
#: optimum, each started from the previous position's solution)
STEPS = (0.5, 0.8, 1.0, 1.25, 1.6, 2.2, 3.0, 4.5, 7.0, 11.0, 18.0, 30.0)
REFINE = 2             # secant refinements of each crossing


@dataclass(frozen=True, eq=False)
class ProfileResult(BatchResult):
    """Profile-likelihood interval of one parameter for B spectra (``pr[key]``: a
    sub-batch).

    Attributes
    ----------
    circuit : Circuit;  param : str, the profiled parameter;  unit : str
    value : (B,) float64, its fitted value
    lo, hi : (B,) float64, interval ends, physical units: where the profile's
        Δchi2 crosses ``threshold``; where it does not cross before a bound (or the last
        step), the last position reached, with ``open_lo`` / ``open_hi`` set
    open_lo, open_hi : (B,) bool, no crossing on that side (the interval is at least as
        wide as shown: a bound, or a flat profile)
    threshold : (B,) float64, the Δchi2 level: s² t²(dof) (unknown sigma; s² = chi2_red)
        or chi2_1 quantile (``absolute_sigma``)
    grid : (B, G) float64, the profiled values visited (sorted; NaN where not visited)
    delta_chi2 : (B, G) float64, chi2 of the refit at ``grid`` minus the fit's chi2
    stderr_linear : (B,) float64, the fit's linearised standard error;  dof : (B,) int
    status : (B,) int64, :class:`FitStatus` of the original fit
    failed : (B,) bool, a refit along the profile failed (not finite, or its iteration
        budget ran out above the threshold; a converged refit with a singular J^T J --
        the other parameters not identifiable there, e.g. an arc shrinking away -- still
        gives the profile's value, and one that stopped short below the threshold is
        inside the interval for sure): that side's end is NaN
    improved : (B,) bool, a refit found a lower chi2 than the fit (the fit was not at
        the global optimum; the interval is relative to the fit's chi2)
    level : float;  absolute_sigma : bool
    """

    circuit: Circuit
    param: str
    value: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    open_lo: np.ndarray
    open_hi: np.ndarray
    threshold: np.ndarray
    grid: np.ndarray
    delta_chi2: np.ndarray
    stderr_linear: np.ndarray
    dof: np.ndarray
    status: np.ndarray
    failed: np.ndarray
    improved: np.ndarray
    level: float
    absolute_sigma: bool
    options: dict = field(default_factory=dict)

    rows_field: ClassVar[str] = "value"
    shared_fields: ClassVar[frozenset] = frozenset({"circuit", "param", "level",
                                                    "absolute_sigma", "options"})
    status_type: ClassVar[type] = FitStatus

    @property
    def ok(self) -> np.ndarray:
        """(B,) bool: the fit converged and no refit along the profile failed."""
        return (self.status > 0) & ~self.failed

    @property
    def unit(self) -> str:
        return self.circuit.units[self.circuit.param_index(self.param)]

    def ci(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi), each (B,): the profile-likelihood interval at ``level``."""
        return self.lo, self.hi

    def linear_ci(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi): value ± t stderr_linear at ``level`` (the fit's linearised interval)."""
        t = np.asarray(t_ppf_two_sided(self.level, np.maximum(self.dof, 1).astype(np.float64)))
        return self.value - t * self.stderr_linear, self.value + t * self.stderr_linear

    def to_dataframe(self):
        """pandas DataFrame, one row per spectrum: value, lo, hi, open_lo, open_hi,
        lo_linear, hi_linear, threshold, failed, status."""
        import pandas as pd

        llo, lhi = self.linear_ci()
        return pd.DataFrame({"value": self.value, "lo": self.lo, "hi": self.hi,
                             "open_lo": self.open_lo, "open_hi": self.open_hi,
                             "lo_linear": llo, "hi_linear": lhi, "threshold": self.threshold,
                             "failed": self.failed, "status": self.status.astype(np.int64)})

    def summary(self, max_rows: int = 10) -> str:
        """Readable table: value, profile interval ("≥"/"≤": open end) and linearised
        interval for the first spectra."""
        llo, lhi = self.linear_ci()
        lines = [f"Profile of {self.param} [{self.unit}] in {self.circuit}: {len(self)} spectra, "
                 f"{100 * self.level:g} % intervals, profile | linearised"]
        for b in range(min(len(self), max_rows)):
            a = ("≤" if self.open_lo[b] else "") + f"{self.lo[b]:.4g}"
            z = ("≥" if self.open_hi[b] else "") + f"{self.hi[b]:.4g}"
            lines.append(f"  {b:>4}  {self.value[b]:.4g}  [{a}, {z}] | "
                         f"[{llo[b]:.4g}, {lhi[b]:.4g}]" + ("  (refit failed)" if self.failed[b] else ""))
        if len(self) > max_rows:
            lines.append(f"... {len(self) - max_rows} more")
        return "\n".join(lines)


def profile(result: FitResult, freq, Z=None, param: str | None = None, level: float = 0.95, *,
            absolute_sigma: bool = False, weight=None, bounds=None, steps=STEPS,
            max_iter: int = 200, chunk: int | None = None) -> ProfileResult:
    r"""Profile-likelihood interval of one parameter, every spectrum of a fit at once.

    Parameters
    ----------
    result : FitResult of B spectra
    freq : (F,) or (B, F) float, Hz -- or the fitted :class:`SpectrumSeries`
    Z : (F,) or (B, F) complex, ohm, the fitted data
    param : str, the parameter (``"R2"``; impedance.py aliases accepted)
    level : confidence level in (0, 1)
    absolute_sigma : the weights are 1/sigma with known sigma: threshold chi2_1 quantile
        instead of the unknown-sigma s² F(1, dof) (see Notes)
    weight, bounds : the fit's weighting and bounds, as for :func:`bootstrap`
    steps : positions visited on each side, in units of the linearised half-width
        (increasing; default :data:`STEPS`, up to 30 half-widths)
    max_iter : LM iteration budget of each refit
    chunk : refits per compiled call

    Returns
    -------
    ProfileResult

    Notes
    -----
    The profile is chi2_p(θ) = min over the other parameters of chi2 with θ held.  The
    interval is {θ : chi2_p(θ) - chi2_min <= c}.  With sigma known (``absolute_sigma``),
    c is the chi2 quantile with 1 degree of freedom at ``level`` (Wilks).  With sigma
    unknown (fastfit's default, covariance scaled by s² = chi2_red), c = s² F(1, dof;
    level) = s² t²(dof) (Bates and Watts, *Nonlinear Regression Analysis and its
    Applications*, Wiley 1988, sec. 6.1.2, the likelihood-ratio interval with s² for
    sigma²), which reduces to the linearised interval value ± t se for a linear model.
    The parameter is moved away from the optimum in its fitted space (log for positive
    parameters) in ``steps`` of the linearised half-width (0.5 in ln p where that is not
    finite, e.g. at a bound), each position refitted by LM from the previous position's
    solution (continuation; :func:`fastfit.fitting.refit_local`), every spectrum and
    both sides in one batch per step.  Each crossing is refined by two secant steps on
    sqrt(Δchi2), which is linear in θ for a locally quadratic profile.
    """
    if not isinstance(result, FitResult):
        raise ShapeError(f"result must be a FitResult; got {type(result).__name__}")
    if param is None:
        raise ShapeError(f"param is required: one of {', '.join(result.param_names)}")
    k = result.circuit.param_index(param)
    name = result.circuit.param_names[k]
    if result.fixed[k]:
        raise DataError(f"{name} was fixed in the fit: there is nothing to profile")
    if not 0 < float(level) < 1:
        raise DataError(f"level must lie in (0, 1); got {level!r}")
    steps = np.asarray(steps, np.float64)
    if steps.ndim != 1 or steps.size < 1 or np.any(steps <= 0) or np.any(np.diff(steps) <= 0):
        raise DataError("steps must be increasing positive multiples of the half-width")
    problem = problem_of(result, freq, Z, weight, bounds)
    B = len(result)
    ok = np.nonzero(result.status > 0)[0]
    chi2_min = result.chi2
    s2 = np.ones(B) if absolute_sigma else result.chi2_red
    if absolute_sigma:
        c = np.full(B, normal_ppf_two_sided(level) ** 2)
    else:
        c = s2 * np.asarray(t_ppf_two_sided(level, np.maximum(result.dof, 1).astype(np.float64))) ** 2
    log = problem.logmask[k]
    lo_x, hi_x = float(problem.lo[k]), float(problem.hi[k])
    p_hat = result.params[:, k]
    x_hat = _to_x(p_hat, log)
    half = _half_width(result, k, log, c, s2, lo_x, hi_x)
    run = _Profile(problem, result, k, log, (lo_x, hi_x), chi2_min, c,
                   dict(max_iter=max_iter, chunk=chunk))
    ends = run.both_sides(ok, x_hat, half, steps)
    lo, hi = np.full(B, np.nan), np.full(B, np.nan)
    open_lo, open_hi = np.zeros(B, bool), np.zeros(B, bool)
    failed = np.zeros(B, bool)
    n = ok.size
    xe, op, fl = ends
    lo[ok], hi[ok] = _to_p(xe[:n], log), _to_p(xe[n:], log)
    open_lo[ok], open_hi[ok] = op[:n], op[n:]
    failed[ok] = fl[:n] | fl[n:]
    grid, dchi2 = run.grid(B, ok)
    return ProfileResult(circuit=result.circuit, param=name, value=p_hat.copy(), lo=lo, hi=hi,
                         open_lo=open_lo, open_hi=open_hi, threshold=c, grid=grid,
                         delta_chi2=dchi2, stderr_linear=result.stderr[:, k].copy(),
                         dof=result.dof.copy(), status=result.status.copy(), failed=failed,
                         improved=run.improved(B, ok), level=float(level),
                         absolute_sigma=bool(absolute_sigma),
                         options={"steps": steps.tolist(), "max_iter": max_iter})


def _to_x(p, log):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p) if log else np.asarray(p, np.float64)


def _to_p(x, log):
    return np.exp(x) if log else x


def _half_width(result: FitResult, k: int, log: bool, c, s2, lo_x, hi_x) -> np.ndarray:
    """(B,) expected distance (fitted space) from the optimum to the crossing:
    sqrt(c / s²) se_x, with a fallback where the linearised error is not finite."""
    se = result.stderr[:, k]
    p = result.params[:, k]
    with np.errstate(divide="ignore", invalid="ignore"):
        se_x = se / np.abs(p) if log else se
        h = np.sqrt(c / s2) * se_x
    span = hi_x - lo_x
    fallback = 0.5 if log else (0.05 * span if np.isfinite(span) else 0.1)
    if not log and not np.isfinite(span):
        fallback = np.maximum(0.1 * np.abs(p), 1e-3)
    return np.where(np.isfinite(h) & (h > 0), h, fallback)


class _Profile:
    """The continuation along the profile: rows are (side, spectrum) pairs."""

    def __init__(self, problem, result, k, log, bounds_x, chi2_min, c, opts):
        self.problem, self.result, self.k, self.log = problem, result, k, log
        self.lo_x, self.hi_x = bounds_x
        self.chi2_min, self.c, self.opts = chi2_min, c, opts
        self.hold = np.zeros(result.circuit.n_params, bool)
        self.hold[k] = True
        self.visited: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.best = np.array([])

    def _refit(self, spec, x, p_from):
        p0 = p_from.copy()
        p0[:, self.k] = _to_p(x, self.log)
        lf = refit_local(self.problem, p0, rows=spec, hold=self.hold, mu_start=None, **self.opts)
        return lf

    def both_sides(self, ok, x_hat, half, steps):
        """(x_end (2n,), open (2n,), failed (2n,)): rows [low side of ok..., high side...]."""
        spec = np.concatenate([ok, ok])
        sign = np.concatenate([-np.ones(ok.size), np.ones(ok.size)])
        x0 = np.concatenate([x_hat[ok], x_hat[ok]])
        h = np.concatenate([half[ok], half[ok]])
        R = spec.size
        cmin, c = self.chi2_min[spec], self.c[spec]
        self.best = cmin.copy()
        p_cur = self.result.params[spec].copy()
        x_in, d_in = x0.copy(), np.zeros(R)          # last position inside the interval
        x_out, d_out = np.full(R, np.nan), np.full(R, np.nan)
        p_in = p_cur.copy()
        done = np.zeros(R, bool)                     # crossed, at a bound, or failed
        open_ = np.zeros(R, bool)
        failed = np.zeros(R, bool)
        if R == 0:
            return np.zeros(0), open_, failed
        for m in steps:
            target = np.clip(x0 + sign * m * h, self.lo_x, self.hi_x)
            x = np.where(done, x_in, target)
            lf = self._refit(spec, x, np.where(done[:, None], p_in, p_cur))
            d = lf.chi2 - cmin
            bad = ~done & ~_usable(lf.status, d, c)
            failed |= bad
            done |= bad
            self._record(spec, x, d, ~done)
            cross = ~done & (d >= c)
            x_out = np.where(cross, x, x_out)
            d_out = np.where(cross, d, d_out)
            inside = ~done & ~cross
            x_in = np.where(inside, x, x_in)
            d_in = np.where(inside, np.maximum(d, 0.0), d_in)
            p_in = np.where(inside[:, None], lf.params, p_in)
            p_cur = np.where(~done[:, None], lf.params, p_cur)
            at_bound = inside & ((x <= self.lo_x) | (x >= self.hi_x))
            open_ |= at_bound
            done |= cross | at_bound
            if done.all():
                break
        open_ |= ~done                               # never crossed within the steps
        crossed = np.isfinite(x_out) & ~failed
        for _ in range(REFINE):
            if not crossed.any():
                break
            x_new = _secant(x_in, d_in, x_out, d_out, c)
            x_new = np.where(crossed, x_new, x_in)
            lf = self._refit(spec, x_new, p_in)
            d = lf.chi2 - cmin
            good = crossed & _usable(lf.status, d, c)
            self._record(spec, x_new, d, good)
            above = good & (d >= c)
            below = good & (d < c)
            x_out, d_out = np.where(above, x_new, x_out), np.where(above, d, d_out)
            x_in, d_in = np.where(below, x_new, x_in), np.where(below, np.maximum(d, 0), d_in)
            p_in = np.where(below[:, None], lf.params, p_in)
        x_end = np.where(crossed, _secant(x_in, d_in, x_out, d_out, c), x_in)
        x_end = np.where(failed, np.nan, x_end)
        return x_end, open_ & ~failed, failed

    def _record(self, spec, x, d, keep):
        self.visited.append((spec[keep], x[keep], d[keep]))
        np.minimum.at(self.best, np.nonzero(keep)[0], (d + self.chi2_min[spec])[keep])

    def grid(self, B: int, ok) -> tuple[np.ndarray, np.ndarray]:
        """(B, G) visited values (physical, sorted) and their Δchi2, NaN-padded; the
        optimum itself is included (Δchi2 = 0)."""
        spec = np.concatenate([ok] + [v[0] for v in self.visited])
        x = np.concatenate([_to_x(self.result.params[ok, self.k], self.log)]
                           + [v[1] for v in self.visited])
        d = np.concatenate([np.zeros(ok.size)] + [v[2] for v in self.visited])
        order = np.lexsort((x, spec))
        spec, x, d = spec[order], x[order], d[order]
        counts = np.bincount(spec, minlength=B)
        G = int(counts.max()) if counts.size else 0
        pos = np.arange(spec.size) - np.repeat(np.cumsum(counts) - counts, counts)
        grid, dchi2 = np.full((B, G), np.nan), np.full((B, G), np.nan)
        grid[spec, pos] = _to_p(x, self.log)
        dchi2[spec, pos] = d
        return grid, dchi2

    def improved(self, B: int, ok) -> np.ndarray:
        out = np.zeros(B, bool)
        if ok.size:
            n = ok.size
            lower = self.best < self.chi2_min[np.concatenate([ok, ok])] * (1 - 1e-9)
            out[ok] = lower[:n] | lower[n:]
        return out


def _usable(status, d, c) -> np.ndarray:
    """A refit tells where the profile is: it converged (a singular J^T J included: its
    chi2 is still the profile's minimum), or it stopped short but already below the
    threshold (chi2 at any point bounds the profile from above, so the position is
    inside the interval for sure)."""
    converged = (status > 0) | (status == FitStatus.SINGULAR)
    with np.errstate(invalid="ignore"):
        return np.isfinite(d) & (converged | ((status == FitStatus.MAX_ITER) & (d < c)))


def _secant(x_a, d_a, x_b, d_b, c):
    """Where sqrt(Δchi2) reaches sqrt(c) on the line through (x_a, sqrt d_a), (x_b,
    sqrt d_b) (inside the bracket)."""
    ga, gb = np.sqrt(np.maximum(d_a, 0.0)), np.sqrt(np.maximum(d_b, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.sqrt(c) - ga) / (gb - ga)
    t = np.where(np.isfinite(t), np.clip(t, 0.0, 1.0), 0.5)
    return x_a + t * (x_b - x_a)
