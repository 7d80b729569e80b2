"""Data-derived starting values by variable projection on a grid of time constants.

For a *chain* circuit -- a series connection of resistors, inductors, capacitors and
relaxation blocks (R||CPE, R||C, Voigt K, ZARC) -- the impedance is linear in the block
resistances (and in R, L, 1/C) once each block's time constant tau and exponent n are
fixed:

    Z(w) = sum_s a_s v_s(w) + sum_k R_k / (1 + (j w tau_k)^n_k),
    v_s in {1, j w, 1/(j w)}.

For every ordered tuple tau_1 < ... < tau_K on a log grid, the weighted linear least
squares for the coefficients is solved (coefficients clamped to be positive, so each
candidate is a feasible point), and the best few tuples become LM starting points.
All normal-equation entries are gathered from Gram tables computed once per spectrum
(grid x grid, grid x static, static x static), so the scan costs one small CxC solve per
tuple (Golub & Pereyra, SIAM J. Numer. Anal. 10 (1973) 413, for the separable idea).

``chain`` (static) describes the circuit:
    statics: tuple of ("R"|"L"|"C", param index)
    blocks:  tuple of ("rq", iR, iQ, in) | ("rc", iR, iC) | ("k", iR, itau)
                      | ("zarc", iR, itau, iphi)
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ._linalg import cholesky_solve_lists

__all__ = ["varpro_starts"]


def _static_shape(kind, omega):
    if kind == "R":
        return jnp.ones_like(omega) + 0j
    if kind == "L":
        return 1j * omega
    return -1j / omega  # "C": coefficient is 1/C


def _dot(wr2, wi2, u, v):
    """Weighted real inner products <u, v> over the frequency axis (axis 1).
    u: (B, F, M), v: (B, F, N) -> (B, M, N)."""
    return (jnp.einsum("bfm,bfn->bmn", wr2[:, :, None] * u.real, v.real)
            + jnp.einsum("bfm,bfn->bmn", wi2[:, :, None] * u.imag, v.imag))


def _block_shapes(lw, log_tau, n):
    """1/(1 + (j w tau)^n) on the grid; lw (..., F), n broadcastable -> (..., F, T)."""
    lg = lw[..., :, None] + log_tau
    u = jnp.exp(n * lg) * (jnp.cos(n * jnp.pi / 2) + 1j * jnp.sin(n * jnp.pi / 2))
    return 1.0 / (1.0 + u)


def _assemble(Ns, K, NC, B, SS, SB, BB_diag, BB_off, rV, rU, combos, gathered=False):
    """Per-combo normal equations (B, NC, C, C) and right-hand sides (B, NC, C) from
    tables: SS (B,Ns,Ns); SB[k] (B,T,Ns); BB_diag[k] (B,T); BB_off[(k,l)] (B,NC);
    rV (B,Ns); rU[k] (B,T) -- or, with ``gathered``, SB, BB_diag, rU already per combo
    ((B,NC,Ns), (B,NC), (B,NC))."""
    C = Ns + K
    rows = [[None] * C for _ in range(C)]
    rhs = [None] * C
    for i in range(Ns):
        rhs[i] = jnp.broadcast_to(rV[:, i][:, None], (B, NC))
        for j in range(Ns):
            rows[i][j] = jnp.broadcast_to(SS[:, i, j][:, None], (B, NC))
    for k in range(K):
        idx = slice(None) if gathered else combos[:, k]
        rhs[Ns + k] = rU[k][:, idx]
        rows[Ns + k][Ns + k] = BB_diag[k][:, idx]
        for i in range(Ns):
            v = SB[k][:, idx, i]
            rows[Ns + k][i] = v
            rows[i][Ns + k] = v
        for l in range(k + 1, K):
            rows[Ns + k][Ns + l] = BB_off[(k, l)]
            rows[Ns + l][Ns + k] = BB_off[(k, l)]
    return rows, rhs


def _tables_shared(statics, K, omega, Z, wr2, wi2, log_tau, combos, n_block):
    """Gram tables when every spectrum shares the frequency grid and scan exponents: each
    table is one GEMM (B, F) @ (F, columns) of weights against per-frequency products."""
    B = Z.shape[0]
    NC = combos.shape[0]
    Ns = len(statics)
    lw = jnp.log(omega)
    U = [_block_shapes(lw, log_tau, n_block[k]) for k in range(K)]      # (F, T)
    V = [_static_shape(kind, omega) for kind, _ in statics]             # (F,)

    def gram(u, v):  # u, v (F, ...) complex -> (B, ...)
        shp = jnp.broadcast_shapes(u.shape, v.shape)
        pr = jnp.broadcast_to(u.real * v.real, shp).reshape(shp[0], -1)
        pi = jnp.broadcast_to(u.imag * v.imag, shp).reshape(shp[0], -1)
        return (wr2 @ pr + wi2 @ pi).reshape((B,) + shp[1:])

    zz = jnp.sum(wr2 * Z.real ** 2 + wi2 * Z.imag ** 2, axis=-1)
    zr, zi = wr2 * Z.real, wi2 * Z.imag
    rU = [zr @ u.real + zi @ u.imag for u in U]                          # (B, T)
    rV = (jnp.stack([zr @ v.real + zi @ v.imag for v in V], axis=-1) if Ns
          else jnp.zeros((B, 0)))
    SS = (jnp.stack([jnp.stack([gram(V[i], V[j]) for j in range(Ns)], -1) for i in range(Ns)], -2)
          if Ns else jnp.zeros((B, 0, 0)))
    SB = [jnp.stack([gram(U[k], V[i][:, None]) for i in range(Ns)], -1) if Ns
          else jnp.zeros((B, U[k].shape[1], 0)) for k in range(K)]
    BB_diag = [gram(U[k], U[k]) for k in range(K)]
    BB_off = {(k, l): gram(U[k][:, combos[:, k]], U[l][:, combos[:, l]])
              for k in range(K) for l in range(k + 1, K)}
    # per-combo copies of the per-grid-point tables: one GEMM with a 0/1 selection matrix
    # per block (XLA:CPU gathers along the minor axis are ~3x slower)
    T = log_tau.shape[0]
    for k in range(K):
        Sel = (jnp.arange(T)[:, None] == combos[None, :, k]).astype(Z.real.dtype)  # (T, NC)
        X = jnp.concatenate([rU[k], BB_diag[k]] + [SB[k][:, :, i] for i in range(Ns)], axis=0)
        Y = (X @ Sel).reshape(2 + Ns, B, NC)
        rU[k], BB_diag[k] = Y[0], Y[1]
        SB[k] = jnp.stack([Y[2 + i] for i in range(Ns)], axis=-1) if Ns else SB[k]
    G, b = _assemble(Ns, K, NC, B, SS, SB, BB_diag, BB_off, rV, rU, combos, gathered=True)
    return G, b, zz


def _tables_general(statics, K, omega, Z, wr2, wi2, log_tau, combos, n_block):
    """Gram tables for per-spectrum frequency grids or exponents (batched contractions)."""
    B = Z.shape[0]
    NC = combos.shape[0]
    Ns = len(statics)
    omega = jnp.broadcast_to(omega, Z.shape)
    n_block = jnp.broadcast_to(n_block, (B, K))
    lw = jnp.log(omega)
    lt = log_tau[:, None, :] if log_tau.ndim == 2 else log_tau          # per-spectrum grid
    U = [_block_shapes(lw, lt, n_block[:, k][:, None, None]) for k in range(K)]  # (B,F,T)
    Zc = Z[:, :, None]
    zz = _dot(wr2, wi2, Zc, Zc)[:, 0, 0]
    rU = [_dot(wr2, wi2, U[k], Zc)[:, :, 0] for k in range(K)]
    if Ns:
        V = jnp.stack([_static_shape(kind, omega) for kind, _ in statics], axis=-1)
        SS = _dot(wr2, wi2, V, V)
        SB = [_dot(wr2, wi2, U[k], V) for k in range(K)]
        rV = _dot(wr2, wi2, V, Zc)[:, :, 0]
    else:
        SS, rV = jnp.zeros((B, 0, 0)), jnp.zeros((B, 0))
        SB = [jnp.zeros((B, log_tau.shape[-1], 0)) for _ in range(K)]
    BB_diag = [jnp.sum(wr2[:, :, None] * U[k].real ** 2 + wi2[:, :, None] * U[k].imag ** 2, axis=1)
               for k in range(K)]
    BB_off = {}
    for k in range(K):
        for l in range(k + 1, K):
            uk, ul = U[k][:, :, combos[:, k]], U[l][:, :, combos[:, l]]
            BB_off[(k, l)] = jnp.sum(wr2[:, :, None] * uk.real * ul.real
                                     + wi2[:, :, None] * uk.imag * ul.imag, axis=1)
    G, b = _assemble(Ns, K, NC, B, SS, SB, BB_diag, BB_off, rV, rU, combos)
    return G, b, zz


def varpro_starts(chain, n_params, omega, Z, w_re, w_im, log_tau, combos, n_block, n_starts):
    """Best ``n_starts`` starting parameter vectors per spectrum.

    Parameters
    ----------
    chain : (statics, blocks), static
    n_params : int, static
    omega : (F,) shared or (B, F) rad/s;  Z : (B, F) complex;  w_re, w_im : (B, F) weights
        (0 = masked)
    log_tau : (T,) ln tau grid (s), or (B, T) per spectrum (general path only)
    combos : (NC, K) int indices into the grid, ascending along K
    n_block : (K,) shared or (B, K): exponent of each block during the scan (1 for R||C, K)
    n_starts : int, static

    Returns
    -------
    p0 : (B, n_starts, P) physical parameters; cost0 : (B, n_starts) weighted cost
    """
    statics, blocks = chain
    B = Z.shape[0]
    K = len(blocks)
    Ns = len(statics)
    C = Ns + K
    NC = combos.shape[0]
    wr2, wi2 = w_re * w_re, w_im * w_im
    tau = jnp.exp(log_tau)                                              # (T,)
    if omega.ndim == 1 and n_block.ndim == 1 and log_tau.ndim == 1:
        G, b, zz = _tables_shared(statics, K, omega, Z, wr2, wi2, log_tau, combos, n_block)
    else:
        G, b, zz = _tables_general(statics, K, omega, Z, wr2, wi2, log_tau, combos, n_block)
        n_block = jnp.broadcast_to(n_block, (B, K))
    if n_block.ndim == 1:
        n_block = jnp.broadcast_to(n_block, (B, K))
    # G, b: nested lists of (B, NC) arrays (structure of arrays)
    dmax = G[0][0]
    for i in range(1, C):
        dmax = jnp.maximum(dmax, G[i][i])
    G_reg = [[G[i][j] + (1e-10 * G[i][i] + 1e-300 if i == j else 0.0) for j in range(C)]
             for i in range(C)]
    a, _ = cholesky_solve_lists(G_reg, b)
    a_floor = 1e-9 * jnp.sqrt(zz[:, None] / (dmax + 1e-300))            # (B, NC)
    a = [jnp.maximum(v, a_floor) for v in a]
    quad = 0.0
    lin = 0.0
    for i in range(C):
        lin = lin + a[i] * b[i]
        for j in range(C):
            quad = quad + a[i] * G[i][j] * a[j]
    cost = 0.5 * (quad - 2.0 * lin + zz[:, None])
    cost = jnp.where(jnp.isfinite(cost), cost, jnp.inf)

    # pick n_starts diverse minima: repeated argmin, masking the chosen tuple's neighbours
    # (gathers per coefficient: stacking a (B, NC, C) array first costs more than the scan)
    picks = []
    cst = cost
    for s in range(n_starts):
        best = jnp.argmin(cst, axis=-1)                                  # (B,)
        picks.append(best)
        if s + 1 < n_starts:
            sel = combos[best]                                          # (B, K)
            near = jnp.all(jnp.abs(combos[None, :, :] - sel[:, None, :]) <= 1, axis=-1)
            cst = jnp.where(near, jnp.inf, cst)
    picks = jnp.stack(picks, axis=1)                                    # (B, S)
    bidx = jnp.arange(B)[:, None]
    a_sel = jnp.stack([jnp.take_along_axis(v, picks, axis=1) for v in a], axis=-1)  # (B,S,C)
    cost_sel = jnp.take_along_axis(cost, picks, axis=1)
    t_sel = (tau[bidx[..., None], combos[picks]] if tau.ndim == 2
             else tau[combos[picks]])                                   # (B, S, K)
    p0 = jnp.zeros((B, n_starts, n_params))
    for i, (kind, ip) in enumerate(statics):
        v = a_sel[..., i]
        p0 = p0.at[..., ip].set(1.0 / v if kind == "C" else v)
    for k, blk in enumerate(blocks):
        R = a_sel[..., Ns + k]
        t = t_sel[..., k]
        n = n_block[:, k][:, None]
        kind = blk[0]
        p0 = p0.at[..., blk[1]].set(R)
        if kind == "rq":
            p0 = p0.at[..., blk[2]].set(t ** n / R)
            p0 = p0.at[..., blk[3]].set(jnp.broadcast_to(n, R.shape))
        elif kind == "rc":
            p0 = p0.at[..., blk[2]].set(t / R)
        elif kind == "k":
            p0 = p0.at[..., blk[2]].set(t)
        else:  # zarc
            p0 = p0.at[..., blk[2]].set(t)
            p0 = p0.at[..., blk[3]].set(jnp.broadcast_to(n, R.shape))
    return p0, cost_sel
