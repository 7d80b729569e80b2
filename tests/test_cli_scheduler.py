"""`fastfit fit --scheduler`: the store equals the one written without it, bit for bit.

Two real files with different point counts (pyeis_ex1.mpt: 2 x 59 points,
impedancepy_exampleDataBioLogic.mpr: 1 x 36) in one chunk, so the shorter spectrum is
padded -- fitting the files one by one would differ in the last digits; the scheduler
path fits the very chunks of the run without it.  The cluster is an in-process
``LocalCluster`` (threads: compiled programs are shared with the run without it, so the
module compiles one fit shape).
"""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import fastfit as ff
from fastfit.cli import cli
from fastfit.store import Store

distributed = pytest.importorskip("distributed")

FILES = ("pyeis_ex1.mpt", "impedancepy_exampleDataBioLogic.mpr")
CIRCUIT = "R0-p(R1,CPE1)"


# in-process CLI calls enable the persistent JAX cache: keep it private (conftest.py)
pytestmark = pytest.mark.usefixtures("private_jax_cache")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                 dashboard_address=":0")
    yield c
    c.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory, data_dir, cluster):
    d = tmp_path_factory.mktemp("sched")
    files = [data_dir / f for f in FILES]
    args = ["fit", *files, "-c", CIRCUIT, "--kk", "0.05", "-q"]
    plain = invoke(*args, "-o", d / "plain.h5")
    assert plain.exit_code == 0, plain.output
    dask = invoke(*args, "-o", d / "dask.h5", "--scheduler", cluster.scheduler_address)
    assert dask.exit_code == 0, dask.output
    return files, d / "plain.h5", d / "dask.h5", dask.output


def _assert_same_tables(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)   # NaN == NaN here


def test_scheduler_store_equals_single_process(stores):
    files, plain, dask, output = stores
    assert "3 spectra, 3 fitted" in output and "scheduler inproc://" in output
    with Store(plain, "r") as a, Store(dask, "r") as b:
        assert len(a) == len(b) == 3
        ia, ib = a.run_info("fit"), b.run_info("fit")
        for key in ("options", "circuit", "param_names", "units", "n_fit", "n_kk"):
            assert ia[key] == ib[key], key
        ra, rb = a.results("fit"), b.results("fit")
        _assert_same_tables(ra, rb)
        ka = a.results("fit", "kk")
        _assert_same_tables(ka, b.results("fit", "kk"))
        np.testing.assert_array_equal(a.params("fit").to_numpy(), b.params("fit").to_numpy())
        sa, sb = a.spectra(), b.spectra()
        np.testing.assert_array_equal(sa.Z, sb.Z)
        np.testing.assert_array_equal(sa.mask, sb.mask)
        # and both equal the Python API on the same spectra, with the stored KK mask
        ref = ff.fit(sa, CIRCUIT, mask=ka["mask"] & sa.mask)
    # every spectrum got a definite verdict (the second pyeis_ex1 spectrum has two arcs:
    # R0-p(R1,CPE1) fits it best with R1 -> infinity, reported SINGULAR or AT_BOUND
    # depending on where the iterates stop)
    assert np.all(np.isin(ra["status"], [1, 2, 3, 4, 5, -1])), ra["status"]
    np.testing.assert_allclose(ra["params"], ref.params, rtol=1e-12)
    np.testing.assert_array_equal(ra["status"], ref.status)


def test_rerun_with_scheduler_resumes_nothing_to_do(stores, cluster):
    files, _, dask, _ = stores
    r = invoke("fit", *files, "-c", CIRCUIT, "--kk", "0.05", "-q",
               "-o", dask, "--scheduler", cluster.scheduler_address)
    assert r.exit_code == 0, r.output
    assert "0 fitted" in r.output and "3 already done" in r.output
    with Store(dask, "r") as st:
        assert len(st) == 3 and st.run_info("fit")["n_fit"] == 3


@pytest.mark.parametrize("address, needle", [
    ("nonsense", "missing port"),
    ("foo://host:1", "unknown address scheme"),
    ("tcp://127.0.0.1:1", "Timed out"),               # nothing listens on port 1
])
def test_bad_address_one_line_exit_2(address, needle, data_dir, tmp_path):
    import dask

    out = tmp_path / "o.h5"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        r = invoke("fit", data_dir / FILES[0], "-c", CIRCUIT, "-o", out, "-q",
                   "--scheduler", address)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert "cannot reach the Dask scheduler" in lines[0] and needle in lines[0]
    assert "Traceback" not in r.output
    assert not out.exists()                           # failed before writing anything


def test_bad_spectrum_on_worker_names_source_and_position(tmp_path, cluster):
    f = np.logspace(4, 0, 12)
    Z = np.tile(10 + 100 / (1 + 1j * f / 50), (4, 1))
    Z[2, 5] = np.nan
    s = ff.SpectrumSeries(freq=np.broadcast_to(f, Z.shape), Z=Z, mask=np.ones(Z.shape, bool),
                          time=np.arange(4.0), meta={"source": "cell7.mpr"},
                          info={"index": np.array([0, 1, 2, 3])})
    with Store(tmp_path / "in.h5", "w") as st:
        st.append_spectra(s)
    r = invoke("fit", tmp_path / "in.h5", "-c", "R0-p(R1,C1)", "-o", tmp_path / "out.h5", "-q",
               "--scheduler", cluster.scheduler_address)
    assert r.exit_code == 2, r.output
    assert r.output.count("\n") == 1 and "cell7.mpr, spectrum 2: Z at point 5" in r.output


def test_scheduler_local_worker_process(stores, tmp_path):
    """``--scheduler local``: a LocalCluster with one worker *process* (fits arrive
    pickled; the worker loads the compiled programs from the persistent cache)."""
    files, plain, _, _ = stores
    out = tmp_path / "local.h5"
    r = invoke("fit", *files, "-c", CIRCUIT, "--kk", "0.05", "-q", "-o", out,
               "--scheduler", "local")
    assert r.exit_code == 0, r.output
    assert "3 fitted" in r.output and "scheduler local" in r.output
    with Store(plain, "r") as a, Store(out, "r") as b:
        _assert_same_tables(a.results("fit"), b.results("fit"))
        _assert_same_tables(a.results("fit", "kk"), b.results("fit", "kk"))


def test_element_module_reaches_worker_processes(data_dir, tmp_path):
    """``--element-module`` with ``--scheduler local``: the worker is another process that
    never imported the file; the module's source travels with a worker plugin."""
    mod = tmp_path / "cluster_elements.py"
    mod.write_text("import fastfit as ff\n\n"
                   "@ff.element('Ysched', params=['R', 'tau'], units=['ohm', 's'],\n"
                   "            bounds=[(0, float('inf'))] * 2, defaults=[100.0, 1e-4])\n"
                   "def rc(p, omega):\n"
                   "    return p[..., 0:1] / (1 + 1j * omega * p[..., 1:2])\n")
    out = tmp_path / "elements.h5"
    r = invoke("fit", data_dir / FILES[0], "-c", "R0-Ysched1", "-q", "-o", out,
               "--scheduler", "local", "--element-module", mod)
    assert r.exit_code == 0, r.output
    with Store(out, "r") as st:
        df = st.params("fit")
    assert list(df.columns[:3]) == ["R0", "Ysched1_R", "Ysched1_tau"] and len(df) == 2
    assert np.all(np.isfinite(df["chi2"].to_numpy()))
