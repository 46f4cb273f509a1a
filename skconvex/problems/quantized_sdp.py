r"""Semidefinite relaxation of training a two-layer network with binary first-layer weights.

The network is ``f(x) = sum_j a_j sigma(x . u_j) + c0`` with ``u_j`` in ``{-1, +1}^d``, real
output weights ``a_j`` and the polynomial activation ``sigma(t) = p2 t^2 + p1 t + p0``. Training it
with an l1 penalty on the output weights,

    min_{u_j in {+-1}^d, a, c0}  f( sum_j a_j sigma(X u_j) + c0 ) + alpha sum_j |a_j|,

(``f`` a weighted-mean loss, any width) is combinatorial. With ``u~ = [u; 1]`` the activation is
linear in the lifted ``u~ u~^T``: ``sigma(x . u) = <M(x), u~ u~^T>`` with
``M(x) = [[p2 x x^T, (p1/2) x], [(p1/2) x^T, p0]]``. Splitting the neurons by the sign of
``a_j`` gives ``Z_+- = sum_{a_j >< 0} |a_j| u~_j u~_j^T``, a point of ``t_+- conv(CUT)`` with
``t_+- = (Z_+-)_{d+1, d+1}`` and ``sum_j |a_j| = t_+ + t_-``. Replacing the cut polytope by the
elliptope (Bartan & Pilanci, 2021) gives the convex program solved here:

    min  f( A(Z_+) - A(Z_-) + c0 ) + alpha (t_+ + t_-)
    s.t. Z_+- PSD,  diag(Z_+-) = t_+- 1,

with ``A(Z)_i = <M(x_i), Z>``. Its value is a lower bound on the binary problem's. With ``K``
outputs (cross-entropy), each output has its own pair of blocks (each hidden unit feeds one
output). Block ``j`` of ``Zs`` (shape ``(2K, d+1, d+1)``) belongs to output ``j // 2`` with sign
``+1`` for even ``j`` and ``-1`` for odd ``j``.

**Dual bound (used as the certificate).** For ``Lam`` of shape ``(n, K)`` with zero column sums
(the intercept's dual constraint), weak duality gives

    P >= -f*(-Lam)   whenever   max_{W in elliptope} +-<G_k(Lam), W> <= alpha  for every block,

where ``G_k(Lam) = sum_i Lam_ik M(x_i)``. The inner maximum is bounded above, for any vector
``mu``, by ``sum(mu) + (d+1) lambda_max(G - Diag(mu))`` (``W`` is PSD with trace ``d+1``); ``mu``
comes from a near-maximizer found by the mixing method (block-coordinate ascent on the
factor of ``W``). ``Lam = -t grad f`` at the primal point, ``t`` scaled to feasibility: a lower
bound valid for *any* primal point, so the reported lower bound never depends on how accurately
the program was solved.
"""

import numba
import numpy as np
from scipy.linalg import eigh

from skconvex.problems._losses import LOSSES, centered_targets

ACTIVATIONS = {
    # sigma(t) = t^2: the case where the relaxation is (near) tight
    "quadratic": (1.0, 0.0, 0.0),
    # the second-degree polynomial approximation of the ReLU used by the convex
    # polynomial-activation networks (0.09 t^2 + 0.5 t + 0.47)
    "relu_approx": (0.09, 0.5, 0.47),
}


def activation_coefs(activation):
    """``(p2, p1, p0)`` of ``sigma(t) = p2 t^2 + p1 t + p0`` from a name or a 3-sequence."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from "
                             f"{sorted(ACTIVATIONS)} or give coefficients (a, b, c)")
        return ACTIVATIONS[activation]
    coefs = np.asarray(activation, dtype=np.float64).ravel()
    if coefs.shape != (3,) or not np.all(np.isfinite(coefs)):
        raise ValueError("activation must be 'quadratic', 'relu_approx' or three finite "
                         f"coefficients (a, b, c) of a t^2 + b t + c; got {activation!r}")
    if coefs[0] == 0.0 and coefs[1] == 0.0:
        raise ValueError("activation coefficients (a, b, c) need a != 0 or b != 0 (with "
                         f"a = b = 0 the network is constant); got {tuple(coefs)}")
    return tuple(float(v) for v in coefs)


def polynomial(T, coefs):
    """``sigma(T)`` elementwise."""
    p2, p1, p0 = coefs
    return (p2 * T + p1) * T + p0


@numba.njit(cache=True)
def _mixing(G, R, n_sweeps, tol):
    """Mixing method for ``max <G, R R^T>`` over unit-norm rows of ``R`` (in place): each row
    becomes the normalized ``sum_{j != i} G_ij r_j``, which maximizes the objective in that
    row. Returns the number of sweeps."""
    N, r = R.shape
    g = np.empty(r)
    for sweep in range(n_sweeps):
        delta = 0.0
        for i in range(N):
            for k in range(r):
                g[k] = 0.0
            for j in range(N):
                if j != i:
                    gij = G[i, j]
                    if gij != 0.0:
                        for k in range(r):
                            g[k] += gij * R[j, k]
            nrm = 0.0
            for k in range(r):
                nrm += g[k] * g[k]
            nrm = np.sqrt(nrm)
            if nrm > 0.0:
                for k in range(r):
                    v = g[k] / nrm
                    delta += (v - R[i, k]) ** 2
                    R[i, k] = v
        if np.sqrt(delta) <= tol * np.sqrt(N):
            return sweep + 1
    return n_sweeps


def factor_rows(W, rank):
    """Unit-row factor ``R`` (``N x rank``) with ``R R^T ~= W`` for a unit-diagonal PSD ``W``."""
    w, V = np.linalg.eigh((W + W.T) / 2)
    idx = np.argsort(w)[::-1][:rank]
    R = V[:, idx] * np.sqrt(np.maximum(w[idx], 0.0))
    nrm = np.linalg.norm(R, axis=1)
    bad = nrm <= 1e-12
    R[bad] = 0.0
    R[bad, 0] = 1.0
    nrm[bad] = 1.0
    return R / nrm[:, None]


def elliptope_max(G, R0=None, *, rank=None, n_sweeps=500, tol=1e-7, random_state=None):
    """An upper bound on ``max <G, W>`` over the elliptope ``{W PSD, diag(W) = 1}``.

    Returns ``(upper_bound, value, R)``: ``value = <G, R R^T>`` is attained (a lower bound on
    the maximum) and ``upper_bound = sum(mu) + N lambda_max(G - Diag(mu))`` with
    ``mu_i = (G R R^T)_ii``, valid for any ``R``; the two meet at a maximizer.
    """
    G = np.ascontiguousarray((G + G.T) / 2)
    N = G.shape[0]
    if rank is None:
        rank = min(N, int(np.ceil(np.sqrt(2 * N))) + 1)
    if R0 is None:
        rng = np.random.default_rng(random_state)
        R = rng.standard_normal((N, rank))
        R /= np.linalg.norm(R, axis=1, keepdims=True)
    else:
        R = np.array(R0, dtype=np.float64, order="C")
    _mixing(G, R, int(n_sweeps), float(tol))
    GR = G @ R
    mu = np.sum(GR * R, axis=1)
    value = float(np.sum(mu))
    lam = eigh(G - np.diag(mu), eigvals_only=True, subset_by_index=[N - 1, N - 1])[0]
    # with mu from an exact maximizer lambda_max(G - Diag(mu)) = 0; the crude mu = 0 bound is
    # kept when it happens to be better
    lam0 = eigh(G, eigvals_only=True, subset_by_index=[N - 1, N - 1])[0]
    bound = min(value + N * float(lam), N * float(lam0))
    return max(bound, value), value, R


class QuantizedSDPProblem:
    """The SDP relaxation (see the module docstring) on preprocessed data.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Inputs as the first layer sees them (already standardized by the estimator).
    Y : ndarray of shape (n, K)
        Targets (squared loss), +-1 labels with K = 1 (logistic) or one-hot (cross_entropy).
    alpha : float
        Weight of ``sum_j |a_j|`` (= ``sum_j t_j``).
    activation : str or (a, b, c)
    loss : {"squared", "logistic", "cross_entropy"}
    sample_weight : ndarray of shape (n,) or None
        Normalized internally to sum to one (the data term is a weighted mean).
    fit_intercept : bool
        Whether the output intercept ``c0`` is a variable (else fixed at zero).

    The packed variable ``w`` is ``Zs.ravel()`` (``Zs`` of shape ``(2K, d+1, d+1)``) followed by
    the ``K`` intercepts.
    """

    def __init__(self, X, Y, alpha, activation="quadratic", loss="squared", *,
                 sample_weight=None, fit_intercept=True):
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            keep = sample_weight > 0
            if not keep.all():
                X, Y, sample_weight = X[keep], Y[keep], sample_weight[keep]
        self.X = np.ascontiguousarray(X)
        self.n, self.d = self.X.shape
        self.N = self.d + 1
        self.K = Y.shape[1]
        self.n_blocks = 2 * self.K
        self.block_output = np.repeat(np.arange(self.K), 2)
        self.block_sign = np.tile([1.0, -1.0], self.K)
        s = (np.full(self.n, 1.0 / self.n) if sample_weight is None
             else sample_weight / np.sum(sample_weight))
        self.s = s
        # squared loss with an intercept: centred targets, the intercept ``c0`` relative to
        # ``y_offset`` (the network's output intercept is ``c0 + y_offset``)
        self.Y, self.y_offset = centered_targets(Y, s, loss, fit_intercept)
        self.loss_name = loss
        self.loss = LOSSES[loss](self.Y, s)
        self.alpha = float(alpha)
        self.coefs = activation_coefs(activation)
        self.fit_intercept = bool(fit_intercept)
        self.shape = (self.n_blocks, self.N, self.N)

    def kernel_flops(self):
        """Flops of the program's largest product, ``adjoint`` over every block (the
        estimators solve programs below ``skconvex.base.TINY_PROGRAM_FLOPS`` on one BLAS
        thread)."""
        return 2.0 * self.n * self.d * self.d * self.K

    # -- layout ----------------------------------------------------------------------------
    def pack(self, Zs, c0):
        return np.concatenate([np.asarray(Zs, dtype=np.float64).ravel(),
                               np.asarray(c0, dtype=np.float64).ravel()])

    def unpack(self, w):
        size = int(np.prod(self.shape))
        return w[:size].reshape(self.shape), w[size:]

    def traces(self, Zs):
        """``t_j = (Z_j)_{d+1, d+1}``, the l1 mass of each block."""
        return Zs[:, self.d, self.d]

    # -- linear maps -----------------------------------------------------------------------
    def forward(self, Zs):
        """``A(Z_{k+}) - A(Z_{k-})`` for every output: (n, K) scores without the intercept."""
        p2, p1, p0 = self.coefs
        d, K = self.d, self.K
        D = Zs[0::2] - Zs[1::2]  # (K, N, N): one difference per output
        out = np.empty((self.n, K))
        for k in range(K):
            Dk = (D[k] + D[k].T) / 2
            q = p0 * Dk[d, d]
            if p2 != 0.0:
                q = q + p2 * np.einsum("ij,ij->i", self.X @ Dk[:d, :d], self.X)
            if p1 != 0.0:
                q = q + p1 * (self.X @ Dk[:d, d])
            out[:, k] = q
        return out

    def adjoint(self, Lam):
        """``G_k = sum_i Lam_ik M(x_i)`` for every output: (K, N, N)."""
        p2, p1, p0 = self.coefs
        d = self.d
        Lam = np.asarray(Lam, dtype=np.float64).reshape(self.n, self.K)
        G = np.zeros((self.K, self.N, self.N))
        for k in range(self.K):
            lk = Lam[:, k]
            if p2 != 0.0:
                G[k, :d, :d] = p2 * (self.X.T @ (lk[:, None] * self.X))
            v = 0.5 * p1 * (self.X.T @ lk)
            G[k, :d, d] = v
            G[k, d, :d] = v
            G[k, d, d] = p0 * np.sum(lk)
        return G

    # -- objective and certificate -----------------------------------------------------------
    def optimal_intercept(self, Z0, c0=None):
        if not self.fit_intercept:
            return np.zeros(self.K)
        if self.loss_name == "squared":
            return self.loss.intercept(Z0)
        return self.loss.intercept(Z0, c0)

    def penalty(self, Zs):
        return self.alpha * float(np.sum(self.traces(Zs)))

    def objective(self, w):
        Zs, c0 = self.unpack(w)
        return self.loss.value(self.forward(Zs) + c0) + self.penalty(Zs)

    def certificate(self, Zs, c0=None, factors=None, random_state=0, return_factors=False):
        """``(objective, dual bound, optimal intercept, block bounds (2K,))`` at ``Zs``.

        ``Lam = -grad f`` at the primal point with the optimal intercept (so column sums of
        ``Lam`` vanish), scaled by the largest ``t`` that makes it dual feasible, then the best
        ``t`` in ``[0, t_max]`` for the dual objective. ``factors`` (unit-row factors of the
        blocks' normalized ``Z``, e.g. from the low-rank solver) warm-start the inner maxima;
        blocks without one are factored here. The bound is a valid lower bound on the SDP's
        optimum (hence on the binary problem's) whatever ``Zs`` is. With ``return_factors``
        the blocks' maximizing factors come last.
        """
        Z0 = self.forward(Zs)
        c_opt = self.optimal_intercept(Z0, c0)
        Z = Z0 + c_opt
        objective = self.loss.value(Z) + self.penalty(Zs)
        Lam = -self.loss.grad(Z)
        rho, Rmax = self.block_bounds(Lam, Zs, factors, random_state, return_factors=True)
        worst = float(np.max(rho)) if rho.size else 0.0
        t_max = self.alpha / worst if worst > 0 else np.inf
        if self.loss_name != "squared":
            t_max = min(1.0, t_max)
        t = self.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
        bound = self.loss.dual_value(t * Lam)
        if return_factors:
            return objective, bound, c_opt, rho, Rmax
        return objective, bound, c_opt, rho

    def block_bounds(self, Lam, Zs=None, factors=None, random_state=0, return_factors=False):
        """Upper bounds of ``max_{W in elliptope} sign_j <G_k(Lam), W>`` for every block (and
        with ``return_factors`` the list of the maximizers' unit-row factors)."""
        G = self.adjoint(Lam)
        t = None if Zs is None else self.traces(Zs)
        rho = np.empty(self.n_blocks)
        rank = min(self.N, int(np.ceil(np.sqrt(2 * self.N))) + 1)
        Rs = []
        for j in range(self.n_blocks):
            R0 = None
            if factors is not None and factors[j] is not None:
                R0 = factors[j]
            elif t is not None and t[j] > 0:
                R0 = factor_rows(Zs[j] / t[j], rank)
            if R0 is not None:
                if R0.shape[1] != rank:
                    R0 = factor_rows(R0 @ R0.T, rank)
                # a rank-deficient start (a cut) is a fixed point of the mixing method that
                # need not be the maximum: start just off it
                rng = np.random.default_rng(random_state + j)
                R0 = R0 + 1e-2 * rng.standard_normal(R0.shape) / np.sqrt(rank)
                R0 /= np.linalg.norm(R0, axis=1, keepdims=True)
            rho[j], _, R = elliptope_max(self.block_sign[j] * G[self.block_output[j]], R0,
                                         rank=rank, random_state=random_state + j)
            Rs.append(R)
        return (rho, Rs) if return_factors else rho

    def dual_bound(self, w):
        Zs, c0 = self.unpack(w)
        return self.certificate(Zs, c0)[1]

    # -- reference -------------------------------------------------------------------------
    def to_cvxpy(self):
        """The same program in cvxpy (small ``d``). Returns ``(problem, (Z_vars, c0))``."""
        import cvxpy as cp

        p2, p1, p0 = self.coefs
        d, K = self.d, self.K
        Zv = [cp.Variable((self.N, self.N), PSD=True) for _ in range(self.n_blocks)]
        c0 = cp.Variable(K) if self.fit_intercept else np.zeros(K)
        cons = [cp.diag(Z)[:d] == Z[d, d] for Z in Zv]
        # quadratic features on the upper triangle: <x x^T, S> = sum_{i<=j} (2 - [i=j]) x_i x_j S_ij
        iu, ju = np.triu_indices(d)
        XX = self.X[:, iu] * self.X[:, ju] * np.where(iu == ju, 1.0, 2.0)
        cols = []
        for k in range(K):
            D = Zv[2 * k] - Zv[2 * k + 1]
            q = p0 * D[d, d]
            if p2 != 0.0:
                Dup = cp.vec(D[:d, :d], order="F")[iu + d * ju]
                q = q + p2 * (XX @ Dup)
            if p1 != 0.0:
                q = q + p1 * (self.X @ D[:d, d])
            cols.append(q + c0[k] if self.fit_intercept else q + np.zeros(self.n))
        S = cp.vstack(cols).T if K > 1 else cp.reshape(cols[0], (self.n, 1), order="F")
        s = self.s
        if self.loss_name == "squared":
            data = 0.5 * cp.sum(cp.multiply(s[:, None], cp.square(S - self.Y)))
        elif self.loss_name == "logistic":
            data = cp.sum(cp.multiply(s[:, None], cp.logistic(-cp.multiply(self.Y, S))))
        else:
            data = cp.sum(cp.multiply(s, cp.log_sum_exp(S, axis=1))) - \
                cp.sum(cp.multiply(s[:, None] * self.Y, S))
        reg = self.alpha * sum(Z[d, d] for Z in Zv)
        return cp.Problem(cp.Minimize(data + reg), cons), (Zv, c0)

    def evaluate_cvxpy(self, var):
        """``(w, objective, dual bound)`` from the cvxpy variables' values."""
        Zv, c0 = var
        Zs = np.stack([(Z.value + Z.value.T) / 2 for Z in Zv])
        c = np.asarray(c0.value if self.fit_intercept else c0, dtype=np.float64)
        Zs = self.project_feasible(Zs)
        objective, bound, c_opt, _ = self.certificate(Zs, c)
        return self.pack(Zs, c_opt), objective, bound

    def project_feasible(self, Zs):
        """Blocks made exactly feasible: PSD part with the diagonal rescaled to ``t 1``
        (removes an interior-point solver's ~1e-9 infeasibility)."""
        out = np.empty_like(Zs)
        for j in range(self.n_blocks):
            Z = (Zs[j] + Zs[j].T) / 2
            w, V = np.linalg.eigh(Z)
            Z = (V * np.maximum(w, 0.0)) @ V.T
            t = max(float(np.mean(np.diag(Z))), 0.0)
            dg = np.sqrt(np.maximum(np.diag(Z), 1e-300))
            out[j] = Z / np.outer(dg, dg) * t if t > 0 else 0.0
        return out

    # -- networks ----------------------------------------------------------------------------
    def features(self, U):
        """``sigma(X U)`` for binary neurons ``U`` (d x m)."""
        return polynomial(self.X @ U, self.coefs)
