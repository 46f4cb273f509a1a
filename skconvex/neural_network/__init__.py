"""Neural networks trained through their exact convex formulations."""

from skconvex.neural_network._deep import (
    PathRegularizedReLUClassifier,
    PathRegularizedReLURegressor,
    certify_path_optimality,
)
from skconvex.neural_network._max_margin import (
    ConvexMaxMarginReLUClassifier,
    is_orthogonal_separable,
    orthogonal_separable_solution,
)
from skconvex.neural_network._three_layer import (
    ConvexThreeLayerClassifier,
    ConvexThreeLayerRegressor,
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

__all__ = [
    "ConvexMaxMarginReLUClassifier",
    "ConvexReLUClassifier",
    "ConvexReLURegressor",
    "ConvexThreeLayerClassifier",
    "ConvexThreeLayerRegressor",
    "OptimalityCertificate",
    "PathRegularizedReLUClassifier",
    "PathRegularizedReLURegressor",
    "QuantizedPolyNet",
    "QuantizedPolyNetClassifier",
    "certify_global_optimality",
    "certify_path_optimality",
    "is_orthogonal_separable",
    "orthogonal_separable_solution",
]
