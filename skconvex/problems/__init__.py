"""Convex programs as objects: objective, gradient, prox, dual bound, ``to_cvxpy``."""

from skconvex.problems.logistic import LogisticProblem
from skconvex.problems.ridge import RidgeProblem

__all__ = ["LogisticProblem", "RidgeProblem"]
