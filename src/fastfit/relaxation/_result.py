"""`DRTStatus` and `DRTResult`: what :func:`~fastfit.relaxation.drt` returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .._results import BatchResult, Status, translate

__all__ = ["DRTStatus", "DRTResult", "drt_status"]


class DRTStatus(Status):
    """Per-spectrum outcome of the DRT solve (stored as integers)."""

    CONVERGED = 1, "exact optimum (KKT conditions hold)"
    MAX_ITER = 0, "pivoting budget exhausted; best feasible point returned"
    FAILED = -1, "non-finite numbers in the solve; approximate solution, do not trust"


# NNLS kernel code (by its name in fastfit.kernels.NNLS_STATUS) -> DRTStatus
_FROM_NNLS = {"CONVERGED": DRTStatus.CONVERGED, "BUDGET": DRTStatus.MAX_ITER,
              "NONFINITE": DRTStatus.FAILED}


def drt_status(raw) -> np.ndarray:
    """(B,) int64 :class:`DRTStatus` codes for NNLS kernel codes ``raw``."""
    return translate(raw, "NNLS_STATUS", _FROM_NNLS)


@dataclass(frozen=True, eq=False)
class DRTResult(BatchResult):
    """DRTs of B spectra (``result[key]``: a sub-batch; ``ok``: the exact optimum).

    Attributes
    ----------
    tau : (T,) float64, s -- where ``gamma`` is reported (the basis centres for
        ``discretisation="fastfit"``; pyDRTtools' ``out_tau_vec`` for "pydrttools")
    gamma : (B, T) float64, ohm -- gamma(ln tau), so that R_pol = integral gamma d ln tau
        (negative on the inductive regions of ``sign="auto"``)
    R_inf : (B,) ohm;  L : (B,) H
    R_pol : (B,) ohm, integral of gamma over ln tau (polarisation resistance; net of
        negative peaks)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies
    residuals : (B, F) complex128, ohm, Z_fit - Z (0 where masked)
    lam : (B,) regularisation parameter used (chosen per spectrum with ``lam_select``)
    status : (B,) int, :class:`DRTStatus`;  n_solves : (B,) per-spectrum factorisations
    coef : (B, Tb) basis coefficients x;  tau_basis : (B, Tb) s, basis centres;
    basis_weight : (B, Tb) integral of each basis function over ln tau (0 = padding)
    freq : (B, F) Hz;  mask : (B, F) bool
    lam_grid : (G,) or None;  lam_scores : (B, G) or None -- the selection score on the
        grid (GCV, L-curve curvature or re-im discrepancy)
    misfit : (B,) relative RMS residual sqrt(sum |Z_fit - Z|^2 / sum |Z|^2) over the used
        points (dimensionless); ``poor_fit`` compares it with ``max_misfit``
    sign : (B, Tb) int8, the constraint of each basis coefficient: +1 (>= 0), -1 (<= 0),
        0 (free; also padding)
    tail_params : (B, 2) or None -- the series tail's parameters, named by
        ``tail_names``: (Q in F s^(n-1), n) for "cpe", (R_W in ohm, tau_W in s) for the
        Warburg tails (None without a tail)
    gamma_lo, gamma_hi : (B, T) ohm or None -- the credible band of gamma at level
        ``options["bands"]`` (None unless ``bands`` was given)
    samples : (B, S, Tb) or None -- posterior samples of ``coef`` (peak intervals);
        memory B x S x Tb x 8 bytes
    noise : (B,) ohm or None -- noise std behind the band (given or estimated)
    band_sampled : (B,) bool or None -- True: the band comes from perturbation samples
        (a constraint is active); False: closed-form Gaussian
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
    misfit: np.ndarray | None = None
    sign: np.ndarray | None = None
    tail_params: np.ndarray | None = None
    gamma_lo: np.ndarray | None = None
    gamma_hi: np.ndarray | None = None
    samples: np.ndarray | None = None
    noise: np.ndarray | None = None
    band_sampled: np.ndarray | None = None
    options: dict = field(default_factory=dict)

    rows_field: ClassVar[str] = "gamma"
    shared_fields: ClassVar[frozenset] = frozenset({"tau", "lam_grid", "options"})
    status_type: ClassVar[type] = DRTStatus

    @property
    def poor_fit(self) -> np.ndarray:
        """(B,) bool: ``misfit`` above ``max_misfit`` (default 3 %) -- the model does not
        follow the spectrum (e.g. a non-negative DRT of an inductive loop)."""
        m = np.full(len(self), np.nan) if self.misfit is None else self.misfit
        return ~(m <= self.options.get("max_misfit", 0.03))

    @property
    def tail_names(self) -> tuple:
        """Names of the columns of ``tail_params`` (empty without a tail)."""
        from ._tail import TAIL_NAMES
        return TAIL_NAMES.get(self.options.get("tail"), ())

    def peaks(self, min_prominence: float = 0.1, refine: str | bool = "auto"):
        """Peaks of every DRT, signed, with credible intervals when the result has
        samples; spectra with peaks of both signs get the parametric refinement of their
        areas and positions (see :func:`fastfit.relaxation.find_peaks`)."""
        from ._peaks import find_peaks
        return find_peaks(self, min_prominence=min_prominence, refine=refine)

    def summary(self, max_rows: int = 10) -> str:
        """Readable table: R_inf, L, R_pol, lam and status of the first spectra."""
        lines = [f"DRTResult: {len(self)} spectra, {self.tau.size} tau points "
                 f"({self.options.get('discretisation')}, {self.options.get('basis')}), "
                 f"{int(self.ok.sum())} exact"]
        lines.append(f"{'#':>4}  {'status':>9}  {'R_inf [ohm]':>12}  {'L [H]':>10}  "
                     f"{'R_pol [ohm]':>12}  {'lam':>8}  {'misfit':>8}")
        mis = np.full(len(self), np.nan) if self.misfit is None else self.misfit
        for b in range(min(len(self), max_rows)):
            lines.append(f"{b:>4}  {DRTStatus(int(self.status[b])).name.lower():>9}  "
                         f"{self.R_inf[b]:>12.5g}  {self.L[b]:>10.3g}  {self.R_pol[b]:>12.5g}  "
                         f"{self.lam[b]:>8.2g}  {mis[b]:>8.2g}"
                         + ("  poor fit" if self.poor_fit[b] else ""))
        if len(self) > max_rows:
            lines.append(f"... {len(self) - max_rows} more")
        return "\n".join(lines)

    def to_dataframe(self):
        """pandas DataFrame, one row per spectrum: R_inf, L, R_pol, lam, status, misfit,
        poor_fit and the tail parameters (if any)."""
        import pandas as pd
        data = dict(R_inf=self.R_inf, L=self.L, R_pol=self.R_pol, lam=self.lam,
                    status=self.status.astype(int))
        if self.misfit is not None:
            data.update(misfit=self.misfit, poor_fit=self.poor_fit)
        if self.tail_params is not None:
            data.update({f"tail_{n}": self.tail_params[:, i]
                         for i, n in enumerate(self.tail_names)})
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        return (f"DRTResult({len(self)} spectra x {self.tau.size} tau, "
                f"{int(self.ok.sum())} exact)")
