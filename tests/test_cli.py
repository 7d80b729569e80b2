"""The `fastfit` command line: errors, info, fit (= fastfit.fit), resume, report."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import fastfit as ff
from fastfit.cli import cli
from fastfit.store import Store

ROOT = Path(__file__).resolve().parents[1]
CSV = "hybriddrt_Sample2_PEIS_AtRest.csv"          # 10-spectrum real time series
CIRCUIT = "R0-p(R1,CPE1)"                     # converges on this series; compiles quickly


# in-process CLI calls enable the persistent JAX cache: keep it private (conftest.py)
pytestmark = pytest.mark.usefixtures("private_jax_cache")


def _fastfit_exe() -> str:
    exe = Path(sys.executable).parent / "fastfit"
    return str(exe) if exe.exists() else shutil.which("fastfit")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_help_lists_commands():
    r = invoke("--help")
    assert r.exit_code == 0
    for cmd in ("fit", "kk", "zhit", "drt", "info", "report", "stream"):
        assert cmd in r.output


def test_console_script_subprocess(data_dir):
    exe = _fastfit_exe()
    assert exe, "console script 'fastfit' not installed"
    out = subprocess.run([exe, "info", str(data_dir / "hybriddrt_PEIS_SSB.mpr")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "technique:   PEIS" in out.stdout and "spectra:     1" in out.stdout
    bad = subprocess.run([exe, "fit", "nope.mpr", "-c", "R0", "-o", "x.h5"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nope.mpr" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_info_multi_spectrum_file(data_dir):
    r = invoke("info", data_dir / CSV)
    assert r.exit_code == 0, r.output
    assert "spectra:     10" in r.output and "89 per spectrum" in r.output


@pytest.mark.parametrize("args, needle", [
    (["fit", "{data}/does_not_exist.mpr", "-c", CIRCUIT, "-o", "{tmp}/o.h5"], "does_not_exist.mpr"),
    (["fit", "{data}/" + CSV, "-c", "R0-p(R1,XQ1)", "-o", "{tmp}/o.h5"], "unknown element type 'XQ'"),
    (["fit", "{data}/" + CSV, "-c", "R0-p(R1", "-o", "{tmp}/o.h5"], "column"),
    (["fit", "{data}/" + CSV, "-c", CIRCUIT], "--out is required"),
    (["fit", "{data}/" + CSV, "-c", CIRCUIT, "-o", "{tmp}/o.h5", "--chunk", "0"], "--chunk"),
    (["info", "{data}/impedancepy_exampleDataBioLogic_MissingFreq.mpt"], "MissingFreq.mpt"),
    (["info", "{data}/hybriddrt_sample_info.txt"], "hybriddrt_sample_info.txt"),
    (["report", "{data}/" + CSV], "not an HDF5 file"),
    (["stream", "{data}/does_not_exist.mpt", "-c", "R0-p(R1,XQ1)", "--store", "{tmp}/s.h5"], "XQ"),
    (["frobnicate"], "No such command"),
])
def test_bad_input_one_line_exit_2(args, needle, data_dir, tmp_path):
    args = [a.format(data=data_dir, tmp=tmp_path) for a in args]
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert needle in lines[0] and "error" in lines[0]
    assert "Traceback" not in r.output


def test_debug_shows_the_exception(data_dir, tmp_path):
    r = invoke("fit", data_dir / CSV, "-c", "R0-p(R1,XQ1)", "-o", tmp_path / "o.h5", "--debug")
    assert r.exit_code != 0 and isinstance(r.exception, ff.errors.CircuitSyntaxError)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, data_dir):
    """`fastfit fit` on the bundled real 10-spectrum series."""
    out = tmp_path_factory.mktemp("cli") / "run.h5"
    src = ROOT / "examples" / "data" / CSV
    src = src if src.exists() else data_dir / CSV
    r = invoke("fit", src, "-c", CIRCUIT, "--area-cm2", "0.283", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    return src, out, r.output


def test_fit_store_equals_python_fit(real_store):
    src, out, _ = real_store
    ref = ff.fit(ff.read(src), CIRCUIT)
    with Store(out, "r") as st:
        df = st.params("fit")
        info = st.run_info("fit")
        assert len(st) == 10
    assert list(df.columns) == ref.param_names + [f"{n}_stderr" for n in ref.param_names] + \
        ["chi2", "status", "time"]
    np.testing.assert_array_equal(df[ref.param_names].to_numpy(), ref.params)
    np.testing.assert_array_equal(df[[f"{n}_stderr" for n in ref.param_names]].to_numpy(), ref.stderr)
    np.testing.assert_array_equal(df["chi2"], ref.chi2)
    np.testing.assert_array_equal(df["status"], ref.status)
    assert (df["status"] > 0).all()
    assert np.all(np.diff(df["time"]) > 0)
    assert info["circuit"] == CIRCUIT and info["options"]["area_cm2"] == 0.283


def test_rerun_is_a_noop_and_other_options_need_a_new_run(real_store):
    src, out, _ = real_store
    before = Store(out, "r").params("fit")
    r = invoke("fit", src, "-c", CIRCUIT, "--area-cm2", "0.283", "-o", out, "-q")
    assert r.exit_code == 0 and "0 fitted" in r.output and "10 already done" in r.output
    after = Store(out, "r")
    assert len(after) == 10
    np.testing.assert_array_equal(after.params("fit").to_numpy(), before.to_numpy())
    after.close()
    r = invoke("fit", src, "-c", "R0-p(R1,C1)", "-o", out, "-q")
    assert r.exit_code == 2 and "--run NAME" in r.output


def test_kk_command_prints_one_row_per_spectrum(data_dir):
    r = invoke("kk", data_dir / CSV, "-q")
    assert r.exit_code == 0, r.output
    rows = [ln.split("\t") for ln in r.output.splitlines()]
    assert rows[0][:4] == ["file", "spectrum", "M", "mu"] and len(rows) == 11
    assert [int(x[1]) for x in rows[1:]] == list(range(10))
    assert all(0 < float(x[3]) <= 0.85 for x in rows[1:])      # mu criterion of lin-KK


def test_drt_into_store(real_store):
    src, out, _ = real_store
    r = invoke("drt", src, "-o", out, "--lam", "1e-3", "-q")
    assert r.exit_code == 0, r.output
    with Store(out, "r") as st:
        d = st.results("drt")
        info = st.run_info("drt")
    assert info["kind"] == "drt" and d["spectrum"].tolist() == list(range(10))
    assert d["gamma"].shape[0] == 10 and np.all(d["gamma"] >= 0)
    np.testing.assert_array_equal(d["tau"], np.broadcast_to(d["tau"][0], d["tau"].shape))
    ref = ff.drt(ff.read(src), lam=1e-3, tau_range=info["options"]["tau_range"])
    np.testing.assert_allclose(d["gamma"], ref.gamma, rtol=1e-9, atol=1e-12 * ref.gamma.max())


def test_report_writes_pngs_and_self_contained_html(real_store, tmp_path):
    _, out, _ = real_store
    invoke("drt", real_store[0], "-o", out, "--lam", "1e-3", "-q")
    r = invoke("report", out, "-o", tmp_path / "rep")
    assert r.exit_code == 0, r.output
    pngs = sorted((tmp_path / "rep").glob("*.png"))
    assert len(pngs) >= 9 and any("drt" in p.name for p in pngs)
    for p in pngs:
        assert p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "src=\"http" not in html and CIRCUIT in html


# ------------------------------------------------------------- SIGKILL + resume
N_KILL = 5000
RC = "R0-p(R1,C1)"


def _synthetic_input(path):
    rng = np.random.default_rng(7)
    f = np.logspace(5, -1, 19)
    p = np.c_[rng.uniform(5, 50, N_KILL), rng.uniform(50, 500, N_KILL), 10 ** rng.uniform(-6, -3, N_KILL)]
    Z = ff.Circuit(RC).impedance(f, p)
    Z = Z + 0.002 * np.abs(Z) * (rng.standard_normal(Z.shape) + 1j * rng.standard_normal(Z.shape))
    s = ff.SpectrumSeries(freq=np.broadcast_to(f, Z.shape), Z=Z, mask=np.ones(Z.shape, bool),
                          time=np.arange(N_KILL) * 10.0, meta={"source": "synthetic-rc"})
    with Store(path, "w") as st:
        st.append_spectra(s)


def _cmd(inp, out):
    return [_fastfit_exe(), "fit", str(inp), "-c", RC, "-o", str(out), "--chunk", "250", "-q"]


def _n_done(out):
    try:
        with Store(out, "r") as st:
            return st.done("fit").size if "fit" in st.runs() else 0
    except ff.errors.StoreError:
        return 0


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_bulk_refit_then_resume_equals_uninterrupted(tmp_path):
    import signal
    import time

    env = {**os.environ, "FASTFIT_CACHE_DIR": str(tmp_path / "jax-cache")}
    inp = tmp_path / "spectra.h5"
    _synthetic_input(inp)
    full, killed = tmp_path / "full.h5", tmp_path / "killed.h5"
    r = subprocess.run(_cmd(inp, full), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    with subprocess.Popen(_cmd(inp, killed), env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as p:
        deadline = time.time() + 300
        while _n_done(killed) == 0 and p.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
    n_at_kill = _n_done(killed)
    assert 0 < n_at_kill < N_KILL, f"kill landed at {n_at_kill} of {N_KILL} spectra"
    r = subprocess.run(_cmd(inp, killed), env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{n_at_kill} already done" in r.stderr
    with Store(full, "r") as a, Store(killed, "r") as b:
        assert len(a) == len(b) == N_KILL
        da, db = a.params("fit"), b.params("fit")
        assert db.index.is_unique and db.index.tolist() == list(range(N_KILL))
        assert b.run_info("fit")["n_fit"] >= N_KILL
        np.testing.assert_array_equal(db.to_numpy(), da.to_numpy())
        np.testing.assert_array_equal(a.spectra().Z, b.spectra().Z)


def test_bad_spectrum_error_names_source_and_position(tmp_path):
    f = np.logspace(4, 0, 12)
    Z = np.tile(10 + 100 / (1 + 1j * f / 50), (4, 1))
    Z[2, 5] = np.nan
    s = ff.SpectrumSeries(freq=np.broadcast_to(f, Z.shape), Z=Z, mask=np.ones(Z.shape, bool),
                          time=np.arange(4.0), meta={"source": "cell7.mpr"},
                          info={"index": np.array([0, 1, 2, 3])})
    with Store(tmp_path / "in.h5", "w") as st:
        st.append_spectra(s)
    r = invoke("fit", tmp_path / "in.h5", "-c", RC, "-o", tmp_path / "out.h5", "-q")
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and "cell7.mpr, spectrum 2: Z at point 5" in r.output
