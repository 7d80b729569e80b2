"""Relocation moves of the fit engine (``kernels._reloc.relocate_terms``): one fitted term
moved to candidate shapes with every scale re-solved.

References: the weighted cost of each proposed start recomputed from a closed-form numpy
model; scipy least_squares started at the truth for the basin.
"""
from __future__ import annotations

import numpy as np
import pytest
import fastfit as ff
from fastfit.fitting import prepare
from fastfit.fitting._relocplan import reloc_tables
from fastfit.fitting._starts import loose_mask
from fastfit.kernels import ELEMENTS, FitConfig, fit_pipeline, relocate_terms, relocation_starts
from fastfit.kernels import term_impedances
from fastfit.synthetic import add_noise
from test_fit_generic import F as F_GENERIC
from test_fit_generic import _scipy_bounded     # truth-started bounded scipy trf, same F

F = F_GENERIC
TWO_ARC = ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)")
WO_TAIL = ff.Circuit("R0-p(R1,CPE1)-Wo1")        # R0 R1 CPE1_Q CPE1_n Wo1_R Wo1_tau


def _two_arc(p, f):
    w = 2 * np.pi * f
    z = p[0] + 0j
    for R, Q, n in (p[1:4], p[4:7]):
        z = z + R / (1 + R * Q * (1j * w) ** n)
    return z


def _wo_tail(p, f):
    w = 2 * np.pi * f
    x = np.sqrt(1j * w * p[5])
    return p[0] + p[1] / (1 + p[1] * p[2] * (1j * w) ** p[3]) + p[4] / (np.tanh(x) * x)


def _tables(circuit, n_bands=4):
    return reloc_tables(circuit.tree, ELEMENTS, F.min(), F.max(), {}, circuit.n_params, F,
                        n_bands=n_bands)


def _two_arc_spectra(rng, n):
    """n random two-arc parameter rows (a small fast arc, a larger slow one) and their
    spectra with 0.5 % noise."""
    p = np.stack([10 ** rng.uniform(0, 1, n), 10 ** rng.uniform(2, 3, n), 10 ** rng.uniform(-9, -8, n),
                  rng.uniform(0.75, 0.95, n), 10 ** rng.uniform(2, 3, n),
                  10 ** rng.uniform(-5, -4, n), rng.uniform(0.75, 0.95, n)], 1)
    return p, add_noise(np.stack([_two_arc(q, F) for q in p]), 0.005, rng)


def test_relocation_cost_is_the_exact_cost_of_its_start():
    """The cost the kernel reports for each move is the weighted chi2/2 of the parameter
    point it proposes (so an LM from there can only end lower), and the base cost (scales
    re-solved) is never above the cost of the fitted point itself."""
    rng = np.random.default_rng(31)
    n = 6
    p, Z = _two_arc_spectra(rng, n)
    fitted = p * np.exp(rng.normal(0, 0.3, p.shape))           # a perturbed "fit"
    fitted[:, [3, 6]] = np.clip(p[:, [3, 6]] + 0.05, 0, 1)
    w2 = 1.0 / np.abs(Z) ** 2                                  # modulus weights, squared
    tab = _tables(TWO_ARC)
    Ucur = term_impedances(tab.nodes, 7, fitted, tab.omega)
    out = relocate_terms(len(tab.statics), len(tab.Us), tab.n_bands, tab.V, tab.Us, tab.bands,
                         Ucur, Z, w2, w2)
    starts = relocation_starts(tab, fitted, (Z, w2, w2))
    assert len(starts) == 2 * tab.n_bands
    cost = np.asarray(out.cost).reshape(n, -1)
    for s, q in enumerate(starts):
        assert np.all(q > 0)
        direct = np.array([0.5 * np.sum(w2[b] * np.abs(_two_arc(q[b], F) - Z[b]) ** 2)
                           for b in range(n)])
        np.testing.assert_allclose(cost[:, s], direct, rtol=1e-7)
    at_fit = np.array([0.5 * np.sum(w2[b] * np.abs(_two_arc(fitted[b], F) - Z[b]) ** 2)
                       for b in range(n)])
    assert np.all(np.asarray(out.base_cost) <= at_fit * (1 + 1e-9))
    # the bands partition every term's candidates, so the moves are diverse in tau
    for band in tab.bands:
        assert set(np.unique(band)) == set(range(tab.n_bands))


def test_relocation_compiles_once_per_bucket_of_loose_results():
    """The relocation kernels get the loose results of a chunk, any number of them: the
    rows are padded to a power of two, so 9-16 results share one program, and a result's
    moves do not depend on how many others came with it (unpadded, every new count
    compiled two programs again, ~1 s each, on warm fits of new spectra)."""
    rng = np.random.default_rng(8)
    n = 16
    p, Z = _two_arc_spectra(rng, n)
    w2 = 1.0 / np.abs(Z) ** 2
    tab = _tables(TWO_ARC)
    whole = relocation_starts(tab, p, (Z, w2, w2))
    sizes = (relocate_terms._cache_size(), term_impedances._cache_size())
    for m in (9, 12, 15):
        part = relocation_starts(tab, p[:m], (Z[:m], w2[:m], w2[:m]))
        for q, q16 in zip(part, whole):
            np.testing.assert_array_equal(q, q16[:m])
    assert (relocate_terms._cache_size(), term_impedances._cache_size()) == sizes
    few = relocation_starts(tab, p[:3], (Z[:3], w2[:3], w2[:3]))      # bucket of 8
    for q, q16 in zip(few, whole):
        np.testing.assert_allclose(q, q16[:3], rtol=1e-9)


def test_arc_terms_get_more_bands_than_diffusion_terms():
    """With 8 bands asked for, an R||CPE term gets 8 relocation moves and a finite
    Warburg term 4 (RELOC_BANDS_DIFFUSION); every move of each term comes from its own
    band, and the bands partition the term's candidates in order of time constant."""
    from fastfit.fitting._relocplan import RELOC_BANDS_DIFFUSION

    tab = _tables(WO_TAIL, n_bands=8)
    assert tab.term_bands == (8, RELOC_BANDS_DIFFUSION) == (8, 4)
    for band, nb in zip(tab.bands, tab.term_bands):
        assert set(np.unique(band)) == set(range(nb))
    rng = np.random.default_rng(2)
    p = np.array([[5.0, 800.0, 2e-9, 0.85, 30.0, 1.0]])
    Z = add_noise(_wo_tail(p[0], F)[None], 0.005, rng)
    w2 = 1.0 / np.abs(Z) ** 2
    starts = relocation_starts(tab, p, (Z, w2, w2))
    assert len(starts) == 12
    # the first 8 moves the arc (its time constant R1 Q1^(1/n) spread over the window),
    # the last 4 the Warburg (its tau): one band each, in order of time constant
    tau_arc = [np.log10((q[0, 1] * q[0, 2]) ** (1 / q[0, 3])) for q in starts[:8]]
    tau_wo = [np.log10(q[0, 5]) for q in starts[8:]]
    assert np.all(np.diff(tau_arc) > 0) and np.all(np.diff(tau_wo) > 0)
    assert tau_arc[-1] - tau_arc[0] > 4 and tau_wo[-1] - tau_wo[0] > 2


def _wo_tail_spectra(n, log_r1, log_rw):
    """n noisy Wo-tail spectra (0.5 %): R1 and the Warburg's R log-uniform in the given
    decades, the arc at 1e-9..1e-8 F s^(n-1), the Warburg's tau 0.3..3 s."""
    rng = np.random.default_rng(5)
    p = np.stack([10 ** rng.uniform(0.5, 1.5, n), 10 ** rng.uniform(*log_r1, n),
                  10 ** rng.uniform(-9, -8, n), rng.uniform(0.8, 0.9, n),
                  10 ** rng.uniform(*log_rw, n), 10 ** rng.uniform(-0.5, 0.5, n)], 1)
    return p, add_noise(np.stack([_wo_tail(q, F) for q in p]), 0.005, rng)


def _wo_tail_pipeline(Z, start, tab, relocate=True, pairs=0):
    """The compiled pipeline on Wo-tail spectra Z from one start per spectrum (no scans,
    no escalation): only the relocation moves (and ``pairs`` pair moves) can leave its
    basin."""
    n, P = start.shape
    pr = prepare(np.broadcast_to(F, Z.shape), Z, WO_TAIL)
    cfg = FitConfig(logmask=tuple(bool(v) for v in pr.logmask), n_picks=0, n_escalate=0,
                    iter_stage1=6, iter_stage2=10, iter_stage3=500, rescue_frac=0.25,
                    ftol=1e-12, xtol=1e-12, gtol=1e-14, keep=1, escalate=False,
                    relocate=relocate, reloc_pairs=pairs, loose_mask=loose_mask(WO_TAIL.tree))
    return fit_pipeline(WO_TAIL.tree, cfg, 2 * np.pi * np.broadcast_to(F, Z.shape), Z,
                        pr.w_re, pr.w_im, np.broadcast_to(pr.lo, (n, P)),
                        np.broadcast_to(pr.hi, (n, P)), np.ones(P, bool), start,
                        start[:, None, :], (), (Z, pr.w_re ** 2, pr.w_im ** 2), reloc=tab)


@pytest.mark.parametrize("relocate", [False, True])
def test_relocation_moves_a_diffusion_tail_out_of_a_wrong_basin(relocate):
    """A small Warburg tail beside a large arc, fitted from a start where the tail sits at
    microseconds as a tiny series resistance (a local minimum the LM cannot leave): the
    relocation move puts it back at the slow end, reaching the truth-started optimum."""
    p, Z = _wo_tail_spectra(4, (3, 3.8), (1.2, 1.6))
    wrong = p.copy()
    wrong[:, 4], wrong[:, 5] = 1e-3, 1e-5
    out = _wo_tail_pipeline(Z, wrong, _tables(WO_TAIL), relocate=relocate)
    ref = np.array([_scipy_bounded(_wo_tail, WO_TAIL, z, q) for z, q in zip(Z, p)])
    chi2 = 2 * np.asarray(out.cost)
    if relocate:
        assert np.all(chi2 <= ref * (1 + 1e-6)), chi2 / ref
        # back at the slow end (within a factor 3 of the truth; the trap sat at 1e-5 s)
        assert np.all(np.abs(np.log10(np.asarray(out.p)[:, 5] / p[:, 5])) < 0.5)
    else:       # the start is a genuine trap: without the move the fit stays in it
        assert np.all(chi2 > ref * 1.01), chi2 / ref


def _swapped_wo_tail():
    """Arc and Warburg of similar size, fitted from their places swapped: the arc at the
    Warburg's time constant, the Warburg at the arc's (rows where the single moves stay
    trapped: moving either term alone fits worse than the swap)."""
    p, Z = _wo_tail_spectra(6, (2.5, 3), (2.5, 3))
    swapped = p.copy()
    swapped[:, 2] = p[:, 5] ** p[:, 3] / p[:, 1]           # arc tau -> the Warburg's
    swapped[:, 5] = (p[:, 1] * p[:, 2]) ** (1 / p[:, 3])     # Warburg tau -> the arc's
    rows = [1, 5]
    return p[rows], Z[rows], swapped[rows]


@pytest.mark.parametrize("pairs", [0, 4])
def test_pair_moves_undo_two_terms_that_traded_places(pairs):
    """Two terms that traded places (arc <-> Warburg) are a trap for single moves (each
    alone fits worse than the swap of both) but not for the chained pair moves
    (``kernels.pair_starts``: one term moved, then another with the first at its new
    place), which reach the truth-started optimum."""
    from fastfit.kernels import pair_starts

    p, Z, swapped = _swapped_wo_tail()
    n = p.shape[0]
    tab = _tables(WO_TAIL, n_bands=8)
    out = _wo_tail_pipeline(Z, swapped, tab, pairs=pairs)
    ref = np.array([_scipy_bounded(_wo_tail, WO_TAIL, z, q) for z, q in zip(Z, p)])
    chi2 = 2 * np.asarray(out.cost)
    if pairs:
        assert np.all(chi2 <= ref * (1 + 1e-6)), chi2 / ref
        assert np.all(np.abs(np.log10(np.asarray(out.p)[:, 5] / p[:, 5])) < 0.5)
        # the chained starts: ordered by their exact cost, feasible points
        w2 = 1.0 / np.abs(Z) ** 2
        starts = pair_starts(tab, swapped, (Z, w2, w2), 4)
        assert len(starts) == 4 and all(np.all(q > 0) for q in starts)
        cost = np.array([[0.5 * np.sum(w2[b] * np.abs(_wo_tail(q[b], F) - Z[b]) ** 2)
                          for b in range(n)] for q in starts])
        assert np.all(np.diff(cost, axis=0) >= -1e-9 * cost[:-1])
        one_term = _tables(ff.Circuit("R0-p(R1,CPE1)"))
        assert pair_starts(one_term, swapped[:, :4], (Z, w2, w2), 4) == []
    else:       # the single moves alone leave these rows in the trap
        assert np.all(chi2 > ref * 1.01), chi2 / ref


@pytest.mark.parametrize("circuit, pairs", [
    ("R0-p(R1,CPE1)-p(R2,CPE2)", 0),                      # two interchangeable arcs
    ("R0-p(R1-Wo1,CPE1)", 0),                             # one shaped term
    ("R0-p(R1,C1)-CPE2", 0),                              # two arc-like terms
    ("R0-p(R1,CPE1)-Wo1", 4),                             # an arc and a diffusion term
    ("R0-p(R1,CPE1)-T1", 4),
    ("L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)", 4),        # three arcs
])
def test_pair_moves_only_where_two_terms_can_trade_places(circuit, pairs):
    """The fit asks for pair moves only where two terms can trade places in a way the
    single moves do not undo: none for one shaped term or two arc-like ones (the seed
    circuit, where they changed nothing and cost 7 % of its fits/s)."""
    from fastfit.fitting._config import RELOC_PAIRS, reloc_pairs
    from fastfit.fitting._starts import plan_starts

    c = ff.Circuit(circuit)
    pr = prepare(np.broadcast_to(F, (1, F.size)), np.ones((1, F.size)) * (1 - 1j), c)
    assert reloc_pairs(plan_starts(pr, None, scan=True).terms) == (RELOC_PAIRS if pairs else 0)
    assert RELOC_PAIRS == 4


def _run_rows_setup(B=40):
    """B Wo-tail spectra, a tight FitConfig and the chunk's data for the LM-stage tests:
    true parameters, config, data tuple, free mask."""
    p, Z = _wo_tail_spectra(B, (2.5, 3.5), (1.5, 2.5))
    P = p.shape[1]
    pr = prepare(np.broadcast_to(F, Z.shape), Z, WO_TAIL)
    cfg = FitConfig(logmask=tuple(bool(v) for v in pr.logmask), n_picks=0, n_escalate=0,
                    iter_stage1=6, iter_stage2=10, iter_stage3=100, rescue_frac=0.25,
                    ftol=1e-12, xtol=1e-12, gtol=1e-14, keep=1)
    data = (2 * np.pi * np.broadcast_to(F, Z.shape), Z, pr.w_re, pr.w_im,
            np.broadcast_to(pr.lo, (B, P)), np.broadcast_to(pr.hi, (B, P)))
    return p, cfg, data, np.ones(P, bool)


@pytest.mark.parametrize("n_rows, mid", [(3, 0), (30, 0), (30, 40), (3, 40)])
def test_tournament_flat_batch_equals_one_candidate_at_a_time(n_rows, mid):
    """The tournament runs every (candidate, spectrum) pair as one row of a flat batch
    (``kernels._moves.run_rows``: whole-chunk calls, then rescue groups).  Its result must
    be what running each candidate alone on the whole chunk gives (LM rows are
    independent): short run, every candidate continued ``mid`` more, the best to the end
    of the budget, kept where better -- here recomputed with plain whole-chunk calls."""
    from fastfit.kernels._fit import fresh_state, lm_continue
    from fastfit.kernels._moves import tournament
    from fastfit.kernels._states import better_of, take_rows

    B = 40
    p, cfg, data, free = _run_rows_setup(B)
    rng = np.random.default_rng(3)
    cands = [p * np.exp(rng.normal(0, s, p.shape)) for s in (0.1, 0.5, 1.0, 2.0)]
    for q in cands:
        q[:, 3] = np.clip(p[:, 3] + rng.normal(0, 0.05, B), 0.5, 1.0)
    tols = (cfg.ftol, cfg.xtol, cfg.gtol)
    lm = cfg.logmask

    def run(state, iters):
        return type(state)(*map(np.asarray, lm_continue(WO_TAIL.tree, lm, state, *data, free,
                                                        iters, *tols)))

    start = run(fresh_state(lm, p * 1.5, *data[4:], free, p), 3)   # a half-done "result"
    idx = np.sort(rng.choice(B, n_rows, replace=False))
    short = 8
    got = tournament(WO_TAIL.tree, cfg, start, idx, lambda rows: [q[rows] for q in cands],
                     short, data, free, p, mid=mid)
    # reference: one candidate at a time, whole chunk
    var = [run(fresh_state(lm, q, *data[4:], free, p), short) for q in cands]
    if mid:
        var = [run(v, mid) for v in var]
    costs = np.stack([v.cost for v in var])
    win = np.argmin(costs, axis=0)
    lead = type(start)(*(np.stack(leaves)[win, np.arange(B)] for leaves in zip(*var)))
    used = short + mid
    lead = run(lead, 116 - used)
    ref = better_of(take_rows(lead, idx), take_rows(start, idx))
    np.testing.assert_allclose(got.cost[idx], ref.cost, rtol=1e-12)
    np.testing.assert_allclose(got.x[idx], ref.x, rtol=1e-10, atol=1e-12)
    others = np.setdiff1d(np.arange(B), idx)
    np.testing.assert_array_equal(got.x[others], start.x[others])
    assert np.all(got.cost[idx] <= start.cost[idx])



def test_run_rows_segments_give_the_one_call_result(monkeypatch):
    """``kernels._moves.run_rows`` spends a budget in segments of SEGMENT, 2 SEGMENT, ...
    iterations and regroups the rows still running between them (a call iterates until
    its slowest row stops).  Every row must end where one call of the whole budget on the
    whole chunk takes it: same cost, parameters and iteration count; the segments must
    really be cut (the budgets handed to the compiled calls)."""
    from fastfit.kernels import _moves
    from fastfit.kernels._fit import fresh_state, lm_continue

    B = 40
    p, cfg, data, free = _run_rows_setup(B)
    rng = np.random.default_rng(11)
    # 3 candidates per spectrum from near to far: rows stop after very different counts
    starts = np.concatenate([p * np.exp(rng.normal(0, s, p.shape)) for s in (0.05, 0.5, 2.0)])
    starts[:, 3] = np.clip(np.tile(p[:, 3], 3) + rng.normal(0, 0.05, 3 * B), 0.5, 1.0)
    rows = np.tile(np.arange(B), 3)
    lo, hi = data[4][rows], data[5][rows]
    s0 = fresh_state(cfg.logmask, starts, lo, hi, free, p[rows])
    budgets = []
    real = _moves.lm_continue

    def spy(tree, lm, state, *a):
        budgets.append(a[-4])
        return real(tree, lm, state, *a)

    monkeypatch.setattr(_moves, "lm_continue", spy)
    monkeypatch.setattr(_moves, "lm_rescue", spy)
    got = _moves.run_rows(WO_TAIL.tree, cfg, s0, rows, 200, data, free, B)
    assert budgets[0] == _moves.SEGMENT and max(budgets) > _moves.SEGMENT
    ref = lm_continue(WO_TAIL.tree, cfg.logmask, s0, *(a[rows] for a in data), free, 200,
                      cfg.ftol, cfg.xtol, cfg.gtol)
    ref = type(s0)(*map(np.asarray, ref))
    its = np.asarray(ref.n_iter)
    assert its.min() < 30 and its.max() > 60          # stopped early and late: regrouped
    np.testing.assert_array_equal(got.n_iter, ref.n_iter)
    np.testing.assert_array_equal(got.status, ref.status)
    np.testing.assert_allclose(got.cost, ref.cost, rtol=1e-12)
    np.testing.assert_allclose(got.x, ref.x, rtol=1e-10, atol=1e-12)


def test_padded_rescue_groups_never_run_a_row_twice():
    """Rescue groups are processed one after another on one state; the last group's
    padding repeats one of its own rows (``_states.row_groups``).  Padding with the first
    row of the *whole* index list re-ran that row, already advanced by the first group,
    for a second budget.  With zero tolerances every row runs the whole budget, so every
    row must show exactly ``iters`` iterations."""
    from fastfit.kernels._fit import fresh_state
    from fastfit.kernels._moves import run_rows
    from fastfit.kernels._states import row_groups

    groups = list(row_groups(np.arange(10, 29), 8))
    assert [g.tolist() for g in groups][-1] == [26, 27, 28] + [26] * 5
    B = 40
    p, cfg, data, free = _run_rows_setup(B)
    cfg = cfg._replace(ftol=0.0, xtol=0.0, gtol=0.0)
    rows = np.arange(B)[:19]                # 19 rows: below half a chunk, three groups of 8
    s0 = fresh_state(cfg.logmask, p[rows] * 1.3, data[4][rows], data[5][rows], free, p[rows])
    got = run_rows(WO_TAIL.tree, cfg, s0, rows, 7, data, free, B)
    np.testing.assert_array_equal(got.n_iter, np.full(19, 7))

def _two_arc_w(p, w):
    z = p[0] + 0j
    for R, Q, n in (p[1:4], p[4:7]):
        z = z + R / (1 + R * Q * (1j * w) ** n)
    return z


@pytest.fixture(scope="module")
def slow_moves():
    from pathlib import Path

    d = np.load(Path(__file__).parent / "synthetic" / "two_arc_slow_moves.npz")
    freq, Z, truth = d["freq"], d["Z"], d["truth"]
    b = TWO_ARC.default_bounds
    w = 2 * np.pi * freq
    ref = []
    for z, p in zip(Z, truth):
        def res(q, z=z):
            r = (_two_arc_w(q, w) - z) / np.abs(z)
            return np.concatenate([r.real, r.imag])
        from scipy.optimize import least_squares
        r = least_squares(res, p, bounds=(b[:, 0], b[:, 1]), method="trf", x_scale="jac",
                          ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=5000)
        ref.append(2 * r.cost)
    return freq, Z, np.array(ref)


@pytest.mark.parametrize("mid", [0, None])
def test_relocation_moves_still_running_continue_on_arc_chains(slow_moves, mid, monkeypatch):
    """Two overlapping or very unequal arcs: the move that leads to the optimum is often
    not ahead after the tournament's 50 iterations (one started 3.8x above the leader and
    ended 1 % below it after 140), so on circuits with two or more arc-like terms every
    move still running continues RELOC_MID more before the winner is picked.  With it,
    every spectrum reaches the truth-started scipy optimum; without it (mid = 0) the fit
    stays 0.03-1.5 % above on some of them (the trap is real; three of five until the
    sharp twins of session 22, ``_arcs.SHARPEN_N``, reached one of them another way; the
    overlap twins of session 34, which reach them too, are off without the extension)."""
    from fastfit.fitting import _config

    if mid is not None:
        monkeypatch.setattr(_config, "RELOC_MID", mid)
        monkeypatch.setattr(_config, "overlap_sharps", lambda tree: [])
    freq, Z, ref = slow_moves
    chi2 = ff.fit(freq, Z, TWO_ARC).chi2
    if mid is None:
        assert np.all(chi2 <= ref * (1 + 1e-6)), chi2 / ref
    else:
        assert np.sum(chi2 > ref * (1 + 1e-4)) >= 2, chi2 / ref


@pytest.mark.parametrize("circuit, extended", [
    ("R0-p(R1,CPE1)-p(R2,CPE2)", True),                   # two arcs
    ("L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)", True),     # three arcs
    ("R0-p(R1,CPE1)-p(R2,CPE2)-CPE3", True),              # two arcs and a CPE tail
    ("R0-p(R1,CPE1)", False),                             # one arc
    ("R0-p(R1-p(R2,CPE2),CPE1)", True),                   # nested: exchange move twins
    ("R0-p(R1-p(R2,C2),CPE1)", False),                    # nested, inner capacitor
    ("R0-p(R1,CPE1)-G1", False),                          # an arc and a diffusion term
    ("R0-p(R1-Wo1,CPE1)", False),
])
def test_relocation_extension_only_on_arc_chains(circuit, extended):
    """The extra iterations of relocation moves run where they were measured to help
    (two or more arc-like terms; a nested arc, whose exchange twin needs them), not where
    they only cost time."""
    from fastfit.fitting._config import RELOC_MID, reloc_mid
    from fastfit.fitting._starts import plan_starts

    c = ff.Circuit(circuit)
    pr = prepare(np.broadcast_to(F, (1, F.size)), np.ones((1, F.size)) * (1 - 1j), c)
    assert reloc_mid(plan_starts(pr, None, scan=True).terms) == (RELOC_MID if extended else 0)
    assert RELOC_MID > 0


def test_nested_circuits_take_the_looser_threshold():
    """``_config.reloc_rel``: circuits with a parallel block inside a parallel block get
    the moves from a relative standard error of ``RELOC_REL_NESTED``, the others from
    ``RELOC_REL``."""
    from fastfit.fitting import _config as D
    from fastfit.fitting._scanplan import split_terms

    def rel(text):
        _, nodes = split_terms(ff.Circuit(text).tree)
        return D.reloc_rel([type("T", (), {"node": n})() for n in nodes])

    assert D.RELOC_REL_NESTED < D.RELOC_REL
    for text in ("R0-p(R1-p(R2,CPE2),CPE1)", "R0-p(R1-p(R2,C2),C1)-Wo1",
                 "L0-p(R1,CPE1)-p(R2-p(R3,CPE3),CPE2)"):
        assert rel(text) == D.RELOC_REL_NESTED, text
    for text in ("R0-p(R1,CPE1)-p(R2,CPE2)", "R0-p(R1-Wo1,CPE1)", "R0-p(R1,CPE1)-G1"):
        assert rel(text) == D.RELOC_REL, text


@pytest.mark.parametrize("nested_rule", [True, False])
def test_a_tight_nested_miss_gets_the_moves(monkeypatch, nested_rule):
    """A nested spectrum (R1 = 16 ohm outside a 448 ohm inner arc at 8 ms, n 0.94; outer
    CPE n 0.74; the family benchmark's spectrum 457 with other noise) whose default fit
    at ``RELOC_REL`` ends CONVERGED at 1.15x the chi2 of the fit from the truth with its
    parameters determined to better than 20 %, so that no move sees it; at
    ``RELOC_REL_NESTED`` it counts as loose, gets the moves and reaches the truth's
    optimum (the late twins' longer trip, ``LATE_MID``, and the nested CPE swap,
    ``_nested.cpe_swap``, also reach it: off in the other arm)."""
    from fastfit.fitting import _config as C

    c = ff.Circuit("R0-p(R1-p(R2,CPE2),CPE1)")
    truth = np.array([[1.15745, 16.0608, 448.164, 1.88931e-05, 0.938923, 7.25278e-04,
                       0.737094]])
    Z = add_noise(c.impedance(F, truth), 0.005, np.random.default_rng(0))
    ref = ff.fit(F, Z, c, p0=truth, starts=0).chi2[0]
    if not nested_rule:
        monkeypatch.setattr(C, "RELOC_REL_NESTED", C.RELOC_REL)
        monkeypatch.setattr(C, "LATE_MID", 0)    # the longer late trip reaches it too,
        monkeypatch.setattr(C, "cpe_swaps", lambda tree: [])    # ... and the CPE swap
    r = ff.fit(F, Z, c)
    if nested_rule:
        assert r.chi2[0] <= ref * (1 + 1e-6), r.chi2[0] / ref
    else:
        assert r.chi2[0] > ref * 1.1 and r.status[0] == ff.FitStatus.CONVERGED, r.chi2[0] / ref
