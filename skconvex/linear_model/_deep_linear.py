"""Deep linear networks with weight decay: parallel (zero duality gap, nuclear-norm program) and
standard (non-zero duality gap at depth >= 3) architectures, with closed forms for whitened
data (Wang, Ergen & Pilanci, arXiv:2110.06482; spec p3_parallel_deep_duality.md)."""

from numbers import Integral, Real

import numpy as np
import scipy.linalg as sla
from sklearn.base import MultiOutputMixin, RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (_check_sample_weight, check_array, check_is_fitted,
                                      validate_data)

from skconvex._result import FitResult
from skconvex.base import ConvexEstimator
from skconvex.problems.deep_linear import (
    DeepLinearProblem,
    standard_dual_value,
)
from skconvex.solvers.cvxpy_backend import solve_cvxpy
from skconvex.solvers.admm import solve_admm_spectral
from skconvex.solvers.fista import pack, solve_fista, unpack
from skconvex.utils._progress import ProgressLogger


def _packed(problem, W):
    return pack(W, np.zeros(problem.K))


def _finish(problem, W, n_iter, converged, history=None, info=None):
    """FitResult of ``W``: the primal objective of the network program and its dual value
    (nuclear-norm dual for the convex programs, the Lagrangian dual of the standard network
    otherwise)."""
    const = getattr(problem, "const_", 0.0)  # the part of the data term no W reaches
    objective = problem.objective(W) + const
    info = dict(info or {})
    if problem.convex:
        bound = problem.nuclear_dual_bound(W) + const
    else:
        bound, upper = standard_dual_value(problem)
        bound += const
        info["dual_value_upper"] = upper + const
    return FitResult(_packed(problem, W), objective, bound, n_iter, converged, history or [],
                     info, gap=max(objective - bound, 0.0))


def _solve_closed_form(problem, **_):
    c = problem.whitening_scale()
    if c is None:
        raise ValueError("solver='closed_form' needs whitened data: X^T X (after centering, "
                         "with the sample weights) must be a multiple of the identity, e.g. "
                         "the output of sklearn.decomposition.PCA(whiten=True); use "
                         "solver='prox_grad' or 'auto' for general X")
    W, _ = problem.closed_form(c)
    return _finish(problem, W, 1, True, info={"whitening_scale": c})


def _solve_prox_grad(problem, *, tol=1e-6, max_iter=1000, verbose=0, **_):
    """Convex programs (parallel, or depth 2): FISTA to a relative duality gap ``tol``.
    Standard network at depth >= 3 (non-convex penalty): monotone proximal gradient from the
    least-squares solution, stopped when a step moves ``W`` by at most ``tol`` relative; it
    finds a stationary point, not necessarily the global minimizer."""
    if problem.convex:
        res = solve_fista(problem, tol=tol, max_iter=max_iter, working_set=False,
                          verbose=verbose)
        W, _ = unpack(res.w, problem.shape)
        return _finish(problem, W, res.n_iter, res.converged, res.history)
    log = ProgressLogger("prox_grad", verbose, tol=tol)
    # start from the better of the least-squares solution and the ridge solution with the
    # layers' own weight decay (bounded whatever the design: the least-squares start was 1e7
    # on near-duplicate columns, and the relative move test then stopped at once, 8000 times
    # above a feasible point)
    G = problem.X.T @ problem.X
    G[np.diag_indices_from(G)] += problem.beta
    XtY = problem.X.T @ problem.Y
    W = sla.solve(G, XtY, assume_a="pos")
    W_ls = np.linalg.lstsq(problem.X, problem.Y, rcond=None)[0]
    if problem.objective(W_ls) < problem.objective(W):
        W = W_ls
    step = 1.0 / problem.lipschitz()
    obj = problem.objective(W)
    converged, it, history = False, 0, []
    for it in range(1, max_iter + 1):
        W_new = problem.prox(W - step * (problem.X.T @ (problem.X @ W - problem.Y)), step)
        move = float(np.linalg.norm(W_new - W)) / max(1.0, float(np.linalg.norm(W_new)))
        W = W_new
        if it % 10 == 0 or move <= tol:
            obj = problem.objective(W)
            history.append({"iter": it, "objective": obj, "measure": move})
            log.iteration(it, objective=obj, measure=move, step=step)
        if move <= tol:
            converged = True
            break
    # it stops on the step, not on a duality gap (the non-convex program keeps a gap to its
    # Lagrangian dual at its optimum): the ConvergenceWarning quotes the step
    return _finish(problem, W, it, converged, history,
                   info={"stopping": ("relative step", move if it else 0.0)})


# ADMM iterations before accelerated proximal gradient takes over from ADMM's best point
_ADMM_BUDGET = 200


def _solve_admm(problem, *, tol=1e-6, max_iter=1000, verbose=0, **_):
    """Convex programs: ADMM with the exact least-squares step, then FISTA from its best point
    when it has not certified ``tol`` within ``_ADMM_BUDGET`` iterations.

    Neither method dominates on features of scales far apart: ADMM's step is exact and it
    converges in tens of iterations where the penalty is small (FISTA's steps of
    ``1 / ||X||_2^2`` stalled at 5000), but where the penalty is large (a solution of low
    rank) its rate is set by the spread of ``X^T X``'s spectrum and it stalled, while FISTA,
    restarted on the low-rank solution, converged in 10 to 300 steps."""
    if not problem.convex:
        raise ValueError("solver='admm' solves convex programs only: the standard deep "
                         "linear network of depth >= 3 has a non-convex program; use "
                         "solver='prox_grad'")
    W, n_iter, converged, history = solve_admm_spectral(
        problem, tol=tol, max_iter=min(max_iter, _ADMM_BUDGET), verbose=verbose)
    if not converged and max_iter > n_iter:
        res = solve_fista(problem, tol=tol, max_iter=max_iter - n_iter, working_set=False,
                          warm_start=pack(W, np.zeros(problem.K)), verbose=verbose)
        W_f, _ = unpack(res.w, problem.shape)
        gap_a = problem.objective(W) - problem.nuclear_dual_bound(W)
        gap_f = problem.objective(W_f) - problem.nuclear_dual_bound(W_f)
        if gap_f <= gap_a:
            W = W_f
        n_iter += res.n_iter
        converged = res.converged
        history = history + list(res.history)
    return _finish(problem, W, n_iter, converged, history)


def _solve_cvxpy(problem, **kwargs):
    if not problem.convex:
        raise ValueError("solver='cvxpy' solves convex programs only: the standard deep "
                         "linear network of depth >= 3 has a non-convex program; use "
                         "solver='closed_form' (whitened data) or 'prox_grad'")
    kwargs.pop("warm_start", None)
    res = solve_cvxpy(problem, **{**kwargs, "tol": min(kwargs.get("tol", 1e-8), 1e-9)})
    W, _ = unpack(res.w, problem.shape)
    return _finish(problem, W, res.n_iter, res.converged)


class _BaseDeepLinear(MultiOutputMixin, RegressorMixin, ConvexEstimator):
    _parallel = True

    _solvers = {"closed_form": _solve_closed_form, "prox_grad": _solve_prox_grad,
                "admm": _solve_admm,
                "cvxpy": _solve_cvxpy}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "depth": [Interval(Integral, 2, None, closed="left")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "closed_form", "prox_grad", "admm", "cvxpy"})],
    }

    def __init__(self, alpha=1.0, *, depth=3, fit_intercept=True, solver="auto", tol=1e-6,
                 max_iter=5000, verbose=0, random_state=None):
        self.alpha = alpha
        self.depth = depth
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.random_state = random_state

    def _auto_solver(self, problem):
        if problem.whitening_scale() is not None:
            return "closed_form"
        # the nuclear-norm program by ADMM (its least-squares step is exact: features on
        # scales 1e3 apart stalled the proximal gradient at 5000 steps and R2 0.82), then
        # FISTA if needed; wide data (d > n) by FISTA, whose products are with the n x d data
        # where ADMM factors a d x d matrix (100 x 12,000: 7.9 s against 22 s)
        if problem.convex and problem.d <= problem.n:
            return "admm"
        return "prox_grad"

    def _make_problem(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")  # numeric text
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        self._y_1d = y.ndim == 1
        Y = y.reshape(y.shape[0], -1)
        s = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        if self.fit_intercept:
            x_mean = np.average(X, axis=0, weights=s)
            y_mean = np.average(Y, axis=0, weights=s)
        else:
            x_mean, y_mean = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
        r = np.sqrt(s)[:, None]
        Xw, Yw = r * (X - x_mean), r * (Y - y_mean)
        const = 0.0
        if Xw.shape[0] > Xw.shape[1] > 0:
            # the same program on d rows: ||X W - Y||^2 = ||R W - Q^T Y||^2 + ||(I - Q Q^T) Y||^2
            # (thin QR); the iterations cost d rows instead of n (16-19x faster parallel fits
            # at n = 20,000, d = 100)
            Q, R = np.linalg.qr(Xw)
            QY = Q.T @ Yw
            const = 0.5 * float(np.sum((Yw - Q @ QY) ** 2))
            problem = DeepLinearProblem(R, QY, self.alpha, self.depth, parallel=self._parallel)
        else:
            problem = DeepLinearProblem(Xw, Yw, self.alpha, self.depth, parallel=self._parallel)
        problem.const_ = const  # added to every objective value and bound (_finish)
        problem.X_full_, problem.Y_full_ = Xw, Yw
        problem.x_mean_, problem.y_mean_, problem.root_weights_ = x_mean, y_mean, r[:, 0]
        return problem

    def _set_fitted(self, result, problem):
        W, _ = unpack(result.w, problem.shape)
        W = np.array(W)
        U, s, Vt = np.linalg.svd(W, full_matrices=False)
        tol = 1e-10 * max(1.0, float(s[0]) if s.size else 1.0)
        r = int(np.sum(s > tol))
        self.singular_values_ = s
        self.rank_ = r
        self.coef_ = W.T[0] if self._y_1d else W.T
        b = problem.y_mean_ - problem.x_mean_ @ W
        self.intercept_ = float(b[0]) if self._y_1d else b
        self.primal_value_ = float(result.objective)
        self.dual_value_ = float(result.dual_bound)
        L = self.depth
        Ur, sr, Vr = U[:, :r], s[:r], Vt[:r]
        root = sr ** (1.0 / L)
        if self._parallel:
            # one rank-1 branch per singular value: ||W_lj||_F = s_j^{1/L} in every layer
            self.branches_ = [
                [np.outer(Ur[:, j], [root[j]])]
                + [np.array([[root[j]]]) for _ in range(L - 2)]
                + [np.outer([root[j]], Vr[j])]
                for j in range(r)]
        else:
            # balanced factors: ||W_l||_F^2 = sum s^{2/L} in every layer
            self.layers_ = ([Ur * root] + [np.diag(root) for _ in range(L - 2)]
                            + [root[:, None] * Vr])
        # the fit's dual point (parallel / convex): the residual scaled into the dual ball
        if problem.convex:
            Xf, Yf = getattr(problem, "X_full_", problem.X), getattr(problem, "Y_full_", problem.Y)
            Rt = Yf - Xf @ W
            g = float(np.linalg.norm(Xf.T @ Rt, 2)) if Rt.size else 0.0
            t = min(1.0, problem.beta / g) if g > 0 else 1.0
            self.dual_coef_ = t * problem.root_weights_[:, None] * Rt
        if not problem.convex and result.info.get("dual_value_upper") is not None:
            self.dual_value_upper_ = float(result.info["dual_value_upper"])

    def predict(self, X):
        """``X @ coef_.T + intercept_`` (the end-to-end linear map of the network).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_.T + self.intercept_

    def network_objective(self, X, y, sample_weight=None):
        """The non-convex training objective of the recovered network on ``(X, y)``: half the
        (weighted) sum of squared residuals plus the network's own regularizer (see the class
        docstring)."""
        check_is_fitted(self)
        pred = self.predict(X).reshape(len(X), -1)
        Y = np.asarray(y, dtype=np.float64).reshape(len(X), -1)
        s = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        data = 0.5 * float(np.sum(s[:, None] * (pred - Y) ** 2))
        return data + self._network_penalty()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class ParallelDeepLinearRegressor(_BaseDeepLinear):
    """Parallel deep linear network with weight decay, trained through its convex program.

    The network is ``f(x) = x sum_j W_1j W_2j ... W_Lj + b`` (``L = depth`` layers in each
    branch) with the regularizer ``(alpha / L) sum_j sum_l ||W_lj||_F^L`` (the ``L``-th power
    of each layer's Frobenius norm; for ``L = 2`` ordinary weight decay) and the loss
    ``1/2 sum_i s_i ||f(x_i) - y_i||^2`` (``s`` the sample weights, 1 by default). With at least
    as many branches as the rank of the solution, this non-convex problem has the same optimum
    as the convex program (Wang, Ergen & Pilanci, arXiv:2110.06482)::

        min_W 1/2 sum_i s_i ||x_i W + b - y_i||^2 + alpha ||W||_*

    (nuclear norm, whatever the depth), and **zero duality gap**: the Lagrangian dual of the
    network problem is ``max_Lam <Lam, Y> - 1/2 ||Lam||^2  s.t. ||X^T Lam||_2 <= alpha``, whose
    value equals the optimum. ``duality_gap_`` is the gap of the fitted point in that pair, so it
    measures only the solver's accuracy (rounding level for the closed form). The solution is
    low rank: its rank is the number of singular values of ``X^T Y`` above ``alpha`` for
    whitened data.

    The intercept ``b`` is not penalized (the data are centered). Whitened data
    (``X_c^T diag(s) X_c = c I`` after centering, e.g. the output of
    ``PCA(whiten=True)``) have the closed form ``W = U (Sigma - alpha I)_+ V^T / c`` (singular
    value thresholding of ``X_c^T diag(s) Y_c = U Sigma V^T``).

    Parameters
    ----------
    alpha : float, default=1.0
        Regularization strength (``beta`` of the paper); > 0.
    depth : int, default=3
        Layers per branch (>= 2). It does not change the fitted map, only the recovered
        branches.
    fit_intercept : bool, default=True
        Fit an unpenalized intercept (center ``X`` and ``y``).
    solver : {"auto", "closed_form", "admm", "prox_grad", "cvxpy"}, default="auto"
        "closed_form": one SVD (whitened data only, else ``ValueError``); "admm": ADMM whose
        least-squares step is exact (a Cholesky factor of ``X^T X + rho I``; see
        :mod:`skconvex.solvers.admm`), to relative duality gap ``tol``; when it has not got
        there in 200 iterations (a large penalty on features of scales far apart), FISTA
        continues from its best point; "prox_grad": accelerated proximal gradient (FISTA
        with restarts) with the singular-value-thresholding prox, to relative duality gap
        ``tol`` (its steps are ``1 / ||X||_2^2``: slow when the features' scales differ by
        1e3 or more and the penalty is small); "cvxpy": ``normNuc`` with Clarabel
        (reference, small problems); "auto": the closed form for whitened data, "admm" when
        ``n_samples >= n_features``, else "prox_grad" (whose products are with the data,
        where ADMM factors a ``d x d`` matrix).
    tol : float, default=1e-6
        Target relative duality gap of "admm" and "prox_grad".
    max_iter : int, default=5000
    verbose : int, default=0
    random_state : None
        Unused (the solvers are deterministic); kept for the common interface.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        The end-to-end linear map ``W^T`` (as :class:`sklearn.linear_model.Ridge`).
    intercept_ : float or ndarray of shape (n_targets,)
    singular_values_ : ndarray
        Singular values of ``W`` (descending).
    rank_ : int
        Numerical rank of ``W`` = the number of branches the network needs.
    branches_ : list of list of ndarray
        ``rank_`` branches, each the ``depth`` matrices ``[W_1j (d, 1), W_lj (1, 1) ...,
        W_Lj (1, K)]`` of one rank-1 branch with ``||W_lj||_F = s_j^{1/L}``; their products
        sum to ``W`` and their regularizer is ``alpha ||W||_*``.
    dual_coef_ : ndarray of shape (n_samples, n_targets)
        The dual point ``Lam`` (the weighted residual, scaled into ``||X_c^T Lam||_2 <= alpha``).
    primal_value_, dual_value_ : float
        The convex objective at ``W`` and the dual value at ``dual_coef_``.
    objective_, duality_gap_, n_iter_, fit_time_, solver_, n_features_in_
        As for every skconvex estimator (``objective_ == primal_value_``,
        ``duality_gap_ == primal_value_ - dual_value_``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skconvex import ParallelDeepLinearRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = PCA(whiten=True).fit_transform(rng.randn(100, 5))
    >>> Y = X @ rng.randn(5, 1) @ rng.randn(1, 4) + 0.1 * rng.randn(100, 4)
    >>> reg = ParallelDeepLinearRegressor(alpha=5.0).fit(X, Y)
    >>> reg.solver_, reg.rank_, reg.duality_gap_ < 1e-9 * reg.objective_
    ('closed_form', 1, True)
    """

    _parallel = True

    def _network_penalty(self):
        L = self.depth
        return self.alpha / L * sum(float(np.linalg.norm(Wl)) ** L
                                    for branch in self.branches_ for Wl in branch)


class DeepLinearRegressor(_BaseDeepLinear):
    """Standard deep linear network with weight decay; reports its non-zero duality gap.

    The network is ``f(x) = x W_1 W_2 ... W_L + b`` (``L = depth``, every width at least the
    rank of the solution) trained on ``1/2 sum_i s_i ||f(x_i) - y_i||^2 + (alpha/2) sum_l
    ||W_l||_F^2``. Since the cheapest factorization of ``W`` into ``L`` factors costs
    ``(L/2) sum_i sigma_i(W)^{2/L}`` (balanced factors), this is the spectral program::

        P = min_W 1/2 sum_i s_i ||x_i W + b - y_i||^2 + (alpha L / 2) sum_i sigma_i(W)^{2/L}

    which is convex only for ``L = 2`` (nuclear norm). For whitened data
    (``X_c^T diag(s) X_c = c I`` after centering) its global minimizer is in closed form: the
    SVD of ``X_c^T diag(s) Y_c / c`` with every singular value ``sigma`` mapped to ``0`` or to
    the largest root of ``w + (alpha/c) w^{2/L - 1} = sigma`` (whichever costs less): a
    hard-ish, depth-dependent threshold. For other data "prox_grad" runs proximal gradient with
    that map as the prox from the least-squares solution and finds a stationary point (not
    necessarily global for ``L >= 3``).

    **The duality gap at depth >= 3.** ``dual_value_`` is the value of the Lagrangian dual of
    the network problem taken as in the paper: the first ``L - 1`` layers constrained to
    Frobenius balls of radius ``t``, the last layer and the weights dualized, and the best
    ``t``. It equals::

        D = min_W 1/2 sum_i s_i ||x_i W + b - y_i||^2 + (alpha L / 2) ||W||_*^{2/L}

    (derived and checked numerically against the saddle-point form), the primal with
    ``sum sigma^{2/L}`` replaced by ``(sum sigma)^{2/L}``. Since ``(sum sigma)^{2/L} <=
    sum sigma^{2/L}``, ``D <= P``, with equality for ``L = 2`` or a rank-1 (e.g. scalar-output)
    solution, and ``D < P`` when ``L >= 3`` and the solution has rank >= 2: **the deep network
    has a genuine duality gap**, which the parallel architecture
    (:class:`ParallelDeepLinearRegressor`) closes. ``duality_gap_ = objective_ - dual_value_``
    is therefore *not* a solver tolerance here: for whitened data it is the intrinsic gap
    ``P - D`` (the closed form is the global minimizer); for other data it also contains the
    distance of the stationary point found from the global minimum. ``dual_value_`` is a
    certified lower bound of ``D`` (a lower envelope of nuclear-norm programs' dual bounds,
    minimized exactly; tight to ~1e-9 for whitened data), so ``duality_gap_ >= P - D >= 0``
    always holds. In the interpolation limit (``alpha -> 0``, ``y = X W*``), ``duality_gap_ /
    alpha`` tends to ``(L/2)(sum sigma_i(W*)^{2/L} - ||W*||_*^{2/L})`` (0.84 for
    ``W* = diag(3, 1)``, ``L = 3``; see :func:`skconvex.problems.deep_linear.interpolation_values`).

    Parameters
    ----------
    alpha : float, default=1.0
        Weight decay (``beta`` of the paper); > 0.
    depth : int, default=3
        Number of layers (>= 2).
    fit_intercept : bool, default=True
        Fit an unpenalized intercept (center ``X`` and ``y``).
    solver : {"auto", "closed_form", "admm", "prox_grad", "cvxpy"}, default="auto"
        "closed_form": whitened data only (else ``ValueError``); "prox_grad": see above
        (FISTA to relative gap ``tol`` when ``depth == 2``); "admm" and "cvxpy": ``depth == 2``
        only (the nuclear-norm program; see :class:`ParallelDeepLinearRegressor`); "auto":
        the closed form for whitened data, else "admm" when ``depth == 2`` and
        ``n_samples >= n_features``, and "prox_grad" otherwise.
    tol : float, default=1e-6
        Stopping tolerance: relative step of "prox_grad" for ``depth >= 3``, relative
        duality gap of "prox_grad" and "admm" for ``depth == 2``.
    max_iter : int, default=5000
        Maximum number of iterations (proximal-gradient steps, or ADMM iterations and then
        proximal-gradient steps; default fits at depth 3 on scikit-learn's diabetes and
        linnerud data: 1,193 and 1,100).
    verbose : int, default=0
    random_state : None
        Unused (the solvers are deterministic).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        The end-to-end map ``W^T``.
    intercept_ : float or ndarray of shape (n_targets,)
    singular_values_ : ndarray
    rank_ : int
    layers_ : list of ndarray
        Balanced factors ``[U_r S^{1/L} (d, r), S^{1/L} (r, r), ..., S^{1/L} V_r^T (r, K)]``;
        their product is ``W`` and ``(alpha/2) sum ||W_l||^2`` equals the spectral penalty.
    primal_value_ : float
        ``P`` at the fitted ``W`` (= ``objective_``).
    dual_value_ : float
        Certified lower bound of the dual value ``D``.
    dual_value_upper_ : float
        An upper estimate of ``D`` (``dual_value_ <= D <= dual_value_upper_``).
    duality_gap_ : float
        ``primal_value_ - dual_value_`` (see above).
    objective_, n_iter_, fit_time_, solver_, n_features_in_
        As for every skconvex estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import DeepLinearRegressor
    >>> X = np.eye(2)
    >>> Y = np.diag([3.0, 1.0])   # y = X W* with W* = diag(3, 1)
    >>> reg = DeepLinearRegressor(alpha=1e-6, depth=3, fit_intercept=False).fit(X, Y)
    >>> round(reg.duality_gap_ / reg.alpha, 3)
    0.84
    """

    _parallel = False

    def _network_penalty(self):
        return 0.5 * self.alpha * sum(float(np.sum(Wl ** 2)) for Wl in self.layers_)

