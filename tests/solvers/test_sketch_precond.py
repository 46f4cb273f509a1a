import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skconvex._linalg import AffineOperator
from skconvex.solvers._sketch_precond import AdaptiveSketchSize, SketchPreconditioner


@pytest.mark.parametrize("shape", [(50, 8), (6, 20)])  # Cholesky and Woodbury paths
@pytest.mark.parametrize("sparse", [False, True])
def test_preconditioner_is_exact_inverse_of_sketched_hessian(shape, sparse):
    rng = np.random.RandomState(0)
    B = rng.randn(*shape)
    op = AffineOperator(sp.csr_matrix(B) if sparse else B, u=rng.randn(shape[0]),
                        offset=rng.randn(shape[1]))
    P = SketchPreconditioner(op, 0.3)
    assert P.woodbury == (shape[0] < shape[1])
    M = op.toarray()
    H = M.T @ M + 0.3 * np.eye(shape[1])
    Z = rng.randn(shape[1], 3)
    assert_allclose(P.solve(Z), np.linalg.solve(H, Z), rtol=1e-9, atol=1e-10)
    s = np.linalg.svd(M, compute_uv=False) ** 2
    assert_allclose(P.effective_dimension(), np.sum(s / (s + 0.3)), rtol=1e-8)


def test_adaptive_rule_doubles_on_failed_progress_and_caps_at_rows():
    rule = AdaptiveSketchSize(64, 200, rho=0.9)
    kw = dict(delta=1.0, target=1e-16, iter_cost=1.0, iter_cost_doubled=1.0, build_cost=1e9)
    assert rule.should_double(0.95, **kw)  # the paper's test fails
    assert rule.double() == 128
    assert not rule.should_double(0.5, **kw)  # one ratio: no rate estimate yet
    assert not rule.should_double(0.5, **kw)  # resketch far too expensive
    assert rule.double() == 200 and not rule.should_double(0.99, **kw)  # capped
    fixed = AdaptiveSketchSize(64, 200, adaptive=False)
    assert not fixed.should_double(0.999, **kw)


def test_adaptive_rule_cost_model_doubles_when_it_pays():
    rule = AdaptiveSketchSize(64, 10_000, rho=0.95)
    kw = dict(delta=1.0, target=1e-16, iter_cost=1.0, iter_cost_doubled=1.0, build_cost=5.0)
    rule.should_double(0.8, **kw)
    # rate 0.8: ~165 iterations left; at 0.4 about 40, plus a build cost of 5: double
    assert rule.should_double(0.8, **kw)


@pytest.mark.parametrize("shape", [(50, 8), (6, 20)])
def test_preconditioner_with_diagonal_regularization(shape):
    """Per-coordinate regularization (e.g. an unpenalized intercept) on both paths."""
    rng = np.random.RandomState(1)
    B = rng.randn(*shape)
    op = AffineOperator(B, row_scale=rng.rand(shape[0]) + 0.5)
    reg = rng.rand(shape[1]) + 0.1
    P = SketchPreconditioner(op, reg)
    M = op.toarray()
    H = M.T @ M + np.diag(reg)
    Z = rng.randn(shape[1], 2)
    assert_allclose(P.solve(Z), np.linalg.solve(H, Z), rtol=1e-9, atol=1e-10)
    assert_allclose(P.effective_dimension(),
                    np.trace(M.T @ M @ np.linalg.inv(H)), rtol=1e-8)


def test_zero_regularization_on_one_coordinate_cholesky_path():
    rng = np.random.RandomState(2)
    B = rng.randn(40, 5)
    reg = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    P = SketchPreconditioner(AffineOperator(B), reg)
    H = B.T @ B + np.diag(reg)
    z = rng.randn(5)
    assert_allclose(P.solve(z), np.linalg.solve(H, z), rtol=1e-10)


def test_gram_rounded_to_a_singular_matrix():
    # two equal columns on a scale of 1e9 and a penalty of 1: M^T M + I is definite (its
    # least eigenvalue is 1) but the computed Gram rounds the 1 away. Whether Cholesky then
    # fails (the eigenvalue fallback) or returns pivots of rounding noise depends on the
    # BLAS; either way the solve is finite, exact on the well-determined directions, and
    # never longer than the exact one along the near-null direction. (The Woodbury path,
    # m < d, is not exact there: its capacitance matrix I + M M^T has a condition number of
    # 1e19 whatever the scaling)
    shape = (50, 8)
    rng = np.random.RandomState(3)
    B = rng.randn(*shape)
    B[:, 1] = B[:, 0]
    B[:, :2] *= 1e9
    P = SketchPreconditioner(AffineOperator(B), 1.0)
    H = B.T @ B + np.eye(shape[1])
    lam, V = np.linalg.eigh(H)
    Z = rng.randn(shape[1], 3)
    X = P.solve(Z)
    assert np.all(np.isfinite(X))
    null = np.zeros(shape[1])
    null[:2] = [1.0, -1.0]
    null /= np.sqrt(2)
    keep = np.abs(V.T @ null) < 1e-3
    assert_allclose(V[:, keep].T @ X, (V[:, keep].T @ Z) / lam[keep][:, None], rtol=1e-6,
                    atol=1e-12)
    assert np.all(np.abs(null @ X) <= np.abs(null @ Z) * (1 + 1e-6))
    assert np.isfinite(P.effective_dimension())


@pytest.mark.parametrize("shape", [(50, 8), (6, 20)])
def test_eigenvalue_fallback_is_exact_on_a_definite_matrix(shape, monkeypatch):
    # where Cholesky fails, the matrix is factored by eigenvalues: on a well-conditioned
    # matrix that factorization is the exact inverse (the floor changes nothing)
    import skconvex.solvers._sketch_precond as mod

    def fail(*args, **kwargs):
        raise np.linalg.LinAlgError("forced")

    monkeypatch.setattr(mod.sla, "cho_factor", fail)
    rng = np.random.RandomState(4)
    B = rng.randn(*shape)
    reg = rng.rand(shape[1]) + 0.1
    P = SketchPreconditioner(AffineOperator(B), reg)
    assert P.factor is None
    H = B.T @ B + np.diag(reg)
    Z = rng.randn(shape[1], 2)
    assert_allclose(P.solve(Z), np.linalg.solve(H, Z), rtol=1e-9, atol=1e-10)
    assert_allclose(P.solve(Z[:, 0]), np.linalg.solve(H, Z[:, 0]), rtol=1e-9, atol=1e-10)
    assert_allclose(P.effective_dimension(), np.trace(B.T @ B @ np.linalg.inv(H)), rtol=1e-8)
