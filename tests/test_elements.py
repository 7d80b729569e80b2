"""Element library and circuit evaluator: closed forms, impedance.py, analytic Jacobians."""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import mpmath as mp
import numpy as np
import pytest
from impedance.models.circuits import CustomCircuit

import fastfit as ff
from fastfit.kernels import ELEMENTS, circuit_impedance, circuit_impedance_jac

FREQ = np.logspace(-3, 7, 71)  # 1 mHz - 10 MHz
W = 2 * np.pi * FREQ

# one representative parameter set per element (units as documented)
PARAMS = {
    "R": [12.5], "C": [3.3e-7], "L": [2.2e-7], "CPE": [4.1e-6, 0.83], "La": [1.3e-6, 0.71],
    "W": [45.0], "Wo": [120.0, 2.5], "Ws": [80.0, 0.7], "G": [33.0, 1.2e-3],
    "K": [17.0, 4.4e-4], "Zarc": [25.0, 3e-5, 0.87], "HN": [40.0, 2e-4, 0.8, 0.65],
    "Gs": [33.0, 1.2e-3, 0.7], "Woa": [60.0, 0.8, 0.42], "Wsa": [60.0, 0.8, 0.58],
    "TLMQ": [50.0, 2e-3, 0.85], "TLMRQ": [50.0, 300.0, 2e-3, 0.85],
    "T": [10.0, 30.0, 0.5, 1e-4],
}
# elements new in issue 17 (their derivatives are also checked against mpmath below)
NEW = ("Gs", "Woa", "Wsa", "TLMQ", "TLMRQ", "T")


def _coth(x):
    return 1 / np.tanh(x)


def _tlm(Rion, Zint):
    # Z = sqrt(R_ion Z_int) coth(sqrt(R_ion / Z_int)), written straight from the formula
    return np.sqrt(Rion * Zint) * _coth(np.sqrt(Rion / Zint))

CLOSED = {
    "R": lambda p: p[0] + 0 * W,
    "C": lambda p: 1 / (1j * W * p[0]),
    "L": lambda p: 1j * W * p[0],
    "CPE": lambda p: 1 / (p[0] * (1j * W) ** p[1]),
    "La": lambda p: (p[0] * 1j * W) ** p[1],
    "W": lambda p: p[0] * (1 - 1j) / np.sqrt(W),
    "Wo": lambda p: p[0] / np.tanh(np.sqrt(1j * W * p[1])) / np.sqrt(1j * W * p[1]),
    "Ws": lambda p: p[0] * np.tanh(np.sqrt(1j * W * p[1])) / np.sqrt(1j * W * p[1]),
    "G": lambda p: p[0] / np.sqrt(1 + 1j * W * p[1]),
    "K": lambda p: p[0] / (1 + 1j * W * p[1]),
    "Zarc": lambda p: p[0] / (1 + (1j * W * p[1]) ** p[2]),
    "HN": lambda p: p[0] / (1 + (1j * W * p[1]) ** p[2]) ** p[3],
    "Gs": lambda p: p[0] / (np.sqrt(1 + 1j * W * p[1]) * np.tanh(p[2] * np.sqrt(1 + 1j * W * p[1]))),
    "Woa": lambda p: p[0] * _coth((1j * W * p[1]) ** p[2]) / (1j * W * p[1]) ** p[2],
    "Wsa": lambda p: p[0] * np.tanh((1j * W * p[1]) ** p[2]) / (1j * W * p[1]) ** p[2],
    "TLMQ": lambda p: _tlm(p[0], 1 / (p[1] * (1j * W) ** p[2])),
    "TLMRQ": lambda p: _tlm(p[0], p[1] / (1 + p[1] * p[2] * (1j * W) ** p[3])),
    "T": lambda p: (p[0] * _coth(np.sqrt(p[2] + 1j * W * p[3])) / np.sqrt(p[2] + 1j * W * p[3])
                    + p[1] / (np.sqrt(p[2] + 1j * W * p[3]) * np.sinh(np.sqrt(p[2] + 1j * W * p[3])))),
}

NESTED = [
    "R0-p(R1,CPE1)-p(R2,CPE2)",
    "R0-p(R1,C1)",
    "L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)",
    "R0-p(R1-Wo1,CPE1)",
    "R0-p(R1-Ws1,C1)-W1",
    "p(R1,CPE1,C2)",
    "R0-p(p(R1,C1)-R2,CPE2)",
    "R0-p(R1-p(R2,CPE2),CPE1)",
    "La0-R0-p(G1,CPE1)",
    "R0-K1-K2-K3-C4",
    "R0-p(R1,CPE1)-Zarc2",
    "L0-p(R1-p(R2-p(R3,C3),C2),C1)-Wo4",
    "R0-p(R1,CPE1)-p(R2-Wo2,CPE2)",
    "R0-p(R1,CPE1)-Gs1",
    "L0-R0-p(Gs1,C1)-TLMQ2-T3",
    "p(R1,TLMQ1)-p(T2,CPE2)",
]


def _rand_params(circuit: ff.Circuit, rng) -> np.ndarray:
    base = {"R": (1, 1e3), "C": (1e-9, 1e-5), "L": (1e-8, 1e-6), "CPE_Q": (1e-9, 1e-5),
            "CPE_n": (0.6, 1.0), "La_L": (1e-8, 1e-6), "La_n": (0.5, 1.0), "W": (1, 100),
            "tau": (1e-5, 10), "phi": (0.6, 1.0), "alpha": (0.5, 1.0), "beta": (0.5, 1.0),
            "Gs_phi": (0.05, 20), "TLMQ_Q": (1e-6, 1e-2), "TLMQ_n": (0.6, 1.0),
            "T_a": (1e-2, 1e2), "T_b": (1e-7, 3e-4)}
    # T_b <= 3e-4 s keeps Re beta < 100 up to 10 MHz: beyond it impedance.py replaces
    # sinh(beta) by 1e10 (see test_paasch_t_differs_from_impedance_py_only_by_its_clip)
    out = []
    for name in circuit.param_names:
        elem, _, suffix = name.partition("_")
        kind = "".join(ch for ch in elem if ch.isalpha())
        key = f"{kind}_{suffix}" if f"{kind}_{suffix}" in base else (suffix if suffix in base else "R")
        if kind in ("C", "L", "W") and not suffix:
            key = kind
        lo, hi = base[key]
        out.append(np.exp(rng.uniform(np.log(lo), np.log(hi))) if lo > 0 and hi / lo > 10
                   else rng.uniform(lo, hi))
    return np.array(out)


def _rel(a, b):
    return np.max(np.abs(a - b) / np.abs(b))


@pytest.mark.parametrize("symbol", sorted(PARAMS))
def test_element_closed_form(symbol):
    c = ff.Circuit(f"{symbol}1")
    Z = c.impedance(FREQ, PARAMS[symbol])
    assert Z.dtype == np.complex128
    assert _rel(Z, CLOSED[symbol](PARAMS[symbol])) < 1e-10


def test_every_element_has_docs_units_bounds():
    assert set(PARAMS) == set(ELEMENTS)
    for spec in ELEMENTS.values():
        n = len(spec.names)
        assert len(spec.units) == len(spec.defaults) == len(spec.bounds) == len(spec.log_scale) == n
        assert spec.fn.__doc__ and "Z =" in spec.fn.__doc__
        assert spec.title and spec.doc.startswith("Z =")
        if spec.symbol not in ("R", "C", "L"):
            assert spec.reference
        for d, (lo, hi) in zip(spec.defaults, spec.bounds):
            assert lo <= d <= hi
    for sym in NEW:
        assert "doi:" in ELEMENTS[sym].reference


@pytest.mark.parametrize("symbol", sorted(set(PARAMS) - {"HN", "Woa", "Wsa", "TLMRQ"}))
def test_element_matches_impedance_py(symbol):  # impedance.py has no HN, Woa, Wsa, TLMRQ
    name = f"{symbol}1"
    Z = ff.Circuit(name).impedance(FREQ, PARAMS[symbol])
    ref = CustomCircuit(name, initial_guess=list(PARAMS[symbol])).predict(FREQ, use_initial=True)
    assert _rel(Z, ref) < 1e-10


@pytest.mark.parametrize("text", NESTED)
def test_nested_circuits_match_impedance_py(text):
    rng = np.random.default_rng(abs(hash(text)) % 2**32)
    c = ff.Circuit(text)
    for _ in range(3):
        p = _rand_params(c, rng)
        Z = c.impedance(FREQ, p)
        ref = CustomCircuit(text, initial_guess=list(p)).predict(FREQ, use_initial=True)
        assert _rel(Z, ref) < 1e-10, (text, p)


def test_batched_shapes():
    c = ff.Circuit("R0-p(R1,CPE1)")
    P = np.array([[1.0, 10.0, 1e-6, 0.9], [2.0, 20.0, 2e-6, 0.8], [3.0, 5.0, 1e-5, 0.7]])
    Zb = c.impedance(FREQ, P)
    assert Zb.shape == (3, FREQ.size)
    for b in range(3):
        np.testing.assert_allclose(Zb[b], c.impedance(FREQ, P[b]), rtol=1e-14)
    Fb = np.stack([FREQ, FREQ * 2, FREQ / 3])
    Zf = c.impedance(Fb, P)
    np.testing.assert_allclose(Zf[1], c.impedance(FREQ * 2, P[1]), rtol=1e-14)


def _jac_autodiff(tree, p, f):
    def re_im(pp):
        Z = circuit_impedance(tree, pp, f)
        return jnp.concatenate([Z.real, Z.imag])
    J = jax.jacfwd(re_im)(jnp.asarray(p))
    n = f.size
    return np.asarray(J[:n] + 1j * J[n:])


@pytest.mark.parametrize("text", [f"{s}1" for s in sorted(PARAMS)] + NESTED)
def test_analytic_jacobian_matches_jacfwd(text):
    c = ff.Circuit(text)
    rng = np.random.default_rng(7)
    p = PARAMS[text[:-1]] if text[:-1] in PARAMS else _rand_params(c, rng)
    Z, J = circuit_impedance_jac(c.tree, jnp.asarray(p, jnp.float64), FREQ)
    Ja = _jac_autodiff(c.tree, np.asarray(p, np.float64), FREQ)
    scale = np.abs(Ja).max(axis=0) + 1e-300
    err = np.abs(np.asarray(J) - Ja).max(axis=0) / scale
    # 1e-10 where a new element is involved: autodiff of coth(y)/y (TLMQ, TLMRQ) cancels
    # at small |y| where the analytic form uses a series (mpmath decides, below)
    tol = 1e-10 if any(sym in text for sym in NEW) else 1e-12
    assert np.all(err < tol), (text, err)
    # the fitting path's division-free reciprocal gives the same impedance as the exact
    # complex division used for users' impedance evaluation
    Zx = np.asarray(circuit_impedance(c.tree, jnp.asarray(p, jnp.float64), FREQ))
    np.testing.assert_allclose(np.asarray(Z), Zx, rtol=1e-13, atol=0)


def test_grad_matches_finite_difference():
    c = ff.Circuit("R0-p(R1,CPE1)-p(R2-Wo2,CPE2)")
    zfn = c.jax_fn()
    p0 = np.array([5.0, 100.0, 1e-8, 0.9, 300.0, 50.0, 0.5, 1e-5, 0.85])
    target = c.impedance(FREQ, p0 * 1.1)

    def loss(p):
        r = (zfn(p, FREQ) - target) / jnp.abs(target)
        return jnp.sum(r.real ** 2 + r.imag ** 2)

    g = np.asarray(jax.jit(jax.grad(loss))(jnp.asarray(p0)))
    for k in range(p0.size):
        h = 1e-6 * abs(p0[k])
        e = np.zeros_like(p0)
        e[k] = h
        fd = (float(loss(p0 + e)) - float(loss(p0 - e))) / (2 * h)
        assert abs(g[k] - fd) <= 1e-6 * abs(fd) + 1e-12, (k, g[k], fd)


def test_vmap_and_jit_embedding():
    c = ff.Circuit("R0-p(R1,CPE1)")
    zfn = jax.jit(jax.vmap(c.jax_fn(), in_axes=(0, None)))
    P = jnp.array([[1.0, 10.0, 1e-6, 0.9], [2.0, 20.0, 2e-6, 0.8]])
    Z = zfn(P, jnp.asarray(FREQ))
    assert Z.dtype == jnp.complex128
    np.testing.assert_allclose(np.asarray(Z), c.impedance(FREQ, np.asarray(P)), rtol=1e-14)


def test_warburg_small_and_large_arguments_are_finite():
    f = np.logspace(-8, 12, 50)
    for text in ("Wo1", "Ws1"):
        c = ff.Circuit(text)
        Z, J = c.impedance_and_jacobian(f, [10.0, 1.0])
        assert np.all(np.isfinite(Z)) and np.all(np.isfinite(J))


# ---------------------------------------------------------------------------------------
# Elements of issue 17: Gs, Woa, Wsa, TLMQ, TLMRQ, T.  References written here, apart
# from the kernels: mpmath at 40 digits (formulas as printed in the element table) and
# the limits each element must reach.
# ---------------------------------------------------------------------------------------
MPJ = mp.mpc(0, 1)


def _z_mp(sym, p, f):
    """Impedance at one frequency f (Hz) in mpmath, straight from the published formula."""
    w = 2 * mp.pi * f
    if sym == "Gs":
        R, tau, phi = p
        x = mp.sqrt(1 + MPJ * w * tau)
        return R / (x * mp.tanh(phi * x))
    if sym in ("Woa", "Wsa"):
        R, tau, n = p
        u = (MPJ * w * tau) ** n
        return R * (mp.coth(u) if sym == "Woa" else mp.tanh(u)) / u
    if sym in ("TLMQ", "TLMRQ"):
        if sym == "TLMQ":
            Rion, Q, n = p
            Zi = 1 / (Q * (MPJ * w) ** n)
        else:
            Rion, Rct, Q, n = p
            Zi = Rct / (1 + Rct * Q * (MPJ * w) ** n)
        return mp.sqrt(Rion * Zi) * mp.coth(mp.sqrt(Rion / Zi))
    A, B, a, b = p
    beta = mp.sqrt(a + MPJ * w * b)
    return A * mp.coth(beta) / beta + B / (beta * mp.sinh(beta))


F_MP = np.logspace(-6, 9, 31)


@pytest.mark.parametrize("symbol", NEW)
def test_new_elements_and_derivatives_match_mpmath(symbol):
    """Z and every dZ/dp over 15 decades (|argument| from ~1e-4 to ~1e4: both the
    series branch and the overflow-free branch) against 40-digit mpmath."""
    mp.mp.dps = 40
    p = PARAMS[symbol]
    Z, J = circuit_impedance_jac(ff.Circuit(f"{symbol}1").tree, jnp.asarray(p, jnp.float64), F_MP)
    Z, J = np.asarray(Z), np.asarray(J)
    q = [mp.mpf(v) for v in p]
    ref = np.array([complex(_z_mp(symbol, q, mp.mpf(f))) for f in F_MP])
    np.testing.assert_allclose(Z, ref, rtol=2e-14, atol=0)
    for k in range(len(p)):
        def zk(x, f, k=k):
            qq = list(q)
            qq[k] = x
            return _z_mp(symbol, qq, f)
        dref = np.array([complex(mp.diff(lambda x: zk(x, mp.mpf(f)), q[k])) for f in F_MP])
        err = np.abs(J[:, k] - dref)
        assert np.all(err <= 1e-12 * np.abs(dref) + 1e-14 * np.abs(dref).max()), (symbol, k, err.max())


def test_new_elements_reach_their_limits():
    f = np.logspace(-3, 7, 61)

    def Z(text, p, freq=f):
        return ff.Circuit(text).impedance(freq, p)

    rel = _rel
    # anomalous Warburgs at n = 1/2 are the Fickian ones
    assert rel(Z("Woa1", [60.0, 0.8, 0.5]), Z("Wo1", [60.0, 0.8])) < 1e-13
    assert rel(Z("Wsa1", [60.0, 0.8, 0.5]), Z("Ws1", [60.0, 0.8])) < 1e-13
    # finite Gerischer: phi -> inf is G; phi -> 0 is (R/phi) || C with tau, plus R phi/3
    assert rel(Z("Gs1", [33.0, 1.2e-3, 40.0]), Z("G1", [33.0, 1.2e-3])) < 1e-14
    phi = 1e-6
    assert rel(Z("Gs1", [33.0, 1.2e-3, phi]), Z("K1", [33.0 / phi, 1.2e-3]) + 33.0 * phi / 3) < 1e-11
    # CPE transmission line: n = 1 is Wo(R = Rion, tau = Rion Q); low f -> Rion/3 + Zs
    assert rel(Z("TLMQ1", [50.0, 2e-3, 1.0]), Z("Wo1", [50.0, 50.0 * 2e-3])) < 1e-13
    lo = np.array([1e-9, 1e-8])
    zs = Z("CPE1", [2e-3, 0.85], lo)
    np.testing.assert_allclose(Z("TLMQ1", [50.0, 2e-3, 0.85], lo) - zs, 50.0 / 3, rtol=1e-6)
    # R_ct || CPE line: R_ct -> inf is TLMQ; DC limit; R_ion -> 0 is Z_int + R_ion/3
    assert rel(Z("TLMRQ1", [50.0, 1e20, 2e-3, 0.85]), Z("TLMQ1", [50.0, 2e-3, 0.85])) < 1e-12
    y = np.sqrt(50.0 / 300.0)
    np.testing.assert_allclose(Z("TLMRQ1", [50.0, 300.0, 2e-3, 0.85], lo),
                               np.sqrt(50.0 * 300.0) / np.tanh(y), rtol=1e-6)
    Rion = 1e-12     # |y|^2 = Rion/|Z_int| <= 1e-7: the next term, Rion y^2/45, is negligible
    zi = Z("p(R1,CPE1)", [300.0, 2e-3, 0.85])
    assert rel(Z("TLMRQ1", [Rion, 300.0, 2e-3, 0.85]), zi + Rion / 3) < 1e-12
    # Paasch T: B = 0, a = 0 is a blocking pore, Wo(R = A, tau = b)
    assert rel(Z("T1", [10.0, 0.0, 0.0, 1e-4]), Z("Wo1", [10.0, 1e-4])) < 1e-13


def test_paasch_t_differs_from_impedance_py_only_by_its_clip():
    """impedance.py's T replaces sinh(beta) by 1e10 where Re beta >= 100; fastfit keeps the
    exact B/(beta sinh beta) (exp(-beta) form, no overflow).  Where Re beta < 100 the two
    agree to 1e-13; where not, they differ by exactly impedance.py's B/(beta 1e10)."""
    f = np.logspace(-2, 8, 81)
    p = [10.0, 30.0, 0.5, 1e-3]
    Z = ff.Circuit("T1").impedance(f, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CustomCircuit("T1", initial_guess=p).predict(f, use_initial=True)
    beta = np.sqrt(p[2] + 1j * 2 * np.pi * f * p[3])
    clipped = beta.real >= 100
    assert clipped.any() and (~clipped).any()
    assert _rel(Z[~clipped], ref[~clipped]) < 1e-13
    assert _rel(Z[clipped] + p[1] / (beta[clipped] * 1e10), ref[clipped]) < 1e-13


def _random_circuit(rng, depth=0):
    """A random series/parallel circuit string over every impedance.py element, the three
    of issue 17 always among them (indices are filled in by the caller)."""
    leaves = ["R", "C", "CPE", "Wo", "Ws", "G", "Zarc", "Gs", "TLMQ", "T"]
    parts = []
    for _ in range(rng.integers(2, 4)):
        if depth < 2 and rng.random() < 0.35:
            parts.append("p(" + ",".join(_random_circuit(rng, depth + 1)
                                         for _ in range(rng.integers(2, 4))) + ")")
        else:
            parts.append(str(rng.choice(leaves)) + "#")
    return "-".join(parts)


def _index(text):
    out, k = [], 0
    for ch in text:
        if ch == "#":
            out.append(str(k))
            k += 1
        else:
            out.append(ch)
    return "".join(out)


def test_random_circuits_with_gs_tlmq_t_match_impedance_py():
    rng = np.random.default_rng(1717)
    f = np.logspace(-3, 7, 61)
    texts = []
    while len(texts) < 12:
        t = _index(_random_circuit(rng))
        if any(s in t for s in ("Gs", "TLMQ", "T")):
            texts.append(t)
    assert sum("Gs" in t for t in texts) >= 4 and sum("TLMQ" in t for t in texts) >= 4
    for text in texts:
        c = ff.Circuit(text)
        for _ in range(3):
            p = _rand_params(c, rng)
            with jax.disable_jit():      # op by op: no compile per random circuit
                Z = c.impedance(f, p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = CustomCircuit(text, initial_guess=list(p)).predict(f, use_initial=True)
            assert _rel(Z, ref) < 1e-10, (text, p)


def test_new_elements_finite_for_extreme_arguments():
    f = np.logspace(-8, 12, 81)
    for text, p in [("Gs1", [10.0, 1.0, 1e-3]), ("Gs1", [10.0, 1e-9, 1e3]),
                    ("Woa1", [10.0, 1.0, 0.05]), ("Woa1", [10.0, 1.0, 0.95]),
                    ("Wsa1", [10.0, 1.0, 0.05]), ("Wsa1", [10.0, 1.0, 0.95]),
                    ("TLMQ1", [1e3, 1.0, 1.0]), ("TLMQ1", [1e-3, 1e-9, 0.5]),
                    ("TLMRQ1", [1e3, 1e-3, 1.0, 1.0]), ("TLMRQ1", [1e-3, 1e6, 1e-9, 0.5]),
                    ("T1", [10.0, 30.0, 1e3, 1.0]), ("T1", [10.0, 30.0, 0.0, 1e-9])]:
        Z, J = ff.Circuit(text).impedance_and_jacobian(f, p)
        assert np.all(np.isfinite(Z)) and np.all(np.isfinite(J)), (text, p)
