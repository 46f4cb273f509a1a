"""Sketch-preconditioned conjugate gradient with adaptive sketch size (arXiv:2104.14101)."""

import math

import numpy as np
from sklearn.utils import check_random_state

from skconvex._result import FitResult
from skconvex.solvers._normal import NormalSystem
from skconvex.solvers._sketch_precond import (
    AdaptiveSketchSize,
    DiagonalPreconditioner,
    best_sketch_size,
    build_cost,
    initial_sketch_size,
    make_preconditioner,
    target_sketch_size,
)
from skconvex.utils._progress import ProgressLogger


def _coldot(A, B):
    return np.einsum("ij,ij->j", A, B)


def _finish(problem, system, Z, n_iter, converged, history, info):
    """The certificate at the final point, from one fresh pass (the true gradient, not the
    recursive residual)."""
    if system.dual:
        W = system.to_weights(Z)
        G = problem.grad(W)
        objective = problem.objective(W)
        system.n_matvec += 1.5
    else:
        W = Z
        G = system.hess(Z) - system.rhs
        # from the residual (half a pass): the expansion 1/2 <W, G - A^T b> + 1/2 ||b||^2
        # cancels when the fit is close (targets of a large mean without an intercept gave
        # negative objectives)
        objective = problem.objective(W)
        system.n_matvec += 0.5
    gap = problem.duality_gap(W, grad=G)
    dual = None if gap is None else objective - gap
    info["n_passes"] = system.n_matvec + 1.0  # + the centring and right-hand side pass
    return FitResult(W, objective, dual, max(1, n_iter), converged, history, info, gap=gap)


def initial_preconditioner(system, rule, *, sketch, nnz_per_row, rng, log, tol=1e-8, k=1):
    """Sketch at the rule's start size; if the sketch's own effective-dimension estimate asks
    for a larger one (see :func:`best_sketch_size`), jump there directly instead of doubling
    step by step. Sparse data start from the diagonal preconditioner."""
    if getattr(rule, "diagonal_first", False):
        log.message("diagonal (size-0 sketch) preconditioner first")
        system.n_matvec += 0.5
        return DiagonalPreconditioner(system.M, system.alpha)
    precond = make_preconditioner(system.M, rule.m, system.alpha, kind=sketch,
                                  nnz_per_row=nnz_per_row, rng=rng)
    system.n_matvec += 1
    if rule.adaptive:
        # sparse data: 3 d_eff (measured fastest: the Gram of a sparse sketch grows fast with
        # m); dense data: the size that minimizes the predicted cost (about 16 d_eff when
        # m >= d keeps the cheap Cholesky path, less when a Woodbury apply must pay for it)
        for _ in range(2):
            d_hat = precond.effective_dimension()
            if system.M.issparse:
                target = target_sketch_size(d_hat, rule.max_size, 3)
            else:
                target = best_sketch_size(system.M, d_hat, pass_cost=system.pass_cost(k),
                                          tol=tol, nnz_per_row=nnz_per_row, kind=sketch, k=k)
            if target <= 1.5 * rule.m or target > rule.max_size // 2:
                break
            log.message(f"d_eff estimate {precond.effective_dimension():.1f}: sketch size "
                        f"{rule.m} -> {target}")
            rule.m = target
            precond = make_preconditioner(system.M, rule.m, system.alpha, kind=sketch,
                                          nnz_per_row=nnz_per_row, rng=rng)
            system.n_matvec += 1
    return precond


def solve_pcg(problem, *, tol=1e-8, max_iter=100, sketch="sjlt", sketch_size="adaptive",
              nnz_per_row=None, rho=0.95, warm_start=None, random_state=None, verbose=0):
    """Solve a :class:`~skconvex.problems.RidgeProblem` by sketch-preconditioned CG.

    CG runs on all targets at once (block products are BLAS-3) with per-target step sizes. The
    preconditioner is ``H_S`` from a sketch of the data operator. Convergence is measured by the
    preconditioned residual ``delta = r^T H_S^{-1} r`` (about the squared H-norm error):
    the solver stops when ``sqrt(delta / delta_0) <= tol`` for every target. With
    ``sketch_size="adaptive"`` the sketch starts small and doubles when an iteration fails the
    progress test (see :class:`AdaptiveSketchSize`); the final size tracks the effective
    dimension, not the number of features.

    Returns
    -------
    FitResult
        ``info`` holds ``sketch_size``, ``n_resketch``, ``effective_dim`` (estimated from the
        final sketch), ``n_passes`` and ``dual`` (whether the kernel form was solved).
    """
    rng = check_random_state(random_state)
    system = NormalSystem(problem)
    n_rows, n_cols = system.shape
    k = problem.n_targets
    tol = max(tol, system.tol_floor)
    log = ProgressLogger("pcg", verbose, tol=tol)
    adaptive = sketch_size == "adaptive"
    m0 = initial_sketch_size(n_rows, n_cols) if adaptive else int(sketch_size)
    rule = AdaptiveSketchSize(m0, n_rows, rho=rho, adaptive=adaptive)
    # sparse data: start from the free diagonal preconditioner; the progress test moves to a
    # sketch when it is not enough
    rule.diagonal_first = adaptive and system.M.issparse

    precond = initial_preconditioner(system, rule, sketch=sketch, nnz_per_row=nnz_per_row,
                                     rng=rng, log=log, tol=tol, k=k)
    rule.cap = 16 * precond.effective_dimension()
    if precond.m == 0:
        rule.cap = np.inf
    rhs = np.asarray(system.rhs, dtype=np.float64)
    Z0 = precond.solve(rhs)
    delta0 = np.maximum(_coldot(rhs, Z0), np.finfo(float).tiny)
    if warm_start is not None:
        X = np.array(system.from_weights(warm_start), dtype=np.float64)
        R = rhs - system.hess(X)
        Zp = precond.solve(R)
    else:
        X = np.zeros((n_cols, k))
        R = rhs.copy()
        Zp = Z0
    delta = _coldot(R, Zp)
    P = Zp.copy()
    history = []
    target = tol**2
    converged = bool(np.all(delta / delta0 <= target))
    it = 0
    while not converged and it < max_iter:
        it += 1
        Q = system.hess(P)
        pq = _coldot(P, Q)
        a = np.divide(delta, pq, out=np.zeros_like(delta), where=pq > 0)
        X += P * a
        R -= Q * a
        Zp = precond.solve(R)
        delta_new = _coldot(R, Zp)
        measure = math.sqrt(float(np.max(delta_new / delta0)))
        obj, gap = system.objective_and_gap(X, -R) if verbose else (None, None)
        history.append({"iter": it, "measure": measure, "sketch_size": rule.m,
                        "elapsed": log.elapsed})
        log.iteration(it, objective=obj, measure=measure, step=float(np.max(a)), gap=gap,
                      m=rule.m)
        if measure <= tol:
            converged = True
            break
        active = delta > 0
        ratio = float(np.max(delta_new[active] / delta[active])) if np.any(active) else 0.0
        m_next = min(2 * rule.m, n_rows)
        it_cost = system.pass_cost(k) + precond.apply_cost(k)
        it_cost2 = system.pass_cost(k) + 2.0 * precond.apply_cost(k)
        if precond.m == 0:
            # leaving the diagonal: price the first sketch against the observed rate
            m_next = rule.m
            it_cost2 = system.pass_cost(k) + 4.0 * m_next * n_cols * k
        if rule.should_double(ratio, delta=float(np.max(delta_new / delta0)), target=target,
                              iter_cost=it_cost, iter_cost_doubled=it_cost2,
                              build_cost=build_cost(system.M, m_next, nnz_per_row, sketch)):
            if precond.m == 0:
                rule.diagonal_first = False
                precond = initial_preconditioner(system, rule, sketch=sketch,
                                                 nnz_per_row=nnz_per_row, rng=rng, log=log,
                                                 tol=tol, k=k)
                rule.cap = 16 * precond.effective_dimension()
                rule.reset_window()
                # the convergence measure is relative: restate it in the new metric
                delta0 = np.maximum(_coldot(rhs, precond.solve(rhs)), np.finfo(float).tiny)
                Zp = precond.solve(R)
                delta = _coldot(R, Zp)
                P = Zp.copy()
                continue
            rule.double()
            why = "progress test failed" if ratio > rho else "cost model: doubling pays"
            log.message(f"{why} (ratio {ratio:.3f}): sketch size -> {rule.m}")
            precond = make_preconditioner(system.M, rule.m, system.alpha, kind=sketch,
                                          nnz_per_row=nnz_per_row, rng=rng)
            system.n_matvec += 1
            # restate the relative measure in the new metric: a first sketch smaller than the
            # effective dimension makes b^T H_S^{-1} b huge at small alpha, and the measure
            # against it passed tol far from the optimum (relative gaps up to 4e9)
            delta0 = np.maximum(_coldot(rhs, precond.solve(rhs)), np.finfo(float).tiny)
            Zp = precond.solve(R)
            delta = _coldot(R, Zp)
            P = Zp.copy()
            continue
        beta = np.divide(delta_new, delta, out=np.zeros_like(delta), where=delta > 0)
        P = Zp + P * beta
        delta = delta_new
    info = {"sketch_size": precond.m, "n_resketch": rule.n_resketch,
            "effective_dim": precond.effective_dimension(), "dual": system.dual}
    return _finish(problem, system, X, it, converged, history, info)
