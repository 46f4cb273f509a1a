"""Sketch-based preconditioners and the adaptive sketch-size rule (shared by PCG, IHS and the
Newton sketch).

For a data operator ``M`` (n' x d') and a diagonal regularization ``D`` (``alpha I`` for ridge)
the Hessian is ``H = M^T M + D``. A sketch ``S`` (m x n') gives ``H_S = (S M)^T (S M) + D``; it is
applied through a Cholesky factor of ``H_S`` when ``m >= d'`` and through the Woodbury identity
``H_S^{-1} z = D^{-1} z - D^{-1} (SM)^T (I + SM D^{-1} (SM)^T)^{-1} SM D^{-1} z`` when ``m < d'``.
"""

import math

import numpy as np
import scipy.linalg as sla

from skconvex._linalg import small_kernel
from skconvex.sketching import Sketch

# A BLAS-3 flop (GEMM, Cholesky) is far cheaper than a memory-bound pass-over-the-data flop; this
# weight converts one into the other in the cost model below.
BLAS3_WEIGHT = 1.0 / 8.0


class SketchPreconditioner:
    """``H_S^{-1}`` for ``H_S = SM^T SM + diag(reg)`` (``SM`` an AffineOperator or the full M).

    Parameters
    ----------
    SM : AffineOperator
        The sketched data operator, shape (m, d').
    reg : float or ndarray of shape (d',)
        The regularization: ``alpha`` (ridge) or a per-coordinate diagonal (e.g. 1 for the
        penalized weights and 0 for an unpenalized intercept). Entries that are zero where the
        Woodbury form needs them positive get a tiny jitter relative to the Gram's scale.
    """

    def __init__(self, SM, reg):
        self.SM = SM
        m, d = SM.shape
        self.m, self.d = m, d
        self.woodbury = m < d
        small, big = min(m, d), max(m, d)
        reg = np.broadcast_to(np.asarray(reg, dtype=np.float64), (d,))
        if self.woodbury:
            # H_S = D^{1/2} (SM'^T SM' + I) D^{1/2} with SM' = SM D^{-1/2}; invert the m x m
            # capacitance matrix I + SM' SM'^T
            scale = self._gram_scale(SM)
            reg = np.maximum(reg, 1e-12 * scale)
            self._c = 1.0 / np.sqrt(reg)
            self._SMc = SM.scale_columns(self._c)
        elif not np.any(reg > 0):
            with small_kernel(small * small * big):
                trace = float(np.sum(SM.gram().diagonal()))
            reg = np.full(d, 1e-12 * max(trace / max(d, 1), 1.0))
        self.reg = reg
        cost = small * small * big
        # the matrix is at least diag(reg) (at least I for the capacitance) in exact
        # arithmetic, so every pivot of its Cholesky factor is at least the least reg so far
        # (1). A computed Gram of columns on scales far apart (a multinomial factor with a
        # feature on a scale of 1e8, equal columns of 1e9) carries rounding errors larger
        # than that along its near-null directions: the factorization failed, or pivots came
        # out far below the bound (a factor of rounding noise). Then it is factored by
        # eigenvalues, its diagonal scaled to one and eigenvalues below the rounding level
        # raised to it: the directions rounding decides get a small step, not a wild one
        bound = np.ones(small) if self.woodbury else np.minimum.accumulate(reg)
        try:
            K = self._matrix(cost)
            with small_kernel(small**3 / 3.0):
                self.factor = sla.cho_factor(K, lower=True, overwrite_a=True,
                                             check_finite=False)
            if np.any(self.factor[0].diagonal() ** 2 < 0.5 * bound):
                raise np.linalg.LinAlgError("pivots below the matrix's lower bound")
        except np.linalg.LinAlgError:
            self.factor = None
            K = self._matrix(cost)
            dsc = np.sqrt(np.maximum(K.diagonal(), np.finfo(np.float64).tiny))
            K /= dsc[:, None]
            K /= dsc[None, :]
            bound = 1.0 if self.woodbury else reg
            floor = max(float(np.min(bound / (dsc * dsc))),
                        10.0 * K.shape[0] * float(np.finfo(np.float64).eps))
            with small_kernel(4.0 * small**3):
                lam, V = np.linalg.eigh(K)
            self._eig = (V, np.maximum(lam, floor), dsc)

    def _matrix(self, cost):
        """The matrix to factor: ``SM^T SM + diag(reg)`` or the capacitance matrix."""
        with small_kernel(cost):
            K = self._SMc.outer_gram() if self.woodbury else self.SM.gram()
        K[np.diag_indices_from(K)] += 1.0 if self.woodbury else self.reg
        return K

    @staticmethod
    def _gram_scale(SM):
        """Mean squared column norm of SM (a scale for jitters)."""
        ones = np.ones(SM.shape[0])
        return max(float(np.sum(np.asarray(SM.rmatvec(ones)) ** 2)) / max(SM.shape[1], 1)
                   / max(SM.shape[0], 1), 1e-300)

    def _solve_K(self, Z):
        """The factored matrix's inverse applied to Z."""
        k = 1 if Z.ndim == 1 else Z.shape[1]
        size = self.m if self.woodbury else self.d
        with small_kernel(4.0 * size**2 * k):
            if self.factor is not None:
                return sla.cho_solve(self.factor, Z, check_finite=False)
            V, lam, dsc = self._eig
            s = dsc if Z.ndim == 1 else dsc[:, None]
            w = lam if Z.ndim == 1 else lam[:, None]
            return (V @ ((V.T @ (Z / s)) / w)) / s

    def solve(self, Z):
        """``H_S^{-1} Z`` for Z of shape (d',) or (d', k)."""
        if not self.woodbury:
            return self._solve_K(Z)
        c = self._c if Z.ndim == 1 else self._c[:, None]
        Y = c * Z
        T = self._solve_K(np.asarray(self._SMc.matvec(Y), dtype=np.float64))
        return c * (Y - np.asarray(self._SMc.rmatvec(T), dtype=np.float64))

    def effective_dimension(self):
        """``tr(G (G + diag(reg))^{-1})`` of the sketched Gram G: an estimate of ``d_eff``."""
        if self.factor is None:  # factored by eigenvalues: diag(K^{-1}) from them
            V, lam, dsc = self._eig
            inv_diag = np.sum(V * V / lam, axis=1) / (dsc * dsc)
            if self.woodbury:
                return float(self.m - np.sum(inv_diag))
            return float(self.d - np.sum(self.reg * inv_diag))
        L = np.tril(self.factor[0])
        with small_kernel(L.shape[0] ** 3 / 3.0):
            Linv, info = sla.lapack.dtrtri(L, lower=1)
        if info != 0:
            return float("nan")
        if self.woodbury:  # sum of lambda/(1+lambda) over the m eigenvalues of SM' SM'^T
            return float(self.m - np.sum(Linv * Linv))
        # diag((G + D)^{-1})_j = sum_i Linv_ij^2
        return float(self.d - np.sum(self.reg * np.sum(Linv * Linv, axis=0)))

    def apply_cost(self, k=1):
        """Memory-bound flops of one application to k vectors."""
        if self.woodbury:
            return (4.0 * self.m * self.d + 2.0 * self.m**2) * k
        return 2.0 * self.d**2 * k


class DiagonalPreconditioner:
    """``diag(M^T M) + reg``: the sketch of size zero (Jacobi). Free to build (one pass for the
    column norms) and to apply; near exact when the columns barely overlap (very sparse data),
    where a sketch of the same accuracy costs far more."""

    def __init__(self, M, reg):
        self.m, self.d = 0, M.shape[1]
        self.woodbury = False
        self.col_sq = M.column_sq_norms()
        self.reg = np.broadcast_to(np.asarray(reg, dtype=np.float64), (self.d,))
        diag = self.col_sq + self.reg
        self.diag = np.where(diag > 0, diag, 1.0)

    def solve(self, Z):
        return Z / (self.diag if Z.ndim == 1 else self.diag[:, None])

    def effective_dimension(self):
        """``sum_j ||M_j||^2 / (||M_j||^2 + reg_j)``: exact for orthogonal columns."""
        return float(np.sum(self.col_sq / self.diag))

    def apply_cost(self, k=1):
        return float(self.d * k)


def build_cost(M, m, nnz_per_row=1, kind="sjlt"):
    """Cost of sketching ``M`` to m rows and factoring ``H_S``, in the units of
    :meth:`NormalSystem.pass_cost` (a pass ``M^T (M v)`` counts ``4 nnz``).

    Measured here: a dense sjlt sketch costs about one pass (0.6-1.2); the Gram matrix of the
    sketch and its factorization are BLAS-3.
    """
    n, d = M.shape
    nnz = M.B.nnz if M.issparse else n * d
    s = nnz_per_row or 1
    if kind == "sjlt":
        sketch = 4.0 * nnz * s
    elif kind in ("less_uniform", "less"):
        sketch = 2.0 * m * (nnz_per_row or d) * (nnz / max(n, 1))
    elif kind == "srht":
        sketch = 4.0 * nnz * max(1.0, math.log2(max(n, 2)))
    else:  # dense Gaussian / Rademacher: a GEMM
        sketch = 2.0 * m * nnz * BLAS3_WEIGHT
    small, big = min(m, d), max(m, d)
    return sketch + BLAS3_WEIGHT * (small**2 * big + small**3 / 3.0)


def best_sketch_size(M, d_eff, *, pass_cost, tol, nnz_per_row=None, kind="sjlt", k=1):
    """The sketch size among ``{4, 8, 16} d_eff`` with the least predicted total cost.

    Predicted cost of size m: building the preconditioner (:func:`build_cost`) plus the
    iterations to reduce the convergence measure to ``tol`` at the contraction
    ``delta_{t+1}/delta_t ~ 0.7 d_eff / m`` measured for PCG here, each costing a pass and one
    preconditioner application (Cholesky for ``m >= d``, Woodbury otherwise).
    """
    n, d = M.shape
    best, best_cost = None, np.inf
    for factor in (4, 8, 16):
        m = target_sketch_size(d_eff, n, factor)
        rate = min(0.9, 0.7 * max(d_eff, 1.0) / m)
        iters = math.log(max(tol, 1e-16) ** 2) / math.log(rate)
        apply = (4.0 * m * d + 2.0 * m * m) * k if m < d else 2.0 * d * d * k
        cost = build_cost(M, m, nnz_per_row, kind) + iters * (pass_cost + apply)
        if cost < best_cost:
            best, best_cost = m, cost
    return best


def target_sketch_size(d_eff, n_rows, factor=8):
    """Sketch size for an estimated effective dimension: ``factor * d_eff`` (measured fastest at
    8-16 d_eff: fewer iterations outweigh the larger sketch), a multiple of 64, at most the
    number of rows."""
    if not np.isfinite(d_eff):
        return n_rows
    return int(min(n_rows, 64 * math.ceil(factor * max(d_eff, 1.0) / 64)))


def initial_sketch_size(n_rows, n_cols):
    """Start of the adaptive rule: near 512 (each resketch costs >= one pass, so do not start
    tiny), at most twice the number of columns, at most the number of rows."""
    return int(max(1, min(n_rows, max(32, min(512, 2 * n_cols)))))


class AdaptiveSketchSize:
    """The adaptive sketch size rule of arXiv:2104.14101 with a cost-aware trigger.

    ``observe(ratio)`` is fed the per-iteration contraction of the convergence measure
    (``delta_{t+1} / delta_t``). The sketch size is doubled when (a) the progress test of the
    paper fails (``ratio > rho``), or (b) the observed rate predicts that the remaining
    iterations cost more than a resketch at twice the size plus the remaining iterations at the
    rate a doubled sketch gives (the contraction factor of ``delta`` scales like ``d_eff / m``).
    The size is never capped at a fixed number; it is capped by the number of rows only, where
    the exact Hessian is used instead.
    """

    def __init__(self, m0, max_size, *, rho=0.95, adaptive=True):
        self.cap = np.inf  # the cost-model trigger stays below this (e.g. 16 d_eff)
        self.m = int(m0)
        self.max_size = int(max_size)
        self.rho = float(rho)
        self.adaptive = adaptive
        self._ratios = []
        self.n_resketch = 0

    def reset_window(self):
        self._ratios = []

    def should_double(self, ratio, *, delta, target, iter_cost, iter_cost_doubled, build_cost):
        if not self.adaptive or self.m >= self.max_size:
            return False
        if not math.isfinite(ratio):
            return False
        self._ratios.append(max(ratio, 1e-300))
        if ratio > self.rho:
            return True
        if len(self._ratios) < 2 or 2 * self.m > self.cap:
            return False
        # geometric mean of the last two ratios (PCG's per-step contraction oscillates)
        r = math.sqrt(self._ratios[-1] * self._ratios[-2])
        if r <= 0 or delta <= target:
            return False
        need = math.log(target / delta)
        remaining = need / math.log(r)
        remaining_doubled = need / math.log(r / 2.0)
        return remaining * iter_cost > build_cost + remaining_doubled * iter_cost_doubled

    def double(self):
        self.m = min(2 * self.m, self.max_size)
        self.n_resketch += 1
        self._ratios = []
        return self.m


def make_preconditioner(M, m, alpha, *, kind, nnz_per_row, rng):
    """Sketch ``M`` to ``m`` rows (or use ``M`` itself when ``m`` reaches its row count)."""
    if m >= M.shape[0]:
        return SketchPreconditioner(M, alpha)
    S = Sketch(M.shape[0], m, kind, nnz_per_row=nnz_per_row,
               random_state=int(rng.randint(np.iinfo(np.int32).max)))
    return SketchPreconditioner(M.sketched(S), alpha)
