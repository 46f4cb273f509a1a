"""Linear models solved by randomized sketching, and deep linear networks through their
spectral programs."""

from skconvex.linear_model._deep_linear import DeepLinearRegressor, ParallelDeepLinearRegressor
from skconvex.linear_model._logistic import NewtonLESSLogistic
from skconvex.linear_model._ridge import SketchedRidge

__all__ = ["DeepLinearRegressor", "NewtonLESSLogistic", "ParallelDeepLinearRegressor",
           "SketchedRidge"]
