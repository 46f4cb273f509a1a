"""Augmented Lagrangian for group-lasso programs with homogeneous linear cone constraints.

Solves ``min_{U, c} h(A U, c) + g(U)  s.t.  cone(A U) >= 0`` (the ReLU program of
``problems.group_lasso_relu``, where the constraint values are the elementwise product of a sign
pattern with ``T = A U``), with multipliers ``mu >= 0``:

    L_rho(U, c; mu) = h(A U, c) + g(U) + 1/(2 rho) (||(mu - rho C(U))_+||^2 - ||mu||^2)

minimized by FISTA (warm-started from the previous outer iterate; the penalty is smooth in ``T``
so it costs no extra product), then ``mu <- (mu - rho C)_+``; ``rho`` grows when the violation does
not fall fast enough. The multipliers also give the dual certificate of the constrained program.
"""

import math

import numpy as np

from skconvex._result import FitResult
from skconvex.solvers.fista import REQUIRED, check_problem, fista, pack, unpack
from skconvex.utils._progress import ProgressLogger


class _Augmented:
    """The inner problem: the base problem with the augmented-Lagrangian penalty added to its
    smooth part. Its linear image is the full pre-activation tensor ``T = X U`` (the penalty
    needs every column's constraint values), its prox the base problem's."""

    def __init__(self, problem, mu, rho):
        self.p, self.mu, self.rho = problem, mu, rho
        self.forward, self.adjoint = problem.forward_full, problem.adjoint_full
        self.prox, self.penalty = problem.prox, problem.penalty
        self.shape, self.K, self.fit_intercept = problem.shape, problem.K, problem.fit_intercept

    def _pen(self, T):
        C = self.p.cone_values(T)
        Zp = np.maximum(self.mu - self.rho * C, 0.0)
        val = (float(np.sum(Zp * Zp)) - float(np.sum(self.mu * self.mu))) / (2.0 * self.rho)
        return val, Zp

    def smooth_value(self, T, c):
        return self.p.smooth_value(self.p.full_to_image(T), c) + self._pen(T)[0]

    def smooth_value_grad(self, T, c):
        val, G, gc = self.p.smooth_value_grad(self.p.full_to_image(T), c)
        pval, Zp = self._pen(T)
        return val + pval, self.p.image_grad_to_full(G) - self.p.cone[:, :, None] * Zp, gc

    def lipschitz(self):
        return self.p.lipschitz() + self.rho * self.p.data_norm2()


def solve_augmented_lagrangian(problem, *, tol=1e-6, max_iter=5000, violation_tol=1e-6,
                               warm_start=None, rho=None, check_every=10, random_state=None,
                               verbose=0):
    """Solve the cone-constrained program to relative duality gap ``tol`` and max constraint
    violation ``violation_tol``.

    ``max_iter`` bounds the total number of inner (FISTA) iterations. Returns a FitResult whose
    ``info`` holds ``max_violation``, ``multipliers`` (the final ``mu``), ``n_outer`` and ``rho``.
    """
    check_problem(problem, REQUIRED + ("dual_bound", "cone_values", "cone", "data_norm2",
                                    "forward_full", "adjoint_full", "full_to_image"),
                  solver="augmented_lagrangian")
    log = ProgressLogger("auglag", verbose, tol=tol)
    if warm_start is not None:
        U, c = unpack(np.asarray(warm_start, dtype=np.float64), problem.shape)
    else:
        U, c = np.zeros(problem.shape), np.zeros(problem.K)
    mu = np.zeros((problem.n, problem.Q, problem.K))
    rho = float(rho) if rho is not None else 10.0 * problem.loss.curvature * float(
        np.max(problem.s)) * max(problem.lipschitz() / max(problem.data_norm2(), 1e-300), 1.0)
    used, n_outer, converged = 0, 0, False
    viol_prev = np.inf
    history = []
    inner_tol = 1e-3
    L = None
    T = problem.forward_full(U)
    gap = np.inf
    while used < max_iter:
        n_outer += 1
        inner = _Augmented(problem, mu, rho)

        def stop_fn(U_, c_, T_, U_prev, _tol=inner_tol):
            step = math.sqrt(float(np.sum((U_ - U_prev) ** 2)))
            size = max(math.sqrt(float(np.sum(U_ * U_))), 1e-300)
            return step / size, step <= _tol * size

        lip = inner.lipschitz() if L is None else max(L, inner.lipschitz() * 1e-3)
        U, c, T, k, _, L, _ = fista(inner, U, c, max_iter=max_iter - used, tol=0.0,
                                    stop_fn=stop_fn, check_every=1, lipschitz=lip)
        used += k
        C = problem.cone_values(T)
        viol = float(max(0.0, -np.min(C)))
        mu = np.maximum(mu - rho * C, 0.0)
        Z0 = problem.full_to_image(T)
        bound, c_opt = problem.dual_bound(U, c, Z0, multipliers=mu)
        obj = problem.smooth_value(Z0, c_opt) + problem.penalty(U)
        gap = obj - bound
        rel = gap / max(abs(obj), 1e-300)
        history.append({"iter": used, "objective": obj, "gap": gap, "measure": rel,
                        "violation": viol, "rho": rho})
        log.iteration(n_outer, objective=obj, gap=gap, measure=rel, step=rho,
                      violation=f"{viol:.2e}", inner=k)
        if viol <= violation_tol and rel <= tol:
            converged = True
            break
        if viol > 0.25 * viol_prev:
            rho *= 10.0
            L = None
        viol_prev = viol
        inner_tol = max(inner_tol * 0.1, 1e-12)
    Z0 = problem.full_to_image(T)
    bound, c_opt = problem.dual_bound(U, c, Z0, multipliers=mu)
    objective = problem.smooth_value(Z0, c_opt) + problem.penalty(U)
    info = {"max_violation": problem.max_violation(U), "multipliers": mu, "n_outer": n_outer,
            "rho": rho}
    return FitResult(pack(U, c_opt), objective, bound, max(used, 1), converged, history, info,
                     gap=max(objective - bound, 0.0))
