"""What the validation functions return: `KKResult` (lin-KK) and `DriftResult` (drift)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .._results import BatchResult, Status, translate

__all__ = ["KKStatus", "KKResult", "ZHITResult", "DriftResult", "kk_status", "RATIO_THRESHOLD"]

RATIO_THRESHOLD = 3.0      # drift_ratio above this -> nonstationary (stationary: ~1 +- 0.15)


class KKStatus(Status):
    """Per-spectrum outcome of the lin-KK test (stored as integers)."""

    MU_REACHED = 1, "mu <= c reached"
    FIXED_M = 2, "fixed number of RC elements (c=None)"
    MAX_M = 0, "mu > c up to max_M; results at max_M"
    NONFINITE = -1, "non-finite fit (degenerate data)"


def kk_status(raw) -> np.ndarray:
    """(B,) int64 :class:`KKStatus` codes for lin-KK kernel codes ``raw``
    (``fastfit.kernels.KK_STATUS`` names the same outcomes)."""
    return translate(raw, "KK_STATUS", KKStatus.__members__)   # the kernel uses these names


@dataclass(frozen=True, eq=False)
class KKResult(BatchResult):
    """Result of the lin-KK test of B spectra (F points each, padded); ``result[key]`` is
    a sub-batch, ``ok`` means the mu criterion was met (or M was fixed).

    Attributes
    ----------
    M : (B,) int, number of RC (Voigt) elements used
    mu : (B,) float, 1 - sum|R_k<0| / sum|R_k>=0| at M
    residuals_real, residuals_imag : (B, F) float, (Z - Z_fit)/|Z| (dimensionless, relative
        to |Z| as in impedance.py); NaN where the input mask is False
    pseudo_chi2 : (B,) float, sum over used points of residuals_real^2 + residuals_imag^2
        (Boukamp 1995, modulus weighting)
    mask : (B, F) bool, points kept: input mask minus the points excluded by the test;
        pass it to ``fit(..., mask=)`` or ``drt(..., mask=)``
    valid : (B,) bool, the spectrum passes: finite, well-posed fit (cond < 1e10), every
        kept point within ``max_rel_residual``, and at most ``max_excluded`` of its points
        dropped
    Z_fit : (B, F) complex, ohm, the lin-KK model at the data frequencies (NaN where unused)
    status : (B,) int, :class:`KKStatus` values
    cond : (B,) float, estimated condition number of the column-scaled normal equations at
        M (a lower bound, from the Cholesky diagonal); above 1e10 (M close to the number of
        points) the problem is numerically rank deficient, the coefficients are regularised
        and mu is not meaningful -- such spectra are not ``valid``
    R0 : (B,) ohm;  R : (B, max_M) ohm (0 beyond M);  tau : (B, max_M) s (0 beyond M)
    L : (B,) H (0 unless ``add_inductance``);  C : (B,) F (inf unless ``add_capacitance``)
        (R0, R, L, C: NaN for spectra tested as admittance)
    G0 : (B,) S, DC conductance;  G : (B, max_M) S, branch conductances 1/R_k (0 beyond M);
        C_par : (B,) F, parallel capacitance;  L_par : (B,) H, parallel inductance (inf
        unless ``add_inductance``) -- the admittance model Y = G0 + j w C_par
        + 1/(j w L_par) + sum G_k j w tau_k / (1 + j w tau_k) (NaN for spectra tested as
        impedance)
    representation : (B,) str, "impedance" or "admittance": the model of each spectrum
    freq : (B, F) Hz;  used : (B, F) bool, the input mask
    options : dict, the arguments of :func:`kk`
    drift : :class:`DriftResult` or None, drift indicators when the
        spectra form a time series (``time=`` given, or a SpectrumSeries with times)
    """

    M: np.ndarray
    mu: np.ndarray
    residuals_real: np.ndarray
    residuals_imag: np.ndarray
    pseudo_chi2: np.ndarray
    mask: np.ndarray
    valid: np.ndarray
    Z_fit: np.ndarray
    status: np.ndarray
    cond: np.ndarray
    R0: np.ndarray
    R: np.ndarray
    tau: np.ndarray
    L: np.ndarray
    C: np.ndarray
    freq: np.ndarray
    used: np.ndarray
    G0: np.ndarray | None = None
    G: np.ndarray | None = None
    C_par: np.ndarray | None = None
    L_par: np.ndarray | None = None
    representation: np.ndarray | None = None
    options: dict = field(default_factory=dict)
    drift: object | None = None

    rows_field: ClassVar[str] = "M"
    status_type: ClassVar[type] = KKStatus

    @property
    def nonstationary(self) -> np.ndarray | None:
        """(B,) bool drift flag from :attr:`drift`, or None when no time series was given."""
        return None if self.drift is None else self.drift.nonstationary

    @property
    def max_residual(self) -> np.ndarray:
        """(B, F) max(|residuals_real|, |residuals_imag|), relative to |Z|."""
        return np.maximum(np.abs(self.residuals_real), np.abs(self.residuals_imag))

    @property
    def n_excluded(self) -> np.ndarray:
        """(B,) int, used points dropped by the test."""
        return (self.used & ~self.mask).sum(axis=1)

    def to_dataframe(self):
        """pandas DataFrame, one row per spectrum: M, mu, pseudo_chi2, max |residual|,
        n_excluded, valid, status (and drift indicators when present)."""
        import pandas as pd

        mr = np.where(self.used, self.max_residual, -np.inf).max(axis=1)
        data = dict(M=self.M, mu=self.mu, pseudo_chi2=self.pseudo_chi2, max_residual=mr,
                    n_excluded=self.n_excluded, valid=self.valid, status=self.status)
        if self.representation is not None:
            data["representation"] = self.representation
        if self.drift is not None:
            data.update(self.drift.to_dict())
        return pd.DataFrame(data)

    def summary(self, max_rows: int = 10) -> str:
        """Readable table of the first spectra."""
        df = self.to_dataframe()
        head = (f"KKResult: {len(self)} spectra, mode={self.options.get('mode')}, "
                f"c={self.options.get('c')}, {int(self.valid.sum())} valid")
        return head + "\n" + df.head(max_rows).to_string()

    def __repr__(self) -> str:
        return f"KKResult({len(self)} spectra, {int(self.valid.sum())} valid)"


@dataclass(frozen=True, eq=False)
class ZHITResult(BatchResult):
    """Result of the Z-HIT test of B spectra (F points each, padded); ``result[key]`` is a
    sub-batch.  No status: every spectrum gets a reconstruction.

    Attributes
    ----------
    modulus : (B, F) float, ohm, |Z| reconstructed from the phase (NaN where unused)
    residuals : (B, F) float, (|Z| - modulus) / |Z| (dimensionless; NaN where unused)
    valid : (B,) bool, the spectrum passes: |decision| <= ``tolerance`` at every used
        point (the evaluation window)
    mask : (B, F) bool, points kept: the input mask minus the failing points that
        ``exclude`` drops; pass it to ``fit(..., mask=)`` like ``kk().mask``
    decision : (B, F) float, the residuals after the residual smoother (what ``valid``
        and ``mask`` are decided on)
    tolerance : (B, F) float, the bound on |decision|: max(max_rel_residual,
        significance x noise x gain), gain the std of ``decision`` per unit noise at that
        point (larger at the ends)
    noise : (B,) float, noise std of ln|Z| (~ relative noise of |Z|) estimated from the
        roughness of the residuals
    phase : (B, F) float, rad, arg Z of the input
    reference : (B, F) bool, points the offset was fitted on
    freq : (B, F) Hz;  used : (B, F) bool, the input mask
    options : dict, the arguments of :func:`zhit`
    """

    modulus: np.ndarray
    residuals: np.ndarray
    valid: np.ndarray
    mask: np.ndarray
    decision: np.ndarray
    tolerance: np.ndarray
    noise: np.ndarray
    phase: np.ndarray
    reference: np.ndarray
    freq: np.ndarray
    used: np.ndarray
    options: dict = field(default_factory=dict)

    rows_field: ClassVar[str] = "valid"

    @property
    def max_residual(self) -> np.ndarray:
        """(B,) largest |residual| over the used points."""
        return np.nanmax(np.where(self.used, np.abs(self.residuals), np.nan), axis=1)

    def to_dataframe(self):
        """pandas DataFrame, one row per spectrum: max |residual|, max |decision|,
        n_excluded, valid."""
        import pandas as pd

        dec = np.nanmax(np.where(self.used, np.abs(self.decision), np.nan), axis=1)
        return pd.DataFrame(dict(max_residual=self.max_residual, max_decision=dec,
                                 n_excluded=(self.used & ~self.mask).sum(axis=1),
                                 valid=self.valid))

    def summary(self, max_rows: int = 10) -> str:
        """Readable table of the first spectra."""
        head = (f"ZHITResult: {len(self)} spectra, correction={self.options.get('correction')}, "
                f"{int(self.valid.sum())} valid")
        return head + "\n" + self.to_dataframe().head(max_rows).to_string()

    def __repr__(self) -> str:
        return f"ZHITResult({len(self)} spectra, {int(self.valid.sum())} valid)"


@dataclass(frozen=True, eq=False)
class DriftResult(BatchResult):
    """Drift indicators of N spectra that form one or more time series (``result[key]``:
    the rows ``key``; the indicators are not recomputed; no status, so no ``ok``).

    Attributes
    ----------
    group : (N,) int, series index (consecutive spectra with equal ``groups`` labels)
    change : (N,) float, median over frequency of |Z_i - Z_prev| / |Z_i| (relative change
        from the previous sweep of the series; the first sweep uses the next one)
    curvature : (N,) float, median over frequency of |Z_i - Z_lin| / |Z_i|, with Z_lin the
        straight line in time through the two neighbouring sweeps (the first and last
        sweeps use the two nearest ones)
    drift_ratio : (N,) float, (change / sqrt 2) / (curvature / s), s the noise gain of the
        line (sqrt 1.5 for equal spacing): ~1 without drift, >> 1 with drift; NaN for
        series of fewer than 3 sweeps
    pseudo_chi2 : (N,) float, lin-KK pseudo chi^2 (Boukamp 1995)
    chi2_ratio : (N,) float, pseudo_chi2 / median pseudo_chi2 of its series (its trend)
    lf_bias : (N,) float, |mean complex KK residual| over the lowest-frequency quarter of
        the points divided by its standard error (from the residual scatter)
    autocorr : (N,) float, lag-1 autocorrelation of the KK residuals along frequency
        (Re and Im averaged); white noise ~0, structured misfit -> 1
    noise : (N,) float, KK residual rms per component (relative to |Z|)
    nonstationary : (N,) bool, drift_ratio > threshold (series of >= 3 sweeps), or for a
        two-sweep series change / (1.67 sqrt 2 noise) > pair_threshold; False for single
        spectra (no evidence)
    basis : (N,) int, 2 three-sweep test, 1 two-sweep test, 0 no test possible
    threshold : float
    """

    group: np.ndarray
    change: np.ndarray
    curvature: np.ndarray
    drift_ratio: np.ndarray
    pseudo_chi2: np.ndarray
    chi2_ratio: np.ndarray
    lf_bias: np.ndarray
    autocorr: np.ndarray
    noise: np.ndarray
    nonstationary: np.ndarray
    basis: np.ndarray
    threshold: float = RATIO_THRESHOLD

    rows_field: ClassVar[str] = "group"
    shared_fields: ClassVar[frozenset] = frozenset({"threshold"})

    def to_dict(self) -> dict:
        """Per-spectrum columns (for ``KKResult.to_dataframe``)."""
        return dict(group=self.group, change=self.change, curvature=self.curvature,
                    drift_ratio=self.drift_ratio, chi2_ratio=self.chi2_ratio,
                    lf_bias=self.lf_bias, autocorr=self.autocorr,
                    nonstationary=self.nonstationary)

    def __repr__(self) -> str:
        return f"DriftResult({len(self)} spectra, {int(self.nonstationary.sum())} nonstationary)"
