"""Readers on the real instrument files in tests/data, checked against independent
references: galvani (GPL, test-only) for BioLogic binaries, impedance.py's
`preprocessing` readers for the text formats, and plain numpy parsing of the raw files."""
from __future__ import annotations

import shutil
import struct

import numpy as np
import pytest

import fastfit as ff
from fastfit.errors import DataError, FileFormatError

# file -> (number of spectra, points per spectrum) from tests/data/README.md (+ counts
# checked by hand where the README gives none)
EXPECTED = {
    "autoeis_test_data.txt": (1, [67]),
    "hybriddrt_EISGALV_EISTest3.DTA": (1, [71]),
    "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.mpr": (1, [79]),
    "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.txt": (1, [79]),
    "hybriddrt_PEIS_LPSCl_IonBlocking_-25C_RelaxIS.txt": (1, [79]),
    "hybriddrt_PEIS_SSB.mpr": (1, [89]),
    "hybriddrt_Sample1_PEIS_EndOfDischarge.mpr": (1, [86]),
    "hybriddrt_Sample2_PEIS_AtRest.csv": (10, [89] * 10),
    "impedancepy_Circuit1_EIS_1.z": (1, [48]),
    "impedancepy_Circuit1_EIS_2.z": (1, [48]),
    "impedancepy_Circuit2_EIS_1.z": (1, [56]),
    "impedancepy_Circuit2_EIS_2.z": (1, [56]),
    "impedancepy_Circuit3_EIS_1.z": (1, [53]),
    "impedancepy_Circuit3_EIS_2.z": (1, [53]),
    "impedancepy_exampleData.csv": (1, [66]),
    "impedancepy_exampleDataAutolab.txt": (1, [41]),
    "impedancepy_exampleDataBioLogic.mpr": (1, [36]),
    "impedancepy_exampleDataBioLogic.mpt": (1, [43]),
    "impedancepy_exampleDataCHInstruments.txt": (1, [73]),
    "impedancepy_exampleDataGamry.DTA": (1, [72]),
    "impedancepy_exampleDataGamryABORT.DTA": (1, [72]),
    "impedancepy_exampleDataIvium.idf": (1, [26]),
    "impedancepy_exampleDataParstat.txt": (1, [31]),
    "impedancepy_exampleDataPowersuite.txt": (1, [30]),
    "impedancepy_exampleDataVersaStudio.par": (1, [61]),
    "impedancepy_exampleDataZPlot.z": (1, [21]),
    "impedancepy_exampleDataZPlot_noComments.z": (1, [31]),
    "pydrttools_LIB_data.txt": (1, [107]),
    "pydrttools_LIB_data_2.txt": (1, [100]),
    "pydrttools_data_1.csv": (1, [107]),
    "pyeis_ex1.mpt": (2, [59, 59]),
    "pyeis_ex2.mpt": (2, [59, 59]),
    "pyeis_ex3.txt": (1, [20]),
    "formats/palmsens_eis_5freq.pssession": (1, [5]),
    "formats/palmsens_eis_3ch_4scan_5freq.pssession": (12, [5] * 12),
    "zahner_rc-data.ism": (1, [55]),
    "zahner_drift.ism": (1, [47]),
}
FORMAT_OF = {".mpr": "biologic_mpr", ".mpt": "biologic_mpt", ".DTA": "gamry", ".z": "zview",
             ".par": "versastudio", ".idf": "ivium", ".pssession": "palmsens",
             ".ism": "zahner_ism"}
NOT_SPECTRA = ["hybriddrt_sample_info.txt", "hybriddrt_webinar_SSB_sample_info.txt"]


def test_inventory_covers_every_file(data_dir):
    names = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file()} - {"README.md"}
    covered = set(EXPECTED) | set(NOT_SPECTRA) | {"impedancepy_exampleDataBioLogic_MissingFreq.mpt"}
    assert names == covered


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_file_reads(data_dir, name):
    s = ff.read(data_dir / name)
    n_spec, n_pts = EXPECTED[name]
    assert len(s) == n_spec
    assert s.n_points.tolist() == n_pts
    assert s.Z.dtype == np.complex128 and s.freq.dtype == np.float64
    assert np.all(s.freq > 0) and np.all(np.isfinite(s.Z))
    assert s.meta["source"] == str(data_dir / name)
    assert s.meta["technique"] in ("PEIS", "GEIS", "unknown")
    for ext, fmt in FORMAT_OF.items():
        if name.endswith(ext):
            assert s.meta["format"] == fmt
    # Z = Z' + jZ'': every file here is a capacitive (battery/electrolyte/RC) spectrum,
    # so most points have Z'' < 0 whatever sign convention the file stores
    assert np.mean(s.Z.imag[s.mask] < 0) > 0.6
    assert np.all(s.time_end >= s.time) or np.all(np.isnan(s.time))


@pytest.mark.parametrize("name", NOT_SPECTRA)
def test_documentation_files_are_rejected(data_dir, name):
    with pytest.raises(FileFormatError, match="not a recognised impedance data file") as e:
        ff.read(data_dir / name)
    assert name in str(e.value) and "tried" in str(e.value)


def test_missing_frequency_column(data_dir):
    with pytest.raises(FileFormatError, match=r"line 61: column 'freq/Hz' not found"):
        ff.read(data_dir / "impedancepy_exampleDataBioLogic_MissingFreq.mpt")


# ------------------------------------------------------------------ BioLogic binary
MPR = ["hybriddrt_PEIS_LPSCl_IonBlocking_-25C.mpr", "hybriddrt_PEIS_SSB.mpr",
       "hybriddrt_Sample1_PEIS_EndOfDischarge.mpr", "impedancepy_exampleDataBioLogic.mpr"]


def galvani_read(path):
    from galvani import BioLogic
    with open(path, "rb") as fh:
        m = BioLogic.MPRfile(fh)
    return m


@pytest.mark.parametrize("name", MPR)
def test_mpr_matches_galvani(data_dir, name):
    ref = galvani_read(data_dir / name)
    d = ref.data
    s = ff.read(data_dir / name)
    m = s.mask
    np.testing.assert_allclose(s.freq[m], d["freq/Hz"], rtol=1e-6)
    np.testing.assert_allclose(s.Z.real[m], d["Re(Z)/Ohm"], rtol=1e-6)
    np.testing.assert_allclose(-s.Z.imag[m], d["-Im(Z)/Ohm"], rtol=1e-6)
    np.testing.assert_allclose(s.points["t"][m], d["time/s"], rtol=1e-6)
    np.testing.assert_allclose(s.points["Ewe"][m], d["<Ewe>/V"], rtol=1e-6)
    np.testing.assert_allclose(s.points["I"][m], d["<I>/mA"] * 1e-3, rtol=1e-6)
    np.testing.assert_allclose(s.points["I_ac"][m], d["|I|/A"], rtol=1e-6)
    assert len(s) == len(np.unique(d["cycle number"]))
    assert s.meta["t0"] == ref.timestamp.isoformat()
    assert s.meta["technique"] == "PEIS"


def test_mpr_agrees_with_its_text_export(data_dir):
    """The LPSCl .mpr and its EC-Lab .txt export: same run (the LOG module and the
    text header name the same #61 file and start time)."""
    b = ff.read(data_dir / "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.mpr")
    t = ff.read(data_dir / "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.txt")
    assert b.Z.shape == t.Z.shape

    def printed(x, digits):          # half a unit in the last printed digit
        return 0.5 * 10.0 ** (np.floor(np.log10(np.abs(x))) - (digits - 1)) * (1 + 1e-9)

    for bx, tx in ((b.freq, t.freq), (b.Z.real, t.Z.real), (b.Z.imag, t.Z.imag),
                   (b.points["Ewe"], t.points["Ewe"]), (b.points["I"], t.points["I"])):
        assert np.all(np.abs(bx - tx) <= printed(tx, 8))
    # time is float64, printed with 16 digits (below double resolution: allow 1e-14)
    np.testing.assert_allclose(b.points["t"], t.points["t"], rtol=1e-14)
    for key in ("t0", "technique", "area_cm2", "dc_potential_V", "ac_amplitude_V", "sweep",
                "device_serial", "software_version"):
        assert b.meta[key] == t.meta[key], key
    assert b.meta["partial"] == t.meta["partial"] == []


def test_mpr_cut_off_sweep_is_reported(data_dir):
    # settings: 1 kHz -> 50 mHz at 9 points/decade; the file stops at 0.109 Hz
    s = ff.read(data_dir / "impedancepy_exampleDataBioLogic.mpr")
    assert s.meta["sweep"] == pytest.approx({"fi": 1000.0, "ff": 0.05, "Nd": 9.0})
    assert s.meta["partial"] == [0]
    assert s.meta["dc_potential_V"] == pytest.approx(0.25)


def _mutated(tmp_path, data_dir, name, edit):
    b = bytearray((data_dir / name).read_bytes())
    b = edit(b)
    p = tmp_path / name
    p.write_bytes(bytes(b))
    return p


def test_mpr_bad_magic(tmp_path, data_dir):
    def edit(b):
        b[0:3] = b"XIO"
        return b
    with pytest.raises(FileFormatError, match=r"byte 0: not a BioLogic"):
        ff.read(_mutated(tmp_path, data_dir, MPR[0], edit))


def test_mpr_truncated(tmp_path, data_dir):
    with pytest.raises(FileFormatError, match=r"byte \d+: module 'VMP data' declares"):
        ff.read(_mutated(tmp_path, data_dir, MPR[0], lambda b: b[:9000]))


def test_mpr_unknown_data_module_version(tmp_path, data_dir):
    name = "impedancepy_exampleDataBioLogic.mpr"      # pre-11.50 header: version at +41

    def edit(b):
        k = b.index(b"MODULEVMP data")
        struct.pack_into("<I", b, k + 6 + 39, 7)
        return b
    with pytest.raises(FileFormatError, match=r"byte \d+: unknown 'VMP data' module version 7"):
        ff.read(_mutated(tmp_path, data_dir, name, edit))


def test_mpr_unknown_column_id_is_skipped(tmp_path, data_dir):
    """An id missing from the table is skipped when the record size leaves its width;
    the other columns read as before and the id is reported."""
    def edit(b):
        k = b.index(b"MODULEVMP data") + 6 + 59        # >= 11.50 header
        struct.pack_into(">H", b, k + 5 + 2 * 3, 999)   # 4th column id (|Z|, 4 bytes)
        return b
    s = ff.read(_mutated(tmp_path, data_dir, MPR[0], edit))
    ref = ff.read(data_dir / MPR[0])
    assert s.meta["unknown_columns"] == [{"id": 999, "column": 4, "offset": 12, "width": 4}]
    assert ref.meta["unknown_columns"] == []
    np.testing.assert_array_equal(s.Z, ref.Z)
    np.testing.assert_array_equal(s.points["t"], ref.points["t"])


def test_mpr_unknown_ids_whose_width_is_undetermined(tmp_path, data_dir):
    def edit(b):
        k = b.index(b"MODULEVMP data") + 6 + 59
        struct.pack_into(">H", b, k + 5 + 2 * 3, 999)   # |Z| (4 bytes) and time (8 bytes):
        struct.pack_into(">H", b, k + 5 + 2 * 5, 998)   # two separate ids, 12 bytes
        return b
    with pytest.raises(FileFormatError, match=r"byte (\d+): unknown column ids 999, 998") as e:
        ff.read(_mutated(tmp_path, data_dir, MPR[0], edit))
    assert e.value.offset == (data_dir / MPR[0]).read_bytes().index(b"MODULEVMP data") + 65 + 11


# ------------------------------------------------------------------ text formats
IMPEDANCEPY = [
    ("impedancepy_exampleDataGamry.DTA", "gamry"), ("impedancepy_exampleDataGamryABORT.DTA", "gamry"),
    ("hybriddrt_EISGALV_EISTest3.DTA", "gamry"), ("impedancepy_exampleDataAutolab.txt", "autolab"),
    ("impedancepy_exampleDataParstat.txt", "parstat"), ("impedancepy_exampleDataZPlot.z", "zplot"),
    ("impedancepy_exampleDataZPlot_noComments.z", "zplot"), ("impedancepy_Circuit2_EIS_1.z", "zplot"),
    ("impedancepy_exampleDataVersaStudio.par", "versastudio"),
    ("impedancepy_exampleDataPowersuite.txt", "powersuite"),
    ("impedancepy_exampleDataBioLogic.mpt", "biologic"), ("pyeis_ex1.mpt", "biologic"),
    ("hybriddrt_PEIS_LPSCl_IonBlocking_-25C.txt", "biologic"),
    ("impedancepy_exampleDataCHInstruments.txt", "chinstruments"),
    ("impedancepy_exampleData.csv", None), ("pydrttools_data_1.csv", None),
]


@pytest.mark.parametrize("name,instrument", IMPEDANCEPY)
def test_text_formats_match_impedancepy(data_dir, name, instrument):
    from impedance import preprocessing
    f_ref, Z_ref = preprocessing.readFile(str(data_dir / name), instrument=instrument)
    s = ff.read(data_dir / name)
    np.testing.assert_allclose(s.freq[s.mask], f_ref, rtol=1e-12)
    np.testing.assert_allclose(s.Z[s.mask], Z_ref, rtol=1e-12)


@pytest.mark.parametrize("name", ["pydrttools_LIB_data.txt", "pydrttools_LIB_data_2.txt",
                                  "impedancepy_exampleDataIvium.idf"])
def test_plain_columns_match_numpy(data_dir, name):
    raw = (data_dir / name).read_bytes()
    if name.endswith(".idf"):
        k = raw.index(b"primary_data")
        rows = raw[k:].split(b"\n")[2:28]
        ref = np.array([[float(x) for x in r.split()] for r in rows])
        f_ref, Z_ref = ref[:, 2], ref[:, 0] + 1j * ref[:, 1]
    else:
        ref = np.loadtxt(data_dir / name)
        f_ref, Z_ref = ref[:, 0], ref[:, 1] + 1j * ref[:, 2]
    s = ff.read(data_dir / name)
    np.testing.assert_allclose(s.freq[0], f_ref, rtol=1e-12)
    np.testing.assert_allclose(s.Z[0], Z_ref, rtol=1e-12)


def test_modulus_phase_table_with_loops(data_dir):
    s = ff.read(data_dir / "hybriddrt_Sample2_PEIS_AtRest.csv")
    raw = np.loadtxt(data_dir / "hybriddrt_Sample2_PEIS_AtRest.csv", delimiter=",", skiprows=1)
    raw = raw[raw[:, 1] > 0]                                   # freq = 0 rows are DC points
    np.testing.assert_allclose(np.abs(s.Z[s.mask]), raw[:, 2], rtol=1e-12)
    np.testing.assert_allclose(np.degrees(np.angle(s.Z[s.mask])), raw[:, 3], rtol=1e-9)
    assert s.info["loop"].tolist() == list(range(10))
    assert s.meta["n_dropped_rows"] == 10
    np.testing.assert_allclose(s.time, raw[::89, 0])
    np.testing.assert_allclose(s.points["I"][s.mask], raw[:, 4])
    assert np.all(np.diff(s.time) > 0)


def test_imaginary_sign_inferred_from_phase(data_dir):
    # PyEIS ex3: Z_img is -Im(Z) (it has the opposite sign of Phase_E)
    raw = np.loadtxt(data_dir / "pyeis_ex3.txt", skiprows=1)
    s = ff.read(data_dir / "pyeis_ex3.txt")
    np.testing.assert_allclose(s.Z[0], raw[:, 3] - 1j * raw[:, 4])
    assert s.meta["imag_sign_from_phase"] is True
    s2 = ff.read(data_dir / "pyeis_ex3.txt", imag_sign=1)
    np.testing.assert_allclose(s2.Z[0], raw[:, 3] + 1j * raw[:, 4])


def test_biologic_multi_cycle_mpt(data_dir):
    s = ff.read(data_dir / "pyeis_ex1.mpt")
    assert s.info["cycle"].tolist() == [1, 2]
    assert s.meta["technique"] == "PEIS" and s.meta["instrument"] == "BioLogic VSP"
    assert s.meta["t0"] is None                                # anonymised "xx/xx/xxxx"
    assert s.meta["dc_potential_V"] == pytest.approx(-1.05)
    assert s.meta["ac_amplitude_V"] == pytest.approx(0.010)
    assert s.time[1] > s.time_end[0] > s.time[0]
    assert ff.read(data_dir / "pyeis_ex1.mpt", split="none").n_points.tolist() == [118]
    assert ff.read(data_dir / "pyeis_ex1.mpt", split="sweep").n_points.tolist() == [59, 59]


def test_gamry_metadata(data_dir):
    p = ff.read(data_dir / "impedancepy_exampleDataGamry.DTA")
    assert p.meta["technique"] == "PEIS" and p.meta["instrument"] == "Gamry REF3000-34128"
    assert p.meta["t0"] == "2018-04-23T16:43:15"
    assert p.meta["dc_potential_V"] == pytest.approx(-0.05)
    assert p.meta["ac_amplitude_V"] == pytest.approx(0.010) and p.meta["ac_amplitude_rms"]
    assert p.meta["area_cm2"] == 1.0 and p.meta["partial"] == []
    a = ff.read(data_dir / "impedancepy_exampleDataGamryABORT.DTA")
    assert a.meta["aborted"] is True and a.meta["partial"] == [0]
    g = ff.read(data_dir / "hybriddrt_EISGALV_EISTest3.DTA")
    assert g.meta["technique"] == "GEIS"
    raw = [ln.split("\t") for ln in (data_dir / "hybriddrt_EISGALV_EISTest3.DTA")
           .read_text("latin-1").splitlines()[10:]]
    np.testing.assert_allclose(g.points["I"][0], [float(r[9]) for r in raw])
    np.testing.assert_allclose(g.points["Ewe"][0], [float(r[10]) for r in raw])
    assert g.info["I_dc"][0] == pytest.approx(np.mean([float(r[9]) for r in raw]))


def test_zview_announced_points(data_dir):
    # both files announce more points than they hold: the sweep was stopped early
    assert ff.read(data_dir / "impedancepy_exampleDataZPlot.z").meta["partial"] == [0]
    z = ff.read(data_dir / "impedancepy_exampleDataZPlot_noComments.z")
    assert z.meta["partial"] == [0] and z.meta["ac_amplitude_V"] == pytest.approx(0.01)
    c = ff.read(data_dir / "impedancepy_Circuit1_EIS_1.z")
    assert c.meta["partial"] == [] and c.meta["t0"] == "2018-10-12T12:32:21"


# ------------------------------------------------------------------ detection
def test_detection_by_content_not_extension(tmp_path, data_dir):
    for name, fmt in (("hybriddrt_PEIS_SSB.mpr", "biologic_mpr"),
                      ("impedancepy_exampleDataGamry.DTA", "gamry"),
                      ("pyeis_ex1.mpt", "biologic_mpt"),
                      ("impedancepy_Circuit1_EIS_1.z", "zview")):
        p = tmp_path / ("renamed_" + name.replace(".", "_") + ".dat")
        shutil.copy(data_dir / name, p)
        assert ff.io.detect(p).name == fmt
        assert ff.read(p).meta["format"] == fmt


def test_explicit_format_beats_guessing(data_dir):
    p = data_dir / "hybriddrt_PEIS_LPSCl_IonBlocking_-25C.txt"
    as_table = ff.read(p, format="table")
    assert as_table.meta["format"] == "table"
    np.testing.assert_allclose(as_table.Z, ff.read(p).Z)      # '-Im(Z)/Ohm' negated by name
    with pytest.raises(FileFormatError):
        ff.read(data_dir / "hybriddrt_PEIS_SSB.mpr", format="mpt")
    with pytest.raises(DataError, match="unknown format 'nope'"):
        ff.read(p, format="nope")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        ff.read(tmp_path / "absent.mpr")
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(FileFormatError, match="empty file"):
        ff.read(tmp_path / "empty.csv")


def test_garbage_row_names_the_line(tmp_path, data_dir):
    lines = (data_dir / "pyeis_ex1.mpt").read_bytes().split(b"\r\n")
    lines[100] = b"\t".join([b"1.0"] * 9 + [b"oops"] + [b"2.0"] * 8)
    p = tmp_path / "bad.mpt"
    p.write_bytes(b"\r\n".join(lines))
    with pytest.raises(FileFormatError, match=r"line 101: non-numeric value 'oops' in column 10"):
        ff.read(p)
    lines[100] = b"1.0\t2.0"
    p.write_bytes(b"\r\n".join(lines))
    with pytest.raises(FileFormatError, match=r"line 101: row has 2 values, expected 18"):
        ff.read(p)


def test_several_files_are_joined(data_dir):
    names = ["pyeis_ex1.mpt", "impedancepy_exampleDataGamry.DTA"]
    s = ff.read([data_dir / n for n in names])
    assert len(s) == 3 and s.info["source_id"].tolist() == [0, 0, 1]
    assert s.meta["sources"] == [str(data_dir / n) for n in names]
    np.testing.assert_allclose(s.Z[2, :72], ff.read(data_dir / names[1]).Z[0])
