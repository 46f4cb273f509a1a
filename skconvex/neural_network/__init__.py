"""Neural networks trained through their exact convex formulations."""

from skconvex.neural_network._two_layer import (
    ConvexReLUClassifier,
    ConvexReLURegressor,
    OptimalityCertificate,
    certify_global_optimality,
)

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor", "OptimalityCertificate",
           "certify_global_optimality"]
