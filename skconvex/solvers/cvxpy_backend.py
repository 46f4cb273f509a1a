"""Reference path: any problem with ``to_cvxpy()`` solved by a conic solver (small problems)."""

import numpy as np

from skconvex._result import FitResult
from skconvex.utils._progress import ProgressLogger


def log_result(log, prob, objective, gap):
    """The one-line summary (``verbose >= 1``) of an interior-point solve: the solver's status
    and iterations, and the objective and duality gap of the point it returned (scored by the
    problem itself)."""
    if log.verbose < 1:
        return
    iters = getattr(prob.solver_stats, "num_iters", None)
    rel = "" if gap is None else f", duality gap {gap:.3e} ({gap / max(abs(objective), 1e-300):.1e} relative)"
    log.message(f"status {prob.status}, {iters} iterations, {log.elapsed:.3f}s: "
                f"objective {objective:.8e}{rel}")


def solve_cvxpy(problem, *, tol=1e-8, max_iter=None, random_state=None, verbose=0,
                cvxpy_solver="CLARABEL", **_):
    """Solve ``problem.to_cvxpy()`` with ``cvxpy_solver`` (Clarabel by default).

    The problem's ``to_cvxpy`` returns ``(cvxpy.Problem, variables)``; the solution is evaluated
    with the problem's own ``objective`` and ``dual_bound`` so that it is comparable with the
    first-order and sketching solvers. A problem whose variables are not a single array
    provides ``evaluate_cvxpy(variables) -> (w, objective, dual_bound)``.
    """
    import cvxpy as cp

    log = ProgressLogger(f"cvxpy {cvxpy_solver}", verbose)
    prob, var = problem.to_cvxpy()
    log.message(f"solving the program: {prob.size_metrics.num_scalar_variables} variables, "
                f"{prob.size_metrics.num_scalar_eq_constr + prob.size_metrics.num_scalar_leq_constr}"
                f" scalar constraints")
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
    log_result(log, prob, objective, gap)
    return FitResult(W, objective, bound, n_iter, converged, [], {"status": prob.status},
                     gap=gap)
