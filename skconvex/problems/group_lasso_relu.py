"""Two-layer (gated) ReLU networks as convex group-sparse programs over sampled patterns.

Notation: ``X`` (n, d) is the data the network sees (a ones column appended for first-layer
biases), ``M`` (n, P) the boolean activation patterns ``D_p = diag(M[:, p])``, ``K`` the number of
outputs. The variables are ``U`` of shape (d, Q, K): one weight vector per (column q, output k).
Column ``q`` belongs to pattern ``col_pattern[q]`` and enters the output with sign
``col_sign[q]``.

- Gated ReLU (``Q = P``, signs +1): ``Z = sum_p D_p X U_p + c``; the group lasso
  ``min f(Z) + alpha * sum_{q,k} ||U_qk||_2``.
- ReLU (``Q = 2P``): columns ``q < P`` are the ``v`` of pattern ``q`` (sign +1), columns
  ``q >= P`` the ``w`` of pattern ``q - P`` (sign -1); ``Z = sum_p D_p X (v_p - w_p) + c`` with the
  cone constraints ``(2 D_p - I) X v_p >= 0`` and ``(2 D_p - I) X w_p >= 0``.

Each output k has its own neurons (a column (q, k) is one hidden unit feeding output k only), so
for every loss the convex objective equals the regularized loss of the recovered non-convex
network exactly (spec two_layer.md, section 4). ``c`` is an unpenalized output intercept.

Shared hidden units (``shared=True``, gated ReLU with K > 1 outputs): the units of pattern q feed
every output, and the group of pattern q is the whole (d, K) block ``U_q`` with the nuclear norm
``alpha * sum_q ||U_q||_*``. This is exact for the gated network with weight decay: a
factorization ``U_q = sum_j a_j b_j^T`` is a set of units with gate ``D_q``, input weights
``a_j`` and output weights ``b_j``, whose weight decay ``sum_j (||a_j||^2 + ||b_j||^2) / 2`` is
at least ``||U_q||_*``, with equality for the scaled singular vectors (``a_j = sqrt(s_j) u_j``,
``b_j = sqrt(s_j) v_j``). The prox is singular-value soft-thresholding of each block and the
dual norm the spectral norm; ``group_norms`` and ``dual_norms`` then have shape (Q, 1).

Operators (BLAS-3, no (n, Q, K) temporaries): with ``S = M[:, col_pattern] * col_sign`` (n, Q),
the network output is linear in U, ``Z0_k = rowsum(X * (S @ U_k^T))`` (one GEMM (n, Q) x (Q, d K)
and a row-wise product with X: n d K work, not n Q K), and the adjoint ``X^T D_q g_k`` for every
column is ``(X * g_k)^T S`` (one GEMM). Solvers work on the image ``Z0`` (n, K), so extrapolated
points of accelerated methods cost no product (linearity).

Constraints: the ReLU program is solved by proximal gradient with the exact prox of
``alpha ||u|| + i_{K_p}(u)`` (projection onto the polyhedral cone ``K_p``, then group
soft-thresholding; :mod:`skconvex.problems._cone_kernels`), so every iterate is feasible. The dual
certificate of a column is the norm of the projection of ``-gradient`` onto its cone (the
optimal cone multipliers are the other part of the Moreau decomposition), which makes the duality
gap of the ReLU program exact without multiplier estimates.
"""

import numba
import numpy as np

from skconvex._linalg import small_kernel
from skconvex.problems._cone_kernels import project_columns, row_norms
from skconvex.problems._screening import ProjectionScreen
from skconvex.utils._parallel import run_tasks
from skconvex.problems._losses import LOSSES, centered_targets, cvxpy_loss

# memory for the Cholesky factors of the cone projections' active sets kept between calls
# (one (D + 1)^2 block per column, D the column's length): refactoring a warm start's active
# set from scratch, O(|S|^2 D), was most of a projection (path program on digits, D = 130,
# about 100 active rows: 80 of 100 us)
_FACTOR_BYTES = 64 * 2 ** 20


def factor_pool(G, K, D):
    """Kept Cholesky factors for the cone projections of ``G x K`` columns of length ``D``
    (:func:`~skconvex.problems._cone_kernels.project_columns`): ``(fac_slot (G, K) -1,
    factors (slots, D + 1, D + 1), fac_rows (slots,), fac_age (slots,))`` with as many slots
    as ``_FACTOR_BYTES`` allow."""
    n = int(min(G * K, _FACTOR_BYTES // (8 * (D + 1) ** 2)))
    return (np.full((G, K), -1, dtype=np.int64), np.zeros((n, D + 1, D + 1)),
            np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64))


def assign_factor_slots(pool, col_id, selected):
    """Give the selected columns ``(col_id[q], k)`` without one a slot of ``pool``
    (:func:`factor_pool`): free slots first, then those of columns not selected now (their
    factors are dropped)."""
    fac_slot, factors, fac_rows, fac_age = pool
    if factors.shape[0] == 0:
        return
    g, k = np.nonzero(selected)
    g = col_id[g]
    need = fac_slot[g, k] < 0
    if not need.any():
        return
    used = np.zeros(factors.shape[0], dtype=bool)
    used[fac_slot[fac_slot >= 0]] = True
    free = np.flatnonzero(~used)
    if free.size < need.sum():
        keep = np.zeros(fac_slot.shape, dtype=bool)
        keep[g, k] = True
        drop = (fac_slot >= 0) & ~keep
        free = np.concatenate([free, fac_slot[drop]])
        fac_slot[drop] = -1
    gn, kn = g[need][:free.size], k[need][:free.size]
    slots = free[:gn.size]
    fac_slot[gn, kn] = slots
    fac_rows[slots] = 0
    fac_age[slots] = 0


class TwoLayerReLUProblem:
    """The gated-ReLU or ReLU convex program (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (n, K)
        Targets (squared loss), +-1 labels with K = 1 (logistic) or one-hot (cross_entropy).
    mask : ndarray of bool, shape (n, P)
    alpha : float
        Group-lasso weight (the weight-decay strength of the non-convex network).
    loss : {"squared", "logistic", "cross_entropy"}
    sample_weight : ndarray of shape (n,) or None
        Normalized internally to sum to one (the data term is a weighted mean).
    fit_intercept : bool
        Whether the output intercept ``c`` is a variable (else fixed at zero).
    relu : bool
        ReLU program with cone constraints (True) or gated ReLU (False).
    shared : bool
        Hidden units shared by all outputs (nuclear-norm groups; gated ReLU only). Ignored with
        one output, where both programs are the same.
    """

    # Euclidean groups unless __init__ says otherwise (subclasses that build their own state
    # inherit this)
    shared = False
    # forward and adjoint follow set_precision (subclasses with their own products say False)
    mixed_precision = True

    def __init__(self, X, Y, mask, alpha, loss="squared", *, sample_weight=None,
                 fit_intercept=True, relu=False, shared=False):
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        mask = np.asarray(mask, dtype=bool)
        if sample_weight is not None:
            # samples of weight zero are not part of the program: no loss term, and no cone
            # constraint (a ReLU network need not follow a pattern on data it is not fitted to)
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            keep = sample_weight > 0
            if not keep.all():
                X, Y, mask, sample_weight = X[keep], Y[keep], mask[keep], sample_weight[keep]
        self.X = np.ascontiguousarray(X)
        n, d = self.X.shape
        s = np.full(n, 1.0 / n) if sample_weight is None else sample_weight / np.sum(sample_weight)
        self.s = s
        # squared loss with an intercept: the program works on centred targets, its intercept
        # ``c`` relative to ``y_offset`` (the network's output intercept is ``c + y_offset``)
        self.Y, self.y_offset = centered_targets(Y, s, loss, fit_intercept)
        self.loss = LOSSES[loss](self.Y, s)
        self.loss_name = loss
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.relu = bool(relu)
        if shared and self.relu:
            raise ValueError("shared hidden units need the gated ReLU program: the ReLU "
                             "program's cone constraints are per unit")
        # solve_fista's working sets pay off from fewer columns when each column costs a cone
        # projection (n=2000, 25 patterns: 1.8 s with working sets, 2.8 s without)
        self.working_set_min_groups = 32 if self.relu else 64
        self.mask = mask
        self._dtype = np.dtype(np.float64)
        self._X32 = None
        self.n_patterns = self.mask.shape[1]
        self.n, self.d = n, d
        self.K = self.Y.shape[1]
        self.shared = bool(shared) and self.K > 1
        P = self.n_patterns
        if self.relu:
            self._set_columns(np.tile(np.arange(P), 2),
                              np.concatenate([np.ones(P), -np.ones(P)]), np.arange(2 * P))
            self._new_warm_starts(2 * P)
        else:
            self._set_columns(np.arange(P), np.ones(P), np.arange(P))
        self._xnorm = None

    def kernel_flops(self):
        """Flops of the program's largest product, ``forward`` over every column (the
        estimators solve programs below ``skconvex.base.TINY_PROGRAM_FLOPS`` on one BLAS
        thread)."""
        return 2.0 * self.n * self.d * self.Q * self.K

    def _set_columns(self, col_pattern, col_sign, col_id):
        self.col_id = np.asarray(col_id, dtype=np.intp)
        self.col_pattern = np.asarray(col_pattern, dtype=np.intp)
        self.col_sign = np.asarray(col_sign, dtype=np.float64)
        self.Q = self.col_pattern.size
        self.shape = (self.d, self.Q, self.K)
        self._S = None
        self._S32 = None
        self._lip = None
        self._cvxpy_cons = None

    @property
    def sign_mask(self):
        """``S = col_sign * D_{col_pattern}`` (n, Q) float64, the GEMM operand."""
        if self._S is None:
            self._S = np.ascontiguousarray(self.mask[:, self.col_pattern], dtype=np.float64)
            neg = self.col_sign < 0
            if neg.any():
                self._S[:, neg] *= -1.0
        return self._S

    def _new_warm_starts(self, n_columns):
        """Fresh warm starts of the cone projections of ``n_columns`` columns (ids
        ``col_id``): every column's last active set and the Cholesky factors kept for them,
        shared with the restricted programs of working-set solvers."""
        self._active = np.zeros((n_columns, self.K, self.d + 1), dtype=np.int64)
        self._n_active = np.zeros((n_columns, self.K), dtype=np.int64)
        self._factors = factor_pool(n_columns, self.K, self.d)
        self._n_column_ids = n_columns
        self._screens = {}

    def _screen(self, name):
        """The :class:`~skconvex.problems._screening.ProjectionScreen` of the projections
        ``name`` ("prox": the iterates), shared with the restricted programs (keyed by
        ``col_id``)."""
        if name not in self._screens:
            self._screens[name] = ProjectionScreen(self._n_column_ids, self.K, self.shape[0])
        return self._screens[name]

    def restrict(self, columns):
        """The same program on a subset of its columns (a working set): same data, loss,
        weights and constraints."""
        sub = object.__new__(type(self))
        sub.__dict__.update(self.__dict__)
        sub._set_columns(self.col_pattern[columns], self.col_sign[columns],
                         self.col_id[columns])
        return sub

    # -- precision of the products --------------------------------------------------------
    def set_precision(self, dtype):
        """Compute :meth:`forward` and :meth:`adjoint` in ``dtype`` (float64 or float32; their
        results stay float64). Single precision doubles the GEMM rate; solvers use it far from
        the optimum, where the iterates' own error is far above its rounding (relative 1e-7),
        and never for a certificate they return (:func:`~skconvex.solvers.fista.fista`)."""
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.float32):
            raise ValueError(f"precision must be float64 or float32, got {dtype}")
        self._dtype = dtype

    def _operands(self):
        """``(X, S)`` in the precision of the products."""
        if self._dtype == np.float64:
            return self.X, self.sign_mask
        if self._X32 is None:
            self._X32 = self.X.astype(np.float32)
        if self._S32 is None:
            self._S32 = self.sign_mask.astype(np.float32)
        return self._X32, self._S32

    # -- linear maps ---------------------------------------------------------------------
    def forward(self, U):
        """The network output without intercept, ``Z0 = sum_q sigma_q D_q X U_q``: (n, K)."""
        d, Q, K = U.shape
        X, S = self._operands()
        with small_kernel(2.0 * self.n * Q * d * K):
            B = S @ np.ascontiguousarray(U.transpose(1, 0, 2), dtype=X.dtype).reshape(Q, d * K)
        if K == 1:
            Z = np.einsum("nd,nd->n", X, B)[:, None]
        else:
            Z = np.einsum("nd,ndk->nk", X, B.reshape(self.n, d, K))
        return Z.astype(np.float64, copy=False)

    def adjoint(self, G):
        """Adjoint of :meth:`forward`: ``sigma_q X^T D_q G_k`` for G of shape (n, K): (d, Q, K)."""
        n, d, K = self.n, self.d, self.K
        X, S = self._operands()
        A = (X[:, :, None] * G.astype(X.dtype, copy=False)[:, None, :]).reshape(n, d * K)
        # S^T A (Q, d K), not A^T S: OpenBLAS is 8x slower with the short (d K) side as the
        # output's leading dimension (measured n=20000, d=51, Q=500: 0.42 s against 0.053 s)
        with small_kernel(2.0 * n * self.Q * d * K):
            R = (S.T @ A).reshape(self.Q, d, K).transpose(1, 0, 2)
        return np.ascontiguousarray(R, dtype=np.float64)

    def scores(self, T, c):
        """Network output ``Z = Z0 + c`` from the image ``Z0`` of :meth:`forward`."""
        return T + c

    # -- objective pieces -----------------------------------------------------------------
    def group_norms(self, U):
        """The norm of each group: (Q, K) Euclidean norms, or (Q, 1) nuclear norms of the
        (d, K) blocks with shared units."""
        if self.shared:
            return np.linalg.svd(np.moveaxis(U, 1, 0), compute_uv=False).sum(axis=1)[:, None]
        return np.sqrt(np.einsum("dqk,dqk->qk", U, U))

    def _dual_group_norms(self, A):
        """The dual norm of each group of ``A``: Euclidean, or spectral with shared units."""
        if self.shared:
            return np.linalg.norm(np.moveaxis(A, 1, 0), ord=2, axis=(1, 2))[:, None]
        return self.group_norms(A)

    def penalty(self, U):
        return self.alpha * float(np.sum(self.group_norms(U)))

    def project(self, U, selected=None):
        """Every column (or those with ``selected[q, k]``) onto its cone (ReLU program; the
        identity for the gated one)."""
        if not self.relu:
            return U
        if selected is None:
            selected = np.ones(U.shape[1:], dtype=bool)
        selected = np.ascontiguousarray(selected)
        U = np.ascontiguousarray(U)
        out = U.copy()
        if self._xnorm is None:
            self._xnorm = row_norms(self.X)
        # split the columns into ranges of equal counts of projections, one per thread
        n_threads = max(1, min(numba.get_num_threads(), int(selected.sum()) // 4))
        cum = np.cumsum(selected.sum(axis=1))
        bounds = [0] + [int(np.searchsorted(cum, cum[-1] * t / n_threads, side="right"))
                        for t in range(1, n_threads)] + [U.shape[1]]
        assign_factor_slots(self._factors, self.col_id, selected)
        run_tasks(project_columns, (self.X, self._xnorm, self.mask, self.col_pattern,
                                    self.col_id, U, self._active, self._n_active,
                                    *self._factors, selected, out), sorted(set(bounds)))
        return out

    def prox(self, U, step):
        """Prox of ``step * (alpha sum ||U_qk|| + cone indicators)``: projection onto the cones
        (ReLU), then block soft-thresholding of every (q, k) column by ``step * alpha``. The
        ReLU programs (two-layer, three-layer, path) skip the projection of a column that a
        bound proves zero (:mod:`skconvex.problems._screening`); ``_prox_project`` is the
        projection a program uses here."""
        if self.shared:  # singular-value soft-thresholding of each (d, K) block
            u, sv, vt = np.linalg.svd(np.moveaxis(U, 1, 0), full_matrices=False)
            sv = np.maximum(sv - step * self.alpha, 0.0)
            return np.ascontiguousarray(np.moveaxis((u * sv[:, None, :]) @ vt, 0, 1))
        thr = step * self.alpha
        if not self.relu:
            norms = self.group_norms(U)
            return U * _shrink(norms, thr)[None, :, :]
        # a column whose projection provably has norm <= thr is zero: not projected (its own
        # norm bounds it, and so does its last projection's plus its distance to that point,
        # see :mod:`skconvex.problems._screening`)
        selected = self.group_norms(U) > thr
        screen = self._screen("prox")
        selected &= ~screen.surely_within(U, self.col_id, selected, thr)
        P = self._prox_project(U, selected)
        norms = self.group_norms(P)
        screen.record(U, self.col_id, selected, norms)
        scale = np.where(selected, _shrink(norms, thr), 0.0)
        return P * scale[None, :, :]

    def _prox_project(self, U, selected):
        """The projections of the prox (programs with several warm-start slots pick theirs)."""
        return self.project(U, selected)

    def smooth_value_grad(self, T, c):
        """Data term at the image ``T = Z0`` and its gradients w.r.t. ``T`` and ``c``."""
        val, G = self.loss.value_grad(self.scores(T, c))
        gc = G.sum(axis=0) if self.fit_intercept else np.zeros(self.K)
        return val, G, gc

    def smooth_value(self, T, c):
        return self.loss.value(self.scores(T, c))

    def objective(self, U, c, T=None):
        T = self.forward(U) if T is None else T
        return self.smooth_value(T, c) + self.penalty(U)

    def lipschitz(self, n_iter=20, random_state=0):
        """Estimate of the Lipschitz constant of the data term's gradient in (U, c): the loss
        curvature times ``||F^T diag(s) F||`` (power iteration; solvers backtrack anyway)."""
        if self._lip is None:
            # an estimate (the solvers backtrack on it anyway): the products in single
            # precision when they can be, at half the cost
            saved = self._dtype
            self._dtype = np.dtype(np.float32 if self.mixed_precision else np.float64)
            try:
                rng = np.random.RandomState(random_state)
                U = rng.standard_normal(self.shape)
                c = rng.standard_normal(self.K) if self.fit_intercept else np.zeros(self.K)
                norm2 = 1.0
                for _ in range(n_iter):
                    nrm = np.sqrt(np.sum(U * U) + np.sum(c * c))
                    U, c = U / nrm, c / nrm
                    Z = self.s[:, None] * self.scores(self.forward(U), c)
                    U = self.adjoint(Z)
                    c = Z.sum(axis=0) if self.fit_intercept else np.zeros(self.K)
                    norm2 = np.sqrt(np.sum(U * U) + np.sum(c * c))
            finally:
                self._dtype = saved
            self._lip = 1.05 * self.loss.curvature * norm2
        return self._lip

    def max_violation(self, U):
        """Largest violation of the cone constraints at ``U`` (0 for the gated program),
        relative to nothing: ``max(0, -min_i s_i x_i . u_q)``."""
        if not self.relu or U.size == 0:
            return 0.0
        T = (self.X @ U.reshape(self.d, -1)).reshape(self.n, self.Q, self.K)
        C = np.where(self.mask[:, self.col_pattern], 1.0, -1.0)
        return float(max(0.0, -np.min(C[:, :, None] * T)))

    def optimal_intercept(self, T, c=None):
        if not self.fit_intercept:
            return np.zeros(self.K)
        Z0 = self.scores(T, 0.0)
        if self.loss_name == "squared":
            return self.loss.intercept(Z0)
        return self.loss.intercept(Z0, c)

    # -- certificate -----------------------------------------------------------------------
    def dual_norms(self, Lam):
        """Each column's dual constraint value for the dual point ``Lam`` (n, K): the norm of
        ``sigma_q X^T D_q Lam_k``, projected onto the column's cone for the ReLU program (the
        best cone multipliers); the point is feasible when every value is ``<= alpha``.
        Shape (Q, K).

        For the ReLU program only the columns whose unprojected norm exceeds ``alpha / 2`` are
        projected (a projection never increases the norm): the others keep that upper bound,
        which can only make the certificate more conservative, and only below ``alpha / 2``,
        where no column is a violator. (Skipping, as the prox does, the columns whose last
        projected dual point bounds them below ``alpha / 2`` skipped 43% of these projections
        on the path classifier on 800 rows of digits and saved no time: the skipped ones are
        the cheap ones.)
        """
        A = self.adjoint(Lam)
        raw = self._dual_group_norms(A)
        if not self.relu:
            return raw
        selected = raw > 0.5 * self.alpha
        if not selected.any():
            return raw
        return np.where(selected, self.group_norms(self.project(A, selected)), raw)

    def certificate(self, U, c, T=None):
        """``(objective, dual bound, optimal intercept, column dual norms (Q, K))`` at ``U``.

        ``Lam = -grad f(Z)`` at the primal point with the optimal intercept (so ``sum Lam = 0``),
        scaled by the largest ``t`` that makes it dual feasible
        (``dual_norms(t Lam) <= alpha``), then optimized for the dual objective on
        ``[0, t_max]``; weak duality makes the bound a lower bound on the optimum.
        """
        Z0 = self.forward(U) if T is None else T
        c_opt = self.optimal_intercept(Z0, c)
        Z = Z0 + c_opt
        Lam = -self.loss.grad(Z)
        norms = self.dual_norms(Lam)
        worst = float(np.max(norms)) if norms.size else 0.0
        t_max = self.alpha / worst if worst > 0 else np.inf
        if self.loss_name != "squared":
            t_max = min(1.0, t_max)
        t = self.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
        objective = self.loss.value(Z) + self.penalty(U)
        return objective, self.loss.dual_value(t * Lam), c_opt, norms

    def dual_bound(self, U, c, T=None):
        """A lower bound on the optimum from the primal point, and the intercept it used:
        ``(bound, c_opt)`` (see :meth:`certificate`)."""
        _, bound, c_opt, _ = self.certificate(U, c, T)
        return bound, c_opt

    # -- reference -------------------------------------------------------------------------
    def target_unit(self):
        """The unit ``u`` of the targets: with the squared loss, their (weighted) root mean
        square pooled over the outputs (the program's targets are centred when the intercept
        is free: then their standard deviation), 1 when zero; 1 with the other losses.

        The program is homogeneous: with targets ``Y / u`` and regularization ``alpha / u``
        its solution is the original's divided by ``u`` and its value divided by ``u**2``.
        The interior point is given that program (:meth:`to_cvxpy`), in which its absolute
        tolerances mean the same whatever the units of the targets (targets of scale 1e-13
        stopped it early, and at 1e13 it failed); proximal gradient keeps to double precision
        when ``u`` is far outside single precision's range
        (:func:`~skconvex.solvers.fista.fista`)."""
        if self.loss_name != "squared":
            return 1.0
        # not the spread of uncentred targets (fit_intercept=False): targets of mean 1e3 and
        # spread 1e-2 reached the interior point 8e4 times too large, and it failed
        u = float(np.sqrt(np.mean(self.s @ self.Y ** 2)))
        return u if np.isfinite(u) and u > 0 else 1.0

    def to_cvxpy(self):
        """The same program in cvxpy (small problems), its variables in the units of
        :meth:`target_unit` (:meth:`from_cvxpy` converts back). Returns ``(problem, (U_vars,
        c))``."""
        import cvxpy as cp

        u = self._cvxpy_unit = self.target_unit()
        Us = [cp.Variable((self.d, self.Q)) for _ in range(self.K)]
        c = cp.Variable(self.K) if self.fit_intercept else np.zeros(self.K)
        S = self.sign_mask
        cols = []
        for k in range(self.K):
            XU = self.X @ Us[k]
            ck = c[k] if self.fit_intercept else 0.0
            cols.append(cp.sum(cp.multiply(S, XU), axis=1) + ck)
        Z = cp.vstack(cols).T if self.K > 1 else cp.reshape(cols[0], (self.n, 1), order="F")
        data = cvxpy_loss(self.loss_name, Z, self.Y / u, self.s)
        if self.shared:
            reg = sum(cp.normNuc(cp.hstack([Uk[:, q:q + 1] for Uk in Us]))
                      for q in range(self.Q))
        else:
            reg = sum(cp.sum(cp.norm(Uk, 2, axis=0)) for Uk in Us)
        cons = []
        if self.relu:
            C = np.where(self.mask[:, self.col_pattern], 1.0, -1.0)
            cons = [cp.multiply(C, self.X @ Uk) >= 0 for Uk in Us]
        self._cvxpy_cons = cons
        return cp.Problem(cp.Minimize(data + (self.alpha / u) * reg), cons), (Us, c)

    def evaluate_cvxpy(self, variables):
        """``(packed w, objective, dual bound)`` of a solved cvxpy program. The interior-point
        solution is projected onto the cones first (it is feasible only to the solver's
        tolerance), so the objective is that of a feasible point."""
        U, c = self.from_cvxpy(variables)
        U = self.project(U)
        objective, bound, c_opt, _ = self.certificate(U, c)
        w = np.concatenate([U.ravel(), c_opt])
        return w, objective, bound

    def from_cvxpy(self, variables):
        """``(U, c)`` arrays from solved cvxpy variables (converted from the units of
        :meth:`to_cvxpy`)."""
        Us, c = variables
        u = getattr(self, "_cvxpy_unit", 1.0)
        U = u * np.stack([np.asarray(Uk.value) for Uk in Us], axis=-1)
        c = u * np.asarray(c.value).ravel() if self.fit_intercept else np.zeros(self.K)
        return U, c


def _shrink(norms, thr):
    """Group soft-thresholding factors ``(1 - thr / norm)_+``, as ``(norm - thr)_+ / norm``:
    no overflow for tiny norms against a large threshold (targets of scale 1e13 flooded the
    fit with numpy's overflow warnings)."""
    return np.maximum(norms - thr, 0.0) / np.maximum(norms, 1e-300)
