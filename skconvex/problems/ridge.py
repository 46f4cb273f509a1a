"""Ridge regression: min_W  1/2 ||A W - B||_F^2 + alpha/2 ||W||_F^2.

``A = diag(sqrt(w)) (X - 1 x_mean^T)`` and ``B = diag(sqrt(w)) (Y - 1 y_mean^T)`` where ``w`` are
the sample weights and the means are weighted (zero when there is no intercept). ``A`` is an
implicit :class:`~skconvex._linalg.AffineOperator`: ``X`` is never copied, centred or densified.
With ``sample_weight`` this is exactly scikit-learn's ``Ridge`` objective
``1/2 sum_i w_i ||y_i - x_i W - b||^2 + alpha/2 ||W||^2`` after the intercept is profiled out.
"""

import numpy as np
import scipy.sparse as sp

from skconvex._linalg import AffineOperator


class RidgeProblem:
    """The (weighted, centred, multi-target) ridge least-squares program.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) or (n_samples, n_targets)
    alpha : float
        L2 penalty (``nu**2`` in the sketching papers).
    sample_weight : ndarray of shape (n_samples,) or None
    fit_intercept : bool
    """

    def __init__(self, X, y, alpha, *, sample_weight=None, fit_intercept=True):
        self.X = X
        self.alpha = float(alpha)
        self.fit_intercept = bool(fit_intercept)
        self.dtype = X.dtype
        Y = np.asarray(y, dtype=np.float64)
        self.y_was_1d = Y.ndim == 1
        Y = Y.reshape(Y.shape[0], -1)
        n, d = X.shape
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            sqrt_w = np.sqrt(sw)
            wsum = sw.sum()
        else:
            sw, sqrt_w, wsum = None, None, float(n)
        if self.fit_intercept:
            if sw is None:
                x_mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
                y_mean = Y.mean(axis=0)
            else:
                x_mean = np.asarray(X.T @ sw.astype(X.dtype), dtype=np.float64).ravel() / wsum
                y_mean = sw @ Y / wsum
            u = sqrt_w if sqrt_w is not None else np.ones(n)
            self.A = AffineOperator(X, row_scale=sqrt_w, u=u, offset=x_mean)
        else:
            x_mean = np.zeros(d)
            y_mean = np.zeros(Y.shape[1])
            self.A = AffineOperator(X, row_scale=sqrt_w)
        Bc = Y - y_mean
        if sqrt_w is not None:
            Bc = Bc * sqrt_w[:, None]
        self.B = Bc
        self.x_mean, self.y_mean = x_mean, y_mean
        self.n_samples, self.n_features = n, d
        self.n_targets = Y.shape[1]
        self._rhs = None

    # -- data passes ----------------------------------------------------------------------
    @property
    def rhs(self):
        """``A.T @ B`` (d, k), computed once."""
        if self._rhs is None:
            self._rhs = np.asarray(self.A.rmatvec(self.B), dtype=np.float64)
        return self._rhs

    def hessian_matvec(self, W):
        """``(A.T A + alpha I) W``: one pass over the data."""
        return np.asarray(self.A.rmatvec(self.A.matvec(W)), dtype=np.float64) + self.alpha * W

    @property
    def nnz(self):
        """Stored entries of X: the cost unit of a pass."""
        return self.X.nnz if sp.issparse(self.X) else self.n_samples * self.n_features

    # -- math -----------------------------------------------------------------------------
    def objective(self, W):
        R = self.A.matvec(W) - self.B
        return 0.5 * float(np.sum(R * R)) + 0.5 * self.alpha * float(np.sum(W * W))

    def grad(self, W):
        return self.hessian_matvec(W) - self.rhs

    def dual_bound(self, W, grad=None):
        """Dual objective at ``theta = B - A W``; the gap equals ``||grad||^2 / (2 alpha)``.

        The Fenchel dual is ``max_theta <theta, B> - 1/2||theta||^2 - ||A^T theta||^2/(2 alpha)``;
        its value at the residual differs from the primal by ``||alpha W - A^T theta||^2/(2 alpha)
        = ||grad P(W)||^2/(2 alpha)``, which is how the gap is computed here (exact and >= 0).
        Returns None for ``alpha == 0`` (no bounded dual certificate).
        """
        if self.alpha <= 0:
            return None
        return self.objective(W) - self.duality_gap(W, grad=grad)

    def duality_gap(self, W, grad=None):
        """``||grad P(W)||^2 / (2 alpha)``: primal minus dual, computed without cancellation
        (None for ``alpha == 0``)."""
        if self.alpha <= 0:
            return None
        G = self.grad(W) if grad is None else grad
        return float(np.sum(G * G)) / (2.0 * self.alpha)

    def intercept(self, W):
        """The intercept that goes with coefficients ``W`` (d, k)."""
        if not self.fit_intercept:
            return np.zeros(self.n_targets)
        return self.y_mean - self.x_mean @ W

    def to_cvxpy(self):
        """The same program in cvxpy (reference path; forms A densely: small problems only)."""
        import cvxpy as cp

        A = self.A.toarray()
        W = cp.Variable((self.n_features, self.n_targets))
        obj = 0.5 * cp.sum_squares(A @ W - self.B) + 0.5 * self.alpha * cp.sum_squares(W)
        return cp.Problem(cp.Minimize(obj)), W
