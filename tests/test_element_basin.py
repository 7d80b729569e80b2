"""Basin rate of fits of circuits built around each new element (issue 17).

1,000 synthetic spectra per circuit (``fastfit.synthetic.element_spectra``), one batched
``fastfit.fit`` each; a fit is in the basin when its chi2 <= (1 + 1e-6) x chi2 of a tight
bounded scipy ``least_squares`` fit started at the true parameters (same 1/|Z| weights,
log-scale parameters and bounds; the numpy closed forms of ``element_model``).

* control (must pass): started at the truth as well (``p0``), fastfit reaches the
  reference optimum on >= 99.5 % -- the element's analytic Jacobian drives LM home;
* default starts: the acceptance threshold of 99.9 %, asserted for every circuit except
  those listed in ``BELOW_THRESHOLD`` (measured below it with the generic start search;
  they report XFAIL while below, and pass when they reach it).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import least_squares

import fastfit as ff
from fastfit.synthetic import ELEMENT_CIRCUITS, element_model, element_spectra
from multistart_reference import stored

pytestmark = pytest.mark.slow

# circuits whose default-start basin is still measured below the 99.9 % threshold (the
# others must reach it); benchmarks/bench_elements.py records the rates
# (Gs: at the threshold since session 6 -- 1 miss of these 1,000, 2 of 5,000 other spectra;
# kept here because one more miss on another CPU's rounding would drop it below)
BELOW_THRESHOLD = {"R0-p(R1,CPE1)-Gs1": "0.999"}


def reference_chi2(circuit, f, z, p_true):
    """chi2 of the tight bounded scipy trf fit from the truth (also used by the benchmark)."""
    c = ff.Circuit(circuit)
    model = element_model(circuit)
    b = c.default_bounds
    lm = c.log_scale & (b[:, 0] >= 0)
    w, a = 2 * np.pi * f, np.abs(z)

    def res(x):
        d = model(w, np.where(lm, np.exp(x), x)) - z
        return np.concatenate([d.real / a, d.imag / a])

    x0 = np.where(lm, np.log(p_true), p_true)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        s = least_squares(res, x0, bounds=(np.where(lm, -np.inf, b[:, 0]),
                                           np.where(lm, np.inf, b[:, 1])),
                          method="trf", ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=20000)
    return 2 * s.cost


def test_models_are_the_circuits():
    for circuit in ELEMENT_CIRCUITS:
        f, _, P = element_spectra(circuit, 3, noise=0)
        Z = ff.Circuit(circuit).impedance(f, P)
        for i in range(3):
            np.testing.assert_allclose(element_model(circuit)(2 * np.pi * f, P[i]), Z[i],
                                       rtol=1e-12)


@pytest.mark.parametrize("circuit", list(ELEMENT_CIRCUITS))
def test_basin_rate(circuit):
    f, Z, P = element_spectra(circuit, 1000)
    model = element_model(circuit)
    # the scipy fits' chi2, stored for these exact inputs (tests/multistart_reference.py)
    ref = stored((f, Z, P, circuit), lambda p, w: model(w, p), 2 * np.pi * f, list(P),
                 lambda: np.array([reference_chi2(circuit, f, Z[i], P[i])
                                   for i in range(len(Z))]))
    control = ff.fit(f, Z, circuit, p0=P)
    assert np.mean(control.chi2 <= ref * (1 + 1e-6)) >= 0.995
    basin = np.mean(ff.fit(f, Z, circuit).chi2 <= ref * (1 + 1e-6))
    if circuit in BELOW_THRESHOLD:
        if basin < 0.999:
            pytest.xfail(f"basin {basin:.4f} < 0.999 (measured {BELOW_THRESHOLD[circuit]}; "
                         "benchmarks/README.md)")
    assert basin >= 0.999, basin
