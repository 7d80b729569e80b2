"""Distribution of relaxation times (DRT) for thousands of spectra at once.

Model (Z in ohm, ``y = ln tau``, tau in s)::

    Z(w) = R_inf + j w L + integral gamma(y) / (1 + j w e^y) dy,     gamma(y) >= 0  (ohm)

``gamma = sum_m x_m phi_m`` on T basis functions (Gaussian RBFs or hats).  Every spectrum
solves the non-negative Tikhonov problem (exactly, see :mod:`fastfit.kernels._nnls`)::

    minimise  sum_i w_i [(Re Z_i - Re Zm_i)^2 + (Im Z_i - Im Zm_i)^2]
              + lam * integral (d^k gamma / dy^k)^2 dy        over x >= 0, R_inf >= 0, L >= 0

with ``w_i`` 1 for used points and 0 for masked ones (``part`` keeps only the real or
the imaginary rows).

**How lam is normalised: pyDRTtools' convention, for both discretisations.**  The misfit
is the plain *sum* of squared residuals over the used points (ohm^2) and the penalty the
integral over ln tau of the squared k-th derivative of gamma (ohm^2; for Gaussian RBFs the
exact integral, which is pyDRTtools' ``M``), so lam is dimensionless and independent of
the impedance scale: ``lam`` here *is* pyDRTtools' lambda (Wan et al. 2015,
``simple_run``).  It does depend on the number of points: a sweep with twice the points
per decade is regularised half as strongly for the same lam (divide lam by the ratio of
point counts to keep the smoothing when comparing sweeps of different density).  For hats
pyDRTtools' penalty is plain finite differences ``L^T L`` without the spacing factor; the
"pydrttools" discretisation reproduces that, while the "fastfit" hat penalty is
spacing-weighted to approximate the same integral as for the Gaussians.

**Default tau grid** (``discretisation="fastfit"``): ``n_tau`` (200) log-spaced Gaussians
from ``1/f_max`` to ``1/f_min`` -- pyDRTtools' collocation span -- widened on each side by
``TAU_PAD`` = 1.4 mean ln-f point spacings of the data.  pyDRTtools' outermost Gaussians
(FWHM two point spacings) reach that far beyond its last centre, and on spectra ending in
a capacitive tail R_pol is the mass the fit piles at the long-tau end, so the grid extent
sets it.  Measured on the 35 spectra of the 15 bundled real files with >= 4 points per
decade (tests/test_drt.py), R_pol is within 2.3 % of the exact optimum of pyDRTtools'
formulation at the same lam; with a padding of 1.0 or 2.0 spacings the worst case was
3.5 % and 9 % (sweeps with a capacitive tail), so the padding is a measured compromise,
not a derived constant.  Sparse sweeps (pyeis_ex3: 2.5 points per decade) differ more:
pyDRTtools' Gaussians are then 0.8 decade wide and its R_pol is a property of that basis.
``discretisation="pydrttools"`` reproduces its matrices exactly for one-to-one comparison.

**Mapping to RelaxIS (assumption, unverified: we have no RelaxIS documentation).**
The reference analysis uses lam = 1e-6 with 200 points and a 2nd-derivative penalty; we
take RelaxIS' lam to have pyDRTtools' meaning.  If RelaxIS normalises the misfit per data
point (mean instead of sum), pass ``lam = lam_relaxis * n``.

References: Wan, Saccoccio, Chen, Ciucci, Electrochim. Acta 184 (2015) 483,
doi:10.1016/j.electacta.2015.09.097; Saccoccio et al., Electrochim. Acta 147 (2014) 470.
"""
from __future__ import annotations

import sys

import enum
from dataclasses import dataclass, field

import numpy as np

from ._validate import as_batch
from .errors import DataError, ShapeError

__all__ = ["drt", "DRTResult", "DRTStatus", "DRTSystem", "drt_system"]

FWHM_GAUSS = 2.0 * np.sqrt(np.log(2.0))   # full width at half maximum of exp(-x^2)
# default tau grid: pyDRTtools' collocation span [1/f_max, 1/f_min] widened by TAU_PAD mean
# ln-f point spacings on each side (the reach of its outermost Gaussians, FWHM = 2 spacings);
# see the module docstring for how the value was measured
TAU_PAD = 1.4
LAM_GRID = np.logspace(-10, 0, 41)        # default lambda grid for lam_select (4/decade)
_PARTS = ("both", "real", "imag")
_BASES = ("gaussian", "piecewise_linear")
_SELECT = (None, "gcv", "lcurve", "re-im")
_DISC = ("fastfit", "pydrttools")


class DRTStatus(enum.IntEnum):
    """Per-spectrum outcome of the DRT solve (stored as integers)."""

    CONVERGED = 1   # KKT conditions hold to ~1e-12: the exact optimum
    MAX_ITER = 0    # pivoting budget exhausted; best feasible point returned
    FAILED = -1     # non-finite numbers; approximate (ADMM) solution returned

    @property
    def message(self) -> str:
        return {1: "exact optimum (KKT conditions hold)",
                0: "pivoting budget exhausted; best feasible point returned",
                -1: "non-finite numbers in the solve; approximate solution, do not trust"}[int(self)]


@dataclass(frozen=True, eq=False)
class DRTSystem:
    """The discretised problem on one frequency grid.

    A : (2F, T+2) rows [Re; Im] (weighted), columns [R_inf, L, x_1..x_T]
    M : (T+2, T+2) penalty (zero for R_inf and L);  free : (T+2,) bool fitted columns
    log_tau : (T,) basis centres ln(tau/s);  eps : RBF shape factor (0 for hats)
    weight : (T,) integral of each basis function over ln tau (R_pol = weight @ x)
    freq : (F,) Hz, the grid in the order of the rows of A
    """

    A: np.ndarray
    M: np.ndarray
    free: np.ndarray
    log_tau: np.ndarray
    eps: float
    weight: np.ndarray
    freq: np.ndarray
    basis: str

    def evaluate(self, tau_out) -> np.ndarray:
        """(T_out, T) matrix E with gamma(tau_out) = E @ x."""
        from fastfit.kernels import _drt as K
        lt = np.log(np.asarray(tau_out, np.float64))
        if self.basis == "gaussian":
            return np.asarray(K.gaussian_eval(lt, self.log_tau, self.eps))
        return np.asarray(K.pwl_eval(lt, self.log_tau))


@dataclass(frozen=True, eq=False)
class DRTResult:
    """DRTs of B spectra.

    Attributes
    ----------
    tau : (T,) float64, s -- where ``gamma`` is reported (the basis centres for
        ``discretisation="fastfit"``; pyDRTtools' ``out_tau_vec`` for "pydrttools")
    gamma : (B, T) float64, ohm -- gamma(ln tau), so that R_pol = integral gamma d ln tau
    R_inf : (B,) ohm;  L : (B,) H
    R_pol : (B,) ohm, integral of gamma over ln tau (polarisation resistance)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies
    residuals : (B, F) complex128, ohm, Z_fit - Z (0 where masked)
    lam : (B,) regularisation parameter used (chosen per spectrum with ``lam_select``)
    status : (B,) int, :class:`DRTStatus`;  n_solves : (B,) per-spectrum factorisations
    coef : (B, Tb) basis coefficients x;  tau_basis : (B, Tb) s, basis centres;
    basis_weight : (B, Tb) integral of each basis function over ln tau (0 = padding)
    freq : (B, F) Hz;  mask : (B, F) bool
    lam_grid : (G,) or None;  lam_scores : (B, G) or None -- the selection score on the
        grid (GCV, L-curve curvature or re-im discrepancy)
    """

    tau: np.ndarray
    gamma: np.ndarray
    R_inf: np.ndarray
    L: np.ndarray
    R_pol: np.ndarray
    Z_fit: np.ndarray
    residuals: np.ndarray
    lam: np.ndarray
    status: np.ndarray
    n_solves: np.ndarray
    coef: np.ndarray
    tau_basis: np.ndarray
    basis_weight: np.ndarray
    freq: np.ndarray
    mask: np.ndarray
    lam_grid: np.ndarray | None = None
    lam_scores: np.ndarray | None = None
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.gamma.shape[0]

    @property
    def ok(self) -> np.ndarray:
        """(B,) bool: the exact optimum was found."""
        return self.status > 0

    @property
    def message(self) -> list[str]:
        return [DRTStatus(int(s)).message for s in self.status]

    def peaks(self, min_prominence: float = 0.1):
        """Peaks of every DRT (see :func:`fastfit._drt_peaks.find_peaks`)."""
        from ._drt_peaks import find_peaks
        return find_peaks(self, min_prominence=min_prominence)

    def summary(self, max_rows: int = 10) -> str:
        """Readable table: R_inf, L, R_pol, lam and status of the first spectra."""
        lines = [f"DRTResult: {len(self)} spectra, {self.tau.size} tau points "
                 f"({self.options.get('discretisation')}, {self.options.get('basis')}), "
                 f"{int(self.ok.sum())} exact"]
        lines.append(f"{'#':>4}  {'status':>9}  {'R_inf [ohm]':>12}  {'L [H]':>10}  "
                     f"{'R_pol [ohm]':>12}  {'lam':>8}")
        for b in range(min(len(self), max_rows)):
            lines.append(f"{b:>4}  {DRTStatus(int(self.status[b])).name.lower():>9}  "
                         f"{self.R_inf[b]:>12.5g}  {self.L[b]:>10.3g}  {self.R_pol[b]:>12.5g}  "
                         f"{self.lam[b]:>8.2g}")
        if len(self) > max_rows:
            lines.append(f"... {len(self) - max_rows} more")
        return "\n".join(lines)

    def to_dataframe(self):
        """pandas DataFrame, one row per spectrum: R_inf, L, R_pol, lam, status."""
        import pandas as pd
        return pd.DataFrame(dict(R_inf=self.R_inf, L=self.L, R_pol=self.R_pol, lam=self.lam,
                                 status=self.status.astype(int)))

    def __repr__(self) -> str:
        return (f"DRTResult({len(self)} spectra x {self.tau.size} tau, "
                f"{int(self.ok.sum())} exact)")


# ----------------------------------------------------------------------------- checks
def _check_options(o):
    if o["part"] not in _PARTS:
        raise DataError(f"part must be one of {_PARTS}, got {o['part']!r}")
    if o["basis"] not in _BASES:
        raise DataError(f"basis must be one of {_BASES}, got {o['basis']!r}")
    if o["lam_select"] not in _SELECT:
        raise DataError(f"lam_select must be one of {_SELECT}, got {o['lam_select']!r}")
    if o["discretisation"] not in _DISC:
        raise DataError(f"discretisation must be one of {_DISC}, got {o['discretisation']!r}")
    if o["derivative"] not in (0, 1, 2) or isinstance(o["derivative"], bool):
        raise DataError(f"derivative must be 0, 1 or 2, got {o['derivative']!r}")
    if o["discretisation"] == "pydrttools" and o["derivative"] == 0:
        raise DataError("discretisation='pydrttools' has 1st and 2nd derivative penalties only")
    n = o["n_tau"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise DataError(f"n_tau must be an integer >= 3, got {n!r}")
    r = o["rbf_shape"]
    if not (np.isscalar(r) and np.isfinite(r) and r > 0):
        raise DataError(f"rbf_shape must be a positive number (FWHM coefficient), got {r!r}")
    if o["tau_range"] is not None:
        tr = np.asarray(o["tau_range"], np.float64)
        if tr.shape != (2,) or not np.all(np.isfinite(tr)) or tr[0] <= 0 or tr[1] <= tr[0]:
            raise DataError(f"tau_range must be (tau_min, tau_max) in s with 0 < tau_min < "
                            f"tau_max, got {o['tau_range']!r}")
    if o["part"] == "real" and o["lam_select"] == "re-im":
        raise DataError("lam_select='re-im' needs both parts (part='both')")


def _check_lam(lam, B):
    lam = np.asarray(lam, np.float64)
    if lam.ndim == 0:
        lam = np.full(B, float(lam))
    if lam.shape != (B,):
        raise ShapeError(f"lam must be a scalar or have one value per spectrum ({B}), "
                         f"got shape {lam.shape}")
    bad = np.nonzero(~(np.isfinite(lam) & (lam > 0)))[0]
    if bad.size:
        raise DataError(f"spectrum {bad[0]}: lam = {lam[bad[0]]!r}; lam must be finite and > 0")
    return lam


# ----------------------------------------------------------------------- discretise
def _fastfit_tau(freq, mask, o):
    """Log-spaced tau grid for the whole batch (freq, mask: (B, F))."""
    if o["tau_range"] is not None:
        lo, hi = np.log(np.asarray(o["tau_range"], np.float64))
    else:
        used = freq[mask]
        n = mask.sum(axis=1)
        fmax = np.where(mask, freq, 0.0).max(axis=1)
        fmin = np.where(mask, freq, np.inf).min(axis=1)
        # mean ln-f spacing of the spectra (median over the batch)
        step = float(np.median(np.log(fmax / fmin) / np.maximum(n - 1, 1)))
        lo = np.log(1.0 / used.max()) - TAU_PAD * step
        hi = np.log(1.0 / used.min()) + TAU_PAD * step
    log_tau = np.linspace(lo, hi, o["n_tau"])
    eps = o["rbf_shape"] * FWHM_GAUSS / (log_tau[1] - log_tau[0])
    return log_tau, eps


def _pdt_tau(freq_desc, o):
    """pyDRTtools: tau = 1/f (frequencies in its native descending order)."""
    log_tau = -np.log(freq_desc)
    d = np.diff(log_tau)
    eps = o["rbf_shape"] * FWHM_GAUSS / abs(np.mean(d)) if o["basis"] == "gaussian" else 0.0
    toeplitz = o["basis"] == "gaussian" and np.std(d) / np.mean(d) < 0.01
    return log_tau, eps, bool(toeplitz)


def _system(freq, weight_row, log_tau, eps, o, tau_out=None, toeplitz=False):
    """(DRTSystem, (A_re, A_im, w_re, w_im), E) for one grid, from one compiled call."""
    from fastfit.kernels._drt import assemble
    freq = np.asarray(freq, np.float64)
    part = o["part"]
    w_re = np.asarray(weight_row, np.float64) * (part != "imag")
    w_im = np.asarray(weight_row, np.float64) * (part != "real")
    fit_R = bool(o["fit_R_inf"] and part != "imag")
    fit_L = bool(o["fit_L"] and part != "real")
    gauss = o["basis"] == "gaussian"
    n_nodes = 281 if (not gauss or eps >= 0.25) else int(281 * 0.25 / eps) | 1
    lt_out = log_tau if tau_out is None else np.log(np.asarray(tau_out, np.float64))
    # pad frequencies (zero weight) and output taus to multiples of 16: grids of similar
    # size share one compiled assembly
    # (and, for RBFs, whose entries depend on pairs only, the basis too)
    F, To, T = freq.size, lt_out.size, log_tau.size
    Fp, Tp = -(-F // 16) * 16, -(-To // 16) * 16
    Tb = -(-T // 16) * 16 if gauss else T
    lw = np.log(2 * np.pi * freq)
    pad = lambda a, n, v: np.concatenate([a, np.full(n - a.size, v)])
    r = assemble(pad(lw, Fp, lw[-1]), pad(log_tau, Tb, log_tau[-1]),
                 pad(lt_out, Tp, lt_out[-1]),
                 float(eps) if gauss else 1.0, pad(w_re, Fp, 0.0), pad(w_im, Fp, 0.0),
                 basis=o["basis"],
                 style="pydrttools" if o["discretisation"] == "pydrttools" else "integral",
                 derivative=int(o["derivative"]), toeplitz_trick=False, fit_R_inf=fit_R,
                 fit_L=fit_L, n_nodes=n_nodes)
    r = {k: np.asarray(v) for k, v in r.items()}
    r["A"] = np.concatenate([r["A"][:F, :T + 2], r["A"][Fp:Fp + F, :T + 2]])
    r["A_re"], r["A_im"], r["E"] = r["A_re"][:F, :T], r["A_im"][:F, :T], r["E"][:To, :T]
    r["M"], r["weight"] = r["M"][:T, :T], r["weight"][:T]
    if toeplitz:    # pyDRTtools rebuilds nearly log-spaced grids from row/column 0
        from fastfit.kernels._drt import toeplitz as tp
        for k in ("A_re", "A_im", "M"):
            r[k] = np.asarray(tp(r[k][:, 0], r[k][0, :]))
        r["A"][:F, 2:] = r["A_re"] * w_re[:, None]
        r["A"][F:, 2:] = r["A_im"] * w_im[:, None]
    Mf = np.zeros((T + 2, T + 2))
    Mf[2:, 2:] = r["M"]
    free = np.ones(T + 2, bool)
    free[0], free[1] = fit_R, fit_L
    system = DRTSystem(A=r["A"], M=Mf, free=free, log_tau=log_tau, eps=float(eps),
                       weight=r["weight"], freq=freq, basis=o["basis"])
    return system, (r["A_re"], r["A_im"], w_re, w_im), r["E"]


def drt_system(freq, *, n_tau=200, tau_range=None, derivative=2, part="both",
               basis="gaussian", rbf_shape=0.5, fit_R_inf=True, fit_L=True, mask=None,
               discretisation="fastfit") -> DRTSystem:
    """The matrices :func:`drt` solves with, for one frequency grid ``freq`` (F,) Hz.

    Useful to build an independent reference: the exact optimum is
    ``scipy.optimize.nnls([A; sqrt(lam) R], [Re Z; Im Z; 0])`` with ``R^T R = M``
    (restricted to ``free`` columns).  For ``discretisation="pydrttools"`` the rows are in
    descending frequency order (``system.freq``) and masked points are dropped.
    """
    o = dict(n_tau=n_tau, tau_range=tau_range, derivative=derivative, part=part, basis=basis,
             rbf_shape=rbf_shape, fit_R_inf=fit_R_inf, fit_L=fit_L, lam_select=None,
             discretisation=discretisation)
    _check_options(o)
    f = np.asarray(freq, np.float64)
    m = np.ones(f.shape, bool) if mask is None else np.asarray(mask, bool)
    as_batch(f, np.ones(f.shape, complex), m, min_points=3)
    if discretisation == "fastfit":
        log_tau, eps = _fastfit_tau(f[None], m[None], o)
        return _system(f, m.astype(float), log_tau, eps, o)[0]
    fd = np.sort(f[m])[::-1]
    log_tau, eps, toep = _pdt_tau(fd, o)
    return _system(fd, np.ones(fd.size), log_tau, eps, o, toeplitz=toep)[0]


from ._drt_solve import drt  # noqa: E402  (the driver lives in its own module)


# ``fastfit.drt`` is both this module and the function above: importing the submodule
# makes the package attribute ``fastfit.drt`` the module, so the module forwards calls to
# the function and ``ff.drt(freq, Z)`` works in either order of imports.
class _CallableModule(sys.modules[__name__].__class__):
    def __call__(self, *args, **kwargs):
        return drt(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
