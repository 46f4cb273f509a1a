"""Neural networks trained through their exact convex formulations."""

from skconvex.neural_network._max_margin import (
    ConvexMaxMarginReLUClassifier,
    is_orthogonal_separable,
    orthogonal_separable_solution,
)
from skconvex.neural_network._two_layer import (
    ConvexReLUClassifier,
    ConvexReLURegressor,
    OptimalityCertificate,
    certify_global_optimality,
)

__all__ = ["ConvexMaxMarginReLUClassifier", "ConvexReLUClassifier", "ConvexReLURegressor",
           "OptimalityCertificate", "certify_global_optimality", "is_orthogonal_separable",
           "orthogonal_separable_solution"]
