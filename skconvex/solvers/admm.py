"""ADMM for least squares plus a unitarily invariant (spectral) penalty.

The program ``min_W 1/2 ||X W - Y||_F^2 + g(W)`` (``W`` of shape (d, K)) with ``g`` a function
of the singular values of ``W`` (the nuclear norm of the parallel deep linear network) is split
as ``W = Z``::

    W <- (X^T X + rho I)^{-1} (X^T Y + rho (Z - U))
    Z <- prox_{g / rho}(W + U)
    U <- U + W - Z

The first step is exact whatever the conditioning of ``X^T X``: proximal gradient methods
take steps of ``1 / ||X||_2^2`` and, with features on scales 1e3 apart and a small penalty,
stalled where this method converges in tens of iterations. Its rate is still set by the
spread of the spectrum of ``X^T X`` where the penalty is active (directions of curvature
``lam`` contract by about ``|lam - rho| / (lam + rho)`` per step): with a large penalty (a
solution of low rank) on such features it stalls where restarted proximal gradient
converges, and the estimators hand over to it then. The step uses a Cholesky factor of
``X^T X + rho I``, whose accuracy (unlike an eigendecomposition's) does not suffer from
columns on scales far apart; ``rho`` is balanced between the primal and dual residuals (Boyd
et al., section 3.4.1), by factors of 2 and at most every few iterations (each change
refactors). Every iterate is a feasible point; the method stops when one's duality gap (the
problem's own certificate) is at most ``tol`` relative to its objective.
"""

import math

import numpy as np
import scipy.linalg as sla

from skconvex.utils._progress import ProgressLogger

_CHECK_EVERY = 5  # iterations between duality-gap checks (each costs two products with X)
_BALANCE = 10.0  # residual ratio that changes rho (by a factor 2)


def _truncate(W, Z):
    """``W`` cut to the numerical rank of ``Z`` (its best approximation of that rank)."""
    s = np.linalg.svd(Z, compute_uv=False)
    r = int(np.sum(s > 1e-13 * s[0])) if s.size and s[0] > 0 else 0
    if r >= min(W.shape):
        return W
    U, sw, Vt = np.linalg.svd(W, full_matrices=False)
    return (U[:, :r] * sw[:r]) @ Vt[:r]


def solve_admm_spectral(problem, *, tol=1e-6, max_iter=5000, verbose=0, warm_start=None):
    """ADMM on ``min 1/2 ||X W - Y||^2 + g(W)``.

    Parameters
    ----------
    problem : object
        With ``X`` (n, d), ``Y`` (n, K), ``prox(W, step)`` (the prox of ``step * g``, a
        spectral map), ``objective(W)`` and ``dual_bound(W)`` (a lower bound of the optimum
        and an unused second entry), as :class:`skconvex.problems.deep_linear.DeepLinearProblem`.
    tol : float, default=1e-6
        Target relative duality gap of the iterate ``Z``.
    max_iter : int, default=5000
    verbose : int, default=0
    warm_start : ndarray of shape (d, K) or None

    Returns
    -------
    W, n_iter, converged, history
        ``W`` the checked point of least relative gap (``Z``, ``W`` cut to ``Z``'s rank, or
        ``W``); ``history`` one record per gap check (``iter``, ``objective``, ``gap``,
        ``measure`` (the least relative gap so far), ``rho``).
    """
    X, Y = problem.X, problem.Y
    d, K = X.shape[1], Y.shape[1]
    log = ProgressLogger("admm", verbose, tol=tol)
    G = X.T @ X
    XtY = X.T @ Y
    diag = G.diagonal().copy()
    pos = diag[diag > 1e-12 * max(float(diag.max(initial=0.0)), 1e-300)]
    # the geometric middle of the curvatures
    rho = float(np.exp(np.mean(np.log(pos)))) if pos.size else 1.0

    def factor(rho):
        H = G.copy()
        H[np.diag_indices_from(H)] += rho
        return sla.cho_factor(H, lower=True, check_finite=False)

    F = factor(rho)
    Z = np.zeros((d, K)) if warm_start is None else np.array(warm_start, dtype=np.float64)
    U = np.zeros((d, K))
    last_change = 0
    best = (math.inf, Z)
    history, converged, it = [], False, 0
    for it in range(1, max_iter + 1):
        W = sla.cho_solve(F, XtY + rho * (Z - U), check_finite=False)
        Z_old = Z
        Z = problem.prox(W + U, 1.0 / rho)
        U = U + W - Z
        if it % _CHECK_EVERY == 0 or it == max_iter:
            # every iterate is a feasible point: Z (the prox's, of the solution's rank), W
            # (the exact least-squares step: its residual is accurate along directions of
            # large curvature, where the certificate is most sensitive) cut to Z's rank, and
            # W itself. The first that certifies is taken, in that order
            for cand in (Z, _truncate(W, Z), W):
                obj = problem.objective(cand)
                gap = max(obj - problem.dual_bound(cand)[0], 0.0)
                rel = gap / max(abs(obj), np.finfo(np.float64).tiny)
                if rel < best[0]:
                    best = (rel, cand)
                if rel <= tol:
                    break
            history.append({"iter": it, "objective": obj, "gap": gap, "measure": best[0],
                            "rho": rho})
            log.iteration(it, objective=obj, gap=gap, measure=best[0], step=rho)
            if best[0] <= tol:
                converged = True
                break
        if it - last_change >= _CHECK_EVERY:
            r = float(np.linalg.norm(W - Z))
            s = rho * float(np.linalg.norm(Z - Z_old))
            if r > _BALANCE * s or s > _BALANCE * r:
                f = 2.0 if r > s else 0.5
                rho, U = rho * f, U / f
                F = factor(rho)
                last_change = it
    return best[1], it, converged, history
