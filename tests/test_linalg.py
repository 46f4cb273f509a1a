import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skconvex._linalg import AffineOperator, weighted_moments


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("parts", ["plain", "row", "col", "rank1", "all"])
def test_affine_operator_matches_dense(sparse, parts):
    rng = np.random.RandomState(0)
    B = rng.randn(40, 7)
    if sparse:
        B[rng.rand(*B.shape) < 0.6] = 0
        Bm = sp.csr_matrix(B)
    else:
        Bm = B
    kw = {}
    if parts in ("row", "all"):
        kw["row_scale"] = rng.rand(40) + 0.5
    if parts in ("col", "all"):
        kw["col_scale"] = rng.rand(7) + 0.5
    if parts in ("rank1", "all"):
        kw["u"], kw["offset"] = rng.randn(40), rng.randn(7)
    op = AffineOperator(Bm, **kw)
    M = B.copy()
    if "row_scale" in kw:
        M = M * kw["row_scale"][:, None]
    if "col_scale" in kw:
        M = M * kw["col_scale"]
    if "u" in kw:
        M = M - np.outer(kw["u"], kw["offset"])
    assert_allclose(op.toarray(), M, atol=1e-12)
    V, U = rng.randn(7, 3), rng.randn(40, 2)
    assert_allclose(op.matvec(V), M @ V, atol=1e-12)
    assert_allclose(op.matvec(V[:, 0]), M @ V[:, 0], atol=1e-12)
    assert_allclose(op.rmatvec(U), M.T @ U, atol=1e-12)
    assert_allclose(op.rmatvec(U[:, 0]), M.T @ U[:, 0], atol=1e-12)
    assert_allclose(op.gram(), M.T @ M, atol=1e-10)
    assert_allclose(op.outer_gram(), M @ M.T, atol=1e-10)
    assert_allclose(op.T.toarray(), M.T, atol=1e-12)


def test_u_and_offset_together():
    with pytest.raises(ValueError, match="together"):
        AffineOperator(np.ones((3, 2)), u=np.ones(3))


@pytest.mark.parametrize("parts", ["plain", "all"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_gram_matvec(parts, dtype):
    rng = np.random.RandomState(0)
    B = rng.randn(9000, 30).astype(dtype)
    kw = {}
    if parts == "all":
        kw = dict(row_scale=rng.rand(9000) + 0.5, col_scale=rng.rand(30) + 0.5,
                  u=rng.randn(9000), offset=rng.randn(30))
    op = AffineOperator(B, **kw)
    V = rng.randn(30, 2)
    ref = op.rmatvec(op.matvec(V))
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    assert_allclose(op.gram_matvec(V), ref, rtol=rtol)
    assert_allclose(op.gram_matvec(V[:, 0]), ref[:, 0], rtol=rtol)


@pytest.mark.parametrize("sparse", [False, True])
def test_column_sq_norms(sparse):
    rng = np.random.RandomState(0)
    B = rng.randn(60, 7)
    kw = dict(row_scale=rng.rand(60) + 0.5, col_scale=rng.rand(7) + 0.5, u=rng.randn(60),
              offset=rng.randn(7))
    op = AffineOperator(sp.csr_matrix(B) if sparse else B, **kw)
    assert_allclose(op.column_sq_norms(), np.sum(op.toarray() ** 2, axis=0), rtol=1e-10)


def test_weighted_moments_constant_test_is_per_column():
    rng = np.random.RandomState(0)
    A = np.column_stack([1e9 + rng.randn(50), 1e-13 * rng.randn(50), np.full(50, 3.0),
                         np.zeros(50), np.full(50, 0.1)])
    w = rng.rand(50)
    mean, scale = weighted_moments(A, w)
    assert_allclose(mean, np.average(A, axis=0, weights=w))
    ref = np.sqrt(np.average((A - mean) ** 2, axis=0, weights=w))
    assert_allclose(scale[:2], ref[:2])
    # constant columns (0.1 is not exact in binary: its variance is rounding) get scale 1
    assert_allclose(scale[2:], 1.0)


@pytest.mark.parametrize("parts", ["rank1", "all"])
def test_sparse_gram_of_columns_with_a_large_offset(parts):
    # the expanded sparse Gram cancelled for a column whose offset dominates it; such
    # columns are formed densely, in M^T M and in M M^T
    rng = np.random.RandomState(0)
    B = rng.randn(60, 8)
    B[rng.rand(*B.shape) < 0.6] = 0
    B[:, 2] = 1e8 + rng.randn(60)
    B[:, 5] = -3e6 + 1e-2 * rng.randn(60)
    kw = {"u": np.ones(60), "offset": B.mean(axis=0)}
    if parts == "all":
        w = rng.rand(60) + 0.5
        kw = {"row_scale": w, "col_scale": rng.rand(8) + 0.5, "u": w,
              "offset": (w * w) @ B / (w @ w)}
    M = AffineOperator(sp.csr_matrix(B), **kw)
    D = M.toarray()
    assert_allclose(M.gram(), D.T @ D, rtol=1e-9, atol=1e-9 * np.abs(D.T @ D).max())
    assert_allclose(M.outer_gram(), D @ D.T, rtol=1e-9, atol=1e-9 * np.abs(D @ D.T).max())
