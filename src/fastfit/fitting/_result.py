"""`FitStatus` and `FitResult`: what a batched circuit fit returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from .._results import BatchResult, Status, translate
from ..circuit import Circuit
from ..errors import ShapeError

__all__ = ["FitStatus", "FitResult", "fit_status", "LOOSE_REL", "loose_status"]


class FitStatus(Status):
    """Per-spectrum outcome of a fit (stored as integers in HDF5).

    Positive: converged (by which criterion); 0: iteration budget exhausted;
    negative: failed.
    """

    CONVERGED = 1, "converged (relative chi2 reduction < ftol)"
    CONVERGED_XTOL = 2, "converged (step < xtol)"
    CONVERGED_GTOL = 3, "converged (gradient < gtol)"
    AT_BOUND = 4, ("converged with a parameter at a bound, or a positive parameter that "
                   "vanished (R, Q, L -> 0 or infinity; its stderr is NaN)")
    ABOVE_ATTAINABLE = 5, ("converged, but chi2 stays above what the spectrum's own "
                           "lin-KK residuals say is attainable after more starts: a local "
                           "minimum, or a circuit that does not describe the spectrum")
    LOOSE = 6, ("converged, but the data hardly determine a parameter (its standard error "
                "exceeds its value): another set of parameters may fit as well or better")
    MAX_ITER = 0, "iteration budget exhausted before convergence"
    # converged, but J^T J is singular: some parameters not identifiable (stderr inf)
    SINGULAR = -1, "converged but parameters are not identifiable (singular J^T J)"
    NONFINITE = -2, "model or data not finite"


# LM kernel code (by its name in fastfit.kernels.LM_STATUS) -> FitStatus.  AT_BOUND and
# SINGULAR are decided by the API from the kernel's covariance output.
_FROM_LM = {"FTOL": FitStatus.CONVERGED, "XTOL": FitStatus.CONVERGED_XTOL,
            "GTOL": FitStatus.CONVERGED_GTOL, "RUNNING": FitStatus.MAX_ITER,
            "NONFINITE": FitStatus.NONFINITE}


def fit_status(raw) -> np.ndarray:
    """(B,) int64 :class:`FitStatus` codes for LM kernel codes ``raw``."""
    return translate(raw, "LM_STATUS", _FROM_LM)


# a converged result with a parameter's relative standard error above this reports LOOSE
LOOSE_REL = 1.0


def loose_status(status: np.ndarray, params: np.ndarray, stderr: np.ndarray,
                 judged: np.ndarray) -> np.ndarray:
    """``status`` with converged rows (CONVERGED, _XTOL, _GTOL) turned LOOSE where a judged
    parameter (``judged``: (P,) bool; free, not pinned, not a CPE-like Q, whose error in
    its n-dependent units follows the exponent's) has stderr / |value| > ``LOOSE_REL``: a
    1-sigma interval that reaches zero, i.e. the data hardly determine that term.

    Such results are where a fit can sit in another basin than the global optimum at
    nearly its chi2 (within the noise, so ``ABOVE_ATTAINABLE`` cannot tell): on the
    circuit-family benchmark 8 of Randles-Woa's 9 and 7 of Randles-Wsa's 8 results more
    than 1 % above the truth-started chi2 that had reported CONVERGED (session 33); a
    plain CONVERGED therefore promises every judged parameter within its own size."""
    conv = np.isin(status, (FitStatus.CONVERGED, FitStatus.CONVERGED_XTOL,
                            FitStatus.CONVERGED_GTOL))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = stderr / np.abs(params)
    loose = np.any(np.asarray(judged, bool)[None, :] & (rel > LOOSE_REL), axis=1)
    return np.where(conv & loose, FitStatus.LOOSE, status)


@dataclass(frozen=True, eq=False)
class FitResult(BatchResult):
    """Result of fitting one circuit to B spectra (``result[key]``: a sub-batch).

    Attributes
    ----------
    circuit : Circuit
    param_names, units : list of str (P)
    params : (B, P) float64, best-fit parameters in physical units
    stderr : (B, P) float64, standard errors sqrt(diag(cov)); NaN for fixed parameters and
        parameters at a bound
    cov : (B, P, P) float64, covariance s^2 (J^T J)^-1 in physical units, s^2 = chi2_red
        (or 1 with ``absolute_sigma``); rows/columns of fixed or pinned parameters are 0
    chi2 : (B,) weighted sum of squared residuals  sum w_re^2 dRe^2 + w_im^2 dIm^2
    chi2_red : (B,) chi2 / dof,  dof = 2 n_points - n_free
    residuals : (B, F) complex128, weighted residuals w_re dRe + j w_im dIm (0 where masked)
    Z_fit : (B, F) complex128, ohm, model at the data frequencies
    n_iter : (B,) int, LM iterations of the winning start
    status : (B,) int, :class:`FitStatus` values
    n_points : (B,) int, points used;  dof : (B,) int
    fixed : (P,) bool;  weight : str
    mask : (B, F) bool, points used
    escalated : (B,) bool, the spectrum's first result looked wrong (at a bound or a
        vanished parameter, singular, out of iterations, above the attainable chi2) or
        loosely determined (a parameter's relative standard error above 20 %), and it was
        fitted again from more starts -- relocation moves, escalation (``n_escalated``
        counts them)
    chi2_attainable : (B,) chi2 the spectrum's noise makes attainable, from a lin-KK model
        fitted in the same weights (inf where too few points); a converged fit more than
        1.25x above it reports ``ABOVE_ATTAINABLE`` (:mod:`fastfit.fitting._attainable`)
    """

    circuit: Circuit
    params: np.ndarray
    stderr: np.ndarray
    cov: np.ndarray
    chi2: np.ndarray
    chi2_red: np.ndarray
    residuals: np.ndarray
    Z_fit: np.ndarray
    n_iter: np.ndarray
    status: np.ndarray
    n_points: np.ndarray
    dof: np.ndarray
    fixed: np.ndarray
    weight: str
    mask: np.ndarray
    options: dict = field(default_factory=dict)
    escalated: np.ndarray | None = None
    chi2_attainable: np.ndarray | None = None

    rows_field: ClassVar[str] = "params"
    shared_fields: ClassVar[frozenset] = frozenset({"circuit", "fixed", "weight", "options"})
    status_type: ClassVar[type] = FitStatus

    @property
    def param_names(self) -> list[str]:
        return self.circuit.param_names

    @property
    def units(self) -> list[str]:
        return self.circuit.units

    @property
    def n_escalated(self) -> int:
        """Spectra fitted again from more starts (see ``escalated``)."""
        return 0 if self.escalated is None else int(np.sum(self.escalated))

    @property
    def n_free(self) -> int:
        return int((~self.fixed).sum())

    @property
    def aic(self) -> np.ndarray:
        """Akaike information criterion, n ln(chi2/n) + 2k with n = 2 n_points real
        residuals and k free parameters (Gaussian errors, unknown scale)."""
        n = 2.0 * self.n_points
        return n * np.log(self.chi2 / n) + 2.0 * self.n_free

    @property
    def bic(self) -> np.ndarray:
        """Bayesian information criterion, n ln(chi2/n) + k ln n."""
        n = 2.0 * self.n_points
        return n * np.log(self.chi2 / n) + self.n_free * np.log(n)

    def param(self, name: str) -> np.ndarray:
        """(B,) values of one parameter (also accepts impedance.py aliases)."""
        return self.params[:, self.circuit.param_index(name)]

    def to_dataframe(self):
        """pandas DataFrame, one row per spectrum: parameters, ``<name>_stderr``, chi2,
        chi2_red, status, n_iter."""
        import pandas as pd

        data = {}
        for k, name in enumerate(self.param_names):
            data[name] = self.params[:, k]
        for k, name in enumerate(self.param_names):
            data[f"{name}_stderr"] = self.stderr[:, k]
        data.update(chi2=self.chi2, chi2_red=self.chi2_red, status=self.status.astype(int),
                    n_iter=self.n_iter)
        return pd.DataFrame(data)

    def summary(self, max_rows: int = 10, *, bootstrap=None, level: float = 0.95,
                factor: float = 2.0) -> str:
        """Readable table: value ± stderr (unit) per parameter for the first spectra.

        With ``bootstrap`` (the :class:`~fastfit.inference.BootstrapResult` of this fit),
        a parameter whose bootstrap interval and linearised interval (value ± t stderr)
        at ``level`` differ in width by more than ``factor`` (either way, or only one of
        them is finite) is marked "!": its linearised stderr is not to be trusted (a
        parameter near a bound, merged arcs...; :func:`fastfit.profile` gives a
        likelihood-based interval).  The flags are ``bootstrap.disagreement(level,
        factor)``.
        """
        names, units = self.param_names, self.units
        flags = None
        if bootstrap is not None:
            if not hasattr(bootstrap, "disagreement"):
                raise ShapeError("bootstrap must be a BootstrapResult (fastfit.bootstrap); "
                                 f"got {type(bootstrap).__name__}")
            flags = np.asarray(bootstrap.disagreement(level, factor), bool)
            if flags.shape != self.params.shape:
                raise ShapeError(f"bootstrap has {flags.shape[0]} spectra of "
                                 f"{flags.shape[1]} parameters; this fit {self.params.shape}")
        lines = [f"FitResult: {self.circuit}  ({len(self)} spectra, weight={self.weight}, "
                 f"{self._converged_text()})"]
        head = ["#", "status"] + [f"{n} [{u}]" for n, u in zip(names, units)] + ["chi2_red"]
        rows = []
        for b in range(min(len(self), max_rows)):
            cells = [str(b), FitStatus(int(self.status[b])).name.lower()]
            for k in range(len(names)):
                v, e = self.params[b, k], self.stderr[b, k]
                cell = f"{v:.4g} ± {e:.2g}" if np.isfinite(e) else f"{v:.4g}"
                if flags is not None:
                    cell += " !" if flags[b, k] else "  "
                cells.append(cell)
            cells.append(f"{self.chi2_red[b]:.3g}")
            rows.append(cells)
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        fmt = "  ".join(f"{{:>{w}}}" for w in widths)
        lines.append(fmt.format(*head))
        lines.extend(fmt.format(*r) for r in rows)
        if len(self) > max_rows:
            lines.append(f"... {len(self) - max_rows} more")
        # every status other than a plain convergence, with its meaning, for all spectra
        codes, counts = np.unique(self.status, return_counts=True)
        for code, count in zip(codes, counts):
            st = FitStatus(int(code))
            if st not in (FitStatus.CONVERGED, FitStatus.CONVERGED_XTOL, FitStatus.CONVERGED_GTOL):
                lines.append(f"{st.name.lower()}: {count} spectra -- {st.message}")
        if self.chi2_attainable is not None:
            above = int(np.sum(self.chi2 > 1.25 * self.chi2_attainable))
            if above:
                lines.append(f"chi2 > 1.25 x attainable (lin-KK): {above} spectra -- a local "
                             "minimum, or a circuit that does not describe them")
        if self.n_escalated:
            lines.append(f"escalated: {self.n_escalated} spectra fitted again from more starts")
        if flags is not None:
            lines.append(f"! bootstrap and linearised {100 * level:g} % intervals differ in "
                         f"width by more than {factor:g}x ({int(flags.sum())} of "
                         f"{flags.size} parameters, all spectra)")
        return "\n".join(lines)

    def _converged_text(self) -> str:
        """'n converged', and how many of them carry a status flag (AT_BOUND,
        ABOVE_ATTAINABLE): a converged fit at a bound is not a clean one."""
        plain = np.isin(self.status, [FitStatus.CONVERGED, FitStatus.CONVERGED_XTOL,
                                      FitStatus.CONVERGED_GTOL])
        ok = np.asarray(self.ok, bool)
        flagged = int(np.sum(ok & ~plain))
        text = f"{int(ok.sum())} converged"
        return text + (f", {flagged} of them flagged" if flagged else "")

    def __repr__(self) -> str:
        return f"FitResult({self.circuit}, {len(self)} spectra, {self._converged_text()})"
