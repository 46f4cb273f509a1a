"""Synthetic regression problems with a controlled spectrum (sketching benchmarks R1-R4)."""

import numpy as np
import scipy.fft
import scipy.optimize
import scipy.sparse as sp
from sklearn.utils import check_random_state


def ridge_alpha_for_effective_dim(sq_singular_values, effective_dim):
    """The ``alpha`` with ``sum_j s_j / (s_j + alpha) = effective_dim`` (``s_j = sigma_j**2``)."""
    s = np.asarray(sq_singular_values, dtype=np.float64)
    if not 0 < effective_dim < np.count_nonzero(s):
        raise ValueError(f"effective_dim must be in (0, {np.count_nonzero(s)}), "
                         f"got {effective_dim}")

    def f(log_alpha):
        return np.sum(s / (s + np.exp(log_alpha))) - effective_dim

    hi = np.log(s.max()) + 40
    lo = np.log(s[s > 0].min()) - 40
    return float(np.exp(scipy.optimize.brentq(f, lo, hi, xtol=1e-12)))


def make_decaying_spectrum_regression(n_samples, n_features, *, decay=0.98, effective_dim=None,
                                      noise=0.1, dtype=np.float64, random_state=None):
    """``X = G diag(decay**j) V^T`` with Gaussian ``G`` and a random orthogonal ``V``.

    The construction of the sketching papers' experiments (R1-R3). ``V`` is a randomly
    signed orthonormal DCT, applied in ``O(n d log d)`` instead of a dense ``d x d`` product.
    ``y = X w* + noise * std(X w*) * N(0, 1)`` with ``w* ~ N(0, I)`` (``noise`` is the
    noise-to-signal ratio, so the best R^2 is about ``1 / (1 + noise**2)``).

    Parameters
    ----------
    n_samples, n_features : int
    decay : float, default=0.98
        Ratio of consecutive singular values.
    effective_dim : float or None
        If given, also return the ``alpha`` for which the effective dimension of ridge on
        ``X`` is about this value (computed from the singular values ``sqrt(n) decay**j``,
        exact as ``n / d`` grows).
    noise : float, default=0.1
    dtype : {np.float64, np.float32}
    random_state : int, RandomState or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    alpha : float
        Only when ``effective_dim`` is given.
    """
    rng = check_random_state(random_state)
    sigma = decay ** np.arange(n_features, dtype=np.float64)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype, copy=False)
    X *= (sigma * rng.choice([-1.0, 1.0], n_features)).astype(dtype)
    X = scipy.fft.dct(X, type=2, norm="ortho", axis=1, overwrite_x=True).astype(dtype,
                                                                               copy=False)
    w = rng.standard_normal(n_features)
    signal = X @ w.astype(dtype)
    y = signal + noise * np.std(signal) * rng.standard_normal(n_samples)
    if effective_dim is None:
        return X, y
    return X, y, ridge_alpha_for_effective_dim(n_samples * sigma**2, effective_dim)


def make_sparse_decaying_regression(n_samples, n_features, *, density=1e-4, power=1.0,
                                    effective_dim=None, noise=0.1, random_state=None):
    """Sparse CSR ``X`` with Gaussian nonzeros and column scales ``(1 + j)**(-power)``.

    Ill-conditioned when ``power`` > 0 (benchmark R4). ``noise`` is the noise-to-signal
    ratio as in :func:`make_decaying_spectrum_regression`. Returns ``X, y`` and, when
    ``effective_dim`` is given, the ``alpha`` that makes the effective dimension about that
    value (from the expected column norms ``n * density * scale_j**2``).
    """
    rng = check_random_state(random_state)
    nnz = int(round(density * n_samples * n_features))
    rows = rng.randint(0, n_samples, nnz)
    cols = rng.randint(0, n_features, nnz)
    scale = (1.0 + np.arange(n_features)) ** (-power)
    vals = rng.standard_normal(nnz) * scale[cols]
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n_samples, n_features))
    X.sum_duplicates()
    w = rng.standard_normal(n_features)
    signal = X @ w
    y = signal + noise * np.std(signal) * rng.standard_normal(n_samples)
    if effective_dim is None:
        return X, y
    col_sq = n_samples * density * scale**2
    return X, y, ridge_alpha_for_effective_dim(col_sq, effective_dim)
