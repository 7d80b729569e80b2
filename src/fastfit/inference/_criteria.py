"""Information criteria, the choice per spectrum, and the F-test of nested pairs."""
from __future__ import annotations

import numpy as np

from ..fitting import FitResult
from ._stats import f_sf

__all__ = ["CRITERIA", "information_criteria", "criterion_at", "rank_scores", "f_test"]

CRITERIA = ("bic", "aic", "aicc")


def information_criteria(result: FitResult) -> dict[str, np.ndarray]:
    r"""AIC, AICc and BIC of every spectrum of a fit, (B,) each.

    With n = 2 n_points real residuals, k free parameters and Gaussian errors of unknown
    scale (the weights fix only the relative errors):

    .. math::
        \mathrm{AIC} = n \ln(\chi^2/n) + 2k, \quad
        \mathrm{AICc} = \mathrm{AIC} + \frac{2k(k+1)}{n-k-1}, \quad
        \mathrm{BIC} = n \ln(\chi^2/n) + k \ln n

    (AIC and BIC as :attr:`FitResult.aic` / :attr:`FitResult.bic`; AICc after Hurvich and
    Tsai, Biometrika 76 (1989) 297, doi:10.1093/biomet/76.2.297.)
    """
    n = 2.0 * result.n_points
    k = float(result.n_free)
    with np.errstate(divide="ignore", invalid="ignore"):
        aic = result.aic
        aicc = aic + np.where(n - k - 1 > 0, 2 * k * (k + 1) / (n - k - 1), np.inf)
    return {"aic": aic, "aicc": aicc, "bic": result.bic}



def criterion_at(chi2, like: FitResult, criterion: str) -> np.ndarray:
    """The criterion a fit with ``like``'s points and parameters would have at ``chi2``."""
    n = 2.0 * like.n_points
    k = float(like.n_free)
    with np.errstate(divide="ignore", invalid="ignore"):
        base = n * np.log(chi2 / n)
        if criterion == "bic":
            return base + k * np.log(n)
        pen = 2 * k + (np.where(n - k - 1 > 0, 2 * k * (k + 1) / (n - k - 1), np.inf)
                       if criterion == "aicc" else 0.0)
        return base + pen



def rank_scores(results, criterion):
    """(scores (B, M) with NaN where excluded, excluded (B, M), best (B,) or -1)."""
    status = np.stack([r.status for r in results], axis=1)
    raw = np.stack([information_criteria(r)[criterion] for r in results], axis=1)
    excluded = (status <= 0) | ~np.isfinite(raw)
    scores = np.where(excluded, np.nan, raw)
    any_ok = ~excluded.all(axis=1)
    best = np.where(any_ok, np.argmin(np.where(excluded, np.inf, scores), axis=1), -1)
    return scores, excluded, best



def f_test(small: FitResult, big: FitResult, excl: np.ndarray) -> np.ndarray:
    """(B,) p-values of the F-test of ``small`` nested in ``big``.

    F = ((chi2_s - chi2_b) / (k_b - k_s)) / (chi2_b / (n - k_b)),  F(k_b - k_s, n - k_b)
    under the smaller model, n = 2 n_points (Bates & Watts, Nonlinear Regression Analysis
    and its Applications, Wiley 1988, sec. 3.10: the extra-sum-of-squares test).
    """
    n = 2.0 * big.n_points
    ks, kb = float(small.n_free), float(big.n_free)
    d1, d2 = kb - ks, n - kb
    with np.errstate(divide="ignore", invalid="ignore"):
        F = ((small.chi2 - big.chi2) / d1) / (big.chi2 / d2)
    F = np.where(excl | (d1 <= 0) | (d2 <= 0) | ~np.isfinite(F), np.nan, F)
    return f_sf(F, np.maximum(d1, 1.0), np.maximum(d2, 1.0))

