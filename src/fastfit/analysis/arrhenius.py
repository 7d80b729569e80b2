"""Arrhenius fits: activation energy from a temperature series.

Laws (k_B = 8.617333262e-5 eV/K, T in K):

* ``"sigma_T"`` (default): ``sigma T = A exp(-Ea / (k_B T))``; fit ``ln(sigma T)`` vs
  ``1/T``.  The usual law for ionic hopping conduction (the 1/T prefactor of the
  Nernst–Einstein relation).  Pass a conductivity sigma (e.g. S cm⁻¹, from
  :func:`fastfit.analysis.conductivity`); A is then in S K cm⁻¹.
* ``"inv_R"``: ``1/R = A exp(-Ea / (k_B T))``; fit ``ln(1/R)`` vs ``1/T``.  Pass the
  **resistance** R (Ω or Ω cm²) as the second argument; A is in Ω⁻¹ (or Ω⁻¹ cm⁻²).
  This is how interface resistances (no geometric factor) are usually treated.
* ``"sigma"``: ``sigma = A exp(-Ea / (k_B T))``; fit ``ln sigma`` vs ``1/T`` (A in the
  units of sigma).

Least squares
-------------
With ``y_i`` the log quantity and ``x_i = -1/(k_B T_i)``, the model ``y = ln A + Ea x``
is linear in ``beta = (ln A, Ea)``.  With weights ``w_i = 1/var(y_i)``, where
``var(y_i) = (sigma_err_i / sigma_i)^2`` (delta method on the log), the weighted
least-squares solution is ``beta = (Xᵀ W X)⁻¹ Xᵀ W y`` with covariance

* ``(Xᵀ W X)⁻¹`` when ``sigma_err`` is given and ``absolute_sigma=True`` (the errors are
  taken at face value; the 95 % interval uses the normal quantile 1.960), or
* ``s² (Xᵀ W X)⁻¹`` with ``s² = Σ w_i r_i² / (n - 2)`` otherwise (unweighted when no
  errors are given; the interval uses Student's t with n - 2 degrees of freedom).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError, ShapeError
from ._common import K_B_EV, as_float, check_finite_or_nan, positive
from ._samples import SampleInterval, sample_interval
from ._stats import normal_quantile_two_sided, t_quantile_two_sided

__all__ = ["K_B_EV", "LAWS", "ArrheniusResult", "arrhenius", "law_T_power"]

#: law name -> (sign of ln(value) in y, power m of T in y = sign*ln(value) + m ln T)
LAWS = {"sigma_T": (1.0, 1.0), "inv_R": (-1.0, 0.0), "sigma": (1.0, 0.0)}

_Y_LABEL = {"sigma_T": "ln(σT)", "inv_R": "ln(1/R)", "sigma": "ln(σ)"}
_A_UNIT = {"sigma_T": "[σ]·K", "inv_R": "[1/R]", "sigma": "[σ]"}


def law_T_power(law: str) -> float:
    """Power m of the resistance law ``R ∝ T^m exp(Ea / (k_B T))`` implied by ``law``
    (1 for "sigma_T", 0 for "inv_R" and "sigma")."""
    if law not in LAWS:
        raise DataError(f"law must be one of {', '.join(LAWS)}; got {law!r}")
    return LAWS[law][1]


@dataclass(frozen=True)
class ArrheniusResult:
    """Result of :func:`arrhenius`.

    Attributes
    ----------
    law : str — "sigma_T", "inv_R" or "sigma" (see module docstring)
    Ea_eV : float, eV — activation energy
    Ea_stderr_eV : float, eV — standard error of Ea
    ci95 : (float, float), eV — 95 % confidence interval of Ea
    prefactor : float — A; units S K cm⁻¹ for sigma_T with sigma in S cm⁻¹, Ω⁻¹ for
        inv_R with R in Ω, the units of sigma for "sigma"
    prefactor_stderr : float — delta-method standard error of A (``A * se(ln A)``)
    ln_prefactor : float — ln A
    cov : (2, 2) float — covariance of (ln A, Ea [eV])
    r2 : float — coefficient of determination of the (weighted) fit in log space
    n : int — points used (NaN points are dropped)
    dof : int — n - 2
    chi2_red : float — Σ w r² / dof (weights 1 without errors)
    absolute_sigma : bool — whether the covariance takes the errors at face value
    residuals : (n,) float — y - ŷ, in units of ln(quantity)
    T_K : (n,) float, K — temperatures used
    y : (n,) float — the log quantity fitted
    y_err : (n,) float or None — its standard errors
    Ea_bootstrap : SampleInterval or None — with ``sigma_samples``: Ea [eV] refitted to
        every bootstrap resample, its percentile interval (``lo``, ``hi``) and ``stderr``
    """

    law: str
    Ea_eV: float
    Ea_stderr_eV: float
    ci95: tuple
    prefactor: float
    prefactor_stderr: float
    ln_prefactor: float
    cov: np.ndarray
    r2: float
    n: int
    dof: int
    chi2_red: float
    absolute_sigma: bool
    residuals: np.ndarray = field(repr=False)
    T_K: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    y_err: np.ndarray | None = field(repr=False, default=None)
    Ea_bootstrap: SampleInterval | None = field(repr=False, default=None)

    def predict(self, T_K):
        """The fitted quantity (sigma for sigma_T/sigma, R for inv_R) at ``T_K`` (K)."""
        T = positive("T_K", T_K)
        sign, m = LAWS[self.law]
        y = self.ln_prefactor - self.Ea_eV / (K_B_EV * T)
        out = np.exp(sign * (y - m * np.log(T)))
        return out[()] if out.ndim == 0 else out

    def summary(self) -> str:
        """One readable line per quantity."""
        lo, hi = self.ci95
        return "\n".join([
            f"Arrhenius fit ({self.law}: {_Y_LABEL[self.law]} vs 1/T), n = {self.n}",
            f"  Ea        = {self.Ea_eV:.4f} ± {self.Ea_stderr_eV:.4f} eV "
            f"(95 % CI {lo:.4f} … {hi:.4f})",
            f"  prefactor = {self.prefactor:.4g} ± {self.prefactor_stderr:.2g} "
            f"{_A_UNIT[self.law]}",
            f"  r²        = {self.r2:.6f}, χ²_red = {self.chi2_red:.3g}",
        ] + ([] if self.Ea_bootstrap is None else [
            f"  Ea bootstrap {100 * self.Ea_bootstrap.level:g} % interval "
            f"{self.Ea_bootstrap.lo:.4f} … {self.Ea_bootstrap.hi:.4f} eV, s.e. "
            f"{self.Ea_bootstrap.stderr:.4f} ({int(self.Ea_bootstrap.n_valid)} resamples)"]))

    def plot(self, ax=None):
        """Arrhenius plot (y vs 1000/T) with the fitted line; returns the axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        x = 1000.0 / self.T_K
        ax.errorbar(x, self.y, yerr=self.y_err, fmt="o", label="data")
        xs = np.linspace(x.min(), x.max(), 50)
        ax.plot(xs, self.ln_prefactor - self.Ea_eV * xs / (1000.0 * K_B_EV),
                label=f"Ea = {self.Ea_eV:.3f} ± {self.Ea_stderr_eV:.3f} eV")
        ax.set_xlabel("1000/T (K⁻¹)")
        ax.set_ylabel(_Y_LABEL[self.law])
        ax.legend()
        return ax


def arrhenius(T_K, sigma, law: str = "sigma_T", sigma_err=None, *,
              absolute_sigma: bool = True, sigma_samples=None,
              level: float = 0.95) -> ArrheniusResult:
    """Fit an Arrhenius law by (weighted) linear least squares in log space.

    Parameters
    ----------
    T_K : (N,) float, K (> 0)
    sigma : (N,) float (> 0)
        Conductivity for ``law="sigma_T"`` / ``"sigma"``; **resistance** R for
        ``law="inv_R"``.  NaN entries (failed fits) are dropped.
    law : {"sigma_T", "inv_R", "sigma"}
    sigma_err : (N,) float, optional — standard errors of ``sigma`` (same units)
    absolute_sigma : bool — with ``sigma_err``, take the errors at face value (default)
        instead of rescaling the covariance by χ²_red
    sigma_samples : (n_boot, N) float, optional — bootstrap samples of ``sigma`` (of R for
        "inv_R") at each temperature, resample axis first, e.g. one column of
        :func:`fastfit.bootstrap`'s ``samples`` (NaN: failed resample, that point is left
        out of that resample's fit).  Ea is refitted to every resample with the same
        weights; ``Ea_bootstrap`` holds the samples and their percentile interval.
    level : float — confidence level of that interval

    Returns
    -------
    ArrheniusResult

    Examples
    --------
    >>> T = np.array([250.0, 275.0, 300.0, 325.0])
    >>> s = 1e3 / T * np.exp(-0.3 / (K_B_EV * T))
    >>> round(arrhenius(T, s).Ea_eV, 6)
    0.3
    """
    if law not in LAWS:
        raise DataError(f"law must be one of {', '.join(LAWS)}; got {law!r}")
    vname = "R" if law == "inv_R" else "sigma"
    T = positive("T_K", T_K, allow_nan=False)
    v = positive(vname, sigma)
    if T.ndim != 1:
        raise ShapeError(f"T_K must be 1-D (N,); got shape {T.shape}")
    if v.shape != T.shape:
        raise ShapeError(f"{vname} must have the shape of T_K {T.shape}; got {v.shape}")
    e = None
    if sigma_err is not None:
        e = check_finite_or_nan("sigma_err", as_float("sigma_err", sigma_err))
        if e.shape != T.shape:
            raise ShapeError(f"sigma_err must have the shape of T_K {T.shape}; got {e.shape}")
        if np.any(e <= 0):
            raise DataError("sigma_err must be > 0 (a zero error gives infinite weight)")
    keep = np.isfinite(v) & (np.isfinite(e) if e is not None else True)
    T, v = T[keep], v[keep]
    n = int(T.size)
    if n < 2:
        raise DataError(f"need at least 2 usable points for an Arrhenius fit; got {n}")
    if np.ptp(T) == 0:
        raise DataError("all temperatures are equal; the slope is undetermined")
    sign, m = LAWS[law]
    y = sign * np.log(v) + m * np.log(T)
    y_err = None if e is None else e[keep] / v
    w = np.ones(n) if y_err is None else 1.0 / y_err**2
    X = np.stack([np.ones(n), -1.0 / (K_B_EV * T)], axis=1)
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    fit = X @ beta
    r = y - fit
    dof = n - 2
    chi2 = float(np.sum(w * r**2))
    chi2_red = chi2 / dof if dof > 0 else np.nan
    cov = np.linalg.inv((X * w[:, None]).T @ X)
    absolute = bool(y_err is not None and absolute_sigma)
    if not absolute:
        cov = cov * chi2_red
    se = float(np.sqrt(cov[1, 1])) if np.isfinite(cov[1, 1]) else np.nan
    if absolute:
        q = normal_quantile_two_sided(0.95)
    else:
        q = t_quantile_two_sided(0.95, dof) if dof > 0 else np.nan
    ybar = np.sum(w * y) / np.sum(w)
    ss_tot = float(np.sum(w * (y - ybar) ** 2))
    r2 = 1.0 - chi2 / ss_tot if ss_tot > 0 else np.nan
    lnA, Ea = float(beta[0]), float(beta[1])
    A = float(np.exp(lnA))
    boot = None
    if sigma_samples is not None:
        boot = _bootstrap_Ea(sigma_samples, T_K, keep, T, w, sign, m, vname, level)
    return ArrheniusResult(
        law=law, Ea_eV=Ea, Ea_stderr_eV=se, ci95=(Ea - q * se, Ea + q * se), prefactor=A,
        prefactor_stderr=A * float(np.sqrt(cov[0, 0])), ln_prefactor=lnA, cov=cov, r2=r2,
        n=n, dof=dof, chi2_red=chi2_red, absolute_sigma=absolute, residuals=r, T_K=T, y=y,
        y_err=y_err, Ea_bootstrap=boot)


def _bootstrap_Ea(sigma_samples, T_all, keep, T, w, sign, m, vname, level) -> SampleInterval:
    """Ea of every resample: the weighted straight line y = ln A + Ea x through that
    resample's points (x = -1/(k_B T)), by its 2x2 normal equations."""
    S = positive(f"{vname}_samples", sigma_samples)
    N = np.shape(T_all)[0]
    if S.ndim != 2 or S.shape[1] != N:
        raise ShapeError(f"{vname}_samples must be (n_resamples, {N}) for {N} temperatures; "
                         f"got shape {S.shape}")
    S = S[:, keep]
    ok = np.isfinite(S)
    y = np.where(ok, sign * np.log(np.where(ok, S, 1.0)) + m * np.log(T)[None, :], 0.0)
    wk = np.where(ok, w[None, :], 0.0)
    x = -1.0 / (K_B_EV * T)[None, :]
    sw, sx, sy = wk.sum(1), (wk * x).sum(1), (wk * y).sum(1)
    sxx, sxy = (wk * x * x).sum(1), (wk * x * y).sum(1)
    det = sw * sxx - sx * sx
    Tk = np.where(ok, T[None, :], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        spread = np.nanmax(Tk, axis=1) - np.nanmin(Tk, axis=1)
        Ea = (sw * sxy - sx * sy) / det
    Ea = np.where((ok.sum(1) >= 2) & (spread > 0) & (det > 0), Ea, np.nan)
    return sample_interval(Ea, level, name=f"{vname}_samples")
