"""Fuzz every reader added for issue #19: 250 seeded variants of each new format
(50 per mutation kind: truncate, bit flip, insert, delete, textual) must read or
raise FileFormatError naming the file and a byte/line -- never another exception, a
warning, a read over 10 s, or silent garbage (non-positive/non-finite frequencies,
non-finite impedance, more points than the file has rows).  Each variant is read with
its format named, so the reader itself (not detection) meets the corruption; the
detection path is fuzzed with the bundled files in `test_io_fuzz`."""
from __future__ import annotations

import time

import numpy as np
import pytest

import fastfit as ff
from fastfit.errors import FileFormatError
from fastfit.io import _writers, _writers_more as W
from fastfit.series import SpectrumSeries
from fastfit.synthetic import paper_rcpe2
from test_io_fuzz import _mutate

KINDS = ("truncate", "bitflip", "insert", "delete", "textual")
PER_KIND = 50                                   # x 5 kinds = 250 variants per format


def _sources(tmp, data_dir):
    f, Z, _ = paper_rcpe2(2, seed=21)
    fl, zl = [f, f[:25]], [Z[0], Z[1, :25]]
    ce = [(215, "<f4", np.linspace(-1, 1, f.size + 25)), (777, "<f4", np.ones(f.size + 25))]
    return {
        "palmsens": [data_dir / "formats/palmsens_eis_5freq.pssession",
                     W.write_pssession(tmp / "w.pssession", fl, zl, subscans=True)],
        "ivium": [W.write_ivium(tmp / "a.idf", fl[:1], zl[:1], variant="nul"),
                  W.write_ivium(tmp / "b.ids", fl, zl)],
        "zahner_ism": [data_dir / "zahner_rc-data.ism", W.write_zahner_ism(tmp / "c.ism", f, Z[0])],
        "zahner_txt": [W.write_zahner_txt(tmp / "t.txt", f, Z[0]),
                       W.write_zahner_txt(tmp / "b.txt", f, Z[0], variant="bin2txt")],
        "autolab": [W.write_nova(tmp / "n.txt", fl, zl)],
        "autolab_dfr": [W.write_dfr(tmp / "d.dfr", f, Z[0])],
        "gamry": [data_dir / "hybriddrt_EISGALV_EISTest3.DTA"],
        "spreadsheet_xlsx": [W.write_spreadsheet(tmp / "s.xlsx", fl, zl)],
        "spreadsheet_ods": [W.write_spreadsheet(tmp / "s.ods", fl, zl, kind="ods")],
        "biologic_mpr_ce": [_writers.write_mpr(tmp / "ce.mpr", fl, zl, extra=ce)],
    }


@pytest.mark.parametrize("fmt", ["palmsens", "ivium", "zahner_ism", "zahner_txt", "autolab",
                                 "autolab_dfr", "gamry", "spreadsheet_xlsx",
                                 "spreadsheet_ods", "biologic_mpr_ce"])
def test_fuzzed_new_formats(tmp_path, data_dir, fmt):
    srcs = _sources(tmp_path, data_dir)[fmt]
    raws = [p.read_bytes() for p in srcs]
    rng = np.random.default_rng(sum(map(ord, fmt)))
    failures, outcomes, slowest = [], {"ok": 0, "error": 0}, 0.0
    for kind in KINDS:
        for case in range(PER_KIND):
            k = int(rng.integers(len(srcs)))
            dst = tmp_path / f"{kind}{case}{srcs[k].suffix}"
            data = _mutate(raws[k], kind, rng)
            dst.write_bytes(data)
            t0 = time.perf_counter()
            try:
                s = ff.read(dst, format=fmt.split("_ce")[0].replace("_xlsx", "")
                            .replace("_ods", ""))
            except FileFormatError as e:
                outcomes["error"] += 1
                if str(dst) not in str(e) or (e.offset is None and e.line is None
                                              and "recognised" not in str(e)
                                              and "empty" not in str(e)):
                    failures.append(f"{kind} {case}: unlocated error: {e}")
            except Exception as e:                  # noqa: BLE001 - that is the test
                failures.append(f"{kind} {case}: {type(e).__name__}: {e}")
            else:
                outcomes["ok"] += 1
                m = s.mask
                if not (isinstance(s, SpectrumSeries) and len(s) >= 1
                        and np.all(np.isfinite(s.freq[m])) and np.all(s.freq[m] > 0)
                        and np.all(np.isfinite(s.Z[m])) and m.sum() <= s.meta["n_rows"]
                        and s.freq.shape == s.Z.shape == m.shape):
                    failures.append(f"{kind} {case}: garbage read")
            slowest = max(slowest, time.perf_counter() - t0)
    assert not failures, "\n".join(failures[:10])
    assert sum(outcomes.values()) == len(KINDS) * PER_KIND >= 250
    assert outcomes["error"] > 0 and slowest < 10.0
