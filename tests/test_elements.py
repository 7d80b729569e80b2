"""Element library and circuit evaluator: closed forms, impedance.py, analytic Jacobians."""
from __future__ import annotations

import jax
import jax.numpy as jnp
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
}

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
]


def _rand_params(circuit: ff.Circuit, rng) -> np.ndarray:
    base = {"R": (1, 1e3), "C": (1e-9, 1e-5), "L": (1e-8, 1e-6), "CPE_Q": (1e-9, 1e-5),
            "CPE_n": (0.6, 1.0), "La_L": (1e-8, 1e-6), "La_n": (0.5, 1.0), "W": (1, 100),
            "tau": (1e-5, 10), "phi": (0.6, 1.0), "alpha": (0.5, 1.0), "beta": (0.5, 1.0)}
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


@pytest.mark.parametrize("symbol", sorted(set(PARAMS) - {"HN"}))  # impedance.py has no HN
def test_element_matches_impedance_py(symbol):
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
    assert np.all(err < 1e-12), (text, err)
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
