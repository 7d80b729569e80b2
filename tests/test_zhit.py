"""fastfit.zhit: the Z-HIT reconstruction against closed forms, quadrature of the
log-frequency Hilbert kernel and separate scipy implementations (first order here, the
exact correction in zhit_reference.py);
accuracy on KK-compliant spectra, drift detection, masks, errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.interpolate import CubicSpline

import fastfit as ff
from fastfit.errors import DataError, ShapeError
from fastfit.synthetic import add_noise, magnitude_drift

F71 = np.logspace(5, -2, 71)          # 100 kHz -> 10 mHz, 10 per decade (sweep order)
W71 = 2 * np.pi * F71
RTOL_WIDE = 1e-4      # 5 points per decade over 14 decades: measured 4.5e-5 (first order: 3 %)


def zarc(f, R, tau, n):
    return R / (1 + (2j * np.pi * f * tau) ** n)


def family(kind, n, seed, inside=1.5):
    """R0 + 2 or 3 ZARCs (n 0.8-1), or one ZARC + a finite Warburg whose 45-degree tail
    fills the low-frequency end (w_min tau_W 30-1000); relaxation times at least
    ``inside`` decades inside the range."""
    rng = np.random.default_rng(seed)
    lo, hi = np.log10(1 / W71.max()) + inside, np.log10(1 / W71.min()) - inside
    out = np.zeros((n, F71.size), complex)
    for i in range(n):
        z = rng.uniform(1, 50) + 0j
        for t in np.sort(rng.uniform(lo, hi, {"2arc": 2, "3arc": 3, "warburg": 1}[kind])):
            z = z + zarc(F71, 10 ** rng.uniform(0.5, 2.5), 10 ** t, rng.uniform(0.8, 1.0))
        if kind == "warburg":
            s = np.sqrt(1j * W71 * 10 ** rng.uniform(1.5, 3) / W71.min())
            z = z + 10 ** rng.uniform(1, 2.5) * np.tanh(s) / s
        out[i] = z
    return out


FIXED = {
    "2 arcs": 10 + zarc(F71, 100, 1e-4, 0.9) + zarc(F71, 200, 1e-1, 0.85),
    "2 RC arcs": 10 + zarc(F71, 100, 1e-4, 1.0) + zarc(F71, 200, 3e-2, 1.0),
    "3 arcs": 5 + zarc(F71, 50, 1e-4, 0.95) + zarc(F71, 100, 3e-3, 0.85)
    + zarc(F71, 80, 1e-1, 0.9),
    "Warburg tail": 10 + zarc(F71, 100, 1e-3, 0.9)
    + 60 * np.tanh(np.sqrt(1j * W71 * 30.0)) / np.sqrt(1j * W71 * 30.0),
}


@pytest.fixture(scope="module")
def fixed():
    Z = np.stack(list(FIXED.values()))
    return Z, ff.zhit(F71, Z)


# ------------------------------------------------------------------ references
def zhit_first_order_reference(f, Z):
    """Ehm et al. Z-HIT written out with scipy, one spectrum: not-a-knot cubic spline of
    the phase in ln w, its exact integral from the lowest frequency and -pi/6 times its
    slope; offset = mean over the upper half of the log-frequency range."""
    o = np.argsort(f)
    u = np.log(2 * np.pi * f[o])
    cs = CubicSpline(u, np.angle(Z[o]))
    rec = np.array([2 / np.pi * cs.integrate(u[0], x) for x in u]) - np.pi / 6 * cs(u, 1)
    lm = np.log(np.abs(Z[o]))
    lf = np.log(f[o])
    ref = lf >= 0.5 * (lf[0] + lf[-1])
    out = np.empty(f.size)
    out[o] = np.exp(rec + np.mean((lm - rec)[ref]))
    return out


def hilbert_modulus_difference(phase, u0, u1):
    """ln|Z(u0)| - ln|Z(u1)| from the phase function alone by adaptive quadrature of
    (2/pi) int phi du + (1/pi) PV int (coth(u0 - u) - sgn(u0 - u)) phi(u) du over the
    whole real line (the PV as the integral of the kernel times phi(u) - phi(u0))."""
    def corr(x):
        k = lambda v: (1 / np.tanh(v) - np.sign(v)) / np.pi   # noqa: E731
        g = lambda u: k(x - u) * (phase(u) - phase(x))         # noqa: E731
        return sum(quad(g, a, b, limit=400, epsabs=1e-13)[0]
                   for a, b in ((-60, x - 1e-9), (x + 1e-9, 60)))
    integral = quad(phase, u1, u0, limit=200, epsabs=1e-13)[0]
    return 2 / np.pi * integral + corr(u0) - corr(u1)


def test_first_order_equals_scipy_reference():
    Z = np.stack(list(FIXED.values()))
    r = ff.zhit(F71, Z, correction="first")
    for i in range(Z.shape[0]):
        np.testing.assert_allclose(r.modulus[i], zhit_first_order_reference(F71, Z[i]),
                                   rtol=1e-9)


def test_exact_correction_equals_independent_numpy_implementation(fixed):
    """The default reconstruction (whole kernel + continuation) equals a per-spectrum
    numpy/scipy implementation of the same rules (tests/zhit_reference.py); the kernel
    tabulates the continuation in kappa (cubic Hermite), good to ~2e-7, and fits the
    high-frequency flank by 20 Levenberg-Marquardt iterations where the reference
    converges scipy's least_squares (max difference 2.1e-7 on 1,000 noisy paper_rcpe2
    spectra; 12 iterations left 2 of them above 1e-6)."""
    from zhit_reference import zhit_exact_reference

    Z, r = fixed
    for i in range(Z.shape[0]):
        np.testing.assert_allclose(r.modulus[i], zhit_exact_reference(F71, Z[i]), rtol=1e-6)
    Zr = family("3arc", 4, seed=2)
    rr = ff.zhit(F71[::-1], Zr[:, ::-1])                       # ascending input
    for i in range(4):
        np.testing.assert_allclose(rr.modulus[i], zhit_exact_reference(F71[::-1], Zr[i, ::-1]),
                                   rtol=1e-6)


def test_kernel_is_the_exact_hilbert_relation():
    """The log-frequency kernel reproduces the closed-form modulus of a ZARC (quadrature
    of the analytic phase), and fastfit's discretisation reproduces it on a wide grid."""
    R0, R, tau, n = 5.0, 100.0, 1e-3, 0.8
    phase = lambda u: np.angle(R0 + R / (1 + (1j * np.exp(u) * tau) ** n))  # noqa: E731
    lnmod = lambda u: np.log(np.abs(R0 + R / (1 + (1j * np.exp(u) * tau) ** n)))  # noqa: E731
    for u0, u1 in ((np.log(1e3), np.log(1e1)), (np.log(1e5), np.log(2e2))):
        assert abs(hilbert_modulus_difference(phase, u0, u1) - (lnmod(u0) - lnmod(u1))) < 1e-8
    f = np.logspace(9, -5, 71)                    # the spectrum is flat at both ends
    Z = R0 + R / (1 + (2j * np.pi * f * tau) ** n)
    r = ff.zhit(f, Z)
    np.testing.assert_allclose(r.modulus[0], np.abs(Z), rtol=RTOL_WIDE)


def test_constant_phase_element_is_reconstructed_exactly():
    """A CPE has a constant phase: the integral alone gives its power law, every
    correction vanishes (closed form)."""
    Z = 1e3 / (2j * np.pi * F71) ** 0.7
    for corr in ("exact", "first", "none"):
        r = ff.zhit(F71, Z, correction=corr)
        np.testing.assert_allclose(r.modulus[0], np.abs(Z), rtol=1e-9)
        assert r.valid[0]


# ------------------------------------------------------------------ acceptance
def test_fixed_compliant_spectra_within_half_percent(fixed):
    Z, r = fixed
    err = np.abs(r.modulus / np.abs(Z) - 1)
    assert err.max() < 5e-3, err.max(axis=1)
    assert r.valid.all() and r.mask.all()
    np.testing.assert_allclose(r.residuals, 1 - r.modulus / np.abs(Z), atol=1e-15)


@pytest.mark.parametrize("kind", ["2arc", "3arc", "warburg"])
@pytest.mark.parametrize("inside, share", [(1.5, 0.99), (1.0, 0.99)])
def test_random_compliant_spectra(kind, inside, share):
    """0.5 % at every point for >= 99 % of random spectra whose relaxation times lie 1.5
    or 1 decade inside the range (seed 21, on which the high-end flank fit was tuned, and
    seed 5, which it was not), and at every point at least half a decade inside the range
    for all of them.  Measured with the fitted flank: 100.0 % of 1,200 spectra per family
    and distance on seeds 21, 1, 2 and of 2,000 on seeds 5-9, except Warburg at 1 decade
    (99.9 %: 2 misses, both at the lowest frequency); the exponential / damped-linear
    continuation before it gave 97.8-99.9 %, the misses at the highest frequency.  The
    classic first-order Z-HIT misses 0.5 % on most of the same spectra."""
    Z = np.concatenate([family(kind, 150, seed=s, inside=inside) for s in (21, 5)])
    r = ff.zhit(F71, Z)
    err = np.abs(r.modulus / np.abs(Z) - 1)
    assert np.mean(err.max(axis=1) < 5e-3) >= share
    assert err[:, 5:-5].max() < 5e-3
    assert r.valid.all()
    first = np.abs(ff.zhit(F71, Z, correction="first").modulus / np.abs(Z) - 1)
    assert np.mean(first.max(axis=1) < 5e-3) < 0.3


@pytest.mark.parametrize("point_time", ["cycles", "linear"])
def test_magnitude_drift_fails(point_time):
    """|Z| drifting by 5 % during the sweep (low frequencies last, phase untouched), 0.2 %
    noise: >= 90 % fail (here: all); the same spectra without drift pass."""
    rng = np.random.default_rng(5)
    Z = np.concatenate([family(k, 40, seed=s) for s, k in
                        enumerate(("2arc", "3arc", "warburg"))])
    clean = add_noise(Z, 0.002, rng)
    drifting = add_noise(magnitude_drift(F71, Z, 0.05, point_time), 0.002, rng)
    r = ff.zhit(F71, np.concatenate([clean, drifting]))
    n = Z.shape[0]
    assert np.mean(~r.valid[n:]) >= 0.9
    assert np.mean(r.valid[:n]) >= 0.95
    # the failing points are the late ones: mask drops them from the low-frequency end
    late = F71 < np.sqrt(F71[0] * F71[-1])
    dropped = r.used[n:] & ~r.mask[n:]
    assert (dropped & late).sum() >= 0.9 * dropped.sum() > 0
    np.testing.assert_allclose(np.median(r.noise[:n]), 0.002, rtol=0.2)


# ------------------------------------------------------------------ API details
def test_mask_ragged_grids_and_ordering(fixed):
    """Masked points and ascending input give the same numbers as dropping the points;
    spectra with different grids are grouped correctly."""
    Z, r = fixed
    m = np.ones(F71.size, bool)
    m[[0, 7, 30]] = False
    rm = ff.zhit(F71, Z[:2], mask=m)
    rd = ff.zhit(F71[m], Z[:2, m])
    np.testing.assert_allclose(rm.modulus[:, m], rd.modulus, rtol=1e-12)
    assert np.isnan(rm.modulus[:, ~m]).all() and not rm.mask[:, ~m].any()
    ra = ff.zhit(F71[::-1], Z[:, ::-1])
    np.testing.assert_allclose(ra.modulus[:, ::-1], r.modulus, rtol=1e-12)
    f2 = np.stack([F71, F71 * 1.1, F71])
    r2 = ff.zhit(f2, Z[:3])
    np.testing.assert_allclose(r2.modulus[[0, 2]], r.modulus[[0, 2]], rtol=1e-12)
    np.testing.assert_allclose(r2.modulus[1], ff.zhit(F71 * 1.1, Z[1]).modulus[0], rtol=1e-12)
    assert r[1:3].modulus.shape == (2, 71) and len(r) == 4
    assert "valid" in r.to_dataframe() and "ZHITResult" in r.summary()


def test_reference_window_and_smoothing(fixed):
    Z, r = fixed
    rw = ff.zhit(F71, Z, ref_window=(1.0, 1e3))
    assert rw.reference[:, (F71 >= 1) & (F71 <= 1e3)].all()
    assert not rw.reference[:, (F71 < 1) | (F71 > 1e3)].any()
    np.testing.assert_allclose(rw.modulus, r.modulus, rtol=5e-3)
    rs = ff.zhit(F71, Z, smoothing=0.3)
    assert np.abs(rs.modulus / np.abs(Z) - 1).max() < 0.02 and rs.valid.all()


@pytest.mark.parametrize("kwargs,err", [
    (dict(correction="second"), DataError), (dict(smoothing=-1), DataError),
    (dict(ref_window=(10, 1)), DataError), (dict(ref_window=(1e7, 1e8)), DataError),
    (dict(max_rel_residual=0), DataError), (dict(exclude="all"), DataError),
    (dict(significance=-1), DataError), (dict(smooth_residuals=True), DataError),
])
def test_bad_options_raise(kwargs, err):
    with pytest.raises(err):
        ff.zhit(F71, FIXED["2 arcs"], **kwargs)


def test_bad_data_raise():
    m = np.ones((2, 6), bool)
    m[1, :2] = False
    with pytest.raises(DataError, match="spectrum 1: 4 usable points, need at least 5"):
        ff.zhit(F71[:6], np.ones((2, 6), complex), mask=m)
    with pytest.raises(ShapeError):
        ff.zhit(F71, np.ones(70, complex))
    Z = np.tile(FIXED["2 arcs"], (2, 1))
    Z[1, 3] = np.nan
    with pytest.raises(DataError, match="spectrum 1"):
        ff.zhit(F71, Z)
