"""The regularized normal system ``(M^T M + alpha I) Z = R`` behind a ridge problem.

Primal form (n >= d): ``M = A``, ``R = A^T B`` and ``W = Z``. Dual (kernel) form (n < d): ``M = A^T``,
``R = B`` and ``W = A^T Z``; the roles of n and d swap so that the sketch always compresses the
long side.
"""

import numpy as np


class NormalSystem:
    def __init__(self, problem, *, dual=None):
        self.problem = problem
        n, d = problem.n_samples, problem.n_features
        self.dual = (n < d) if dual is None else bool(dual)
        self.M = problem.A.T if self.dual else problem.A
        self.alpha = problem.alpha
        self.n_matvec = 0
        self._half_b2 = None

    @property
    def rhs(self):
        return self.problem.B if self.dual else self.problem.rhs

    @property
    def shape(self):
        return self.M.shape

    def hess(self, Z):
        """``(M^T M + alpha I) Z``: one pass over the data."""
        self.n_matvec += 1
        return self.M.gram_matvec(Z) + self.alpha * Z

    def to_weights(self, Z):
        if self.dual:
            self.n_matvec += 0.5
            return np.asarray(self.problem.A.rmatvec(Z), dtype=np.float64)
        return Z

    def from_weights(self, W):
        """A starting point ``Z`` for given weights (exact in the primal form; in the dual
        form, any W in the row space is ``A^T Z``: warm starts are used in the primal only)."""
        if self.dual:
            return np.zeros((self.M.shape[1], W.shape[1]))
        return W

    def objective_and_gap(self, Z, G):
        """Objective and duality gap at ``Z`` from its gradient ``G = H Z - R``, without a pass
        over the data (primal form only; ``(None, None)`` in the dual form).

        ``P(W) = 1/2 W^T H W - W^T A^T B + 1/2 ||B||^2 = 1/2 <W, G - A^T B> + 1/2 ||B||^2`` and
        the gap is ``||G||^2 / (2 alpha)`` (see ``RidgeProblem.dual_bound``).
        """
        if self.dual:
            return None, None
        if self._half_b2 is None:
            self._half_b2 = 0.5 * float(np.sum(self.problem.B ** 2))
        obj = 0.5 * float(np.sum(Z * (G - self.rhs))) + self._half_b2
        gap = float(np.sum(G * G)) / (2.0 * self.alpha) if self.alpha > 0 else None
        return obj, gap

    @property
    def tol_floor(self):
        """The smallest meaningful relative tolerance for the data's precision (float32 data
        cannot be solved to 1e-8: products with X carry float32 rounding)."""
        return 10.0 * float(np.finfo(self.problem.dtype).eps)

    def pass_cost(self, k=1):
        M = self.M
        nnz = M.B.nnz if M.issparse else M.shape[0] * M.shape[1]
        return 4.0 * nnz * k
