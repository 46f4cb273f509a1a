"""SketchedRidge: ridge regression by adaptive sketch-preconditioned solvers."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import MultiOutputMixin, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex.base import ConvexEstimator
from skconvex.problems import RidgeProblem
from skconvex.sketching import SKETCH_KINDS
from skconvex.solvers import solve_cvxpy, solve_direct, solve_ihs, solve_pcg

# Below this many rows on the short side, forming and factoring the Gram matrix (BLAS-3) costs
# less than the ~20 memory-bound passes of a sketch-preconditioned solver.
_DIRECT_MAX_SIDE = 700
# Dense X with many targets: PCG's passes are products with k columns, the Gram is formed
# once whatever k. "direct" from one target per this many rows of the short side (measured:
# 40,000 x 1,000, d_eff 100: PCG 0.65 / 1.76 / 4.4 / 9.7-14 s at 1 / 10 / 50 / 200 targets,
# direct 1.6 s at 50 and 2.4-3.6 s at 200), up to _DIRECT_MANY_TARGETS_MAX_SIDE rows
_DIRECT_ROWS_PER_TARGET = 100
_DIRECT_MANY_TARGETS_MAX_SIDE = 10_000


class SketchedRidge(MultiOutputMixin, RegressorMixin, ConvexEstimator):
    """Ridge regression solved by adaptive sketch-preconditioned conjugate gradient.

    Minimizes::

        1/2 ||y - X w - b||^2 + 1/2 * alpha * ||w||^2

    (weighted by ``sample_weight`` when given): half of the objective of
    :class:`sklearn.linear_model.Ridge` with the same ``alpha``, so the solution is the same
    and coefficients are comparable one to one (``objective_`` is half of sklearn's value).
    On large problems the default solver is conjugate gradient preconditioned with
    ``H_S = (S A)^T (S A) + alpha I``, where ``S`` is a randomized sketch whose size starts
    small and doubles only while iterations fail a progress test (Lacotte & Pilanci,
    arXiv:2104.14101): the final sketch size tracks the effective dimension
    ``d_eff = tr(A^T A (A^T A + alpha I)^{-1})`` rather than the number of features. The
    preconditioner is applied by Cholesky when the sketch has at least as many rows as
    features and by the Woodbury identity otherwise; when ``n_samples < n_features`` the dual
    (kernel) system is solved instead.

    Parameters
    ----------
    alpha : float, default=1.0
        L2 regularization strength (>= 0). ``alpha=0`` is ordinary least squares and is solved
        directly.
    fit_intercept : bool, default=True
        Whether to fit an unpenalized intercept. Centring is implicit: ``X`` is never copied
        or densified, also when sparse.
    solver : {"auto", "pcg", "ihs", "direct", "cvxpy"}, default="auto"
        - "pcg": sketch-preconditioned conjugate gradient (adaptive sketch size);
        - "ihs": iterative Hessian sketch (adaptive sketch size);
        - "direct": Cholesky factorization of the Gram (or kernel) matrix, the reference;
        - "cvxpy": the same program in cvxpy with Clarabel (small problems, reference);
        - "auto": "direct" when the shorter side of ``X`` has fewer than 700 entries,
          ``alpha == 0``, or ``X`` is dense with at least one target per 100 entries of
          its shorter side (at most 10,000: PCG's products grow with the number of targets,
          the Gram matrix does not); else "pcg".
    sketch : {"gaussian", "rademacher", "srht", "sjlt", "less_uniform", "less"}, default="sjlt"
        The random embedding of the preconditioner (see :func:`skconvex.sketching.sketch`).
        The sparse JL transform costs about one pass over the data.
    sketch_size : "adaptive" or int, default="adaptive"
        Rows of the sketch. "adaptive" starts near 512 and doubles when an iteration fails the
        progress test; an int fixes the size (it must not exceed the number of samples, or
        of features when the dual system is solved).
    tol : float, default=1e-8
        Stop when the preconditioned residual ``sqrt(r^T H_S^{-1} r / b^T H_S^{-1} b)`` (a
        relative error in the Hessian norm) falls below ``tol``.
    max_iter : int, default=100
        Maximum number of iterations of the iterative solvers.
    random_state : int, RandomState instance or None, default=None
        Seed of the sketches.
    verbose : int, default=0
        Print one line per iteration (convergence measure, sketch size, elapsed time).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Weight vector(s), in the dtype of ``X`` (float32 is kept).
    intercept_ : float or ndarray of shape (n_targets,)
        Independent term; 0.0 when ``fit_intercept=False``.
    n_iter_ : int
        Iterations of the solver (1 for "direct").
    objective_ : float
        Value of the objective at the solution (summed over targets).
    duality_gap_ : float or None
        Primal minus dual objective at the solution, computed as ``||grad||^2 / (2 alpha)``
        (no cancellation): a certificate of accuracy, ``objective_ - duality_gap_`` is a
        lower bound on the optimum. None when ``alpha == 0``.
    sketch_size_ : int or None
        Final number of rows of the sketch (None for "direct" and "cvxpy").
    effective_dim_ : float or None
        Estimate of the effective dimension ``d_eff`` from the final sketch (exact for
        "direct").
    n_passes_ : float or None
        Passes over the data (one pass = one product with ``X`` and one with ``X.T``).
    fit_time_ : float
        Seconds spent in ``fit``.
    solver_ : str
        Solver actually used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only when ``X`` has string feature names).

    See Also
    --------
    sklearn.linear_model.Ridge : the same objective solved by scikit-learn.

    References
    ----------
    J. Lacotte and M. Pilanci, "Adaptive and oblivious randomized subspace methods for
    high-dimensional optimization: sharp analysis and lower bounds", arXiv:2104.14101.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import SketchedRidge
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(5000, 800)
    >>> y = X @ rng.randn(800) + 0.1 * rng.randn(5000)
    >>> reg = SketchedRidge(alpha=10.0, solver="pcg", random_state=0).fit(X, y)
    >>> reg.solver_, reg.n_iter_ < 100
    ('pcg', True)
    >>> from sklearn.linear_model import Ridge
    >>> ref = Ridge(alpha=10.0, solver="cholesky").fit(X, y)
    >>> bool(np.allclose(reg.coef_, ref.coef_, rtol=1e-5, atol=1e-7))
    True
    """

    _solvers = {"pcg": solve_pcg, "ihs": solve_ihs, "direct": solve_direct,
                "cvxpy": solve_cvxpy}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", *_solvers})],
        "sketch": [StrOptions(set(SKETCH_KINDS))],
        "sketch_size": [StrOptions({"adaptive"}), Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, alpha=1.0, *, fit_intercept=True, solver="auto", sketch="sjlt",
                 sketch_size="adaptive", tol=1e-8, max_iter=100, random_state=None,
                 verbose=0):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.sketch = sketch
        self.sketch_size = sketch_size
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _make_problem(self, X, y, sample_weight=None):
        if type(X).__module__.startswith("dask."):
            # a row-chunked dask array: passes over X are map-reduce on its blocks
            from skconvex.distributed._fit import ridge_problem

            return ridge_problem(self, X, y, sample_weight)
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True, ensure_min_samples=2)
        if X.dtype == np.float32:
            # products are kept in float32: a Gram entry must not overflow (it did silently,
            # to a model of zeros, for entries near 1e19)
            big = float(np.max(np.abs(X.data if sp.issparse(X) else X), initial=0.0))
            if big * big * X.shape[0] > np.finfo(np.float32).max:
                raise ValueError(f"X is float32 with entries up to {big:.2e}: its products "
                                 f"(X^T X) overflow float32; pass X as float64 or rescale it")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        problem = RidgeProblem(X, y, self.alpha, sample_weight=sample_weight,
                               fit_intercept=self.fit_intercept)
        if isinstance(self.sketch_size, Integral):
            long_side = max(X.shape)
            if self.sketch_size > long_side:
                raise ValueError(
                    f"sketch_size={self.sketch_size} is larger than the number of rows being "
                    f"sketched ({long_side}: n_samples when n_samples >= n_features, else "
                    "n_features); use a smaller sketch_size or sketch_size='adaptive'.")
        return problem

    def _auto_solver(self, problem):
        short = min(problem.n_samples, problem.n_features)
        if self.alpha == 0 or short < _DIRECT_MAX_SIDE:
            return "direct"
        if (not sp.issparse(problem.X) and short <= _DIRECT_MANY_TARGETS_MAX_SIDE
                and problem.n_targets * _DIRECT_ROWS_PER_TARGET >= short):
            return "direct"
        return "pcg"

    def _solver_kwargs(self, solver, problem):
        if solver in ("pcg", "ihs"):
            return {"sketch": self.sketch, "sketch_size": self.sketch_size}
        return {}

    def _set_fitted(self, result, problem):
        W = result.w  # (d, k)
        dtype = problem.dtype
        coef = np.ascontiguousarray(W.T, dtype=dtype)
        intercept = problem.intercept(W).astype(dtype)
        if problem.y_was_1d:
            self.coef_ = coef[0]
            self.intercept_ = float(intercept[0])
        else:
            self.coef_ = coef
            # like Ridge: 0.0 without an intercept, whatever the number of targets
            self.intercept_ = intercept if self.fit_intercept else 0.0
        self.sketch_size_ = result.info.get("sketch_size")
        self.effective_dim_ = result.info.get("effective_dim")
        self.n_passes_ = result.info.get("n_passes")

    def predict(self, X):
        """Predict using the linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"),
                          dtype=[np.float64, np.float32], reset=False)
        return safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
