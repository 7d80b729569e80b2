"""What chi2 a spectrum's own noise makes attainable, from a lin-KK fit.

A Kramers-Kronig-compliant model with many free Voigt elements (lin-KK with a fixed,
generous M = 3 per decade + 2, series R, L and C; Schönleber et al., Electrochim. Acta 131
(2014) 20, doi:10.1016/j.electacta.2014.01.034) fits any causal, stable, linear spectrum
down to its noise.  Its residuals, in the fit's own weights, scaled from lin-KK's degrees
of freedom to the circuit's,

    chi2_att = chi2_KK * (n_res - P) / (n_res - M - 3),

estimate the chi2 a correct circuit reaches at its optimum.  On synthetic spectra of the
right circuit (0.5 % noise, 71 points) the optimum's chi2 lies within 0.8-1.2 x chi2_att
(benchmarks/README.md, "Attainable chi2").  A fit far above it sits in a wrong basin, or
the circuit does not describe the spectrum: the fit driver gives such spectra more starts,
and the result says which spectra stay above it (``FitStatus.ABOVE_ATTAINABLE``).
"""
from __future__ import annotations

import numpy as np

from .._batch import bucket_size

__all__ = ["attainable_chi2", "ATTAINABLE_FACTOR"]

# chi2 above this multiple of the attainable estimate: more starts, and a distinct status
ATTAINABLE_FACTOR = 1.25
_PER_DECADE = 3
_BLOCK = 1024          # spectra per call (memory: B x F x M)


def attainable_chi2(problem) -> np.ndarray:
    """(B,) float64 attainable chi2 per spectrum of a :class:`FitProblem` (inf where the
    spectrum has too few points for the estimate)."""
    from fastfit.kernels import kk_chi2, kk_chi2_shared

    batch = problem.batch
    fm = np.where(batch.mask, batch.freq, np.nan)
    decades = np.log10(np.nanmax(fm, axis=1) / np.nanmin(fm, axis=1))
    M = int(np.clip(np.ceil(_PER_DECADE * np.max(decades)) + 2, 4, 50))
    M = -(-M // 4) * 4                     # a few widths: one compiled program each
    n_res = 2 * batch.mask.sum(axis=1)
    P = problem.n_free
    dof_kk = n_res - M - 3
    ok = (dof_kk > P) & (n_res - P > 0)
    out = np.full(batch.n_spectra, np.inf)
    if not ok.any():
        return out
    omega = 2 * np.pi * batch.freq
    # one design matrix for a shared grid: a GEMM per block (kk_chi2_shared)
    fn = kk_chi2_shared if batch.shared_freq else kk_chi2

    def block(i):
        # rows i.. of a block, padded to a bucket size with copies of its first row:
        # batches of any size then share a few compiled programs (an unpadded last block
        # of 10,000 spectra compiled a program of its own, 0.35 s, on every new size)
        n = min(_BLOCK, batch.n_spectra - i)
        rows = np.r_[i:i + n, np.full(bucket_size(n) - n, i)]
        args = (omega[0] if batch.shared_freq else omega[rows],
                *(a[rows] for a in (batch.Z, problem.w_re, problem.w_im)))
        return np.asarray(fn(*args, M))[:n]

    chi2_kk = np.concatenate([block(i) for i in range(0, batch.n_spectra, _BLOCK)])
    with np.errstate(divide="ignore", invalid="ignore"):
        att = chi2_kk * (n_res - P) / np.maximum(dof_kk, 1)
    return np.where(ok & np.isfinite(att), att, out)
