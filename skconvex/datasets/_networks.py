"""Data planted by small neural networks (the two-layer convex-network benchmarks)."""

import numpy as np
from sklearn.utils import check_random_state


def make_planted_relu_regression(n_samples, n_features, *, n_hidden=10, noise=0.1,
                                 random_state=None):
    """Targets of a random two-layer ReLU network plus Gaussian noise.

    ``X ~ N(0, I)``, ``W* ~ N(0, I) / sqrt(n_features)`` (``n_features x n_hidden``),
    ``a* ~ N(0, 1)`` and ``y = (X W*)_+ a* + noise * N(0, 1)``: the planted problem of the
    two-layer convex-network experiments.

    Parameters
    ----------
    n_samples, n_features : int
    n_hidden : int, default=10
        Width of the planted network.
    noise : float, default=0.1
        Standard deviation of the additive noise.
    random_state : int, RandomState instance or None

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from skconvex.datasets import make_planted_relu_regression
    >>> X, y = make_planted_relu_regression(100, 5, random_state=0)
    >>> X.shape, y.shape
    ((100, 5), (100,))
    """
    rng = check_random_state(random_state)
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_features, n_hidden)) / np.sqrt(n_features)
    a = rng.standard_normal(n_hidden)
    y = np.maximum(X @ W, 0.0) @ a + noise * rng.standard_normal(n_samples)
    return X, y
