"""Readers on synthetic files with a known truth: multi-loop EC-Lab exports written here,
sweep-restart splitting, decimal commas, GEIS metadata, table options, and .mpr files
from `fastfit.io._writers` cross-read by galvani (test-only reference)."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.errors import DataError, FileFormatError
from fastfit.io import _writers
from fastfit.synthetic import paper_rcpe2


def _ecl_mpt(rows, *, comma=False, technique="Potentio Electrochemical Impedance Spectroscopy",
             extra_settings=()):
    """A minimal EC-Lab .mpt written line by line (independent of fastfit's writer)."""
    header = ["EC-Lab ASCII FILE", "Nb header lines : {n}", "", technique, "",
              "Acquisition started on : 01/02/2024 13:14:15.500",
              "Device : SP-150 (SN 42)", "Electrode surface area : 1.5 cm\xb2",
              "Mode                Single sine         ", *extra_settings, ""]
    cols = "freq/Hz\tRe(Z)/Ohm\t-Im(Z)/Ohm\ttime/s\t<Ewe>/V\t<I>/mA\tcycle number\t"
    header[1] = header[1].format(n=len(header) + 1)
    out = header + [cols]
    for r in rows:
        s = "\t".join(f"{v:.7E}" for v in r)
        out.append(s.replace(".", ",") if comma else s)
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


def _loops(n_loops, f, seed=0, last_points=None):
    rng = np.random.default_rng(seed)
    rows, truth, t = [], [], 10.0
    for k in range(n_loops):
        fk = f if (last_points is None or k < n_loops - 1) else f[:last_points]
        z = (rng.uniform(10, 100) + 1j * 0) + rng.uniform(50, 500) / (1 + 1j * fk / rng.uniform(10, 1e3))
        for fi, zi in zip(fk, z):
            rows.append([fi, zi.real, -zi.imag, t, 0.5 + 0.01 * k, -2.0 + k, k + 1])
            t += 1.25
        truth.append((fk, z))
    return rows, truth


@pytest.mark.parametrize("comma", [False, True])
def test_multi_loop_mpt_is_split_by_cycle(tmp_path, comma):
    f = np.logspace(5, -1, 25)
    rows, truth = _loops(4, f, last_points=11)                 # trailing loop cut short
    p = tmp_path / "loops.mpt"
    p.write_bytes(_ecl_mpt(rows, comma=comma,
                           extra_settings=["E (V)               0.2500              ",
                                           "vs.                 Eoc                 ",
                                           "Va (mV)             5.0                 "]))
    s = ff.read(p)
    assert len(s) == 4 and s.n_points.tolist() == [25, 25, 25, 11]
    assert s.meta["partial"] == [3]
    assert s.info["cycle"].tolist() == [1, 2, 3, 4] and s.info["loop"].tolist() == [1, 2, 3, 4]
    for i, (fk, zk) in enumerate(truth):
        np.testing.assert_allclose(s.freq[i, :fk.size], fk, rtol=1e-7)
        np.testing.assert_allclose(s.Z[i, :fk.size], zk, rtol=2e-7)
        assert np.all(s.freq[i, fk.size:] == s.freq[i, fk.size - 1])   # padding repeats it
        assert not s.mask[i, fk.size:].any() and s.mask[i, :fk.size].all()
    t = np.array([r[3] for r in rows])
    np.testing.assert_allclose(s.time, t[[0, 25, 50, 75]], rtol=1e-7)
    np.testing.assert_allclose(s.time_end, t[[24, 49, 74, 85]], rtol=1e-7)
    np.testing.assert_allclose(s.points["I"][:, 0], [-2e-3, -1e-3, 0.0, 1e-3], atol=1e-12)
    np.testing.assert_allclose(s.info["E_dc"], [0.5, 0.51, 0.52, 0.53], rtol=1e-7)
    assert s.meta["t0"] == "2024-01-02T13:14:15.500000"
    assert s.meta["instrument"] == "BioLogic SP-150" and s.meta["area_cm2"] == 1.5
    assert s.meta["dc_potential_V"] == 0.25 and s.meta["dc_potential_vs"] == "Eoc"
    assert s.meta["ac_amplitude_V"] == pytest.approx(0.005)


def test_sweep_restarts_split_without_loop_column(tmp_path):
    f = np.logspace(4, 0, 9)
    rows, truth = _loops(3, f)
    for r in rows:
        r[6] = 1                                               # constant cycle number
    p = tmp_path / "restarts.mpt"
    p.write_bytes(_ecl_mpt(rows))
    s = ff.read(p)
    assert s.n_points.tolist() == [9, 9, 9] and s.meta["partial"] == []
    assert ff.read(p, split="loop").n_points.tolist() == [27]


def test_direction_reversal_splits(tmp_path):
    f = np.logspace(3, 0, 7)
    fz = np.concatenate([f, f[::-1], f])                       # down, up, down
    z = 10 - 5j * np.ones(fz.size)
    p = tmp_path / "updown.csv"
    p.write_text("freq,Zre,Zim\n" + "".join(f"{a},{b.real},{b.imag}\n" for a, b in zip(fz, z)))
    s = ff.read(p)
    assert s.n_points.tolist() == [7, 7, 7]
    np.testing.assert_allclose(s.freq[1], f[::-1])


def test_small_step_back_is_not_a_restart(tmp_path):
    f = np.logspace(4, 0, 9)
    f[5] = f[4] * 1.05                                         # one point slightly out of order
    p = tmp_path / "glitch.csv"
    p.write_text("freq,Zre,Zim\n" + "".join(f"{a},1.0,-1.0\n" for a in np.r_[f, f]))
    assert ff.read(p).n_points.tolist() == [9, 9]


def test_geis_mpt_metadata_and_points(tmp_path):
    f, Z, _ = paper_rcpe2(2, seed=3)
    n = 2 * f.size
    ewe = np.linspace(3.0, 3.1, n)
    cur = np.full(n, 1e-3)
    p = _writers.write_mpt(tmp_path / "geis.mpt", [f, f], list(Z), technique="GEIS", Ewe=ewe, I=cur)
    s = ff.read(p)
    assert s.meta["technique"] == "GEIS"
    assert s.meta["dc_current_A"] == pytest.approx(1e-3)
    assert s.meta["ac_amplitude_A"] == pytest.approx(100e-6)
    np.testing.assert_allclose(s.points["Ewe"].ravel(), ewe, rtol=1e-7)
    np.testing.assert_allclose(s.points["I"].ravel(), cur, rtol=1e-7)
    np.testing.assert_allclose(s.Z, Z, rtol=2e-7)


@pytest.mark.parametrize("loop_module", [False, True])
def test_synthetic_mpr_against_galvani(tmp_path, loop_module):
    from galvani import BioLogic
    f, Z, _ = paper_rcpe2(20, seed=5)
    fl = [f] * 19 + [f[:40]]
    zl = list(Z[:19]) + [Z[19, :40]]
    p = _writers.write_mpr(tmp_path / "syn.mpr", fl, zl, loop_module=loop_module)
    s = ff.read(p)
    with open(p, "rb") as fh:
        ref = BioLogic.MPRfile(fh)
    d = ref.data
    assert len(s) == len(np.unique(d["cycle number"])) == 20
    if loop_module:
        assert s.meta["loop_starts"] == ref.loop_index.tolist()
        assert s.info["loop"].tolist() == list(range(20))
    np.testing.assert_allclose(s.freq[s.mask], d["freq/Hz"], rtol=1e-6)
    np.testing.assert_allclose(s.Z[s.mask], d["Re(Z)/Ohm"] - 1j * d["-Im(Z)/Ohm"], rtol=1e-6)
    np.testing.assert_allclose(s.Z[:19], Z[:19], rtol=2e-7)    # float32 storage
    assert s.meta["partial"] == [19] and s.meta["t0"] == ref.timestamp.isoformat()
    assert s.meta["area_cm2"] == 0.5 and s.meta["ac_amplitude_V"] == pytest.approx(0.01)


def test_mpr_size_mismatch_is_reported(tmp_path):
    f, Z, _ = paper_rcpe2(2, seed=1)
    p = _writers.write_mpr(tmp_path / "x.mpr", [f, f], list(Z))
    b = bytearray(p.read_bytes())
    k = b.index(b"MODULEVMP data") + 6 + 59
    b[k] += 1                                                  # one point more than stored
    p.write_bytes(bytes(b))
    with pytest.raises(FileFormatError, match=r"byte \d+: 'VMP data' module: 119 points"):
        ff.read(p)


def test_table_column_map_and_options(tmp_path):
    f = np.logspace(3, -1, 12)
    z = 5 + 20 / (1 + 1j * f / 10)
    p = tmp_path / "custom.txt"
    rows = [f"{-b.imag};{b.real};{a}".replace(".", ",") for a, b in zip(f, z)]
    p.write_text("A;B;C\n" + "\n".join(rows) + "\n")
    with pytest.raises(FileFormatError, match="no frequency column"):
        ff.read(p)
    s = ff.read(p, columns={"freq": "C", "re": 1, "im": "A"}, imag_sign=-1)
    np.testing.assert_allclose(s.freq[0], f)
    np.testing.assert_allclose(s.Z[0], z)
    with pytest.raises(DataError, match="not a column label"):
        ff.read(p, columns={"freq": "D"})
    with pytest.raises(DataError, match="imag_sign"):
        ff.read(p, imag_sign=2)
    with pytest.raises(DataError, match="split"):
        ff.read(p, columns={"freq": 2, "re": 1, "im": 0}, split="bogus")


def test_headerless_table_and_trailing_text(tmp_path):
    p = tmp_path / "plain.dat"
    p.write_text("1000 1.0 -0.5\n100 2.0 -1.0\n10 3.0 -1.5\n")
    s = ff.read(p)
    np.testing.assert_allclose(s.Z[0], [1 - 0.5j, 2 - 1j, 3 - 1.5j])
    p.write_text("1000 1.0 -0.5\n100 2.0 -1.0\n10 3.0 -1.5\nthe end\n")
    with pytest.raises(FileFormatError, match=r"line 4: row has 2 values, expected 3"):
        ff.read(p)


def test_large_block_parser_paths_agree(tmp_path, monkeypatch):
    """Blocks over 1 MiB go through pandas' C parser; the numpy path must give the same
    numbers, and errors must still name the line."""
    from fastfit.io import _text
    f, Z, _ = paper_rcpe2(150, seed=2)
    p = _writers.write_mpt(tmp_path / "big.mpt", [f] * 150, list(Z))
    assert p.stat().st_size > _text._PANDAS_MIN_BYTES
    used = []
    real = _text._pandas_floats
    monkeypatch.setattr(_text, "_pandas_floats", lambda *a, **k: used.append(1) or real(*a, **k))
    fast = ff.read(p)
    assert used == [1]
    monkeypatch.setattr(_text, "_PANDAS_MIN_BYTES", 1 << 60)
    slow = ff.read(p)
    assert len(fast) == 150 and np.array_equal(fast.Z, slow.Z)
    assert np.array_equal(fast.points["t"], slow.points["t"])
    monkeypatch.undo()
    lines = p.read_bytes().split(b"\r\n")
    nb = int(lines[1].split(b":")[1])
    lines[nb + 5000] = lines[nb + 5000].replace(b"E+", b"X+", 1)
    p.write_bytes(b"\r\n".join(lines))
    with pytest.raises(FileFormatError, match=rf"line {nb + 5001}: non-numeric value"):
        ff.read(p)


def _v1_module(short, data, version, date=b"02/03/18"):
    import struct
    return (b"MODULE" + short.encode().ljust(10) + short.encode().ljust(25)
            + struct.pack("<II", len(data), version) + date + data)


def test_old_layout_mpr_single_byte_column_ids(tmp_path):
    """EC-Lab < 10 layout: module header without the 0xFFFFFFFF field, data module
    version 0 with one-byte column ids and records at byte 100 (read by galvani too)."""
    import struct

    from galvani import BioLogic
    f = np.logspace(4, -1, 30)
    z = 10 + 100 / (1 + 1j * f / 50)
    rec = np.zeros(f.size, [("f", "<f4"), ("re", "<f4"), ("nim", "<f4"), ("t", "<f8"),
                            ("c", "<f8")])
    rec["f"], rec["re"], rec["nim"], rec["t"], rec["c"] = f, z.real, -z.imag, np.arange(30.0), 1
    ids = bytes([32, 37, 38, 4, 24])
    head = struct.pack("<IB", f.size, len(ids)) + ids
    data = head.ljust(100, b"\x00") + rec.tobytes()
    settings = bytearray(1880)
    settings[0] = 0x1E                                          # GEIS
    p = tmp_path / "old.mpr"
    p.write_bytes(b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00" * 4
                  + _v1_module("VMP Set", bytes(settings), 0) + _v1_module("VMP data", data, 0))
    s = ff.read(p)
    with open(p, "rb") as fh:
        ref = BioLogic.MPRfile(fh).data
    np.testing.assert_allclose(s.freq[0], ref["freq/Hz"], rtol=1e-6)
    np.testing.assert_allclose(s.Z[0], ref["Re(Z)/Ohm"] - 1j * ref["-Im(Z)/Ohm"], rtol=1e-6)
    np.testing.assert_allclose(s.Z[0], z, rtol=2e-7)
    assert s.meta["technique"] == "GEIS" and s.meta["t0"] is None
