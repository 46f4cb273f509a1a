"""Two-layer (gated) ReLU networks as convex group-sparse programs over sampled patterns.

Notation: ``X`` (n, d) is the data the network sees (a ones column appended for first-layer
biases), ``M`` (n, P) the boolean activation patterns ``D_p = diag(M[:, p])``, ``K`` the number of
outputs. The variables are ``U`` of shape (d, Q, K): one weight vector per (column q, output k).

- Gated ReLU (``Q = P``): ``Z = sum_p D_p X U_p + c``; the group lasso
  ``min f(Z) + alpha * sum_{q,k} ||U_qk||_2``.
- ReLU (``Q = 2P``): columns ``q < P`` are the ``v`` of pattern ``q``, columns ``q >= P`` the ``w`` of
  pattern ``q - P``; ``Z = sum_p D_p X (v_p - w_p) + c`` with the cone constraints
  ``(2 D_p - I) X v_p >= 0`` and ``(2 D_p - I) X w_p >= 0``.

Each output k has its own neurons (a column (q, k) is one hidden unit feeding output k only), so
for every loss the convex objective equals the regularized loss of the recovered non-convex
network exactly (spec two_layer.md, section 4). ``c`` is an unpenalized output intercept.

The forward operator is one GEMM ``T = X @ U.reshape(d, Q*K)`` followed by a masked sum over
``q``; the adjoint is one GEMM ``X.T @ (mask * R)``. Solvers work on ``T`` so that the extrapolated
points of accelerated methods cost no extra product (linearity).
"""

import numpy as np

from skconvex.problems._losses import LOSSES


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
    """

    def __init__(self, X, Y, mask, alpha, loss="squared", *, sample_weight=None,
                 fit_intercept=True, relu=False):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.Y = np.asarray(Y, dtype=np.float64)
        n, d = self.X.shape
        s = np.full(n, 1.0 / n) if sample_weight is None else \
            np.asarray(sample_weight, dtype=np.float64) / np.sum(sample_weight)
        self.s = s
        self.loss = LOSSES[loss](self.Y, s)
        self.loss_name = loss
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.relu = bool(relu)
        self.mask = np.asarray(mask, dtype=bool)
        self.M = np.ascontiguousarray(self.mask, dtype=np.float64)  # (n, P) GEMM operand
        self.n_patterns = self.M.shape[1]
        self.n, self.d = n, d
        self.Q = 2 * self.n_patterns if self.relu else self.n_patterns
        self.K = self.Y.shape[1]
        self.shape = (d, self.Q, self.K)
        self._lip = None
        self._cvxpy_cons = None
        self._sign_mask = None
        self._cone = None

    @property
    def sign_mask(self):
        """``sigma_q D_p`` for every column (n, Q): ``[M, -M]`` for ReLU, ``M`` for gated."""
        if self._sign_mask is None:
            self._sign_mask = np.hstack([self.M, -self.M]) if self.relu else self.M
        return self._sign_mask

    @property
    def cone(self):
        """``(2 D_p - I)`` for every column (n, Q) (ReLU program only)."""
        if not self.relu:
            return None
        if self._cone is None:
            C = 2.0 * self.M - 1.0
            self._cone = np.hstack([C, C])
        return self._cone

    # -- linear maps (BLAS-3, no (n, Q, K) temporaries) -------------------------------------
    # The network output is linear in U: Z0 = sum_p D_p X U~_p with U~_p = v_p - w_p (ReLU) or
    # u_p (gated). Row i of it is x_i . (sum_p M_ip U~_p) = x_i . (M U~^T)_i: one GEMM
    # (n, P) x (P, d K) and a row-wise product with X (n d K, not n P K). The adjoint,
    # X^T (M * g_k) for every p and output k, is (X * g_k)^T M: one GEMM (d K, n) x (n, P).
    def _effective(self, U):
        """Per-pattern weights ``U~`` (d, P, K)."""
        P = self.n_patterns
        return U[:, :P] - U[:, P:] if self.relu else U

    def forward(self, U):
        """The network output without intercept, ``Z0 = sum_q sigma_q D_q X U_q``: (n, K)."""
        Ue = self._effective(U)
        d, P, K = Ue.shape
        B = self.M @ np.ascontiguousarray(Ue.transpose(1, 0, 2)).reshape(P, d * K)
        if K == 1:
            return np.einsum("nd,nd->n", self.X, B)[:, None]
        return np.einsum("nd,ndk->nk", self.X, B.reshape(self.n, d, K))

    def adjoint(self, G):
        """Adjoint of :meth:`forward`: ``sigma_q X^T D_q G_k`` for G of shape (n, K): (d, Q, K)."""
        n, d, K = self.n, self.d, self.K
        A = (self.X[:, :, None] * G[:, None, :]).reshape(n, d * K)
        R = (A.T @ self.M).reshape(d, K, self.n_patterns).transpose(0, 2, 1)
        return np.concatenate([R, -R], axis=1) if self.relu else np.ascontiguousarray(R)

    def scores(self, T, c):
        """Network output ``Z = Z0 + c`` from the image ``Z0`` of :meth:`forward`."""
        return T + c

    def forward_full(self, U):
        """``T = X @ U``: every column's pre-activations, shape (n, Q, K) (the cone constraints
        of the ReLU program need them)."""
        return (self.X @ U.reshape(self.d, -1)).reshape(self.n, self.Q, self.K)

    def adjoint_full(self, R):
        """``X.T @ R`` for R of shape (n, Q, K): shape (d, Q, K)."""
        return (self.X.T @ R.reshape(self.n, -1)).reshape(self.shape)

    def full_to_image(self, T):
        """``Z0`` from the full pre-activations ``T`` (n, Q, K)."""
        P = self.n_patterns
        Te = T[:, :P] - T[:, P:] if self.relu else T
        return np.einsum("np,npk->nk", self.M, Te)

    def image_grad_to_full(self, G):
        """Adjoint of :meth:`full_to_image`: ``sigma_q D_q G`` broadcast, shape (n, Q, K)."""
        return self.sign_mask[:, :, None] * G[:, None, :]

    # -- objective pieces -----------------------------------------------------------------
    def group_norms(self, U):
        return np.sqrt(np.einsum("dqk,dqk->qk", U, U))

    def penalty(self, U):
        return self.alpha * float(np.sum(self.group_norms(U)))

    def prox(self, U, step):
        """Block soft-thresholding of every (q, k) column by ``step * alpha``."""
        norms = self.group_norms(U)
        scale = np.maximum(0.0, 1.0 - step * self.alpha / np.maximum(norms, 1e-300))
        return U * scale[None, :, :]

    def smooth_value_grad(self, T, c):
        """Data term at ``T`` and its gradients w.r.t. ``T`` and ``c``."""
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
            self._lip = 1.05 * self.loss.curvature * norm2
        return self._lip

    def data_norm2(self):
        """``||X||_2^2`` (the Lipschitz constant of the cone map per unit penalty)."""
        if getattr(self, "_xnorm2", None) is None:
            self._xnorm2 = float(np.linalg.eigvalsh(self.X.T @ self.X)[-1])
        return self._xnorm2

    def cone_values(self, T):
        """``(2 D_p - I) X u_q`` for every column from the full pre-activations ``T`` (n, Q, K)
        (ReLU program only)."""
        return self.cone[:, :, None] * T

    def max_violation(self, U):
        """Largest violation of the cone constraints at ``U`` (0 for the gated program)."""
        if not self.relu:
            return 0.0
        return float(max(0.0, -np.min(self.cone_values(self.forward_full(U)))))

    def optimal_intercept(self, T, c=None):
        if not self.fit_intercept:
            return np.zeros(self.K)
        Z0 = self.scores(T, 0.0)
        if self.loss_name == "squared":
            return self.loss.intercept(Z0)
        return self.loss.intercept(Z0, c)

    # -- certificate -----------------------------------------------------------------------
    def dual_bound(self, U, c, T=None, multipliers=None):
        """A lower bound on the optimum from the primal point (the duality-gap certificate).

        ``Lam = -grad f(Z)`` at the primal point with the optimal intercept (so ``sum Lam = 0``),
        scaled by the largest ``t`` that makes it dual feasible:
        ``||X^T (sigma_q D_p Lam_k + (2 D_p - I) mu_qk)|| <= alpha`` for every column, with the cone
        multipliers ``mu >= 0`` of the ReLU program (``multipliers``, zero if not given) scaled
        alike; then ``t`` is optimized for the dual objective on ``[0, t_max]``.

        Returns
        -------
        bound : float
        c_opt : ndarray (K,)
            The intercept used (optimal for ``U``).
        """
        T = self.forward(U) if T is None else T
        c_opt = self.optimal_intercept(T, c)
        Z = self.scores(T, c_opt)
        Lam = -self.loss.grad(Z)
        A = self.adjoint(Lam)
        if self.relu and multipliers is not None:
            A = A + self.adjoint_full(self.cone[:, :, None] * multipliers)
        norms = self.group_norms(A)
        worst = float(np.max(norms)) if norms.size else 0.0
        t_max = self.alpha / worst if worst > 0 else np.inf
        if self.loss_name != "squared":
            t_max = min(1.0, t_max)
        t = self.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
        return self.loss.dual_value(t * Lam), c_opt

    # -- reference -------------------------------------------------------------------------
    def to_cvxpy(self):
        """The same program in cvxpy (small problems). Returns ``(problem, (U_vars, c))``."""
        import cvxpy as cp

        Us = [cp.Variable((self.d, self.Q)) for _ in range(self.K)]
        c = cp.Variable(self.K) if self.fit_intercept else np.zeros(self.K)
        cols = []
        for k in range(self.K):
            XU = self.X @ Us[k]
            ck = c[k] if self.fit_intercept else 0.0
            cols.append(cp.sum(cp.multiply(self.sign_mask, XU), axis=1) + ck)
        Z = cp.vstack(cols).T if self.K > 1 else cp.reshape(cols[0], (self.n, 1), order="F")
        s = self.s
        if self.loss_name == "squared":
            data = 0.5 * cp.sum(cp.multiply(s[:, None], cp.square(Z - self.Y)))
        elif self.loss_name == "logistic":
            data = cp.sum(cp.multiply(s[:, None], cp.logistic(-cp.multiply(self.Y, Z))))
        else:
            data = cp.sum(cp.multiply(s, cp.log_sum_exp(Z, axis=1)
                                      - cp.sum(cp.multiply(self.Y, Z), axis=1)))
        reg = self.alpha * sum(cp.sum(cp.norm(Uk, 2, axis=0)) for Uk in Us)
        cons = []
        if self.relu:
            cons = [cp.multiply(self.cone, self.X @ Uk) >= 0 for Uk in Us]
        self._cvxpy_cons = cons
        return cp.Problem(cp.Minimize(data + reg), cons), (Us, c)

    def evaluate_cvxpy(self, variables):
        """``(packed w, objective, dual bound)`` of a solved cvxpy program."""
        U, c = self.from_cvxpy(variables)
        T = self.forward(U)
        mu = None
        if self.relu and self._cvxpy_cons is not None:
            # the cone constraints' multipliers (cvxpy: >= 0 for "expr >= 0") complete the
            # dual certificate of the ReLU program
            duals = [con.dual_value for con in self._cvxpy_cons]
            if all(dv is not None for dv in duals):
                mu = np.maximum(np.stack([np.asarray(dv) for dv in duals], axis=-1), 0.0)
        bound, c_opt = self.dual_bound(U, c, T, multipliers=mu)
        w = np.concatenate([U.ravel(), c_opt])
        return w, self.smooth_value(T, c_opt) + self.penalty(U), bound

    def from_cvxpy(self, variables):
        """``(U, c)`` arrays from solved cvxpy variables."""
        Us, c = variables
        U = np.stack([np.asarray(Uk.value) for Uk in Us], axis=-1)
        c = np.asarray(c.value).ravel() if self.fit_intercept else np.zeros(self.K)
        return U, c
