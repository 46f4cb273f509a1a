"""L2-regularized logistic regression (binary and multinomial), scikit-learn's objective.

Binary (labels ``y_i`` in {0, 1}, margins ``z_i = x_i^T w + b``)::

    F(w, b) = C sum_i s_i [log(1 + exp(z_i)) - y_i z_i] + 1/2 ||w||^2

Multinomial (K classes, ``z_i = W x_i + b`` in R^K, all K rows of ``W`` penalized as
scikit-learn does)::

    F(W, b) = C sum_i s_i [logsumexp(z_i) - z_{i, y_i}] + 1/2 ||W||_F^2

``s_i`` are the sample weights (1 when absent); the intercept is never penalized. The
parameters are held as a ``(k, p)`` array ``Theta = [W, b]`` with ``k = 1`` (binary) or ``K``
and ``p = n_features + fit_intercept``; flattened row by row where a vector is needed.

Hessian. With ``x~_i = [x_i, 1]`` (or ``x_i`` without intercept) the Hessian of the loss is
``sum_i C s_i (A_i kron x~_i x~_i^T)`` with ``A_i = p_i (1 - p_i)`` (binary, ``p_i =
sigmoid(z_i)``) or ``A_i = diag(p_i) - p_i p_i^T`` (multinomial, ``p_i = softmax(z_i)``). A
square-root factor with one row per sample (binary) or per (sample, class) pair
(multinomial) is ``F = [sqrt(C s_i) Q_i kron x~_i^T]`` with ``Q_i = sqrt(A_i)`` (binary) or
``Q_i = diag(sqrt(p_i)) - sqrt(p_i) p_i^T`` (multinomial: ``Q_i^T Q_i = A_i`` because
``sum_k p_ik = 1``), so that ``H = F^T F + diag(reg)`` with ``reg`` one on the coefficients and
zero on the intercepts. :meth:`sketched_factor` returns ``S F`` for a sketch ``S`` applied
block by block (``I_K kron S`` in the multinomial case), without forming ``F``.

In the multinomial case with an intercept the loss is invariant to adding one constant to
all K intercepts: ``H`` is singular along that direction and the gradient is always orthogonal
to it; the solvers eliminate the unpenalized intercepts by a Schur complement with a
pseudo-inverse, which keeps every Newton direction orthogonal to it (the intercepts stay
centred).
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from skconvex._linalg import small_kernel
from skconvex.sketching._kernels import csr_weighted_gram

# Rows of a dense block of the fused pass: about 1 MB of X (the L2 cache of a core here), re-read
# from cache by the second product (X^T R) of the block. Measured (n=2e5, d=500, one thread):
# blocks of 1 MB made the fused pass cost one plain pass, blocks of 8 MB two.
_BLOCK_BYTES = 1 << 20
_GRAM_BLOCK_BYTES = 1 << 25
# Largest number of columns for which the Gram matrix of a sparse X is accumulated row by row
# into a dense array (kept in the L2 cache: one-hot data, 6x faster than scipy's product there);
# wider X goes through scipy's sparse x sparse product.
SPARSE_GRAM_DENSE_MAX_COLS = 512
# Products of a dense X with fewer columns than this are done column by column: OpenBLAS's
# GEMM with 2 or 3 right-hand columns was 2-4x slower than as many GEMV calls.
_GEMV_MAX_COLS = 4


def _dot(A, V):
    """``A @ V`` for V of shape (p, k); GEMV per column when k is small and A dense."""
    if sp.issparse(A) or V.shape[1] >= _GEMV_MAX_COLS:
        return np.asarray(A @ V)
    if V.shape[1] == 1:
        return (A @ V[:, 0])[:, None]
    return np.column_stack([A @ V[:, j] for j in range(V.shape[1])])


def _log1pexp(z):
    """``log(1 + exp(z))`` without overflow."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def feature_offset(X, C, *, sample_weight=None):
    """Column offsets to subtract from a dense ``X`` before a fit with an intercept, or None.

    The model does not change when the features are shifted and the intercepts moved by
    ``offset^T w`` (:func:`shift_intercepts`); the features are centred (on a copy) when a
    column's mean is large against its spread, for two reasons:

    - accuracy: the solvers eliminate the unpenalized intercepts from the Hessian
      ``[X, 1]^T diag(h) [X, 1]`` by a Schur complement, which cancels: a column of mean ``m``
      and variance ``v`` leaves a rounding error of about ``eps c m^2`` (``c = C sum_i s_i /
      4``, the largest curvature of the loss) on a true curvature of ``c v + 1``; a feature of
      mean 1e8 made it indefinite;
    - speed: the coupling of such a column with the intercept is a direction the diagonal
      preconditioner of Newton-CG does not see (a column of mean 30 and unit spread doubled
      the time of a 5-class fit, mean 1e3 multiplied it by 2.3).

    So a column is centred when ``m^2 > 100 v`` (its mean is more than ten times its spread)
    or when the rounding error exceeds ``1e-4`` of the curvature. Returns the offsets rounded
    to ``X``'s precision (the copy is shifted by them exactly), as float64, or None.
    """
    n, d = X.shape
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = float(n if s is None else s.sum())
    if not total > 0 or d == 0:
        return None
    rows = int(max(64, _BLOCK_BYTES // max(1, d * X.itemsize)))
    w = np.ones(n) if s is None else s
    s1, s2 = np.zeros(d), np.zeros(d)
    for a in range(0, n, rows):  # one pass, accumulated in float64
        Xb, wb = X[a:a + rows], w[a:a + rows]
        s1 += wb @ Xb
        s2 += wb @ np.square(Xb, dtype=np.float64)  # (a block of 1 MB: in cache)
    mean = s1 / total
    # E[x^2] - m^2 cancels exactly where m^2 >> v; there the first test below holds anyway
    var = np.maximum(s2 / total - mean * mean, 0.0)
    c = float(C) * total / 4.0
    error = float(np.finfo(np.float64).eps) * c * mean * mean
    if not (np.any(mean * mean > 100.0 * var) or np.any(error > 1e-4 * (c * var + 1.0))):
        return None
    return mean.astype(X.dtype).astype(np.float64)


def lift_null_space(H, k, p, n_features):
    """Give the multinomial loss's null directions a curvature, in place.

    Adding one vector ``v`` to every class's coefficients does not change the multinomial
    loss: its Hessian ``H`` (k p, k p) is zero along ``1_k kron v`` and the penalty's identity
    alone makes ``H + I`` definite there. A computed ``H`` carries rounding errors of about
    ``eps`` times its entries along those directions: a feature on a scale of 1e6 gave errors
    of the order of the penalty, and the Cholesky factorization failed. This adds ``beta_j
    (1 1^T / k)`` on coefficient ``j``'s entries of every class pair (``beta_j`` the mean over
    classes of its diagonal), which moves only those directions' eigenvalues: they and their
    complement are invariant subspaces of ``H``, of the lifted matrix and of the penalty,
    and on the complement the two matrices agree (:func:`solve_lifted`).
    """
    if k < 2 or n_features == 0:
        return H
    H4 = H.reshape(k, p, k, p)
    j = np.arange(n_features)
    # H4[:, j, :, j] has shape (n_features, k, k): coefficient j's entries of every class pair
    beta = np.einsum("jaa->j", H4[:, j, :, j]) / k
    H4[:, j, :, j] += (beta / k)[:, None, None]
    return H


def drop_null_component(W, n_features):
    """Make the coefficient rows of a multinomial ``W`` (k, p) sum to zero, in place.

    Adding one vector to every class's coefficients does not change the multinomial loss and
    only raises the penalty; the optimum's rows sum to zero. The solvers keep their iterates
    so (their starts, and every direction: a direction from Newton-CG with the diagonal
    preconditioner has a component along those null directions), and along them the
    gradient of such an iterate is zero. A single row (the binary model) is left alone.
    """
    if W.shape[0] > 1:
        W[:, :n_features] -= W[:, :n_features].mean(axis=0)
    return W


def solve_lifted(solve, g, k, p, n_features):
    """The Newton direction ``(H + diag(reg))^{-1} g`` of the multinomial loss off its null
    directions, given ``solve``, the inverse of that matrix with ``H`` lifted by
    :func:`lift_null_space`.

    For an iterate whose coefficient rows sum to zero (:func:`drop_null_component`) the exact
    gradient has no component along the null directions; the computed one is rounding,
    about ``eps`` times the products ``X^T R`` that cancel in it (with a feature on a scale
    of 1e8, a full step along it kept the solver from converging). It is dropped.
    """
    G = drop_null_component(np.array(g, dtype=np.float64).reshape(k, p), n_features)
    D = np.asarray(solve(G.ravel()), dtype=np.float64).reshape(k, p)
    return drop_null_component(D, n_features).ravel()


def shift_intercepts(W, offset, n_features, sign):
    """Parameters ``[w, b]`` (k, p) of the model on features shifted by ``offset`` (``sign=+1``:
    ``b~ = b + offset^T w``) or back (``sign=-1``); a copy, unchanged when ``offset`` is None."""
    W = np.array(W, dtype=np.float64)
    if offset is not None:
        W[:, n_features] += sign * (W[:, :n_features] @ offset)
    return W


class LogisticProblem:
    """The (weighted, binary or multinomial) L2-regularized logistic regression program.

    Parameters
    ----------
    X : ndarray or scipy.sparse CSR matrix of shape (n_samples, n_features)
        float64 or float32 (kept; products with X are in its dtype, reductions in float64).
    y : ndarray of shape (n_samples,)
        Encoded labels in ``{0, ..., n_classes - 1}``.
    C : float
        Inverse regularization strength (> 0).
    n_classes : int, default=2
        2 gives the binary loss with one coefficient row; more gives the multinomial loss.
    sample_weight : ndarray of shape (n_samples,) or None
    fit_intercept : bool, default=True
    """

    def __init__(self, X, y, C, *, n_classes=2, sample_weight=None, fit_intercept=True):
        if sp.issparse(X) and X.format != "csr":
            X = X.tocsr()
        self.X = X
        self.issparse = sp.issparse(X)
        self.dtype = X.dtype
        self.C = float(C)
        self.fit_intercept = bool(fit_intercept)
        n, d = X.shape
        self.n_samples, self.n_features = n, d
        self.n_classes = int(n_classes)
        self.multinomial = self.n_classes > 2
        self.k = self.n_classes if self.multinomial else 1
        self.p = d + int(self.fit_intercept)
        self.shape = (self.k, self.p)
        y = np.asarray(y)
        self.y = y.astype(np.intp, copy=False)
        if self.multinomial:
            Y = np.zeros((n, self.k))
            Y[np.arange(n), self.y] = 1.0
        else:
            Y = (self.y == 1).astype(np.float64)[:, None]
        self.Y = Y
        if sample_weight is None:
            self.sample_weight = None
            self.cs = np.full(n, self.C)
        else:
            self.sample_weight = np.asarray(sample_weight, dtype=np.float64)
            self.cs = self.C * self.sample_weight
        self.sqrt_cs = np.sqrt(self.cs)
        self.reg = np.tile(np.r_[np.ones(d), np.zeros(int(self.fit_intercept))], self.k)
        # parameter index of each column of the sketched factor (coefficients, then intercepts)
        idx = np.arange(self.k * self.p).reshape(self.k, self.p)
        self.factor_order = np.r_[idx[:, :d].ravel(), idx[:, d:].ravel()]
        self._row_sq_norms = None
        self._sq_X = None
        self.n_passes = 0.0
        # columns' offsets when X holds features shifted by them (set by the estimator, see
        # feature_offset); None when X is the user's data
        self.feature_offset = None

    # -- bookkeeping ------------------------------------------------------------------------
    @property
    def nnz(self):
        """Stored entries of X: the cost unit of a pass."""
        return self.X.nnz if self.issparse else self.n_samples * self.n_features

    def zeros(self):
        return np.zeros(self.shape)

    def coef(self, W):
        return W[:, : self.n_features]

    def intercept(self, W):
        return W[:, self.n_features] if self.fit_intercept else np.zeros(self.k)

    def intercept_only(self):
        """Intercepts of the best constant model: the log-odds of the weighted class
        frequencies (binary) or their centred log-frequencies (multinomial); zeros without
        an intercept. Empty classes get a frequency floor."""
        if not self.fit_intercept:
            return np.zeros(self.k)
        freq = self.cs @ self.Y
        total = float(self.cs.sum())
        if total <= 0:
            return np.zeros(self.k)
        if self.multinomial:
            logf = np.log(np.maximum(freq / total, 1e-12))
            return logf - logf.mean()
        p = min(max(freq[0] / total, 1e-12), 1 - 1e-12)
        return np.array([np.log(p / (1.0 - p))])

    def penalty(self, W):
        C_ = self.coef(W)
        return 0.5 * float(np.sum(C_ * C_))

    def _blocks(self, block_bytes=_BLOCK_BYTES):
        """Row blocks ``(start, stop, X[start:stop])`` of about ``block_bytes`` (views)."""
        n = self.n_samples
        X = self.X
        if self.issparse:
            nnz_per_row = max(1.0, X.nnz / max(n, 1))
            rows = int(max(256, block_bytes // (12 * nnz_per_row)))
        else:
            rows = int(max(64, block_bytes // max(1, X.shape[1] * X.itemsize)))
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            if self.issparse:
                a, b = X.indptr[start], X.indptr[stop + 0]
                Xb = sp.csr_matrix((X.data[a:b], X.indices[a:b], X.indptr[start:stop + 1] - a),
                                   shape=(stop - start, X.shape[1]))
            else:
                Xb = X[start:stop]
            yield start, stop, Xb

    # -- products with X --------------------------------------------------------------------
    def margins(self, W):
        """``Z = X W^T + b`` of shape (n, k), float64: one pass over X."""
        self.n_passes += 0.5
        Wc = np.ascontiguousarray(self.coef(W).T, dtype=self.dtype)
        with small_kernel(2.0 * self.nnz * self.k):
            Z = np.asarray(_dot(self.X, Wc), dtype=np.float64)
        if self.fit_intercept:
            Z += self.intercept(W)
        return Z

    def grad_from_residual(self, W, R):
        """``grad F`` (k, p) from the residual ``R = C s (p - Y)`` (n, k): one pass over X."""
        self.n_passes += 0.5
        G = np.empty(self.shape)
        with small_kernel(2.0 * self.nnz * self.k):
            GX = _dot(self.X.T, R.astype(self.dtype, copy=False))
        G[:, : self.n_features] = np.asarray(GX, dtype=np.float64).T
        if self.fit_intercept:
            G[:, self.n_features] = R.sum(axis=0)
        G[:, : self.n_features] += self.coef(W)
        return G

    # -- pointwise quantities ---------------------------------------------------------------
    def _loss_resid(self, Z, rows=slice(None), need_resid=True):
        """Loss sum and residual ``C s (p - Y)`` for the margins ``Z`` of the rows ``rows``."""
        cs = self.cs[rows]
        Y = self.Y[rows]
        if self.multinomial:
            zmax = Z.max(axis=1, keepdims=True)
            E = np.exp(Z - zmax)
            se = E.sum(axis=1, keepdims=True)
            lse = zmax[:, 0] + np.log(se[:, 0])
            loss = float(cs @ (lse - np.sum(Z * Y, axis=1)))
            if not need_resid:
                return loss, None
            E /= se
            E -= Y
            E *= cs[:, None]
            return loss, E
        z = Z[:, 0]
        y = Y[:, 0]
        loss = float(cs @ (_log1pexp(z) - y * z))
        if not need_resid:
            return loss, None
        R = expit(z)
        R -= y
        R *= cs
        return loss, R[:, None]

    def state(self, Z):
        """Pointwise quantities at margins ``Z``: loss, residual and curvature.

        Returns a dict with ``loss`` (float), ``R`` (n, k) and ``P``: the probabilities
        (n, k) (binary: ``sigmoid(z)``).
        """
        if self.multinomial:
            zmax = Z.max(axis=1, keepdims=True)
            P = np.exp(Z - zmax)
            se = P.sum(axis=1, keepdims=True)
            lse = zmax[:, 0] + np.log(se[:, 0])
            loss = float(self.cs @ (lse - np.sum(Z * self.Y, axis=1)))
            P /= se
        else:
            z = Z[:, 0]
            loss = float(self.cs @ (_log1pexp(z) - self.Y[:, 0] * z))
            P = expit(z)[:, None]
        R = (P - self.Y) * self.cs[:, None]
        return {"loss": loss, "R": R, "P": P}

    def hess_weights(self, st):
        """Binary: ``h = C s p (1 - p)`` (n,); multinomial: per-sample traces of the blocks."""
        P = st["P"]
        if self.multinomial:
            return self.cs * np.sum(P * (1.0 - P), axis=1)
        return self.cs * P[:, 0] * (1.0 - P[:, 0])

    def quad_form(self, W, U, st):
        """``theta^T H theta`` where ``U`` are the margins of ``theta = W`` (n, k): O(n k).

        With ``U = Z`` (the current margins) this is ``||Theta||_H^2``; with ``U`` the
        margins of a direction ``D`` it is ``D^T H D``.
        """
        P = st["P"]
        if self.multinomial:
            pu = np.sum(P * U, axis=1)
            quad = float(self.cs @ (np.sum(P * U * U, axis=1) - pu * pu))
        else:
            quad = float(self.hess_weights(st) @ (U[:, 0] * U[:, 0]))
        return quad + 2.0 * self.penalty(W)

    def _apply_curvature(self, U, st, rows=slice(None)):
        """Per-sample Hessian blocks applied to the margins ``U`` of a direction (rows)."""
        P = st["P"][rows]
        cs = self.cs[rows]
        if self.multinomial:
            pu = np.sum(P * U, axis=1, keepdims=True)
            return cs[:, None] * P * (U - pu)
        return (cs * P[:, 0] * (1.0 - P[:, 0]))[:, None] * U

    def hessp(self, V, st):
        """``H V`` (k, p) for a direction ``V`` (k, p), in one blocked pass over X (the product
        with ``X^T`` re-reads each block from cache). Also returns the margins ``X V`` (n, k)."""
        self.n_passes += 1.0
        n, d, k = self.n_samples, self.n_features, self.k
        Vw = np.ascontiguousarray(self.coef(V).T, dtype=self.dtype)
        vb = self.intercept(V)
        U = np.empty((n, k))
        HX = np.zeros((d, k))
        Hb = np.zeros(k)
        with small_kernel(4.0 * self.nnz * k):
            for start, stop, Xb in self._blocks():
                Ub = np.asarray(_dot(Xb, Vw), dtype=np.float64)
                if self.fit_intercept:
                    Ub += vb
                U[start:stop] = Ub
                A = self._apply_curvature(Ub, st, slice(start, stop))
                Hb += A.sum(axis=0)
                HX += np.asarray(_dot(Xb.T, A.astype(self.dtype, copy=False)),
                                 dtype=np.float64)
        out = np.empty(self.shape)
        out[:, :d] = HX.T + self.coef(V)
        if self.fit_intercept:
            out[:, d] = Hb
        return out, U

    def objective(self, W, Z=None):
        Z = self.margins(W) if Z is None else Z
        return self._loss_resid(Z, need_resid=False)[0] + self.penalty(W)

    def grad(self, W, Z=None):
        Z = self.margins(W) if Z is None else Z
        return self.grad_from_residual(W, self._loss_resid(Z)[1])

    def ray_objective(self, W, Z, D, U, t):
        """``F(W + t D)`` from the margins ``Z`` and the direction's margins ``U``: O(n k)."""
        return self._loss_resid(Z + t * U, need_resid=False)[0] + self.penalty(W + t * D)

    def duality_gap(self, G):
        """``||grad F||^2 / 2`` without intercept (None with one).

        Without an intercept, the dual point ``alpha_i = grad of the loss of sample i`` (the
        residual) attains Fenchel-Young equality in the loss terms, and the primal-dual gap
        of ``F(W) = sum_i l_i(W x_i) + 1/2 ||W||^2`` there is ``1/2 ||W + X^T alpha||^2 =
        1/2 ||grad F(W)||^2``: a certificate, ``F(W) - gap <= min F``. With an intercept that
        dual point is not feasible (its residuals do not sum to zero) and no gap is given.
        """
        if self.fit_intercept:
            return None
        return 0.5 * float(np.sum(G * G))

    def dual_bound(self, W):
        """``objective - duality_gap`` (None with an intercept): see :meth:`duality_gap`."""
        if self.fit_intercept:
            return None
        Z = self.margins(W)
        return self.objective(W, Z) - self.duality_gap(self.grad(W, Z))

    # -- the fused pass of the line search -------------------------------------------------
    def fused_pass(self, W, Z, D, steps):
        """One pass over X for the line search along ``D``.

        Computes the direction's margins ``U = X D^T + d_b`` and, for every step ``t`` in
        ``steps``, the loss at ``Z + t U`` and ``X^T R(Z + t U)``, block by block so that each
        block of X is read from memory once (its second product hits the cache).

        Returns ``U`` (n, k), ``losses`` (T,) and ``G`` (T, k, p): the gradients at
        ``W + t D`` (penalty included).
        """
        self.n_passes += 1.0
        n, d, k = self.n_samples, self.n_features, self.k
        T = len(steps)
        Dw = np.ascontiguousarray(self.coef(D).T, dtype=self.dtype)
        db = self.intercept(D)
        U = np.empty((n, k))
        losses = np.zeros(T)
        GX = np.zeros((d, T * k))
        Gb = np.zeros((T, k))
        with small_kernel(2.0 * self.nnz * k * (T + 1)):
            self._fused_blocks(Z, Dw, db, steps, U, losses, GX, Gb)
        G = np.empty((T, k, self.p))
        for j, t in enumerate(steps):
            Wt = W + t * D
            G[j, :, :d] = GX[:, j * k:(j + 1) * k].T + self.coef(Wt)
            if self.fit_intercept:
                G[j, :, d] = Gb[j]
            losses[j] += self.penalty(Wt)
        return U, losses, G

    def _fused_blocks(self, Z, Dw, db, steps, U, losses, GX, Gb):
        """The block loop of :meth:`fused_pass` (accumulates into its arguments)."""
        T = len(steps)
        for start, stop, Xb in self._blocks():
            Ub = np.asarray(_dot(Xb, Dw), dtype=np.float64)
            if self.fit_intercept:
                Ub += db
            U[start:stop] = Ub
            Zb = Z[start:stop]
            rows = slice(start, stop)
            Rs = []
            for j, t in enumerate(steps):
                loss, R = self._loss_resid(Zb + t * Ub, rows)
                losses[j] += loss
                Gb[j] += R.sum(axis=0)
                Rs.append(R)
            Rall = Rs[0] if T == 1 else np.concatenate(Rs, axis=1)
            GX += np.asarray(_dot(Xb.T, Rall.astype(self.dtype, copy=False)), dtype=np.float64)

    # -- Hessians ---------------------------------------------------------------------------
    def _factor_weights(self, st):
        """Row weights ``sqrt(C s) Q_i[a, c]`` of the square-root factor, as a list of
        ``(a, c, weights)`` (binary: one entry)."""
        P = st["P"]
        if not self.multinomial:
            return [(0, 0, self.sqrt_cs * np.sqrt(P[:, 0] * (1.0 - P[:, 0])))]
        out = []
        sq = np.sqrt(P)
        for a in range(self.k):
            base = self.sqrt_cs * sq[:, a]
            for c in range(self.k):
                w = -base * P[:, c]
                if a == c:
                    w += base
                out.append((a, c, w))
        return out

    def sketched_factor(self, sketch, st):
        """``S F`` split into its penalized and intercept columns, ``(B, U)``.

        ``B`` (k m, k d) holds the coefficient columns (block ``(a, c)`` is
        ``S diag(sqrt(C s) Q[:, a, c]) X``; ``I_k kron S`` for multinomial), ``U`` (k m, k) the
        intercept columns ``S (sqrt(C s) Q[:, a, c])``, or None without intercept. ``sketch``
        is a :class:`skconvex.sketching.Sketch` over the n samples, applied k^2 times with the
        factor's row weights. ``B`` is a CSR matrix when X is sparse and the embedding keeps
        it sparse (sjlt and the LESS kinds) with at most a quarter of its entries nonzero;
        else a dense float64 array.
        """
        k, d = self.k, self.n_features
        m = sketch.m
        sparse_out = self.sparse_factor(sketch.kind, m, sketch.nnz or d)
        blocks = [[None] * k for _ in range(k)]
        U = np.zeros((k * m, k)) if self.fit_intercept else None
        if sketch.kind in ("gaussian", "rademacher", "srht"):
            # one application to the stacked weighted blocks: these kinds cost a product with
            # all of the data per application (and regenerate S), copying X is cheaper
            return self._sketched_factor_stacked(sketch, st)
        for a, c, w in self._factor_weights(st):
            SX = _apply(sketch, self.X, w.astype(self.dtype), dense_output=not sparse_out)
            if sparse_out:
                blocks[a][c] = sp.csr_matrix(SX, dtype=np.float64)
            else:
                blocks[a][c] = np.asarray(SX, dtype=np.float64)
            if U is not None:
                U[a * m:(a + 1) * m, c] = _apply(sketch, w, None)
        if sparse_out:
            B = sp.bmat(blocks, format="csr") if k > 1 else blocks[0][0]
        else:
            B = np.block(blocks) if k > 1 else blocks[0][0]
        return B, U

    # a dense sketched block below this many entries is cheap to form, and its Gram is BLAS-3
    _DENSE_FACTOR_ENTRIES = 1 << 22

    def sparse_factor(self, kind, m, s):
        """Whether :meth:`sketched_factor` keeps ``S X`` sparse: X sparse, a sparse embedding
        (sjlt, LESS), a block of at least 4M entries, and at most a quarter of them nonzero."""
        d = self.n_features
        if not self.issparse or kind not in ("sjlt", "less_uniform", "less"):
            return False
        if m * d < self._DENSE_FACTOR_ENTRIES:
            return False
        if kind == "sjlt":
            expected = min(self.X.nnz * s, m * d)
        else:
            expected = m * s * self.X.nnz / max(self.n_samples, 1)
        return expected <= 0.25 * m * d

    def _sketched_factor_stacked(self, sketch, st):
        k, d, m = self.k, self.n_features, sketch.m
        fi = int(self.fit_intercept)
        parts = []
        for a, c, w in self._factor_weights(st):
            wx = w.astype(self.dtype)
            if self.issparse:
                parts.append(sp.diags(wx) @ self.X)
            else:
                parts.append(self.X * wx[:, None])
            if fi:
                parts.append(wx[:, None] if not self.issparse else sp.csr_matrix(wx[:, None]))
        A = sp.hstack(parts, format="csr") if self.issparse else np.hstack(parts)
        SA = np.asarray(_apply(sketch, A, None), dtype=np.float64)
        B = np.zeros((k * m, k * d))
        U = np.zeros((k * m, k)) if fi else None
        col = 0
        for a, c, _ in self._factor_weights(st):
            B[a * m:(a + 1) * m, c * d:(c + 1) * d] = SA[:, col:col + d]
            col += d
            if fi:
                U[a * m:(a + 1) * m, c] = SA[:, col]
                col += 1
        return B, U

    def hessian(self, st):
        """The exact Hessian of the loss, ``F^T F`` (k p, k p), without the regularization."""
        k, p = self.k, self.p
        H = np.zeros((k * p, k * p))
        P = st["P"]
        if self.multinomial:
            pairs = [(a, c, self.cs * P[:, a] * ((a == c) - P[:, c]))
                     for a in range(k) for c in range(a, k)]
        else:
            pairs = [(0, 0, self.cs * P[:, 0] * (1.0 - P[:, 0]))]
        for a, c, h in pairs:
            with small_kernel(2.0 * self.nnz * p):
                blk = self._weighted_gram(h)
            H[a * p:(a + 1) * p, c * p:(c + 1) * p] = blk
            if a != c:
                H[c * p:(c + 1) * p, a * p:(a + 1) * p] = blk.T
        self.n_passes += len(pairs)
        return H

    def _weighted_gram(self, h):
        """``[X, 1]^T diag(h) [X, 1]`` (p, p) float64, h >= or <= 0 allowed."""
        p, d = self.p, self.n_features
        G = np.zeros((p, p))
        X = self.X
        # accumulated in float64 whatever the data's dtype: the Schur complement on the
        # coefficients (intercepts eliminated) cancels, and float32 rounding can make it
        # indefinite
        if self.issparse and d <= SPARSE_GRAM_DENSE_MAX_COLS and X.format == "csr":
            G[:d, :d], xh = csr_weighted_gram(X.indptr, X.indices, X.data,
                                              np.ascontiguousarray(h, dtype=np.float64), d)
        elif self.issparse:
            X64 = X.astype(np.float64, copy=False)
            Xh = X64.multiply(h[:, None]).tocsr()
            G[:d, :d] = (X64.T @ Xh).toarray()
            xh = np.asarray(Xh.sum(axis=0), dtype=np.float64).ravel()
        else:
            xh = np.zeros(d)
            # large blocks: the GEMM X_b^T (h X_b) is compute bound and wants a long inner
            # dimension (1 MB blocks of a 2000-column X made it 4x slower)
            for start, stop, Xb in self._blocks(block_bytes=_GRAM_BLOCK_BYTES):
                Xb = Xb.astype(np.float64, copy=False)
                Xw = Xb * h[start:stop, None]
                G[:d, :d] += Xb.T @ Xw
                xh += Xw.sum(axis=0)
        if self.fit_intercept:
            G[:d, d] = xh
            G[d, :d] = xh
            G[d, d] = float(np.sum(h))
        return G

    def row_importance(self, st):
        """Trace of each sample's block of the Hessian, ``C s_i tr(A_i) ||x~_i||^2`` (n,):
        the squared norm of its rows of F, a cheap proxy of their leverage."""
        if self._row_sq_norms is None:
            X = self.X
            if self.issparse:
                sq = np.asarray(X.multiply(X).sum(axis=1), dtype=np.float64).ravel()
            else:
                sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
            self._row_sq_norms = sq + float(self.fit_intercept)
        return self.hess_weights(st) * self._row_sq_norms

    def hess_diag(self, st):
        """Diagonal of the Hessian of the loss (k p,), without the regularization: one pass
        over the squared entries of X (cached for sparse X)."""
        P = st["P"]
        Wt = self.cs[:, None] * P * (1.0 - P)  # (n, k): diagonal weights of each class block
        d = self.n_features
        out = np.empty(self.shape)
        if self.issparse:
            if self._sq_X is None:
                X2 = self.X.multiply(self.X).tocsr()
                self._sq_X = X2.astype(np.float64, copy=False)
            out[:, :d] = np.asarray(self._sq_X.T @ Wt, dtype=np.float64).T
        else:
            acc = np.zeros((d, self.k))
            with small_kernel(4.0 * self.nnz * self.k):
                for start, stop, Xb in self._blocks():
                    Xb = Xb.astype(np.float64, copy=False)
                    acc += (Xb * Xb).T @ Wt[start:stop]
            out[:, :d] = acc.T
        if self.fit_intercept:
            out[:, d] = Wt.sum(axis=0)
        self.n_passes += 0.5
        return out.ravel()

    def factor_matvec(self, B, U, v):
        """``H_S v`` for the sketched factor ``(B, U)`` of :meth:`sketched_factor` (v in the
        parameter layout, flattened)."""
        vf = v[self.factor_order]
        nb = B.shape[1]
        Fv = np.asarray(B @ vf[:nb], dtype=np.float64)
        if U is not None:
            Fv += U @ vf[nb:]
        out_f = np.empty_like(vf)
        out_f[:nb] = np.asarray(B.T @ Fv, dtype=np.float64)
        if U is not None:
            out_f[nb:] = U.T @ Fv
        out = np.empty_like(v)
        out[self.factor_order] = out_f
        return out + self.reg * v

    # -- reference --------------------------------------------------------------------------
    def to_cvxpy(self):
        """The same program in cvxpy (small problems: X is densified)."""
        import cvxpy as cp

        X = self.X.toarray() if self.issparse else np.asarray(self.X, dtype=np.float64)
        X = X.astype(np.float64)
        d = self.n_features
        W = cp.Variable(self.shape)
        Z = X @ W[:, :d].T
        if self.fit_intercept:
            Z = Z + np.ones((self.n_samples, 1)) @ cp.reshape(W[:, d], (1, self.k), order="C")
        if self.multinomial:
            loss = self.cs @ (cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(self.Y, Z), axis=1))
        else:
            z = Z[:, 0]
            loss = self.cs @ (cp.logistic(z) - cp.multiply(self.Y[:, 0], z))
        obj = loss + 0.5 * cp.sum_squares(W[:, :d])
        return cp.Problem(cp.Minimize(obj)), W


def _apply(sketch, A, w, dense_output=True):
    """``S diag(w) A`` for data already validated by the estimator (no second NaN scan)."""
    apply_checked = getattr(sketch, "_apply_checked", None)
    if apply_checked is not None:
        return apply_checked(A, w, dense_output, finite_checked=True)
    return sketch.apply(A, row_weights=w, dense_output=dense_output)
