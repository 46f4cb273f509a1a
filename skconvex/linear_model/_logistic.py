"""NewtonLESSLogistic: L2-regularized logistic regression by the Newton sketch (Newton-LESS)."""

import numbers
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex.base import ConvexEstimator
from skconvex.problems import LogisticProblem
from skconvex.problems.logistic import drop_null_component, feature_offset, shift_intercepts
from skconvex.sketching import SKETCH_KINDS
from skconvex.solvers import solve_newton_sketch


def _newton_sketch(problem, **kwargs):
    # a problem over a dask array (skconvex.distributed) runs its own map-reduce Newton sketch
    solve = getattr(problem, "newton_sketch", None)
    return solve(**kwargs) if solve is not None else solve_newton_sketch(problem, **kwargs)


def _solve_newton_less(problem, **kwargs):
    return _newton_sketch(problem, **kwargs)


def _solve_newton_gaussian(problem, **kwargs):
    kwargs["sketch"] = "gaussian"
    kwargs.pop("nnz_per_row", None)
    return _newton_sketch(problem, **kwargs)


def _solve_newton_exact(problem, **kwargs):
    kwargs["sketch"] = "exact"
    kwargs.pop("sketch_size", None)
    kwargs.pop("nnz_per_row", None)
    return _newton_sketch(problem, **kwargs)


def _check_label_types(y):
    """Refuse labels that mix strings and numbers (numpy would turn them all into strings)."""
    if isinstance(y, np.ndarray) and y.dtype != object:
        return
    if sp.issparse(y):
        return
    values = y.to_numpy() if hasattr(y, "to_numpy") else y
    try:
        values = list(np.ravel(np.asarray(values, dtype=object)))
    except Exception:  # pragma: no cover - let validate_data report it
        return
    has_str = any(isinstance(v, (str, bytes)) for v in values)
    has_num = any(isinstance(v, (numbers.Number, np.number, bool, np.bool_)) for v in values)
    if has_str and has_num:
        raise ValueError(
            "y contains labels of mixed types (strings and numbers); use labels of one type, "
            "e.g. convert them all to str.")


class NewtonLESSLogistic(ClassifierMixin, ConvexEstimator):
    """Logistic regression solved by the Newton sketch with LESS embeddings (Newton-LESS).

    Minimizes scikit-learn's L2-regularized logistic loss::

        1/2 ||W||^2 + C * sum_i s_i * log_loss(y_i, W x_i + b)

    (``s_i`` the sample weights, the intercept ``b`` unpenalized): the objective of
    :class:`sklearn.linear_model.LogisticRegression` with the same ``C``, so that
    coefficients are comparable one to one. Two classes use the binary loss (one row of
    coefficients), more classes the multinomial loss with all K rows penalized (as
    scikit-learn does; the intercepts are centred to sum zero).

    Each iteration computes the exact gradient and a Newton direction from a *sketched*
    Hessian ``H_S = (S F)^T (S F) + I`` (identity on the coefficients only), where ``F`` is the
    square-root factor of the Hessian of the loss (rows ``sqrt(C s_i p_i (1 - p_i)) [x_i, 1]``
    for two classes, the block factor ``diag(sqrt(p_i)) - sqrt(p_i) p_i^T`` per sample for K)
    and ``S`` a fresh random embedding (LESS-uniform by default: each row of ``S`` combines
    ``nnz_per_row`` random samples). ``H_S`` is factored by Cholesky, or by the Woodbury identity
    when the sketch has fewer rows than ``H`` has columns (the unpenalized intercept is
    eliminated exactly). A backtracking (Armijo) line search follows; the trial step 1 is
    evaluated in the same pass over ``X`` as the gradient at the new point, so an iteration
    usually reads ``X`` once. The sketch size adapts: it is set from the effective dimension of
    the Hessian estimated on a first small sketch, and doubles when an iteration in the
    quadratic regime makes too little progress (Lacotte, Wang & Pilanci, arXiv:2105.07291).

    A deterministic cost model chooses, at the first iteration, between the sketch, the exact
    Hessian (cheaper on small problems: plain Newton) and no sketch at all (``sketch_size_ ==
    0``: Newton-CG preconditioned by the diagonal of the Hessian, chosen on sparse data whose
    passes cost little against a sketch and whose Hessian is well conditioned once its
    diagonal is scaled out). When a pass over ``X`` is cheaper than a sketch, the sketched
    direction is refined by a few conjugate-gradient steps preconditioned by ``H_S``.

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the regularization strength (> 0), as in ``LogisticRegression``.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalized) intercept.
    sketch : {"less_uniform", "less", "sjlt", "srht", "gaussian", "rademacher"}, \
default="less_uniform"
        Embedding of the Hessian's factor for ``solver="newton-less"``:

        - "less_uniform": each sketch row sums ``nnz_per_row`` uniformly drawn samples with
          random signs (LESS-uniform, arXiv:2107.07480);
        - "less": the same with samples drawn proportionally to the squared norms of their
          rows of the factor, ``C s_i p_i (1 - p_i) ||x_i||^2`` (a leverage proxy computed in
          O(n); samples the model already classifies with confidence are rarely drawn);
        - "sjlt", "srht", "gaussian", "rademacher": see :class:`skconvex.sketching.Sketch`.
    sketch_size : "adaptive" or int, default="adaptive"
        Rows of the sketch (per class in the multinomial case). An int fixes it (at least the
        number of samples means the exact Hessian).
    nnz_per_row : int or None, default=None
        Samples combined per sketch row by the LESS embeddings. None spends about a quarter
        of a pass over ``X`` on the sketch's row reads (between 1 and ``n_features``; see
        :func:`skconvex.solvers.newton_sketch.default_nnz_per_row`). The theory's choice is
        ``n_features``, which makes the sketch as good as a Gaussian one on any data, at
        ``m * n_features`` row reads per iteration: many passes' worth when ``m`` is a
        multiple of ``n_features``.
    tol : float, default=1e-6
        Stop after the first iteration whose approximate Newton decrement
        ``lambda = g^T H_S^{-1} g`` satisfies ``sqrt(lambda / theta^T H theta) <= tol``
        (``theta = [W, b]``; a relative error in the Hessian norm, computed in O(n) from the
        margins); that iteration's step is taken. Floored at ``10 eps`` of the data's dtype.
    max_iter : int, default=100
        Maximum number of Newton iterations.
    warm_start : bool, default=False
        Start from the previous solution when refitting with the same classes.
    random_state : int, RandomState instance or None, default=None
        Seed of the sketches.
    verbose : int, default=0
        Print one line per iteration (objective, decrement measure, step, sketch size).
    solver : {"newton-less", "newton-gaussian", "newton"}, default="newton-less"
        - "newton-less": the Newton sketch with the embedding ``sketch``;
        - "newton-gaussian": the Newton sketch with a dense Gaussian embedding (the theory's
          reference; the sketch costs as much as a product of ``X`` with an ``n x m`` matrix);
        - "newton": Newton's method with the exact Hessian (the reference).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients, in the dtype of ``X`` (float32 is kept).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``; centred in the multinomial case).
    n_iter_ : int
        Newton iterations performed.
    objective_ : float
        Objective (above) at the solution.
    duality_gap_ : float or None
        Without an intercept, ``||grad||^2 / 2``: the primal-dual gap at the dual point given
        by the residuals (``objective_ - duality_gap_`` is a lower bound on the optimum).
        None with an intercept.
    sketch_size_ : int or None
        Final number of rows of the sketch (per class for multinomial); None when the exact
        Hessian was used last, 0 when the adaptive rule chose no sketch (diagonal
        preconditioner).
    n_resketch_ : int
        Times the adaptive rule doubled the sketch size after the first iteration.
    effective_dim_ : float or None
        Effective dimension of the Hessian at the start, ``tr(H_S^{-1} (S F)^T S F)``,
        estimated from the first sketch (None when no sketch was drawn).
    n_passes_ : float
        Passes over ``X`` made by the solver (a product with ``X`` or ``X.T`` counts one half;
        the sketches are not counted).
    fit_time_ : float
        Seconds spent in ``fit``.
    solver_ : str
        Solver used.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit`` (only when ``X`` has string feature names).

    See Also
    --------
    sklearn.linear_model.LogisticRegression : the same objective solved by scikit-learn.

    Notes
    -----
    Sparse input must be CSR or CSC with 32-bit integer indices (a matrix with 64-bit
    indices is refused with an explicit error rather than copied).

    Unscaled features are handled without a warning. With an intercept, when a dense
    feature's mean is more than ten times its spread (a year, a timestamp, a constant
    column), the features are centred on a copy of ``X`` and the intercepts moved back: the
    same model, the same ``coef_``, and no digits lost when the intercept is eliminated from
    the Hessian (a column of mean 1e8 made it indefinite), nor time (Newton-CG's diagonal
    preconditioner does not see that coupling: a 5-class fit with a column of mean 1e3
    took 2.3 times as long). In the multinomial case the coefficient rows sum to zero (as at the optimum:
    adding one vector to every row leaves the loss unchanged), and the solvers give those
    null directions of the Hessian a curvature, so that a feature on a scale of 1e8 does not
    swamp the penalty's.

    References
    ----------
    M. Dereziński, J. Lacotte, M. Pilanci and M. W. Mahoney, "Newton-LESS: Sparsification
    without trade-offs for the sketched Newton update", arXiv:2107.07480.

    J. Lacotte, Y. Wang and M. Pilanci, "Adaptive Newton sketch: linear-time optimization
    with quadratic convergence and effective Hessian dimensionality", arXiv:2105.07291.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import NewtonLESSLogistic
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(20000, 50)
    >>> y = (X @ rng.randn(50) + rng.randn(20000) > 0).astype(int)
    >>> clf = NewtonLESSLogistic(C=1.0, random_state=0).fit(X, y)
    >>> clf.coef_.shape, clf.predict_proba(X[:2]).shape
    ((1, 50), (2, 2))
    >>> from sklearn.linear_model import LogisticRegression
    >>> ref = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-10).fit(X, y)
    >>> bool(np.allclose(clf.coef_, ref.coef_, rtol=1e-5, atol=1e-8))
    True
    """

    _solvers = {"newton-less": _solve_newton_less, "newton-gaussian": _solve_newton_gaussian,
                "newton": _solve_newton_exact}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "sketch": [StrOptions(set(SKETCH_KINDS))],
        "sketch_size": [StrOptions({"adaptive"}), Interval(Integral, 1, None, closed="left")],
        "nnz_per_row": [None, Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "solver": [StrOptions(set(_solvers))],
    }

    def __init__(self, C=1.0, *, fit_intercept=True, sketch="less_uniform",
                 sketch_size="adaptive", nnz_per_row=None, tol=1e-6, max_iter=100,
                 warm_start=False, random_state=None, verbose=0, solver="newton-less"):
        self.C = C
        self.fit_intercept = fit_intercept
        self.sketch = sketch
        self.sketch_size = sketch_size
        self.nnz_per_row = nnz_per_row
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.solver = solver

    # -- fit ----------------------------------------------------------------------------------
    def _make_problem(self, X, y, sample_weight=None):
        if type(X).__module__.startswith("dask."):
            # a row-chunked dask array: map-reduce Newton sketch over its blocks
            from skconvex.distributed._fit import logistic_problem

            return logistic_problem(self, X, y, sample_weight)
        if sp.issparse(X) and any(
                getattr(X, a, np.empty(0, np.int32)).dtype == np.int64
                for a in ("indices", "indptr")):
            raise ValueError(
                f"{type(self).__name__} accepts sparse matrices with 32-bit integer indices "
                "only; got a sparse matrix with int64 indices. Convert it with "
                "X.indices = X.indices.astype(np.int32); X.indptr = "
                "X.indptr.astype(np.int32) when it has fewer than 2**31 nonzeros.")
        if y is not None:
            _check_label_types(y)
        X, y = validate_data(self, X, y, accept_sparse=("csr", "csc"),
                             dtype=[np.float64, np.float32], accept_large_sparse=False,
                             ensure_min_samples=2)
        if sp.issparse(X) and X.format != "csr":
            X = X.tocsr()
        check_classification_targets(y)
        enc = LabelEncoder()
        y_enc = enc.fit_transform(y)
        classes = enc.classes_
        if len(classes) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                f"the data contain only one class: {str(classes[0])!r}.")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
            if np.unique(y_enc[sample_weight > 0]).size < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes with a "
                    "positive sample_weight, but those samples contain only one class.")
        self._classes_fit = classes
        offset = None
        if self.fit_intercept and not sp.issparse(X):
            # features of large mean are centred (on a copy): see feature_offset
            offset = feature_offset(X, self.C, sample_weight=sample_weight)
            if offset is not None:
                X = X - offset.astype(X.dtype)
        problem = LogisticProblem(X, y_enc, self.C, n_classes=len(classes),
                                  sample_weight=sample_weight, fit_intercept=self.fit_intercept)
        problem.feature_offset = offset
        return problem

    def _warm_start_weights(self, problem):
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        prev = getattr(self, "classes_", None)
        if prev is None or len(prev) != len(self._classes_fit) or \
                not np.array_equal(prev, self._classes_fit):
            return None
        if self.coef_.shape != (problem.k, problem.n_features):
            return None
        W = np.zeros(problem.shape)
        W[:, : problem.n_features] = self.coef_
        if problem.fit_intercept:
            W[:, problem.n_features] = self.intercept_
        return shift_intercepts(W, getattr(problem, "feature_offset", None),
                                problem.n_features, +1)

    def _solver_kwargs(self, solver, problem):
        kwargs = {"warm_start": self._warm_start_weights(problem)}
        if solver == "newton-less":
            kwargs.update(sketch=self.sketch, sketch_size=self.sketch_size,
                          nnz_per_row=self.nnz_per_row)
        elif solver == "newton-gaussian":
            kwargs.update(sketch_size=self.sketch_size)
        return kwargs

    def _set_fitted(self, result, problem):
        W = np.asarray(result.w, dtype=np.float64).reshape(problem.shape)
        W = shift_intercepts(W, getattr(problem, "feature_offset", None), problem.n_features,
                             -1)
        coef = problem.coef(W).copy()
        intercept = problem.intercept(W).copy()
        if problem.multinomial:
            drop_null_component(coef, problem.n_features)  # (rounding along it)
            if problem.fit_intercept:
                intercept -= intercept.mean()
        self.classes_ = self._classes_fit
        del self._classes_fit
        self.coef_ = np.ascontiguousarray(coef, dtype=problem.dtype)
        self.intercept_ = intercept.astype(problem.dtype)
        self.sketch_size_ = result.info.get("sketch_size")
        self.n_resketch_ = int(result.info.get("n_resketch", 0))
        self.effective_dim_ = result.info.get("effective_dim")
        self.n_passes_ = result.info.get("n_passes")

    # -- predict ------------------------------------------------------------------------------
    def decision_function(self, X):
        """Confidence scores: the margins ``X coef_^T + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]`` (positive means that class).
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"),
                          dtype=[np.float64, np.float32], reset=False)
        scores = safe_sparse_dot(X, self.coef_.T, dense_output=True) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels (elements of ``classes_``).
        """
        scores = self.decision_function(X)
        idx = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[idx]

    def predict_proba(self, X):
        """Class probabilities (sigmoid for two classes, softmax for more).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of the classes, in the order of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1.0 - p, p])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed without underflow.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities of the classes, in the order of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
