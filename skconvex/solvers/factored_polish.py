"""Polish of nuclear-norm group programs through their factorization (tiny programs).

The programs of two-layer networks with hidden units shared by all outputs
(:class:`~skconvex.problems.group_lasso_relu.TwoLayerReLUProblem` with ``shared=True``) penalize
each (d, K) block ``U_q`` by ``alpha ||U_q||_*``, which is not smooth on any support, so the
Newton polish of the Euclidean group programs does not apply. With the ranks of the blocks fixed,
``U_q = L_q R_q^T`` and ``||U_q||_* = min (||L_q||^2 + ||R_q||^2) / 2`` over such factorizations
(attained at the scaled singular vectors), so near the optimum the program equals the smooth
problem ``min f(sum_q D_q X L_q R_q^T + c) + alpha / 2 sum_q (||L_q||^2 + ||R_q||^2)`` over the
factors of the support, whose minimizer reached from the optimum's factors is the optimum.
L-BFGS on it, then Newton's method on its gradient (a central-difference Jacobian, least-squares
steps: the factors are defined up to a rotation within each block, so the Hessian is singular)
take the gradient to rounding level where proximal gradient crawls (it is the network itself,
trained from the convex solution: the recovered units are these factors). The Newton steps
matter: the objective is flat to rounding (1e-16) over parameter changes of ~1e-8, so methods
that stop on objective decrease (L-BFGS) leave the parameters, and the predictions, accurate to
~1e-8 only.
"""

import numpy as np
import scipy.optimize

from skconvex.solvers.fista import pack, unpack

# blocks whose singular values are below this fraction of the largest are dropped
_RANK_TOL = 1e-9
# Newton steps on the gradient: only for programs with at most this many factor entries
# (the Jacobian costs two gradients per entry), and this many steps
_NEWTON_MAX_VARS, _NEWTON_STEPS = 2000, 6


def polish_factored(problem, w, *, max_iter=2000):
    """Polish ``w`` (packed ``(U, c)``, an almost optimal point of a shared-units program) by
    L-BFGS on the factors of its nonzero blocks. Returns ``(w, improved)``; ``w`` is returned
    unchanged when the polish does not lower the objective."""
    U, c = unpack(np.asarray(w, dtype=np.float64), problem.shape)
    d, Q, K = problem.shape
    u, sv, vt = np.linalg.svd(np.moveaxis(U, 1, 0), full_matrices=False)
    if not sv.size or sv.max() == 0:
        return w, False
    keep = sv > _RANK_TOL * sv.max()
    qs = np.flatnonzero(keep.any(axis=1))
    r = int(keep.sum(axis=1).max())
    root = np.sqrt(np.where(keep, sv, 0.0))[qs, :r]  # (m, r), zero beyond each block's rank
    L0 = u[qs, :, :r] * root[:, None, :]  # (m, d, r)
    R0 = np.swapaxes(vt[qs, :r, :], 1, 2) * root[:, None, :]  # (m, K, r)
    sub = problem.restrict(qs)
    m = qs.size
    nL, nR = m * d * r, m * K * r
    alpha = problem.alpha

    def split(x):
        return (x[:nL].reshape(m, d, r), x[nL:nL + nR].reshape(m, K, r), x[nL + nR:])

    def blocks(L, R):
        return np.moveaxis(np.einsum("mdr,mkr->mdk", L, R), 0, 1)  # (d, m, K)

    def fun(x):
        L, R, ci = split(x)
        cc = ci if problem.fit_intercept else np.zeros(K)
        val, G, gc = sub.smooth_value_grad(sub.forward(blocks(L, R)), cc)
        A = np.moveaxis(sub.adjoint(G), 1, 0)  # (m, d, K)
        gL = np.einsum("mdk,mkr->mdr", A, R) + alpha * L
        gR = np.einsum("mdk,mdr->mkr", A, L) + alpha * R
        val += 0.5 * alpha * (float(np.sum(L * L)) + float(np.sum(R * R)))
        g_c = gc if problem.fit_intercept else np.zeros(0)
        return val, np.concatenate([gL.ravel(), gR.ravel(), np.ravel(g_c)])

    x0 = np.concatenate([L0.ravel(), R0.ravel(),
                         np.ravel(c) if problem.fit_intercept else np.zeros(0)])
    res = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": max_iter, "ftol": 0.0, "gtol": 1e-15,
                                           "maxcor": 30})
    x = res.x
    if x.size <= _NEWTON_MAX_VARS:
        x = _newton_on_gradient(lambda z: fun(z)[1], x)
    L, R, ci = split(x)
    U_new = np.zeros_like(U)
    U_new[:, qs] = blocks(L, R)
    c_new = ci if problem.fit_intercept else np.zeros(K)
    if problem.objective(U_new, c_new) > problem.objective(U, c):
        return w, False
    return pack(U_new, c_new), True


def _newton_on_gradient(grad, x):
    """Newton's method for ``grad(x) = 0`` with a central-difference Jacobian and
    least-squares (minimum-norm) steps; a step is kept only if it lowers the gradient norm."""
    g = grad(x)
    gn = np.linalg.norm(g)
    for _ in range(_NEWTON_STEPS):
        if gn == 0.0:
            break
        h = 1e-5 * np.maximum(1.0, np.abs(x))
        J = np.empty((x.size, x.size))
        for j in range(x.size):
            e = np.zeros(x.size)
            e[j] = h[j]
            J[:, j] = (grad(x + e) - grad(x - e)) / (2.0 * h[j])
        J = 0.5 * (J + J.T)  # a Hessian: symmetric up to the differences' error
        step = np.linalg.lstsq(J, -g, rcond=1e-10)[0]
        x_new = x + step
        g_new = grad(x_new)
        gn_new = np.linalg.norm(g_new)
        if not gn_new < gn:
            break
        x, g, gn = x_new, g_new, gn_new
    return x
