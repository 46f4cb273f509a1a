"""Pieces of the Newton sketch solver: sparse factor, exact intercept elimination, cost model."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skconvex.problems import LogisticProblem
from skconvex.solvers.newton_sketch import (
    _inverse_factor,
    _inverse_gram,
    _SparseFactor,
    default_nnz_per_row,
    solve_newton_sketch,
)


def test_sparse_factor_products_and_grams():
    rng = np.random.RandomState(0)
    B = sp.random(50, 80, density=0.1, format="csr", random_state=0)
    u, o = rng.randn(50), rng.randn(80)
    M = B.toarray() - np.outer(u, o)
    F = _SparseFactor(B, u, o)
    assert_allclose(F.gram(), M.T @ M, atol=1e-12)
    assert_allclose(F.outer_gram(), M @ M.T, atol=1e-12)
    v, w = rng.randn(80), rng.randn(50)
    assert_allclose(F.matvec(v), M @ v, atol=1e-12)
    assert_allclose(F.rmatvec(w), M.T @ w, atol=1e-12)
    c = rng.rand(80) + 0.5
    assert_allclose(F.scale_columns(c).outer_gram(), (M * c) @ (M * c).T, atol=1e-12)


@pytest.mark.parametrize("rows", [30, 200])  # Woodbury and Cholesky paths
@pytest.mark.parametrize("sparse", [False, True])
def test_unpenalized_columns_eliminated_exactly(rows, sparse):
    """``H = [B, U]^T [B, U] + diag(1, 0)``: the Schur-complement solve equals a dense solve, for
    one free column (binary intercept) and for free columns with a null direction (the
    multinomial gauge), where the solution orthogonal to the null space is returned."""
    rng = np.random.RandomState(1)
    B = rng.randn(rows, 60)
    B[rng.rand(rows, 60) < 0.7] = 0.0
    for n_free in (1, 3):
        U = rng.randn(rows, n_free)
        if n_free == 3:
            U[:, 2] = -U[:, 0] - U[:, 1]  # U (1, 1, 1) = 0: a gauge direction
        F = np.hstack([B, U])
        H = F.T @ F + np.diag(np.r_[np.ones(60), np.zeros(n_free)])
        g = H @ rng.randn(60 + n_free)  # in the range of H
        inv = _inverse_factor(sp.csr_matrix(B) if sparse else B.copy(), U)
        x = inv.solve(g)
        assert_allclose(H @ x, g, rtol=1e-8, atol=1e-8)
        inv2 = _inverse_gram(F.T @ F, np.r_[np.ones(60), np.zeros(n_free)])
        assert_allclose(inv2.solve(g), x, rtol=1e-7, atol=1e-8)
        if n_free == 3:
            assert abs(x[60:].sum()) < 1e-8


def test_reproducible_and_deterministic_choices():
    """No clock in the adaptive rule: the same random_state gives the same fit, bit for bit."""
    rng = np.random.RandomState(0)
    X = rng.randn(6000, 80)
    y = (X @ rng.randn(80) + rng.randn(6000) > 0).astype(int)
    a = solve_newton_sketch(LogisticProblem(X, y, 1.0), random_state=5, tol=1e-8)
    b = solve_newton_sketch(LogisticProblem(X, y, 1.0), random_state=5, tol=1e-8)
    assert a.info == b.info
    assert np.array_equal(a.w, b.w)


def test_default_nnz_per_row_bounds():
    rng = np.random.RandomState(0)
    X = rng.randn(20000, 50)
    problem = LogisticProblem(X, (X[:, 0] > 0).astype(int), 1.0)
    for m in (1, 256, 5000, 100000):
        s = default_nnz_per_row(problem, m)
        assert 1 <= s <= 50
    assert default_nnz_per_row(problem, 256) >= default_nnz_per_row(problem, 5000)
