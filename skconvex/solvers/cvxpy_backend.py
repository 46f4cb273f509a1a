"""Reference path: any problem with ``to_cvxpy()`` solved by a conic solver (small problems)."""

import numpy as np

from skconvex._result import FitResult


def solve_cvxpy(problem, *, tol=1e-8, max_iter=None, random_state=None, verbose=0,
                cvxpy_solver="CLARABEL", **_):
    """Solve ``problem.to_cvxpy()`` with ``cvxpy_solver`` (Clarabel by default).

    The problem's ``to_cvxpy`` returns ``(cvxpy.Problem, variables)``; the solution is evaluated
    with the problem's own ``objective`` and ``dual_bound`` so that it is comparable with the
    first-order and sketching solvers. A problem whose variables are not a single array
    provides ``evaluate_cvxpy(variables) -> (w, objective, dual_bound)``.
    """
    import cvxpy as cp

    prob, var = problem.to_cvxpy()
    kwargs = {}
    if cvxpy_solver == "CLARABEL":
        kwargs = {"tol_gap_abs": tol, "tol_gap_rel": tol, "tol_feas": tol}
    prob.solve(solver=getattr(cp, cvxpy_solver), verbose=verbose > 1, **kwargs)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy ({cvxpy_solver}) returned no solution: {prob.status}")
    n_iter = max(1, int(getattr(prob.solver_stats, "num_iters", 1) or 1))
    converged = prob.status == cp.OPTIMAL
    if hasattr(problem, "evaluate_cvxpy"):
        W, objective, bound = problem.evaluate_cvxpy(var)
    else:
        W = np.asarray(var.value, dtype=np.float64)
        objective, bound = problem.objective(W), problem.dual_bound(W)
    gap = None if bound is None else max(objective - bound, 0.0)
    return FitResult(W, objective, bound, n_iter, converged, [], {"status": prob.status},
                     gap=gap)
