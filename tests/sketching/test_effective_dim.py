"""Tests of skconvex.sketching.effective_dimension."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_limits

from skconvex.sketching import effective_dimension


@pytest.fixture(autouse=True)
def _single_threaded_blas():
    """The matrices here are small: one BLAS thread is as fast, and the timings do not
    collapse when other processes load the machine (OpenBLAS threads then spin)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _svd_formula(A, alpha):
    s = np.linalg.svd(np.asarray(A), compute_uv=False)
    return np.sum(s**2 / (s**2 + alpha))


def _decaying(n, d, rate=0.97, top=10.0, seed=0):
    rng = np.random.default_rng(seed)
    Q1, _ = np.linalg.qr(rng.standard_normal((n, d)))
    Q2, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (Q1 * (top * rate ** np.arange(d))) @ Q2.T


@pytest.mark.parametrize("shape", [(200, 30), (30, 200), (50, 50)])
@pytest.mark.parametrize("alpha", [1e-3, 1.0, 100.0])
def test_exact_matches_svd(shape, alpha):
    A = np.random.default_rng(1).standard_normal(shape)
    expected = _svd_formula(A, alpha)
    assert_allclose(effective_dimension(A, alpha, method="exact"), expected, rtol=1e-10)
    assert_allclose(effective_dimension(A, alpha), expected, rtol=1e-10)  # auto -> exact
    assert_allclose(effective_dimension(sp.csr_matrix(A), alpha, method="exact"), expected,
                    rtol=1e-10)
    assert_allclose(effective_dimension(A.astype(np.float32), alpha, method="exact"),
                    expected, rtol=1e-4)


def test_randomized_within_ten_percent():
    A = _decaying(3000, 300)
    s2 = (10.0 * 0.97 ** np.arange(300)) ** 2  # the singular values of A, squared
    expected = np.sum(s2 / (s2 + 1.0))
    est = effective_dimension(A, 1.0, method="randomized", random_state=0)
    assert abs(est - expected) < 0.1 * expected, (est, expected)
    # deterministic under a seed
    B = _decaying(600, 120, seed=1)
    assert effective_dimension(B, 1.0, method="randomized", random_state=3) == (
        effective_dimension(B, 1.0, method="randomized", random_state=3)
    )


def test_randomized_sparse_and_wide():
    rng = np.random.default_rng(2)
    A = sp.random(1500, 250, density=0.03, format="csr", random_state=3)
    A = A @ sp.diags(0.98 ** np.arange(250))
    alpha = 0.05
    expected = _svd_formula(A.toarray(), alpha)
    est = effective_dimension(A, alpha, method="randomized", random_state=0)
    assert abs(est - expected) < 0.1 * expected
    # the wide case works on the Gram matrix of the rows
    est_t = effective_dimension(sp.csc_matrix(A.T), alpha, method="randomized", random_state=0)
    assert abs(est_t - expected) < 0.1 * expected
    # few rows or columns: falls back to exact
    B = rng.standard_normal((500, 20))
    assert_allclose(effective_dimension(B, 1.0, method="randomized"), _svd_formula(B, 1.0))


def test_one_dimensional_input():
    b = np.arange(1.0, 6.0)
    assert_allclose(effective_dimension(b, 2.0), b @ b / (b @ b + 2.0))


@pytest.mark.parametrize("alpha", [0, -1.0, np.nan, np.inf, "1", None])
def test_alpha_must_be_positive(alpha):
    with pytest.raises(ValueError, match="alpha"):
        effective_dimension(np.eye(3), alpha)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="method"):
        effective_dimension(np.eye(3), 1.0, method="hutchinson")
    with pytest.raises(ValueError, match="n_probes"):
        effective_dimension(np.eye(3), 1.0, n_probes=2)
    with pytest.raises(ValueError, match="Input A contains"):
        effective_dimension(np.array([[1.0, np.nan]]), 1.0)
    with pytest.raises(ValueError, match="A must be"):
        effective_dimension(np.ones((2, 2, 2)), 1.0)


def test_randomized_warns_when_its_solves_do_not_converge(monkeypatch):
    """A spectrum from 1e4 to 1e-6 at alpha 1e-3 leaves the deflated solves a condition number
    of about 1e7: conjugate gradient cut at its cap underestimates the inverse and the
    estimate comes out high (10% with 800 columns at 200 iterations, silently). It warns
    now; with 300 columns the default cap converges, within 2%."""
    import skconvex.sketching.effective_dim as ed

    rng = np.random.RandomState(0)
    p = 300
    U = np.linalg.qr(rng.randn(p, p))[0]
    ev = np.sort(np.r_[np.linspace(1e-6, 100, p // 2), np.geomspace(1e4, 1e-6, p - p // 2)])
    A = (U * np.sqrt(ev)) @ np.linalg.qr(rng.randn(p, p))[0].T
    truth = float(np.sum(ev / (ev + 1e-3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est = effective_dimension(A, 1e-3, method="randomized", random_state=0)
    assert abs(est - truth) <= 0.02 * truth
    monkeypatch.setattr(ed, "_CG_MAX_ITER", 20)
    with pytest.warns(UserWarning, match="did not reach their tolerance in 20 iterations"):
        est = effective_dimension(A, 1e-3, method="randomized", random_state=0)
    assert est > 1.05 * truth
