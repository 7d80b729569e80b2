"""DRT matrices against independent references (pyDRTtools' own code, adaptive quadrature).

Also holds the reference helpers the other DRT tests import: pyDRTtools loader, its
matrices, the exact optimum by scipy's NNLS, real-spectrum loaders (np.loadtxt only).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate
from scipy.optimize import nnls

from fastfit.relaxation import drt_system

DATA = Path(__file__).resolve().parent / "data"   # bundled real files (tests/data/README.md)


# ------------------------------------------------------------------------ helpers
def load_pydrttools():
    """pyDRTtools' computational modules without its PyQt GUI (see DESIGN.md)."""
    if "pyDRTtools" not in sys.modules:
        spec = importlib.util.find_spec("pyDRTtools")
        pkg = types.ModuleType("pyDRTtools")
        pkg.__path__ = [str(Path(list(spec.submodule_search_locations)[0]))]
        sys.modules["pyDRTtools"] = pkg
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        basics = importlib.import_module("pyDRTtools.basics")
        runs = importlib.import_module("pyDRTtools.runs")
        ps = importlib.import_module("pyDRTtools.parameter_selection")
    return basics, runs, ps


def pdt_system(freq, derivative=2, rbf="Gaussian", coeff=0.5):
    """pyDRTtools' simple_run system (its own functions): A (2F, F+2) with columns
    [R_inf, L, x], M (F+2, F+2), epsilon, frequencies in its (descending) order."""
    basics, _, _ = load_pydrttools()
    f = np.sort(np.asarray(freq, np.float64))[::-1]
    tau = 1.0 / f
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eps = basics.compute_epsilon(f, coeff, rbf, "FWHM Coefficient")
        Are = basics.assemble_A_re(f, tau, eps, rbf)
        Aim = basics.assemble_A_im(f, tau, eps, rbf)
        Mk = (basics.assemble_M_2 if derivative == 2 else basics.assemble_M_1)(tau, eps, rbf)
    F = f.size
    A = np.zeros((2 * F, F + 2))
    A[:F, 0] = 1.0
    A[F:, 1] = 2 * np.pi * f
    A[:F, 2:] = Are
    A[F:, 2:] = Aim
    M = np.zeros((F + 2, F + 2))
    M[2:, 2:] = Mk
    return A, M, eps, f


_ROOTS: dict = {}


def _root(Mf):
    """R with R^T R = Mf (eigen-decomposition, cached per matrix)."""
    key = (Mf.shape, Mf.tobytes())
    if key not in _ROOTS:
        w, V = np.linalg.eigh(0.5 * (Mf + Mf.T))
        _ROOTS.clear()
        _ROOTS[key] = (V * np.sqrt(np.clip(w, 0.0, None))).T
    return _ROOTS[key]


def exact_nnls(A, M, b, lam, free=None):
    """Exact optimum of min ||A x - b||^2 + lam x^T M x, x >= 0 (scipy Lawson-Hanson on
    the augmented system [A; sqrt(lam) R], R^T R = M); pinned columns give 0."""
    N = A.shape[1]
    free = np.ones(N, bool) if free is None else np.asarray(free, bool)
    R = _root(M[np.ix_(free, free)])
    Aaug = np.vstack([A[:, free], np.sqrt(lam) * R])
    x = np.zeros(N)
    x[free] = nnls(Aaug, np.concatenate([b, np.zeros(R.shape[0])]), maxiter=50 * N)[0]
    return x


def real_spectra():
    """name -> (freq Hz, Z ohm) for the real files with a sensible frequency range."""
    out = {}
    for fn in ("pydrttools_LIB_data.txt", "pydrttools_LIB_data_2.txt"):
        d = np.loadtxt(DATA / fn)
        out[fn] = (d[:, 0], d[:, 1] + 1j * d[:, 2])
    for fn in ("pydrttools_data_1.csv", "impedancepy_exampleData.csv"):
        d = np.loadtxt(DATA / fn, delimiter=",")
        out[fn] = (d[:, 0], d[:, 1] + 1j * d[:, 2])
    d = np.loadtxt(DATA / "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.txt", skiprows=65,
                   usecols=(0, 1, 2), encoding="latin-1")
    out["LPSCl"] = (d[:, 0], d[:, 1] - 1j * d[:, 2])       # BioLogic stores -Im(Z)
    return out


def zarc(f, R, tau, phi):
    return R / (1.0 + (2j * np.pi * f * tau) ** phi)


# -------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def spectra(data_dir):
    return real_spectra()


@pytest.mark.parametrize("derivative", [1, 2])
def test_pydrttools_gaussian_matrices_equal_theirs(spectra, derivative):
    # LIB data are nearly log-spaced: pyDRTtools takes its Toeplitz shortcut there,
    # impedance.py's grid is exactly log-spaced
    for name in ("pydrttools_LIB_data.txt", "impedancepy_exampleData.csv"):
        f, _ = spectra[name]
        A, M, eps, fd = pdt_system(f, derivative)
        s = drt_system(f, derivative=derivative, discretisation="pydrttools")
        np.testing.assert_allclose(s.freq, fd)
        assert s.eps == pytest.approx(eps, rel=1e-12)
        assert np.abs(s.A - A).max() < 1e-9 * np.abs(A[:, 2:]).max()
        assert np.abs(s.M - M).max() < 1e-10 * np.abs(M).max()


def test_pydrttools_matrices_spot_check_irregular_grid(spectra):
    """LIB_data_2 is not log-spaced enough for pyDRTtools' Toeplitz shortcut: compare a
    few entries with its element-wise quadrature (the full assembly takes ~20 s)."""
    basics, _, _ = load_pydrttools()
    f, _ = spectra["pydrttools_LIB_data_2.txt"]
    s = drt_system(f, discretisation="pydrttools")
    fd = s.freq
    F = fd.size
    for p, q in ((0, 0), (5, 60), (50, 50), (99, 3), (70, 99)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re = basics.g_i(fd[p], 1 / fd[q], s.eps, "Gaussian")
            im = -basics.g_ii(fd[p], 1 / fd[q], s.eps, "Gaussian")
        assert s.A[p, 2 + q] == pytest.approx(re, rel=1e-8, abs=1e-9)   # its quad: epsabs 1e-9
        assert s.A[F + p, 2 + q] == pytest.approx(im, rel=1e-8, abs=1e-9)
    M = basics.assemble_M_2(1 / fd, s.eps, "Gaussian")
    np.testing.assert_allclose(s.M[2:, 2:], M, rtol=1e-10, atol=1e-12 * np.abs(M).max())


def test_pydrttools_pwl_matrices_equal_theirs():
    f = np.logspace(4, -1, 23) * (1 + 0.01 * np.sin(np.arange(23)))
    for derivative in (1, 2):
        A, M, _, _ = pdt_system(f, derivative, rbf="PWL")
        s = drt_system(f, derivative=derivative, basis="piecewise_linear",
                       discretisation="pydrttools")
        np.testing.assert_allclose(s.A, A, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(s.M, M, rtol=1e-12, atol=1e-12 * np.abs(M).max())


def test_fastfit_gaussian_kernels_against_quadrature():
    f = np.logspace(5, -2, 15)
    s = drt_system(f, n_tau=40)
    eps, lt = s.eps, s.log_tau
    rng = np.random.default_rng(0)
    for p, m in zip(rng.integers(0, 15, 12), rng.integers(0, 40, 12)):
        w = 2 * np.pi * f[p]
        phi = lambda y: np.exp(-(eps * (y - lt[m])) ** 2)
        lo, hi = lt[m] - 9 / eps, lt[m] + 9 / eps
        re = integrate.quad(lambda y: phi(y) / (1 + (w * np.exp(y)) ** 2), lo, hi,
                            epsabs=1e-15, epsrel=1e-13, limit=200)[0]
        im = integrate.quad(lambda y: -phi(y) * w * np.exp(y) / (1 + (w * np.exp(y)) ** 2),
                            lo, hi, epsabs=1e-15, epsrel=1e-13, limit=200)[0]
        assert s.A[p, 2 + m] == pytest.approx(re, rel=1e-11, abs=1e-15)
        assert s.A[15 + p, 2 + m] == pytest.approx(im, rel=1e-11, abs=1e-15)
    # R_pol weight: integral of one RBF over ln tau
    assert s.weight[0] == pytest.approx(integrate.quad(lambda y: np.exp(-(eps * y) ** 2),
                                                       -20, 20)[0], rel=1e-12)


def test_fastfit_pwl_kernels_against_quadrature():
    f = np.logspace(4, -1, 9)
    s = drt_system(f, n_tau=25, basis="piecewise_linear")
    lt = s.log_tau
    for p in (0, 4, 8):
        w = 2 * np.pi * f[p]
        for m in (0, 7, 24):
            hat = lambda y: np.interp(y, lt, np.eye(25)[m], left=0.0, right=0.0)
            a, b = lt[max(m - 1, 0)], lt[min(m + 1, 24)]
            re = sum(integrate.quad(lambda y: hat(y) / (1 + (w * np.exp(y)) ** 2), u, v,
                                    epsabs=1e-15)[0] for u, v in ((a, lt[m]), (lt[m], b)))
            assert s.A[p, 2 + m] == pytest.approx(re, rel=1e-11, abs=1e-16)
    # exact 1st-derivative penalty: x^T M x = integral (gamma')^2 for a PWL gamma
    x = np.sin(np.arange(25.0))
    Mk = s.M[2:, 2:]
    s1 = drt_system(f, n_tau=25, basis="piecewise_linear", derivative=1)
    ref = np.sum(np.diff(x) ** 2 / np.diff(lt))
    assert x @ s1.M[2:, 2:] @ x == pytest.approx(ref, rel=1e-12)
    assert np.all(np.linalg.eigvalsh(Mk) > -1e-8 * np.abs(Mk).max())


def test_gaussian_penalty_is_integral_of_squared_derivative():
    f = np.logspace(3, 0, 10)
    for k in (0, 1, 2):
        s = drt_system(f, n_tau=6, derivative=k)
        x = np.array([0.3, 1.0, 0.2, 0.0, 0.7, 0.1])
        eps, lt = s.eps, s.log_tau
        y = np.linspace(lt[0] - 8 / eps, lt[-1] + 8 / eps, 40001)
        g = (np.exp(-(eps * (y[:, None] - lt[None, :])) ** 2) @ x)
        for _ in range(k):
            g = np.gradient(g, y)
        assert x @ s.M[2:, 2:] @ x == pytest.approx(np.trapezoid(g * g, y), rel=1e-4)
