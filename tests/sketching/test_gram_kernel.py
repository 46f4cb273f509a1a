"""The row-by-row Gram kernel of sparse matrices (exact Hessian of narrow sparse data)."""

import numpy as np
import pytest
import scipy.sparse as sp

from skconvex.sketching._kernels import csr_weighted_gram


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_weighted_gram_matches_dense(dtype):
    rng = np.random.RandomState(0)
    X = sp.random(300, 17, density=0.2, format="csr", random_state=rng, dtype=dtype)
    h = rng.standard_normal(300)  # signed weights allowed
    h[::7] = 0.0
    G, xh = csr_weighted_gram(X.indptr, X.indices, X.data, h, X.shape[1])
    Xd = X.toarray().astype(np.float64)
    np.testing.assert_allclose(G, Xd.T @ (h[:, None] * Xd), rtol=1e-6 if dtype == np.float32
                               else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(xh, Xd.T @ h, rtol=1e-6, atol=1e-6)
    assert G.dtype == np.float64
    np.testing.assert_array_equal(G, G.T)


def test_csr_weighted_gram_duplicates_and_unsorted_indices():
    # row 0 holds column 2 twice (summed: 3.0) and its indices are not sorted
    indptr = np.array([0, 3, 5])
    indices = np.array([2, 0, 2])
    indices = np.concatenate([indices, [1, 0]])
    data = np.array([1.0, 2.0, 2.0, 5.0, -1.0])
    X = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    assert not X.has_canonical_format
    h = np.array([0.5, 2.0])
    G, xh = csr_weighted_gram(X.indptr, X.indices, X.data, h, 3)
    Xd = X.toarray()  # sums the duplicates
    np.testing.assert_allclose(G, Xd.T @ (h[:, None] * Xd), atol=1e-14)
    np.testing.assert_allclose(xh, Xd.T @ h, atol=1e-14)
