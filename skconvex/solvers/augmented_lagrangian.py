"""Augmented Lagrangian on coupled cone constraints, FISTA on working sets for the subproblems.

For group-lasso programs ``min h(A U, c) + g(U)`` with extra linear cone constraints on the
image (``a * (A U) >= 0`` entrywise, e.g. the second-layer cones of the three-layer program)
whose prox is not cheap. The constraints enter the smooth part through the augmented term
``Psi(T) = sum s ((mu - rho a T)_+^2 - mu^2) / (2 rho)`` of the image ``T`` (the problem owns it,
with ``mu`` and ``rho`` in ``problem.al_state``), so each subproblem is solved by the FISTA core
of :mod:`skconvex.solvers.fista` unchanged, on working sets of groups, to a certified gap of the
subproblem. Between subproblems, ``mu <- (mu - rho a T)_+``; ``rho`` grows tenfold when the
constraint violation has not fallen since the last multiplier step. Its start is measured, per
loss (:data:`_RHO_START`). A large start makes every subproblem worse conditioned (FISTA's step
is about ``1 / rho`` once the penalty dominates); on the classification programs it only trades
a violation that is already small for a gap that closes more slowly (ReLU three-layer
classifier on 500 digits, measured when this start was chosen: 1,730 iterations from
``rho = 1``, 12,300 from ``rho = 100``). With the squared loss the cones bind and their
multipliers converge slowly, and the larger start does better (the tests' small program:
1,520 iterations from 100, 3,300 from 1; 200 rows of Friedman #1, relative gap after 20,000
iterations 2.5e-4 from 100, 2.6e-2 from 1); neither converges on all 442 rows of diabetes
(20,000 iterations: relative gaps 2.3e-2 from 100, 6.4e-3 from 1,000, 0.57 from 10,000). The
three-layer estimators finish such fits with a conic polish on the support
(:mod:`skconvex.solvers.conic_polish`).

Every round's certificate is a lower bound on the optimum (any dual feasible point is), so the
run keeps the largest one: the multipliers of a later round can certify worse than an earlier
round's (all of diabetes at 20,000 iterations: relative gap 3.3e-4 with the best bound, 2.3e-2
with the last).

The run stops when the duality gap of the *original* program (the certificate with the current
multiplier estimate) is ``<= tol`` relative and the largest constraint violation is
``<= viol_tol`` times ``max(1, max |targets|)``.

A problem provides, besides what :func:`skconvex.solvers.fista.fista` needs: ``al_state``,
``restrict(columns)``, ``certificate(U, c, T)`` (original program), ``al_certificate(U, c, T)``
(subproblem), ``update_multipliers(T)``, ``second_layer_violation(T)``, ``group_norms``,
``optimal_intercept``, ``alpha`` and ``Y``.
"""

import numpy as np

from skconvex._result import FitResult
from skconvex.solvers.fista import check_problem, fista, pack, unpack, REQUIRED
from skconvex.utils._progress import ProgressLogger

AL_REQUIRED = REQUIRED + ("al_state", "restrict", "certificate", "al_certificate",
                          "update_multipliers", "second_layer_violation")

# first working set size, and the smallest iteration budget of a subproblem solve
_WS_START, _MIN_ROUND = 16, 50
# rho grows by this factor when the violation fell less than _VIOL_DROP-fold, up to _RHO_MAX
_RHO_GROWTH, _VIOL_DROP, _RHO_MAX = 10.0, 1.0, 1e8
# the penalty's start by loss (the data term is a weighted mean, so 1 is the loss's scale)
_RHO_START = {"squared": 100.0, "logistic": 1.0, "cross_entropy": 1.0}


def solve_augmented_lagrangian(problem, *, tol=1e-6, max_iter=5000, viol_tol=1e-8, rho=None,
                               warm_start=None, check_every=10, working_set="auto",
                               random_state=None, verbose=0, **_):
    """Solve the constrained program to a relative duality gap ``<= tol`` with constraint
    violation ``<= viol_tol * max(1, max |Y|)``.

    Parameters
    ----------
    problem : object
        See the module docstring.
    tol : float
        Target relative duality gap of the original program.
    max_iter : int
        Proximal-gradient iterations, all subproblems together.
    viol_tol : float
        Target largest violation of the coupled constraints, relative to the target scale.
    rho : float or None
        Initial penalty; None: by the problem's loss (``_RHO_START``, see the module
        docstring).
    warm_start : ndarray or None
        Packed ``(U, c)`` (the multipliers in ``problem.al_state`` are kept as they are).
    check_every : int
        Iterations between subproblem gap evaluations.
    working_set : {"auto", True, False}
        Subproblems on working sets of groups ("auto": with at least 32 groups).

    Returns
    -------
    FitResult
        ``w = pack(U, c)``; ``objective``/``dual_bound`` certify the original program;
        ``info`` has ``max_violation``, ``rho``, ``n_outer``, ``working_set``.
    """
    check_problem(problem, AL_REQUIRED, solver="augmented_lagrangian")
    log = ProgressLogger("augmented_lagrangian", verbose, tol=tol)
    Q = problem.shape[1]
    if warm_start is not None:
        U, c = unpack(np.array(warm_start, dtype=np.float64), problem.shape)
        U = U.copy()
    else:
        U, c = np.zeros(problem.shape), np.zeros(problem.K)
    state = problem.al_state
    if state["rho"] <= 0:
        state["rho"] = float(rho if rho is not None
                             else _RHO_START.get(getattr(problem, "loss_name", None), 1.0))
    viol_abs = viol_tol * max(1.0, float(np.max(np.abs(problem.Y))) if problem.Y.size else 1.0)
    if working_set == "auto":
        working_set = Q >= 32
    T = problem.forward(U)
    obj, bound, c, norms = problem.certificate(U, c, T)
    best = bound  # the largest lower bound so far (every round's dual point is one)
    active = problem.group_norms(U).max(axis=1) > 0
    if working_set:
        score = np.where(active, np.inf, norms.max(axis=1))
        ws = np.sort(np.argsort(-score, kind="stable")[:max(_WS_START, int(active.sum()))])
    else:
        ws = np.arange(Q)
    rel = (obj - best) / max(abs(obj), 1e-300)
    viol = problem.second_layer_violation(T)
    viol_prev = np.inf
    history, used, converged, L = [], 0, False, None
    n_outer = n_rounds = 0
    while True:
        if rel <= tol and viol <= viol_abs:
            converged = True
            break
        if used >= max_iter:
            break
        n_rounds += 1
        sub = problem.restrict(ws) if ws.size < Q else problem

        def gap_fn(U_, c_, T_, _sub=sub):
            p_obj, g, _ = _sub.al_certificate(U_, c_, T_)
            return p_obj, p_obj - g

        # the subproblem to a gap a decade below the original program's current one (tol
        # at the end): early subproblems change anyway
        progress = max(abs(rel), viol / max(abs(obj), 1e-300))
        tol_sub = max(0.1 * tol, min(1e-3, 0.1 * progress))
        budget = max(_MIN_ROUND, (max_iter - used) // 2)
        Us, c, _, k, _, L, hist = fista(
            sub, U[:, ws], c, max_iter=min(budget, max_iter - used), tol=tol_sub, gap_fn=gap_fn,
            check_every=check_every, lipschitz=L, log=log, start_iter=used)
        used += k
        history.extend(hist)
        U[:, ws] = Us
        T = problem.forward(U)
        obj, bound, c, norms = problem.certificate(U, c, T)
        best = max(best, bound)
        rel = (obj - best) / max(abs(obj), 1e-300)
        viol = problem.second_layer_violation(T)
        # groups outside the working set that violate the subproblem's optimality
        outside = np.ones(Q, dtype=bool)
        outside[ws] = False
        violators = np.flatnonzero(outside & (norms.max(axis=1) > problem.alpha * (1 + 1e-9)))
        log.message(f"round {n_rounds}: working set {ws.size}/{Q}, relative gap {rel:.3e}, "
                    f"violation {viol:.3e}, rho {state['rho']:.1e}, "
                    f"{violators.size} violators")
        history.append({"iter": used, "objective": obj, "gap": obj - best, "measure": rel,
                        "violation": viol, "rho": state["rho"], "working_set": int(ws.size)})
        if violators.size:
            order = violators[np.argsort(-norms[violators].max(axis=1), kind="stable")]
            ws = np.sort(np.concatenate([ws, order[:max(ws.size, _WS_START)]]))
            continue
        if rel <= tol and viol <= viol_abs:
            continue
        # the multiplier step, and a larger penalty if the violation stalls
        n_outer += 1
        problem.update_multipliers(T)
        if viol > viol_abs and viol > viol_prev / _VIOL_DROP and state["rho"] < _RHO_MAX:
            state["rho"] *= _RHO_GROWTH
            L = None if L is None else L * _RHO_GROWTH
            problem._lip = None
        viol_prev = viol
        T = problem.forward(U)
        obj, bound, c, norms = problem.certificate(U, c, T)
        best = max(best, bound)
        rel = (obj - best) / max(abs(obj), 1e-300)
    return FitResult(pack(U, c), obj, best, max(used, 1), converged, history,
                     {"lipschitz": L, "working_set": int(ws.size), "n_outer": n_outer,
                      "rho": state["rho"], "max_violation": viol},
                     gap=max(obj - best, 0.0))
