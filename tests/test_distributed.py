"""fastfit.distributed: fits on a Dask LocalCluster equal single-process fits (1e-12).

Every piece below pads to the same compiled shape (8 spectra x 59 points), so the module
compiles the fit programs once: two real 2-spectrum BioLogic files (pyeis_ex1/2.mpt) and
a store of 8 synthetic spectra on the same frequency grid, fitted in chunks of 3.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit import distributed as fd
from fastfit.errors import DataError

distributed = pytest.importorskip("distributed")

CIRCUIT = "R0-p(R1,CPE1)"
FILES = ("pyeis_ex1.mpt", "pyeis_ex2.mpt")
KW = dict(max_iter=40)          # > 32: the rescue stage (host-side gather) runs too


def _same(a, b, what):
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, what
    same = (a == b) | (np.isnan(a) & np.isnan(b))        # also equal infinities
    finite = ~same & np.isfinite(a) & np.isfinite(b)
    rel = np.abs(a[finite] - b[finite]) / np.maximum(np.abs(b[finite]), 1e-300)
    assert np.all(same | finite), f"{what}: non-finite mismatch"
    assert np.all(rel <= 1e-12), f"{what}: max rel diff {rel.max():.3g}"


def _same_result(r, ref):
    _same(r.params, ref.params, "params")
    _same(r.chi2, ref.chi2, "chi2")
    _same(r.stderr, ref.stderr, "stderr")
    np.testing.assert_array_equal(r.status, ref.status)
    np.testing.assert_array_equal(r.n_iter, ref.n_iter)


@pytest.fixture(scope="module")
def files(data_dir):
    return [str(data_dir / f) for f in FILES]


@pytest.fixture(scope="module")
def client():
    # two worker threads in this process (loopback): tasks run concurrently and share
    # this process's compiled programs
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


@pytest.fixture(scope="module")
def reference(files):
    """Single-process fits of each file."""
    return [ff.fit(ff.read(f), circuit=CIRCUIT, **KW) for f in files]


@pytest.fixture(scope="module")
def synthetic(files):
    """8 noisy R0-p(R1,CPE1) spectra on the frequency grid of pyeis_ex1.mpt."""
    f = ff.read(files[0]).freq[0]
    rng = np.random.default_rng(7)
    c = ff.Circuit(CIRCUIT)
    n = 8
    R1 = 10 ** rng.uniform(1, 3, n)
    nn = rng.uniform(0.7, 0.95, n)
    fa = 10 ** rng.uniform(0, 3, n)
    p = np.stack([R1 * rng.uniform(0.05, 0.5, n), R1, (1 / (2 * np.pi * fa)) ** nn / R1, nn], 1)
    Z = c.impedance(f, p)
    Z = Z * (1 + 0.005 * (rng.standard_normal(Z.shape) + 1j * rng.standard_normal(Z.shape)))
    return ff.SpectrumSeries.from_spectra([(f, z) for z in Z])


def test_files_on_cluster_equal_single_process(client, files, reference):
    pieces = fd.fit_files(files, CIRCUIT, scheduler=client, **KW)
    assert [p.source for p in pieces] == files
    for piece, ref in zip(pieces, reference):
        assert len(piece.series) == 2
        _same_result(piece.result, ref)


def test_without_scheduler_same_pieces(files, reference):
    pieces = fd.fit_files(files, CIRCUIT, scheduler=None, **KW)
    for piece, ref in zip(pieces, reference):
        _same_result(piece.result, ref)


def test_files_gathered_into_one_store(client, files, reference, tmp_path):
    out = tmp_path / "out.h5"
    idx = fd.fit_files(files, CIRCUIT, scheduler=client, out=out, run="fit", **KW)
    np.testing.assert_array_equal(idx, np.arange(4))
    with ff.Store(out, "r") as st:
        df = st.params("fit")
        assert len(st) == 4
    want = np.concatenate([r.params for r in reference])
    _same(df[ff.Circuit(CIRCUIT).param_names].to_numpy(), want, "stored params")
    # resume: everything is done, nothing is submitted again
    again = fd.fit_files(files, CIRCUIT, scheduler=client, out=out, run="fit", **KW)
    assert again.size == 0


def test_large_store_by_chunks(client, synthetic, tmp_path):
    path = tmp_path / "big.h5"
    with ff.Store(path, "w") as st:
        st.append_spectra(synthetic)
    seen = []
    idx = fd.fit_store(path, CIRCUIT, scheduler=client, chunk=3, run="fit",
                       progress=lambda d, t: seen.append(d), **KW)
    np.testing.assert_array_equal(idx, np.arange(8))
    assert seen == [3, 6, 8]
    ref = ff.fit(synthetic, circuit=CIRCUIT, **KW)          # one call, all 8 spectra
    with ff.Store(path, "r") as st:
        assert len(st) == 8                                  # written back, not duplicated
        res = st.results("fit")
    np.testing.assert_array_equal(res["spectrum"], np.arange(8))
    _same(res["params"], ref.params, "params")
    _same(res["chi2"], ref.chi2, "chi2")
    np.testing.assert_array_equal(res["status"], ref.status)


def test_bad_inputs(files, tmp_path):
    with pytest.raises(DataError, match="scheduler"):
        fd.fit_files(files, CIRCUIT, scheduler=42)
    with pytest.raises(DataError, match="no such file"):
        fd.fit_files([str(tmp_path / "missing.mpr")], CIRCUIT)
    with pytest.raises(DataError, match="no input"):
        fd.fit_files([], CIRCUIT)
    with pytest.raises(DataError, match="mask"):
        fd.fit_files(files, CIRCUIT, mask=np.ones(59, bool))
    with pytest.raises(DataError, match="indices"):      # only for the output store alone
        fd.fit_files(files, CIRCUIT, out=tmp_path / "o.h5", indices=[0, 1])
