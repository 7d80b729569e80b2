"""fastfit.analysis: geometry, R||CPE derived quantities, process assignment, t quantiles.

References: closed forms, scipy.stats (t quantiles), finite differences and Monte Carlo
for the delta method, a scipy fit of a real LPSCl spectrum for the apex frequency.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from fastfit import analysis as fa
from fastfit.analysis._stats import normal_quantile_two_sided, t_quantile_two_sided
from fastfit.analysis.capacitance import _gradients
from fastfit.errors import DataError, ShapeError

A_REF = np.pi * 0.3**2          # 6 mm electrode, cm^2


# ------------------------------------------------------------------------- geometry
def test_area_from_diameter_units():
    assert fa.area_from_diameter(d_mm=6) == pytest.approx(0.28274333882, rel=1e-10)
    assert fa.area_from_diameter(0.6) == pytest.approx(0.28274333882, rel=1e-10)
    np.testing.assert_allclose(fa.area_from_diameter(d_mm=[10.0, 20.0]), [0.785398163, 3.14159265])
    with pytest.raises(DataError, match="exactly once"):
        fa.area_from_diameter(0.6, d_mm=6)
    with pytest.raises(DataError, match="exactly once"):
        fa.area_from_diameter()
    with pytest.raises(DataError, match="d_mm"):
        fa.area_from_diameter(d_mm=-1)


def test_area_specific_roundtrip_and_conductivity():
    R = np.array([[10.0, 20.0], [30.0, np.nan]])
    asr = fa.to_area_specific(R, A_REF)
    np.testing.assert_allclose(asr, R * A_REF)
    np.testing.assert_allclose(fa.from_area_specific(asr, A_REF), R)
    assert np.isnan(asr[1, 1])
    # 36.5 ohm cm^2 over 0.2 cm -> 5.48 mS/cm (NZSP0.4 total conductivity)
    s = fa.conductivity(36.5 / A_REF, 0.2, A_REF)
    assert s == pytest.approx(0.2 / 36.5)
    assert fa.resistance_from_conductivity(s, 0.2, A_REF) == pytest.approx(36.5 / A_REF)
    assert fa.areal_capacitance(4.5e-9 * A_REF, A_REF) == pytest.approx(4.5e-9)
    assert fa.specific_capacitance(4.5e-9 * A_REF, 0.2, A_REF) == pytest.approx(9e-10)
    with pytest.raises(DataError, match="R_ohm"):
        fa.conductivity(-1.0, 0.2, A_REF)
    with pytest.raises(DataError, match="area_cm2"):
        fa.to_area_specific(1.0, 0.0)
    with pytest.raises(ShapeError, match="R_ohm"):
        fa.to_area_specific(np.ones(3), np.ones(2))


# ---------------------------------------------------------------- R||CPE quantities
def test_effective_capacitance_closed_forms_and_broadcast():
    # n = 1: an ideal capacitor
    assert fa.effective_capacitance(123.0, 4.5e-9, 1.0) == pytest.approx(4.5e-9, rel=1e-14)
    assert fa.apex_frequency(1e3, 1e-9, 1.0) == pytest.approx(1 / (2 * np.pi * 1e-6))
    # identity 2 pi f R C = 1 for any n, broadcasting (3,1) x (4,)
    R = np.array([[10.0], [100.0], [1e4]])
    Q = np.array([1e-9, 1e-8, 1e-7, 1e-6])
    n = 0.8
    C = fa.effective_capacitance(R, Q, n)
    f = fa.apex_frequency(R, Q, n)
    assert C.shape == f.shape == (3, 4)
    np.testing.assert_allclose(2 * np.pi * f * R * C, 1.0, rtol=1e-12)
    np.testing.assert_allclose(fa.relaxation_time(R, Q, n), 1 / (2 * np.pi * f), rtol=1e-12)
    # explicit formula
    np.testing.assert_allclose(C, (Q * R ** (1 - n)) ** (1 / n), rtol=1e-12)
    # scalar in -> numpy scalar out; NaN propagates
    assert np.ndim(fa.effective_capacitance(1.0, 1e-6, 0.9)) == 0
    assert np.isnan(fa.apex_frequency(np.nan, 1e-6, 0.9))


@pytest.mark.parametrize("bad, match", [
    (dict(R=-1.0), "R must be > 0"), (dict(Q=0.0), "Q must be > 0"),
    (dict(n=1.2), r"n \(CPE exponent\)"), (dict(n=0.0), r"n \(CPE exponent\)"),
    (dict(R=np.inf), "R must be finite"), (dict(R="abc"), "R must be real"),
])
def test_rcpe_bad_input_names_argument(bad, match):
    args = dict(R=10.0, Q=1e-6, n=0.9)
    args.update(bad)
    for fn in (fa.effective_capacitance, fa.apex_frequency, fa.rcpe_derived):
        with pytest.raises(DataError, match=match):
            fn(**args)


def test_rcpe_shape_mismatch():
    with pytest.raises(ShapeError, match=r"R \(3,\).*Q \(2,\)"):
        fa.effective_capacitance(np.ones(3), np.ones(2) * 1e-6, 0.9)
    with pytest.raises(ShapeError, match=r"\(3, 3\)"):
        fa.rcpe_derived(10.0, 1e-6, 0.9, cov=np.eye(2))
    with pytest.raises(ShapeError, match="does not match"):
        fa.rcpe_derived(np.ones(4), 1e-6, 0.9, cov=np.broadcast_to(np.eye(3), (3, 3, 3)))


def test_gradients_match_finite_differences():
    R, Q, n = np.float64(250.0), np.float64(3e-8), np.float64(0.83)
    C = fa.effective_capacitance(R, Q, n)
    f = fa.apex_frequency(R, Q, n)
    gC, gf = _gradients(R, Q, n, C, f)
    x0 = np.array([R, Q, n])
    for k in range(3):
        h = x0[k] * 1e-6
        xp, xm = x0.copy(), x0.copy()
        xp[k] += h
        xm[k] -= h
        dC = (fa.effective_capacitance(*xp) - fa.effective_capacitance(*xm)) / (2 * h)
        df = (fa.apex_frequency(*xp) - fa.apex_frequency(*xm)) / (2 * h)
        assert gC[k] == pytest.approx(dC, rel=1e-6)
        assert gf[k] == pytest.approx(df, rel=1e-6)


def test_delta_method_matches_monte_carlo(rng):
    # batch of 3 elements with correlated (R, Q, n) errors of ~1 %
    R = np.array([50.0, 400.0, 3e3])
    Q = np.array([2e-8, 5e-9, 1e-6])
    n = np.array([0.95, 0.85, 0.7])
    sd = np.stack([R * 0.01, Q * 0.02, np.full(3, 0.004)], axis=1)
    corr = np.array([[1.0, -0.6, 0.3], [-0.6, 1.0, -0.7], [0.3, -0.7, 1.0]])
    cov = sd[:, :, None] * corr[None] * sd[:, None, :]
    d = fa.rcpe_derived(R, Q, n, cov, area_cm2=A_REF)
    for b in range(3):
        x = rng.multivariate_normal([R[b], Q[b], n[b]], cov[b], size=40000)
        Cs = fa.effective_capacitance(x[:, 0], x[:, 1], x[:, 2])
        fs = fa.apex_frequency(x[:, 0], x[:, 1], x[:, 2])
        assert d.C_eff_stderr[b] == pytest.approx(Cs.std(), rel=0.05)
        assert d.f_apex_stderr[b] == pytest.approx(fs.std(), rel=0.05)
        assert d.cov[b, 0, 1] == pytest.approx(np.cov(Cs, fs)[0, 1], rel=0.1)
    np.testing.assert_allclose(d.C_eff_areal, d.C_eff / A_REF)
    np.testing.assert_allclose(d.C_eff_areal_stderr, d.C_eff_stderr / A_REF)


def test_rcpe_from_params_picks_block_of_full_covariance(rng):
    names = ["R0", "R1", "CPE1_Q", "CPE1_n", "R2", "CPE2_Q", "CPE2_n"]
    B = 5
    p = np.tile([10.0, 80.0, 1e-9, 0.9, 200.0, 1e-7, 0.8], (B, 1)) * rng.uniform(0.9, 1.1, (B, 7))
    p[:, [3, 6]] = np.clip(p[:, [3, 6]], 0.5, 1.0)
    M = rng.standard_normal((B, 7, 7)) * (p[:, :, None] * 1e-3)
    cov = M @ np.swapaxes(M, 1, 2)
    d = fa.rcpe_from_params(p, cov, names, R="R2", CPE="CPE2")
    ref = fa.rcpe_derived(p[:, 4], p[:, 5], p[:, 6], cov[:, [4, 5, 6]][:, :, [4, 5, 6]])
    np.testing.assert_allclose(d.C_eff, ref.C_eff)
    np.testing.assert_allclose(d.f_apex_stderr, ref.f_apex_stderr)
    # idx form and the duck-typed fit-result form agree
    d2 = fa.rcpe_derived(p[:, 4], p[:, 5], p[:, 6], cov, idx=[4, 5, 6])
    np.testing.assert_allclose(d2.C_eff_stderr, ref.C_eff_stderr)

    class FakeFit:
        params, param_names = p, names
    FakeFit.cov = cov
    d3 = fa.rcpe_from_fit(FakeFit(), R="R2", CPE="CPE2")
    np.testing.assert_allclose(d3.f_apex, ref.f_apex)
    # failed fit (NaN row) -> NaN derived values, others untouched
    p_nan = p.copy()
    p_nan[2] = np.nan
    d4 = fa.rcpe_from_params(p_nan, cov, names, R="R1", CPE="CPE1")
    assert np.isnan(d4.C_eff[2]) and np.isfinite(np.delete(d4.C_eff, 2)).all()
    with pytest.raises(ShapeError, match="'CPE3'"):
        fa.rcpe_from_params(p, cov, names, R="R1", CPE="CPE3")
    with pytest.raises(ShapeError, match="cov must have shape"):
        fa.rcpe_from_params(p, cov[0], names)
    df = d.to_dataframe()
    assert list(df.columns[:2]) == ["C_eff_F", "C_eff_stderr_F"] and len(df) == B


def _apex_by_search(circuit, params, f_lo, f_hi):
    """Frequency of the -Im(Z) maximum on a dense log grid, refined by a parabola."""
    f = np.logspace(np.log10(f_lo), np.log10(f_hi), 4001)
    y = -circuit.impedance(f, params).imag
    k = int(np.argmax(y))
    x = np.log(f[k - 1:k + 2])
    a, b, _ = np.polyfit(x, y[k - 1:k + 2], 2)
    return float(np.exp(-b / (2 * a)))


@pytest.mark.parametrize("R, Q, n", [(100.0, 1e-9, 1.0), (80.0, 2e-9, 0.9),
                                     (22.5 / A_REF, None, 0.9), (5e3, 3e-6, 0.65)])
def test_acceptance_apex_and_ceff_match_imag_maximum(R, Q, n):
    """Acceptance (issue 10): C_eff and apex frequency agree with the -Im(Z) maximum of a
    simulated R||CPE (fastfit.Circuit, dense grid) to 1 %."""
    import fastfit as ff

    if Q is None:     # the study's grain boundary: 1.57 MHz, 4.5 nF/cm^2 on 0.283 cm^2
        C = 4.5e-9 * A_REF
        Q = C**n * R ** (n - 1)
    c = ff.Circuit("p(R1,CPE1)")
    f_pred = fa.apex_frequency(R, Q, n)
    f_max = _apex_by_search(c, [R, Q, n], f_pred / 30, f_pred * 30)
    assert f_pred == pytest.approx(f_max, rel=0.01)
    assert f_pred == pytest.approx(f_max, rel=1e-4)       # in fact far better than 1 %
    C_from_max = 1 / (2 * np.pi * f_max * R)
    assert fa.effective_capacitance(R, Q, n) == pytest.approx(C_from_max, rel=0.01)
    if n == 0.9 and R == 22.5 / A_REF:
        assert f_pred == pytest.approx(1.57e6, rel=2e-3)
        assert fa.rcpe_derived(R, Q, n, area_cm2=A_REF).C_eff_areal == pytest.approx(4.5e-9)


@pytest.mark.parametrize("rep", [1, 2])
def test_real_dummy_circuit_apex(data_dir, rep):
    """Real data: a measured R0-(R1||C1) dummy cell (impedance.py Circuit2, ZPlot .z).
    Fit R0-p(R1,CPE1) with scipy; the R||CPE apex frequency and C_eff must match the
    measured -Im(Z) maximum (parabola in ln f through the three highest points)."""
    d = np.loadtxt(data_dir / f"impedancepy_Circuit2_EIS_{rep}.z", skiprows=123,
                   encoding="latin-1", usecols=(0, 4, 5), delimiter="\t")
    f, Z = d[:, 0], d[:, 1] + 1j * d[:, 2]
    jw = 2j * np.pi * f

    def res(x):
        R0, R1, Q1, n1 = np.exp(x[0]), np.exp(x[1]), np.exp(x[2]), x[3]
        r = (R0 + R1 / (1 + R1 * Q1 * jw**n1) - Z) / np.abs(Z)
        return np.concatenate([r.real, r.imag])

    sol = scipy.optimize.least_squares(res, [np.log(100), np.log(300), np.log(1e-8), 0.9],
                                       bounds=([-10, -10, -40, 0.3], [15, 15, 0, 1]))
    assert sol.success
    J = sol.jac
    cov_x = 2 * sol.cost / (J.shape[0] - J.shape[1]) * np.linalg.inv(J.T @ J)
    R1, Q1, n1 = np.exp(sol.x[1]), np.exp(sol.x[2]), sol.x[3]
    scale = np.array([R1, Q1, 1.0])                  # d(p)/d(ln p) for R and Q
    cov = cov_x[1:4, 1:4] * scale[:, None] * scale[None, :]
    der = fa.rcpe_derived(R1, Q1, n1, cov)
    y = -Z.imag
    k = int(np.argmax(y))
    a, b, _ = np.polyfit(np.log(f[k - 1:k + 2]), y[k - 1:k + 2], 2)
    f_meas = np.exp(-b / (2 * a))
    assert 9e3 < f_meas < 11e3
    assert der.f_apex == pytest.approx(f_meas, rel=0.03)
    assert der.C_eff == pytest.approx(1 / (2 * np.pi * f_meas * R1), rel=0.03)
    assert 0 < der.f_apex_stderr < 0.02 * der.f_apex
    assert 0 < der.C_eff_stderr < 0.02 * der.C_eff


# ---------------------------------------------------------------------- assignment
def test_assign_process_defaults_and_custom_ranges():
    L = 0.2
    C = np.array([1.3e-11, 4.5e-9, 3.5e-10, 2e-5]) * A_REF    # F
    lab = fa.assign_process(C, thickness_cm=L, area_cm2=A_REF)
    # C*L/A = 2.6e-12 (bulk), 9e-10 (GB), 7e-11 (GB), 4e-6 (interface)
    assert lab.tolist() == ["bulk", "grain_boundary", "grain_boundary", "interface"]
    # the study's interface (34 nF/cm^2 -> 6.8e-9 F/cm) sits in Irvine's GB range
    assert fa.assign_process(34e-9 * A_REF, thickness_cm=L, area_cm2=A_REF) == "grain_boundary"
    # custom areal bins separate it
    custom = {"bulk": (0, 1e-10), "grain_boundary": (1e-10, 1e-8), "interface": (1e-8, 1e-3)}
    assert fa.assign_process(34e-9 * A_REF, area_cm2=A_REF, ranges=custom,
                             basis="areal") == "interface"
    assert fa.assign_process(1e-20, basis="absolute", ranges={"x": (1e-15, 1)}) == "unassigned"
    assert fa.assign_process(np.nan, thickness_cm=L, area_cm2=A_REF) == "unassigned"
    assert fa.assign_process(1e-12, basis="absolute",
                             ranges={"a": (0, 1), "b": (0, 1)}) == "a"   # first match wins
    with pytest.raises(DataError, match="thickness_cm"):
        fa.assign_process(1e-9)
    with pytest.raises(DataError, match="ranges"):
        fa.assign_process(1e-9, basis="absolute")
    with pytest.raises(DataError, match=r"ranges\['x'\]"):
        fa.assign_process(1e-9, basis="absolute", ranges={"x": (1, 0)})
    with pytest.raises(DataError, match="C_F"):
        fa.assign_process(-1e-9, basis="absolute", ranges={"x": (0, 1)})


# ----------------------------------------------------------------------- quantiles
@pytest.mark.parametrize("dof", [1, 2, 3, 4, 7, 10, 31, 200])
def test_t_quantile_matches_scipy(dof):
    for conf in (0.5, 0.9, 0.95, 0.99):
        assert t_quantile_two_sided(conf, dof) == pytest.approx(
            scipy.stats.t.ppf(0.5 + conf / 2, dof), rel=1e-9)


def test_normal_quantile_matches_scipy():
    assert normal_quantile_two_sided(0.95) == pytest.approx(scipy.stats.norm.ppf(0.975), rel=1e-10)
