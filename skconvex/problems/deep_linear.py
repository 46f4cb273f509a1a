"""Deep linear networks with weight decay as spectral programs (spec p3_parallel_deep_duality.md).

Data (already centered and multiplied row-wise by the square roots of the sample weights):
``X`` (n, d), ``Y`` (n, K). The network's end-to-end matrix is ``W`` (d, K).

- Parallel network (``sum_j X W_1j ... W_Lj``, regularizer ``(beta/L) sum_j sum_l ||W_lj||_F^L``):
  the convex program ``min 1/2 ||XW - Y||_F^2 + beta ||W||_*`` (nuclear norm), whatever the depth
  ``L``, once there are at least ``rank(W)`` branches. Zero duality gap.
- Standard network (``X W_1 ... W_L``, regularizer ``(beta/2) sum_l ||W_l||_F^2``): the
  non-convex program ``min 1/2 ||XW - Y||_F^2 + (beta L / 2) sum_i sigma_i(W)^{2/L}`` (the
  cheapest factorization of ``W`` into ``L`` factors costs ``(L/2) sum sigma^{2/L}``: balanced
  factors). Its Lagrangian dual (first ``L - 1`` layers in a Frobenius ball of radius ``t``,
  then the best ``t``) has the value ``min_W 1/2 ||XW - Y||^2 + (beta L / 2) ||W||_*^{2/L}``, which
  is strictly below the primal optimum when ``L >= 3`` and the solution has rank >= 2.

Both penalties are spectral (unitarily invariant, separable in the singular values), so the
prox is an SVD followed by a scalar map of the singular values (von Neumann's trace inequality),
and for whitened data (``X^T X = c I``) the solution is that map applied to ``X^T Y / c``.
"""

import numpy as np

from skconvex.solvers.fista import pack


def schatten_threshold(sigma, tau, depth):
    """``argmin_{s >= 0} 1/2 (s - sigma)^2 + tau (depth/2) s^{2/depth}``, elementwise.

    ``depth == 2``: soft thresholding ``(sigma - tau)_+``. ``depth >= 3``: ``0`` or the largest
    root of ``s + tau s^{2/depth - 1} = sigma``, whichever has the smaller objective (a
    non-convex, hard-ish threshold; spec section 2).
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    if depth == 2:
        return np.maximum(sigma - tau, 0.0)
    if tau <= 0:
        return np.maximum(sigma, 0.0)
    p = 2.0 / depth
    s_min = (tau * (1.0 - p)) ** (depth / (2.0 * (depth - 1)))
    g = lambda s: s + tau * s ** (p - 1.0)  # noqa: E731
    out = np.zeros_like(sigma)
    has_root = g(s_min) <= sigma
    if not np.any(has_root):
        return out
    sig = sigma[has_root]
    lo, hi = np.full_like(sig, s_min), np.maximum(sig, s_min)
    for _ in range(200):  # g increases on [s_min, sigma]: bisection to float precision
        mid = 0.5 * (lo + hi)
        below = g(mid) < sig
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        if np.all(hi - lo <= 4e-16 * np.maximum(hi, 1e-300)):
            break
    root = hi
    h = lambda s: 0.5 * (s - sig) ** 2 + tau * depth / 2.0 * s ** p  # noqa: E731
    out[has_root] = np.where(h(root) < h(np.zeros_like(sig)), root, 0.0)
    return out


def spectral_map(A, fn):
    """``U diag(fn(sigma)) V^T`` for the thin SVD ``A = U diag(sigma) V^T``; also returns the
    new singular values (descending)."""
    U, sig, Vt = np.linalg.svd(A, full_matrices=False)
    s = fn(sig)
    return (U * s) @ Vt, s


class DeepLinearProblem:
    """The spectral program of a parallel (``parallel=True``, nuclear norm) or standard deep
    linear network, in the interface of :func:`skconvex.solvers.fista.solve_fista` (variables
    ``W`` of shape (d, K); no intercept: the data are centered by the estimator).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (n, K)
    beta : float
        Weight-decay strength.
    depth : int
        Number of layers ``L >= 2``.
    parallel : bool
    """

    fit_intercept = False

    def __init__(self, X, Y, beta, depth, parallel=True):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Y = np.ascontiguousarray(Y, dtype=np.float64)
        self.beta = float(beta)
        self.depth = int(depth)
        self.parallel = bool(parallel)
        self.n, self.d = self.X.shape
        self.K = self.Y.shape[1]
        self.shape = (self.d, self.K)
        self._lip = None
        self._gram = None

    # -- data term -----------------------------------------------------------------------
    def forward(self, W):
        return self.X @ W

    def adjoint(self, G):
        return self.X.T @ G

    def smooth_value_grad(self, T, c=None):
        R = T - self.Y
        return 0.5 * float(np.sum(R * R)), R, np.zeros(self.K)

    def smooth_value(self, T, c=None):
        R = T - self.Y
        return 0.5 * float(np.sum(R * R))

    def lipschitz(self):
        if self._lip is None:
            self._lip = float(np.linalg.norm(self.X, 2) ** 2) if self.X.size else 1.0
        return max(self._lip, 1e-300)

    # -- penalty -----------------------------------------------------------------------------
    @property
    def convex(self):
        return self.parallel or self.depth == 2

    def penalty_of_singular_values(self, s):
        s = np.asarray(s, dtype=np.float64)
        if s.size:
            # rounding-level singular values of an exactly low-rank W are zeros (they would
            # count as s^{2/L} >> s in the non-convex penalty)
            s = np.where(s > 1e-13 * float(np.max(s)), s, 0.0)
        if self.convex:
            return self.beta * float(np.sum(s))
        return self.beta * self.depth / 2.0 * float(np.sum(s ** (2.0 / self.depth)))

    def penalty(self, W):
        return self.penalty_of_singular_values(np.linalg.svd(W, compute_uv=False))

    def threshold(self, sigma, tau):
        """The scalar prox of ``tau * penalty`` on singular values."""
        return schatten_threshold(sigma, tau, 2 if self.convex else self.depth)

    def prox(self, W, step):
        return spectral_map(W, lambda s: self.threshold(s, step * self.beta))[0]

    def objective(self, W):
        return self.smooth_value(self.X @ W) + self.penalty(W)

    # -- whitened data ----------------------------------------------------------------------
    def whitening_scale(self, rtol=1e-8):
        """``c`` if ``X^T X = c I`` (to ``rtol``), else None."""
        if self._gram is None:
            self._gram = self.X.T @ self.X
        G = self._gram
        c = float(np.trace(G)) / max(self.d, 1)
        if c <= 0:
            return None
        if np.linalg.norm(G - c * np.eye(self.d)) <= rtol * c * np.sqrt(self.d):
            return c
        return None

    def closed_form(self, c):
        """The global minimizer for whitened data ``X^T X = c I``: the spectral map of
        ``X^T Y / c`` with threshold ``beta / c`` (the data term is ``c/2 ||W - X^T Y / c||^2``
        plus a constant)."""
        return spectral_map(self.X.T @ self.Y / c, lambda s: self.threshold(s, self.beta / c))

    # -- duality -------------------------------------------------------------------------
    def nuclear_dual_bound(self, W, lam=None):
        """Dual value of ``min 1/2||XW - Y||^2 + lam ||W||_*`` at the residual of ``W``, scaled
        into ``||X^T Lam||_2 <= lam`` (weak duality: a lower bound of its optimum)."""
        lam = self.beta if lam is None else lam
        R = self.Y - self.X @ W
        g = float(np.linalg.norm(self.X.T @ R, 2)) if R.size else 0.0
        t_max = lam / g if g > 0 else np.inf
        lin, quad = float(np.sum(R * self.Y)), float(np.sum(R * R))
        if quad <= 0:  # a zero residual: the dual point 0 (t_max may be inf)
            return 0.0
        t = float(np.clip(lin / quad, 0.0, t_max))
        return t * lin - 0.5 * t * t * quad

    def dual_bound(self, W, c=None, T=None):
        """For :func:`solve_fista` (nuclear-norm program): ``(bound, zero intercept)``."""
        return self.nuclear_dual_bound(W), np.zeros(self.K)

    def least_squares_value(self):
        """``min_W 1/2 ||XW - Y||^2``."""
        if self.X.size == 0:
            return 0.5 * float(np.sum(self.Y ** 2))
        coef, *_ = np.linalg.lstsq(self.X, self.Y, rcond=None)
        R = self.X @ coef - self.Y
        return 0.5 * float(np.sum(R * R))

    # -- reference -----------------------------------------------------------------------
    def to_cvxpy(self):
        """The nuclear-norm program in cvxpy (convex cases only)."""
        import cvxpy as cp

        if not self.convex:
            raise ValueError("the standard deep linear network with depth >= 3 has a "
                             "non-convex program: no cvxpy formulation")
        W = cp.Variable((self.d, self.K))
        obj = 0.5 * cp.sum_squares(self.X @ W - self.Y) + self.beta * cp.normNuc(W)
        return cp.Problem(cp.Minimize(obj)), W

    def evaluate_cvxpy(self, W_var):
        W = np.asarray(W_var.value, dtype=np.float64).reshape(self.shape)
        objective = self.objective(W)
        return pack(W, np.zeros(self.K)), objective, self.nuclear_dual_bound(W)


def min_concave_plus_envelope(phi, slopes, intercepts, floor):
    """``min_{r >= 0} phi(r) + max(floor, max_j (intercepts_j - slopes_j r))`` for a concave
    increasing ``phi`` and slopes ``>= 0``.

    The max of lines is convex piecewise linear and ``phi`` is concave, so on every linear piece
    the sum is concave and its minimum is at an end: the minimum over ``r >= 0`` is attained at
    ``r = 0`` or at a breakpoint of the envelope. Returns ``(value, r)``.
    """
    lam = np.concatenate([np.asarray(slopes, float), [0.0]])
    a = np.concatenate([np.asarray(intercepts, float), [float(floor)]])
    # upper envelope of the lines y = m r + a, m = -lam, by slope (convex hull trick):
    # sorted by increasing m (equal slopes: the highest line only)
    m = -lam
    order = np.lexsort((a, m))
    m, a = m[order], a[order]
    keep = np.r_[m[1:] != m[:-1], True]
    m, a = m[keep], a[keep]
    hull = []
    for k in range(m.size):
        while len(hull) >= 2:
            i1, i2 = hull[-2], hull[-1]
            # i2 is useless when the new line overtakes i1 no later than i2 does
            if (a[i1] - a[k]) * (m[i2] - m[i1]) <= (a[i1] - a[i2]) * (m[k] - m[i1]):
                hull.pop()
            else:
                break
        hull.append(k)
    h = np.array(hull)
    mh, ah = m[h], a[h]
    xs = (ah[:-1] - ah[1:]) / (mh[1:] - mh[:-1])  # consecutive breakpoints, increasing
    pos = xs > 0
    k0 = int(np.argmax(pos)) if np.any(pos) else mh.size - 1  # the segment holding r = 0
    cand = np.r_[0.0, xs[pos]]
    env = np.r_[ah[k0], mh[:-1][pos] * xs[pos] + ah[:-1][pos]]
    vals = np.array([phi(r) for r in cand]) + env
    k = int(np.argmin(vals))
    return float(vals[k]), float(cand[k])


def standard_dual_value(problem, *, n_path=16, fista_tol=1e-6, max_iter=3000):
    """A lower bound ``D_lb`` on the Lagrangian dual value of the standard deep linear network,
    ``D = min_r phi(r) + V(r)`` with ``phi(r) = (beta L / 2) r^{2/L}`` and
    ``V(r) = min_{||W||_* <= r} 1/2 ||XW - Y||^2``, and an upper estimate ``D_ub`` (the same
    objective evaluated at nuclear-norm path solutions). ``D_lb <= D <= primal optimum``.

    Every nuclear-norm program ``P_lam = min 1/2||XW - Y||^2 + lam ||W||_*`` gives the line
    ``V(r) >= P_lam - lam r`` (and ``V >= `` the least-squares value), so ``V`` is bounded below
    by a convex piecewise-linear envelope of such lines (with certified lower bounds of
    ``P_lam``), and :func:`min_concave_plus_envelope` minimizes exactly. For whitened data the
    path is in closed form and dense; otherwise ``n_path`` programs are solved by FISTA
    (warm-started) and the grid refined around the minimizer once.

    Returns ``(D_lb, D_ub)``.
    """
    from skconvex.solvers.fista import solve_fista, unpack

    L, beta = problem.depth, problem.beta
    phi = lambda r: beta * L / 2.0 * max(r, 0.0) ** (2.0 / L)  # noqa: E731
    floor = problem.least_squares_value()
    c = problem.whitening_scale()
    A = problem.X.T @ problem.Y
    smax = float(np.linalg.norm(A, 2)) if A.size else 0.0
    if smax <= 0:
        v = 0.5 * float(np.sum(problem.Y ** 2))
        return v, v
    y2 = 0.5 * float(np.sum(problem.Y ** 2))
    if c is not None:
        sig = np.linalg.svd(A, compute_uv=False)

        def path(lams):
            W = np.maximum(sig[None, :] - lams[:, None], 0.0) / c  # singular values of W_lam
            v = y2 + np.sum(-sig * W + 0.5 * c * W * W, axis=1)  # V(r_lam), exact
            return v + lams * W.sum(axis=1), W.sum(axis=1), v

        lams = smax * np.unique(np.concatenate([np.linspace(0.0, 1.0, 2001)[1:],
                                                np.geomspace(1e-12, 1.0, 2000)]))
        for _ in range(3):
            P, r, V = path(lams)
            D_lb, r_star = min_concave_plus_envelope(phi, lams, P, floor)
            # refine the slopes around the tangent point of the minimizer
            i = int(np.argmin(np.abs(r - r_star)))
            lo, hi = lams[max(i - 2, 0)], lams[min(i + 2, lams.size - 1)]
            lams = np.unique(np.concatenate([lams, np.linspace(lo, hi, 2001)]))
        P, r, V = path(lams)
        D_lb, _ = min_concave_plus_envelope(phi, lams, P, floor)
        D_ub = min(float(np.min([phi(ri) + vi for ri, vi in zip(r, V)])), y2)
        return D_lb, max(D_ub, D_lb)
    # general data: nuclear-norm path by warm-started FISTA, certified lower bounds of P_lam,
    # on the equivalent d-row program 1/2 ||R W - Q^T Y||^2 + const (thin QR of X)
    const = 0.0
    if problem.n > problem.d:
        Q, Rx = np.linalg.qr(problem.X)
        QY = Q.T @ problem.Y
        const = y2 - 0.5 * float(np.sum(QY ** 2))
        sub = DeepLinearProblem(Rx, QY, 1.0, 2, parallel=True)
    else:
        sub = DeepLinearProblem(problem.X, problem.Y, 1.0, 2, parallel=True)

    def solve_path(lams, w0=None):
        out = []
        for lam in sorted(lams, reverse=True):
            sub.beta = float(lam)
            res = solve_fista(sub, tol=fista_tol, max_iter=max_iter, warm_start=w0,
                              working_set=False)
            w0 = res.w
            W, _ = unpack(res.w, sub.shape)
            V = sub.smooth_value(sub.X @ W) + const
            out.append((lam, res.dual_bound + const,
                        float(np.sum(np.linalg.svd(W, compute_uv=False))), V))
        return out

    pts = solve_path(smax * np.geomspace(1.0, 1e-4, n_path))
    for _ in range(2):
        lams = np.array([p[0] for p in pts])
        D_lb, r_star = min_concave_plus_envelope(phi, lams, [p[1] for p in pts], floor)
        rs = np.array([p[2] for p in pts])
        i = int(np.argmin(np.abs(rs - r_star)))
        order = np.argsort(lams)
        pos = int(np.flatnonzero(order == i)[0])
        lo, hi = lams[order[max(pos - 1, 0)]], lams[order[min(pos + 1, lams.size - 1)]]
        pts += solve_path(np.linspace(lo, hi, 8)[1:-1])
    lams = np.array([p[0] for p in pts])
    D_lb, _ = min_concave_plus_envelope(phi, lams, [p[1] for p in pts], floor)
    D_ub = min(min(phi(p[2]) + p[3] for p in pts), y2)
    return D_lb, max(D_ub, D_lb)


def interpolation_values(W, depth):
    """Primal and dual values of the interpolation problem ``min 1/2 sum_l ||W_l||_F^2`` s.t.
    ``X W_1 ... W_L = Y`` with ``W = X^+ Y`` (spec section 2): ``P = (L/2) sum sigma^{2/L}``,
    ``D = (L/2) ||W||_*^{2/L}``. Returns ``(P, D)``."""
    s = np.linalg.svd(np.atleast_2d(W), compute_uv=False)
    L = int(depth)
    return L / 2.0 * float(np.sum(s ** (2.0 / L))), L / 2.0 * float(np.sum(s)) ** (2.0 / L)
