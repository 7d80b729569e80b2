"""The batched quadratic program behind every DRT solve, on explicit matrices.

``solve_qp`` solves, for each row b of ``b`` (weighted data, (k, R)),

    minimise ||A x - b||^2 + lam x^T M x   over the ``free`` columns,
    subject to  sign_bi x_i >= 0  for the constrained columns

exactly (KKT conditions to rounding) with :func:`fastfit.kernels.nnls_qp`, in chunks and
stages; ``objective`` evaluates the minimised quantity.  Everything that differs between
rows of one call (data, constraint signs) is traced, so one compiled program serves them.
"""
from __future__ import annotations

import numpy as np

from .._batch import bucket_size

__all__ = ["solve_qp", "objective", "normal_matrix", "CHUNK"]

CHUNK = 8192         # rows per compiled call (bounds memory and the number of programs)
_RHO = 0.01
# (ADMM iterations, factorisation budget) per stage; the last budget is the real limit
_STAGES_SMALL = ((200, 10), (600, 12), (3000, 500))
_STAGES_LARGE = ((150, 6), (600, 12), (3000, 500))
_STRIDE = 4          # warm start: ADMM on every 4th spectrum, the 3 after it start
                     # pivoting from its positive set


def normal_matrix(A, M, lam, free) -> np.ndarray:
    """(N, N) H = A^T A + lam M on the free columns (identity on the pinned ones)."""
    H = A.T @ A + lam * M
    both = free[:, None] & free[None, :]
    return np.where(both, H, np.eye(H.shape[0]))


def objective(A, M, b, lam, x) -> np.ndarray:
    """(k,) ||A x - b||^2 + lam x^T M x for rows x (k, N), b (k, R)."""
    r = x @ A.T - b
    return np.sum(r * r, axis=1) + lam * np.sum((x @ M) * x, axis=1)


def solve_qp(A, M, free, b, lam, constrained: bool, sign=None, warm_start=False, q_extra=None):
    """x (k, N), status (k,) kernel codes, n_solves (k,) for rows ``b`` (k, R) sharing
    A (R, N), M (N, N), ``free`` (N,) and lam.

    ``constrained``: every free column is sign-constrained (``sign`` (k, N) of +-1, default
    +1: non-negative); else plain ridge.  ``q_extra`` (k, N) is added to the linear term
    ``A^T b`` (perturbed problems of the credible bands).  Stages (every stage: a fresh
    positive-set guess, then block pivoting with a budget of factorisations; the
    unfinished go on to the next stage in a smaller batch): ``_STAGES_SMALL`` for N <= 128
    (ADMM iterations are cheap next to factorisations), ``_STAGES_LARGE`` above (a
    shorter first ADMM guess pays off on large systems; benchmarks/README.md, "Tuning
    history").
    """
    from fastfit.kernels import MAX_SOLVES, NNLS_STATUS, nnls_qp

    N = A.shape[1]
    Np = -(-N // 8) * 8              # pad with pinned variables: fewer compiled shapes
    H = np.eye(Np)
    H[:N, :N] = A.T @ A + lam * M
    k = b.shape[0]
    q = np.zeros((k, Np))
    q[:, :N] = b @ A if q_extra is None else b @ A + q_extra
    sg = np.ones((k, Np))
    if sign is not None:
        sg[:, :N] = sign
    fr = np.zeros(Np, bool)
    fr[:N] = free
    nn = np.full(Np, bool(constrained))
    stages = (_STAGES_SMALL if Np <= 136 else _STAGES_LARGE) if constrained else ((0, MAX_SOLVES),)
    x = np.zeros((k, N))
    st = np.zeros(k, np.int64)
    ns = np.zeros(k, np.int64)
    for start in range(0, k, CHUNK):
        rows = np.arange(start, min(k, start + CHUNK))
        for j, (n_admm, budget) in enumerate(stages):
            if not rows.size:
                break
            size = bucket_size(rows.size)
            stride = _STRIDE if (warm_start and j == 0 and n_admm and size >= 4 * _STRIDE) else 1
            # padding rows have q = 0: optimum x = 0, converged at the first solve
            pad = size - rows.size
            qq = np.concatenate([q[rows], np.zeros((pad, Np))])
            ss = np.concatenate([sg[rows], np.ones((pad, Np))])
            r = nnls_qp(H, qq, nn, fr, rho=_RHO, n_admm=n_admm, stride=stride,
                        max_solves=budget, sign=ss)
            r_x, r_st, r_ns = (np.asarray(v)[: rows.size] for v in (r.x, r.status, r.n_solves))
            x[rows], st[rows], ns[rows] = r_x[:, :N], r_st, ns[rows] + r_ns
            rows = rows[r_st == NNLS_STATUS["BUDGET"]]
    return x, st, ns
