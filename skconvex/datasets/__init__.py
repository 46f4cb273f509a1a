"""Synthetic problem generators (the benchmark problems of the papers) and bundled data."""

from skconvex.datasets._logistic import (
    make_correlated_classification,
    make_decaying_spectrum_classification,
    make_sparse_classification,
)
from skconvex.datasets._networks import make_planted_relu_regression
from skconvex.datasets._synthetic import (
    make_decaying_spectrum_regression,
    make_sparse_decaying_regression,
    ridge_alpha_for_effective_dim,
)

__all__ = [
    "make_correlated_classification",
    "make_decaying_spectrum_classification",
    "make_sparse_classification",
    "make_decaying_spectrum_regression",
    "make_planted_relu_regression",
    "make_sparse_decaying_regression",
    "ridge_alpha_for_effective_dim",
]
