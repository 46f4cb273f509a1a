"""Reference path: any problem with ``to_cvxpy()`` solved by a conic solver (small problems)."""

import numpy as np

from skconvex._result import FitResult


def solve_cvxpy(problem, *, tol=1e-8, max_iter=None, random_state=None, verbose=0,
                cvxpy_solver="CLARABEL", **_):
    """Solve ``problem.to_cvxpy()`` with ``cvxpy_solver`` (Clarabel by default).

    The problem's ``to_cvxpy`` returns ``(cvxpy.Problem, variable)``; the solution is evaluated
    with the problem's own ``objective`` and ``dual_bound`` so that it is comparable with the
    first-order and sketching solvers.
    """
    import cvxpy as cp

    prob, var = problem.to_cvxpy()
    kwargs = {}
    if cvxpy_solver == "CLARABEL":
        kwargs = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol}
    prob.solve(solver=getattr(cp, cvxpy_solver), verbose=verbose > 1, **kwargs)
    if var.value is None:
        raise RuntimeError(f"cvxpy ({cvxpy_solver}) returned no solution: {prob.status}")
    W = np.asarray(var.value, dtype=np.float64)
    objective = problem.objective(W)
    n_iter = max(1, int(getattr(prob.solver_stats, "num_iters", 1) or 1))
    converged = prob.status == cp.OPTIMAL
    return FitResult(W, objective, problem.dual_bound(W), n_iter, converged, [],
                     {"status": prob.status})
