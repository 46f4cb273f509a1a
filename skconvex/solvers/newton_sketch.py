"""Newton sketch (Newton-LESS) with an adaptive sketch size, and exact Newton.

For a problem with an exact gradient and a Hessian ``H = F^T F + diag(reg)`` given by a
square-root factor ``F`` (:class:`~skconvex.problems.LogisticProblem`), each iteration

1. sketches the factor at the current point, ``H_S = (S F)^T (S F) + diag(reg)``, with a fresh
   embedding ``S`` (LESS / LESS-uniform by default; ``"exact"`` uses ``H`` itself), and factors
   it through :class:`~skconvex.solvers._sketch_precond.SketchPreconditioner` (Cholesky when
   the sketch has at least as many rows as ``H`` has columns, Woodbury otherwise). Unpenalized
   coordinates (intercepts, ``reg = 0``) are eliminated exactly by a Schur complement, so no
   jitter is needed whatever the path, and the gauge freedom of multinomial intercepts is
   handled by a pseudo-inverse;
2. takes the direction ``D = -H_S^{-1} g`` and its approximate Newton decrement
   ``lambda = -g^T D``. When a pass over the data costs less than building the sketch, ``D`` is
   refined by a few steps of conjugate gradient on ``H D = -g`` preconditioned by ``H_S`` (exact
   Hessian-vector products, one pass each; the first step is the sketched direction rescaled
   to the minimum of the quadratic model), stopped by an inexact-Newton forcing term;
3. makes ONE pass over the data that computes the direction's margins ``X D`` and, for the
   trial step 1 (and the previous accepted step when it was shorter), the objective and the
   exact gradient at ``w + t D`` (:meth:`LogisticProblem.fused_pass`); the Armijo backtracking
   line search (``alpha = 0.1``, ``beta = 0.5``, from step 1) evaluates further trial steps
   from the margins along the ray in O(n) each, and only a step found that way costs a
   second pass for its gradient. A step is also accepted when the exact directional
   derivative at it shows sufficient decrease (convexity: ``phi(t) <= phi(0) + t phi'(t)``),
   which stays meaningful where differences of objective values are lost to rounding.

Stopping rule (a relative error in the Hessian norm, as ``SketchedRidge``'s ``tol``): the solver
stops after the first iteration whose decrement satisfies ``sqrt(lambda / theta^T H theta) <=
tol``, where ``theta^T H theta = sum_i h_i z_i^2 + ||w||^2`` is computed in O(n) from the margins
``z`` (``lambda`` estimates ``||theta - theta*||_H^2``); that iteration's step is taken.

Adaptive sketch size (arXiv:2105.07291): the first sketch (256 rows, doubled while saturated)
estimates the effective dimension ``d_eff = tr(H_S^{-1} (S F)^T S F)``. A deterministic cost
model (unit counts, below) then picks the cheapest predicted way to reduce the decrement:
a sketch of ``c d_eff`` rows (``c`` in 4..32), the exact Hessian (small or very sparse problems:
quadratic convergence), or no sketch at all, Newton-CG with the diagonal of ``H`` as
preconditioner (sparse problems whose passes are cheap and whose Hessian is well conditioned
once its diagonal is scaled out; the condition number is estimated on ``H_S``). Where that
last method costs less than the next sketch, it is tried first on the first Newton system
(at most 50 passes) and its measured convergence decides: before the first sketch, or before a
doubling of a saturated one; when it wins no (further) sketch is drawn. Afterwards the
size is doubled when a step in the quadratic regime (no margin moved by more than one by the
full step) fails: the line search backtracks, or the decrement does not fall by the factor
``rho``, or the cost model predicts that a twice larger sketch reaches ``tol`` for less work
(:class:`~skconvex.solvers._sketch_precond.AdaptiveSketchSize`). Once the size reaches a quarter
of the number of samples the exact Hessian is used instead. The rule never reads a clock: a
fit is reproducible for a given ``random_state``.
"""

import math

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from sklearn.utils import check_random_state

from skconvex._linalg import AffineOperator, small_kernel
from skconvex.problems.logistic import (_GEMV_MAX_COLS, SPARSE_GRAM_DENSE_MAX_COLS,
                                        drop_null_component, lift_null_space,
                                        solve_lifted)
from skconvex._result import FitResult
from skconvex.sketching import SKETCH_KINDS, Sketch
from skconvex.solvers._sketch_precond import AdaptiveSketchSize, SketchPreconditioner
from skconvex.utils._progress import ProgressLogger

_ALPHA, _BETA = 0.1, 0.5  # Armijo constants (the authors' code)
_T_MIN = 1e-10  # smallest trial step
_ROUNDING = 1e-11  # relative change of the objective below which values are rounding
_LOCAL_MARGIN = 1.0  # a full step moving no margin by more than this is "in the quadratic regime"
# The estimating sketch is doubled while saturated, up to this many rows per parameter.
# (Measured on L1-like problems, n=1e5-2e5, d=300-500: iterations to a relative objective gap
# of 1e-6 with 4 / 8 / 16 / 32 sketch rows per unit of effective dimension: 10-12 / 8 / 6 / 5,
# exact Newton 5; the cost model of _calibrate picks among these multiples.)
_SKETCH_PER_DEFF = 16.0
_MIN_SKETCH = 256
_LESS_KINDS = ("less_uniform", "less")
# Cost model. Every decision of the adaptive rule (sketch size, exact Hessian, diagonal
# preconditioner, CG steps) is taken on these deterministic unit counts, never on measured
# times, so that a fit is reproducible for a given random_state. Unit: one entry of a dense X in
# a streaming product (0.44 ns here, one thread); weights measured on the development machine
# (AMD EPYC, OpenBLAS, one thread) with the operations as this module calls them:
_W_SPARSE = 3.0  # a stored entry of a CSR X in a product (1.4 ns)
_W_POINTWISE = 25.0  # loss, residual and curvature of one sample and class (11 ns)
_W_BLAS3 = 0.1  # a multiply-add of GEMM / Cholesky (large GEMM 0.02 ns; 0.04 as called here)
_W_SPARSE_PRODUCT = 11.0  # a scalar product inside a sparse x sparse product (4.9 ns)
_W_GATHER_DENSE = 3.5  # an entry of a row scattered by the LESS kernel into a dense output
_W_GATHER_SPARSE = 130.0  # an entry of a sparse sketched factor (scipy's S @ X, 58 ns)
_W_LESS_PER_SAMPLE = 40.0  # a LESS sketch's work per sample of X: the counting sort of its
# pattern over the n columns, the factor's weights (18 ns; 5 ms of a 2304-row sketch of a
# 254,654 x 78 one-hot X, where the scattered entries cost 2.5 ms)
_W_ROW_GRAM = 4.0  # a pair of a row's nonzeros added into a dense, cached Gram (1.7 ns)


class _Gram:
    """A precomputed Gram matrix dressed as an operator, for SketchPreconditioner (the exact
    Hessian is the "sketch" that is the identity)."""

    def __init__(self, G):
        self._G = G
        self.shape = G.shape

    def gram(self):
        return self._G.copy()


class _SparseFactor:
    """``M = B - u o^T`` for a CSR ``B`` (a sparse sketched factor), with the products and Gram
    matrices SketchPreconditioner needs, each in one sparse product (AffineOperator's generic
    sparse path spends more time in diagonal rescalings and rank-one temporaries than in the
    product itself: 60 ms against 5 ms here for a 1024 x 2000 factor)."""

    issparse = True

    def __init__(self, B, u=None, o=None):
        self.B = B.tocsr()
        self.u, self.o = u, o
        self.shape = B.shape
        self.dtype = np.dtype(np.float64)

    def matvec(self, V):
        out = np.asarray(self.B @ V, dtype=np.float64)
        if self.u is not None:
            out -= np.outer(self.u, self.o @ V) if V.ndim == 2 else self.u * (self.o @ V)
        return out

    def rmatvec(self, U):
        out = np.asarray(self.B.T @ U, dtype=np.float64)
        if self.u is not None:
            out -= np.outer(self.o, self.u @ U) if U.ndim == 2 else self.o * (self.u @ U)
        return out

    def scale_columns(self, c):
        c = np.asarray(c, dtype=np.float64)
        if np.all(c == 1.0):
            return self
        B = self.B.copy()
        B.data *= c[B.indices]
        return _SparseFactor(B, self.u, None if self.o is None else self.o * c)

    @staticmethod
    def _gram(A, a, b):
        """``(A - a b^T)^T (A - a b^T)`` for sparse A (rows x cols), dense a (rows), b (cols).

        The rank-two correction is applied in place by BLAS rank-one updates (no m x m
        temporaries).
        """
        G = np.asfortranarray((A.T @ A).toarray())
        if a is not None:
            q = np.asarray(A.T @ a, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
            G = sla.blas.dger(-1.0, q, b, a=G, overwrite_a=1)
            G = sla.blas.dger(-1.0, b, q, a=G, overwrite_a=1)
            G = sla.blas.dger(float(a @ a), b, b, a=G, overwrite_a=1)
        return G

    def gram(self):
        return self._gram(self.B, self.u, self.o)

    def outer_gram(self):
        return self._gram(self.B.T.tocsr(), self.o, self.u)


class _UnpenalizedSchur:
    """``H^{-1}`` for ``H = F^T F + diag(reg)`` whose zero entries of ``reg`` (the intercepts)
    are eliminated exactly by a Schur complement, the rest going through SketchPreconditioner.

    With ``F = [B, U]`` split into penalized columns ``B`` and free columns ``U`` and the thin
    SVD ``U = V diag(sigma) W^T`` (rank r; the multinomial intercepts' gauge direction is the
    null space of ``U``), the Schur complement on the penalized block is
    ``(P B)^T (P B) + diag(reg_pen)`` with ``P = I - V V^T``, and with ``T = V^T B``::

        a = diag(1/sigma) W^T g_free
        x = Schur^{-1} (g_pen - T^T a)
        y = W diag(1/sigma) (a - T x)

    solves ``H [x; y] = g`` (``y`` orthogonal to the null space of ``U``: multinomial
    intercepts stay centred). A zero regularization entry needs no jitter, whatever the
    path (Cholesky or Woodbury) of the penalized block. ``from_gram`` does the same from the
    exact Gram matrix ``F^T F`` (its free block ``U^T U = W diag(sigma^2) W^T``).
    """

    def __init__(self, pre, T, sigma, Wr, pen, free, size):
        self.pre, self.T, self.sigma, self.Wr = pre, T, sigma, Wr
        self.pen, self.free, self.size = pen, free, size

    @staticmethod
    def _rank(sigma, rtol=1e-10):
        """Numerical rank of singular values sorted in decreasing order."""
        if sigma.size == 0 or sigma[0] <= 0:
            return 0
        return int(np.sum(sigma > sigma[0] * rtol))

    @classmethod
    def from_factor(cls, B, U, reg_pen):
        """From the penalized columns ``B`` (dense or CSR) and the free columns ``U``."""
        n_pen, n_free = B.shape[1], U.shape[1]
        V, sigma, Wt = np.linalg.svd(U, full_matrices=False)
        r = cls._rank(sigma)
        V, sigma, Wr = V[:, :r], sigma[:r], Wt[:r].T
        T = np.asarray(B.T @ V, dtype=np.float64).T  # (r, n_pen)
        if r == 1 and sp.issparse(B):  # P B = B - v (B^T v)^T: a rank-one correction
            M = _SparseFactor(B, V[:, 0].copy(), T[0].copy())
        elif r == 1:
            M = AffineOperator(B, u=V[:, 0].copy(), offset=T[0].copy())
        else:
            Bd = B.toarray() if sp.issparse(B) else B
            M = AffineOperator(np.asarray(Bd, dtype=np.float64) - V @ T)
        pre = SketchPreconditioner(M, reg_pen)
        pen = np.arange(n_pen)
        return cls(pre, T, sigma, Wr, pen, n_pen + np.arange(n_free), n_pen + n_free)

    @classmethod
    def from_gram(cls, G, reg):
        pen, free = np.flatnonzero(reg > 0), np.flatnonzero(reg <= 0)
        A = G[np.ix_(pen, pen)]
        Bc = G[np.ix_(pen, free)]
        lam, Wf = np.linalg.eigh(G[np.ix_(free, free)])
        order = np.argsort(lam)[::-1]
        lam, Wf = np.maximum(lam[order], 0.0), Wf[:, order]
        sigma = np.sqrt(lam)
        # eigenvalues of a computed Gram matrix carry errors of about eps * max: the gauge
        # direction's is ~1e-14 relative, i.e. ~1e-7 for its square root
        r = cls._rank(sigma, rtol=1e-6)
        sigma, Wr = sigma[:r], Wf[:, :r]
        T = (Wr.T @ Bc.T) / sigma[:, None]
        A -= T.T @ T
        pre = SketchPreconditioner(_Gram(A), reg[pen])
        return cls(pre, T, sigma, Wr, pen, free, G.shape[0])

    def solve(self, g):
        out = np.zeros(self.size)
        a = (self.Wr.T @ g[self.free]) / self.sigma
        x = self.pre.solve(g[self.pen] - self.T.T @ a)
        out[self.pen] = x
        out[self.free] = self.Wr @ ((a - self.T @ x) / self.sigma)
        return out

    def effective_dimension(self):
        return self.pre.effective_dimension() + float(self.sigma.size)


class _Permuted:
    """``H^{-1}`` in the parameter layout, from one in the factor's column order ``order``
    (``order[j]`` = the parameter index of the factor's column j)."""

    def __init__(self, inner, order):
        self.inner, self.order = inner, order

    def solve(self, g):
        out = np.empty_like(g)
        out[self.order] = self.inner.solve(g[self.order])
        return out

    def effective_dimension(self):
        return self.inner.effective_dimension()


class _Jacobi:
    """``diag(H)^{-1}``: the preconditioner of the "no sketch" level of the adaptive rule
    (Newton-CG with a Jacobi preconditioner), for problems where a pass over the data is
    much cheaper than a sketch and the Hessian is well conditioned once its diagonal is
    scaled out (sparse data with heterogeneous feature scales)."""

    def __init__(self, diag):
        pos = diag[diag > 0]
        floor = 1e-12 * (float(pos.mean()) if pos.size else 1.0)
        self.diag = np.maximum(diag, floor)

    def solve(self, g):
        return g / self.diag

    def effective_dimension(self):
        return None


def _power_max(apply, size, rng, n_iter=20):
    """Largest eigenvalue of a symmetric PSD operator by power iteration (an estimate)."""
    v = rng.standard_normal(size)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(n_iter):
        w = apply(v)
        lam = float(np.linalg.norm(w))
        if not lam > 0 or not np.isfinite(lam):
            return 0.0
        v = w / lam
    return lam


def _inverse_factor(B, U):
    """``H_S^{-1}`` for ``H_S = [B, U]^T [B, U] + diag(1 on B's columns, 0 on U's)``, in the
    ordering (B's columns, then U's); ``U`` None means no free columns."""
    if U is None:
        return SketchPreconditioner(_SparseFactor(B) if sp.issparse(B) else AffineOperator(B),
                                    1.0)
    return _UnpenalizedSchur.from_factor(B, U, 1.0)


class _LiftedNullSpace:
    """``H^{-1}`` for the multinomial loss's exact Hessian (plus the penalty), factored with
    its null directions lifted (:func:`~skconvex.problems.logistic.lift_null_space`): the
    rounding errors along them exceed the penalty when a feature's scale is 1e6 or more."""

    def __init__(self, H, problem):
        self.k, self.p, self.d = problem.k, problem.p, problem.n_features
        lift_null_space(H, self.k, self.p, self.d)
        self.inner = _inverse_gram(H, problem.reg)

    def solve(self, g):
        return solve_lifted(self.inner.solve, g, self.k, self.p, self.d)

    def effective_dimension(self):
        return self.inner.effective_dimension()


def _inverse_gram(G, reg):
    """``H^{-1}`` for ``H = G + diag(reg)`` (exact Hessian), zeros of reg eliminated exactly."""
    if np.all(reg > 0):
        return SketchPreconditioner(_Gram(G), reg)
    return _UnpenalizedSchur.from_gram(G, reg)


def default_nnz_per_row(problem, m):
    """Nonzeros per row of the LESS embeddings when ``nnz_per_row=None``.

    The Newton-LESS theory takes ``s = d``, which makes the sketch as good as a Gaussian one
    whatever the leverage scores; its cost is ``k^2 m s`` random row reads, i.e. ``k^2 m d / n``
    passes over the data: more than the whole iteration whenever ``m d > n``. The default spends
    about a quarter of a pass (cost model below) on the row reads: more samples per sketch row
    cover more of the data (rare one-hot categories, unequal curvatures), and the cost stays a
    fraction of the iteration's. At least 1, at most ``d``.
    """
    d = problem.n_features
    nnz_row = problem.nnz / max(problem.n_samples, 1)
    k2m = problem.k * problem.k * max(m, 1)
    # the factor's format depends on s; the dense scatter is the cheaper weight, try it first
    s = _pass_units(problem) / (4.0 * _W_GATHER_DENSE * k2m * nnz_row)
    if problem.sparse_factor("less_uniform", m, max(1, int(s))):
        s = _pass_units(problem) / (4.0 * _W_GATHER_SPARSE * k2m * nnz_row)
    return int(max(1, min(d, s)))


def _pass_units(problem):
    """Cost of one pass (a product with X and one with X^T, and the pointwise loss terms).

    Sparse X: one sweep of its entries per class column. Dense X: below ``_GEMV_MAX_COLS``
    columns a GEMV per column, each reading X; from there one GEMM, which reads X once and
    is memory bound until its multiply-adds cost more than the reads (counting a read per
    class made a 10-class pass 4x too dear, and the exact Hessian was chosen where Newton-CG
    with the diagonal preconditioner was 8x faster)."""
    k, nnz = problem.k, problem.nnz
    if problem.issparse:
        products = 2.0 * _W_SPARSE * nnz * k
    elif k < _GEMV_MAX_COLS:
        products = 2.0 * nnz * k
    else:
        products = 2.0 * nnz * max(1.0, 2.0 * k * _W_BLAS3)
    return products + k * _W_POINTWISE * problem.n_samples


def _diag_units(problem):
    """Cost of the diagonal of the Hessian (a product with the squared entries of X)."""
    w = _W_SPARSE if problem.issparse else 3.0
    return problem.k * (w * problem.nnz + _W_POINTWISE * problem.n_samples)


def _build_flops(problem, kind, m, s):
    """Cost of sketching the Hessian's factor to m rows (per class block) and factoring
    ``H_S`` (Cholesky or Woodbury), in the units above."""
    k, p, d = problem.k, problem.p, problem.n_features
    n = problem.n_samples
    nnz_row = problem.nnz / max(n, 1)
    rows, cols = k * m, k * p
    small, big = min(rows, cols), max(rows, cols)
    if kind in _LESS_KINDS:
        nnz_b = k * k * m * s * nnz_row
    elif kind == "sjlt":
        nnz_b = k * k * min(problem.nnz * (s or 1), m * d)
    else:
        nnz_b = k * k * m * d
    sparse_b = problem.sparse_factor(kind, m, s or 1)
    if kind in _LESS_KINDS:
        gather = (_W_GATHER_SPARSE if sparse_b else _W_GATHER_DENSE) * nnz_b + \
            _W_LESS_PER_SAMPLE * k * n
    elif kind in ("gaussian", "rademacher"):  # a GEMM with m rows, and m n random numbers
        gather = k * k * (2.0 * _W_BLAS3 * m * problem.nnz + 20.0 * m * n)
    else:  # sjlt, srht: a pass or two per application whatever m
        gather = 2.0 * k * k * (_W_SPARSE if problem.issparse else 1.0) * problem.nnz
    if sparse_b:
        gram = _W_SPARSE_PRODUCT * nnz_b * nnz_b / big + small * small
    else:
        gram = _W_BLAS3 * small * small * big + (0.0 if problem.issparse else rows * d)
    return gather + gram + _W_BLAS3 * small**3 / 3.0


def _exact_flops(problem):
    """Cost of forming and factoring the exact Hessian, in the units above."""
    k, p = problem.k, problem.p
    pairs = k * (k + 1) / 2.0
    if problem.issparse:
        indptr = problem.X.indptr
        sq = float(np.sum(np.diff(indptr).astype(np.float64) ** 2))
        if problem.n_features <= SPARSE_GRAM_DENSE_MAX_COLS and problem.X.format == "csr":
            gram = pairs * (0.5 * _W_ROW_GRAM * sq + _W_SPARSE * problem.nnz + p * p)
        else:
            gram = pairs * (_W_SPARSE_PRODUCT * sq + 2.0 * _W_SPARSE * problem.nnz + p * p)
    else:
        gram = pairs * (_W_BLAS3 * problem.n_samples * p * p + 2.0 * problem.nnz)
    return gram + _W_BLAS3 * (k * p) ** 3 / 3.0


_JACOBI_MAX_INNER = 50  # CG steps per Newton iteration with the diagonal preconditioner
# Model of the decrement ratio of an exact Newton step in the quadratic regime (at least two
# decades per iteration), for the choice between sketching and the exact Hessian.
_EXACT_RATIO = 0.01


def _lambda_ratio(c):
    """Model of the per-iteration decrease of the decrement with ``c`` sketch rows per unit of
    effective dimension (Gaussian-like embeddings: about ``d_eff / (m - d_eff)``; measured here
    with LESS-uniform: 0.5-0.6 at c = 4, 0.05-0.1 at c = 16)."""
    return min(0.9, 2.0 / c)


def _inner_steps(cost, m, exact, max_inner):
    """Preconditioned CG steps per Newton iteration: 1 (the plain Newton sketch) while a pass
    over the data costs at least as much as a sketch; else about one step per pass the sketch
    costs (a pass is then the cheaper way to improve the direction), at most ``max_inner``."""
    if exact or max_inner <= 1:
        return 1
    return int(min(max_inner, max(1, cost.flops(m) // cost.t_pass)))


def _direction(problem, pre, G, st, n_inner, eta, info=None):
    """The Newton direction: ``-H_S^{-1} g`` refined by up to ``n_inner - 1`` steps of conjugate
    gradient on ``H D = -g`` preconditioned by ``H_S`` (exact Hessian products, one pass each),
    stopped when the preconditioned residual falls by ``eta`` (inexact Newton forcing term).
    The first CG step is the Newton-sketch direction rescaled to the minimizer of the quadratic
    model along it. ``info`` (a dict), when given, receives ``steps`` (CG steps taken) and
    ``ratio`` (the preconditioned residual's squared norm over its first value)."""
    shape = problem.shape
    z = -pre.solve(G.ravel()).reshape(shape)
    if n_inner <= 1:
        return z
    r = -G
    D = np.zeros(shape)
    p = z
    delta = float(np.sum(r * z))
    delta0 = delta
    steps, ratio = 0, 1.0
    for _ in range(n_inner):
        Hp, _ = problem.hessp(p, st)
        steps += 1
        pHp = float(np.sum(p * Hp))
        if not (pHp > 0 and delta > 0):
            ratio = 0.0 if delta <= 0 else ratio
            break
        alpha = delta / pHp
        D += alpha * p
        r = r - alpha * Hp
        z = pre.solve(r.ravel()).reshape(shape)
        delta_new = float(np.sum(r * z))
        ratio = delta_new / delta0 if delta0 > 0 else 0.0
        if delta_new <= eta * eta * delta0:
            break
        p = z + (delta_new / delta) * p
        delta = delta_new
    if info is not None:
        info.update(steps=steps, ratio=ratio)
    return D


def solve_newton_sketch(problem, *, sketch="less_uniform", sketch_size="adaptive",
                        nnz_per_row=None, tol=1e-6, max_iter=100, warm_start=None,
                        random_state=None, verbose=0, rho=0.5, max_inner=10):
    """Minimize a :class:`~skconvex.problems.LogisticProblem` by the (adaptive) Newton sketch.

    Parameters
    ----------
    problem : LogisticProblem
    sketch : {"less_uniform", "less", "sjlt", "srht", "gaussian", "rademacher", "exact"}
        The embedding of the Hessian's square-root factor; "exact" is Newton's method.
        "less" draws rows with probability proportional to the squared norms of the rows of
        the factor (``h_i ||x_i||^2``, O(n) per iteration), a cheap proxy of their leverage.
    sketch_size : "adaptive" or int
        Rows of the sketch (per class block in the multinomial case).
    nnz_per_row : int or None
        Nonzeros per row of the LESS embeddings (default :func:`default_nnz_per_row`) or per
        column of sjlt (default 1).
    tol : float
        Stop when ``sqrt(lambda / theta^T H theta) <= tol`` (see the module docstring).
    max_iter : int
    warm_start : ndarray of shape ``problem.shape`` or None
    random_state : int, RandomState or None
    verbose : int
    rho : float
        A step in the quadratic regime whose decrement ratio exceeds ``rho`` doubles the
        sketch size.

    Returns
    -------
    FitResult
        ``w`` of shape ``problem.shape``; ``history`` has one record per iteration
        (``objective``, ``measure``, ``step``, ``sketch_size``, ``elapsed``); ``info`` holds
        ``sketch_size`` (final, None for exact Newton), ``n_resketch`` (doublings),
        ``effective_dim`` (estimated from the first sketch), ``n_passes`` (passes over X:
        products with X or X^T count one half; the sketches are not counted) and ``exact``
        (whether the last iterations used the exact Hessian).
    """
    if sketch != "exact" and sketch not in SKETCH_KINDS:
        raise ValueError(f"sketch must be 'exact' or one of {SKETCH_KINDS}; got {sketch!r}")
    rng = check_random_state(random_state)
    n = problem.n_samples
    tol_floor = 10.0 * float(np.finfo(problem.dtype).eps)
    tol = max(float(tol), tol_floor)
    log = ProgressLogger(f"newton-{'exact' if sketch == 'exact' else sketch}", verbose, tol=tol)
    problem.n_passes = 0.0

    exact_from = max(1, int(math.ceil(n / 4)))  # sketch sizes from here on: exact Hessian
    adaptive = sketch != "exact" and sketch_size == "adaptive"
    if sketch == "exact":
        m = None
    elif adaptive:
        m = min(exact_from, _MIN_SKETCH)
    else:
        m = int(sketch_size)
    rule = AdaptiveSketchSize(m or 1, exact_from, rho=rho, adaptive=adaptive)

    def use_exact():
        return sketch == "exact" or (adaptive and rule.m >= exact_from) or \
            (not adaptive and rule.m >= n)

    # jacobi: no sketch (Newton-CG with the diagonal preconditioner); no_jacobi: ruled out
    # after it fell short; short: consecutive CG runs short of their forcing term
    mode = {"jacobi": False, "factor": None, "no_jacobi": False, "short": 0,
            "recalibrate": False}

    def current_m():
        return 0 if mode["jacobi"] else (None if use_exact() else int(rule.m))

    def build(st):
        if mode["jacobi"]:
            return _Jacobi(problem.hess_diag(st) + problem.reg), None
        mode["factor"] = None
        if use_exact():
            H = problem.hessian(st)
            if getattr(problem, "multinomial", False):
                return _LiftedNullSpace(H, problem), None
            return _inverse_gram(H, problem.reg), None
        mm = rule.m
        s = nnz_per_row
        probabilities = None
        if sketch in _LESS_KINDS and s is None:
            s = default_nnz_per_row(problem, mm)
        if sketch == "less":
            imp = problem.row_importance(st)
            total = float(imp.sum())
            probabilities = imp / total if total > 0 and np.isfinite(total) else None
            if probabilities is None:
                probabilities = np.full(n, 1.0 / n)
        if sketch == "sjlt" and s is not None:
            s = min(s, mm)
        S = Sketch(n, mm, sketch, nnz_per_row=s, probabilities=probabilities,
                   random_state=int(rng.randint(np.iinfo(np.int32).max)))
        dense_kind = sketch in ("gaussian", "rademacher")
        with small_kernel(2.0 * problem.k**2 * mm * problem.nnz if dense_kind else 0.0):
            B, U = problem.sketched_factor(S, st)
        mode["factor"] = (B, U)
        return _Permuted(_inverse_factor(B, U), problem.factor_order), s

    # -- starting point ------------------------------------------------------------------
    # the best intercept-only model (log-odds of the weighted class frequencies), as
    # scikit-learn's solvers start: on unbalanced classes it saves the first iterations
    W = problem.zeros()
    W[:, problem.n_features:] = problem.intercept_only()[:, None]
    Z = np.zeros((n, problem.k)) + problem.intercept(W)
    st = problem.state(Z)
    F = st["loss"] + problem.penalty(W)
    if warm_start is not None:
        # a warm start worse than that model is dropped: far from the optimum (features in
        # new units, margins 100x too large) the unpenalized intercept has almost no
        # curvature and the line search crept by steps of 2^-18 (12x the optimum after 100
        # iterations, where a cold fit takes 13)
        W_w = np.array(warm_start, dtype=np.float64).reshape(problem.shape)
        if getattr(problem, "multinomial", False):
            drop_null_component(W_w, problem.n_features)
        Z_w = problem.margins(W_w) if np.any(W_w) else np.zeros((n, problem.k))
        st_w = problem.state(Z_w)
        F_w = st_w["loss"] + problem.penalty(W_w)
        if F_w <= F:
            W, Z, st, F = W_w, Z_w, st_w, F_w
    G = problem.grad_from_residual(W, st["R"])
    cost = _Cost(problem, sketch, nnz_per_row)

    history = []
    converged = False
    it = 0
    lam_prev, local_prev = None, False
    t_prev = 1.0
    effective_dim = None
    s_used = None
    stalled = False
    measure_prev = math.inf
    while it < max_iter:
        it += 1
        # -- approximate Hessian -----------------------------------------------------------
        D = None
        probe = None
        if it == 1 and adaptive and not use_exact():
            probe = _early_probe(problem, G, st, cost, rule)
        if probe is not None and probe[0] < min(_sketch_lower_bound(cost, rule),
                                                _exact_per_efold(problem, cost)):
            # Newton-CG with the diagonal preconditioner beats any sketch: draw none
            _use_jacobi(mode, rule, log)
            pre, D = probe[1], probe[2]
        else:
            pre, s_used = build(st)
        calibrate = it == 1 or mode["recalibrate"]
        mode["recalibrate"] = False
        if calibrate and not use_exact() and not mode["jacobi"]:
            effective_dim = pre.effective_dimension()
            if adaptive:
                pre, s_used, effective_dim, D = _calibrate(pre, s_used, build, st, rule,
                                                           problem, log, use_exact, cost,
                                                           mode, rng, G, probe)
        if mode["jacobi"]:
            n_inner = _JACOBI_MAX_INNER
        else:
            n_inner = _inner_steps(cost, rule.m, use_exact(), max_inner)
        if D is None:
            eta = min(0.1, measure_prev)
            cg = {}
            D = _direction(problem, pre, G, st, n_inner, eta=eta, info=cg)
            short = cg.get("steps", 0) >= n_inner and cg.get("ratio", 0.0) > eta * eta
        else:
            short = False
        if getattr(problem, "multinomial", False):
            D = drop_null_component(np.array(D, dtype=np.float64), problem.n_features)
        lam = -float(np.sum(G * D))
        if not np.isfinite(lam):
            raise FloatingPointError("non-finite Newton decrement; the problem may be badly "
                                     "scaled")
        hn2 = problem.quad_form(W, Z, st)
        measure = math.sqrt(max(lam, 0.0) / hn2) if hn2 > 0 else math.inf
        if mode["jacobi"]:
            # the diagonal method was chosen on the first Newton system; where CG then runs
            # out of steps short of its forcing term and the decrement falls by less than
            # half, twice in a row (the Hessian's conditioning grew near the optimum: linear
            # convergence, 100 iterations where sketches take 11), the solver sketches again
            slow = short and measure > 0.5 * measure_prev
            mode["short"] = mode["short"] + 1 if slow else 0
            if mode["short"] >= 2:
                mode["jacobi"], mode["no_jacobi"], mode["recalibrate"] = False, True, True
                log.message("Newton-CG with the diagonal preconditioner falls short of its "
                            "forcing term and the decrement stalls: back to sketching")
        if lam <= 0:  # zero gradient: optimal
            converged = True
            _record(history, log, it, F, measure, 0.0, current_m(), problem, G)
            break

        # -- one fused pass and the line search -------------------------------------------
        steps = [1.0] if t_prev >= 1.0 else [1.0, t_prev]
        U, losses, Gs = problem.fused_pass(W, Z, D, steps)
        slope = -lam
        t = None
        for j, tj in enumerate(steps):
            # Armijo on the values, or its sufficient condition from the convexity of the
            # objective along the ray, phi(t) <= phi(0) + t phi'(t): a derivative test that
            # stays exact where differences of objective values are lost to rounding. That
            # test fails at the minimizer along the ray (phi'(t) = 0), where a full Newton
            # step from near the optimum lands; there, with values at the objective's
            # rounding level, the approximate Wolfe test (Hager & Zhang) decides: the
            # trapezoid estimate t (phi'(0) + phi'(t)) / 2 of the decrease, exact for a
            # quadratic, meets Armijo (a warm start 1e-8 off took 58 steps of 1/16 by the
            # values' noise)
            slope_t = float(np.sum(Gs[j] * D))
            if losses[j] <= F + _ALPHA * tj * slope or slope_t <= _ALPHA * slope or (
                    losses[j] <= F + _ROUNDING * abs(F)
                    and slope_t <= (1.0 - 2.0 * _ALPHA) * -slope):
                t, F_new, G_new = tj, float(losses[j]), Gs[j]
                break
        if t is None:
            tj = min(steps) * _BETA
            while tj >= _T_MIN:
                Fj = problem.ray_objective(W, Z, D, U, tj)
                if Fj <= F + _ALPHA * tj * slope:
                    t, F_new, G_new = tj, Fj, None
                    break
                tj *= _BETA
        max_u = float(np.max(np.abs(U))) if U.size else 0.0
        quadratic = max_u <= _LOCAL_MARGIN
        if t is None:
            # no decrease found: at the rounding level of the objective, or a bad sketch
            if lam <= 1e-10 * max(abs(F), np.finfo(float).tiny) or use_exact():
                stalled = True
                converged = lam <= 1e-10 * max(abs(F), np.finfo(float).tiny)
                _record(history, log, it, F, measure, 0.0, current_m(), problem, G)
                if converged:
                    log.message("line search at the rounding level of the objective: stop")
                break
            if adaptive:
                rule.double()
                log.message(f"line search failed: sketch size -> {rule.m}")
            else:
                # a fixed sketch that gives no descent direction: fall back to exact Newton
                rule.m = n
            t_prev = 1.0
            local_prev = False
            continue

        st_old = st
        W = W + t * D
        Z = Z + t * U
        st = problem.state(Z)
        F = F_new
        G = G_new if G_new is not None else problem.grad_from_residual(W, st["R"])
        q = problem.quad_form(D, U, st_old) / lam
        _record(history, log, it, F, measure, t, current_m(), problem, G, curvature=q)
        if measure <= tol:
            converged = True
            break
        measure_prev = measure

        # -- adaptive sketch size ----------------------------------------------------------
        local = t >= 1.0 and quadratic
        if adaptive and not use_exact() and not mode["jacobi"]:
            double = False
            why = ""
            rounding = lam <= 1e-11 * abs(F)  # decrease below any meaningful accuracy
            if rounding:
                pass
            elif t < 1.0 and quadratic:
                double, why = True, f"backtracking (step {t:.3g}) in the quadratic regime"
            elif local and local_prev and lam_prev:
                ratio = lam / lam_prev
                it_cost = cost.t_pass + cost.flops(rule.m)
                it_cost2 = cost.t_pass + cost.flops(2 * rule.m)
                lam_next = ratio * lam  # predicted decrement at the next iterate
                if rule.should_double(ratio, delta=lam_next / hn2 if hn2 > 0 else 1.0,
                                      target=tol * tol, iter_cost=it_cost,
                                      iter_cost_doubled=it_cost2, build_cost=0.0):
                    double, why = True, f"decrement ratio {ratio:.3g}"
            if double:
                rule.double()
                log.message(f"{why}: sketch size -> "
                            f"{rule.m if not use_exact() else 'exact Hessian'}")
        lam_prev, local_prev = lam, local
        t_prev = t

    if not converged and not stalled and it >= max_iter:
        converged = False
    gap = problem.duality_gap(G)
    info = {
        "sketch_size": 0 if mode["jacobi"] else
        (None if (sketch == "exact" or use_exact()) else int(rule.m)),
        "n_resketch": int(rule.n_resketch),
        "effective_dim": effective_dim,
        "n_passes": float(problem.n_passes),
        "exact": bool(use_exact()),
        "nnz_per_row": s_used,
    }
    dual = None if gap is None else F - gap
    return FitResult(W, float(F), dual, max(1, it), bool(converged), history, info, gap=gap)


def _calibrate(pre, s_used, build, st, rule, problem, log, use_exact, cost, mode, rng, G,
               probe=None):
    """First iteration: choose the approximate Hessian from the estimated effective dimension.

    While the estimate exceeds half the sketch's rows it is saturated by the sketch itself:
    double and re-estimate. Then compare, in predicted cost per e-fold of the decrement (the
    deterministic cost model above): sketches of ``m = c d_eff`` rows (per class block), ``c``
    in 4, 8, 16, 32, at ``(pass + build(m)) / log(1 / lambda_ratio(c))``; the exact Hessian
    (quadratic convergence); and Newton-CG with the diagonal preconditioner
    (:func:`_jacobi_per_decade`).

    Before a doubling that would cost more than :data:`_JACOBI_MAX_INNER` passes, Newton-CG
    with the diagonal preconditioner is tried on the first Newton system (:func:`_jacobi_probe`,
    exact Hessian products, no sketch): when its measured cost beats the cheapest sketch the
    saturated estimate allows (a lower bound: the effective dimension is at least the
    estimate) and the exact Hessian, it is chosen at once, its direction kept for the first
    step. (Sparse data with a cheap pass: 50,000 x 1,000, 10 classes, had spent 68 s
    doubling sketches to 2,048 rows before choosing no sketch, then solved in 0.6 s.)

    ``probe`` is the probe's result when :func:`_early_probe` ran it before the first
    sketch. Returns ``(pre, s_used, d_eff, D)``, ``D`` the first direction when the probe
    found it.
    """
    k = problem.k
    d_eff = pre.effective_dimension()
    exact = _exact_per_efold(problem, cost)

    def cheapest_sketch(d):
        best, best_m = math.inf, rule.m
        for c in (4.0, 8.0, 16.0, 32.0):
            mm = int(min(rule.max_size, max(_MIN_SKETCH, math.ceil(c * d / k))))
            per_efold = (cost.t_pass + cost.flops(mm)) / \
                math.log(1.0 / _lambda_ratio(max(1.0, k * mm / d)))
            if per_efold < best:
                best, best_m = per_efold, mm
        return best, best_m

    while not use_exact() and np.isfinite(d_eff) and d_eff > 0.5 * k * rule.m \
            and rule.m < problem.p * _SKETCH_PER_DEFF:
        if probe is None and not mode["no_jacobi"] and _probe_pays(problem, cost, 2 * rule.m):
            probe = _jacobi_probe(problem, G, st, cost)
            if probe[0] < min(cheapest_sketch(d_eff)[0], exact):
                _use_jacobi(mode, rule, log, d_eff)
                return probe[1], None, d_eff, probe[2]
        rule.double()
        log.message(f"effective dimension estimate {d_eff:.0f} saturated: sketch size -> "
                    f"{rule.m if not use_exact() else 'exact Hessian'}")
        pre, s_used = build(st)
        if use_exact():
            return pre, s_used, d_eff, None
        d_eff = pre.effective_dimension()
    if np.isfinite(d_eff) and d_eff > 0:
        m_cal = rule.m
        best, best_m = cheapest_sketch(d_eff)
        # one iteration of the method the model would choose; a probe cheaper than that
        # measures the diagonal method instead of estimating it from the sketch (on 20,000 x
        # 200 with 5 classes the estimate said 40 passes per e-fold, and the exact Hessian
        # was chosen: 4.7 s against 0.4 s for lbfgs)
        iteration = cost.t_pass + (_exact_flops(problem) if exact < best else cost.flops(best_m))
        if mode["no_jacobi"]:
            jacobi = math.inf  # it fell short on this problem (the solve loop)
        else:
            if probe is None and \
                    iteration > _JACOBI_MAX_INNER * cost.t_pass + _diag_units(problem):
                probe = _jacobi_probe(problem, G, st, cost)
            jacobi = probe[0] if probe is not None else \
                _jacobi_per_decade(problem, pre, mode["factor"], st, cost, rng)
        if jacobi < min(best, exact):
            _use_jacobi(mode, rule, log, d_eff)
            if probe is not None:
                return probe[1], None, d_eff, probe[2]
            pre, s_used = build(st)
            return pre, s_used, d_eff, None
        if exact < best:
            # the exact Hessian is about as cheap as a good sketch (small or very sparse
            # problems): Newton's method converges quadratically, use it
            rule.m = rule.max_size
            log.message(f"effective dimension estimate {d_eff:.0f}: the exact Hessian costs "
                        "less per decade of the decrement than a sketch: Newton's method")
            pre, s_used = build(st)
        elif not (0.75 * best_m <= m_cal <= 1.5 * best_m):
            rule.m = best_m
            log.message(f"effective dimension estimate {d_eff:.0f}: sketch size -> "
                        f"{rule.m if not use_exact() else 'exact Hessian'}")
            pre, s_used = build(st)
    rule.n_resketch = 0
    return pre, s_used, d_eff, None


def _use_jacobi(mode, rule, log, d_eff=None):
    """Switch the solve to Newton-CG with the diagonal preconditioner (no sketch), saying so."""
    mode["jacobi"] = True
    rule.n_resketch = 0
    head = "" if d_eff is None else f"effective dimension estimate {d_eff:.0f}: "
    log.message(f"{head}a pass costs so little against a sketch, and the Hessian scaled by "
                "its diagonal is so well conditioned, that Newton-CG with the diagonal "
                "preconditioner is predicted faster: no sketch")


def _exact_per_efold(problem, cost):
    """Predicted cost per e-fold of the decrement of Newton's method (exact Hessian)."""
    return (cost.t_pass + _exact_flops(problem)) / math.log(1.0 / _EXACT_RATIO)


def _sketch_lower_bound(cost, rule):
    """A lower bound on the cost per e-fold of the decrement of any sketch the rule can
    choose: at least ``rule.m`` rows, at the model's best rate (32 rows per unit of effective
    dimension)."""
    return (cost.t_pass + cost.flops(rule.m)) / math.log(1.0 / _lambda_ratio(32.0))


def _probe_pays(problem, cost, m):
    """Whether the diagonal probe (at most :data:`_JACOBI_MAX_INNER` passes) costs less than
    a sketch of ``m`` rows."""
    return cost.flops(m) > _JACOBI_MAX_INNER * cost.t_pass + _diag_units(problem)


def _early_probe(problem, G, st, cost, rule):
    """The diagonal probe before the first sketch, when it costs less than that sketch."""
    if not _probe_pays(problem, cost, rule.m):
        return None
    return _jacobi_probe(problem, G, st, cost)


def _jacobi_probe(problem, G, st, cost):
    """Newton-CG with the diagonal preconditioner on the first Newton system, as the solver
    would run it (at most :data:`_JACOBI_MAX_INNER` steps, forcing term 0.1), and its cost per
    e-fold of the decrement from the measured residual decrease, in the model of
    :func:`_jacobi_per_decade`. Returns ``(cost, preconditioner, direction)``."""
    diag = problem.hess_diag(st) + problem.reg
    if not np.all(diag > 0):
        return math.inf, None, None
    pre = _Jacobi(diag)
    info = {}
    D = _direction(problem, pre, G, st, _JACOBI_MAX_INNER, eta=0.1, info=info)
    steps, ratio = info.get("steps", 0), info.get("ratio", 1.0)
    if steps == 0 or not ratio < 1.0:
        return math.inf, pre, D
    # e-folds of the residual's norm per CG step; one e-fold of the decrement is half one
    efolds = 0.5 * math.log(1.0 / ratio) / steps if ratio > 0 else math.inf
    per_efold = 0.5 / efolds if efolds > 0 else math.inf
    return (per_efold * cost.t_pass +
            (_diag_units(problem) + cost.t_pass) / (2.0 * math.log(10.0)), pre, D)


def _jacobi_per_decade(problem, pre, factor, st, cost, rng):
    """Predicted time per e-fold of the decrement of Newton-CG with the diagonal
    preconditioner (the unit of the sketch candidates of :func:`_calibrate`).

    The condition number of ``D^{-1/2} H D^{-1/2}`` (``D`` the diagonal of ``H``) is estimated
    on the sketched Hessian (power iterations with ``H_S`` and ``H_S^{-1}``, no pass over the
    data); CG then reduces the error by ``(sqrt(k) - 1) / (sqrt(k) + 1)`` per step, one pass
    each, plus a pass for the diagonal and one for the line search per Newton iteration
    (about two decades of the decrement each).
    """
    if factor is None:
        return math.inf
    diag = problem.hess_diag(st) + problem.reg
    t_diag = _diag_units(problem)
    if not np.all(diag > 0):
        return math.inf
    r = 1.0 / np.sqrt(diag)
    B, U = factor
    size = diag.shape[0]
    lam_max = _power_max(lambda v: r * problem.factor_matvec(B, U, r * v), size, rng)
    inv_max = _power_max(lambda v: np.sqrt(diag) * pre.solve(np.sqrt(diag) * v), size, rng)
    kappa = max(1.0, lam_max * inv_max)
    rate = (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)
    if rate <= 0:
        rate = 1e-3
    # per e-fold of the decrement (the unit of the sketch candidates): half an e-fold of the
    # error, and about 2 decades (4.6 e-folds) per Newton iteration for its overhead
    steps = 0.5 / math.log(1.0 / rate)
    return steps * cost.t_pass + (t_diag + cost.t_pass) / (2.0 * math.log(10.0))


class _Cost:
    """The cost model of the current solve: ``t_pass`` (a pass) and ``flops(m)`` (a sketch
    at size m), in the units of the weights above."""

    def __init__(self, problem, kind, nnz_per_row):
        self.problem, self.kind, self.nnz_per_row = problem, kind, nnz_per_row
        self.t_pass = _pass_units(problem)

    def s(self, m):
        if self.kind in _LESS_KINDS and self.nnz_per_row is None:
            return default_nnz_per_row(self.problem, m)
        return self.nnz_per_row or 1

    def flops(self, m):
        return _build_flops(self.problem, self.kind, m, self.s(m))


def _record(history, log, it, F, measure, step, m, problem, G, curvature=None):
    """One iteration's record; ``m`` the sketch size, None for the exact Hessian, 0 for the
    diagonal preconditioner (no sketch)."""
    rec = {"iter": it, "objective": float(F), "measure": float(measure), "step": float(step),
           "sketch_size": m, "n_passes": float(problem.n_passes), "elapsed": log.elapsed}
    if curvature is not None:
        rec["curvature_ratio"] = float(curvature)
    history.append(rec)
    gap = problem.duality_gap(G) if log.verbose else None
    log.iteration(it, objective=F, measure=measure, gap=gap, step=step,
                  m="exact" if m is None else ("none" if m == 0 else m))
