"""Issue 10 acceptance checks of the analysis layer on the reference-study generators.

(1) Temperature series with the reference activation energies and 0.5 % impedance noise:
    fitted Ea within 0.005 eV; the reported interval covers the truth in >= 90 % of seeds.
(3) Temperature correction removes a +-2 degC sinusoidal wobble from a constant-interface
    relaxation series to within the noise.
(Acceptance (2), C_eff / apex vs the -Im maximum, is in test_analysis_units.py.)

The spectra are fitted here with scipy.optimize.least_squares (modulus weighting,
log-parametrised R and Q), a stand-in for the batched ``fastfit.fit``: swap
``_fit_spectra`` for ``ff.fit(freq, Z, circuit)`` (params, stderr) once it lands.
The fits start near the truth: these tests check the analysis, not the optimiser.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from fastfit import analysis as fa
from fastfit import synthetic as syn

REF = syn.REFERENCE
A, L = REF["area_cm2"], REF["thickness_cm"]
N_SEEDS = 40


def _model(freq, circuit, p):
    """Impedance of the two reference circuits (numpy, independent of fastfit kernels)."""
    jw = 2j * np.pi * freq

    def rq(R, Q, n):
        return R / (1 + R * Q * jw**n)

    if circuit == syn.CIRCUIT_BULK_ARC:
        return rq(*p[0:3]) + rq(*p[3:6]) + rq(*p[6:9])
    assert circuit == syn.CIRCUIT_BULK_R
    return p[0] + rq(*p[1:4]) + rq(*p[4:7])


def _fit_spectra(freq, Z, circuits, p_true, rng):
    """Fit each spectrum; returns params, stderr and covariance (lists, physical units)."""
    params, stderr, covs = [], [], []
    for z, c, pt in zip(Z, circuits, p_true):
        is_n = np.array([k % 3 == 2 for k in range(len(pt))]) if c == syn.CIRCUIT_BULK_ARC \
            else np.array([k in (3, 6) for k in range(len(pt))])
        x0 = np.where(is_n, np.clip(pt - 0.02, 0.3, 1.0),
                      np.log(np.abs(pt)) + 0.1 * rng.standard_normal(len(pt)))

        def to_p(x):
            return np.where(is_n, x, np.exp(x))

        def res(x):
            r = (_model(freq, c, to_p(x)) - z) / np.abs(z)
            return np.concatenate([r.real, r.imag])

        lo = np.where(is_n, 0.3, -60.0)
        hi = np.where(is_n, 1.0, 60.0)
        sol = scipy.optimize.least_squares(res, x0, bounds=(lo, hi), x_scale=1.0,
                                           xtol=1e-12, ftol=1e-12)
        J = sol.jac
        cov_x = 2 * sol.cost / (J.shape[0] - J.shape[1]) * np.linalg.inv(J.T @ J)
        p = to_p(sol.x)
        dp = np.where(is_n, 1.0, p)                      # dp/dx for x = ln p or x = n
        params.append(p)
        stderr.append(np.sqrt(np.diag(cov_x)) * dp)
        covs.append(cov_x * dp[:, None] * dp[None, :])
    return params, stderr, covs


# index of bulk / GB / interface resistance in each circuit's parameter vector
_R_INDEX = {syn.CIRCUIT_BULK_ARC: (0, 3, 6), syn.CIRCUIT_BULK_R: (0, 1, 4)}


def _resistances(circuits, params, stderr):
    R = np.array([[p[i] for i in _R_INDEX[c]] for c, p in zip(circuits, params)])
    S = np.array([[s[i] for i in _R_INDEX[c]] for c, s in zip(circuits, stderr)])
    return R, S        # (N, 3) ohm: bulk, grain boundary, interface


def _arrhenius_from_series(seed):
    freq, Z, truth = syn.reference_temperature_series(seed=seed, noise=0.005)
    rng = np.random.default_rng(seed + 10_000)
    params, stderr, _ = _fit_spectra(freq, Z, truth["circuit"], truth["params"], rng)
    R, S = _resistances(truth["circuit"], params, stderr)
    out = {}
    for k, proc in enumerate(syn.PROCESSES):
        sigma = fa.conductivity(R[:, k], L, A)
        out[proc] = fa.arrhenius(truth["T_K"], sigma, sigma_err=sigma * S[:, k] / R[:, k])
    return out


@pytest.fixture(scope="module")
def arrhenius_runs():
    return [_arrhenius_from_series(seed) for seed in range(N_SEEDS)]


def test_generator_switches_circuit_at_minus_30C():
    _, _, truth = syn.reference_temperature_series(noise=0)
    arc = [c == syn.CIRCUIT_BULK_ARC for c in truth["circuit"]]
    np.testing.assert_array_equal(arc, truth["T_C"] <= -30)
    # the bulk arc is inside the 7 MHz window where it is fitted as an R||CPE
    assert np.all(truth["f_apex_Hz"]["bulk"][truth["bulk_arc"]] < 7e6)
    # reference numbers at 25 degC
    s = syn.reference_state(25.0)
    assert s["f_apex_Hz"]["grain_boundary"][0] == pytest.approx(1.57e6)
    assert s["f_apex_Hz"]["interface"][0] == pytest.approx(88e3)
    assert s["R_ohm"]["interface"][0] * A == pytest.approx(53.2, abs=0.05)


def test_acceptance_activation_energies(arrhenius_runs):
    """Acceptance (1): |Ea - truth| < 0.005 eV for every seed and process; the 95 %
    interval from the reported stderr covers the truth in >= 90 % of seeded repeats."""
    for proc, Ea_true in REF["Ea_eV"].items():
        res = [run[proc] for run in arrhenius_runs]
        err = np.array([r.Ea_eV - Ea_true for r in res])
        se = np.array([r.Ea_stderr_eV for r in res])
        assert np.max(np.abs(err)) < 0.005, (proc, np.max(np.abs(err)))
        covered = np.mean([r.ci95[0] <= Ea_true <= r.ci95[1] for r in res])
        assert covered >= 0.90, (proc, covered)
        # the stderr is honest, not inflated: |err|/se has an RMS near 1
        z = err / se
        assert 0.6 < np.sqrt(np.mean(z**2)) < 1.5, (proc, np.sqrt(np.mean(z**2)))


def test_acceptance_temperature_correction_removes_wobble(arrhenius_runs):
    """Acceptance (3): a constant interface measured under a +-2 degC sinusoidal wobble;
    after correction with the thermocouple log and activation energies fitted from a
    temperature series, the interface resistance is constant within its standard errors."""
    R_int = 53.2                               # ohm cm^2 at 25 degC (the study's 88 kHz arc)
    freq, Z, truth = syn.reference_relaxation_series(
        n=48, seed=5, noise=0.005, R_int_start=R_int, R_int_end=R_int, wobble_C=2.0,
        log_resolution_C=0.1)
    rng = np.random.default_rng(99)
    circuits = [truth["circuit"]] * len(Z)
    params, stderr, _ = _fit_spectra(freq, Z, circuits, truth["params"], rng)
    R, S = _resistances(circuits, params, stderr)
    T_K = fa.interpolate_temperature(truth["time"], truth["log_time"], truth["log_T_C"])
    assert np.max(np.abs(T_K - truth["T_K"])) < 0.06               # 0.1 degC logger steps
    ea = arrhenius_runs[0]
    T_ref = REF["T_ref_C"] + 273.15
    for k, proc in enumerate(syn.PROCESSES):
        raw = R[:, k]
        c = fa.correct_to_reference(raw, T_K, T_ref, ea[proc], R_stderr=S[:, k],
                                    T_stderr_K=0.1 / np.sqrt(12))
        truth_ref = truth["R_ref_ohm"][proc]
        w = 1 / c.stderr_random**2
        mean = np.sum(w * c.R_ref) / np.sum(w)
        chi2_raw = np.sum((raw - np.mean(raw)) ** 2 / S[:, k] ** 2) / (len(raw) - 1)
        chi2_cor = np.sum(w * (c.R_ref - mean) ** 2) / (len(raw) - 1)
        # the wobble is visible (GB: weakly, its arc overlaps the bulk near 7 MHz) ...
        assert chi2_raw > (3 if proc == "grain_boundary" else 15), (proc, chi2_raw)
        assert chi2_cor < 2.0, (proc, chi2_cor)                 # ... and gone after correction
        rel_spread = np.std(c.R_ref) / np.mean(c.R_ref)
        assert rel_spread < 1.5 * np.sqrt(np.mean((c.stderr_random / c.R_ref) ** 2))
        # corrected values agree with the truth at 25 degC within their errors
        z = (c.R_ref - truth_ref) / c.stderr
        assert np.max(np.abs(z)) < 4.0, (proc, np.max(np.abs(z)))
    assert np.allclose(truth["R_ref_ohm"]["interface"] * A, R_int)


def test_derived_quantities_on_fitted_series():
    """End to end on the pressure series: interface C_eff (F/cm^2) and apex frequency from
    fitted parameters and their full covariance agree with the generator truth within
    their delta-method standard errors (which grow as the interface arc shrinks)."""
    freq, Z, truth = syn.reference_pressure_series(seed=3)
    rng = np.random.default_rng(4)
    names = ["R0", "R1", "CPE1_Q", "CPE1_n", "R2", "CPE2_Q", "CPE2_n"]
    circuits = [truth["circuit"]] * len(Z)
    params, _, covs = _fit_spectra(freq, Z, circuits, truth["params"], rng)
    d = fa.rcpe_from_params(np.array(params), np.array(covs), names, R="R2", CPE="CPE2",
                            area_cm2=A)
    C_true = truth["C_eff_F"]["interface"]
    zC = (d.C_eff - C_true) / d.C_eff_stderr
    zf = (d.f_apex - truth["f_apex_Hz"]["interface"]) / d.f_apex_stderr
    assert np.max(np.abs(zC)) < 4 and np.max(np.abs(zf)) < 4, (zC, zf)
    # at 1 N (53 ohm cm^2, the study's 34 nF/cm^2) the capacitance is pinned to a few %
    assert d.C_eff_areal[0] == pytest.approx(34e-9, rel=0.05)
    assert d.C_eff_areal_stderr[0] < 0.05 * d.C_eff_areal[0]
    labels = fa.assign_process(d.C_eff, area_cm2=A, basis="areal",
                               ranges={"grain_boundary": (1e-10, 1e-8),
                                       "interface": (1e-8, 1e-4)})
    assert set(labels.tolist()) == {"interface"}
