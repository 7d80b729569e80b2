"""fastfit.analysis temperature tools: thermocouple reader, interpolation, correction."""
from __future__ import annotations

import numpy as np
import pytest

from fastfit import analysis as fa
from fastfit import synthetic as syn
from fastfit.errors import DataError, FileFormatError, ShapeError

KB = 8.617333262e-5


# ---------------------------------------------------------------- reader
def _write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_reader_header_comma(tmp_path):
    p = _write(tmp_path, "a.csv", "# logger X\ntime/s,T/°C\n0,24.5\n60,24.7\n120,25.1\n")
    log = fa.read_thermocouple_csv(p)
    np.testing.assert_array_equal(log.time, [0, 60, 120])
    np.testing.assert_array_equal(log.T_C, [24.5, 24.7, 25.1])
    assert log.columns == ("time/s", "T/°C") and log.time_kind == "numeric"
    np.testing.assert_allclose(log.T_K, log.T_C + 273.15)


def test_reader_semicolon_decimal_comma_german_timestamps_latin1(tmp_path):
    text = ("Voltcraft K204 Datenlogger\nSerial;123\n\nDatum Zeit;Temperatur [°C]\n"
            "01.03.2022 12:00:00;23,5\n01.03.2022 12:01:00;23,6\n01.03.2022 12:02:30;23,8\n")
    log = fa.read_thermocouple_csv(_write(tmp_path, "b.csv", text, "latin-1"))
    assert log.time_kind == "timestamp"
    np.testing.assert_allclose(np.diff(log.time), [60, 90])
    assert log.time[0] == pytest.approx(1646136000.0)      # 2022-03-01 12:00:00 UTC
    np.testing.assert_allclose(log.T_C, [23.5, 23.6, 23.8])


def test_reader_whitespace_no_header_and_units(tmp_path):
    log = fa.read_thermocouple_csv(_write(tmp_path, "c.txt", "0 25.0\n1.5 25.5\n3 26\n"))
    np.testing.assert_array_equal(log.time, [0, 1.5, 3])
    log = fa.read_thermocouple_csv(
        _write(tmp_path, "d.txt", "Time (min)\tTemp (K)\n0\t298.15\n2\t299.15\n"))
    np.testing.assert_allclose(log.time, [0, 120])
    np.testing.assert_allclose(log.T_C, [25.0, 26.0])
    log = fa.read_thermocouple_csv(
        _write(tmp_path, "e.txt", "t/h,other,T/°F\n0,1,77\n1,2,86\n"))
    np.testing.assert_allclose(log.time, [0, 3600])
    np.testing.assert_allclose(log.T_C, [25.0, 30.0])


def test_reader_date_and_clock_columns_and_clock_rollover(tmp_path):
    text = "Date;Time;Temperature\n2022-03-01;23:59:00;22.0\n2022-03-02;00:01:00;22.5\n"
    log = fa.read_thermocouple_csv(_write(tmp_path, "f.csv", text))
    np.testing.assert_allclose(np.diff(log.time), [120])
    assert log.columns == ("Date Time", "Temperature")
    text = "clock,temp\n23:59:00,22.0\n23:59:30,22.1\n00:00:30,22.2\n"
    log = fa.read_thermocouple_csv(_write(tmp_path, "g.csv", text))
    assert log.time_kind == "clock"
    np.testing.assert_allclose(log.time - log.time[0], [0, 30, 90])


def test_reader_column_selection(tmp_path):
    p = _write(tmp_path, "h.csv", "t_s,T_ambient,T_cell\n0,20,25\n10,21,26\n")
    assert fa.read_thermocouple_csv(p, time_col="t_s", temp_col="T_cell").T_C.tolist() == [25, 26]
    assert fa.read_thermocouple_csv(p, time_col=0, temp_col=-1).T_C.tolist() == [25, 26]
    p2 = _write(tmp_path, "h2.csv", "t_min;T_cell\n0;25\n1,5;26\n")
    np.testing.assert_allclose(fa.read_thermocouple_csv(p2).time, [0, 90])
    with pytest.raises(FileFormatError, match="no temperature column named 'T_x'"):
        fa.read_thermocouple_csv(p, time_col=0, temp_col="T_x")


@pytest.mark.parametrize("text, match", [
    ("time,T\n0,20\n60,oops\n", "line 3"),
    ("time,T\n0,20\n60,21\n30,22\n", "line 4.*strictly increasing"),
    ("a,b\nx,y\n", "no numeric data"),
    ("foo,bar\n0,20\n60,21\n", "could not find the time column"),
])
def test_reader_errors_name_line(tmp_path, text, match):
    p = _write(tmp_path, "bad.csv", text)
    with pytest.raises(FileFormatError, match=match) as exc:
        fa.read_thermocouple_csv(p)
    assert "bad.csv" in str(exc.value)


def test_reader_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="cannot read"):
        fa.read_thermocouple_csv(tmp_path / "nope.csv")


# ---------------------------------------------------------------- interpolation
def test_interpolate_matches_numpy_and_units():
    t = np.array([0.0, 60, 120, 180])
    Tc = np.array([24.0, 25.0, 27.0, 26.0])
    ts = np.array([0.0, 30, 100, 180])
    np.testing.assert_allclose(fa.interpolate_temperature(ts, t, Tc, out="C"),
                               np.interp(ts, t, Tc))
    np.testing.assert_allclose(fa.interpolate_temperature(ts, t, Tc), np.interp(ts, t, Tc) + 273.15)
    assert np.ndim(fa.interpolate_temperature(45.0, t, Tc)) == 0
    log = fa.TemperatureLog(time=t, T_C=Tc)
    np.testing.assert_allclose(log.at(ts), np.interp(ts, t, Tc) + 273.15)
    np.testing.assert_allclose(log.shifted(10).at(ts + 10), log.at(ts))


def test_interpolate_sweep_mean_is_exact_integral():
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.uniform(20, 80, 40))
    Tc = 25 + rng.standard_normal(40)
    a = np.array([t[0], t[3] + 7.0, t[10] + 1.0, t[20]])
    b = np.array([t[0] + 5.0, t[9] - 2.0, t[10] + 1.0, t[-1]])
    got = fa.interpolate_temperature(a, t, Tc, t_end=b, out="C")
    for k in range(a.size):
        if b[k] == a[k]:
            ref = np.interp(a[k], t, Tc)
        else:
            x = np.linspace(a[k], b[k], 200001)
            ref = np.trapezoid(np.interp(x, t, Tc), x) / (b[k] - a[k])
        assert got[k] == pytest.approx(ref, abs=1e-6)


def test_interpolate_outside_and_bad_input():
    t, Tc = np.array([0.0, 60.0]), np.array([20.0, 21.0])
    with pytest.raises(DataError, match="spectrum 1 .*outside"):
        fa.interpolate_temperature([10.0, 100.0], t, Tc)
    np.testing.assert_allclose(fa.interpolate_temperature([-5, 100.0], t, Tc, outside="clip",
                                                          out="C"), [20.0, 21.0])
    assert np.isnan(fa.interpolate_temperature([100.0], t, Tc, outside="nan")).all()
    with pytest.raises(DataError, match="entry 2"):
        fa.interpolate_temperature([1.0], [0.0, 5.0, 5.0], [1.0, 2.0, 3.0])
    with pytest.raises(ShapeError, match="log_time and log_T_C"):
        fa.interpolate_temperature([1.0], [0.0, 5.0], [1.0])
    with pytest.raises(DataError, match="t_end is before"):
        fa.interpolate_temperature([10.0], t, Tc, t_end=[5.0])
    with pytest.raises(DataError, match="absolute zero"):
        fa.interpolate_temperature([10.0], t, [20.0, -300.0])


# ---------------------------------------------------------------- correction
@pytest.mark.parametrize("law", ["sigma_T", "inv_R"])
def test_correct_to_reference_inverts_the_law(law):
    T = np.linspace(233.15, 313.15, 9)
    Tr = 298.15
    m = 1.0 if law == "sigma_T" else 0.0
    R_ref = np.array([10.0, 200.0, 35.0])[:, None]          # 3 processes x 9 temperatures
    Ea = np.array([0.26, 0.36, 0.37])[:, None]
    R = R_ref * (T / Tr) ** m * np.exp(Ea / KB * (1 / T - 1 / Tr))
    c = fa.correct_to_reference(R, T, Tr, Ea, law=law)
    assert c.R_ref.shape == (3, 9)
    np.testing.assert_allclose(c.R_ref, np.broadcast_to(R_ref, (3, 9)), rtol=1e-12)
    np.testing.assert_allclose(c.factor, c.R_ref / R)
    assert np.all(c.stderr == 0)


def test_correct_matches_generator_truth():
    s = syn.reference_state(np.array([-10.0, 21.0, 27.0]))
    s25 = syn.reference_state(np.array([25.0, 25.0, 25.0]))
    for p in syn.PROCESSES:
        c = fa.correct_to_reference(s["R_ohm"][p], s["T_K"], 298.15, syn.REFERENCE["Ea_eV"][p])
        np.testing.assert_allclose(c.R_ref, s25["R_ohm"][p], rtol=1e-12)


def test_correction_uncertainty_matches_monte_carlo():
    rng = np.random.default_rng(11)
    R, T, Tr, Ea = 50.0, 296.0, 298.15, 0.36
    sR, sT, sE = 0.4, 0.08, 0.004
    c = fa.correct_to_reference(R, T, Tr, Ea, sE, R_stderr=sR, T_stderr_K=sT)
    N = 200000
    mc = fa.correct_to_reference(R + sR * rng.standard_normal(N), T + sT * rng.standard_normal(N),
                                 Tr, Ea + sE * rng.standard_normal(N)).R_ref
    assert c.stderr == pytest.approx(mc.std(), rel=0.02)
    assert c.stderr == pytest.approx(np.hypot(c.stderr_random, c.stderr_Ea))
    assert fa.correct_to_reference(R, Tr, Tr, Ea, sE).stderr_Ea == 0.0


def test_correct_with_arrhenius_result_and_bad_input():
    T = np.arange(-40.0, 41.0, 10.0) + 273.15
    s = 1e4 / T * np.exp(-0.3 / (KB * T)) * np.exp(0.01 * np.sin(T))
    res = fa.arrhenius(T, s, sigma_err=0.01 * s)
    c = fa.correct_to_reference(10.0, 290.0, 298.15, res)
    c2 = fa.correct_to_reference(10.0, 290.0, 298.15, res.Ea_eV, res.Ea_stderr_eV, "sigma_T")
    assert c.R_ref == c2.R_ref and c.stderr_Ea == pytest.approx(c2.stderr_Ea)
    assert c.stderr_Ea > 0
    with pytest.raises(DataError, match="disagrees"):
        fa.correct_to_reference(10.0, 290.0, 298.15, res, law="inv_R")
    with pytest.raises(DataError, match="R must be > 0"):
        fa.correct_to_reference(-1.0, 290.0, 298.15, 0.3)
    with pytest.raises(DataError, match="T_K must be > 0"):
        fa.correct_to_reference(1.0, -5.0, 298.15, 0.3)
    with pytest.raises(DataError, match="Ea_eV must be >= 0"):
        fa.correct_to_reference(1.0, 290.0, 298.15, -0.3)
    with pytest.raises(ShapeError, match=r"R \(2,\).*T_K \(3,\)"):
        fa.correct_to_reference(np.ones(2), np.full(3, 290.0), 298.15, 0.3)
    with pytest.raises(DataError, match="law must be"):
        fa.correct_to_reference(1.0, 290.0, 298.15, 0.3, law="arrhenius")


@pytest.mark.parametrize("law", ["sigma_T", "inv_R"])
def test_temperature_from_resistance_roundtrip(law):
    T = np.linspace(230.0, 330.0, 11)
    R = fa.correct_to_reference(25.0, 298.15, T, 0.36, law=law).R_ref   # R at each T
    T_back = fa.temperature_from_resistance(R, 25.0, 298.15, 0.36, law=law)
    np.testing.assert_allclose(T_back, T, rtol=1e-12)
    assert fa.to_celsius(fa.to_kelvin(25.0)) == pytest.approx(25.0)
