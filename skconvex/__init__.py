"""skconvex: scikit-learn estimators trained through exact convex formulations.

Models are fitted by solving their convex programs (with certificates of optimality where
the math gives one) and large convex problems are solved fast with randomized sketching.
"""

__version__ = "0.1.0.dev0"

from skconvex.linear_model import (  # noqa: E402
    DeepLinearRegressor,
    NewtonLESSLogistic,
    ParallelDeepLinearRegressor,
    SketchedRidge,
)
from skconvex.neural_network import (  # noqa: E402
    ConvexMaxMarginReLUClassifier,
    ConvexReLUClassifier,
    ConvexReLURegressor,
    ConvexThreeLayerClassifier,
    ConvexThreeLayerRegressor,
)
from skconvex.neural_network import (  # noqa: E402
    PathRegularizedReLUClassifier,
    PathRegularizedReLURegressor,
)
from skconvex.neural_network import QuantizedPolyNet, QuantizedPolyNetClassifier  # noqa: E402

__all__ = ["ConvexMaxMarginReLUClassifier", "ConvexReLUClassifier", "ConvexReLURegressor",
           "ConvexThreeLayerClassifier", "ConvexThreeLayerRegressor", "DeepLinearRegressor",
           "NewtonLESSLogistic", "ParallelDeepLinearRegressor", "PathRegularizedReLUClassifier",
           "PathRegularizedReLURegressor", "QuantizedPolyNet",
           "QuantizedPolyNetClassifier", "SketchedRidge", "__version__"]
