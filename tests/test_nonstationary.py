"""Drift indicators, the nonstationary flag and instantaneous (time-interpolated) spectra."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.errors import DataError, ShapeError
from fastfit.nonstationary import drift, instantaneous, point_times
from fastfit.series import SpectrumSeries
from fastfit.synthetic import DRIFT_CIRCUIT, drift_series

N_SWEEPS = 10


def _model(p, f):
    """R0-p(R1,CPE1)-p(R2,CPE2) at parameters p (..., 7), independent of fastfit."""
    jw = 1j * 2 * np.pi * f
    p = np.asarray(p)
    return (p[..., 0] + p[..., 1] / (1 + p[..., 1] * p[..., 2] * jw ** p[..., 3])
            + p[..., 4] / (1 + p[..., 4] * p[..., 5] * jw ** p[..., 6]))


@pytest.fixture(scope="module")
def mixed():
    """12 series (6 stationary, 6 drifting +2 %/sweep, 0.1 % noise), random circuits,
    both point-time models, joined end to end."""
    items, truth, params = [], [], []
    for k in range(12):
        drifting = k % 2 == 1
        s, tr = drift_series(N_SWEEPS, seed=1000 + k, drift=0.02 if drifting else 0.0,
                             noise=1e-3, point_time=("cycles", "linear")[(k // 2) % 2])
        items.append(s)
        truth.append(np.full(N_SWEEPS, drifting))
        # true parameters at the middle of every sweep
        t_mid = 0.5 * (s.time + s.time_end)
        p = np.tile(tr["params0"], (N_SWEEPS, 1))
        p[:, [0, 1, 4]] *= ((1 + tr["drift"]) ** (t_mid / tr["sweep_s"]))[:, None]
        params.append(p)
    S = SpectrumSeries.concat(items)
    S.info["params_mid"] = np.concatenate(params)
    return S, np.concatenate(truth)


@pytest.fixture(scope="module")
def mixed_kk(mixed):
    return ff.kk(mixed[0])             # a SpectrumSeries with times: drift is computed


def test_flag_separates_drifting_from_stationary(mixed, mixed_kk):
    S, truth = mixed
    r = mixed_kk
    d = r.drift
    assert d is not None and np.array_equal(r.nonstationary, d.nonstationary)
    assert len(np.unique(d.group)) == 12 and np.all(d.basis == 2)
    after_first = np.tile(np.arange(N_SWEEPS) > 0, 12)
    right = d.nonstationary == truth
    assert right[after_first].mean() >= 0.95
    assert right.mean() >= 0.95
    # the statistic itself: ~1 without drift, far above the threshold with it
    assert np.median(d.drift_ratio[~truth]) < 1.5 and np.median(d.drift_ratio[truth]) > 5
    # change between sweeps is ~2 % of |Z| at most with drift, noise-sized without
    assert np.median(d.change[truth]) > 3 * np.median(d.change[~truth])
    df = r.to_dataframe()
    assert {"drift_ratio", "nonstationary", "lf_bias", "autocorr", "chi2_ratio"} <= set(df)


def test_drift_from_arrays_matches_series(mixed, mixed_kk):
    S, truth = mixed
    k = mixed_kk
    a = drift(S.freq, S.Z, time=S.time, time_end=S.time_end, groups=S.info["source_id"],
              kk_result=k)
    b = drift(S, kk_result=k)            # uses points["t"] and info["source_id"]
    assert np.array_equal(a.nonstationary, b.nonstationary)
    assert np.array_equal(a.nonstationary, k.nonstationary)
    np.testing.assert_allclose(a.change, b.change)
    # via kk(..., time=) on plain arrays (same shapes: same compiled program)
    kt = ff.kk(S.freq, S.Z, time=S.time, time_end=S.time_end, groups=S.info["source_id"])
    assert np.array_equal(kt.nonstationary, a.nonstationary)
    # without times, sweeps are taken as equally spaced: same decision here
    c = drift(S.freq, S.Z, groups=S.info["source_id"], kk_result=k)
    assert (c.nonstationary == truth).mean() >= 0.95
    # series also split where the time goes backwards (each series starts at t = 0)
    e = drift(S.freq, S.Z, time=S.time, time_end=S.time_end, kk_result=k)
    assert np.array_equal(e.group, a.group)


def test_short_series_and_bad_input(mixed, mixed_kk):
    S, truth = mixed
    rows = np.arange(N_SWEEPS - 2, N_SWEEPS + 2)      # 2 stationary + 2 drifting sweeps
    d = drift(S[N_SWEEPS - 2:N_SWEEPS + 2], groups=[0, 0, 1, 1], kk_result=mixed_kk[rows])
    assert np.all(d.basis == 1) and np.all(np.isnan(d.drift_ratio))
    assert d.nonstationary.tolist() == [False, False, True, True]
    one = drift(S[:1], kk_result=mixed_kk[0])
    assert one.basis[0] == 0 and not one.nonstationary[0]
    assert len(mixed_kk[2:5]) == 3 and len(mixed_kk[2:5].drift) == 3
    with pytest.raises(ShapeError):
        drift(S[:4], groups=[0, 1], kk_result=mixed_kk[:4])
    with pytest.raises(ShapeError):
        ff.kk(S[:4].freq, S[:4].Z, time=np.arange(3.0))


def test_point_times():
    mask = np.ones((2, 5), bool)
    mask[1, 4] = False
    t = point_times([0.0, 10.0], [4.0, 13.0], mask)
    np.testing.assert_allclose(t[0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(t[1, :4], [10, 11, 12, 13])
    given = np.arange(10.0).reshape(2, 5)
    assert np.array_equal(point_times([0.0, 0.0], None, mask, given), given)
    with pytest.raises(DataError):
        point_times([np.nan, 1.0], None, mask)


def test_instantaneous_recovers_the_state_at_one_time():
    s, tr = drift_series(6, seed=42, drift=0.02, noise=0.0, point_time="cycles")
    inst = instantaneous(s)                         # middle of every sweep
    f = s.freq[0]
    T = tr["sweep_s"]
    for i in range(1, 5):
        p = tr["params0"].copy()
        p[[0, 1, 4]] *= 1.02 ** (inst.time[i] / T)
        Zt = _model(p, f)
        # linear interpolation of an exponential over one sweep: error ~ (ln 1.02)^2 / 8
        assert np.max(np.abs(inst.Z[i] - Zt) / np.abs(Zt)) < 1e-4
        assert np.max(np.abs(s.Z[i] - Zt) / np.abs(Zt)) > 5e-3      # raw sweep is not
    assert inst.meta["instantaneous"] and inst.points["extrapolated"][0].any()
    assert not inst.points["extrapolated"][1:-1].any()
    np.testing.assert_allclose(inst.time, inst.time_end)
    cut = instantaneous(s, extrapolate=False)
    assert not cut.mask[0][inst.points["extrapolated"][0]].any()
    start = instantaneous(s, t="start")
    np.testing.assert_allclose(start.time, s.time)
    np.testing.assert_allclose(start.Z[1:, 0], s.Z[1:, 0])          # first point: measured then
    # linear point times from time/time_end when the file has no per-point times
    bare = SpectrumSeries(s.freq, s.Z, s.mask, s.time, s.time_end)
    assert np.all(np.isfinite(instantaneous(bare).Z))


def test_instantaneous_errors():
    s, _ = drift_series(3, seed=1)
    with pytest.raises(DataError):
        instantaneous((s.freq, s.Z))
    with pytest.raises(DataError):
        instantaneous(SpectrumSeries(s.freq, s.Z, s.mask, np.full(3, np.nan)))
    f2 = s.freq.copy()
    f2[1] *= 1.1
    with pytest.raises(DataError, match="spectrum 1"):
        instantaneous(SpectrumSeries(f2, s.Z, s.mask, s.time, s.time_end))
    with pytest.raises(ShapeError):
        instantaneous(s, t=np.zeros(2))
    with pytest.raises(DataError):
        instantaneous(s, t="noon")


def test_instantaneous_lowers_fit_chi2_on_drifting_series(mixed, mixed_kk):
    """Fit the true circuit to raw sweeps and to instantaneous spectra of the drifting
    series (fastfit.fit): chi2 falls for every interior sweep; the KK mask plugs into
    fit(mask=)."""
    S, truth = mixed
    inst = instantaneous(S)                          # series split by info["source_id"]
    interior = np.tile((np.arange(N_SWEEPS) > 0) & (np.arange(N_SWEEPS) < N_SWEEPS - 1), 12)
    rows = np.nonzero(truth & interior)[0]
    # the true mid-sweep state is offered as an extra start, so both fits reach their
    # optimum and the comparison is about the data, not the optimiser
    p_mid = S.info["params_mid"]
    fr = ff.fit(S[rows], circuit=DRIFT_CIRCUIT, p0=p_mid[rows])
    fi = ff.fit(inst[rows], circuit=DRIFT_CIRCUIT, p0=p_mid[rows])
    assert np.all(fi.chi2 < fr.chi2)
    assert np.median(fr.chi2 / fi.chi2) > 2
    # stationary series: interpolation does not hurt (noise averaging only)
    still = np.nonzero(~truth & interior)[0][:rows.size]
    fs = ff.fit(S[still], circuit=DRIFT_CIRCUIT, p0=p_mid[still])
    fsi = ff.fit(inst[still], circuit=DRIFT_CIRCUIT, p0=p_mid[still])
    assert np.median(fsi.chi2 / fs.chi2) < 1.0
    # the lin-KK mask goes straight into fit(mask=)
    k = mixed_kk[rows]
    fm = ff.fit(S[rows].freq, S[rows].Z, DRIFT_CIRCUIT, mask=k.mask)
    assert np.array_equal(fm.mask, k.mask)
