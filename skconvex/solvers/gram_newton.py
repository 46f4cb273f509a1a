"""Newton's method on the support of an unconstrained (gated) group lasso, normal-equations form.

For the gated programs (:class:`~skconvex.problems.group_lasso_relu.TwoLayerReLUProblem` with
``relu=False`` and Euclidean groups, e.g. the gated three-layer program over pattern pairs) a
nonzero column ``(q, k)`` moves output ``k`` by ``sigma_q D_q X u``, so the program restricted to
the support ``S`` is ``F(x) = f(J x + Z_out) + alpha sum_b ||x_b||`` with the Jacobian ``J``
(n K, |S| d + K). :func:`~skconvex.solvers.support_newton.polish_support_newton` forms ``J``
densely and gives up beyond ``MAX_JACOBIAN_SIZE`` entries (n = 10,000 with a few hundred
columns of 21 entries is ~50 million); here only the Hessian ``J^T W J`` ((|S| d)^2 entries) is
kept, accumulated over blocks of rows, and for the squared loss (constant ``W``) formed once.

Groups whose norm collapses during the iterations (their restricted optimum is zero) leave the
support; a point is returned only if it lowers the objective. The caller checks the result
with the certificate of the whole program.
"""

import numpy as np
import scipy.linalg

from skconvex._linalg import small_kernel
from skconvex.solvers.fista import pack, unpack

# rows per block times the number of variables: entries of one block of the Jacobian
_BLOCK_ENTRIES = 2_000_000
# the polish gives up when the Hessian would have more entries than this (|S| d = 10,000,
# 800 MB; the Newton system and its Cholesky factor take as much again each)
MAX_HESSIAN_SIZE = 100_000_000
# ... or when the Hessian is accumulated densely (no pair structure, or several outputs) at
# more than this many multiply-adds (n K^2 (|S| d)^2; ~10 s on one core)
MAX_DENSE_FLOPS = 1e11


def _row_blocks(n, n_var):
    step = max(1, _BLOCK_ENTRIES // max(n_var, 1))
    return [slice(a, min(n, a + step)) for a in range(0, n, step)]


class _Support:
    """The columns of the support grouped by output, and the Jacobian's rows."""

    def __init__(self, problem, cols):
        self.problem = problem
        self.cols = cols  # list of (q, k)
        K, d = problem.K, problem.d
        self.by_k = [np.array([q for q, kk in cols if kk == k], dtype=np.intp)
                     for k in range(K)]
        # variable order: output 0's columns (d each), output 1's, ..., then the intercepts
        sizes = [qs.size * d for qs in self.by_k]
        self.k_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        self.n_icpt = K if problem.fit_intercept else 0
        self.n_var = int(self.k_off[-1]) + self.n_icpt

    def jac(self, rows, k):
        """Rows ``rows`` of output ``k``'s Jacobian: (rows, |S_k| d)."""
        p = self.problem
        qs = self.by_k[k]
        S = p.sign_mask[rows][:, qs]
        return (S[:, :, None] * p.X[rows][:, None, :]).reshape(S.shape[0], qs.size * p.d)

    def hessian(self, Hrows):
        """``J^T W J`` with the loss Hessian rows ``Hrows`` (n, K, K)."""
        p, K = self.problem, self.problem.K
        if K == 1 and getattr(p, "mask2", None) is not None and np.all(Hrows >= 0):
            return self._pair_hessian(Hrows[:, 0, 0])
        H = np.zeros((self.n_var, self.n_var))
        ic = int(self.k_off[-1])
        for rows in _row_blocks(p.n, self.n_var):
            Js = [self.jac(rows, k) for k in range(K)]
            Hr = Hrows[rows]
            if K == 1 and np.all(Hr >= 0):
                # one output, convex loss: J^T diag(h) J = (sqrt(h) J)^T (sqrt(h) J), a SYRK
                sk = slice(0, ic)
                Jw = np.sqrt(Hr[:, 0, 0])[:, None] * Js[0]
                H[sk, sk] += Jw.T @ Jw
                if self.n_icpt:
                    v = Js[0].T @ Hr[:, 0, 0]
                    H[sk, ic] += v
                    H[ic, sk] += v
                    H[ic:, ic:] += Hr.sum(axis=0)
                continue
            for k in range(K):
                sk = slice(self.k_off[k], self.k_off[k + 1])
                for m in range(k, K):
                    sm = slice(self.k_off[m], self.k_off[m + 1])
                    WJ = Hr[:, k, m, None] * Js[m]
                    blk = Js[k].T @ WJ
                    H[sk, sm] += blk
                    if m != k:
                        H[sm, sk] += blk.T
                if self.n_icpt:
                    for m in range(K):
                        v = Js[k].T @ Hr[:, k, m]
                        H[sk, ic + m] += v
                        H[ic + m, sk] += v
            if self.n_icpt:
                H[ic:, ic:] += Hr.sum(axis=0)
        return H

    def _pair_hessian(self, h):
        """``J^T diag(h) J`` for one output when every column's mask is a product of a
        first- and a second-layer pattern (the gated three-layer program): the block of
        columns ``(i, j)``, ``(i', j')`` is ``X^T diag(h a_i a_i' b_j b_j') X``, so for each pair
        of second-layer patterns ``(j, j')`` one GEMM over the rows of ``b_j b_j'`` gives all
        of their columns' blocks (about a quarter of the rows each, instead of all rows for
        every pair of columns)."""
        p, d = self.problem, self.problem.d
        qs = self.by_k[0]
        H = np.zeros((self.n_var, self.n_var))
        first, second = p.pair_first[qs], p.pair_second[qs]
        js = np.unique(second)
        pos = {j: np.flatnonzero(second == j) for j in js}
        idx = {j: (pos[j][:, None] * d + np.arange(d)).ravel() for j in js}

        def block(rows, j, w):
            A = p.mask1[rows][:, first[pos[j]]]
            return (A[:, :, None] * (p.X[rows] * w[:, None])[:, None, :]).reshape(
                A.shape[0], -1)

        for a, j in enumerate(js):
            for j2 in js[a:]:
                rows = np.flatnonzero(p.mask2[:, j] & p.mask2[:, j2] & (h > 0))
                if not rows.size:
                    continue
                sq = np.sqrt(h[rows])
                Aj = block(rows, j, sq)
                if j2 == j:
                    blk = Aj.T @ Aj
                    H[np.ix_(idx[j], idx[j])] += blk
                else:
                    blk = Aj.T @ block(rows, j2, sq)
                    H[np.ix_(idx[j], idx[j2])] += blk
                    H[np.ix_(idx[j2], idx[j])] += blk.T
        if self.n_icpt:
            ic = int(self.k_off[-1])
            v = self.gradient(h[:, None])[:ic]
            H[:ic, ic] = v
            H[ic, :ic] = v
            H[ic, ic] = h.sum()
        return H

    def gradient(self, G):
        """``J^T G`` for the loss gradient ``G`` (n, K)."""
        p, K = self.problem, self.problem.K
        g = np.empty(self.n_var)
        for k in range(K):
            qs = self.by_k[k]
            A = p.X * G[:, k, None]  # (n, d)
            g[self.k_off[k]:self.k_off[k + 1]] = (p.sign_mask[:, qs].T @ A).ravel()
        if self.n_icpt:
            g[self.k_off[-1]:] = G.sum(axis=0)
        return g

    def scores(self, x):
        """``J x`` (n, K): the network output of the support's columns and intercepts."""
        p, K, d = self.problem, self.problem.K, self.problem.d
        Z = np.zeros((p.n, K))
        for k in range(K):
            qs = self.by_k[k]
            if qs.size:
                V = x[self.k_off[k]:self.k_off[k + 1]].reshape(qs.size, d)
                Z[:, k] = np.einsum("nd,nd->n", p.X, p.sign_mask[:, qs] @ V)
        if self.n_icpt:
            Z += x[self.k_off[-1]:]
        return Z

    def to_point(self, x):
        p = self.problem
        U = np.zeros(p.shape)
        for k in range(p.K):
            qs = self.by_k[k]
            U[:, qs, k] = x[self.k_off[k]:self.k_off[k + 1]].reshape(qs.size, p.d).T
        c = x[self.k_off[-1]:].copy() if self.n_icpt else np.zeros(p.K)
        return U, c

    def from_point(self, U, c):
        parts = [U[:, qs, k].T.ravel() for k, qs in enumerate(self.by_k)]
        if self.n_icpt:
            parts.append(np.asarray(c, dtype=np.float64))
        return np.concatenate(parts)


def polish_gram_newton(problem, w, *, max_iter=50, stop=None):
    """Polish ``w`` (packed ``(U, c)``) by Newton's method on its support (groups with a
    nonzero norm), the Hessian in normal-equations form. Returns ``(w, improved)``; ``w`` is
    returned unchanged when the polish does not lower the objective. ``stop(U, c)``, if
    given, is asked after every step whether the point is good enough (e.g. by the certificate
    of the whole program).

    The Newton systems are solved by a Cholesky factorization, whose factor then
    preconditions conjugate gradients on the next systems (the loss Hessian is fixed for the
    squared loss and only the penalty's blocks move); a new factor is formed when those take
    more than a few iterations.

    The problem must be an unconstrained gated program with Euclidean groups (``relu`` and
    ``shared`` false); groups whose norm collapses to rounding level leave the support.
    """
    if problem.relu or problem.shared:
        raise ValueError("polish_gram_newton needs the gated program with Euclidean groups")
    U, c = unpack(np.asarray(w, dtype=np.float64), problem.shape)
    norms = problem.group_norms(U)
    if not norms.size or norms.max() == 0:
        return w, False
    cols = [(int(q), int(k)) for q, k in zip(*np.nonzero(norms > 0))]
    const_hessian = problem.loss_name == "squared"
    sup = _Support(problem, cols)
    if sup.n_var ** 2 > MAX_HESSIAN_SIZE:
        return w, False
    structured = problem.K == 1 and getattr(problem, "mask2", None) is not None
    if not structured and problem.n * problem.K ** 2 * sup.n_var ** 2 > MAX_DENSE_FLOPS:
        return w, False
    # the Newton systems' kernels: a factorization and (dense case) the Hessian's
    # accumulation; small ones run on one BLAS thread (see skconvex._linalg.small_kernel)
    flops = sup.n_var ** 3 / 3.0 + (0.0 if structured else
                                    problem.n * problem.K ** 2 * float(sup.n_var) ** 2)
    with small_kernel(flops):
        return _polish(problem, w, U, c, cols, sup, const_hessian, max_iter, stop)


def _polish(problem, w, U, c, cols, sup, const_hessian, max_iter, stop):
    """The body of :func:`polish_gram_newton`."""
    alpha, loss, d = problem.alpha, problem.loss, problem.d
    x = sup.from_point(U, c)
    # the whole objective at the starting point (every nonzero group is in the support)
    f0 = loss.value(sup.scores(x)) + problem.penalty(U)

    def blocks_of(x_, sup_):
        return x_[:sup_.k_off[-1]].reshape(-1, d)

    def F(x_, sup_):
        return loss.value(sup_.scores(x_)) + alpha * float(
            np.sum(np.linalg.norm(blocks_of(x_, sup_), axis=1)))

    nvar_u = int(sup.k_off[-1])
    n_blocks = nvar_u // d
    # groups whose restricted optimum is zero stay in the system, pinned at zero (identity
    # rows), so that an earlier factor still preconditions the smaller system exactly
    pinned = np.zeros(n_blocks, dtype=bool)
    H_loss = None
    pre = None  # preconditioner from the Cholesky factor of an earlier Newton matrix
    f_old = F(x, sup)
    for _ in range(max_iter):
        pin_var = np.concatenate([np.repeat(pinned, d), np.zeros(sup.n_var - nvar_u, bool)])
        Z = sup.scores(x)
        g = sup.gradient(loss.grad(Z))
        if H_loss is None or not const_hessian:
            H_loss = sup.hessian(loss.hessian_rows(Z))
            pre = None
        B = blocks_of(x, sup)
        nb = np.linalg.norm(B, axis=1)
        safe = np.where(pinned, 1.0, nb)
        g[:nvar_u] += alpha * (B / safe[:, None]).ravel()
        g[pin_var] = 0.0
        # the penalty's Hessian: one (d, d) block per group
        Pen = alpha * (np.eye(d)[None] / safe[:, None, None]
                       - B[:, :, None] * B[:, None, :] / safe[:, None, None] ** 3)
        Pen[pinned] = 0.0
        shift = 0.0
        if problem.loss_name == "cross_entropy" and sup.n_icpt:
            # the softmax loss is flat along equal shifts of the intercepts
            shift = np.trace(H_loss) / sup.n_var / problem.K

        def matvec(v):
            vf = np.where(pin_var, 0.0, v)
            out = H_loss @ vf
            out[:nvar_u] += np.einsum("bij,bj->bi", Pen, vf[:nvar_u].reshape(-1, d)).ravel()
            if shift:
                out[nvar_u:] += shift * v[nvar_u:]
            out[pin_var] = v[pin_var]
            return out

        step = None
        if pre is not None:
            precond = pre(pin_var)
            if precond is not None:
                step = _pcg(matvec, g, precond)
        if step is None:
            H = H_loss.copy()
            for k in range(n_blocks):
                H[k * d:(k + 1) * d, k * d:(k + 1) * d] += Pen[k]
            if shift:
                H[nvar_u:, nvar_u:] += shift * np.eye(sup.n_var - nvar_u)
            H[pin_var] = 0.0
            H[:, pin_var] = 0.0
            H[pin_var, pin_var] = 1.0
            pre = _Preconditioner(_factor(H), pin_var)
            del H
            if pre.factor is None:
                break
            step = pre(pin_var)(-g)
        slope = float(g @ step)
        if not slope < 0:
            break
        # groups the full step takes through the origin: their restricted optimum is
        # (likely) zero, where the norm is not smooth and the line search would crawl; try
        # the step with them at zero first
        Sb = step[:nvar_u].reshape(-1, d)
        cross = (np.einsum("bi,bi->b", B, B + Sb) <= 0) & ~pinned
        if cross.any():
            trial = x + step
            blocks_of(trial, sup)[cross] = 0.0
            f_new = F(trial, sup)
            if f_new < f_old:
                x, f_old = trial, f_new
                pinned |= cross
                continue
        t = 1.0
        while t > 1e-10:
            f_new = F(x + t * step, sup)
            if f_new <= f_old + 1e-4 * t * slope + 1e-15 * abs(f_old):
                break
            t *= 0.5
        else:
            break
        x = x + t * step
        done = f_old - f_new <= 1e-16 * abs(f_old) or \
            np.linalg.norm(t * step) <= 1e-15 * max(1.0, np.linalg.norm(x))
        f_old = f_new
        # groups collapsing to zero: those at rounding level, and those the step shrank by
        # half or more if zeroing them does not raise the objective (Newton's steps only
        # halve a group whose optimum is zero)
        nb_new = np.linalg.norm(blocks_of(x, sup), axis=1)
        drop = (nb_new <= 1e-10 * max(float(nb_new.max()), 1e-300)) & ~pinned
        shrunk = (nb_new <= 0.5 * nb) & ~drop & ~pinned
        if shrunk.any():
            trial = x.copy()
            blocks_of(trial, sup)[shrunk] = 0.0
            f_trial = F(trial, sup)
            if f_trial <= f_old:
                x, f_old = trial, f_trial
                drop |= shrunk
        if drop.any():
            blocks_of(x, sup)[drop] = 0.0
            f_old = F(x, sup)
            pinned |= drop
            if pinned.all():
                break
            continue
        if done or (stop is not None and stop(*sup.to_point(x))):
            break
    Un, cn = sup.to_point(x)
    f_new = loss.value(sup.scores(x)) + problem.penalty(Un)
    if not f_new < f0:
        return w, False
    return pack(Un, cn), True


def _ordered(sup):
    """The support's columns in variable order."""
    return [(int(q), k) for k, qs in enumerate(sup.by_k) for q in qs]


def _factor(H):
    try:
        return scipy.linalg.cho_factor(H, check_finite=False, overwrite_a=True)
    except np.linalg.LinAlgError:
        return None


class _Preconditioner:
    """Solves with a factored Newton matrix ``M`` (pinned variables decoupled) restricted to
    the variables still free: for variables pinned since, the bordered system
    ``[M E; E^T 0]`` by its Schur complement (``E`` their unit columns)."""

    def __init__(self, factor, pin_var):
        self.factor = factor
        self.pin_var = pin_var.copy()
        self._cache = None

    def solve(self, r):
        return scipy.linalg.cho_solve(self.factor, r, check_finite=False)

    def __call__(self, pin_var):
        new = np.flatnonzero(pin_var & ~self.pin_var)
        if not new.size:
            return self.solve
        if new.size > 0.25 * pin_var.size:
            return None
        if self._cache is None or not np.array_equal(self._cache[0], new):
            E = np.zeros((pin_var.size, new.size))
            E[new, np.arange(new.size)] = 1.0
            W = self.solve(E)
            self._cache = (new, W, scipy.linalg.cho_factor(W[new], check_finite=False))
        _, W, S = self._cache

        def apply(r):
            z = self.solve(r)
            z -= W @ scipy.linalg.cho_solve(S, z[new], check_finite=False)
            z[pin_var] = r[pin_var]
            return z

        return apply


def _pcg(matvec, g, precond, *, max_iter=20, rtol=1e-12):
    """``-H^{-1} g`` by conjugate gradients preconditioned by ``precond`` (the inverse of a
    nearby matrix); ``None`` when they do not reach ``rtol`` within ``max_iter``
    iterations."""
    b = -g
    x = precond(b)
    r = b - matvec(x)
    bn = np.linalg.norm(b)
    z = precond(r)
    p = z.copy()
    rz = float(r @ z)
    for _ in range(max_iter):
        if np.linalg.norm(r) <= rtol * bn:
            return x
        Ap = matvec(p)
        pAp = float(p @ Ap)
        if not pAp > 0:
            return None
        a = rz / pAp
        x += a * p
        r -= a * Ap
        z = precond(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x if np.linalg.norm(r) <= rtol * bn else None

