"""User elements (``fastfit.element``): built-in re-implementations give the built-in's
impedance, derivatives and fits; one raise-test per registration error; redefinitions
never reach stale compiled programs; ``--element-module`` on the command line."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

import fastfit as ff
from fastfit.elements import load_module, markdown_table, unregister, user_elements
from fastfit.errors import CircuitSyntaxError, ElementError, FastfitError
from fastfit.synthetic import add_noise, log_freq

INF = float("inf")
FREQ = np.logspace(-3, 7, 71)


# Built-in re-implementations, written as a user would write them (plain complex maths).
@ff.element("UZarc", params=["R", "tau", "phi"], units=["ohm", "s", "1"],
            bounds=[(0, INF), (0, INF), (0, 1)], defaults=[10.0, 1e-3, 0.9],
            title="ZARC, user-written", reference="Cole & Cole 1941")
def user_zarc(p, omega):
    """Z = R/(1 + (j w tau)^phi)"""
    R, tau, phi = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return R / (1 + (1j * omega * tau) ** phi)


@ff.element("URQ", params=["R", "Q", "n"], units=["ohm", "F s^(n-1)", "1"],
            bounds=[(0, INF), (0, INF), (0, 1)], defaults=[100.0, 1e-6, 0.9])
def user_r_cpe(p, omega):
    """Z = R/(1 + R Q (j w)^n)"""
    R, Q, n = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return R / (1 + R * Q * (1j * omega) ** n)


PAIRS = [("R0-Zarc1-p(R2,CPE2)", "R0-UZarc1-URQ2"),
         ("L0-p(R1-Zarc2,CPE1)-Wo3", "L0-p(R1-UZarc2,CPE1)-Wo3")]


def _params(circuit, rng, B):
    """(B, P) random parameters by unit (both circuits of a pair have the same units)."""
    draw = {"ohm": lambda: 10 ** rng.uniform(0, 3, B), "s": lambda: 10 ** rng.uniform(-6, -2, B),
            "1": lambda: rng.uniform(0.6, 1.0, B), "H": lambda: 10 ** rng.uniform(-8, -6, B),
            "F s^(n-1)": lambda: 10 ** rng.uniform(-9, -5, B)}
    return np.stack([draw[u]() for u in circuit.units], axis=1)


@pytest.fixture
def scratch():
    """Symbols registered by a test are unregistered afterwards."""
    before = set(user_elements())
    yield
    for sym in set(user_elements()) - before:
        unregister(sym)


@pytest.mark.parametrize("builtin, user", PAIRS)
def test_user_element_gives_builtin_impedance_and_jacobian(builtin, user):
    cb, cu = ff.Circuit(builtin), ff.Circuit(user)
    assert cu.units == cb.units and np.array_equal(cu.log_scale, cb.log_scale)
    assert np.array_equal(cu.default_bounds, cb.default_bounds)
    rng = np.random.default_rng(3)
    P = _params(cb, rng, 5)
    np.testing.assert_allclose(cu.impedance(FREQ, P), cb.impedance(FREQ, P), rtol=1e-12, atol=0)
    F2 = FREQ[None, :] * 10 ** rng.uniform(-1, 1, (5, 1))        # per-spectrum grids (B, F)
    np.testing.assert_allclose(cu.impedance(F2, P), cb.impedance(F2, P), rtol=1e-12, atol=0)
    Zu, Ju = cu.impedance_and_jacobian(F2, P)
    Zb, Jb = cb.impedance_and_jacobian(F2, P)
    np.testing.assert_allclose(Zu, Zb, rtol=1e-12, atol=0)
    scale = np.abs(Jb).max(axis=-2, keepdims=True)
    assert np.all(np.abs(Ju - Jb) <= 1e-12 * scale)


def test_user_element_in_jax_fn_jit_vmap_grad():
    cb, cu = (ff.Circuit(t) for t in PAIRS[0])
    P = jnp.asarray(_params(cb, np.random.default_rng(4), 3))
    zu = jax.jit(jax.vmap(cu.jax_fn(), in_axes=(0, None)))(P, FREQ)
    np.testing.assert_allclose(np.asarray(zu), cb.impedance(FREQ, np.asarray(P)), rtol=1e-12)
    target = cb.impedance(FREQ, np.asarray(P[0]) * 1.1)

    def loss(fn):
        return lambda p: jnp.sum(jnp.abs((fn(p, FREQ) - target) / target) ** 2)

    gu = jax.jit(jax.grad(loss(cu.jax_fn())))(P[0])
    gb = jax.jit(jax.grad(loss(cb.jax_fn())))(P[0])
    np.testing.assert_allclose(np.asarray(gu), np.asarray(gb), rtol=1e-9)


@pytest.fixture(scope="module")
def single_arc():
    """1,000 spectra of R0-p(R1,CPE1): apex 10 Hz - 10 kHz, n 0.7-0.98, 0.5 % noise."""
    rng = np.random.default_rng(17)
    B = 1000
    f = log_freq(1e6, 0.1, 10)
    R1 = 10 ** rng.uniform(1, 3, B)
    n = rng.uniform(0.7, 0.98, B)
    Q = (1 / (2 * np.pi * 10 ** rng.uniform(1, 4, B))) ** n / R1
    P = np.stack([10 ** rng.uniform(0, 1.5, B), R1, Q, n], axis=1)
    Z = add_noise(ff.Circuit("R0-p(R1,CPE1)").impedance(f, P), 0.005, rng)
    return f, Z, P


def test_user_element_fits_equal_builtin_fits_on_1000_spectra(single_arc):
    """One batched fit each.  Both start from the same extra point (the truth) besides
    their own data-derived starts, so the comparison is of the element (autodiff
    Jacobian inside the LM loop, covariance) rather than of the start search: a user
    element never joins the variable-projection scan of R||CPE chains (see the
    default-start test below)."""
    f, Z, P = single_arc
    rb = ff.fit(f, Z, "R0-p(R1,CPE1)", p0=P)
    ru = ff.fit(f, Z, "R0-URQ1", p0=P)
    assert ru.circuit.param_names == ["R0", "URQ1_R", "URQ1_Q", "URQ1_n"]
    same = np.abs(ru.chi2 - rb.chi2) <= 1e-8 * rb.chi2
    assert same.mean() >= 0.999, same.mean()
    s = same & rb.ok & ru.ok
    np.testing.assert_allclose(ru.params[s], rb.params[s], rtol=1e-4)
    np.testing.assert_allclose(ru.stderr[s], rb.stderr[s], rtol=1e-3)


@pytest.mark.slow
def test_user_element_fits_equal_builtin_fits_default_starts(single_arc):
    f, Z, _ = single_arc
    rb = ff.fit(f, Z, "R0-p(R1,CPE1)")
    ru = ff.fit(f, Z, "R0-URQ1")
    same = np.abs(ru.chi2 - rb.chi2) <= 1e-8 * rb.chi2
    assert same.mean() >= 0.999, same.mean()


def test_user_element_in_fit_series_with_shared_parameter(single_arc):
    f, Z, P = single_arc
    kw = dict(shared=["CPE1_n"], p0=P[:12])
    rb = ff.fit_series(f, Z[:12], "R0-p(R1,CPE1)", **kw)
    ru = ff.fit_series(f, Z[:12], "R0-URQ1", shared=["URQ1_n"], p0=P[:12])
    np.testing.assert_allclose(ru.chi2, rb.chi2, rtol=1e-8)
    np.testing.assert_allclose(ru.params, rb.params, rtol=1e-5)
    np.testing.assert_allclose(ru.cov, rb.cov, rtol=1e-4, atol=1e-30)


# ------------------------------------------------------------------ registration errors
def _ok(p, omega):
    return p[..., 0:1] / (1 + 1j * omega * p[..., 1:2])


GOOD = dict(params=["R", "tau"], units=["ohm", "s"], bounds=[(0, INF), (0, INF)])


@pytest.mark.parametrize("symbol, match", [
    ("CPE", "built-in"), ("Wo", "built-in"), ("p", "parallel"), ("Y1", "letters only"),
    ("Y_a", "letters only"), ("", "letters only"), (3, "letters only"),
])
def test_bad_symbol(symbol, match, scratch):
    with pytest.raises(ElementError, match=match):
        ff.element(symbol, **GOOD)(_ok)


@pytest.mark.parametrize("kw, match", [
    (dict(params=["R", "tau"], units=["ohm"]), "1 units for 2 parameters"),
    (dict(params=["R", "tau"], bounds=[(0, INF)]), "1 bounds for 2 parameters"),
    (dict(params=["R", "tau"], defaults=[1.0, 2.0, 3.0]), "3 defaults for 2 parameters"),
    (dict(params=["R", "tau"], log_scale=[True]), "1 log_scale flags for 2 parameters"),
    (dict(params=[]), "non-empty"),
    (dict(params="R"), "non-empty list"),
    (dict(params=["R", "R"]), "repeat"),
    (dict(params=["R", "1tau"]), "parameter name '1tau'"),
    (dict(params=["R", "tau"], bounds=[(0, INF), (1.0, 1.0)]), "bounds of tau: lower 1.0 must be < upper"),
    (dict(params=["R", "tau"], bounds=[(0, INF), (np.nan, 1.0)]), "bounds of tau"),
    (dict(params=["R", "tau"], bounds=[(0, INF), 5.0]), "pair"),
    (dict(params=["R", "tau"], bounds=[(0, INF), (0, 1)], defaults=[1.0, 2.0]),
     "default of tau = 2.0 is not a finite value inside"),
    (dict(params=["R", "tau"], bounds=[(-1, INF), (0, INF)], log_scale=[True, True]),
     "log scale"),
])
def test_bad_metadata(kw, match, scratch):
    with pytest.raises(ElementError, match=match):
        ff.element("Ybad", **kw)(_ok)


@pytest.mark.parametrize("fn, match", [
    (lambda p, w: p[..., 0:1] / (1 + w * p[..., 1:2]), "float64, expected complex128"),
    (lambda p, w: (p[..., 0:1] / (1 + 1j * w * p[..., 1:2])).astype(jnp.complex64), "complex64"),
    (lambda p, w: p[..., 0] + 0j, r"returns shape \(\), expected \(19,\)"),
    (lambda p, w: jnp.stack([w, w], -1) + 0j, r"returns shape \(19, 2\)"),
    (lambda p, w: (p[..., 0:1], w), "one complex array"),
    (lambda p, w: np.tanh(np.asarray(p)) + 1j * w, "JAX cannot trace"),
    (lambda p, w: p[..., 0:2] + 1j * w, "JAX cannot trace"),
    (lambda p, w: p[..., 0:1] / (w - w[3]) + 0j, "non-finite impedance .* at 0.0316228 Hz"),
    (lambda p, w: jnp.sqrt(p[..., 1:2] - 1.0) * w + 0j, "non-finite derivative dZ/d"),
])
def test_bad_function(fn, match, scratch):
    with pytest.raises(ElementError, match=match):
        ff.element("Ybad", params=["R", "tau"], defaults=[1.0, 1.0])(fn)


def test_function_that_raises_names_the_error(scratch):
    def broken(p, omega):
        raise RuntimeError("no model yet")

    with pytest.raises(ElementError, match="RuntimeError: no model yet"):
        ff.element("Ybad", **GOOD)(broken)


def test_errors_are_typed():
    assert issubclass(ElementError, FastfitError) and issubclass(ElementError, ValueError)


def test_defaults_and_log_scale_follow_the_bounds(scratch):
    spec = ff.elements.register("Ydef", _ok, ["a", "b", "c", "d", "e"],
                                bounds=[(0, INF), (2, INF), (0, 1), (-INF, -3), (-INF, INF)])
    assert spec.defaults == (1.0, 4.0, 0.5, -6.0, 1.0)
    assert spec.log_scale == (True, True, False, False, False)
    assert spec.units == ("",) * 5
    with pytest.raises(CircuitSyntaxError, match="unknown element type 'Ydefx'"):
        ff.Circuit("Ydefx1")


# ---------------------------------------------------------- redefinition and caches
def test_same_definition_again_is_a_noop_other_code_needs_replace(scratch):
    made = []
    for _ in range(2):                       # the same code run twice (a notebook cell)
        def again(p, omega):
            return p[..., 0:1] / (1 + 1j * omega * p[..., 1:2])
        made.append(ff.elements.register("Yrc", again, **GOOD))
    assert made[1] is not made[0]                                  # replaced, silently
    assert ff.elements.register("Yrc", again, **GOOD) is made[1]  # same function: no-op

    def other(p, omega):
        return p[..., 0:1] / (1 + 2j * omega * p[..., 1:2])

    with pytest.raises(ElementError, match="replace=True"):
        ff.elements.register("Yrc", other, **GOOD)
    with pytest.raises(ElementError, match="replace=True"):   # same code, other metadata
        ff.elements.register("Yrc", again, params=["R", "tau"], units=["ohm", "ms"])
    assert ff.elements.register("Yrc", other, **GOOD, replace=True).fn.__wrapped__ is other


def test_replaced_element_never_reaches_old_compiled_programs(scratch):
    """Circuits parsed before a redefinition keep the old element; circuits parsed after
    get the new one; the jit caches (keyed on the tree, which carries the definition)
    hold both, so neither evaluates the other's model."""
    ff.elements.register("Yk", _ok, **GOOD)
    old = ff.Circuit("R0-Yk1")
    p = np.array([1.0, 10.0, 1e-3])
    z_old = old.impedance(FREQ, p)
    zfn_old = jax.jit(old.jax_fn())
    np.testing.assert_allclose(np.asarray(zfn_old(p, FREQ)), z_old, rtol=1e-14)

    def doubled(p, omega):
        return 2 * p[..., 0:1] / (1 + 1j * omega * p[..., 1:2])

    ff.elements.register("Yk", doubled, **GOOD, replace=True)
    new = ff.Circuit("R0-Yk1")
    assert new != old and str(new) == str(old) and hash(new) == hash(old)
    z_new = p[0] + 2 * (z_old - p[0])
    np.testing.assert_allclose(new.impedance(FREQ, p), z_new, rtol=1e-13)
    np.testing.assert_allclose(old.impedance(FREQ, p), z_old, rtol=0)
    np.testing.assert_allclose(np.asarray(zfn_old(p, FREQ)), z_old, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(jax.jit(new.jax_fn())(p, FREQ)), z_new, rtol=1e-13)
    unregister("Yk")
    with pytest.raises(CircuitSyntaxError, match="unknown element type 'Yk'"):
        ff.Circuit("R0-Yk1")
    np.testing.assert_allclose(old.impedance(FREQ, p), z_old, rtol=0)   # still its own


def test_markdown_table_lists_user_elements():
    table = markdown_table()
    assert "| `UZarc` | ZARC, user-written | `Z = R/(1 + (j w tau)^phi)` |" in table
    assert "`URQ1_Q`: F s^(n-1), [0, inf], 1e-06 (log)" in table


# ----------------------------------------------------------------------- command line
MODULE = '''
import jax.numpy as jnp
import fastfit as ff


@ff.element("Ycli", params=["R", "Q", "n"], units=["ohm", "F s^(n-1)", "1"],
            bounds=[(0, jnp.inf), (0, jnp.inf), (0, 1)], defaults=[100, 1e-6, 0.9])
def r_cpe(p, omega):
    """Z = R/(1 + R Q (j w)^n)"""
    R, Q, n = p[..., 0:1], p[..., 1:2], p[..., 2:3]
    return R / (1 + R * Q * (1j * omega) ** n)
'''


@pytest.fixture(scope="module")
def element_module(tmp_path_factory):
    path = tmp_path_factory.mktemp("elements") / "my_elements.py"
    path.write_text(MODULE)
    yield path
    if "Ycli" in user_elements():
        unregister("Ycli")


@pytest.mark.usefixtures("private_jax_cache")
def test_cli_element_module(element_module, data_dir, tmp_path):
    from fastfit.cli import cli

    data = data_dir / "hybriddrt_Sample2_PEIS_AtRest.csv"
    run = CliRunner().invoke
    r = run(cli, ["fit", str(data), "-c", "R0-Ycli1", "-o", str(tmp_path / "x.h5"), "-q"])
    if "Ycli" not in user_elements():                 # unknown before the module is loaded
        assert r.exit_code == 2 and "unknown element type 'Ycli'" in r.output
    out = tmp_path / "run.h5"
    r = run(cli, ["fit", str(data), "-c", "R0-Ycli1", "-o", str(out), "-q",
                  "--element-module", str(element_module)])
    assert r.exit_code == 0, r.output
    with ff.Store(out, "r") as st:
        df = st.params("fit")
    assert list(df.columns[:4]) == ["R0", "Ycli1_R", "Ycli1_Q", "Ycli1_n"]
    ref = ff.fit(ff.read(data), "R0-Ycli1")
    np.testing.assert_allclose(df["chi2"].to_numpy(), ref.chi2, rtol=1e-10)
    r = run(cli, ["report", str(out), "-o", str(tmp_path / "rep"),
                  "--element-module", str(element_module)])
    assert r.exit_code == 0, r.output
    assert load_module(element_module) == ["Ycli"]            # loaded once: a no-op now
    bad = tmp_path / "bad.py"
    bad.write_text("import fastfit as ff\nff.element('CPE', params=['a'])(lambda p, w: w + 0j)\n")
    r = run(cli, ["fit", str(data), "-c", "R0-Ycli1", "-o", str(tmp_path / "y.h5"), "-q",
                  "--element-module", str(bad)])
    assert r.exit_code == 2 and "bad.py" in r.output and "built-in" in r.output
    assert len(r.output.strip().splitlines()) == 1
    broken = tmp_path / "broken.py"
    broken.write_text("1/0\n")
    r = run(cli, ["fit", str(data), "-c", "R0-Ycli1", "-o", str(tmp_path / "z.h5"), "-q",
                  "--element-module", str(broken)])
    assert r.exit_code == 2 and "ZeroDivisionError" in r.output


def test_stream_takes_element_module(element_module, data_dir, tmp_path, capsys, monkeypatch):
    from fastfit.stream.cli import stream_command

    monkeypatch.setenv("FASTFIT_CACHE_DIR", str(tmp_path / "jax-cache"))
    store = str(tmp_path / "s.h5")
    args = [f"replay:{data_dir / 'pyeis_ex1.mpt'}", "-c", "R0-Ycli1", "--store", store,
            "-q", "--element-module", str(element_module)]
    assert stream_command.main(args, standalone_mode=False) == 0
    assert "2 fitted" in capsys.readouterr().err
    with ff.Store(store, "r") as st:
        assert list(st.params("stream").columns[:2]) == ["R0", "Ycli1_R"]
