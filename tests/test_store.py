"""fastfit.Store: roundtrips, resume bookkeeping, errors, plain-HDF5 layout."""
from __future__ import annotations

import json
import types

import h5py
import numpy as np
import pytest

from fastfit.errors import StoreError
from fastfit.series import SpectrumSeries
from fastfit.store import SCHEMA_VERSION, Store
from fastfit.store._h5file import clear_status_flags, lookup3

CIRCUIT = "R0-p(R1,CPE1)-p(R2,CPE2)"
NAMES = ["R0", "R1", "CPE1_Q", "CPE1_n", "R2", "CPE2_Q", "CPE2_n"]


def ragged_series(rng, n=5, source="cell.mpr", t0="2024-03-01T10:00:00", F=(12, 9)):
    spectra, info_T = [], []
    for i in range(n):
        k = F[i % len(F)]
        f = np.logspace(5, -1, k)
        spectra.append((f, (10 + i) / (1 + 1j * f / 1e3) + rng.normal(size=k) * 1e-3))
        info_T.append(298.0 + i)
    pts = [{"Ewe": np.full(len(f), 3.0 + i)} for i, (f, _) in enumerate(spectra)]
    s = SpectrumSeries.from_spectra(
        spectra, time=np.arange(n) * 100.0, points=pts,
        meta={"source": source, "format": "biologic-mpr", "technique": "PEIS", "t0": t0,
              "area_cm2": 0.5},
        info={"index": np.arange(n), "loop": np.arange(n), "T_K": np.array(info_T),
              "label": [f"s{i}" for i in range(n)]})
    return s


def fake_fit(B, P=7, seed=0):
    rng = np.random.default_rng(seed)
    params = rng.uniform(0.5, 2.0, (B, P))
    return types.SimpleNamespace(
        params=params, stderr=params * 0.01, chi2=rng.uniform(size=B), chi2_red=rng.uniform(size=B),
        status=np.ones(B, int), n_iter=np.full(B, 7), n_points=np.full(B, 40),
        param_names=NAMES[:P], units=["ohm"] * P, fixed=np.zeros(P, bool), weight="modulus")


def test_spectra_roundtrip_ragged_info_points(tmp_path, rng):
    s = ragged_series(rng)
    path = tmp_path / "a.h5"
    with Store(path) as st:
        idx = st.append_spectra(s)
        assert idx.tolist() == [0, 1, 2, 3, 4] and len(st) == 5
    with Store(path, "r") as st:
        assert len(st) == 5
        back = st.spectra()
    assert back.Z.shape == s.Z.shape
    np.testing.assert_array_equal(back.mask, s.mask)
    np.testing.assert_array_equal(back.freq, s.freq)
    np.testing.assert_array_equal(back.Z, s.Z)
    np.testing.assert_array_equal(back.time, s.time)
    np.testing.assert_array_equal(back.points["Ewe"], s.points["Ewe"])
    np.testing.assert_array_equal(back.info["loop"], np.arange(5))
    np.testing.assert_array_equal(back.info["T_K"], s.info["T_K"])
    assert list(back.info["label"]) == [f"s{i}" for i in range(5)]
    assert back.meta["technique"] == "PEIS" and back.meta["format"] == "biologic-mpr"
    assert back.meta["t0"] == "2024-03-01T10:00:00" and back.meta["area_cm2"] == 0.5
    # a selection is padded only to its own widest spectrum
    one = Store(path, "r").spectra([1])
    assert one.Z.shape == (1, 9) and one.info["store_index"].tolist() == [1]


def test_reingest_is_noop_and_partial_overlap(tmp_path, rng):
    s = ragged_series(rng, n=4)
    with Store(tmp_path / "b.h5") as st:
        first = st.append_spectra(s)
        again = st.append_spectra(s)
        np.testing.assert_array_equal(first, again)
        assert len(st) == 4
        bigger = ragged_series(np.random.default_rng(12345), n=6)   # first 4 identical
        idx = st.append_spectra(bigger)
        assert idx.tolist() == [0, 1, 2, 3, 4, 5] and len(st) == 6
        # the same data at another position of its source is a different spectrum
        moved = s[np.array([0])]
        moved.info["index"] = np.array([7])
        assert st.append_spectra(moved).tolist() == [6]


def test_width_growth_and_common_clock(tmp_path, rng):
    a = ragged_series(rng, n=2, F=(6,), source="a.mpr", t0="2024-03-01T10:00:00")
    b = ragged_series(rng, n=2, F=(15,), source="b.mpr", t0="2024-03-01T11:00:00")
    with Store(tmp_path / "c.h5") as st:
        st.append_spectra(b)
        st.append_spectra(a)
        s = st.spectra()
        assert s.Z.shape == (4, 15)
        assert s.mask.sum(axis=1).tolist() == [15, 15, 6, 6]
        np.testing.assert_array_equal(s.freq[2, 6:], s.freq[2, 5])   # padding repeats
        np.testing.assert_allclose(s.time, [3600, 3700, 0, 100])   # origin: earliest t0
        assert s.meta["t0"] == "2024-03-01T10:00:00"
        assert [s.meta["sources"][k] for k in s.info["source_id"]] == ["b.mpr", "b.mpr", "a.mpr", "a.mpr"]


def test_params_dataframe_columns_and_values(tmp_path, rng):
    s = ragged_series(rng, n=6)
    r = fake_fit(6)
    with Store(tmp_path / "d.h5") as st:
        idx = st.append_spectra(s)
        half = types.SimpleNamespace(**{k: (v[:3] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == 6 else v)
                                        for k, v in vars(r).items()})
        st.write_fit("fit", idx[:3], half, CIRCUIT, {"weight": "modulus", "area_cm2": 0.5})
        assert st.done("fit").tolist() == [0, 1, 2]
        rest = types.SimpleNamespace(**{k: (v[3:] if isinstance(v, np.ndarray) and v.ndim and v.shape[0] == 6 else v)
                                        for k, v in vars(r).items()})
        st.write_fit("fit", idx[3:], rest, CIRCUIT, {"weight": "modulus", "area_cm2": 0.5})
        df = st.params("fit")
        assert list(df.columns) == NAMES + [f"{n}_stderr" for n in NAMES] + ["chi2", "status", "time"]
        assert df.index.name == "spectrum" and df.index.tolist() == list(range(6))
        np.testing.assert_array_equal(df[NAMES].to_numpy(), r.params)
        np.testing.assert_array_equal(df["CPE1_Q_stderr"], r.stderr[:, 2])
        np.testing.assert_array_equal(df["chi2"], r.chi2)
        np.testing.assert_array_equal(df["time"], s.time)
        info = st.run_info("fit")
        assert info["circuit"] == CIRCUIT and info["options"]["area_cm2"] == 0.5
        assert info["kind"] == "fit" and info["param_names"] == NAMES and info["n_fit"] == 6
        area = st.params("fit", area_specific=True)
        np.testing.assert_allclose(area["R1"], r.params[:, 1] * 0.5)
        np.testing.assert_allclose(area["CPE1_Q"], r.params[:, 2] / 0.5)
        np.testing.assert_array_equal(area["CPE1_n"], r.params[:, 3])
        # a later write for the same spectrum supersedes; no duplicate rows
        one = fake_fit(1, seed=9)
        st.write_fit("fit", [2], one, CIRCUIT, {"weight": "modulus", "area_cm2": 0.5})
        df = st.params("fit")
        assert len(df) == 6
        np.testing.assert_array_equal(df.loc[2, NAMES].to_numpy(float), one.params[0])
        assert st.runs() == ["fit"]


def test_results_of_some_spectra_and_columns(tmp_path, rng):
    """``results(spectra=, columns=)`` (quick looks at large stores, e.g. the dashboard)
    read the latest rows of just those spectra and columns."""
    s = ragged_series(rng, n=6)
    r, again = fake_fit(6), fake_fit(1, seed=9)
    with Store(tmp_path / "d.h5") as st:
        idx = st.append_spectra(s)
        st.write_fit("fit", idx, r, CIRCUIT, {})
        st.write_fit("fit", [1], again, CIRCUIT, {})          # row 6 supersedes row 1
        full = st.results("fit")
        some = st.results("fit", spectra=[5, 1, 9], columns=["params", "status"])
        assert set(some) == {"spectrum", "params", "status"}
        assert some["spectrum"].tolist() == [1, 5]           # 9 has no result
        np.testing.assert_array_equal(some["params"], [again.params[0], r.params[5]])
        np.testing.assert_array_equal(some["status"], full["status"][[1, 5]])
        assert st.results("fit", spectra=[])["spectrum"].size == 0
        assert list(st.results("fit", "kk", columns=["valid"])) == ["spectrum", "valid"]
        with pytest.raises(StoreError, match="no column 'nope'"):
            st.results("fit", columns=["nope"])


def test_kk_and_drt_tables(tmp_path, rng):
    s = ragged_series(rng, n=3)
    F = s.Z.shape[1]
    kk = types.SimpleNamespace(M=np.array([3, 4, 5]), mu=np.array([0.1, 0.2, 0.3]),
                               pseudo_chi2=np.array([1e-5, 2e-5, 3e-5]),
                               valid=np.array([True, False, True]), mask=s.mask.copy())
    tau = np.logspace(-6, 1, 8)
    drt = types.SimpleNamespace(tau=tau, gamma=rng.uniform(size=(3, 8)), R_inf=np.ones(3),
                                L=np.zeros(3), lam=np.full(3, 1e-3), status=np.ones(3, int))
    with Store(tmp_path / "f.h5") as st:
        idx = st.append_spectra(s)
        st.write_fit("fit", idx, fake_fit(3), CIRCUIT, {}, kk=kk, drt=drt)
        st.write_kk("kk-only", idx[::-1], types.SimpleNamespace(**{
            k: v[::-1] for k, v in vars(kk).items()}))
        k = st.results("fit", "kk")
        assert k["spectrum"].tolist() == [0, 1, 2] and k["M"].tolist() == [3, 4, 5]
        assert k["valid"].tolist() == [True, False, True] and k["mask"].shape == (3, F)
        np.testing.assert_array_equal(k["mask"], s.mask)
        d = st.results("fit", "drt")
        np.testing.assert_array_equal(d["tau"][1], tau)
        np.testing.assert_array_equal(d["gamma"], drt.gamma)
        k2 = st.results("kk-only")
        np.testing.assert_array_equal(k2["mu"], kk.mu)
        assert st.run_info("kk-only")["kind"] == "kk"
        assert st.done("kk-only").tolist() == [0, 1, 2]
        assert st.runs() == ["fit", "kk-only"]


def test_one_spectrum_appends_do_not_bloat_the_file(tmp_path):
    """A live stream appends one spectrum (and its fit) at a time.  SWMR writing never
    reuses freed file space, so compressed chunks, which move whenever an append grows
    them, left a dead copy per append: 300 single appends made a 41 MB file for 0.3 MB
    of impedance data.  The file must stay close to what one bulk append writes."""
    rng = np.random.default_rng(5)
    s = ragged_series(rng, n=150, F=(71,))
    fit = fake_fit(150)
    one, bulk = tmp_path / "one.h5", tmp_path / "bulk.h5"
    with Store(bulk) as st:
        st.write_fit("fit", st.append_spectra(s), fit, CIRCUIT)
    with Store(one) as st:
        for i in range(150):
            idx = st.append_spectra(s[i:i + 1])
            st.write_fit("fit", idx, fake_fit(1, seed=i), CIRCUIT)
    assert one.stat().st_size < 1.5 * bulk.stat().st_size, (one.stat().st_size,
                                                            bulk.stat().st_size)


def test_stores_with_compressed_columns_still_append(tmp_path, rng):
    """Stores written before the columns lost their compression filter (gzip + shuffle,
    rewritten here into that layout) are read and appended to as they are."""
    path = tmp_path / "old.h5"
    first = ragged_series(rng, n=4)
    with Store(path) as st:
        st.write_fit("fit", st.append_spectra(first), fake_fit(4), CIRCUIT)
    with h5py.File(path, "r+", libver="v110") as f:
        for tab in ("spectra", "runs/fit/fit"):
            for name, ds in list(f[tab].items()):
                if name == "committed" or not isinstance(ds, h5py.Dataset):
                    continue
                data, attrs = ds[...], dict(ds.attrs)
                kw = dict(fillvalue=ds.fillvalue) if ds.fillvalue is not None else {}
                maxshape, chunks, dtype = ds.maxshape, ds.chunks, ds.dtype
                del f[tab][name]
                new = f[tab].create_dataset(name, data=data, maxshape=maxshape, chunks=chunks,
                                            dtype=dtype, compression="gzip",
                                            compression_opts=4, shuffle=True, **kw)
                new.attrs.update(attrs)
        assert f["spectra/freq"].compression == "gzip"
    second = ragged_series(np.random.default_rng(9), n=3, source="other.mpr")
    with Store(path) as st:
        idx = st.append_spectra(second)
        st.write_fit("fit", idx, fake_fit(3, seed=1), CIRCUIT)
        assert idx.tolist() == [4, 5, 6]
    with Store(path, "r") as st:
        back = st.spectra()
        res = st.results("fit")
    np.testing.assert_array_equal(back.Z[:4, :first.Z.shape[1]], first.Z)
    np.testing.assert_array_equal(back.Z[4:, :second.Z.shape[1]], second.Z)
    assert len(res["params"]) == 7
    np.testing.assert_array_equal(res["params"][4:], fake_fit(3, seed=1).params)
    with h5py.File(path, "r") as f:
        assert f["spectra/freq"].compression == "gzip"      # the old columns kept as they are


def test_plain_hdf5_layout(tmp_path, rng):
    path = tmp_path / "g.h5"
    with Store(path) as st:
        idx = st.append_spectra(ragged_series(rng, n=3))
        st.write_fit("fit", idx, fake_fit(3), CIRCUIT, {"weight": "modulus"})
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "fastfit-store" and f.attrs["schema_version"] == SCHEMA_VERSION
        assert f["spectra/committed"][0] == 3
        assert f["spectra/freq"].dtype == np.float64 and f["spectra/z_real"].shape[0] == 3
        # chunked, no compression filter (see the next test and store/_table.py)
        assert f["spectra/freq"].compression is None and f["spectra/freq"].chunks is not None
        assert f["runs/fit/fit/params"].shape == (3, 7)
        assert json.loads(f["runs/fit"].attrs["param_names"]) == NAMES

        def no_objects(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype.kind in "fiuS" or h5py.check_string_dtype(obj.dtype), name
        f.visititems(no_objects)


def test_errors_name_the_file(tmp_path, rng):
    missing = tmp_path / "missing.h5"
    with pytest.raises(StoreError, match="missing.h5"):
        Store(missing, "r")
    with pytest.raises(StoreError, match="mode"):
        Store(tmp_path / "x.h5", "q")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2]
    with pytest.raises(StoreError, match="not a fastfit store"):
        Store(other, "a")
    text = tmp_path / "t.h5"
    text.write_text("hello")
    with pytest.raises(StoreError, match="t.h5"):
        Store(text, "r")
    path = tmp_path / "h.h5"
    st = Store(path)
    idx = st.append_spectra(ragged_series(rng, n=2))
    st.write_fit("fit", idx, fake_fit(2), CIRCUIT, {"weight": "modulus"})
    with pytest.raises(StoreError, match="circuit"):
        st.write_fit("fit", idx, fake_fit(2, P=3), "R0-p(R1,C1)", {"weight": "modulus"})
    with pytest.raises(StoreError, match="options"):
        st.write_fit("fit", idx, fake_fit(2), CIRCUIT, {"weight": "unit"})
    with pytest.raises(StoreError, match="out of range"):
        st.write_fit("fit", [0, 5], fake_fit(2), CIRCUIT)
    with pytest.raises(StoreError, match="2 spectrum indices for 3"):
        st.write_fit("fit2", idx, fake_fit(3), CIRCUIT)
    with pytest.raises(StoreError, match="no run named 'nope'"):
        st.params("nope")
    with pytest.raises(StoreError, match="another process"):
        Store(path, "a")
    with pytest.raises(StoreError, match="read-only"):
        Store(path, "r").append_spectra(ragged_series(rng, n=1))
    st.close()
    with pytest.raises(StoreError, match="closed"):
        len(st)
    with Store(path, "a") as again:                  # the lock was released on close
        assert len(again) == 2
    assert not (tmp_path / "h.h5.lock").exists()


def test_lookup3_matches_hdf5_superblock_checksum(tmp_path):
    path = tmp_path / "sb.h5"
    with h5py.File(path, "w", libver="v110") as f:
        f["x"] = np.arange(3)
    raw = path.read_bytes()[:48]
    assert raw[8] == 3                                # superblock version 3
    assert lookup3(raw[:44]) == int.from_bytes(raw[44:48], "little")
    assert clear_status_flags(path) is False          # clean file: nothing to change


def test_sources_deduplicated_and_unchanged_files_found(tmp_path, rng):
    src = tmp_path / "cell.mpr"
    src.write_bytes(b"x" * 10)
    s = ragged_series(rng, n=6, source=str(src))
    with Store(tmp_path / "s.h5") as st:
        assert st.source_indices(src) is None
        st.append_spectra(s[:3])
        st.append_spectra(s[3:])                    # second piece of the same file
        np.testing.assert_array_equal(st.source_indices(src), np.arange(6))
        series = st.spectra()
        assert series.meta["sources"] == [str(src)] and set(series.info["source_id"]) == {0}
        src.write_bytes(b"y" * 11)                  # the file changed: read it again
        assert st.source_indices(src) is None
        assert st.source_indices(tmp_path / "other.mpr") is None


def test_columns_added_later_read_as_fill_with_their_width(tmp_path, rng):
    """A Z-HIT table written before ``decision``/``tolerance`` existed: the missing
    per-point columns read as NaN with the table's point width, and appending to the old
    table adds them (old rows NaN, new rows their values)."""
    B, F = 4, 9
    res = types.SimpleNamespace(valid=np.array([1, 0, 1, 1], bool), noise=np.full(B, 1e-3),
                                modulus=rng.uniform(1, 2, (B, F)),
                                residuals=rng.normal(0, 1e-3, (B, F)),
                                mask=np.ones((B, F), bool), decision=np.zeros((B, F)),
                                tolerance=np.full((B, F), 0.02))
    path = tmp_path / "z.h5"
    with Store(path, "w") as st:
        st.append_spectra(ragged_series(rng, n=6, F=(F,)))
        st.write_zhit("zhit", np.arange(B), res)
    with h5py.File(path, "a") as h:                   # as written by an older fastfit
        del h["runs/zhit/zhit/decision"], h["runs/zhit/zhit/tolerance"]
    with Store(path, "r") as st:
        d = st.results("zhit")
        assert d["decision"].shape == d["tolerance"].shape == (B, F)
        assert np.isnan(d["decision"]).all()
        np.testing.assert_array_equal(d["residuals"], res.residuals)
    with Store(path, "a") as st:
        st.write_zhit("zhit", np.array([4, 5]),
                      types.SimpleNamespace(**{k: v[:2] for k, v in vars(res).items()}))
        d = st.results("zhit")
    assert np.isnan(d["decision"][:4]).all()
    np.testing.assert_array_equal(d["tolerance"][4:], 0.02)
