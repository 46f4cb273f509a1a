"""Neural networks trained through their exact convex formulations."""

from skconvex.neural_network._deep import (
    PathRegularizedReLUClassifier,
    PathRegularizedReLURegressor,
    certify_path_optimality,
)
from skconvex.neural_network._two_layer import (
    ConvexReLUClassifier,
    ConvexReLURegressor,
    OptimalityCertificate,
    certify_global_optimality,
)
from skconvex.neural_network._quantized import (
    QuantizedPolyNet,
    QuantizedPolyNetClassifier,
)

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor", "OptimalityCertificate",
           "PathRegularizedReLUClassifier", "PathRegularizedReLURegressor",
           "certify_global_optimality", "certify_path_optimality", "QuantizedPolyNet",
           "QuantizedPolyNetClassifier"]
