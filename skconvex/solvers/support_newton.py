"""Newton's method on the support of a group-lasso solution: a polish to machine precision.

First-order methods stop where objective differences are lost to rounding, which for a flat loss
(cross-entropy on confident samples) leaves the predictions accurate to only about the square
root of the duality gap. Once the nonzero groups are identified, the program restricted to them
is smooth (the group norm is differentiable away from zero) and Newton's method converges
quadratically to the restricted optimum, i.e. to the optimum when the support is right.

For the ReLU program each nonzero column also keeps the cone constraints that are active at the
current point: the column moves in the null space of those rows (the face of its cone), and the
polished point is accepted only if it stays in the cones and does not increase the objective.

Meant for small programs (the Jacobian is formed densely): the estimators use it after the
interior-point reference solver on tiny problems.
"""

import numpy as np
import scipy.linalg

from skconvex.solvers.fista import pack, unpack

# the polish gives up on programs whose dense Jacobian would have more entries than this
MAX_JACOBIAN_SIZE = 4_000_000


def _cone_rows(problem, q):
    """The rows of column ``q``'s cone constraints (``rows @ u >= 0``): the problem's own
    ``cone_rows(q)`` where it has one (programs whose columns are not single neurons), else
    the two-layer ReLU program's ``(2 D_q - I) X``."""
    if hasattr(problem, "cone_rows"):
        return problem.cone_rows(q)
    signs = np.where(problem.mask[:, problem.col_pattern[q]], 1.0, -1.0)
    return signs[:, None] * problem.X


def _column_jacobian(problem, q):
    """Jacobian (n, column size) of the output a column feeds with respect to the column:
    ``problem.column_jacobian(q)`` where defined, else the two-layer ``sigma_q D_q X``."""
    if hasattr(problem, "column_jacobian"):
        return problem.column_jacobian(q)
    return problem.sign_mask[:, q, None] * problem.X


def _null_space(A, rcond):
    """``scipy.linalg.null_space`` without the full left singular vectors of a tall ``A``
    (the active rows of a column can number in the thousands: a zero path of a deep cell
    holds all its leaf's constraints at zero slack)."""
    if A.shape[0] <= A.shape[1]:
        return scipy.linalg.null_space(A, rcond=rcond)
    _, s, vh = scipy.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(s > rcond * s.max())) if s.size else 0
    return vh[rank:].T.conj()


def _bases(problem, U, cols, norms):
    """An orthonormal basis of each column's feasible subspace (all of R^d for the gated
    program; the null space of the active cone rows for the ReLU one)."""
    size = problem.shape[0]
    out = []
    for q, k in cols:
        if not problem.relu:
            out.append(np.eye(size))
            continue
        A = _cone_rows(problem, q)
        slack = A @ U[:, q, k]
        row_norms = np.linalg.norm(A, axis=1)
        act = slack <= 1e-9 * row_norms * norms[q, k]
        out.append(_null_space(A[act], 1e-10) if act.any() else np.eye(size))
    return out


def _solve_spd(H, g):
    """``-H^{-1} g`` for the (semi)definite Newton system: Cholesky, least squares when H is
    singular (the softmax loss is flat along equal shifts of all outputs)."""
    try:
        return -scipy.linalg.cho_solve(scipy.linalg.cho_factor(H, check_finite=False), g,
                                       check_finite=False)
    except np.linalg.LinAlgError:
        return -scipy.linalg.lstsq(H, g, check_finite=False)[0]


def polish_support_newton(problem, w, *, max_iter=30):
    """Polish ``w`` (packed ``(U, c)``, an almost optimal point) by Newton's method on its
    support. Returns ``(w, improved)``; ``w`` is returned unchanged when the polish would
    change the support, leave the cones, or not lower the objective."""
    U, c = unpack(np.asarray(w, dtype=np.float64), problem.shape)
    U, c = U.copy(), np.array(c, dtype=np.float64)
    norms = problem.group_norms(U)
    if not norms.size or norms.max() == 0:
        return w, False
    cols = list(zip(*np.nonzero(norms > 1e-9 * norms.max())))
    n, K = problem.n, problem.K
    bases = _bases(problem, U, cols, norms)
    sizes = [B.shape[1] for B in bases]
    if min(sizes) == 0:
        return w, False
    offs = np.concatenate([[0], np.cumsum(sizes)])
    n_icpt = K if problem.fit_intercept else 0
    n_var = int(offs[-1]) + n_icpt
    if n * K * n_var > MAX_JACOBIAN_SIZE:
        return w, False
    alpha, loss = problem.alpha, problem.loss
    # Jacobian of the scores (n, K, n_var): column (q, k) moves output k only
    J = np.zeros((n, K, n_var))
    for b, ((q, k), B) in enumerate(zip(cols, bases)):
        J[:, k, offs[b]:offs[b + 1]] = _column_jacobian(problem, q) @ B
    for k in range(n_icpt):
        J[:, k, offs[-1] + k] = 1.0
    Jf = J.reshape(n * K, n_var)

    def to_point(x):
        Un = np.zeros_like(U)
        for b, ((q, k), B) in enumerate(zip(cols, bases)):
            Un[:, q, k] = B @ x[offs[b]:offs[b + 1]]
        cn = x[offs[-1]:] if n_icpt else np.zeros(K)
        return Un, cn

    x = np.concatenate([B.T @ U[:, q, k] for (q, k), B in zip(cols, bases)]
                       + ([c] if n_icpt else []))
    # the restricted objective F(x) = f(Z0 + c) + alpha sum ||z_b||, Z0 linear in x
    Z0_rest = problem.forward(U) - (Jf[:, :offs[-1]] @ x[:offs[-1]]).reshape(n, K)

    def scores(x):
        return Z0_rest + (Jf @ x).reshape(n, K)

    def F(x):
        zn = [np.linalg.norm(x[offs[b]:offs[b + 1]]) for b in range(len(cols))]
        return loss.value(scores(x)) + alpha * float(np.sum(zn))

    f_old = F(x)
    f0 = f_old
    for _ in range(max_iter):
        Z = scores(x)
        G = loss.grad(Z)  # (n, K)
        g = Jf.T @ G.ravel()
        H = Jf.T @ (loss.hessian_rows(Z) @ J).reshape(n * K, n_var)
        for b in range(len(cols)):
            zb = x[offs[b]:offs[b + 1]]
            nz = np.linalg.norm(zb)
            if nz <= 1e-12 * max(1.0, np.linalg.norm(x)):
                return w, False  # a group shrinks to zero: the support changes
            sl = slice(offs[b], offs[b + 1])
            g[sl] += alpha * zb / nz
            H[sl, sl] += alpha * (np.eye(zb.size) / nz - np.outer(zb, zb) / nz**3)
        if problem.loss_name == "cross_entropy" and n_icpt:
            # the softmax loss is flat along equal shifts of the intercepts: curvature there
            # (the gradient has no component along it) makes the system definite
            ic = slice(offs[-1], offs[-1] + K)
            H[ic, ic] += np.trace(H) / n_var / K
        step = _solve_spd(H, g)
        slope = float(g @ step)
        if not slope < 0:
            break
        t = 1.0
        while t > 1e-10:
            f_new = F(x + t * step)
            if f_new <= f_old + 1e-4 * t * slope + 1e-15 * abs(f_old):
                break
            t *= 0.5
        else:
            break
        x = x + t * step
        done = f_old - f_new <= 1e-16 * abs(f_old) or \
            np.linalg.norm(t * step) <= 1e-15 * max(1.0, np.linalg.norm(x))
        f_old = f_new
        if done:
            break
    Un, cn = to_point(x)
    if problem.relu and problem.max_violation(Un) > 1e-12 * max(1.0, float(norms.max())):
        return w, False
    if not F(x) <= f0 + 1e-15 * abs(f0):
        return w, False
    return pack(Un, cn), True
