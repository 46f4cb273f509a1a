"""Three-layer ReLU sub-networks as a convex group-l1 program over sampled pattern pairs.

The model (spec p1_three_layer.md) is a sum of sub-networks
``f(X) = sum_k ((X W1_k)_+ w2_k)_+ w3_k + c`` trained in the normalized form

    (N)  min  L(f(X), y) + alpha sum_k |w3_k|   s.t. ||W1_k||_F <= 1, ||w2_k||_2 <= 1,

whose exact convex reformulation over first-layer patterns ``D1_i = diag(M1[:, i])`` and
second-layer patterns ``D2_j = diag(M2[:, j])`` is

    min  L( sum_j s3 D2_j H_{j,s3} + c, y ) + alpha sum ||z||
    H_{j,s3} = sum_i D1_i X (z_{i,j,+,s3} - z_{i,j,-,s3})          (second-layer pre-activation)
    s.t. (2 D1_i - I) X z >= 0 for every column z        (first-layer cones, per column)
         (2 D2_j - I) H_{j,s3} >= 0 for every block (j, s3)   (second-layer cones, coupled)

Notation. ``X`` (n, d) is the data the network sees (a ones column for first-layer biases),
``M1`` (n, P1) and ``M2`` (n, P2) the boolean patterns, ``K`` the number of outputs. A *block*
``b = (s3, j)`` (``b = j`` for ``s3 = +``, ``b = P2 + j`` for ``s3 = -``) is one second-layer
unit with the sign of its output weight; there are ``2 P2`` blocks per output. A *column*
``q = (b, s2, i)``, ``q = (2 b + s2) P1 + i``, is the merged first-layer neuron of pattern ``i``
with second-layer sign ``s2`` in block ``b``. The variables are ``U`` (d, Q, K), ``Q = 4 P1 P2``:
one group per (column, output); every output has its own sub-networks (vector output), so for
every loss the convex objective equals the objective (N) of the recovered network.

Operators. The image of ``U`` is the block pre-activations ``H`` (n, B, K), linear in ``U``; the
output is ``Z = sum_b O_b H_b + c`` with ``O_b = s3 D2_j``. With every column present,
``H = X~ W`` with the lifted matrix ``X~ = [D1_1 X, ..., D1_P1 X]`` (n, P1 d) and
``W = z_{., +} - z_{., -}`` (one GEMM, n P1 d B flops, u and v share it); on a working set of
columns, ``H_b = sum_{q in b} sigma_q D1_q X z_q`` (one GEMM n d Q and a segment sum).

Constraints. The first-layer cones are per column: the prox projects onto them exactly (the
two-layer kernel, :mod:`skconvex.problems._cone_kernels`), so every iterate satisfies them. The
second-layer cones couple the columns of a block; they are handled by an augmented Lagrangian
(multipliers ``mu`` (n, B, K) >= 0, penalty ``rho``, both in ``al_state``), whose smooth term
``Psi(H) = sum s_i ((mu - rho a h)_+^2 - mu^2) / (2 rho)`` (``a = 2 D2 - 1``) is a function of
the image ``H``: accelerated methods extrapolate it for free.

Certificate. With ``Lam = -grad L(Z)`` and multipliers ``nu >= 0`` of the second-layer cones
(``mu+ = (mu - rho a h)_+``), the dual point ``Gam_b = O_b Lam + a_b s nu_b`` is feasible when
every column's ``||P_{C_i}(sigma X^T D1_i Gam_b)|| <= alpha`` (``P_{C_i}`` the projection onto
the column's first-layer cone: the best first-layer multipliers); scaling ``(Lam, nu)`` jointly
makes it feasible, and ``-L^*(-t Lam)`` is a lower bound on the optimum (weak duality).
"""

import numpy as np

from skconvex._linalg import small_kernel
from skconvex.problems._losses import _concave_argmax, cvxpy_loss
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem

# the lifted matrix X~ (n, P1 d) is formed when it has at most this many entries; beyond, the
# full-program products loop over first-layer patterns
_MAX_LIFT = 2 ** 25
# a second-layer cone row counts as active below this slack, relative to its block's largest
# |h|, in blocks whose largest |h| is above this times the program's
_ACTIVE_TOL = 1e-6
# solves of a block's multiplier program on growing working sets of cone rows
_MULTIPLIER_ROUNDS = 8
# a block with output is done when its largest projected norm is within this of alpha
_OUTPUT_SLACK = 1e-8


class ThreeLayerReLUProblem(TwoLayerReLUProblem):
    """The three-layer convex program over sampled pattern pairs (see the module docstring).

    Reuses the two-layer program's data handling, losses, first-layer cone projections, group
    prox and intercept; adds the block structure, the second-layer cones and their
    augmented-Lagrangian state.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (n, K)
    mask1 : ndarray of bool, shape (n, P1)
        First-layer patterns.
    mask2 : ndarray of bool, shape (n, P2)
        Second-layer patterns.
    alpha : float
        Weight of ``sum |w3|`` in (N).
    loss : {"squared", "logistic", "cross_entropy"}
    sample_weight : ndarray of shape (n,) or None
    fit_intercept : bool
        Whether the output intercept ``c`` is a variable.
    """

    mixed_precision = False  # its own products, in float64 only

    def __init__(self, X, Y, mask1, mask2, alpha, loss="squared", *, sample_weight=None,
                 fit_intercept=True):
        mask2 = np.asarray(mask2, dtype=bool)
        if sample_weight is not None:
            keep = np.asarray(sample_weight, dtype=np.float64) > 0
            if not keep.all():
                mask2 = mask2[keep]
        super().__init__(X, Y, mask1, alpha, loss, sample_weight=sample_weight,
                         fit_intercept=fit_intercept, relu=True)
        self.mask2 = mask2
        P1, P2 = self.mask.shape[1], mask2.shape[1]
        self.n_first, self.n_second = P1, P2
        self.n_blocks = 2 * P2
        nb = self.n_blocks
        # block b: second-layer pattern b % P2, output sign + for b < P2
        self.block_pattern = np.arange(nb) % P2
        self.block_sign = np.where(np.arange(nb) < P2, 1.0, -1.0)
        Q = 4 * P1 * P2
        self.n_columns = Q
        col_block = np.repeat(np.arange(nb), 2 * P1)
        col_sign = np.tile(np.repeat([1.0, -1.0], P1), nb)
        col_pattern = np.tile(np.arange(P1), 2 * nb)
        self._new_warm_starts(Q)
        self._lift = None
        # augmented-Lagrangian state, shared by reference with restricted programs
        self.al_state = {"mu": np.zeros((self.n, nb, self.K)), "rho": 0.0}
        self._set_columns(col_pattern, col_sign, np.arange(Q), col_block)

    def _set_columns(self, col_pattern, col_sign, col_id, col_block=None):
        super()._set_columns(col_pattern, col_sign, col_id)
        if col_block is None:  # the two-layer constructor's columns: replaced right after
            return
        self.col_block = np.asarray(col_block, dtype=np.intp)
        if np.any(np.diff(self.col_block) < 0):
            raise ValueError("columns must be sorted by block")
        self.blocks, self.col_bpos = np.unique(self.col_block, return_inverse=True)
        self.n_blocks_active = self.blocks.size
        self._starts = np.flatnonzero(np.r_[True, np.diff(self.col_bpos) > 0])
        self._full = self.Q == self.n_columns and np.array_equal(self.col_id,
                                                                 np.arange(self.n_columns))
        self._O = self._A = None

    def restrict(self, columns):
        """The same program on the columns ``columns`` (sorted column indices of this
        program): same data, multipliers and constraints."""
        columns = np.asarray(columns)
        sub = object.__new__(type(self))
        sub.__dict__.update(self.__dict__)
        sub._set_columns(self.col_pattern[columns], self.col_sign[columns],
                         self.col_id[columns], self.col_block[columns])
        return sub

    # -- block data --------------------------------------------------------------------------
    @property
    def out_mask(self):
        """``O`` (n, B): ``s3 D2_j`` of every block of this program (float)."""
        if self._O is None:
            j = self.block_pattern[self.blocks]
            self._O = self.mask2[:, j] * self.block_sign[self.blocks]
        return self._O

    @property
    def cone_sign(self):
        """``A`` (n, B): ``2 D2_j - 1`` of every block of this program (float)."""
        if self._A is None:
            j = self.block_pattern[self.blocks]
            self._A = np.where(self.mask2[:, j], 1.0, -1.0)
        return self._A

    @property
    def lifted(self):
        """``X~ = [D1_1 X, ..., D1_P1 X]`` (n, P1 d), or None when too large."""
        if self._lift is None and self.n * self.n_first * self.d <= _MAX_LIFT:
            self._lift = np.ascontiguousarray(
                (self.mask[:, :, None] * self.X[:, None, :]).reshape(self.n, -1))
        return self._lift

    # -- linear maps -----------------------------------------------------------------------
    def forward(self, U):
        """Block pre-activations ``H_b = sum_{q in b} sigma_q D1_q X U_q``: (n, B, K)."""
        d, Q, K = U.shape
        n, P1 = self.n, self.n_first
        if self._full:
            nb = self.n_blocks
            W = U.reshape(d, nb, 2, P1, K)
            Wd = (W[:, :, 0] - W[:, :, 1]).transpose(2, 0, 1, 3).reshape(P1 * d, nb * K)
            Xl = self.lifted
            with small_kernel(2.0 * n * P1 * d * nb * K):
                if Xl is not None:
                    H = Xl @ Wd
                else:
                    H = np.zeros((n, nb * K))
                    for i in range(P1):
                        H += self.mask[:, i, None] * (self.X @ Wd[i * d:(i + 1) * d])
            return H.reshape(n, nb, K)
        with small_kernel(2.0 * n * Q * d * K):
            R = (self.X @ U.reshape(d, Q * K)).reshape(n, Q, K)
        R *= self.sign_mask[:, :, None]
        return np.add.reduceat(R, self._starts, axis=1)

    def adjoint(self, G):
        """Adjoint of :meth:`forward`: ``sigma_q X^T D1_q G_b(q)`` for G (n, B, K): (d, Q, K)."""
        n, d, K, P1 = self.n, self.d, self.K, self.n_first
        if self._full:
            nb = self.n_blocks
            Gm = np.ascontiguousarray(G).reshape(n, nb * K)
            Xl = self.lifted
            with small_kernel(2.0 * n * P1 * d * nb * K):
                if Xl is not None:
                    gW = (Gm.T @ Xl).T  # (P1 d, nb K); G^T X~ is the fast GEMM orientation
                else:
                    gW = np.vstack([((self.mask[:, i, None] * Gm).T @ self.X).T
                                    for i in range(P1)])
            gW = gW.reshape(P1, d, nb, K).transpose(1, 2, 0, 3)  # (d, nb, P1, K)
            return np.ascontiguousarray(np.stack([gW, -gW], axis=2).reshape(d, self.Q, K))
        E = G[:, self.col_bpos, :] * self.sign_mask[:, :, None]
        with small_kernel(2.0 * n * self.Q * d * K):
            R = E.reshape(n, self.Q * K).T @ self.X  # (Q K, d)
        return np.ascontiguousarray(R.reshape(self.Q, K, d).transpose(2, 0, 1))

    def scores(self, T, c):
        """Network output ``Z = sum_b O_b H_b + c`` from the block pre-activations ``T``."""
        return np.einsum("nb,nbk->nk", self.out_mask, T) + c

    # -- augmented Lagrangian ----------------------------------------------------------------
    def _mu(self):
        mu = self.al_state["mu"]
        return mu if self.n_blocks_active == self.n_blocks else mu[:, self.blocks]

    def mu_plus(self, T):
        """Multiplier estimate ``(mu - rho a h)_+`` at the image ``T``: (n, B, K)."""
        mu, rho = self._mu(), self.al_state["rho"]
        if rho == 0.0:
            return mu
        return np.maximum(mu - rho * self.cone_sign[:, :, None] * T, 0.0)

    def _al_term(self, T):
        """``Psi(T)`` and ``mu+`` (the gradient of Psi is ``-a s mu+``)."""
        rho = self.al_state["rho"]
        if rho == 0.0:
            return 0.0, None
        mu = self._mu()
        P = np.maximum(mu - rho * self.cone_sign[:, :, None] * T, 0.0)
        val = float(np.einsum("n,nbk->", self.s, P * P - mu * mu)) / (2.0 * rho)
        return val, P

    def smooth_value_grad(self, T, c):
        """Data term plus the augmented-Lagrangian term at the image ``T`` and its gradients
        w.r.t. ``T`` and ``c``."""
        val, G = self.loss.value_grad(self.scores(T, c))
        gT = self.out_mask[:, :, None] * G[:, None, :]
        psi, P = self._al_term(T)
        if P is not None:
            gT -= (self.cone_sign * self.s[:, None])[:, :, None] * P
        gc = G.sum(axis=0) if self.fit_intercept else np.zeros(self.K)
        return val + psi, gT, gc

    def smooth_value(self, T, c):
        return self.loss.value(self.scores(T, c)) + self._al_term(T)[0]

    def set_multipliers(self, mu, rho):
        """Set the augmented-Lagrangian state (mu of shape (n, 2 P2, K), rho >= 0)."""
        self.al_state["mu"] = np.asarray(mu, dtype=np.float64)
        self.al_state["rho"] = float(rho)
        self._lip = None

    def update_multipliers(self, T):
        """The multiplier step ``mu <- (mu - rho a h)_+`` at the image ``T`` (the blocks of
        this program; the others have ``h = 0`` and keep their multipliers)."""
        if self.n_blocks_active == self.n_blocks:
            self.al_state["mu"] = self.mu_plus(T)
        else:
            mu = self.al_state["mu"].copy()
            mu[:, self.blocks] = self.mu_plus(T)
            self.al_state["mu"] = mu

    def lipschitz(self, n_iter=20, random_state=0):
        """Estimate of the Lipschitz constant of the smooth part's gradient in (U, c): power
        iteration on ``F^T (curvature O^T s O + rho s) F`` (solvers backtrack anyway)."""
        if self._lip is None:
            rng = np.random.RandomState(random_state)
            U = rng.standard_normal(self.shape)
            c = rng.standard_normal(self.K) if self.fit_intercept else np.zeros(self.K)
            rho, curv, s = self.al_state["rho"], self.loss.curvature, self.s
            norm2 = 1.0
            for _ in range(n_iter):
                nrm = np.sqrt(np.sum(U * U) + np.sum(c * c))
                U, c = U / nrm, c / nrm
                T = self.forward(U)
                Z = curv * s[:, None] * self.scores(T, c)
                gT = self.out_mask[:, :, None] * Z[:, None, :] + rho * s[:, None, None] * T
                U = self.adjoint(gT)
                c = Z.sum(axis=0) if self.fit_intercept else np.zeros(self.K)
                norm2 = np.sqrt(np.sum(U * U) + np.sum(c * c))
            self._lip = 1.05 * norm2
        return self._lip

    # -- feasibility -------------------------------------------------------------------------
    def second_layer_violation(self, T):
        """Largest violation of the second-layer cones at the image ``T``:
        ``max(0, -min a h)`` (in output units: the largest difference between the recovered
        network's output and the convex model's on a training sample is at most this)."""
        if T.size == 0:
            return 0.0
        return float(max(0.0, -np.min(self.cone_sign[:, :, None] * T)))

    def first_layer_violation(self, U):
        """Largest violation of the first-layer cones (0 up to rounding: the prox projects)."""
        nz = np.flatnonzero(self.group_norms(U).max(axis=1) > 0)
        if nz.size == 0:
            return 0.0
        T = (self.X @ U[:, nz].reshape(self.d, -1)).reshape(self.n, nz.size, self.K)
        C = np.where(self.mask[:, self.col_pattern[nz]], 1.0, -1.0)
        return float(max(0.0, -np.min(C[:, :, None] * T)))

    def max_violation(self, U, T=None):
        T = self.forward(U) if T is None else T
        return max(self.first_layer_violation(U), self.second_layer_violation(T))

    # -- certificates ------------------------------------------------------------------------
    def dual_point(self, T, c):
        """``(Lam, Gam)``: ``Lam = -grad L(Z)`` (n, K) and the H-space dual point
        ``Gam = O Lam + a s mu+`` (n, B, K) at the image ``T``."""
        Lam = -self.loss.grad(self.scores(T, c))
        Gam = self.out_mask[:, :, None] * Lam[:, None, :]
        mup = self.mu_plus(T)
        if mup is not None:
            Gam = Gam + (self.cone_sign * self.s[:, None])[:, :, None] * mup
        return Lam, Gam

    def certificate(self, U, c, T=None):
        """``(objective, dual bound, optimal intercept, column dual norms (Q, K))`` of the
        program (N) (without the augmented-Lagrangian term) at ``U``; the second-layer
        multipliers are ``mu+`` of the current state (exact cone multipliers of the first
        layer through the projected dual norms)."""
        T = self.forward(U) if T is None else T
        c_opt = self.optimal_intercept(T, c)
        Z = self.scores(T, c_opt)
        Lam, Gam = self.dual_point(T, c_opt)
        norms = self.dual_norms(Gam)
        t_max = self._t_max(norms)
        t = self.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
        objective = self.loss.value(Z) + self.penalty(U)
        return objective, self.loss.dual_value(t * Lam), c_opt, norms

    def _t_max(self, norms):
        worst = float(np.max(norms)) if norms.size else 0.0
        t_max = self.alpha / worst if worst > 0 else np.inf
        if self.loss_name != "squared":
            t_max = min(1.0, t_max)
        return t_max

    def dual_bound(self, U, c, T=None):
        _, bound, c_opt, _ = self.certificate(U, c, T)
        return bound, c_opt

    def al_certificate(self, U, c, T=None):
        """``(objective of (N), gap of the augmented-Lagrangian subproblem, c_opt)``.

        The subproblem ``min L + Psi + alpha sum ||z||`` (first-layer cones) has the lower
        bound ``-L^*(-t Lam) - sum s (t mu+ - mu)^2 / (2 rho)`` for every ``t`` that makes
        ``t Gam`` feasible (``Psi^*`` at ``-t a s mu+``); the gap is the subproblem's objective
        minus the best such bound (>= 0, and 0 at the subproblem's optimum)."""
        T = self.forward(U) if T is None else T
        c_opt = self.optimal_intercept(T, c)
        Z = self.scores(T, c_opt)
        Lam, Gam = self.dual_point(T, c_opt)
        t_max = self._t_max(self.dual_norms(Gam))
        loss_val, pen = self.loss.value(Z), self.penalty(U)
        rho = self.al_state["rho"]
        if rho == 0.0:
            t = self.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
            return loss_val + pen, loss_val + pen - self.loss.dual_value(t * Lam), c_opt
        psi, mup = self._al_term(T)
        mu = self._mu()
        s = self.s[:, None, None]
        # the quadratic Psi^* part: sum s (t mu+ - mu)^2 / (2 rho), a parabola in t
        q2 = float(np.sum(s * mup * mup)) / (2 * rho)
        q1 = float(np.sum(s * mup * mu)) / rho
        q0 = float(np.sum(s * mu * mu)) / (2 * rho)

        loss_slopes = self.loss.dual_slopes(Lam)

        def slopes(t):
            d1, d2 = loss_slopes(t)
            return d1 - (2.0 * q2 * t - q1), d2 - 2.0 * q2

        t = _concave_argmax(slopes, t_max if np.isfinite(t_max) else 1e300)
        bound = self.loss.dual_value(t * Lam) - (q2 * t * t - q1 * t + q0)
        gap = loss_val + psi + pen - bound
        return loss_val + pen, max(gap, 0.0), c_opt

    def best_multipliers(self, U, c, T=None, *, all_rows=False):
        """The second-layer multipliers that make the certificate at ``(U, c)`` tightest.

        For the dual point ``Lam`` of the primal point, each block's multipliers ``nu_b >= 0``
        are chosen to minimize the block's largest projected dual norm (one second-order cone
        program per block and output, :func:`~skconvex.solvers.conic_polish.
        min_max_projected_norm`): the smallest scaling of ``Lam`` then makes the dual point
        feasible. At the optimum of this program the bound they give is the optimum itself
        (strong duality), whatever multipliers the solver had. Blocks whose columns are all
        below ``alpha`` with the current multipliers keep them. A block
        with output gives multipliers only to the rows where its cone is active at ``U``;
        ``all_rows`` lets it fall back on all its rows when those are not enough (a primal
        point a little off the optimal face; see :meth:`_block_multipliers`).

        Sets ``al_state`` to the new multipliers with ``rho = 0`` and returns the certificate
        ``(objective, bound, c_opt, norms)`` with them.
        """
        T = self.forward(U) if T is None else T
        c_opt = self.optimal_intercept(T, c)
        mu = self.mu_plus(T).copy()
        Lam = -self.loss.grad(self.scores(T, c_opt))
        hscale = float(np.max(np.abs(T))) if T.size else 0.0
        for k in range(self.K):
            for bp in range(self.n_blocks_active):
                mu[:, bp, k] = self._block_multipliers(bp, k, Lam[:, k], mu[:, bp, k],
                                                       T[:, bp, k], hscale, all_rows)[0]
        full = np.zeros((self.n, self.n_blocks, self.K))
        full[:, self.blocks] = mu
        if self.n_blocks_active < self.n_blocks:
            others = np.setdiff1d(np.arange(self.n_blocks), self.blocks)
            full[:, others] = self.al_state["mu"][:, others]
        self.set_multipliers(full, 0.0)
        return self.certificate(U, c_opt, T)

    def _block_multipliers(self, bp, k, lam, mu, hblock, hscale, all_rows, max_columns=None):
        """``(mu, norms)``: the multipliers (n,) of block ``bp`` and output ``k`` by
        :meth:`best_multipliers`, and the exact projected dual norms of the block's columns
        (in the order of the program's columns) at them.

        ``max_columns``: solve the block's program on a working set of at most this many
        columns more per solve (those of the largest exact norms, then the columns outside
        whose exact norm at the solution exceeds its value). Every solve's multipliers are
        scored by the exact norms of all columns, so the result is as valid as without; the
        certificate of fresh patterns uses it on blocks of thousands of columns.

        The block's program is solved with each column's cone multipliers on a working set of
        rows: those of the column's exact projection at the current multipliers, then at each
        solution's (a nonnegative least-squares problem of ``d`` rows, which gives the rows of
        its multipliers; the prox's projection kernel does not return them). Restricted cone
        multipliers can only overstate a projected norm, so the exact norms at the solution
        are at most the program's value. A block without output (``h = 0``) only needs a
        feasible point, and stops at the first solution whose exact norms are all below
        ``alpha``; a block with output, when no exact projection needs a row outside the sets
        (then the restricted program's optimality conditions are the full one's), or after
        ``_MULTIPLIER_ROUNDS`` solves, with the best multipliers found. (Stopping a block with
        output once a solve no longer lowers the largest exact norm was tried: it stopped
        early, at relative gaps of 1e-3 to 0.17 on diabetes and Friedman #1.)"""
        from scipy.optimize import nnls

        from skconvex.solvers.conic_polish import min_max_projected_norm

        cols = np.flatnonzero(self.col_bpos == bp)
        m = cols.size
        a, X, s = self.cone_sign[:, bp], self.X, self.s
        base = self.out_mask[:, bp] * lam
        S = self.sign_mask[:, cols]
        CX = [np.where(self.mask[:, self.col_pattern[q]], 1.0, -1.0)[:, None] * X for q in cols]

        def exact(mu_):
            """Projected norms and the rows of their cone multipliers at ``mu_``."""
            G = X.T @ (S * (base + a * s * mu_)[:, None])
            norms, support = np.empty(m), []
            for j in range(m):
                lam_j, norms[j] = nnls(CX[j].T, -G[:, j])
                support.append(np.flatnonzero(lam_j > 0))
            return norms, support

        norms, support = exact(mu)
        if norms.max() <= self.alpha:
            return mu, norms
        # multipliers of the rows the block's columns see (D1_q = 1 for some q); in a block
        # with output, only of the rows where its cone is active (at the optimum the others
        # have none: complementary slackness), and with ``all_rows``, if the largest norm then
        # stays above alpha (1 + _OUTPUT_SLACK), of all (an interior point on a degenerate
        # program leaves
        # rows of the optimal face at slacks of 1e-7 to 1e-4: a fast augmented Lagrangian's
        # support on diabetes, 1.022 alpha on the active rows, 1.00002 alpha on all); in a block
        # without, first only of the rows where the current multipliers are positive (all of
        # diabetes and Friedman #1: always enough for a feasible point, 3 to 5 times faster),
        # then of all
        seen = np.any(S != 0, axis=1)
        hmax = float(np.max(np.abs(hblock)))
        with_output = hmax > _ACTIVE_TOL * hscale
        if with_output:
            active = seen & (a * hblock <= _ACTIVE_TOL * hmax)
            row_sets = [active, seen] if all_rows and active.sum() < seen.sum() else [active]
        else:
            row_sets = [seen & (mu > 0), seen] if np.any(seen & (mu > 0)) else [seen]
        g0 = X.T @ (S * base[:, None])
        best, best_val, best_norms = mu, norms.max(), norms
        step = m if max_columns is None else int(max_columns)
        for rows in row_sets:
            rows = np.flatnonzero(rows)
            Mq = [X[rows].T * (S[rows, j] * a[rows]) for j in range(m)]
            work = support
            cols = np.sort(np.argsort(-norms, kind="stable")[:step])
            for _ in range(_MULTIPLIER_ROUNDS):
                # (a block without output needs only a feasible point: a looser tolerance)
                w, value = min_max_projected_norm(g0[:, cols], [Mq[j] for j in cols],
                                                  [CX[j][work[j]] for j in cols],
                                                  tol=1e-10 if with_output else 1e-6)
                cand = np.zeros(self.n)
                cand[rows] = w / s[rows]
                norms, support = exact(cand)
                if norms.max() < best_val:
                    best, best_val, best_norms = cand, norms.max(), norms
                if not with_output and best_val <= self.alpha:
                    return best, best_norms
                if with_output and best_val <= self.alpha * (1 + _OUTPUT_SLACK):
                    return best, best_norms
                new = [np.setdiff1d(support[j], work[j]) for j in cols]
                outside = np.setdiff1d(np.flatnonzero(norms > value * (1 + 1e-6)), cols)
                if not any(r.size for r in new) and outside.size == 0:
                    break
                inside = set(cols.tolist())
                work = [np.union1d(work[j], support[j]) if j in inside else support[j]
                        for j in range(m)]
                outside = outside[np.argsort(-norms[outside], kind="stable")][:step]
                cols = np.union1d(cols, outside)
        return best, best_norms

    def probe_norms(self, Gam_old, Lam, mask1_new, mask2_new, *, floor=None,
                    return_blocks=False):
        """Dual constraint values of fresh pattern pairs for the dual point of this program:
        every pair of (sampled or new first-layer pattern, sampled or new second-layer
        pattern) not in the program. ``Gam_old`` (n, 2 P2, K) carries the multipliers of the
        program's own blocks; new blocks get zero multipliers (an upper bound of their best
        value: conservative). Returns the largest projected norm of each new column, flat.

        Columns whose unprojected norm is above ``floor`` (default ``alpha / 2``) are projected;
        of the others, those needed for the exact maximum (unprojected norm above the largest
        value found) too. The rest keep their unprojected norm, an upper bound of their value
        below both (so counts of values above ``floor`` and the maximum are exact).

        With ``return_blocks``, also the block of each value in the enlarged program
        (first-layer patterns ``[mask, mask1_new]``, second-layer ``[mask2, mask2_new]``:
        ``+`` blocks ``0 .. P2a - 1``, ``-`` blocks ``P2a .. 2 P2a - 1``, ``P2a`` the number
        of its second-layer patterns)."""
        floor = 0.5 * self.alpha if floor is None else float(floor)
        out, blocks = [], []
        M1_all = np.hstack([self.mask, mask1_new])
        P1o, P2o = self.n_first, self.n_second
        P2a = P2o + mask2_new.shape[1]
        # (a) new first-layer patterns in the program's own blocks
        if mask1_new.shape[1]:
            out.append(_pair_norms(self, M1_all[:, P1o:], Gam_old, floor))
            b = np.tile(np.arange(2 * P2o), 2 * mask1_new.shape[1])  # columns (s2, i, b)
            blocks.append(np.where(b < P2o, b, b - P2o + P2a))
        # (b) every first-layer pattern in the new blocks (zero multipliers): the blocks (s3, j)
        # of a new pattern j are +-D2_j Lam, so column (s, i, (s3, j)) is s s3 A_ij with
        # A_ij = X^T D1_i D2_j Lam, and on pattern i's cone: two distinct columns of four
        if mask2_new.shape[1]:
            P1a, P2n = M1_all.shape[1], mask2_new.shape[1]
            Gam_new = mask2_new[:, :, None] * Lam[:, None, :]
            both = _pair_norms(self, M1_all, Gam_new, floor)
            pos, neg = both[:P1a * P2n].reshape(P1a, P2n), both[P1a * P2n:].reshape(P1a, P2n)
            out.append(np.concatenate([np.hstack([pos, neg]).ravel(),
                                       np.hstack([neg, pos]).ravel()]))
            # block (+, j): columns s2 = + (pos) and - (neg); block (-, j): neg and pos
            j = np.tile(np.arange(2 * P2n) % P2n, P1a) + P2o
            blocks.append(np.concatenate([j, j + P2a]))
        values = np.concatenate(out) if out else np.zeros(0)
        if return_blocks:
            return values, (np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.intp))
        return values

    # -- reference -------------------------------------------------------------------------
    def cone_slacks(self, U, T=None):
        """Slacks of every cone row, normalized by the row's norm: first layer (n, Q, K),
        ``(2 D1_q - 1) X u_qk / ||x_i||``, and second layer (n, B, K), ``a h`` (negative:
        violated)."""
        T = self.forward(U) if T is None else T
        C = np.where(self.mask[:, self.col_pattern], 1.0, -1.0)
        xnorm = np.maximum(np.linalg.norm(self.X, axis=1), 1e-300)
        first = np.stack([C * (self.X @ U[:, :, k]) for k in range(self.K)], axis=-1)
        return first / xnorm[:, None, None], self.cone_sign[:, :, None] * T

    def _cvxpy_model(self):
        """The variables, objective and block pre-activations of the program in cvxpy:
        ``(Us, c, XUs, Hs, objective)`` (``XUs[k] = X U_k`` (n, Q), ``Hs[k]`` (n, B))."""
        import cvxpy as cp

        u = self._cvxpy_unit = self.target_unit()  # the variables' unit (from_cvxpy)
        Us = [cp.Variable((self.d, self.Q)) for _ in range(self.K)]
        c = cp.Variable(self.K) if self.fit_intercept else np.zeros(self.K)
        agg = np.zeros((self.Q, self.n_blocks_active))
        agg[np.arange(self.Q), self.col_bpos] = 1.0
        XUs = [self.X @ Uk for Uk in Us]
        Hs = [cp.multiply(self.sign_mask, XU) @ agg for XU in XUs]
        cols = [cp.sum(cp.multiply(self.out_mask, H), axis=1)
                + (c[k] if self.fit_intercept else 0.0) for k, H in enumerate(Hs)]
        Z = cp.vstack(cols).T if self.K > 1 else cp.reshape(cols[0], (self.n, 1), order="F")
        objective = cvxpy_loss(self.loss_name, Z, self.Y / u, self.s) + (self.alpha / u) * sum(
            cp.sum(cp.norm(Uk, 2, axis=0)) for Uk in Us)
        return Us, c, XUs, Hs, objective

    def to_cvxpy_rows(self, rows1, rows2):
        """The program in cvxpy with only some of its cone rows: ``rows1`` (n, Q, K) bool of the
        first-layer cones, ``rows2`` (n, B, K) bool of the second-layer cones (a relaxation:
        its optimum is the program's when the solution satisfies the rows left out). Returns
        ``(problem, (U_vars, c))``; no multipliers are read back from it."""
        import cvxpy as cp
        import scipy.sparse as sp

        d, Q = self.d, self.Q
        Us, c, _, _, objective = self._cvxpy_model()
        C1 = np.where(self.mask[:, self.col_pattern], 1.0, -1.0)
        coef2 = self.sign_mask * self.cone_sign[:, self.col_bpos]  # a[i, b(q)] S[i, q]

        def rows_matrix(i, q, coef, r, n_rows):
            """Sparse rows: row ``r_t`` gets ``coef_t x_{i_t}`` on column ``q_t``'s slice of
            vec(U)."""
            vals = (coef[:, None] * self.X[i]).ravel()
            cols = (q[:, None] * d + np.arange(d)).ravel()
            return sp.csr_matrix((vals, (np.repeat(r, d), cols)), shape=(n_rows, d * Q))

        cons = []
        for k in range(self.K):
            u = cp.vec(Us[k], order="F")  # u[q d + j] = U[j, q]
            i1, q1 = np.nonzero(rows1[:, :, k])
            if i1.size:  # first-layer rows (i, q): C1[i, q] x_i on column q
                A1 = rows_matrix(i1, q1, C1[i1, q1], np.arange(i1.size), i1.size)
                cons.append(A1 @ u >= 0)
            i2, b2 = np.nonzero(rows2[:, :, k])
            if i2.size:  # second-layer rows (i, b): a[i, b] sum_{q in b} S[i, q] x_i
                r, q = np.nonzero(self.col_bpos[None, :] == b2[:, None])
                keep = coef2[i2[r], q] != 0
                r, q = r[keep], q[keep]
                cons.append(rows_matrix(i2[r], q, coef2[i2[r], q], r, i2.size) @ u >= 0)
        return cp.Problem(cp.Minimize(objective), cons), (Us, c)

    def to_cvxpy(self):
        """The same program in cvxpy (small problems). Returns ``(problem, (U_vars, c))``."""
        import cvxpy as cp

        Us, c, XUs, Hs, objective = self._cvxpy_model()
        C1 = np.where(self.mask[:, self.col_pattern], 1.0, -1.0)
        cons = [cp.multiply(C1, XU) >= 0 for XU in XUs]
        cons2 = [cp.multiply(self.cone_sign, H) >= 0 for H in Hs]
        self._cvxpy_cons = cons + cons2
        self._cvxpy_second = cons2
        return cp.Problem(cp.Minimize(objective), cons + cons2), (Us, c)

    def evaluate_cvxpy(self, variables):
        """``(packed w, objective, dual bound)`` of a solved cvxpy program. The first-layer
        cones are restored exactly by projection; the second-layer multipliers are the
        solver's duals (``nu = s mu``, in the program's units: the duals of the program of
        :meth:`target_unit` ``u`` are ``1 / u`` times the original's), which the certificate
        uses."""
        U, c = self.from_cvxpy(variables)
        U = self.project(U)
        nu = self._cvxpy_unit * np.stack(
            [np.asarray(con.dual_value, dtype=np.float64).reshape(self.n, -1)
             for con in self._cvxpy_second], axis=-1)
        mu = np.array(self.al_state["mu"], dtype=np.float64)  # other blocks keep theirs
        mu[:, self.blocks] = np.maximum(nu, 0.0) / self.s[:, None, None]
        self.set_multipliers(mu, 0.0)
        objective, bound, c_opt, _ = self.certificate(U, c)
        w = np.concatenate([U.ravel(), c_opt])
        return w, objective, bound


def _pair_norms(problem, M1, Gam, floor):
    """Largest projected dual norm over the two second-layer signs of every (first-layer
    pattern of ``M1``, block of ``Gam``) column: ``||P_C(+-X^T D1 Gam_b)||``, flat (columns
    ``(+, i, b)``, then ``(-, i, b)``). Projected where the unprojected norm is above ``floor``
    and where needed for the exact maximum; elsewhere the unprojected norm, an upper bound (see
    :meth:`ThreeLayerReLUProblem.probe_norms`)."""
    d, K = problem.d, problem.K
    B = Gam.shape[1]
    P1 = M1.shape[1]
    # raw: (d, P1, B, K) = X^T (D1_i Gam_b)
    A = np.einsum("nd,ni,nbk->dibk", problem.X, M1.astype(np.float64), Gam, optimize=True)
    A = A.reshape(d, P1 * B, K)
    V = np.concatenate([A, -A], axis=1)  # columns (+, i, b) then (-, i, b)
    pattern = np.tile(np.repeat(np.arange(P1), B), 2)
    probe = object.__new__(type(problem))
    probe.__dict__.update(problem.__dict__)
    probe.mask, probe.K = np.ascontiguousarray(M1), 1

    def projected(q, k):
        """The columns ``V[:, q[j], k[j]]`` projected onto their cones, (d, len(q))."""
        probe.col_pattern, probe.col_id = pattern[q], np.arange(q.size)
        probe._new_warm_starts(q.size)
        return probe.project(np.ascontiguousarray(V[:, q, k])[:, :, None])[:, :, 0]

    raw = np.sqrt(np.einsum("dqk,dqk->qk", V, V))
    norms = raw.copy()
    done = raw > floor  # exact values
    q, k = np.nonzero(done)
    if q.size:
        norms[q, k] = np.linalg.norm(projected(q, k), axis=0)
    # the exact maximum: the columns above the largest exact value, largest first
    top = float(norms[done].max()) if done.any() else -np.inf
    q, k = np.nonzero(~done & (raw > top))
    order = np.argsort(-raw[q, k], kind="stable")
    q, k = q[order], k[order]
    at, batch = 0, _MAX_BATCH
    while at < q.size and raw[q[at], k[at]] > top:
        sl = slice(at, at + batch)
        vals = np.linalg.norm(projected(q[sl], k[sl]), axis=0)
        norms[q[sl], k[sl]] = vals
        top = max(top, float(vals.max()))
        at, batch = at + batch, 2 * batch
    return norms.max(axis=1)


# columns projected in the first batch while looking for the exact maximum below the floor
# (each next batch twice as many)
_MAX_BATCH = 64
