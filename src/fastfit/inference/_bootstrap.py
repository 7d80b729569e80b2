"""`bootstrap`: parameter uncertainty of batched fits by refitting resampled spectra."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar

import numpy as np

from .._results import BatchResult
from ..circuit import Circuit
from ..errors import DataError, ShapeError
from ..fitting import FitResult, FitStatus
from ._boot_refits import independent_refits, joint_refits
from ._data import problem_of
from ._stats import t_ppf_two_sided

__all__ = ["bootstrap", "BootstrapResult", "KINDS", "MULTIPLIERS", "leverages", "resample"]

KINDS = ("residual", "wild")
MULTIPLIERS = ("rademacher", "mammen")
MAX_LEVERAGE = 0.99       # leverages are capped here before 1/sqrt(1 - h)


@dataclass(frozen=True, eq=False)
class BootstrapResult(BatchResult):
    """Bootstrap distribution of the parameters of B fitted spectra (``bs[key]``: a
    sub-batch of spectra, every resample kept).

    Attributes
    ----------
    circuit : Circuit
    param_names, units : list of str (P)
    params : (B, P) float64, the fitted parameters the resamples were built from
    samples : (n, B, P) float64, refitted parameters of every resample, physical units;
        NaN where that refit failed (its status <= 0) or the original fit had failed
    status : (n, B) int64, :class:`FitStatus` of every refit
    n_failed : (B,) int64, resamples of each spectrum whose refit failed (all n where the
        original fit had failed: nothing was resampled)
    stderr_linear : (B, P) float64, the fit's linearised standard errors
    dof : (B,) int64, the fit's degrees of freedom (2 n_points - n_free)
    fit_status : (B,) int64, status of the original fit
    fixed : (P,) bool
    kind : str, "residual" or "wild";  n : int, resamples;  seed : int
    options : dict, the remaining bootstrap options
    """

    circuit: Circuit
    params: np.ndarray
    samples: np.ndarray
    status: np.ndarray
    n_failed: np.ndarray
    stderr_linear: np.ndarray
    dof: np.ndarray
    fit_status: np.ndarray
    fixed: np.ndarray
    kind: str
    n: int
    seed: int
    options: dict = field(default_factory=dict)

    rows_field: ClassVar[str] = "params"
    shared_fields: ClassVar[frozenset] = frozenset({"circuit", "fixed", "kind", "n", "seed",
                                                    "options"})
    status_type: ClassVar[type] = FitStatus

    def __getitem__(self, key):
        """The spectra ``key`` (int, slice, boolean mask or index array), all resamples."""
        B = len(self)
        if isinstance(key, (bool, np.bool_)):
            raise TypeError("a spectrum index must be an int, slice, boolean mask or index array")
        if isinstance(key, (int, np.integer)):
            if not -B <= key < B:
                raise IndexError(f"spectrum index {key} out of range for {B} spectra")
            key = slice(key % B, key % B + 1)
        return replace(self, params=self.params[key], samples=self.samples[:, key],
                       status=self.status[:, key], n_failed=self.n_failed[key],
                       stderr_linear=self.stderr_linear[key], dof=self.dof[key],
                       fit_status=self.fit_status[key])

    @property
    def ok(self) -> np.ndarray:
        """(B,) bool: the original fit converged and at least one resample was refitted."""
        return (self.fit_status > 0) & (self.n_failed < self.n)

    @property
    def message(self) -> list[str]:
        """Per spectrum: how many resamples failed."""
        return [f"{int(k)} of {self.n} resamples failed" if s > 0 else
                f"not resampled: {FitStatus(int(s)).message}"
                for k, s in zip(self.n_failed, self.fit_status)]

    @property
    def param_names(self) -> list[str]:
        return self.circuit.param_names

    @property
    def units(self) -> list[str]:
        return self.circuit.units

    @property
    def stderr(self) -> np.ndarray:
        """(B, P) bootstrap standard errors: the standard deviation of the successful
        resamples (ddof = 1); NaN for fixed parameters and with fewer than 2 resamples."""
        ok = np.isfinite(self.samples)
        k = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(ok, self.samples, 0.0).sum(axis=0) / k
            var = np.where(ok, (self.samples - mean) ** 2, 0.0).sum(axis=0) / (k - 1)
        out = np.where(k >= 2, np.sqrt(var), np.nan)
        return np.where(self.fixed[None, :], np.nan, out)

    def ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval: the (1 - level)/2 and (1 + level)/2 quantiles of the
        successful resamples per spectrum and parameter; (lo, hi), each (B, P), physical
        units.  NaN where fewer than 2 resamples succeeded and for fixed parameters."""
        _check_level(level)
        a = 0.5 * (1.0 - level)
        with np.errstate(invalid="ignore"):
            # all-NaN columns (failed spectra) are expected: nanquantile then gives NaN
            with _quiet_all_nan():
                lo, hi = np.nanquantile(self.samples, [a, 1.0 - a], axis=0,
                                        method="median_unbiased")
        bad = (np.isfinite(self.samples).sum(axis=0) < 2) | self.fixed[None, :]
        return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)

    def linear_ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """The fit's linearised interval params ± t stderr_linear (Student t with the
        fit's dof, s² = chi2_red scaling); (lo, hi), each (B, P)."""
        _check_level(level)
        t = np.asarray(t_ppf_two_sided(level, np.maximum(self.dof, 1).astype(np.float64)))
        half = t[:, None] * self.stderr_linear
        return self.params - half, self.params + half

    def width_ratio(self, level: float = 0.95) -> np.ndarray:
        """(B, P) width of the bootstrap interval / width of the linearised interval
        (inf where the linearised error is infinite or missing but the bootstrap's is
        not; NaN where either is undefined)."""
        blo, bhi = self.ci(level)
        llo, lhi = self.linear_ci(level)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (bhi - blo) / (lhi - llo)
        lin_missing = ~np.isfinite(lhi - llo) & ~self.fixed[None, :]
        return np.where(lin_missing & np.isfinite(bhi - blo), np.inf, r)

    def disagreement(self, level: float = 0.95, factor: float = 2.0) -> np.ndarray:
        """(B, P) bool: bootstrap and linearised intervals differ in width by more than
        ``factor`` (either way), or only one of them is finite."""
        r = self.width_ratio(level)
        with np.errstate(invalid="ignore"):
            return (r > factor) | (r < 1.0 / factor)

    def to_dataframe(self, level: float = 0.95):
        """Tidy pandas DataFrame, one row per (spectrum, parameter): spectrum, parameter,
        unit, value, stderr_boot, lo_boot, hi_boot, stderr_linear, lo_linear, hi_linear,
        n_failed."""
        import pandas as pd

        B, P = self.params.shape
        blo, bhi = self.ci(level)
        llo, lhi = self.linear_ci(level)
        return pd.DataFrame({
            "spectrum": np.repeat(np.arange(B), P),
            "parameter": np.tile(np.array(self.param_names, dtype=object), B),
            "unit": np.tile(np.array(self.units, dtype=object), B),
            "value": self.params.reshape(-1), "stderr_boot": self.stderr.reshape(-1),
            "lo_boot": blo.reshape(-1), "hi_boot": bhi.reshape(-1),
            "stderr_linear": self.stderr_linear.reshape(-1),
            "lo_linear": llo.reshape(-1), "hi_linear": lhi.reshape(-1),
            "n_failed": np.repeat(self.n_failed, P)})

    def summary(self, level: float = 0.95, max_rows: int = 10) -> str:
        """Readable table: value, bootstrap and linearised intervals per parameter for the
        first spectra ("!" marks intervals that differ in width by more than 2x)."""
        blo, bhi = self.ci(level)
        llo, lhi = self.linear_ci(level)
        flag = self.disagreement(level)
        pct = f"{100 * level:g} %"
        lines = [f"Bootstrap ({self.kind}, n = {self.n}) of {self.circuit}: {len(self)} spectra, "
                 f"{int(self.n_failed.sum())} failed resamples; {pct} intervals "
                 "bootstrap | linearised"]
        for b in range(min(len(self), max_rows)):
            lines.append(f"spectrum {b}: {self.message[b]}")
            for k, (name, unit) in enumerate(zip(self.param_names, self.units)):
                mark = " !" if flag[b, k] else ""
                lines.append(f"  {name:>10} = {self.params[b, k]:.4g} {unit}  "
                             f"[{blo[b, k]:.4g}, {bhi[b, k]:.4g}] | "
                             f"[{llo[b, k]:.4g}, {lhi[b, k]:.4g}]{mark}")
        if len(self) > max_rows:
            lines.append(f"... {len(self) - max_rows} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"BootstrapResult({self.circuit}, {len(self)} spectra, n={self.n}, "
                f"kind={self.kind!r})")


class _quiet_all_nan:
    """Silence numpy's "All-NaN slice" RuntimeWarning (failed spectra are all NaN)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _check_level(level) -> None:
    if not 0 < float(level) < 1:
        raise DataError(f"level must lie in (0, 1); got {level!r}")


def leverages(result: FitResult, freq, w_re: np.ndarray, w_im: np.ndarray) -> np.ndarray:
    r"""(B, 2, F) leverages h of the weighted residuals [Re; Im] at the fit's optimum.

    h_i = j_iᵀ (JᵀJ)⁻¹ j_i for the rows j_i of the weighted Jacobian J = [w_re ∂Z'/∂p;
    w_im ∂Z''/∂p] over the free parameters that are identifiable and not at a bound
    (those with a finite standard error); 0 where masked (w = 0).  For a joint fit with
    shared parameters (:func:`fastfit.fit_series` ``shared=``), J is the Jacobian of the
    whole series and (JᵀJ)⁻¹'s block for spectrum b's local and the shared parameters is
    the fit's ``cov[b]`` without its chi2_red scaling, so h_i = j_iᵀ cov[b] j_i / s².
    """
    c = result.circuit
    _, J = c.impedance_and_jacobian(np.broadcast_to(freq, result.Z_fit.shape), result.params)
    cols = np.isfinite(result.stderr)                          # (B, P)
    Jr = np.concatenate([w_re[:, :, None] * J.real, w_im[:, :, None] * J.imag], axis=1)
    if result.options.get("shared"):
        s2 = 1.0 if result.options.get("absolute_sigma") else result.chi2_red
        C = np.where(cols[:, :, None] & cols[:, None, :], result.cov, 0.0)
        C = C / np.reshape(s2, (-1, 1, 1))
        with np.errstate(invalid="ignore", over="ignore"):
            h = np.einsum("bip,bpq,biq->bi", np.where(cols[:, None, :], Jr, 0.0), C,
                          np.where(cols[:, None, :], Jr, 0.0))
        h = np.where(np.isfinite(h), np.clip(h, 0.0, 1.0), 0.0)
        return h.reshape(h.shape[0], 2, -1)
    Jr = np.where(cols[:, None, :], Jr, 0.0)                   # (B, 2F, P)
    A = np.einsum("bip,biq->bpq", Jr, Jr)
    d = np.sqrt(np.maximum(np.diagonal(A, axis1=1, axis2=2), 1e-300))
    As = A / (d[:, :, None] * d[:, None, :]) + np.where(cols, 0.0, 1.0)[:, :, None] * np.eye(A.shape[1])
    Js = Jr / d[:, None, :]
    with np.errstate(invalid="ignore", over="ignore"):
        X = np.linalg.solve(As, np.swapaxes(Js, 1, 2))         # (B, P, 2F)
        h = np.einsum("bip,bpi->bi", Js, X)
    h = np.where(np.isfinite(h), np.clip(h, 0.0, 1.0), 0.0)
    return h.reshape(h.shape[0], 2, -1)


def _draws(kind: str, mult: str, rng: np.random.Generator, pool: np.ndarray,
           n_pool: np.ndarray, r2: np.ndarray) -> np.ndarray:
    """(B, 2, F) resampled weighted residuals for one resample.

    residual: uniform draws with replacement from each spectrum's pool (its centred,
    leverage-corrected residuals, valid ones first, ``n_pool`` of them); wild: the
    spectrum's own corrected residuals ``r2`` times independent multipliers.
    """
    B = r2.shape[0]
    if kind == "residual":
        u = rng.random((B, r2.shape[1] * r2.shape[2]))
        u *= n_pool[:, None]                                  # in place: 1.8x faster
        idx = u.astype(np.int64)
        np.minimum(idx, n_pool[:, None] - 1, out=idx)
        return np.take_along_axis(pool, idx, axis=1).reshape(r2.shape)
    if mult == "rademacher":
        v = rng.integers(0, 2, r2.shape) * 2.0 - 1.0
    else:   # Mammen (1993): mean 0, variance 1, third moment 1
        s5 = np.sqrt(5.0)
        v = np.where(rng.random(r2.shape) < (s5 + 1) / (2 * s5), -(s5 - 1) / 2, (s5 + 1) / 2)
    return r2 * v


def bootstrap(fit_result: FitResult, freq, Z=None, n: int = 200, kind: str = "residual",
              seed: int = 0, *, multipliers: str = "rademacher", leverage: bool = True,
              weight=None, bounds=None, max_iter: int = 200, ftol: float = 1e-8,
              xtol: float = 1e-8, chunk: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> BootstrapResult:
    r"""Bootstrap the parameters of a batched fit: n resamples of every spectrum, refitted.

    Parameters
    ----------
    fit_result : FitResult of B spectra (:func:`fastfit.fit` or :func:`fastfit.fit_series`)
    freq : (F,) or (B, F) float, Hz -- or the :class:`SpectrumSeries` that was fitted
    Z : (F,) or (B, F) complex, ohm: the data that was fitted
    n : resamples per spectrum (>= 2)
    kind : "residual" (resample the spectrum's residuals with replacement) or "wild"
        (each residual times a random sign or Mammen multiplier)
    seed : int, resample r of all converged spectra is drawn from
        ``numpy.random.default_rng([seed, r])``, so results do not depend on ``chunk`` or
        ``n`` (the first k resamples of n > k are those of k; :func:`resample` gives one)
    multipliers : "rademacher" (±1, default) or "mammen", for ``kind="wild"``
    leverage : scale residuals by 1/sqrt(1 - h) (leverage h at the optimum; see Notes)
    weight : the fit's weighting; default ``fit_result.weight`` (a sigma array must be
        given again: a FitResult keeps only its name)
    bounds : the fit's bounds if they were not the circuit's defaults ((P, 2) or
        {name: (lo, hi)})
    max_iter : LM iteration budget of each refit
    ftol, xtol : convergence tolerances of the refits (relative chi2 reduction, relative
        step; as :func:`fastfit.fit`, whose defaults are 1e-10).  1e-8, the defaults of
        scipy's ``least_squares``, leaves a sample within ~1e-3 of its standard error of
        the exact optimum of its resample, far below the bootstrap's own noise
    chunk : refits per compiled call (default: as :func:`fastfit.fit`)
    progress : optional callable(done, total) over the n B refits

    Returns
    -------
    BootstrapResult

    Raises
    ------
    ShapeError, DataError
        data that does not match the fit, bad ``n``, ``kind`` or ``multipliers``.

    Notes
    -----
    Weighted residuals e = [w_re (Z'_fit - Z'), w_im (Z''_fit - Z'')] of a spectrum (2 N
    real numbers) are made homoscedastic by e / sqrt(1 - h) (h: leverages from the
    weighted Jacobian at the optimum; Davison and Hinkley, *Bootstrap Methods and their
    Application*, CUP 1997, sec. 6.2.3 and alg. 6.3), since LS residuals are on average
    smaller than the errors by a factor sqrt(1 - h); the residual bootstrap also centres
    them.  A resample is Z* = Z_fit - e*/w with e* drawn with replacement from the
    spectrum's 2 N corrected residuals (real and imaginary parts pooled: with 1/sigma
    weights they share one distribution), or, for the wild bootstrap, e*_i = v_i e_i with
    independent multipliers v_i (Wu, Ann. Stat. 14 (1986) 1261; Mammen, Ann. Stat. 21 (1993)
    255), which keeps each point's own error size.  Every resample is refitted by LM from
    the fit's optimum (:func:`fastfit.fitting.refit_local`: no start search), n x B fits in
    compiled batches.  A failed refit (status <= 0) is counted in ``n_failed`` and left
    out (NaN) of ``samples``; intervals are percentiles of the rest.

    A joint fit with shared parameters (:func:`fastfit.fit_series` ``shared=``) couples
    its spectra: resample i of the whole series is refitted as one joint LM (the shared
    values are refitted too, so their spread reflects every spectrum's noise), n joint
    fits; the leverages come from the joint covariance.  ``xtol`` and ``chunk`` do not
    apply there (the joint LM stops on ``ftol``).
    """
    r = fit_result
    _check_args(r, n, kind, multipliers)
    setup = _Resampler(r, freq, Z, kind, multipliers, leverage, weight, bounds, seed)
    problem, ok = setup.problem, setup.ok
    B = len(r)
    P = r.circuit.n_params
    samples = np.full((n, B, P), np.nan)
    status = np.zeros((n, B), np.int64)
    status[:] = r.status[None, :]
    if ok.size:
        refits = joint_refits if r.options.get("shared") else independent_refits
        refits(r, setup, samples, status, dict(max_iter=max_iter, ftol=ftol, xtol=xtol,
                                               chunk=chunk), progress)
    n_failed = np.where(r.status > 0, (status <= 0).sum(axis=0), n).astype(np.int64)
    return BootstrapResult(circuit=r.circuit, params=r.params, samples=samples, status=status,
                           n_failed=n_failed, stderr_linear=r.stderr, dof=r.dof,
                           fit_status=r.status, fixed=r.fixed, kind=kind, n=int(n),
                           seed=int(seed),
                           options={"multipliers": multipliers, "leverage": leverage,
                                    "max_iter": max_iter, "ftol": ftol, "xtol": xtol,
                                    "weight": problem.weight})


def resample(fit_result: FitResult, freq, Z=None, index: int = 0, kind: str = "residual",
             seed: int = 0, *, multipliers: str = "rademacher", leverage: bool = True,
             weight=None, bounds=None) -> np.ndarray:
    """The data of one bootstrap resample, exactly as :func:`bootstrap` (same arguments)
    refits it: (B, F) complex128, ohm.

    ``index`` is the resample number (0 <= index; resample ``index`` of ``bootstrap(...,
    n)`` for any n > index).  Rows of spectra whose fit failed (not resampled) are NaN.
    For inspecting resamples or refitting them with another tool; the other arguments as
    in :func:`bootstrap`.
    """
    _check_args(fit_result, 2, kind, multipliers)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise DataError(f"index (resample number) must be an integer >= 0; got {index!r}")
    setup = _Resampler(fit_result, freq, Z, kind, multipliers, leverage, weight, bounds, seed)
    out = np.full(setup.problem.batch.Z.shape, np.nan + 0j)
    out[setup.ok] = setup.draw(int(index))
    return out


def _check_args(r, n, kind, multipliers) -> None:
    if not isinstance(r, FitResult):
        raise ShapeError(f"fit_result must be a FitResult; got {type(r).__name__}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise DataError(f"n (resamples) must be an integer >= 2; got {n!r}")
    if kind not in KINDS:
        raise DataError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if multipliers not in MULTIPLIERS:
        raise DataError(f"multipliers must be one of {', '.join(MULTIPLIERS)}; got {multipliers!r}")


class _Resampler:
    """The fit's problem and corrected residuals; ``draw(i)``: data of resample i for the
    converged spectra (rows ``ok``)."""

    def __init__(self, r: FitResult, freq, Z, kind, multipliers, leverage, weight, bounds, seed):
        self.problem = problem_of(r, freq, Z, weight, bounds)
        self.kind, self.mult, self.seed = kind, multipliers, int(seed)
        self.ok = np.nonzero(r.status > 0)[0]
        pool, n_pool, r2 = _residuals(r, self.problem, kind, leverage)
        ok = self.ok
        self.pool, self.n_pool, self.r2, self.Zf = pool[ok], n_pool[ok], r2[ok], r.Z_fit[ok]
        self.inv_w = tuple(np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), 0.0)
                           for w in (self.problem.w_re[ok], self.problem.w_im[ok]))

    def draw(self, i: int) -> np.ndarray:
        """(B_ok, F): Z_fit minus the drawn residuals over the weights."""
        return self.data(self.residuals(i))

    def residuals(self, i: int) -> np.ndarray:
        """(B_ok, 2, F) the weighted residuals [Re; Im] drawn for resample i: those of
        Z_fit against the resample's data."""
        rng = np.random.default_rng([self.seed, int(i)])
        return _draws(self.kind, self.mult, rng, self.pool, self.n_pool, self.r2)

    def data(self, d: np.ndarray) -> np.ndarray:
        """(B_ok, F) complex: the resample with weighted residuals ``d`` (B_ok, 2, F)."""
        out = np.empty(self.Zf.shape, np.complex128)
        out.real = self.Zf.real - d[:, 0] * self.inv_w[0]
        out.imag = self.Zf.imag - d[:, 1] * self.inv_w[1]
        return out


def _residuals(r: FitResult, problem, kind: str, leverage: bool):
    """pool (B, 2F) centred corrected residuals, valid first; n_pool (B,); r2 (B, 2, F)
    corrected residuals in place (0 where masked)."""
    Zf, Z = r.Z_fit, problem.batch.Z
    e = np.stack([problem.w_re * (Zf.real - Z.real), problem.w_im * (Zf.imag - Z.imag)], axis=1)
    valid = np.stack([problem.w_re > 0, problem.w_im > 0], axis=1)
    if leverage:
        h = leverages(r, problem.batch.freq, problem.w_re, problem.w_im)
        e = e / np.sqrt(1.0 - np.minimum(h, MAX_LEVERAGE))
    e = np.where(valid & np.isfinite(e), e, 0.0)
    B = e.shape[0]
    flat, vflat = e.reshape(B, -1), valid.reshape(B, -1)
    n_pool = vflat.sum(axis=1)
    if kind == "residual":
        mean = flat.sum(axis=1) / np.maximum(n_pool, 1)
        flat = np.where(vflat, flat - mean[:, None], 0.0)
    order = np.argsort(~vflat, axis=1, kind="stable")
    pool = np.take_along_axis(flat, order, axis=1)
    return pool, np.maximum(n_pool, 1), flat.reshape(e.shape)
