"""The start scan's kernel (``kernels._scan.scan_combos``) against a brute-force numpy
scan: every combination's weighted linear least-squares problem solved on its own."""
from __future__ import annotations

import itertools

import numpy as np

from fastfit.kernels import _scan as kscan

F = np.logspace(5, -1, 31)
W = 2 * np.pi * F


def _shape(tau, n):
    return 1.0 / (1.0 + (1j * W * tau) ** n)


def _problem(seed: int, K: int = 2, C: int = 9, B: int = 5):
    """Statics R and C, K terms of C candidate arcs each (tau over the window, n 0.7-1),
    every ordered combination; spectra from random candidates and scales + 0.5 % noise."""
    rng = np.random.default_rng(seed)
    V = np.stack([np.ones_like(W) + 0j, 1.0 / (1j * W)])
    Us = tuple(np.stack([_shape(t, n) for t, n in zip(np.logspace(-5.5, 0.5, C),
                                                      rng.uniform(0.7, 1.0, C))])
               for _ in range(K))
    combos = np.array(list(itertools.product(range(C), repeat=K)), np.int32)
    coords = combos.astype(np.float64)
    Z = np.empty((B, W.size), complex)
    for b in range(B):
        pick = rng.integers(0, C, K)
        Z[b] = 10 ** rng.uniform(0, 1) + 1 / (1j * W * 10 ** rng.uniform(-4, -2))
        for k in range(K):
            Z[b] += 10 ** rng.uniform(1, 3) * Us[k][pick[k]]
    Z = Z * (1 + 0.005 * rng.standard_normal(Z.shape))
    w2 = 1.0 / np.abs(Z) ** 2                        # modulus weights, squared
    return V, Us, combos, coords, Z, w2


def _brute_force(V, Us, combos, Z, w2):
    """(NC, B) cost and (NC, B, C) coefficients: each combination's weighted normal
    equations solved with numpy (the kernel's 1e-10 ridge on the diagonal), coefficients
    floored at the kernel's tiny positive value, cost = 0.5 |W (A a - Z)|^2 evaluated
    directly at the floored coefficients."""
    NC, B = combos.shape[0], Z.shape[0]
    cost = np.empty((NC, B))
    coef = np.empty((NC, B, V.shape[0] + len(Us)))
    for c, combo in enumerate(combos):
        A = np.concatenate([V, np.stack([Us[k][i] for k, i in enumerate(combo)])])  # (C, F)
        for b in range(B):
            Ar, Ai = A.real * np.sqrt(w2[b]), A.imag * np.sqrt(w2[b])
            zr, zi = Z[b].real * np.sqrt(w2[b]), Z[b].imag * np.sqrt(w2[b])
            G = Ar @ Ar.T + Ai @ Ai.T
            rhs = Ar @ zr + Ai @ zi
            a = np.linalg.solve(G + np.diag(1e-10 * np.diag(G) + 1e-300), rhs)
            floor = 1e-9 * np.sqrt((zr @ zr + zi @ zi) / np.max(np.diag(G)))
            a = np.maximum(a, floor)
            cost[c, b] = 0.5 * (np.sum((a @ Ar - zr) ** 2) + np.sum((a @ Ai - zi) ** 2))
            coef[c, b] = a
    return cost, coef


def _run_scan(V, Us, combos, coords, Z, w2, n_starts, block=0):
    out = kscan.scan_combos(2, len(Us), n_starts, V, Us, combos, coords, Z, w2, w2, block=block)
    return tuple(np.asarray(v) for v in out)


def test_scan_picks_the_brute_force_optimum_and_diverse_runners_up():
    V, Us, combos, coords, Z, w2 = _problem(3, K=3, C=6)
    cost, coef = _brute_force(V, Us, combos, Z, w2)
    k_coef, pick, k_cost = _run_scan(V, Us, combos, coords, Z, w2, n_starts=3)
    B = Z.shape[0]
    for b in range(B):
        # the first pick is the brute-force best combination, with its cost and coefficients
        assert cost[pick[b, 0], b] <= cost[:, b].min() * (1 + 1e-9)
        for s in range(3):
            c = pick[b, s]
            np.testing.assert_allclose(k_cost[b, s], cost[c, b], rtol=1e-7)
            np.testing.assert_allclose(k_coef[b, s], coef[c, b], rtol=1e-6)
        # every later pick: the best combination not within one grid step of an earlier pick
        allowed = np.ones(len(combos), bool)
        for s in range(1, 3):
            prev = coords[pick[b, s - 1]]
            allowed &= ~np.all(np.abs(coords - prev) <= 1.0, axis=1)
            allowed[pick[b, :s]] = False
            assert allowed[pick[b, s]]
            assert cost[pick[b, s], b] <= cost[allowed, b].min() * (1 + 1e-9)


def test_scan_in_passes_equals_one_pass():
    """Scoring the combinations in several passes (the last one padded) gives the result of
    one pass over the whole table."""
    V, Us, combos, coords, Z, w2 = _problem(5, K=2, C=9)        # 81 combinations
    whole = _run_scan(V, Us, combos, coords, Z, w2, n_starts=4)
    passes = _run_scan(V, Us, combos, coords, Z, w2, n_starts=4, block=8)   # 11, 7 padded
    np.testing.assert_array_equal(passes[1], whole[1])
    np.testing.assert_allclose(passes[2], whole[2], rtol=1e-12)
    np.testing.assert_allclose(passes[0], whole[0], rtol=1e-12)


def test_term_shapes_of_equal_terms_share_one_program():
    """``term_shapes`` renumbers a term onto its own parameters before compiling, so the
    three arcs of a three-arc chain (and a Warburg branch, whose element parameters are
    not at the front) evaluate as a closed-form numpy model does, and terms of the same
    structure compile one program, not one each."""
    import fastfit as ff
    from fastfit.fitting._scanplan import split_terms

    c = ff.Circuit("L0-R0-p(R1,CPE1)-p(R2,CPE2)-p(R3,CPE3)-p(R4-Wo1,CPE4)")
    _, nodes = split_terms(c.tree)
    rng = np.random.default_rng(4)
    kscan._term_shapes.clear_cache()
    for node, first in zip(nodes, (2, 5, 8, 11)):
        idx = tuple(range(first, first + (3 if first < 11 else 5)))
        vals = np.column_stack([10 ** rng.uniform(0, 3, 6), 10 ** rng.uniform(-8, -4, 6),
                                rng.uniform(0.6, 1.0, 6)] + ([10 ** rng.uniform(0, 3, 6),
                                                              10 ** rng.uniform(-3, 1, 6)]
                                                             if first == 11 else []))
        got = np.asarray(kscan.term_shapes(node, c.n_params, idx, vals, W))
        R, Q, n = vals[:, 0:1], vals[:, 1:2], vals[:, 2:3]
        if first == 11:      # R4 - Wo1 (R_w, tau) in parallel with CPE4 (Q, n): idx order
            R, Rw, tw, Q, n = (vals[:, k:k + 1] for k in range(5))
            x = np.sqrt(1j * W * tw)
            branch = R + Rw / (np.tanh(x) * x)
        else:
            branch = R
        ref = 1.0 / (1.0 / branch + Q * (1j * W) ** n)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert kscan._term_shapes._cache_size() == 2          # the arcs' and the Warburg's


def test_term_shapes_in_any_parameter_order():
    """A caller may list a term's parameters in another order than the tree's.  Where each
    element's own parameters stay consecutive (here Q, n, R) the subtree is renumbered
    onto those slots; where they do not (n, Q, R) it is evaluated on the global indices.
    Either way the values follow ``idx`` (closed form)."""
    import fastfit as ff
    from fastfit.fitting._scanplan import split_terms

    c = ff.Circuit("R0-p(R1,CPE1)")                     # R1 = 1, CPE1_Q = 2, CPE1_n = 3
    _, (node,) = split_terms(c.tree)
    assert kscan._renumbered(node, {2: 0, 3: 1, 1: 2}) == ("P", (("E", "R", 2), ("E", "CPE", 0)))
    assert kscan._renumbered(node, {3: 0, 2: 1, 1: 2}) is None
    Q, n, R = np.array([[2e-6, 1e-7]]).T, np.array([[0.8, 0.95]]).T, np.array([[150.0, 20.0]]).T
    ref = 1.0 / (1.0 / R + Q * (1j * W) ** n)
    for idx, cols in (((2, 3, 1), (Q, n, R)), ((3, 2, 1), (n, Q, R))):
        got = np.asarray(kscan.term_shapes(node, c.n_params, idx, np.hstack(cols), W))
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_interchangeable_terms_without_a_time_constant_get_combinations():
    """Two lone CPEs (or Warburgs, La) in series are interchangeable but have no time
    constant to order them by: every unordered pair of candidates is scanned once (the
    strict time-constant order kept none, and the scan divided by zero)."""
    import fastfit as ff
    from fastfit.fitting._scanplan import plan_scan
    from fastfit.kernels import ELEMENTS

    for circuit in ("R0-CPE1-CPE2", "R0-p(R1,CPE1)-W2-W3", "R0-La1-La2"):
        pl = plan_scan(ff.Circuit(circuit).tree, ELEMENTS, 0.1, 1e6, 0.8)
        sizes = [t.size for t in pl.terms]
        same = [k for k, t in enumerate(pl.terms) if t.sig == pl.terms[-1].sig]
        a, b = same[-2:]
        n = sizes[b]
        assert len(pl.combos) == int(np.prod(sizes)) // (n * n) * (n * (n + 1) // 2)
        assert np.all(pl.combos[:, a] <= pl.combos[:, b])
    # ordered by time constant as before where the terms have one
    pl = plan_scan(ff.Circuit("R0-p(R1,CPE1)-p(R2,CPE2)").tree, ELEMENTS, 0.1, 1e6, 0.8)
    t = pl.terms[0]
    assert np.all(t.ptau[pl.combos[:, 0]] < t.ptau[pl.combos[:, 1]])
    # and the fit runs: the exponents and magnitudes of two CPEs recovered (either order)
    f = np.geomspace(1e5, 1e-2, 50)
    c = ff.Circuit("R0-CPE1-CPE2")
    p = np.array([20.0, 1e-5, 0.9, 1e-3, 0.45])
    r = ff.fit(f, c.impedance(f, p), c)
    got = r.params[0]
    if got[2] < got[4]:
        got = got[[0, 3, 4, 1, 2]]
    np.testing.assert_allclose(got, p, rtol=1e-6)
