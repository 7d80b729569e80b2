"""fastfit.serve: the dashboard's JSON API, thinning, derived quantities, pushes, CLI.

The server runs in this process on a store written before it starts (a store that is
being written is served from another process: tests/test_serve_stream.py); the page
itself is checked in a browser in tests/test_serve_browser.py.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import fastfit as ff
from fastfit.analysis import apex_frequency, effective_capacitance
from fastfit.errors import ServeError
from fastfit.serve import (Dashboard, StoreView, loopback_warning, parse_address, rc_blocks,
                           thin_indices)
from fastfit.cli import cli
from fastfit.synthetic import FITTED_STORE_NAMES, fitted_store

N = 240


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "fitted.h5"
    fitted_store(path, N, chunk=100, failed_every=50)
    return path


@pytest.fixture(scope="module")
def dash(store):
    with Dashboard(store, port=0) as d:
        yield d


def get(url: str, headers=None):
    """(status, parsed JSON or bytes) of a GET."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            body, code, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        with e:
            body, code, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
    return code, (json.loads(body) if ctype.startswith("application/json") else body)


# ---------------------------------------------------------------------- pure parts
def test_thin_indices_keeps_extremes_ends_and_budget():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(100_000)
    y[12_345], y[67_890] = 50.0, -50.0
    y[500:600] = np.nan
    i = thin_indices(y, 2000)
    assert i.size <= 2000 and np.all(np.diff(i) > 0)
    assert {0, 12_345, 67_890, 99_999} <= set(i.tolist())
    np.testing.assert_array_equal(thin_indices(y[:50], 2000), np.arange(50))
    two = np.stack([y, -np.roll(y, 1000)], axis=1)
    j = thin_indices(two, 500)
    assert j.size <= 500 and {12_345, 67_890 + 1000} <= set(j.tolist())


def test_json_is_strict_with_nan_and_arrays():
    from fastfit.serve._json import dumps

    text = dumps({"a": np.array([1.0, np.nan, np.inf]), "b": float("nan"), "s": "NaN",
                  "i": np.arange(3), "m": np.array([True, False]), "n": None})
    assert json.loads(text) == {"a": [1.0, None, None], "b": None, "s": "NaN",
                                "i": [0, 1, 2], "m": [True, False], "n": None}


def test_addresses_and_the_loopback_warning():
    assert parse_address("8050") == ("127.0.0.1", 8050)
    assert parse_address(":0") == ("127.0.0.1", 0)
    assert parse_address("localhost:81") == ("localhost", 81)
    assert parse_address("[::1]:8050") == ("::1", 8050)
    for bad in ("", "x", "127.0.0.1:", "1:2:3", "99999"):
        with pytest.raises(ServeError, match="HOST"):
            parse_address(bad)
    assert loopback_warning("127.0.0.1") is None and loopback_warning("::1") is None
    assert "anyone" in loopback_warning("0.0.0.0")


def test_rc_blocks_of_circuits():
    assert rc_blocks("R0-p(R1,CPE1)-p(R2,CPE2)") == [("R1", "CPE1"), ("R2", "CPE2")]
    assert rc_blocks("p(CPE1,R1)-p(R2,C2)-Wo1") == [("R1", "CPE1"), ("R2", "C2")]
    assert rc_blocks("R0-p(R1-Wo1,CPE1)") == []


# ---------------------------------------------------------------------- the API
def test_status_agrees_with_the_store(dash, store):
    code, s = get(dash.url + "api/status")
    assert code == 200
    with ff.Store(store, "r") as st:
        df = st.params("fit")
        assert s["spectra"] == len(st) == N
    assert s["fitted"] == len(df) and s["failed"] == int((df["status"] < 0).sum()) > 0
    assert s["run"] == "fit" and s["runs"] == ["fit"] and s["params"] == FITTED_STORE_NAMES
    latest = s["latest"]
    assert latest["spectrum"] == N - 1 and latest["fitted"]
    assert latest["params"]["R1"] == pytest.approx(df["R1"].iloc[-1], rel=1e-15)
    assert latest["kk"]["valid"] is True and s["kk"] and s["area_cm2"] == 0.5
    assert s["stream"] is None and s["error"] is None


def test_params_full_columns_equal_store_params(dash, store):
    code, p = get(dash.url + "api/params?run=fit")
    assert code == 200 and not p["thinned"] and p["n"] == p["rows"] == N
    with ff.Store(store, "r") as st:
        df = st.params("fit")
    c = p["columns"]
    np.testing.assert_array_equal(c["spectrum"], df.index.to_numpy())
    np.testing.assert_array_equal(c["time"], df["time"].to_numpy())
    for name in FITTED_STORE_NAMES:
        want = df[name].to_numpy()
        got = np.array([np.nan if v is None else v for v in c[name]])
        np.testing.assert_array_equal(got, want)
        err = np.array([np.nan if v is None else v for v in c[f"{name}_stderr"]])
        np.testing.assert_array_equal(err, df[f"{name}_stderr"].to_numpy())
    assert p["units"]["R1"] == "ohm" and p["units"]["R1_area"] == "ohm cm2"


def test_params_thinned_and_since(dash):
    code, p = get(dash.url + "api/params?columns=R2&max_points=40")
    assert code == 200 and p["thinned"] and p["rows"] <= 40 and set(p["columns"]) == {
        "spectrum", "time", "status", "chi2", "chi2_red", "R2", "R2_stderr"}
    assert p["columns"]["spectrum"][-1] == N - 1 and p["columns"]["spectrum"][0] == 0
    code, q = get(dash.url + "api/params?columns=R1&since=200")
    assert q["columns"]["spectrum"] == list(range(200, N))


def test_derived_quantities(dash, store):
    code, p = get(dash.url + "api/params?columns=R1_area,CPE1_C_eff,CPE2_f_apex,CPE1_C_eff_area")
    assert code == 200
    with ff.Store(store, "r") as st:
        df = st.params("fit")
    arr = lambda k: np.array([np.nan if v is None else v for v in p["columns"][k]])  # noqa: E731
    np.testing.assert_allclose(arr("R1_area"), df["R1"] * 0.5, rtol=1e-15)
    np.testing.assert_allclose(arr("R1_area_stderr"), df["R1_stderr"] * 0.5, rtol=1e-15)
    ok = df["status"].to_numpy() > 0
    C = effective_capacitance(df["R1"][ok], df["CPE1_Q"][ok], df["CPE1_n"][ok])
    np.testing.assert_allclose(arr("CPE1_C_eff")[ok], C, rtol=1e-12)
    np.testing.assert_allclose(arr("CPE1_C_eff_area")[ok], C / 0.5, rtol=1e-12)
    f = apex_frequency(df["R2"][ok], df["CPE2_Q"][ok], df["CPE2_n"][ok])
    np.testing.assert_allclose(arr("CPE2_f_apex")[ok], f, rtol=1e-12)
    assert np.all(np.isnan(arr("CPE1_C_eff")[~ok]))
    assert "CPE1_C_eff_stderr" not in p["columns"]          # no covariance in the store


def test_spectrum_with_fit_curve_kk_mask_and_residuals(dash, store):
    code, sp = get(dash.url + "api/spectrum/230")
    assert code == 200 and sp["spectrum"] == 230 and not sp["pending"]
    with ff.Store(store, "r") as st:
        s = st.spectra([230])
        row = st.results("fit", "fit", spectra=[230])
    np.testing.assert_array_equal(sp["freq"], s.freq[0])
    np.testing.assert_array_equal(sp["Z"]["re"], s.Z[0].real)
    np.testing.assert_array_equal(sp["Z"]["im"], s.Z[0].imag)
    assert sp["mask"][0] is False and all(sp["mask"][1:])      # KK dropped the first point
    circuit = ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
    model = circuit.impedance(s.freq[0], row["params"][0])
    np.testing.assert_allclose(sp["fit"]["re"], model.real, rtol=1e-12)
    np.testing.assert_allclose(sp["fit"]["im"], model.imag, rtol=1e-12)
    assert len(sp["curve"]["freq"]) == 200
    k = ff.kk(s.freq, s.Z, max_rel_residual=0.05)
    np.testing.assert_allclose(sp["kk"]["residuals_real"], k.residuals_real[0], atol=1e-12)
    np.testing.assert_allclose(sp["kk"]["residuals_imag"], k.residuals_imag[0], atol=1e-12)
    assert sp["kk"]["threshold"] == 0.05 and sp["kk_stored"]["M"] == 12
    assert sp["params"]["R2"] == row["params"][0][4] and sp["fit_status"] == 1
    code, last = get(dash.url + "api/spectrum/latest")
    assert last["spectrum"] == N - 1
    code, failed = get(dash.url + "api/spectrum/49")       # a failed fit: data, no curve
    assert failed["fit_status"] == -2 and failed["curve"] is None and failed["kk"] is not None


@pytest.mark.parametrize("path, code", [
    ("api/params?run=nope", 404), ("api/params?columns=R9", 404), ("api/spectrum/240", 404),
    ("api/spectrum/-241", 404), ("api/status?run=nope", 404), ("api/params?max_points=0", 400),
    ("api/nothing", 404), ("static/../../etc/passwd", 404)])
def test_bad_requests_answer_json_errors(dash, path, code):
    got, body = get(dash.url + path)
    assert got == code and body["status"] == code and body["error"]


def test_read_only_and_host_check(dash):
    req = urllib.request.Request(dash.url + "api/status", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    e.value.close()
    assert e.value.code == 405
    code, body = get(dash.url + "api/status", headers={"Host": "evil.example:80"})
    assert code == 403
    assert get(dash.url + "api/status", headers={"Host": "localhost"})[0] == 200


def test_page_and_assets_are_local(dash):
    code, page = get(dash.url)
    assert code == 200 and b'id="spectrum-count"' in page and b'id="params-plot"' in page
    for name in ("dashboard.js", "dashboard.css"):
        code, body = get(dash.url + "static/" + name)
        assert code == 200 and len(body) > 500
        page += body
    text = page.decode()
    # nothing is fetched from elsewhere (the SVG namespace is a name, not a request)
    assert "https://" not in text
    assert text.count("http://") == text.count('"http://www.w3.org/2000/svg"')


def test_events_push_status_on_change(dash):
    """/api/events sends the status at once and again after a change (here: stream
    counters arriving), well within a second."""
    s = socket.create_connection(("127.0.0.1", dash.port), timeout=10)
    s.sendall(b"GET /api/events HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    f = s.makefile("rb")

    def next_status():
        while True:
            line = f.readline()
            assert line, "event stream closed"
            if line.startswith(b"data: ") and b'"spectra"' in line:
                return json.loads(line[6:])

    try:
        first = next_status()
        assert first["spectra"] == N and first["stream"] is None
        t0 = time.monotonic()
        dash.update_stream({"points": 123, "read": N, "latency_s": 0.02})
        pushed = next_status()
        elapsed = time.monotonic() - t0
    finally:
        f.close()
        s.close()
    assert pushed["stream"]["points"] == 123 and pushed["version"] > first["version"]
    assert elapsed < 5.0, elapsed            # < 1 s expected; generous under CI load


def test_view_waits_for_a_store_that_does_not_exist_yet(tmp_path):
    path = tmp_path / "later.h5"
    v = StoreView(path)
    assert v.refresh() is True and "waiting" in v.error and v.counts()["spectra"] == 0
    fitted_store(path, 5, chunk=5)
    assert v.poll() is True and v.error is None and v.counts()["spectra"] == 5
    assert v.poll() is False                 # unchanged file: nothing read
    assert v.run_data().params.shape == (5, 7)


# ---------------------------------------------------------------------- the command
def test_serve_command_help_and_errors(store, tmp_path):
    r = CliRunner().invoke(cli, ["serve", "--help"])
    assert r.exit_code == 0 and "--port" in r.output and "--host" in r.output
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        p = subprocess.run([sys.executable, "-m", "fastfit.cli", "serve", str(store), "--port",
                            str(busy.getsockname()[1])], capture_output=True, text=True,
                           timeout=120)
    finally:
        busy.close()
    assert p.returncode == 2
    assert p.stderr.strip().startswith("fastfit serve: error: cannot serve the dashboard")
    assert len(p.stderr.strip().splitlines()) == 1


def test_serve_command_serves_until_terminated(store):
    p = subprocess.Popen([sys.executable, "-m", "fastfit.cli", "serve", str(store), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:")
        code, s = get(url + "api/status")
        assert code == 200 and s["spectra"] == N and s["server"]["pid"] == p.pid
    finally:
        p.terminate()
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err


def test_thread_safety_of_concurrent_requests(dash):
    results = []

    def hit():
        results.append(get(dash.url + "api/params?columns=R1&max_points=100")[0])

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 8


def test_stop_leaves_no_thread_or_socket_behind(store):
    before = set(threading.enumerate())
    with Dashboard(store, port=0) as d:
        assert get(d.url + "api/spectrum/3?wait=0")[0] == 200      # starts the model thread
        assert get(d.url + "api/status")[0] == 200
        port = d.port
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
