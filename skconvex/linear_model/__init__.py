"""Linear models solved by randomized sketching."""

from skconvex.linear_model._logistic import NewtonLESSLogistic
from skconvex.linear_model._ridge import SketchedRidge

__all__ = ["NewtonLESSLogistic", "SketchedRidge"]
