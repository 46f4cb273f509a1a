"""Accelerated proximal gradient (FISTA) with backtracking, adaptive step and restarts.

Works on composite problems ``min_{U, c} h(A U, c) + g(U)`` where ``A`` is a linear map applied by
``problem.forward`` (one GEMM), ``h`` is smooth (``problem.smooth_value_grad`` takes ``T = A U``)
and ``g`` has a cheap prox (``problem.prox``); ``c`` is an optional unpenalized block (an
intercept). Because ``A`` is linear, the extrapolated point's ``A y`` is a combination of cached
products: each iteration costs one forward and one adjoint product (plus one forward per
backtracking step; once the objective is within rounding of its limit the step is checked on
the gradients instead, in the image space at no product's cost: see ``_BACKTRACK_ACCURACY``).

The solver declares what it needs from a problem: ``forward``, ``adjoint``, ``smooth_value``,
``smooth_value_grad``, ``prox``, ``penalty``, ``lipschitz``, ``shape``, ``K``, ``fit_intercept``
and, for the duality-gap stopping rule, ``dual_bound``.
"""

import math

import numpy as np

from skconvex._result import FitResult
from skconvex.utils._progress import ProgressLogger

REQUIRED = ("forward", "adjoint", "smooth_value", "smooth_value_grad", "prox", "penalty",
            "lipschitz", "shape", "K", "fit_intercept")


def check_problem(problem, required=REQUIRED, solver="fista"):
    missing = [name for name in required if not hasattr(problem, name)]
    if missing:
        raise TypeError(f"{solver} needs {missing} from the problem "
                        f"{type(problem).__name__}")


def pack(U, c):
    return np.concatenate([U.ravel(), np.asarray(c, dtype=np.float64).ravel()])


def unpack(w, shape):
    size = int(np.prod(shape))
    return w[:size].reshape(shape), w[size:]


# backtracking compares function values while they differ by at least this much (relative);
# closer values are rounding, and the step is checked on the gradients instead (as TFOCS does)
_BACKTRACK_ACCURACY = 1e-10

# single-precision products until this relative duality gap (see :func:`fista`): the gated
# two-layer program at n=2000, d=50, 50 patterns goes from 0.20 s to 0.16 s; at 1e-3 the
# single-precision backtracking already meets rounding on some programs
COARSE_GAP = 1e-2


def fista(problem, U0, c0, *, max_iter, tol, gap_fn, check_every=10, lipschitz=None,
          log=None, start_iter=0, coarse_gap=COARSE_GAP):
    """Core loop. Returns ``(U, c, T, n_iter, converged, L, history)``.

    ``gap_fn(U, c, T) -> (objective, bound)`` is evaluated every ``check_every`` iterations and
    the loop stops when ``(objective - bound) <= tol * max(|objective|, tiny)``.

    Mixed precision: a problem whose ``mixed_precision`` is true computes its products in
    single precision (``set_precision``; twice the GEMM rate) until the relative gap is below
    ``coarse_gap`` (None: never), then in double precision from the last iterate with the
    momentum restarted; the single-precision gaps only decide the switch, and every returned
    value, the image ``T`` included, is computed in double precision. The switch also comes
    early when the step shrinks a hundredfold below its start (rounding in the backtracking).
    A warm start (``U0`` not zero) already within ``coarse_gap`` starts in double precision:
    single-precision steps from it would only lose accuracy it has.
    """
    L = float(lipschitz if lipschitz is not None else problem.lipschitz())
    L = max(L, 1e-12)
    L_start = L
    coarse = (coarse_gap is not None and coarse_gap > tol
              and getattr(problem, "mixed_precision", False)
              and _single_precision_range(problem))
    if coarse and np.any(U0):
        obj, bound = gap_fn(U0, np.asarray(c0, dtype=np.float64), problem.forward(U0))
        coarse = obj - bound > coarse_gap * max(abs(obj), 1e-300)
    if coarse:
        problem.set_precision(np.float32)
    try:
        result = _fista_loop(problem, U0, c0, L, L_start, coarse, coarse_gap, max_iter=max_iter,
                             tol=tol, gap_fn=gap_fn, check_every=check_every, log=log,
                             start_iter=start_iter)
    finally:
        if coarse:
            problem.set_precision(np.float64)
    return result


def _single_precision_range(problem):
    """Whether the targets' unit (``problem.target_unit()``) leaves single precision room:
    within 1e-20 to 1e20 (targets of scale 1e40 overflowed its products)."""
    unit = getattr(problem, "target_unit", None)
    return unit is None or 1e-20 <= unit() <= 1e20


def _fista_loop(problem, U0, c0, L, L_start, coarse, coarse_gap, *, max_iter, tol, gap_fn,
                check_every, log, start_iter):
    extra = {"ws": problem.Q} if getattr(problem, "Q", None) is not None and log is not None \
        else {}
    x, c = U0.copy(), np.array(c0, dtype=np.float64)
    Tx = problem.forward(x)
    y, cy, Ty = x, c, Tx
    t = 1.0
    history = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        fy, gT, gc = problem.smooth_value_grad(Ty, cy)
        gU = problem.adjoint(gT)
        if not problem.fit_intercept:
            gc = np.zeros_like(gc)
        L *= 0.9  # let the step grow back after conservative backtracking
        while True:
            x_new = problem.prox(y - gU / L, 1.0 / L)
            c_new = cy - gc / L
            T_new = problem.forward(x_new)
            f_new = problem.smooth_value(T_new, c_new)
            dU, dc = x_new - y, c_new - cy
            sq = float(np.sum(dU * dU) + np.sum(dc * dc))
            if abs(f_new - fy) >= _BACKTRACK_ACCURACY * max(abs(f_new), abs(fy)):
                quad = float(np.sum(gU * dU) + np.sum(gc * dc)) + 0.5 * L * sq
                ok = f_new <= fy + quad + 1e-12 * abs(fy)
            else:
                # the values agree to rounding, so their difference cannot tell the step's
                # curvature (the step would grow unchecked and the iterates stop converging):
                # the gradients' difference along the step tells it without cancellation,
                # <A^T (g(T+) - g(Ty)), dU> = <g(T+) - g(Ty), T+ - Ty> (A linear: no adjoint)
                _, gT_new, gc_new = problem.smooth_value_grad(T_new, c_new)
                if not problem.fit_intercept:
                    gc_new = np.zeros_like(gc_new)
                curv = float(np.sum((gT_new - gT) * (T_new - Ty))
                             + np.sum((gc_new - gc) * dc))
                ok = curv <= L * sq
            if ok or L > 1e30:
                break
            L *= 2.0
        # gradient-based restart (O'Donoghue & Candes): the momentum points uphill when
        # <y - x_new, x_new - x> > 0, i.e. <x_new - y, x_new - x> < 0
        if float(np.sum(dU * (x_new - x)) + np.sum(dc * (c_new - c))) < 0:
            t = 1.0
        t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_new
        y = x_new + beta * (x_new - x)
        cy = c_new + beta * (c_new - c)
        Ty = T_new + beta * (T_new - Tx)
        x, c, Tx, t = x_new, c_new, T_new, t_new
        if coarse and L > 100.0 * L_start:
            coarse, y, cy, Ty, t = _to_double(problem, x, c, log, "the step shrank")
            Tx, L = Ty, L_start
            continue
        if it % check_every == 0 or it == max_iter:
            obj, bound = gap_fn(x, c, Tx)
            gap = obj - bound
            measure = gap / max(abs(obj), 1e-300)
            done = measure <= tol and not coarse
            if coarse and measure <= coarse_gap:
                coarse, y, cy, Ty, t = _to_double(
                    problem, x, c, log, f"relative gap {measure:.1e}")
                Tx, L = Ty, min(L, L_start)
            history.append({"iter": start_iter + it, "objective": obj, "gap": gap,
                            "measure": measure, "step": 1.0 / L})
            if log is not None:
                log.iteration(start_iter + it, objective=obj, gap=gap, measure=measure,
                              step=1.0 / L, **extra)
            if done:
                converged = True
                break
    if coarse:  # max_iter reached in single precision
        _, _, _, Tx, _ = _to_double(problem, x, c, log, "the last iteration")
    return x, c, Tx, it, converged, L, history


def _to_double(problem, x, c, log, why):
    """Products in double precision from the iterate ``x`` on: ``(False, y, cy, Ty, t)``, the
    restarted extrapolation point (``x`` itself) and its image, recomputed."""
    problem.set_precision(np.float64)
    if log is not None:
        log.message(f"products in double precision from here ({why})")
    return False, x, c, problem.forward(x), 1.0


def solve_fista(problem, *, tol=1e-6, max_iter=1000, warm_start=None, check_every=10,
                working_set="auto", random_state=None, verbose=0):
    """Solve a group-lasso type problem to a relative duality gap ``<= tol``.

    Parameters
    ----------
    problem : object
        Exposes what ``REQUIRED`` lists and ``dual_bound(U, c, T) -> (bound, c_opt)``; with
        ``restrict(patterns)`` and ``certificate(U, c)`` it can be solved on working sets.
    tol : float
        Target relative duality gap ``(P - D) / |P|``.
    max_iter : int
        Maximum number of proximal-gradient iterations (all working sets together).
    warm_start : ndarray or None
        A packed ``(U, c)`` starting point (see :func:`pack`).
    check_every : int
        Iterations between duality-gap evaluations (each costs one adjoint product).
    working_set : {"auto", True, False}
        Solve a sequence of restricted programs (see :func:`_solve_working_set`). "auto": when
        the problem supports it and has at least ``problem.working_set_min_groups`` groups
        (default ``_WS_MIN_GROUPS``).

    Returns
    -------
    FitResult
        ``w`` is ``pack(U, c)`` with the intercept re-optimized for ``U``; ``objective`` and
        ``dual_bound`` certify ``objective - optimum <= gap``.
    """
    check_problem(problem, REQUIRED + ("dual_bound",))
    log = ProgressLogger("fista", verbose, tol=tol)
    if warm_start is not None:
        U0, c0 = unpack(np.asarray(warm_start, dtype=np.float64), problem.shape)
    else:
        U0, c0 = np.zeros(problem.shape), np.zeros(problem.K)
    supported = hasattr(problem, "restrict") and hasattr(problem, "certificate")
    if working_set == "auto":
        working_set = supported and problem.shape[1] >= getattr(
            problem, "working_set_min_groups", _WS_MIN_GROUPS)
    if working_set:
        if not supported:
            raise TypeError(f"working sets need restrict and certificate from "
                            f"{type(problem).__name__}")
        return _solve_working_set(problem, U0, c0, tol=tol, max_iter=max_iter,
                                  check_every=check_every, log=log)

    def gap_fn(U, c, T):
        bound, c_opt = problem.dual_bound(U, c, T)
        return problem.smooth_value(T, c_opt) + problem.penalty(U), bound

    U, c, T, n_iter, converged, L, history = fista(
        problem, U0, c0, max_iter=max_iter, tol=tol, gap_fn=gap_fn, check_every=check_every,
        log=log)
    bound, c_opt = problem.dual_bound(U, c, T)
    objective = problem.smooth_value(T, c_opt) + problem.penalty(U)
    return FitResult(pack(U, c_opt), objective, bound, n_iter, converged, history,
                     {"lipschitz": L}, gap=max(objective - bound, 0.0))


# working sets (auto) from this many groups on (a problem may say otherwise): a first set of
# _WS_START groups doubled per round takes at least three rounds on a smaller program whose
# groups are mostly active, and the restarts and certificates between rounds cost more than the
# smaller products save (gated two-layer program, n=2000, 50 patterns, 43 active: 330
# iterations with working sets, 290 without)
_WS_MIN_GROUPS = 64
# first working set: this many groups (or all if fewer), then at least doubled per round
_WS_START = 16
# smallest iteration budget of a round that is not the last
_WS_MIN_ROUND = 100


def _solve_working_set(problem, U, c, *, tol, max_iter, check_every, log):
    """FISTA on working sets of groups (columns ``q`` of ``U``).

    At the optimum of a group lasso most groups are zero (15-50 % active on the two-layer
    programs), and a zero group is optimal exactly when its gradient norm is at most the
    penalty weight. Each round solves the program restricted to the working set (warm-started),
    then one full adjoint product gives every group's gradient norm and the duality gap of the
    whole program: stop when that gap is ``<= tol``; else add the violating groups (largest
    violation first, at least doubling the set). The restricted solves are stopped at a gap
    a decade below the last full gap (exactly ``tol`` once no group outside violates), so the
    early rounds, whose problem changes anyway, stay cheap.
    """
    Q = problem.shape[1]
    U = np.array(U, dtype=np.float64)
    # the first working set: the active groups and those with the largest gradients (their
    # unprojected norms: the exact certificate of constrained programs costs more, and the
    # first round's restricted solve says more than a certificate at the starting point)
    Z0 = problem.forward(U)
    c = problem.optimal_intercept(Z0, c)
    norms = problem.group_norms(problem.adjoint(problem.loss.grad(Z0 + c)))
    active = problem.group_norms(U).max(axis=1) > 0
    score = np.where(active, np.inf, norms.max(axis=1))
    ws = np.sort(np.argsort(-score, kind="stable")[:max(_WS_START, int(active.sum()))])
    history, used, converged, L = [], 0, False, None
    rel = np.inf
    obj = bound = np.nan
    c_opt = c
    n_rounds = 0
    while True:
        if rel <= tol:
            converged = True
            break
        if used >= max_iter:
            break
        n_rounds += 1
        outside = np.ones(Q, dtype=bool)
        outside[ws] = False
        violators = np.flatnonzero(outside & (norms.max(axis=1) > problem.alpha))
        if n_rounds > 1 and violators.size:
            order = violators[np.argsort(-norms[violators].max(axis=1), kind="stable")]
            ws = np.sort(np.concatenate([ws, order[:max(ws.size, _WS_START)]]))
            violators = violators[~np.isin(violators, ws)]
        final = violators.size == 0 and n_rounds > 1
        tol_sub = tol if final else max(tol, min(1e-2, 0.1 * rel))
        sub = problem.restrict(ws)

        def gap_fn(U_, c_, T_, _sub=sub):
            b_, c_o = _sub.dual_bound(U_, c_, T_)
            return _sub.smooth_value(T_, c_o) + _sub.penalty(U_), b_

        # a round may not take the whole remaining budget: a restricted solve that stalls
        # must leave iterations for the next certificate of the whole program
        budget = max_iter - used if final else max(_WS_MIN_ROUND, (max_iter - used) // 2)
        Us, c, _, k, _, L, hist = fista(
            sub, U[:, ws], c, max_iter=min(budget, max_iter - used), tol=tol_sub, gap_fn=gap_fn,
            check_every=check_every, lipschitz=L, log=log, start_iter=used)
        used += k
        history.extend(hist)
        U[:, ws] = Us
        obj, bound, c_opt, norms = problem.certificate(U, c)
        rel = (obj - bound) / max(abs(obj), 1e-300)
        c = c_opt
        log.message(f"working set of {ws.size}/{Q} groups: relative duality gap of the whole "
                    f"program {rel:.3e}")
        history.append({"iter": used, "objective": obj, "gap": obj - bound, "measure": rel,
                        "working_set": int(ws.size)})
    return FitResult(pack(U, c_opt), obj, bound, max(used, 1), converged, history,
                     {"lipschitz": L, "working_set": int(ws.size), "n_rounds": n_rounds},
                     gap=max(obj - bound, 0.0))
