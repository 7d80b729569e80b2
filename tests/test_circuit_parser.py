"""Circuit language: names, units, round trip, errors with positions, fuzzing."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastfit as ff
from fastfit.errors import CircuitSyntaxError, DataError, FastfitError, ShapeError


def test_paper_circuit_names_units_bounds():
    c = ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
    assert c.param_names == ["R0", "R1", "CPE1_Q", "CPE1_n", "R2", "CPE2_Q", "CPE2_n"]
    assert c.n_params == 7
    assert c.units[:4] == ["ohm", "ohm", "F s^(n-1)", "1"]
    b = c.default_bounds
    assert b.shape == (7, 2) and b[3, 0] == 0 and b[3, 1] == 1 and np.isinf(b[0, 1])
    assert str(c) == "R0-p(R1,CPE1)-p(R2,CPE2)"


@pytest.mark.parametrize("text", [
    "R0", "R0-p(R1,C1)", "p(R1,CPE1,C2)", "R0-p(p(R1,C1)-R2,CPE2)-Wo3", "L0-La1-K2-HN3-G4-Ws5-W6-Zarc7",
])
def test_round_trip(text):
    c = ff.Circuit(text)
    assert str(c) == text
    assert ff.Circuit(str(c)) == c and hash(ff.Circuit(text)) == hash(c)


def test_whitespace_is_ignored():
    assert str(ff.Circuit(" R0 - p( R1 , CPE1 ) ")) == "R0-p(R1,CPE1)"


def test_multi_parameter_names_and_aliases():
    c = ff.Circuit("R0-p(R1-Wo1,CPE1)-HN2")
    assert c.param_names == ["R0", "R1", "Wo1_R", "Wo1_tau", "CPE1_Q", "CPE1_n",
                             "HN2_R", "HN2_tau", "HN2_alpha", "HN2_beta"]
    assert c.param_index("CPE1_n") == 5
    assert c.param_index("CPE1_1") == 5      # impedance.py style alias
    assert c.param_index("Wo1_0") == 2
    with pytest.raises(ShapeError, match="CPE9_n"):
        c.param_index("CPE9_n")


def test_issue17_elements_names_and_impedance_py_aliases():
    c = ff.Circuit("R0-Gs1-TLMQ2-T3-p(Woa4,Wsa5)-TLMRQ6")
    assert c.param_names == [
        "R0", "Gs1_R", "Gs1_tau", "Gs1_phi", "TLMQ2_Rion", "TLMQ2_Q", "TLMQ2_n",
        "T3_A", "T3_B", "T3_a", "T3_b", "Woa4_R", "Woa4_tau", "Woa4_n",
        "Wsa5_R", "Wsa5_tau", "Wsa5_n", "TLMRQ6_Rion", "TLMRQ6_Rct", "TLMRQ6_Q", "TLMRQ6_n"]
    assert str(c) == "R0-Gs1-TLMQ2-T3-p(Woa4,Wsa5)-TLMRQ6"
    # impedance.py's positional names: Gs (R, tau, phi), TLMQ (Rion, Qs, gamma), T (A, B, a, b)
    for alias, name in [("Gs1_0", "Gs1_R"), ("Gs1_2", "Gs1_phi"), ("TLMQ2_1", "TLMQ2_Q"),
                        ("TLMQ2_2", "TLMQ2_n"), ("T3_0", "T3_A"), ("T3_3", "T3_b")]:
        assert c.param_index(alias) == c.param_names.index(name)
    assert c.units[c.param_index("TLMQ2_Q")] == "F s^(n-1)"
    # longest symbol wins: T, TLMQ and TLMRQ (and W, Wo, Woa) are different tokens
    assert ff.Circuit("T1-TLMQ1-TLMRQ1").elements == ["T1", "TLMQ1", "TLMRQ1"]
    with pytest.raises(CircuitSyntaxError, match="unknown element type 'TLM'"):
        ff.Circuit("TLM1")


@pytest.mark.parametrize("text, pos, fragment", [
    ("", 0, "empty"),
    ("R0-", 3, "end"),
    ("R0-p(R1,C1", 10, "end"),
    ("R0-p(R1)", 3, "two branches"),
    ("R0-X1", 3, "unknown element"),
    ("R0-R", 3, "index"),
    ("R0-p(R1,,C1)", 8, "expected an element"),
    ("R0)", 2, "after a complete"),
    ("R0-R0", 3, "twice"),
    ("R0+R1", 2, "unexpected character"),
])
def test_syntax_errors_point_at_column(text, pos, fragment):
    with pytest.raises(CircuitSyntaxError) as e:
        ff.Circuit(text)
    assert e.value.position == pos
    assert fragment in str(e.value)
    if text:
        assert "^" in str(e.value)


def test_non_string_circuit():
    with pytest.raises(CircuitSyntaxError):
        ff.Circuit(42)


def test_param_shape_errors_name_expected_and_got():
    c = ff.Circuit("R0-p(R1,C1)")
    with pytest.raises(ShapeError, match="3 parameters.*shape \\(2,\\)"):
        c.impedance([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(DataError):
        c.impedance([1.0, -2.0], [1.0, 2.0, 1e-6])
    with pytest.raises(DataError):
        c.impedance([1.0, np.nan], [1.0, 2.0, 1e-6])


_ALPHABET = "RCLWoasGKHNZrcpPE()-,0123456789 _x+*"


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.text(alphabet=_ALPHABET, max_size=30))
def test_fuzz_only_syntax_errors(text):
    try:
        c = ff.Circuit(text)
    except CircuitSyntaxError:
        return
    except FastfitError as e:  # pragma: no cover - would be a defect
        pytest.fail(f"{text!r} raised {type(e).__name__}")
    # whatever parsed must round-trip
    assert ff.Circuit(str(c)) == c


def test_fuzz_random_unicode_garbage():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(0, 25))
        text = "".join(chr(int(x)) for x in rng.integers(1, 0x2FFF, n))
        try:
            ff.Circuit(text)
        except CircuitSyntaxError:
            pass
