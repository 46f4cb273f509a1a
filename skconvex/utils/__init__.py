"""Utilities: the estimator registry."""

from skconvex.utils._registry import all_estimators

__all__ = ["all_estimators"]
