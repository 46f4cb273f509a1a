"""Newton's method on the support of a group-lasso solution: a polish to machine precision.

First-order methods stop where objective differences are lost to rounding, which for a flat loss
(cross-entropy on confident samples) leaves the predictions accurate to only about the square
root of the duality gap. Once the nonzero groups are identified, the program restricted to them
is smooth (the group norm is differentiable away from zero) and Newton's method converges
quadratically to the restricted optimum, i.e. to the optimum when the support is right.

For the ReLU program each nonzero column also keeps the cone constraints that are active at the
current point: the column moves in the null space of those rows (the face of its cone), steps
are cut at the cone rows they would cross (which then join the face: an active-set method), and
the polished point is accepted only if it stays in the cones and does not increase the
objective.

The Jacobian is formed densely (up to ``MAX_JACOBIAN_SIZE`` entries, and ``MAX_VARIABLES``
variables): the estimators use it
after the interior-point reference solver on tiny problems and between the proximal-gradient
rounds of the path-regularized programs (n = 10,000 with ~150 free variables).
"""

import numpy as np
import scipy.linalg

from skconvex._linalg import small_kernel
from skconvex.solvers.fista import pack, unpack
from skconvex.solvers.rounds import accept_polish

# the polish gives up on programs whose dense Jacobian would have more entries than this
MAX_JACOBIAN_SIZE = 4_000_000
# ... or whose Newton system would have more variables than this (a dense factorization each
# step, and a least-squares solve when it is singular: wide data, n=20 and d=200, gave a
# 9,805-variable system whose every step took minutes)
MAX_VARIABLES = 2_000
# the active-set steps stop after this many cone rows added per column (on average)
_MAX_FACE_CHANGES_PER_COLUMN = 4
# inactive cone rows kept per column as candidates to block a step: at least this many per
# dimension, at most _NEAR_ROWS_MAX (unless that is fewer)
_NEAR_ROWS_PER_DIM = 4
_NEAR_ROWS_MAX = 2048


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
    # (the SVD of A's triangular factor would halve the cost, but its rank decisions follow
    # rounding differently: reweighted and repeated rows then polished to different faces)
    _, s, vh = scipy.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(s > rcond * s.max())) if s.size else 0
    return vh[rank:].T.conj()


_APEX = object()  # a ray's block at zero (see _Face.blocking)


class _Face:
    """The face of a column's cone where the column lies, for the active-set steps: an
    orthonormal basis ``B`` of its span (the null space of the active cone rows), and the
    inactive rows nearest to the column (distance ``slack / ||row||``). The other rows are at
    least ``far`` from the reference point ``ref``, so a move of length ``r`` from a point
    within ``m`` of ``ref`` cannot reach them while ``far - m > r``; otherwise the near rows
    are chosen again (one pass over the rows). Neither the active nor the far rows are kept
    (a deep cell's column has n x nodes rows, thousands of them active on a zero path)."""

    def __init__(self, problem, q, u, unorm, *, moves=True):
        self.problem, self.q = problem, q
        A = _cone_rows(problem, q)
        norm = np.linalg.norm(A, axis=1)
        act = A @ u <= 1e-9 * norm * unorm
        self.B = _null_space(A[act], 1e-10) if act.any() else np.eye(A.shape[1])
        if moves and self.B.shape[1] > 1:  # a ray needs no rows (see blocking); without
            self._near_rows(A[~act], norm[~act], u)  # active-set moves nothing blocks

    def _near_rows(self, A, norm, u, radius=0.0):
        """Keep the rows within ``radius`` of ``u`` (at least the nearest
        ``_NEAR_ROWS_PER_DIM`` per dimension, at most ``_NEAR_ROWS_MAX``) as the near ones."""
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(norm > 0, np.maximum(A @ u, 0.0) / norm, np.inf)
        m = max(_NEAR_ROWS_PER_DIM * A.shape[1], int(np.sum(dist <= radius)))
        m = min(dist.size, m, max(_NEAR_ROWS_MAX, _NEAR_ROWS_PER_DIM * A.shape[1]))
        near = np.argpartition(dist, m)[:m] if m < dist.size else np.arange(dist.size)
        self.A_near, self.norm_near = A[near], norm[near]
        rest = np.ones(dist.size, dtype=bool)
        rest[near] = False
        self.far = float(dist[rest].min()) if rest.any() else np.inf
        self.ref = u.copy()

    def blocking(self, u, du):
        """The first cone row that the move ``u + t du`` (``t`` in (0, 1], ``du`` in the
        face's span) makes negative: ``(t, row)``, or ``(inf, None)``. On a ray (a face of
        dimension 1, most columns of the deep programs) every row's slack is proportional to
        the column's length, so only the apex blocks: ``(t, _APEX)`` where the move reaches
        zero."""
        if self.B.shape[1] == 1:
            x, s = float(self.B[:, 0] @ u), float(self.B[:, 0] @ du)
            return (-x / s, _APEX) if x * s < 0 else (np.inf, None)
        step = np.linalg.norm(du)
        A, norm = self.A_near, self.norm_near
        if self.far - np.linalg.norm(u - self.ref) <= step:
            A = _cone_rows(self.problem, self.q)
            norm = np.linalg.norm(A, axis=1)
            # rows in the face's span (zero slack) are not candidates
            outside = np.linalg.norm(A @ self.B, axis=1) > 1e-9 * norm
            A, norm = A[outside], norm[outside]
            # with room for the next steps (a Newton step shrinks them)
            self._near_rows(A, norm, u, radius=4.0 * step)
            if self.far > step:  # else the move may reach any row: test them all, this once
                A, norm = self.A_near, self.norm_near
        rate = A @ du
        cand = np.flatnonzero(rate < -1e-12 * norm * step)
        if not cand.size:
            return np.inf, None
        ratio = np.maximum(A[cand] @ u, 0.0) / -rate[cand]
        j = int(np.argmin(ratio))
        return float(ratio[j]), A[cand[j]].copy()

    def activate(self, row):
        """``row`` joins the active rows: the face loses the dimension along it (rows of the
        span then have no rate along any move, and are no candidates); ``_APEX``: the column
        is pinned at zero."""
        if row is _APEX:
            self.B = self.B[:, :0]
            return
        v = row @ self.B
        if np.linalg.norm(v) > 1e-9 * np.linalg.norm(row):
            self.B = self.B @ _null_space(v[None, :], 1e-10)


def _solve_spd(H, g):
    """``-H^{-1} g`` for the (semi)definite Newton system: Cholesky, least squares when H is
    singular (the softmax loss is flat along equal shifts of all outputs)."""
    try:
        return -scipy.linalg.cho_solve(scipy.linalg.cho_factor(H, check_finite=False), g,
                                       check_finite=False)
    except np.linalg.LinAlgError:
        return -scipy.linalg.lstsq(H, g, check_finite=False)[0]


def polish_support_newton(problem, w, *, max_iter=30, active_set=False,
                          max_jacobian_size=MAX_JACOBIAN_SIZE):
    """See :func:`_polish_support_newton`; on one BLAS thread (its kernels are small by the
    size limits: a threaded factorization of a few hundred variables cost 0.17 s against
    0.2 ms on one thread on a loaded 2-core machine, 10-30x slower fits)."""
    with small_kernel(0.0):
        return _polish_support_newton(problem, w, max_iter=max_iter, active_set=active_set,
                                      max_jacobian_size=max_jacobian_size)


def _polish_support_newton(problem, w, *, max_iter=30, active_set=False,
                           max_jacobian_size=MAX_JACOBIAN_SIZE):
    """Polish ``w`` (packed ``(U, c)``, an almost optimal point) by Newton's method on its
    support. Returns ``(w, improved)``; ``w`` is returned unchanged when the polish would not
    lower the objective.

    For the ReLU program each column moves on the face of its cone where it lies (the null
    space of its active rows), as an active-set method: a Newton step that would cross
    another cone row is cut at that row, which then joins the column's active rows (a face
    one dimension lower), and the iteration goes on from there. Every iterate stays in the
    cones. A column that shrinks to zero (or is pinned there by its face) leaves the support;
    columns do not enter it (the certificate of the whole program tells whether one
    should). These active-set steps run with ``active_set=True``; without, the polish gives
    up where a step would leave the cones or a group shrinks to zero (then its discrete
    decisions cannot follow rounding: the tiny programs of scikit-learn's sample-weight
    checks). The polish gives up when its dense Jacobian would have more than
    ``max_jacobian_size`` entries or its Newton system more than ``MAX_VARIABLES``
    variables."""
    U, c = unpack(np.asarray(w, dtype=np.float64), problem.shape)
    U, c = U.copy(), np.array(c, dtype=np.float64)
    norms = problem.group_norms(U)
    if not norms.size or not np.all(np.isfinite(norms)) or norms.max() == 0:
        return w, False
    cols = list(zip(*np.nonzero(norms > 1e-9 * norms.max())))
    n, K = problem.n, problem.K
    size = problem.shape[0]
    n_icpt = K if problem.fit_intercept else 0
    alpha, loss = problem.alpha, problem.loss
    faces = [_Face(problem, q, U[:, q, k], norms[q, k], moves=active_set) if problem.relu
             else None for q, k in cols]
    bases = [f.B if f is not None else np.eye(size) for f in faces]
    if min(B.shape[1] for B in bases) == 0:
        return w, False
    # the network output of the other (zero) columns: the restricted objective is
    # F(x) = f(Z_rest + sum_b J_b B_b x_b + c) + alpha sum ||x_b||, linear scores in x
    Z_rest = problem.forward(U) - sum(
        np.outer(_column_jacobian(problem, q) @ U[:, q, k], np.eye(K)[k]) for q, k in cols)
    cur = [U[:, q, k].copy() for q, k in cols]  # the columns, in the full space

    def layout():
        sizes = [B.shape[1] for B in bases]
        offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        n_var = int(offs[-1]) + n_icpt
        if n * K * n_var > max_jacobian_size or n_var > MAX_VARIABLES:
            return None
        J = np.zeros((n, K, n_var))  # Jacobian of the scores: column (q, k) moves output k
        for b, ((q, k), B) in enumerate(zip(cols, bases)):
            J[:, k, offs[b]:offs[b + 1]] = _column_jacobian(problem, q) @ B
        for k in range(n_icpt):
            J[:, k, offs[-1] + k] = 1.0
        return offs, J, J.reshape(n * K, n_var)

    lay = layout()
    if lay is None:
        return w, False
    offs, J, Jf = lay
    x = np.concatenate([B.T @ u for u, B in zip(cur, bases)] + ([c] if n_icpt else []))

    def drop(idx):
        """Remove the columns ``idx`` from the support (they become zero); False when none
        would be left."""
        for b in sorted(idx, reverse=True):
            for lst in (cols, faces, bases, cur):
                del lst[b]
        return bool(cols)

    def relayout(x):
        """The variables of the current faces and support, from the current columns:
        ``(x, F(x))`` (updates the layout), or ``(None, None)`` when the Jacobian would be
        too large."""
        nonlocal offs, J, Jf
        lay = layout()
        if lay is None:
            return None, None
        offs, J, Jf = lay
        x = np.concatenate([B.T @ u for u, B in zip(cur, bases)]
                           + ([x[len(x) - n_icpt:]] if n_icpt else []))
        return x, F(x)

    def scores(x):
        return Z_rest + (Jf @ x).reshape(n, K)

    def F(x):
        zn = [np.linalg.norm(x[offs[b]:offs[b + 1]]) for b in range(len(cols))]
        return loss.value(scores(x)) + alpha * float(np.sum(zn))

    f_old = F(x)
    f0 = f_old
    it = 0
    face_changes = 0
    while it < max_iter:
        it += 1
        Z = scores(x)
        G = loss.grad(Z)  # (n, K)
        g = Jf.T @ G.ravel()
        n_var = Jf.shape[1]
        H = Jf.T @ (loss.hessian_rows(Z) @ J).reshape(n * K, n_var)
        zero = [b for b in range(len(cols)) if np.linalg.norm(x[offs[b]:offs[b + 1]])
                <= 1e-12 * max(1.0, np.linalg.norm(x))]
        if zero:  # groups shrink to zero: they leave the support
            if not active_set or not drop(zero):
                return w, False
            x, f_old = relayout(x)
            if x is None:
                return w, False
            max_iter += 1
            continue
        for b in range(len(cols)):
            zb = x[offs[b]:offs[b + 1]]
            nz = np.linalg.norm(zb)
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
        # the longest step that stays in the cones, and the row that stops it
        t_max, block = 1.0, None
        for b, face in enumerate(faces):
            if face is None or not active_set:
                continue
            t_b, row = face.blocking(cur[b], bases[b] @ step[offs[b]:offs[b + 1]])
            if t_b < t_max:
                t_max, block = t_b, (b, row)
        t = t_max
        while t > 1e-10 * t_max:
            f_new = F(x + t * step)
            if f_new <= f_old + 1e-4 * t * slope + 1e-15 * abs(f_old):
                break
            t *= 0.5
        else:
            if block is None or t_max > 0:
                break
            f_new = f_old  # the step is blocked at once: only the face changes
        x = x + t * step
        for b, B in enumerate(bases):
            cur[b] = B @ x[offs[b]:offs[b + 1]]
        if block is not None and t == t_max:
            # the step reached a new cone row: continue on the face one dimension lower
            b, row = block
            face_changes += 1
            if face_changes > _MAX_FACE_CHANGES_PER_COLUMN * len(cols):
                break
            faces[b].activate(row)
            bases[b] = faces[b].B
            if bases[b].shape[1] == 0:  # the column is pinned at zero: it leaves the support
                if not drop([b]):
                    return w, False
            else:
                cur[b] = bases[b] @ (bases[b].T @ cur[b])
            x, f_old = relayout(x)
            if x is None:
                return w, False
            max_iter += 1  # a face change is not a Newton iteration
            continue
        done = f_old - f_new <= 1e-16 * abs(f_old) or \
            np.linalg.norm(t * step) <= 1e-15 * max(1.0, np.linalg.norm(x))
        f_old = f_new
        if done:
            break
    Un = np.zeros_like(U)
    for b, (q, k) in enumerate(cols):
        Un[:, q, k] = bases[b] @ x[offs[b]:offs[b + 1]]
    cn = x[offs[-1]:] if n_icpt else np.zeros(K)
    if problem.relu and problem.max_violation(Un) > 1e-12 * max(1.0, float(norms.max())):
        return w, False
    if not F(x) <= f0 + 1e-15 * abs(f0):
        return w, False
    return pack(Un, cn), True


def active_set_round(problem, result, user_tol, **kwargs):
    """One polish of a :func:`~skconvex.solvers.rounds.solve_in_rounds` round:
    :func:`polish_support_newton` with its active-set steps (``kwargs`` passed on), the
    polished point kept in ``result`` when the whole program's certificate does not go up
    (:func:`~skconvex.solvers.rounds.accept_polish`)."""
    w, improved = polish_support_newton(problem, result.w, active_set=True, **kwargs)
    return accept_polish(problem, result, w if improved else None, user_tol)
