"""The exchange of a top-level arc and a top-level branch p(R' - X, CPE') in series
(fastfit.fitting._exchange.branch_exchange, an exchange twin): the map, which circuits and
fixed parameters get it, and stored spectra whose default fit without it ends with the
Warburg behind the wrong arc."""
from __future__ import annotations

import numpy as np
import pytest

import fastfit as ff
from fastfit.fitting import _exchange, _rcarc
from fastfit.fitting._exchange import (WARBURG_RESET, branch_exchange, branch_exchange_open,
                                      branch_exchange_short, branch_pairs)
from trap_spectra import assert_trap_ab, fit_stored_trap, stored_traps

ARC_RANDLES = "R0-p(R1,CPE1)-p(R2-Wo2,CPE2)"


def test_the_two_arcs_trade_their_parameters():
    """Columns R, Q, n of the arc, then R', Q', n' of the branch: exchanged, nothing else;
    ``w_lo`` is not used; one twin."""
    p = np.array([[10.0, 1e-6, 0.9, 300.0, 1e-3, 0.7],
                  [2.0, 5e-9, 0.8, 7.0, 2e-5, 0.95]])
    (q,) = branch_exchange(p, np.ones(2))
    np.testing.assert_array_equal(q[:, :3], p[:, 3:])
    np.testing.assert_array_equal(q[:, 3:], p[:, :3])
    np.testing.assert_array_equal(branch_exchange(p)[0], q)
    np.testing.assert_array_equal(branch_exchange(q)[0], p)


def test_the_exchange_resets_a_randles_warburg():
    """Columns R, Q, n, R', Q', n', R_w, tau: the plain exchange (the Warburg kept), then
    the Warburg on a grid -- a short one sharing the branch's DC resistance R' + R_w, an
    open one at R_w = f R' with R' kept -- at w_lo tau = each place; only the plain
    exchange without ``w_lo``, and in place of a candidate that is not finite."""
    from fastfit.fitting._exchange import RESET_PLACE, RESET_RATIO, RESET_SHARE

    p = np.array([[10.0, 1e-6, 0.9, 300.0, 1e-3, 0.7, 20.0, 0.05],
                  [2.0, 5e-9, 0.8, 7.0, 2e-5, 0.95, 3.0, 5.0]])
    w_lo = np.array([0.5, 2.0])
    plain = p.copy()
    plain[:, :6] = branch_exchange(p[:, :6])[0]
    for fn, grid in ((branch_exchange_short, RESET_SHARE), (branch_exchange_open, RESET_RATIO)):
        got = fn(p, w_lo)
        assert len(got) == 1 + len(grid) * len(RESET_PLACE)
        np.testing.assert_array_equal(got[0], plain)
        np.testing.assert_array_equal(fn(p)[0], plain)
        assert len(fn(p)) == 1
        for q, (f, place) in zip(got[1:], [(f, x) for f in grid for x in RESET_PLACE]):
            np.testing.assert_array_equal(q[:, [0, 1, 2, 4, 5]], plain[:, [0, 1, 2, 4, 5]])
            np.testing.assert_allclose(q[:, 7] * w_lo, place)
            if fn is branch_exchange_short:      # the DC resistance kept, shared
                np.testing.assert_allclose(q[:, 3] + q[:, 6], plain[:, 3] + plain[:, 6])
                np.testing.assert_allclose(q[:, 6] / (q[:, 3] + q[:, 6]), f)
            else:
                np.testing.assert_array_equal(q[:, 3], plain[:, 3])
                np.testing.assert_allclose(q[:, 6], f * plain[:, 3])
    bad = p.copy()
    bad[1, 3] = np.inf                                 # the branch's R' not finite
    for q in branch_exchange_short(bad, w_lo)[1:]:
        np.testing.assert_array_equal(q[1], branch_exchange_short(bad, w_lo)[0][1])


@pytest.mark.parametrize("circuit, cols", [
    (ARC_RANDLES, [(1, 2, 3, 4, 7, 8, 5, 6)]),                     # + the Warburg's R, tau
    ("R0-p(R1-Wo1,CPE1)-p(R2,CPE2)", [(6, 7, 8, 1, 4, 5, 2, 3)]),   # the branch first
    ("R0-p(R1,CPE1)-p(R2-Woa2,CPE2)", [(1, 2, 3, 4, 8, 9, 5, 6)]),
    ("R0-p(R1,CPE1)-p(R2-p(R3,CPE3),CPE2)", [(1, 2, 3, 4, 8, 9)]),  # a nested arc's outer
    ("L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3-Ws3,CPE3)", [(2, 3, 4, 8, 11, 12, 9, 10),
                                                   (5, 6, 7, 8, 11, 12, 9, 10)]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)", []),                 # no branch
    ("R0-p(R1-Wo1,CPE1)", []),                        # no arc beside it
    ("R0-p(R1,CPE1)-p(R2-R3-Wo2,CPE2)", []),          # two resistors in the branch
    ("R0-p(R1,C1)-p(R2-Wo2,CPE2)", []),               # an R||C arc: not exchanged
])
def test_which_circuits_get_the_exchange(circuit, cols):
    pairs = branch_pairs(ff.Circuit(circuit).tree)
    assert [e[0] for e in pairs] == cols
    for c, fn in pairs:        # with a Randles branch's Warburg: the exchange that resets it
        kind = [k for k in ("Wo", "Woa", "Ws", "Wsa") if f"-{k}" in circuit]
        assert fn is (WARBURG_RESET[kind[0]] if len(c) == 8 else branch_exchange)


def test_a_fixed_arc_parameter_drops_the_exchange():
    from fastfit.fitting._config import exchange_twins
    from fastfit.fitting._problem import prepare

    freq = np.logspace(6, -1, 40)
    p = [5.0, 300.0, 1e-8, 0.9, 200.0, 50.0, 2.0, 1e-5, 0.85]
    Z = ff.Circuit(ARC_RANDLES).impedance(freq, p)

    def got(**kw):
        return [(e[0], e[1]) for e in exchange_twins(prepare(freq, Z, ARC_RANDLES, **kw))
                if e[1] in (branch_exchange, branch_exchange_open)]

    assert got() == [((1, 2, 3, 4, 7, 8, 5, 6), branch_exchange_open)]
    for name in ("R1", "CPE1_n", "R2", "CPE2_Q"):
        assert got(p0=p, fixed=[name]) == []
    for name in ("Wo2_R", "Wo2_tau"):       # the Warburg held: the plain exchange
        assert got(p0=p, fixed=[name]) == [((1, 2, 3, 4, 7, 8), branch_exchange)]


@pytest.mark.parametrize("exchange", [True, False])
def test_the_warburg_moves_to_the_right_arc(monkeypatch, exchange):
    """Five spectra of an arc and a Randles branch (tests/synthetic/README.md) whose
    default fit without the exchange ends CONVERGED 3-31 % above the truth's optimum with
    the Warburg behind the wrong arc; with it every fit reaches the truth's optimum."""
    freq, Z, ref = stored_traps("arc_randles_exchange", ARC_RANDLES)
    if not exchange:
        monkeypatch.setattr(_exchange, "branch_pairs", lambda tree: [])
    r = ff.fit(freq, Z, ARC_RANDLES)
    assert_trap_ab(r.chi2, ref, exchange, n_fail=5, margin=0.02)
    if not exchange:
        assert np.all(r.status[r.chi2 > 1.02 * ref] == ff.FitStatus.CONVERGED)


ARC_RANDLES_WS = "R0-p(R1,CPE1)-p(R2-Ws2,CPE2)"


@pytest.mark.parametrize("reset", [True, False])
def test_the_exchanged_branch_gets_its_warburg_back(monkeypatch, reset):
    """Five spectra of an arc and a Randles branch with a Ws (tests/synthetic/README.md)
    whose default fit with the plain exchange only ends CONVERGED 0.6-12 % above the
    truth's optimum, the arcs exchanged and the Warburg small; with the Warburg reset on
    the exchange (``WARBURG_RESET``) every fit reaches the truth's optimum."""
    if not reset:
        monkeypatch.setattr(_exchange, "WARBURG_RESET", {})
    fit_stored_trap("arc_randles_ws_reset", ARC_RANDLES_WS, reset, n_fail=5, margin=0.005,
                    converged_without=True)


# ------------------------------------------- a short Warburg that is a resistor, beside arcs
TWO_ARC_WS = "R0-p(R1,CPE1)-p(R2,CPE2)-Ws1"


def test_short_exchange_only_where_the_warburg_is_a_resistor():
    """Columns R, Q, n, R_w, tau: where w_lo tau < SHORT_NEAR the arc's and the Warburg's
    time constants are exchanged (``tau_exchange``), and their roles (``role_swap``: the
    arc at tau holding R_w, the Warburg at the arc's tau holding R); elsewhere the result
    itself."""
    from fastfit.fitting._exchange import short_exchange, tau_exchange
    from fastfit.fitting._randles import SHORT_NEAR

    p = np.array([[100.0, 1e-6, 0.8, 50.0, 0.5 * SHORT_NEAR],
                  [100.0, 1e-6, 0.8, 50.0, 2.0 * SHORT_NEAR]])
    w_lo = np.ones(2)
    q, r = short_exchange(p, w_lo)[:2]          # then ws_revival's (test below)
    (t,) = tau_exchange(p, w_lo)
    np.testing.assert_array_equal(q[0], t[0])
    assert not np.allclose(q[0], p[0])
    tau_arc = (100.0 * 1e-6) ** (1 / 0.8)
    np.testing.assert_allclose(r[0], [50.0, (0.5 * SHORT_NEAR) ** 0.8 / 50.0, 0.8, 100.0,
                                      tau_arc], rtol=1e-12)
    np.testing.assert_array_equal(q[1], p[1])
    np.testing.assert_array_equal(r[1], p[1])
    assert short_exchange(p) == []


def test_ws_revival_in_closed_form():
    """Columns R, Q, n, R_w, tau: a minor Ws (R_w < WS_MINOR R) gets the share f of R at
    k x the arc's tau for each (f, k) of WS_PLACES, the arc the rest at its own tau; the
    result itself elsewhere; short_exchange carries the twins, near or not."""
    from fastfit.fitting._exchange import short_exchange
    from fastfit.fitting._vanished import WS_MINOR, WS_PLACES, ws_revival

    p = np.array([[1000.0, 1e-6, 0.8, 2.0, 1e-5],        # minor: revived
                  [1000.0, 1e-6, 0.8, 500.0, 1e-5],      # not minor
                  [1000.0, 1e-6, 0.8, 0.0, 1e-5]])       # not positive
    assert 2.0 < WS_MINOR * 1000.0 < 500.0
    out = ws_revival(p)
    assert len(out) == len(WS_PLACES)
    tau = (1000.0 * 1e-6) ** (1 / 0.8)
    for (f, k), q in zip(WS_PLACES, out):
        R = (1 - f) * 1000.0
        np.testing.assert_allclose(q[0], [R, tau ** 0.8 / R, 0.8, f * 1000.0, k * tau],
                                   rtol=1e-12)
        np.testing.assert_array_equal(q[1:], p[1:])
    far = np.array([1e4])                                # w_lo tau = 0.1: not near
    got = short_exchange(p[:1], far)
    np.testing.assert_array_equal(got[0], p[:1])
    np.testing.assert_array_equal(got[2], out[0][:1])


def test_which_circuits_get_the_short_exchange():
    from fastfit.fitting._exchange import exchange_pairs, short_exchange
    from fastfit.kernels import ELEMENTS

    def got(circuit):
        return [e[0] for e in exchange_pairs(ff.Circuit(circuit).tree, ELEMENTS)
                if e[1] is short_exchange]

    assert got(TWO_ARC_WS) == [(1, 2, 3, 7, 8), (4, 5, 6, 7, 8)]
    assert got("R0-p(R1,CPE1)-Ws1") == [(1, 2, 3, 4, 5)]
    assert got("R0-p(R1-Ws1,CPE1)") == []            # inside a Randles branch: no
    assert got("R0-p(R1,CPE1)-Wo1") == []


@pytest.mark.parametrize("exchange", [True, False])
def test_a_short_warburg_below_the_window_trades_places_with_an_arc(monkeypatch, exchange):
    """Four spectra of two arcs and a Ws (tests/synthetic/README.md) whose default fit
    without the gated exchange ends 1.5-65 % above the truth's optimum with the Ws's tau
    far below the window (a resistor); with it every fit reaches the truth's optimum."""
    freq, Z, ref = stored_traps("two_arc_ws_exchange", TWO_ARC_WS)
    if not exchange:
        monkeypatch.delitem(_exchange.EXCHANGE, "Ws")
    r = ff.fit(freq, Z, TWO_ARC_WS)
    assert_trap_ab(r.chi2, ref, exchange, n_fail=4, margin=0.01)


@pytest.mark.parametrize("roles", [True, False])
def test_a_short_warburg_and_an_arc_swap_roles(monkeypatch, roles):
    """Two spectra of two arcs and a Ws (tests/synthetic/README.md) whose default fit with
    the time-constant exchange alone ends CONVERGED 22-33 % above the truth's optimum, the
    Ws and an arc each in the other's place with the other's resistance; with the role
    swap every fit reaches the optimum."""
    if not roles:
        monkeypatch.setattr(_exchange, "role_swap", lambda p: np.asarray(p, np.float64))
    fit_stored_trap("two_arc_ws_roles", TWO_ARC_WS, roles, margin=0.1,
                    converged_without=True)


@pytest.mark.parametrize("revival", [True, False])
def test_a_minor_short_warburg_is_revived_beside_an_arc(monkeypatch, revival):
    """Three spectra of two arcs and a Ws (tests/synthetic/README.md) whose default fit
    without the minor Ws's revival ends CONVERGED 9-21 % above the truth's optimum; with
    it every fit reaches the optimum."""
    if not revival:
        monkeypatch.setattr(_exchange, "ws_revival", lambda p: [])
    fit_stored_trap("two_arc_ws_revival", TWO_ARC_WS, revival, margin=0.05,
                    converged_without=True)


# ------------------------------------------------------- an R||C arc and an R||CPE arc
RC_CPE = "R0-p(R1,C1)-p(R2,CPE2)-CPE3"


def test_rc_exchange_moves_each_time_constant_and_resistance():
    """Columns R, C, R', Q', n': the R||C arc gets R' and the CPE arc's time constant, the
    CPE arc R and the R||C arc's, n' kept (first twin) or the R||C arc's n = 1 (second);
    the result itself where a value is not positive."""
    from fastfit.fitting._rcarc import RC_EXCHANGE_N, rc_exchange

    assert RC_EXCHANGE_N == (None, 1.0)
    p = np.array([[100.0, 1e-7, 2000.0, 3e-5, 0.8],
                  [100.0, 0.0, 2000.0, 3e-5, 0.8]])
    q, q1 = rc_exchange(p)[:2]          # then rc_revival's (test below)
    tau_c, tau_q = 100.0 * 1e-7, (2000.0 * 3e-5) ** (1 / 0.8)
    np.testing.assert_allclose(q[0], [2000.0, tau_q / 2000.0, 100.0, tau_c ** 0.8 / 100.0,
                                      0.8], rtol=1e-12)
    np.testing.assert_allclose(q1[0], [2000.0, tau_q / 2000.0, 100.0, tau_c / 100.0, 1.0],
                               rtol=1e-12)
    np.testing.assert_array_equal(q[1], p[1])
    np.testing.assert_array_equal(q1[1], p[1])


@pytest.mark.parametrize("circuit, cols", [
    (RC_CPE, [(1, 2, 3, 4, 5)]),
    ("R0-p(R1,CPE1)-p(R2,C2)", [(4, 5, 1, 2, 3)]),
    ("R0-p(R1,C1)-CPE2", []),                    # no R||CPE arc
    ("R0-p(R1,C1)-p(R2,C2)", []),
])
def test_which_circuits_get_the_rc_exchange(circuit, cols):
    from fastfit.fitting._exchange import exchange_pairs
    from fastfit.fitting._rcarc import rc_exchange
    from fastfit.kernels import ELEMENTS

    assert [e[0] for e in exchange_pairs(ff.Circuit(circuit).tree, ELEMENTS)
            if e[1] is rc_exchange] == cols


@pytest.mark.parametrize("exchange", [True, False])
def test_an_rc_arc_and_a_cpe_arc_trade_places(monkeypatch, exchange):
    """Five spectra of an R||C arc, an R||CPE arc and a CPE tail (tests/synthetic/README.md)
    whose default fit without the exchange ends CONVERGED 4-32 % above the truth's
    optimum with the CPE arc in the R||C arc's place; with it every fit reaches the
    truth's optimum."""
    from fastfit.fitting._rcarc import rc_exchange

    if not exchange:
        real = _exchange.branch_pairs
        monkeypatch.setattr(_exchange, "branch_pairs", lambda tree: [
            e for e in real(tree) if e[1] is not rc_exchange])
    fit_stored_trap("rc_cpe_exchange", RC_CPE, exchange, n_fail=5, margin=0.04,
                    converged_without=True)


@pytest.mark.parametrize("shape", [True, False])
def test_the_cpe_arc_takes_the_rc_arcs_shape_with_its_place(monkeypatch, shape):
    """Six spectra of an R||C arc beside an R||CPE arc, no tail (tests/synthetic/README.md)
    whose default fit with the exchange keeping n' ends CONVERGED 1-31 % above the
    truth's optimum, the R||C arc in the large CPE arc's place; the exchange whose CPE arc
    takes the R||C arc's n = 1 reaches it on every one.  (The merge of the two arcs,
    ``_rcarc.rc_merge``, reaches four of them from its side: off in the B run.)"""
    if not shape:
        monkeypatch.setattr(_rcarc, "RC_EXCHANGE_N", (None,))
        monkeypatch.setattr(_rcarc, "rc_merge", lambda p, w_lo=None: [])
    fit_stored_trap("rc_cpe_shape_exchange", "R0-p(R1,C1)-p(R2,CPE2)", shape, margin=0.01,
                    converged_without=True)


def test_rc_revival_in_closed_form():
    """Columns R, C, R', Q', n': a minor R||C arc (R < RC_MINOR R') gets the share s of
    R + R' at k x the CPE arc's tau' for each (s, k) of RC_HIDDEN, the CPE arc the rest at
    tau' and n'; the result itself where the R||C arc is not minor or a value not finite."""
    from fastfit.fitting._vanished import RC_HIDDEN, RC_MINOR, rc_revival

    p = np.array([[0.02, 1e-4, 700.0, 1.2e-4, 0.75],      # minor: revived
                  [30.0, 1e-3, 700.0, 1.2e-4, 0.75],      # not minor
                  [0.02, 1e-4, 700.0, np.nan, 0.75]])     # not finite
    assert 0.02 < RC_MINOR * 700.0 < 30.0
    out = rc_revival(p)
    assert len(out) == len(RC_HIDDEN)
    tau = (700.0 * 1.2e-4) ** (1 / 0.75)
    for (s, k), q in zip(RC_HIDDEN, out):
        R = s * 700.02
        np.testing.assert_allclose(q[0], [R, k * tau / R, 700.02 - R,
                                          tau ** 0.75 / (700.02 - R), 0.75], rtol=1e-12)
        np.testing.assert_array_equal(q[1:], p[1:])
    from fastfit.fitting._rcarc import rc_exchange
    assert len(rc_exchange(p)) == 2 + len(RC_HIDDEN)      # the exchange's twins carry them


@pytest.mark.parametrize("revival", [True, False])
def test_a_minor_rc_arc_is_revived_under_the_cpe_arc(monkeypatch, revival):
    """Four spectra of a small R||C arc (2-5 % of R2) at nearly the CPE arc's time
    constant (tests/synthetic/README.md) whose default fit without the revival ends
    0.02-22 % above the truth's optimum (three by more than 1 %), the R||C arc parked at
    a fraction of an ohm; with it every fit reaches the optimum."""
    from fastfit.fitting import _vanished

    if not revival:
        monkeypatch.setattr(_vanished, "RC_HIDDEN", ())
    fit_stored_trap("rc_cpe_minor_revival", "R0-p(R1,C1)-p(R2,CPE2)", revival, n_fail=3,
                    margin=0.01)


def test_rc_merge_in_closed_form():
    """Columns R, C, R', Q', n': where the two time constants are within PAIR_DEC decades
    the CPE arc holds (1 - s) (R + R') at the apex of the pair's summed impedance and the
    R||C arc s (R + R') at w_lo tau = 10^place for each place of PAIR_PLACE; nothing
    without w_lo, the result itself where the arcs are apart."""
    from fastfit.fitting._arcs import PAIR_PLACE
    from fastfit.fitting._rcarc import RC_MERGE_SHARE, rc_merge

    # one arc of 1,000 ohm at tau = 1e-4 s held by two halves; then two arcs 3 decades apart
    p = np.array([[500.0, 2e-7, 500.0, 2e-7, 1.0],
                  [100.0, 1e-8, 2000.0, 3e-5, 0.8]])
    w_lo = np.array([0.5, 0.5])
    assert rc_merge(p) == []
    out = rc_merge(p, w_lo)
    assert len(out) == len(PAIR_PLACE)
    s = RC_MERGE_SHARE
    for place, q in zip(PAIR_PLACE, out):
        R2 = (1 - s) * 1000.0
        # the sum is one R||C arc of 1,000 ohm at 1e-4 s: the merged CPE arc is that arc
        np.testing.assert_allclose(q[0, 2:], [R2, 1e-4 / R2, 1.0], rtol=2e-3)
        np.testing.assert_allclose(q[0, :2], [s * 1000.0, 10.0 ** place / 0.5 / (s * 1000.0)],
                                   rtol=1e-12)
        np.testing.assert_array_equal(q[1], p[1])
    from fastfit.fitting._rcarc import rc_exchange
    assert len(rc_exchange(p, w_lo)) == len(rc_exchange(p)) + len(PAIR_PLACE)


@pytest.mark.parametrize("merge", [True, False])
def test_two_arcs_splitting_one_are_merged(monkeypatch, merge):
    """Three spectra of a small R||C arc 0.3-3 decades from the CPE arc
    (tests/synthetic/README.md) whose default fit without the merge ends 1.6-57 % above
    the truth's optimum, the two arcs splitting the CPE arc; with it every fit reaches
    the optimum."""
    if not merge:
        monkeypatch.setattr(_rcarc, "rc_merge", lambda p, w_lo=None: [])
    fit_stored_trap("rc_cpe_merge", "R0-p(R1,C1)-p(R2,CPE2)", merge, n_fail=3, margin=0.01)


# ------------------------------------------- a Randles branch with a semi-infinite Warburg
ARC_RANDLES_W = "R0-p(R1,CPE1)-p(R2-W2,CPE2)"


def test_semi_infinite_warburg_reset_in_closed_form():
    """Columns R, Q, n, R', Q', n', sigma: the arcs exchanged, then sigma kept (first) or
    set so that |Z_W(w_lo)| = sqrt(2 / w_lo) sigma is g R' for each g of RESET_W_MAG."""
    from fastfit.fitting._exchange import (RESET_W_MAG, branch_exchange_semi,
                                           exchange_pairs)
    from fastfit.kernels import ELEMENTS

    p = np.array([[100.0, 1e-6, 0.9, 2000.0, 3e-5, 0.8, 50.0]])
    w_lo = np.array([0.5])
    out = branch_exchange_semi(p, w_lo)
    assert len(out) == 1 + len(RESET_W_MAG)
    np.testing.assert_array_equal(out[0], [[2000.0, 3e-5, 0.8, 100.0, 1e-6, 0.9, 50.0]])
    for g, q in zip(RESET_W_MAG, out[1:]):
        np.testing.assert_allclose(np.sqrt(2 / w_lo) * q[:, 6], g * 100.0, rtol=1e-12)
        np.testing.assert_array_equal(q[:, :6], out[0][:, :6])
    assert len(branch_exchange_semi(p)) == 1                 # no w_lo: the plain exchange
    assert [(e[0], e[1]) for e in exchange_pairs(ff.Circuit(ARC_RANDLES_W).tree, ELEMENTS)] \
        == [((1, 2, 3, 4, 6, 7, 5), branch_exchange_semi)]


@pytest.mark.parametrize("reset", [True, False])
def test_the_semi_infinite_warburg_is_reset_after_the_arc_branch_exchange(monkeypatch, reset):
    """Six spectra of an arc beside a Randles branch with a semi-infinite Warburg
    (tests/synthetic/README.md) whose default fit with the plain arc-branch exchange ends
    0.7-15 % above the truth's optimum; with the Warburg's reset every fit reaches it."""
    if not reset:
        monkeypatch.setattr(_exchange, "RESET_W_MAG", ())
    fit_stored_trap("arc_randles_w_reset", ARC_RANDLES_W, reset, margin=0.005)
