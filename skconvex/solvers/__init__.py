"""Generic convex solvers; they know problems, never estimators."""

from skconvex.solvers.cvxpy_backend import solve_cvxpy
from skconvex.solvers.direct import solve_direct
from skconvex.solvers.ihs import solve_ihs
from skconvex.solvers.newton_sketch import solve_newton_sketch
from skconvex.solvers.pcg import solve_pcg

__all__ = ["solve_cvxpy", "solve_direct", "solve_ihs", "solve_newton_sketch", "solve_pcg"]
