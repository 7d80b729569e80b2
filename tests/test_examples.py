"""Smoke tests of the runnable examples (issues 10, 20): each script runs in a subprocess with
``--quick --out DIR`` from a foreign working directory, exits 0, writes its PNG figures and
prints/saves numbers that make sense.

The scripts keep JAX's persistent compilation cache (``FASTFIT_CACHE_DIR``).  Under pytest
that is the test run's own cache (``conftest.py``), shared with the other tests' processes;
the first script compiles most of what it needs (~1 min of CPU on a 2-core machine).  Set
``FASTFIT_TEST_JAX_CACHE`` to a folder to keep that cache between test runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def jax_cache(tmp_path_factory) -> str:
    return os.environ.get("FASTFIT_CACHE_DIR") or str(tmp_path_factory.mktemp("jax-cache"))


def run_example(name: str, out: Path, cache: str, cwd: Path, *extra: str):
    """Run ``examples/<name>.py --quick --out out`` from ``cwd``; returns (stdout, summary)."""
    env = {**os.environ, "FASTFIT_CACHE_DIR": cache, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out",
                           str(out), *extra], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads((out / "summary.json").read_text())
    return proc.stdout, summary


def check_pngs(out: Path, names):
    for n in names:
        p = out / n
        assert p.is_file(), f"{n} not written"
        data = p.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, (n, len(data))


def test_example_01_relaxation_series(tmp_path, jax_cache):
    out = tmp_path / "ex1"
    stdout, s = run_example("01_relaxation_series", out, jax_cache, tmp_path)
    check_pngs(out, ["real_nyquist_first.png", "real_nyquist_last.png", "real_bode_first.png",
                     "real_params_vs_time.png", "synthetic_relaxation.png"])
    assert "R_int (Ω cm²)" in stdout and "summary:" in stdout
    real, syn = s["real"], s["synthetic"]
    # real SSB data: every spectrum KK-valid and fitted, residuals below 1.5 % of |Z|
    assert real["kk_valid"] == real["n_spectra"] == real["converged"] == 4
    assert max(real["rms_residual_pct"]) < 1.5
    R = np.array(real["R_int_ohm_cm2"])
    assert np.all((R > 50) & (R < 500)), R                # ~140 ohm cm2 on 0.785 cm2
    assert np.ptp(R) / R.mean() < 0.02                     # a cell at rest: stable
    assert np.all(np.array(real["R_int_stderr_ohm_cm2"]) < 0.1 * R)
    C = np.array(real["C_eff_int_F_cm2"])
    assert np.all((C > 3e-6) & (C < 3e-4)), C              # double-layer-like, ~30 uF/cm2
    assert np.all((np.array(real["f_apex_int_Hz"]) > 5) & (np.array(real["f_apex_int_Hz"]) < 500))
    # synthetic relaxation: the temperature correction brings R_int onto the truth
    assert syn["converged"] == syn["n_spectra"]
    assert syn["z_corrected_rms"] < 2.0
    assert syn["z_raw_rms"] > 2 * syn["z_corrected_rms"]
    Rc, Rt = np.array(syn["R_int_corrected_ohm_cm2"]), np.array(syn["R_int_true_ohm_cm2"])
    assert np.max(np.abs(Rc / Rt - 1)) < 0.06


def test_example_02_temperature_arrhenius(tmp_path, jax_cache):
    out = tmp_path / "ex2"
    stdout, s = run_example("02_temperature_arrhenius", out, jax_cache, tmp_path)
    check_pngs(out, ["arrhenius.png", "capacitance_assignment.png", "nyquist_-40C.png",
                     "nyquist_+0C.png", "nyquist_+40C.png"])
    assert "Activation energies" in stdout
    # the circuit switch at -30 degC is found from the data (BIC)
    assert s["circuit"] == s["circuit_true"]
    assert [c == "bulk arc" for c in s["circuit"]] == [t <= -30 for t in s["T_C"]]
    for p, true in s["Ea_true_eV"].items():
        Ea, se = s["Ea_eV"][p], s["Ea_stderr_eV"][p]
        assert abs(Ea - true) < 0.005, (p, Ea, true)           # issue 10 acceptance bound
        assert 0 < se < 0.005 and abs(Ea - true) < 4 * se, (p, Ea, se)


def test_example_03_geis_dissolution(tmp_path, jax_cache):
    out = tmp_path / "ex3"
    stdout, s = run_example("03_geis_dissolution", out, jax_cache, tmp_path)
    check_pngs(out, ["drt_heatmap.png", "interface_growth.png", "nyquist_first.png",
                     "nyquist_last.png"])
    assert "Interface over time" in stdout
    n = s["n_sweeps"]
    assert s["converged"] == n and s["kk_valid"] == n
    R, se, Rt = (np.array(s[k]) for k in ("R_int_ohm_cm2", "R_int_stderr_ohm_cm2",
                                           "R_int_true_ohm_cm2"))
    assert R[0] < 8 and abs(R[-1] / Rt[-1] - 1) < 0.05         # 5 -> 60 ohm cm2
    assert np.median(np.abs(R - Rt) / se) < 2
    # the fast growth at the end is flagged as drift, the flat start is not
    drifting = np.array(s["drifting"], bool)
    assert drifting[-1] and not drifting[: n // 2].any()
    # the DRT follows the interface once it is large
    R_drt = np.array(s["R_int_drt_ohm_cm2"])
    assert abs(R_drt[-1] / Rt[-1] - 1) < 0.15


def test_example_04_model_choice_bootstrap(tmp_path, jax_cache):
    out = tmp_path / "ex4"
    stdout, s = run_example("04_model_choice_bootstrap", out, jax_cache, tmp_path)
    check_pngs(out, ["model_choice.png", "R2_bootstrap_bands.png", "nyquist_before_after.png"])
    assert "Chosen circuit per spectrum" in stdout and "Profile of R3" in stdout
    # the new arc is found by compare exactly where it is in the data
    assert s["best_index"] == s["true_best"]
    t = np.array(s["t_h"])
    assert s["switch_h"] == t[t >= s["t_appear_h"]].min()
    # bootstrap bands of the drifting R2 cover the truth like the linearised intervals
    n = s["n_spectra"]
    assert s["R2_covered_bootstrap"] >= n - 3 and s["R2_covered_linear"] >= n - 3
    lo, hi = np.array(s["R2_lo"]), np.array(s["R2_hi"])
    llo, lhi = np.array(s["R2_linear_lo"]), np.array(s["R2_linear_hi"])
    ratio = (hi - lo) / (lhi - llo)
    assert 0.5 < np.median(ratio) < 2.0, ratio
    R3, R3_true = np.array(s["R3"]), np.array(s["R3_true"])
    new = R3_true > 0
    assert np.all(np.isnan(R3[~new])) and np.all(np.abs(R3[new] / R3_true[new] - 1) < 0.3)
    plo, phi = np.array(s["profile_R3_lo"]), np.array(s["profile_R3_hi"])
    assert np.all(plo < R3[new][:2]) and np.all(R3[new][:2] < phi)
