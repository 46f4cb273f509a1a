"""Direct (Cholesky) solve of a ridge problem: the reference path."""

import numpy as np
import scipy.linalg as sla

from skconvex._result import FitResult
from skconvex.solvers._normal import NormalSystem
from skconvex.solvers._sketch_precond import SketchPreconditioner


def solve_direct(problem, *, tol=None, max_iter=None, random_state=None, verbose=0, **_):
    """Form ``M^T M + alpha I`` for the shorter side of the data and factor it.

    Uses the primal Gram ``A^T A`` when n >= d and the kernel ``A A^T`` otherwise (the
    "sketch" is the identity, so the preconditioner of the iterative solvers is the exact
    inverse). With ``alpha == 0`` it solves the normal equations by least squares (minimum
    norm when the Gram matrix is singular).
    """
    system = NormalSystem(problem)
    rhs = np.asarray(system.rhs, dtype=np.float64)
    info = {"dual": system.dual}
    if system.alpha > 0:
        exact = SketchPreconditioner(system.M, system.alpha)
        Z = exact.solve(rhs)
        info["effective_dim"] = exact.effective_dimension()
    else:
        # the Gram's eigenvalues below its rounding (relative eps times its order) are
        # zero: collinear columns then share the weight (the minimum-norm solution, like
        # LinearRegression), where lstsq's default cutoff kept a rounding-level eigenvalue
        Gm = system.M.gram()
        Z = sla.lstsq(Gm, rhs, cond=np.finfo(np.float64).eps * Gm.shape[0],
                      check_finite=False)[0]
    system.n_matvec += 1
    W = system.to_weights(Z)
    G = problem.grad(W)
    objective = problem.objective(W)
    info["n_passes"] = system.n_matvec + 1.5
    gap = problem.duality_gap(W, grad=G)
    dual = None if gap is None else objective - gap
    return FitResult(W, objective, dual, 1, True, [], info, gap=gap)
