"""Reading a 1,000-spectrum BioLogic series: fastfit vs the reference readers, same run.

* ``.mpt`` (EC-Lab text, 1,000 PEIS spectra x 59 points, ~10 MB): `fastfit.read` vs
  ``pandas.read_csv`` (C parser) + a split by ``cycle number`` and padding.
* ``.mpr`` (EC-Lab binary, same data, ~3 MB): `fastfit.read` vs galvani ``MPRfile`` +
  the same split.

Files are synthesised by `fastfit.io._writers` from `fastfit.synthetic.paper_rcpe2`.
Run: ``pytest benchmarks/bench_io.py --benchmark-only``.  Results: results_io.md.
"""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.io import _writers
from fastfit.synthetic import paper_rcpe2

N_SPECTRA = 1000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench_io")
    f, Z, _ = paper_rcpe2(N_SPECTRA, seed=0)
    fl, zl = [f] * N_SPECTRA, list(Z)
    return {"mpt": _writers.write_mpt(d / "series.mpt", fl, zl),
            "mpr": _writers.write_mpr(d / "series.mpr", fl, zl)}


def _split_pad(freq, re, negim, cycle):
    """Reference split: one spectrum per cycle number, padded with the last point."""
    starts = np.flatnonzero(np.r_[True, cycle[1:] != cycle[:-1]])
    parts = np.split(np.arange(freq.size), starts[1:])
    F = max(p.size for p in parts)
    idx = np.array([np.r_[p, np.full(F - p.size, p[-1])] for p in parts])
    return freq[idx], re[idx] - 1j * negim[idx]


def pandas_mpt(path):
    import pandas as pd
    with open(path, encoding="latin-1") as fh:
        fh.readline()
        nb = int(fh.readline().split(":")[1])
    df = pd.read_csv(path, sep="\t", skiprows=nb - 1, encoding="latin-1", index_col=False)
    return _split_pad(df["freq/Hz"].to_numpy(), df["Re(Z)/Ohm"].to_numpy(),
                      df["-Im(Z)/Ohm"].to_numpy(), df["cycle number"].to_numpy())


def galvani_mpr(path):
    from galvani import BioLogic
    with open(path, "rb") as fh:
        d = BioLogic.MPRfile(fh).data
    return _split_pad(d["freq/Hz"].astype(float), d["Re(Z)/Ohm"].astype(float),
                      d["-Im(Z)/Ohm"].astype(float), d["cycle number"])


def _check(series, ref):
    f, Z = ref
    assert len(series) == N_SPECTRA == f.shape[0]
    np.testing.assert_allclose(series.freq, f, rtol=1e-12)
    np.testing.assert_allclose(series.Z, Z, rtol=1e-12)


def _mb(path):
    return path.stat().st_size / 1e6


@pytest.mark.parametrize("kind", ["mpt", "mpr"])
def test_fastfit_read(benchmark, files, kind):
    path = files[kind]
    benchmark.group = f"read {kind}"
    benchmark.extra_info.update(MB=_mb(path), spectra=N_SPECTRA)
    s = benchmark(ff.read, path)
    _check(s, pandas_mpt(files["mpt"]) if kind == "mpt" else galvani_mpr(path))


@pytest.mark.parametrize("kind", ["mpt", "mpr"])
def test_reference_read(benchmark, files, kind):
    path = files[kind]
    benchmark.group = f"read {kind}"
    benchmark.extra_info.update(MB=_mb(path), spectra=N_SPECTRA,
                                reference="pandas.read_csv + split" if kind == "mpt"
                                else "galvani.MPRfile + split")
    ref = benchmark(pandas_mpt if kind == "mpt" else galvani_mpr, path)
    assert ref[0].shape[0] == N_SPECTRA
