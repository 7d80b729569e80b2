"""Distribution of relaxation times (DRT) for thousands of spectra at once.

* :func:`drt` -> :class:`DRTResult` (:class:`DRTStatus` per spectrum);
* :func:`drt_system` -> :class:`DRTSystem`, the matrices of one frequency grid;
* :func:`find_peaks` -> :class:`DRTPeaks`, :func:`track_peaks` -> :class:`PeakTracks`.

Private parts: ``_system`` (options, tau grid, matrices), ``_solve`` (the driver),
``_joint`` (the solve of one group: signs, tail, bands), ``_qp`` (the batched exact QP),
``_sign`` (inductive regions of ``sign="auto"``), ``_tail`` (series tails), ``_bands``
(credible bands), ``_result``, ``_peaks``.

Model (Z in ohm, ``y = ln tau``, tau in s)::

    Z(w) = R_inf + j w L + integral gamma(y) / (1 + j w e^y) dy,     gamma(y) >= 0  (ohm)

``gamma = sum_m x_m phi_m`` on T basis functions (Gaussian RBFs or hats).  Every spectrum
solves the non-negative Tikhonov problem (exactly, see :mod:`fastfit.kernels._nnls`)::

    minimise  sum_i w_i [(Re Z_i - Re Zm_i)^2 + (Im Z_i - Im Zm_i)^2]
              + lam * integral (d^k gamma / dy^k)^2 dy        over x >= 0, R_inf >= 0, L >= 0

with ``w_i`` 1 for used points and 0 for masked ones (``part`` keeps only the real or
the imaginary rows).  ``sign="free"`` drops the constraint; ``sign="auto"`` makes gamma
non-positive on the tau regions where the spectrum turns inductive (negative peaks of
inductive loops); ``tail=`` adds a CPE or finite Warburg solved jointly with gamma;
``bands=`` gives credible bands of gamma and intervals of the peaks.

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
sets it.  On the bundled real files with >= 4 points per decade (tests/test_drt.py),
R_pol is within 2.3 % of the exact optimum of pyDRTtools' formulation at the same lam;
the padding is a measured compromise, not a derived constant (other paddings:
benchmarks/README.md, "Tuning history").  Sparse sweeps (pyeis_ex3: 2.5 points per decade) differ more:
pyDRTtools' Gaussians are then 0.8 decade wide and its R_pol is a property of that basis.
``discretisation="pydrttools"`` reproduces its matrices exactly for one-to-one comparison.

**Mapping to RelaxIS (assumption, unverified: we have no RelaxIS documentation).**
The reference analysis uses lam = 1e-6 with 200 points and a 2nd-derivative penalty; we
take RelaxIS' lam to have pyDRTtools' meaning.  If RelaxIS normalises the misfit per data
point (mean instead of sum), pass ``lam = lam_relaxis * n``.

References: Wan, Saccoccio, Chen, Ciucci, Electrochim. Acta 184 (2015) 483,
doi:10.1016/j.electacta.2015.09.097; Saccoccio et al., Electrochim. Acta 147 (2014) 470.
"""
from ._peaks import DRTPeaks, PeakTracks, find_peaks, track_peaks
from ._result import DRTResult, DRTStatus
from ._solve import drt
from ._system import DRTSystem, drt_system

__all__ = ["drt", "DRTResult", "DRTStatus", "DRTSystem", "drt_system", "DRTPeaks",
           "PeakTracks", "find_peaks", "track_peaks"]
