"""fastfit.stream pipeline with fits: every source type gives the bulk result.

Acceptance: replaying a real series (pyeis_ex1.mpt, 2 PEIS spectra; the Gamry GEIS file)
through each source type stores exactly the spectra of a bulk read, and fit results equal
to a bulk fit -- bit-identical without warm starts; with warm starts the same optimum
from another starting point (chi2 to 1e-9, parameters to 1e-4 relative).  One circuit
and one spectrum length per file, so the compiled fit programs are shared.
"""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import fastfit as ff
import fastfit.stream as fs
from fastfit.errors import StoreError

CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)"


@pytest.fixture(scope="module")
def ref(data_dir):
    bulk = ff.read(data_dir / "pyeis_ex1.mpt")
    return bulk, ff.fit(bulk, circuit=CIRCUIT)


def _spectra_equal(store, bulk):
    with ff.Store(store, "r") as st:
        s = st.spectra()
    for name in ("freq", "Z", "mask", "time", "time_end"):
        np.testing.assert_array_equal(getattr(s, name), getattr(bulk, name), err_msg=name)
    for k, v in bulk.info.items():
        np.testing.assert_array_equal(s.info[k], v, err_msg=k)
    for k, v in bulk.points.items():
        np.testing.assert_array_equal(s.points[k], v, err_msg=k)


def _fits(store, run="stream"):
    with ff.Store(store, "r") as st:
        info = st.run_info(run)
        r = st.results(run, "fit")
    assert info["n_fit"] == len(r["spectrum"]), "a spectrum was fitted twice"
    return r


def _fits_match(r, res, exact, freq=None, Z=None):
    np.testing.assert_array_equal(r["spectrum"], np.arange(len(res)))
    if exact:
        np.testing.assert_array_equal(r["params"], res.params)
        np.testing.assert_array_equal(r["chi2"], res.chi2)
        np.testing.assert_array_equal(r["status"], res.status)
    else:
        np.testing.assert_allclose(r["chi2"], res.chi2, rtol=1e-9)
        np.testing.assert_allclose(r["params"], res.params, rtol=1e-4)
        np.testing.assert_array_equal(r["status"] > 0, res.ok)


def _source(kind, path, bulk, tmp_path):
    """(source, starter thread or None) of each kind, delivering the file's points."""
    if kind == "iterable":
        return fs.IterableSource(fs.series_points(bulk), meta=bulk.meta,
                                 sweep=bulk.meta.get("sweep")), None
    if kind == "simulator":
        return fs.replay(path, rate=20000), None
    if kind == "file":
        live = tmp_path / ("live" + path.suffix)
        raw = path.read_bytes()

        def write():
            for i in range(0, len(raw), 2000):
                with open(live, "ab") as f:
                    f.write(raw[i:i + 2000])
                time.sleep(0.005)
        return fs.FileSource(live, until_idle=1.0, poll=0.01), threading.Thread(target=write)
    src = fs.SocketSource(0, until_idle=1.0, meta=bulk.meta, sweep=bulk.meta.get("sweep"))
    pts = fs.series_points(bulk)
    return src, threading.Thread(target=lambda: (src.ready.wait(30),
                                                 fs.send_points(pts, src.port, rate=5000)))


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("kind", ["iterable", "simulator", "file", "socket"])
def test_every_source_type_gives_the_bulk_result(data_dir, tmp_path, ref, kind, warm):
    bulk, res = ref
    src, th = _source(kind, data_dir / "pyeis_ex1.mpt", bulk, tmp_path)
    if th is not None:
        th.start()
    seen = []
    summary = fs.run(src, CIRCUIT, tmp_path / "s.h5", warm_start=warm, on_result=seen.append)
    if th is not None:
        th.join()
    assert summary.counts["fitted"] == 2 and summary.n_stored == 2
    assert [r.store_index for r in seen] == [0, 1] and all(r.ok for r in seen)
    _spectra_equal(tmp_path / "s.h5", bulk)
    _fits_match(_fits(tmp_path / "s.h5"), res, exact=not warm)
    np.testing.assert_allclose(np.array([r.params for r in seen]), res.params,
                               rtol=0 if not warm else 1e-4)
    assert all(r.latency >= 0 for r in seen)


@pytest.mark.slow
def test_geis_file_through_socket_and_simulator(data_dir, tmp_path):
    path = data_dir / "hybriddrt_EISGALV_EISTest3.DTA"
    bulk = ff.read(path)
    assert bulk.meta["technique"] == "GEIS"
    circuit = "L0-R0-p(R1,CPE1)"
    res = ff.fit(bulk, circuit=circuit)
    for kind in ("socket", "simulator"):
        src, th = _source(kind, path, bulk, tmp_path)
        if th is not None:
            th.start()
        fs.run(src, circuit, tmp_path / f"{kind}.h5")
        if th is not None:
            th.join()
        _spectra_equal(tmp_path / f"{kind}.h5", bulk)
        _fits_match(_fits(tmp_path / f"{kind}.h5"), res, exact=True)   # 1 spectrum: no warm start


@pytest.mark.slow
def test_kk_drt_aborted_sweep_and_resume(data_dir, tmp_path, ref):
    from fastfit.relaxation import drt

    bulk, _ = ref
    pts = fs.series_points(bulk)
    # spectrum 0, then a sweep aborted after 30 points, then spectrum 1 in full
    stream = pts[:59] + [fs.Point(p.freq, p.Z * 1.01, p.channels, p.groups)
                         for p in pts[59:89]] + pts[59:]
    store = tmp_path / "s.h5"
    kw = dict(kk=0.05, drt={"lam": 1e-3}, warm_start=False)
    summary = fs.run(stream, CIRCUIT, store, **kw)
    assert [r.status for r in summary.results] == ["fitted", "partial", "fitted"]
    assert summary.results[1].n_points == 30
    with ff.Store(store, "r") as st:
        s = st.spectra()
        assert st.done("stream").tolist() == [0, 2]               # the aborted sweep: no fit
        kkr, fr, dr = (st.results("stream", p) for p in ("kk", "fit", "drt"))
    full = s[[0, 2]]
    np.testing.assert_array_equal(full.Z, bulk.Z)
    # bulk reference: the `fastfit fit --kk` recipe, then DRT on the kept points
    k = ff.kk(full.freq, full.Z, mask=full.mask, max_rel_residual=0.05)
    mask = np.asarray(k.mask) & full.mask
    fit = ff.fit(full.freq, full.Z, CIRCUIT, mask=mask)
    # (the DRT tau grid spans the used frequencies of a batch: compare spectrum by spectrum)
    ds = [drt(full.freq[i:i + 1], full.Z[i:i + 1], mask=mask[i:i + 1], lam=1e-3) for i in (0, 1)]
    np.testing.assert_array_equal(kkr["M"], k.M)
    np.testing.assert_allclose(kkr["mu"], k.mu, rtol=1e-12)
    # with per-spectrum KK masks a batch and a single spectrum get different start grids
    # (the tau grid spans the batch's frequencies): same optimum, not the same bits
    np.testing.assert_allclose(fr["chi2"], fit.chi2, rtol=1e-9)
    np.testing.assert_allclose(fr["params"], fit.params, rtol=1e-4)
    for i, d in enumerate(ds):
        np.testing.assert_allclose(dr["tau"][i], np.ravel(d.tau), rtol=1e-12)
        np.testing.assert_allclose(dr["gamma"][i], d.gamma[0], rtol=1e-7,
                                   atol=1e-9 * np.abs(d.gamma).max())
    # same run again: everything resumed, nothing stored or fitted twice
    again = fs.run(stream, CIRCUIT, store, **kw)
    assert [r.status for r in again.results] == ["resumed", "partial", "resumed"]
    with ff.Store(store, "r") as st:
        assert len(st) == 3 and st.run_info("stream")["n_fit"] == 2
    with pytest.raises(StoreError, match="other"):
        fs.run(stream, CIRCUIT, store, kk=0.1)                     # other options: refused


def test_cli_replay_and_resume(data_dir, tmp_path, ref, capsys, monkeypatch):
    from fastfit.stream.cli import stream_command

    monkeypatch.setenv("FASTFIT_CACHE_DIR", str(tmp_path / "jax-cache"))
    bulk, res = ref
    store = str(tmp_path / "c.h5")
    args = [f"replay:{data_dir / 'pyeis_ex1.mpt'}", "-c", CIRCUIT, "--store", store,
            "--no-warm-start"]
    assert stream_command.main(args, standalone_mode=False) == 0
    out = capsys.readouterr()
    assert out.out.count("fitted") == 2 and "2 fitted" in out.err
    assert stream_command.main(args + ["-q"], standalone_mode=False) == 0
    assert "2 resumed" in capsys.readouterr().err
    _spectra_equal(store, bulk)
    _fits_match(_fits(store), res, exact=True)
