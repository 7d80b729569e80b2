"""The validation and DRT options of the command line (issue 21): `fastfit kk
--representation`, `fastfit zhit`, `fastfit drt --sign --band`, and what they store; each
checked against the Python function on the same spectra."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import fastfit as ff
from fastfit.cli import cli
from fastfit.store import Store

CSV = "hybriddrt_Sample2_PEIS_AtRest.csv"          # 10-spectrum real time series

pytestmark = pytest.mark.usefixtures("private_jax_cache")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def src(data_dir) -> Path:
    return data_dir / CSV


def test_kk_admittance_and_auto(src, tmp_path):
    out = tmp_path / "kk.h5"
    series = ff.read(src)
    r = invoke("kk", src, "--representation", "auto", "-o", out, "-q")
    assert r.exit_code == 0, r.output
    ref = ff.kk(series, representation="auto")
    with Store(out, "r") as st:
        d = st.results("kk")
        assert st.run_info("kk")["options"]["representation"] == "auto"
    np.testing.assert_array_equal(d["representation"], ref.representation)
    np.testing.assert_array_equal(d["M"], ref.M)
    np.testing.assert_array_equal(d["mask"], ref.mask)
    # the printed table names the representation of every spectrum
    r = invoke("kk", src, "--representation", "admittance", "-q")
    rows = [ln.split("\t") for ln in r.output.splitlines()]
    assert r.exit_code == 0 and rows[0][-1] == "representation" and len(rows) == 11
    assert {x[-1] for x in rows[1:]} == {"admittance"}
    # a store run made with another representation is not extended
    r = invoke("kk", src, "-o", out, "-q")
    assert r.exit_code == 2 and "representation" in r.output


def test_zhit_command_and_store(src, tmp_path):
    out = tmp_path / "zhit.h5"
    series = ff.read(src)
    ref = ff.zhit(series.freq, series.Z, mask=series.mask)
    r = invoke("zhit", src, "-q")
    assert r.exit_code == 0, r.output
    rows = [ln.split("\t") for ln in r.output.splitlines()]
    assert rows[0] == ["file", "spectrum", "max_abs_residual", "noise", "excluded", "valid"]
    assert len(rows) == 11
    worst = np.nanmax(np.abs(ref.residuals), axis=1)
    np.testing.assert_allclose([float(x[2]) for x in rows[1:]], worst, atol=1e-4)
    assert [x[5] == "yes" for x in rows[1:]] == ref.valid.tolist()
    r = invoke("zhit", src, "-o", out, "-q")
    assert r.exit_code == 0, r.output
    with Store(out, "r") as st:
        d = st.results("zhit")
        assert st.run_info("zhit")["kind"] == "zhit"
        assert st.done("zhit").tolist() == list(range(10))
    np.testing.assert_array_equal(d["valid"], ref.valid)
    np.testing.assert_array_equal(d["mask"], ref.mask)
    np.testing.assert_allclose(d["modulus"], ref.modulus, rtol=1e-12)
    np.testing.assert_allclose(d["residuals"], ref.residuals, rtol=1e-9, atol=1e-15)


def test_drt_sign_and_band_into_store(src, tmp_path):
    out = tmp_path / "drt.h5"
    r = invoke("drt", src, "-o", out, "--lam", "1e-4", "--sign", "auto", "--band", "0.9",
               "-q")
    assert r.exit_code == 0, r.output
    with Store(out, "r") as st:
        d = st.results("drt")
        b = st.results("drt", "drt_band")
        info = st.run_info("drt")
    assert info["options"]["sign"] == "auto" and info["options"]["band"] == 0.9
    ref = ff.drt(ff.read(src), lam=1e-4, tau_range=info["options"]["tau_range"], sign="auto",
                 bands=0.9)
    scale = ref.gamma.max()
    np.testing.assert_allclose(d["gamma"], ref.gamma, rtol=1e-9, atol=1e-12 * scale)
    assert b["spectrum"].tolist() == list(range(10))
    np.testing.assert_allclose(b["gamma_lo"], ref.gamma_lo, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(b["gamma_hi"], ref.gamma_hi, rtol=1e-9, atol=1e-12 * scale)
    assert np.all(b["gamma_lo"] <= d["gamma"] + 1e-12 * scale)
    assert np.all(d["gamma"] <= b["gamma_hi"] + 1e-12 * scale)
    # without --band there is no band table
    out2 = tmp_path / "drt2.h5"
    assert invoke("drt", src, "-o", out2, "--lam", "1e-4", "-q").exit_code == 0
    with Store(out2, "r") as st:
        assert st.results("drt", "drt_band")["spectrum"].size == 0
        assert "sign" not in st.run_info("drt")["options"]


def test_report_reads_stored_zhit_runs_and_bands(src, tmp_path, monkeypatch):
    """`fastfit report` draws what the store holds: the Z-HIT run's residuals (its own
    section and next to lin-KK) and the DRT run's stored band, not a recomputation."""
    import fastfit.plot
    import fastfit.validation
    from fastfit.report import write_report

    out = tmp_path / "v.h5"
    for args in (("zhit",), ("kk",), ("drt", "--lam", "1e-4", "--band", "0.9")):
        r = invoke(*args, src, "-o", out, "-q")
        assert r.exit_code == 0, r.output
    with Store(out, "r") as st:
        z = st.results("zhit")
        band = st.results("drt", "drt_band")
    drawn = {"zhit": [], "band": []}
    real_res, real_band = fastfit.plot.validation_residuals, fastfit.plot.drt_band

    def residuals(kk=None, zhit=None, index=0, **kw):
        drawn["zhit"].append(np.asarray(zhit.residuals[index]))
        return real_res(kk, zhit, index, **kw)

    def drt_band(tau, gamma, gamma_lo=None, gamma_hi=None, **kw):
        drawn["band"].append((np.asarray(gamma_lo), kw.get("level")))
        return real_band(tau, gamma, gamma_lo, gamma_hi, **kw)

    def no_zhit(*a, **k):
        raise AssertionError("report recomputed Z-HIT although the store has it")

    monkeypatch.setattr(fastfit.plot, "validation_residuals", residuals)
    monkeypatch.setattr(fastfit.plot, "drt_band", drt_band)
    monkeypatch.setattr(fastfit.validation, "zhit", no_zhit)
    html = write_report(out, tmp_path / "rep").read_text()
    picks = [0, 5, 9]
    # three from the Z-HIT run's section, three beside lin-KK: all the stored rows
    assert len(drawn["zhit"]) == 6
    for k, res in enumerate(drawn["zhit"]):
        np.testing.assert_array_equal(res[:z["residuals"].shape[1]],
                                      z["residuals"][picks[k % 3]])
    assert [lvl for _, lvl in drawn["band"]] == [0.9] * 3
    for k, (lo, _) in enumerate(drawn["band"]):
        np.testing.assert_array_equal(lo, band["gamma_lo"][picks[k]])
    assert "stored in run 'zhit'" in html and "the stored 90 % band" in html
    assert (tmp_path / "rep" / "zhit_zhit.png").exists()
    assert len(list((tmp_path / "rep").glob("zhit_zhit_residuals_*.png"))) == 3
    # the stored decision curve and tolerance come back with the residuals
    assert np.isfinite(z["decision"][z["mask"]]).all() and (z["tolerance"] > 0).any()
