"""The fit problem behind a FitResult, rebuilt from the data (bootstrap and profile refit
the same problem: same weights, points, bounds and fixed values)."""
from __future__ import annotations

import numpy as np

from ..errors import DataError, ShapeError
from ..fitting import FitProblem, FitResult, prepare

__all__ = ["problem_of"]


def problem_of(r: FitResult, freq, Z, weight, bounds) -> FitProblem:
    """The :class:`FitProblem` of fit ``r`` rebuilt from its data: same weighting (by
    name, or ``weight`` given again), the fit's point mask, its fixed values, and
    ``bounds`` (default: the circuit's).  Typed errors name what does not match."""
    if weight is None:
        if r.weight == "sigma":
            raise DataError("the fit used explicit sigma weights: pass them again as weight=")
        weight = r.weight
    if not isinstance(r.mask, np.ndarray) or r.mask.ndim != 2:
        raise ShapeError("fit_result has no (B, F) point mask")
    try:
        # the fit's own point mask (e.g. lin-KK) decides which points take part
        p0 = np.where((r.status > 0)[:, None] | r.fixed[None, :], r.params,
                      r.circuit.default_values[None, :])
        problem = prepare(freq, Z, r.circuit, p0=p0, fixed=r.fixed, bounds=bounds,
                          weight=weight, mask=r.mask)
    except ShapeError as exc:
        raise ShapeError(f"{exc} (the fit has {r.mask.shape[0]} spectra of "
                         f"{r.mask.shape[1]} points: pass the data that was fitted)") from exc
    except DataError as exc:
        raise DataError(f"{exc} (if the fit used other bounds, pass them as bounds=)") from exc
    return problem
