"""fastfit.drt with inductive features (sign="auto"), series tails and credible bands:
exactness against scipy's NNLS on the sign-flipped / augmented system, peaks of
synthetic loops at their true time constants, closed-form ZARC distributions (checked
by scipy quadrature) for the band coverage, the closed-form Gaussian posterior."""
from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pytest
from scipy.integrate import quad

from fastfit.errors import DataError
from fastfit.relaxation import drt, drt_system
from fastfit.synthetic import inductive_loops
from test_drt_reference import exact_nnls, zarc

F71 = np.logspace(5, -2, 71)          # 100 kHz -> 10 mHz, 10 per decade
W71 = 2 * np.pi * F71


@pytest.fixture(scope="module")
def loop_runs():
    Z, t = inductive_loops(F71, 32, seed=21)
    truth = np.stack([t["R1"], t["tau1"], t["R2"], t["tau2"]], axis=1)
    return Z, truth, drt(F71, Z, sign="auto"), drt(F71, Z)


def signed_reference(f, Z, sign, lam=1e-6):
    """Exact optimum of the sign-constrained problem: scipy NNLS on the system with the
    columns of the non-positive coefficients negated, negated back."""
    s = drt_system(f)
    S = np.r_[1.0, 1.0, sign]
    x = exact_nnls(s.A * S[None, :], lam * s.M * S[:, None] * S[None, :],
                   np.concatenate([Z.real, Z.imag]), 1.0, s.free)
    return x * S


# ------------------------------------------------------------------ inductive loops
def test_auto_sign_is_the_exact_optimum(loop_runs):
    Z, _, d, _ = loop_runs
    assert d.ok.all()
    for i in range(4):
        assert (d.sign[i] < 0).any() and (d.sign[i] > 0).any()
        x = signed_reference(F71, Z[i], d.sign[i])
        ours = np.concatenate([[d.R_inf[i], d.L[i]], d.coef[i]])
        assert np.linalg.norm(ours - x) < 1e-6 * np.linalg.norm(x)


def loop_peaks_found(p, i, R1, t1, R2, t2):
    """One positive and one negative peak at tau1 / tau2 (0.1 decade), areas R1 / -R2
    (5 %)."""
    pk = p.spectrum(i)
    if sorted(pk["sign"]) != [-1.0, 1.0]:
        return False
    pos, neg = np.argmax(pk["sign"]), np.argmin(pk["sign"])
    return (abs(np.log10(pk["tau"][pos] / t1)) < 0.1 and abs(np.log10(pk["tau"][neg] / t2)) < 0.1
            and abs(pk["area"][pos] / R1 - 1) < 0.05 and abs(pk["area"][neg] / -R2 - 1) < 0.05
            and pk["height"][neg] < 0 < pk["height"][pos])


def test_inductive_loop_gives_a_positive_and_a_negative_peak(loop_runs):
    """Acceptance: one positive and one negative peak at the true time constants (0.1
    decade) with areas within 5 % (synthetic.inductive_loops, 0.2 % noise: all 32 here;
    148 of 150 over seeds 21 and 1-4, 353 of 360 over seeds 5-10, where before the
    sign-boundary rule of find_peaks 30 of these 32, 141 / 336 -- the rest: a ripple of
    10 % on the arc's flank, or a small loop area off by 5-7 % from the noise; 940 of
    960 over seeds 5-20: 4 flank ripples -- the arc's ringing lobe ~0.8 decade from its
    apex, ~7 % high without noise, pushed over the 10 % prominence by it -- and 16 loop
    areas 5-12 % too large, all with R2 <= 0.24 R1: the loop's area is +1.4 % off on
    average (+1.3 % without noise; positive mass piles up against the sign boundary) and
    spreads by 1-4 % with the noise where a parametric fit of the same data spreads by
    0.5 %); the non-negative DRT of the same data is flagged as a poor fit.  Since the
    ZARC-per-peak refinement of spectra with peaks of both signs (test_drt_refine.py):
    960 of 960 over seeds 5-20."""
    Z, truth, d, nonneg = loop_runs
    p = d.peaks()
    found = np.array([loop_peaks_found(p, i, *t) for i, t in enumerate(truth)])
    assert found.all(), np.nonzero(~found)
    assert not d.poor_fit.any() and d.misfit.max() < 0.01
    assert nonneg.poor_fit.all() and nonneg.misfit.min() > 0.03
    assert (nonneg.sign >= 0).all() and (nonneg.gamma >= 0).all()
    np.testing.assert_allclose(d.R_pol, truth[:, 0] - truth[:, 2], rtol=0.05)
    assert (d.sign[:, :200] < 0).any(axis=1).all()
    assert "poor fit" in nonneg.summary() and nonneg.to_dataframe()["poor_fit"].all()


def test_constraint_made_maxima_and_extrapolated_tails_are_not_peaks(loop_runs):
    """A loop's negative peak would need positive side lobes, which its own region
    forbids: the solution puts a bump (10-15 % of max |gamma|) right against the sign
    boundary on the capacitive side.  It never falls to half its height before the wall,
    so find_peaks does not report it (spectrum 26: two positive peaks without the rule).
    Negative mass beyond the measured tau range, separated from the loop by vanishing
    gamma (a tail the data do not resolve), is not counted in the loop's area (a loop of
    seed 6 whose area came out 10.7 % too large)."""
    Z, truth, d, _ = loop_runs
    pk = d.peaks().spectrum(26)
    assert list(pk["sign"]) == [1.0, -1.0]
    walls = np.log(d.tau_basis[26][np.nonzero(np.diff(d.sign[26]))[0]])
    g = d.gamma[26]
    bump = (np.log(d.tau) < walls[0]) & (np.log(d.tau) > walls[0] - 0.3)
    assert g[bump].max() > 0.09 * np.abs(g).max()         # the bump is there, unreported
    Z6, t6 = inductive_loops(F71, 21, seed=6)
    d6 = drt(F71, Z6[20:21], sign="auto")
    g6, lt = d6.gamma[0], np.log(d6.tau)
    beyond = lt > -np.log(W71.min())
    assert g6[beyond].min() < -0.01 * np.abs(g6).max()    # the unresolved tail
    p6 = d6.peaks().spectrum(0)
    assert loop_peaks_found(d6.peaks(), 0, t6["R1"][20], t6["tau1"][20], t6["R2"][20],
                            t6["tau2"][20]), p6


def test_loop_from_a_circuit_string():
    """R0-p(R1,C1)-p(R2,L2): p(R2, L2) = R2 - R2 / (1 + j w L2/R2), so R_inf = R0 + R2
    and a negative peak of area -R2 at tau = L2/R2."""
    import fastfit as ff

    Z = ff.Circuit("R0-p(R1,C1)-p(R2,L2)").impedance(F71, [10, 100, 1e-5, 30, 15])
    d = drt(F71, Z, sign="auto")
    assert loop_peaks_found(d.peaks(), 0, 100, 1e-3, 30, 0.5)
    assert d.R_inf[0] == pytest.approx(40, rel=0.01)


def test_auto_equals_nonnegative_without_a_loop():
    """Capacitive spectra (with a high-frequency inductance, which the series L takes)
    keep every coefficient non-negative: the same optimum as sign='nonnegative'."""
    rng = np.random.default_rng(3)
    Z = np.stack([5 + zarc(F71, 100, 1e-3, 0.9) + zarc(F71, 50, 1e-1, 0.8)
                  + 1j * W71 * 1e-6, 20 + zarc(F71, 300, 1e-4, 0.95)])
    Z = Z + 0.003 * np.abs(Z) * (rng.standard_normal(Z.shape) + 1j * rng.standard_normal(Z.shape))
    a, n = drt(F71, Z, sign="auto"), drt(F71, Z, nonneg=True)
    assert (a.sign[:, :200] == 1).all()
    np.testing.assert_allclose(a.coef, n.coef, rtol=1e-9, atol=1e-9 * np.abs(n.coef).max())
    # loop-free random mixtures with 0.1-1 % noise: the noise near Im Z = 0 at the
    # low-frequency end rarely opens a negative region (1.3 % of 2,000 in _sign's notes)
    from fastfit.synthetic import drt_mixtures

    Zm = drt_mixtures(F71, 16, seed=5)
    assert (drt(F71, Zm, sign="auto").sign < 0).any(axis=1).sum() <= 1
    f = drt(F71, Z, sign="free", lam=1e-4)
    assert (f.sign == 0).all() and (f.gamma < 0).any()
    np.testing.assert_array_equal(f.coef, drt(F71, Z, nonneg=False, lam=1e-4).coef)


# ------------------------------------------------------------------ series tails
def test_cpe_tail_is_the_profiled_exact_optimum():
    """A blocking end (ZARC + CPE): the chosen n is the grid value with the smallest
    exact objective (scipy NNLS on the augmented system at every grid value), Q and the
    arc are recovered; without the tail the CPE piles up at the long-tau end."""
    Z = 10 + zarc(F71, 100, 1e-3, 0.9) + 1 / (2e-3 * (1j * W71) ** 0.7)
    grid = np.array([0.65, 0.7, 0.75])
    d = drt(F71, Z, tail="cpe", tail_grid=grid)
    assert d.tail_names == ("Q", "n")
    assert d.tail_params[0, 1] == 0.7
    assert d.tail_params[0, 0] == pytest.approx(2e-3, rel=1e-3)
    assert d.R_pol[0] == pytest.approx(100, rel=0.01) and not d.poor_fit[0]
    s = drt_system(F71)
    b = np.concatenate([Z.real, Z.imag])
    obj = []
    for n in grid:
        t = (1j * W71) ** -n
        A = np.c_[s.A, np.r_[t.real, t.imag]]
        M = np.zeros((A.shape[1],) * 2)
        M[:-1, :-1] = 1e-6 * s.M
        x = exact_nnls(A, M, b, 1.0, np.r_[s.free, True])
        obj.append(np.sum((A @ x - b) ** 2) + x @ M @ x)
        if n == 0.7:
            ours = np.r_[d.R_inf[0], d.L[0], d.coef[0], 1 / d.tail_params[0, 0]]
            assert np.linalg.norm(ours - x) < 1e-6 * np.linalg.norm(x)
    assert grid[int(np.argmin(obj))] == 0.7
    plain = drt(F71, Z)
    assert plain.R_pol[0] > 10 * d.R_pol[0]
    assert "tail_Q" in d.to_dataframe()


def test_warburg_tail_on_a_diffusion_dominated_end():
    """ZARC + finite-length Warburg whose 45-degree line fills the low-frequency end
    (w_min tau_W = 60): the Warburg coefficient R_W / sqrt(tau_W) (the only identifiable
    combination there) within 3 %, the arc within 3 %."""
    tau_W, R_W = 60 / W71.min(), 500.0
    s = np.sqrt(1j * W71 * tau_W)
    Z = 10 + zarc(F71, 100, 1e-3, 0.9) + R_W * np.tanh(s) / s
    d = drt(F71, Z, tail="warburg_short")
    R, tau = d.tail_params[0]
    assert R / np.sqrt(tau) == pytest.approx(R_W / np.sqrt(tau_W), rel=0.03)
    assert d.peaks().area[0, 0] == pytest.approx(100, rel=0.03)
    assert d.misfit[0] < 1e-3
    o = drt(F71, Z, tail="warburg_open", tail_grid=[tau_W])
    assert o.tail_params[0, 1] == tau_W and o.tail_names == ("R_W", "tau_W")


# ------------------------------------------------------------------ credible bands
def zarc_gamma(R, tau0, n, tau):
    """Closed-form DRT of R / (1 + (j w tau0)^n) (checked by quadrature below)."""
    x = np.log(tau / tau0)
    return R / (2 * np.pi) * np.sin(n * np.pi) / (np.cosh(n * x) + np.cos(n * np.pi))


def test_zarc_distribution_closed_form():
    R, t0, n = 100.0, 1e-3, 0.8
    for w in (10.0, 1e3, 1e5):
        g = lambda y, k: zarc_gamma(R, t0, n, np.exp(y)) * k(w * np.exp(y))  # noqa: E731
        re = quad(g, -40, 30, args=(lambda v: 1 / (1 + v * v),), limit=400)[0]
        im = quad(g, -40, 30, args=(lambda v: -v / (1 + v * v),), limit=400)[0]
        assert abs(re + 1j * im - R / (1 + (1j * w * t0) ** n)) < 1e-8 * R


@pytest.fixture(scope="module")
def banded():
    """8 ZARC spectra (n 0.7-0.85, additive white noise of known std 0.2 % of R), their
    95 % bands (non-negative: sampled, 64 samples each) and the noise-free DRT at the
    same lam."""
    rng = np.random.default_rng(8)
    k = 8
    R = 10 ** rng.uniform(1.5, 2.5, k)
    t0 = 10 ** rng.uniform(-3.5, -1.5, k)
    n = rng.uniform(0.7, 0.85, k)
    exact = np.stack([2 + zarc(F71, R[i], t0[i], n[i]) for i in range(k)])
    sigma = 0.002 * R
    Z = exact + sigma[:, None] * (rng.standard_normal(exact.shape)
                                  + 1j * rng.standard_normal(exact.shape))
    opts = dict(lam=1e-6)      # the default; at 1e-4..1e-3 see the note in the test below
    d = drt(F71, Z, bands=0.95, noise=sigma, n_samples=64, **opts)   # 512 solves: one batch
    clean = drt(F71, exact, **opts)
    truth = np.stack([zarc_gamma(R[i], t0[i], n[i], d.tau) for i in range(k)])
    return dict(d=d, clean=clean, truth=truth, R=R, t0=t0, sigma=sigma, Z=Z, opts=opts)


def test_band_covers_the_true_distribution_where_bias_is_small(banded):
    """Acceptance: the true gamma is inside the 95 % band at >= 90 % of the tau points
    where the regularisation bias is small.  Bias = noise-free DRT at the same lam minus
    the true gamma (the deterministic part of the error); small = at most a quarter of
    the band's half-width (a correct band then covers >= 92 % of such points).

    Measured on 4 seeds: 98-99 % at lam = 1e-6 (83-87 % of the points count), 97 % at
    1e-5, 88-90 % at 1e-4, 75 % at 1e-3: the misses are in the tails, where the true gamma
    is ~0 and the non-negativity turns noise into a small positive bump that the
    noise-free solve (hence the bias criterion) does not have."""
    d, clean, truth = banded["d"], banded["clean"], banded["truth"]
    assert d.band_sampled.all() and d.ok.all()
    assert np.all(d.gamma_lo >= 0) and np.all(d.gamma_lo <= d.gamma_hi)
    # the band is a quantile interval of the truncated posterior: the optimum (its mode)
    # lies inside it almost everywhere, not necessarily everywhere
    assert np.mean((d.gamma_lo <= d.gamma + 1e-12) & (d.gamma <= d.gamma_hi + 1e-12)) > 0.95
    half = 0.5 * (d.gamma_hi - d.gamma_lo)
    small = np.abs(clean.gamma - truth) <= 0.25 * half
    inside = (truth >= d.gamma_lo) & (truth <= d.gamma_hi)
    assert small.mean() > 0.5                   # the criterion keeps most points
    near = truth > 0.05 * truth.max(axis=1, keepdims=True)
    assert (small & near).sum() > 0.3 * near.sum()   # ... also on the peaks
    assert inside[small].mean() >= 0.9, inside[small].mean()
    assert inside[small & near].mean() >= 0.9


def test_peak_intervals_and_noise_estimate(banded):
    """At lam = 1e-4 (one peak per ZARC) and with the noise std estimated from the
    residual: the estimate is within 30 % of the true std, the apex interval holds the
    true tau0, the area interval is within 0.5 % of R of the truth (it carries the noise,
    ~1 % of R here, not the regularisation bias of the area)."""
    R, t0, sigma = banded["R"], banded["t0"], banded["sigma"]
    d = drt(F71, banded["Z"], lam=1e-4, bands=0.95, n_samples=64)
    np.testing.assert_allclose(d.noise, sigma, rtol=0.3)
    p = d.peaks()
    assert (p.count == 1).all()
    lo, hi, a_lo, a_hi = p.tau_lo[:, 0], p.tau_hi[:, 0], p.area_lo[:, 0], p.area_hi[:, 0]
    assert np.all((lo <= p.tau[:, 0]) & (p.tau[:, 0] <= hi))
    assert np.mean((lo <= t0) & (t0 <= hi)) >= 0.75
    assert np.all((a_lo < a_hi) & (a_hi - a_lo < 0.05 * R))
    assert np.all((a_lo - 0.005 * R <= R) & (R <= a_hi + 0.005 * R))


def test_gaussian_band_equals_the_closed_form_posterior():
    """Ridge (sign='free'): the band is gamma +- z sigma sqrt(e^T (A^T A + lam M)^-1 e),
    computed here with numpy from drt_system's matrices."""
    Z = (5 + zarc(F71, 100, 1e-3, 0.8))[None]
    lam, sigma = 1e-3, 0.3
    d = drt(F71, Z, sign="free", lam=lam, bands=0.9, noise=sigma, n_samples=64)
    assert not d.band_sampled.any()
    s = drt_system(F71)
    H = s.A.T @ s.A + lam * s.M
    cov = sigma ** 2 * np.linalg.inv(H)[2:, 2:]
    E = np.exp(-(s.eps * (np.log(d.tau)[:, None] - s.log_tau[None, :])) ** 2)
    sd = np.sqrt(np.einsum("ij,jk,ik->i", E, cov, E))
    z = NormalDist().inv_cdf(0.95)
    np.testing.assert_allclose(d.gamma_hi[0] - d.gamma[0], z * sd, rtol=1e-6)
    np.testing.assert_allclose(d.gamma[0] - d.gamma_lo[0], z * sd, rtol=1e-6)
    # the stored samples follow the same Gaussian
    smp = d.samples[0] @ E.T
    assert np.median(np.abs(smp.std(axis=0) / sd - 1)) < 0.15


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, text", [
    (dict(sign="negative"), "sign must be one of"),
    (dict(sign="auto", nonneg=True), "contradicts"),
    (dict(nonneg="yes"), "nonneg must be True or False"),
    (dict(tail="gerischer"), "tail must be None or one of"),
    (dict(tail="cpe", tail_grid=[0.5, 1.5]), "CPE exponents"),
    (dict(tail_grid=[0.5]), "tail_grid needs a tail"),
    (dict(tail="warburg_short", tail_grid=[-1.0]), "tail_grid must hold"),
    (dict(bands=1.5), "bands must be a credible level"),
    (dict(bands=0.9, n_samples=5), "n_samples must be an integer >= 10"),
    (dict(noise=0.1), "noise is only used"),
    (dict(bands=0.9, noise=[0.1, 0.2, 0.3]), "one value per spectrum"),
    (dict(bands=0.9, noise=-1.0), "noise must be finite and > 0"),
    (dict(max_misfit=0), "max_misfit must be a positive number"),
])
def test_bad_options_raise(kwargs, text):
    with pytest.raises(DataError, match=text):
        drt(F71, np.tile(10 + zarc(F71, 100, 1e-3, 0.9), (2, 1)), **kwargs)
