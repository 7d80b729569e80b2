"""`fastfit fit` with several --circuit (issue 20): every candidate in the store, the
choice per spectrum equal to fastfit.compare, resumable, and shown over time by
`fastfit report`."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import fastfit as ff
from fastfit.cli import cli
from fastfit.store import Store
from fastfit.synthetic import NESTED_CIRCUITS, nested_candidates

pytestmark = pytest.mark.usefixtures("private_jax_cache")
C2, C3 = NESTED_CIRCUITS[:2]      # one and two arcs: the programs test_compare compiles


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A 16-spectrum series in a store, one arc for 8 h, then a second arc (the spectra
    test_compare uses), compared."""
    f, Z, labels, _ = nested_candidates(n_per=8, seed=11)
    Z = Z[labels < 2]
    truth = labels[labels < 2]
    path = tmp_path_factory.mktemp("cmp") / "series.h5"
    series = ff.SpectrumSeries(freq=np.broadcast_to(f, Z.shape).copy(), Z=Z,
                               mask=np.ones(Z.shape, bool), time=np.arange(16) * 3600.0)
    with Store(path, "w") as st:
        st.append_spectra(series)
    r = invoke("fit", path, "-c", C2, "-c", C3, "-q")
    assert r.exit_code == 0, r.output
    return path, series, truth, r.output


def test_store_holds_every_candidate_and_the_choice(compared):
    path, series, truth, output = compared
    ref = ff.compare(series, circuits=[C2, C3])
    with Store(path, "r") as st:
        assert st.runs() == ["fit.0", "fit.1", "fit"]
        info = st.run_info("fit")
        ch = st.choices("fit")
        fits = [st.params(name) for name in ("fit.0", "fit.1")]
    assert info["kind"] == "compare" and info["circuits"] == [C2, C3]
    assert info["candidates"] == ["fit.0", "fit.1"] and info["criterion"] == "bic"
    np.testing.assert_array_equal(ch["best"], ref.best_index)
    np.testing.assert_allclose(ch[["weight_0", "weight_1"]].to_numpy(), ref.weights, atol=1e-12)
    for m in range(2):
        np.testing.assert_allclose(fits[m][ref.results[m].param_names].to_numpy(),
                                   ref.results[m].params, rtol=1e-9)
    # the generating circuit: one arc, then two
    assert list(ch["best"]) == list(truth)
    assert list(ch["circuit"]) == [[C2, C3][v] for v in truth]
    assert np.allclose(np.diff(ch["time"]), np.diff(series.time))
    assert "chosen by bic" in output and f"fit.1 ({C3}): 8" in output


def test_rerun_resumes_and_report_shows_the_choice(compared, tmp_path):
    path = compared[0]
    r = invoke("fit", path, "-c", C2, "-c", C3, "-q")
    assert r.exit_code == 0 and "0 compared" in r.output and "16 already done" in r.output
    r = invoke("fit", path, "-c", C2, "-c", C3, "--criterion", "aic", "-q")
    assert r.exit_code == 2 and "--run NAME" in r.output
    r = invoke("report", path, "-o", tmp_path / "rep", "--run", "fit")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rep" / "fit_choice.png").stat().st_size > 10_000
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "choice of circuit by BIC" in html and "Choice changes at spectrum 8 (2.88e+04 s" in html
    with pytest.raises(ff.errors.StoreError, match="not a compare run"):
        Store(path, "r").choices("fit.0")


def test_scheduler_takes_one_circuit(compared):
    r = invoke("fit", compared[0], "-c", C2, "-c", C3, "--scheduler", "local", "-q")
    assert r.exit_code == 2 and "--scheduler" in r.output
