"""The batch results share one base: len, sub-batches by result[key], ok, message; status
codes come from one table per kernel."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import fastfit as ff
from fastfit.fitting import FitStatus
from fastfit.fitting._result import fit_status
from fastfit.relaxation import DRTStatus
from fastfit.relaxation._result import drt_status
from fastfit.synthetic import PAPER_CIRCUIT, drift_series, paper_rcpe2
from fastfit.validation import DriftResult, KKStatus
from fastfit.validation._result import kk_status

KEYS = [1, -1, slice(1, 4), np.array([True, False, True, False, True, False]),
        np.array([4, 0, 2]), [5, 1]]


@pytest.fixture(scope="module")
def spectra():
    f, Z, _ = paper_rcpe2(6, seed=21)
    return f, Z


@pytest.fixture(scope="module")
def results(spectra):
    f, Z = spectra
    series, _ = drift_series(n_sweeps=6, seed=4)
    return {
        "fit": ff.fit(f, Z, PAPER_CIRCUIT),
        "kk": ff.kk(series),                              # with drift indicators
        "drt": ff.drt(f, Z, lam_select="gcv"),            # with per-spectrum scores
    }


def _rows(key, n):
    return np.arange(n)[slice(key % n, key % n + 1) if isinstance(key, int) else key]


def _check_sub(res, sub, rows, shared):
    assert type(sub) is type(res) and len(sub) == len(rows)
    for fld in dataclasses.fields(res):
        v, w = getattr(res, fld.name), getattr(sub, fld.name)
        if fld.name in shared or v is None:
            assert w is v, fld.name
        elif dataclasses.is_dataclass(v):
            _check_sub(v, w, rows, type(v).shared_fields)
        else:
            np.testing.assert_array_equal(w, np.asarray(v)[rows], err_msg=fld.name)


@pytest.mark.parametrize("kind, shared", [
    ("fit", {"circuit", "fixed", "weight", "options"}),
    ("kk", {"options"}),
    ("drt", {"tau", "lam_grid", "options"}),
])
@pytest.mark.parametrize("key", KEYS, ids=str)
def test_sub_batch(results, kind, shared, key):
    res = results[kind]
    assert len(res) == 6
    _check_sub(res, res[key], _rows(key, 6), shared)


@pytest.mark.parametrize("kind", ["fit", "kk", "drt"])
def test_ok_and_message(results, kind):
    res = results[kind]
    np.testing.assert_array_equal(res.ok, res.status > 0)
    assert res.message == [res.status_type(int(s)).message for s in res.status]
    assert all(isinstance(m, str) and m for m in res.message)
    assert res[res.ok].ok.all()


@pytest.mark.parametrize("kind", ["fit", "kk", "drt"])
def test_bad_keys(results, kind):
    res = results[kind]
    with pytest.raises(IndexError):
        res[6]
    with pytest.raises(IndexError):
        res[np.ones(5, bool)]
    with pytest.raises(TypeError):
        res[True]


def test_drift_result_is_a_batch_without_status(results):
    d = results["kk"].drift
    assert isinstance(d, DriftResult) and len(d) == 6
    _check_sub(d, d[2:5], np.arange(2, 5), {"threshold"})
    assert not hasattr(d, "ok")
    with pytest.raises(AttributeError, match="no per-spectrum status"):
        d.message


def test_status_tables_cover_every_kernel_code():
    from fastfit.kernels import KK_STATUS, LM_STATUS, NNLS_STATUS

    got = fit_status(np.array(list(LM_STATUS.values())))
    assert {FitStatus(int(s)).name for s in got} == {
        "CONVERGED", "CONVERGED_XTOL", "CONVERGED_GTOL", "MAX_ITER", "NONFINITE"}
    got = kk_status(np.array(list(KK_STATUS.values())))
    assert [KKStatus(int(s)).name for s in got] == list(KK_STATUS)
    got = drt_status(np.array(list(NNLS_STATUS.values())))
    assert [DRTStatus(int(s)).name for s in got] == ["CONVERGED", "MAX_ITER", "FAILED"]
    with pytest.raises(ff.errors.FastfitError, match="kernel status code 7"):
        kk_status(np.array([1, 7]))


@pytest.mark.parametrize("enum", [FitStatus, KKStatus, DRTStatus])
def test_status_enums(enum):
    for member in enum:
        assert isinstance(member, int) and member.message
        assert enum(int(member)) is member
    assert {m > 0 for m in enum} == {True, False}
