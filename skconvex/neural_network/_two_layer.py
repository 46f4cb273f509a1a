"""Two-layer ReLU and gated-ReLU networks trained by their convex programs."""

import copy
from dataclasses import dataclass
from numbers import Integral, Real

import time
import warnings

import cvxpy as cp
import numpy as np
from sklearn.base import ClassifierMixin, MultiOutputMixin, RegressorMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex.arrangements import (_pattern_keys, ascend_gates, gate_mask, refine_gates,
                                   sample_gates)
from skconvex._linalg import weighted_moments
from skconvex.base import ConvexEstimator
from skconvex.neural_network._classifier import NetworkClassifierMixin, fitted_targets
from skconvex.neural_network._regressor import _program_alpha, _target_scale
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.solvers.cvxpy_backend import solve_cvxpy
from skconvex.solvers.factored_polish import polish_factored
from skconvex.solvers.fista import solve_fista, unpack
from skconvex.solvers.rounds import accept_polish, solve_in_rounds
from skconvex.solvers.support_newton import active_set_round, polish_support_newton


def _newton_polish(problem, result, user_tol):
    """Newton's method on the support of ``result`` (tiny programs): machine-precision
    predictions (the sample-weight equivalence of scikit-learn's checks compares them to
    rtol=1e-7, far below what a duality gap of 1e-10 guarantees on a flat loss). Shared units,
    whose nuclear norms are not smooth on a support, are polished through the factors of their
    blocks instead (:func:`~skconvex.solvers.factored_polish.polish_factored`)."""
    polish = polish_factored if problem.shared else polish_support_newton
    w, improved = polish(problem, result.w)
    return accept_polish(problem, result, w if improved else None, user_tol)


def _polish(problem, result, user_tol):
    """Rounds of proximal-gradient steps (they identify the exact zeros; for relu they keep
    every iterate in the cones) and Newton's method on the support, until the duality gap is at
    rounding level."""
    n_iter = result.n_iter
    for _ in range(_NEWTON_ROUNDS):
        result = solve_fista(problem, tol=_NEWTON_GAP, max_iter=_ROUND_ITER,
                             warm_start=result.w, working_set=False)
        n_iter += result.n_iter
        result = _newton_polish(problem, result, user_tol)
        if result.gap <= _NEWTON_GAP * abs(result.objective):
            break
    result.n_iter = n_iter
    result.converged = result.gap <= user_tol * abs(result.objective)
    return result


def _support_polish(problem, result, user_tol):
    """The Newton polish of a round of :func:`_solve_fista`
    (:func:`~skconvex.solvers.support_newton.active_set_round`), when a Newton system on the
    support of ``result`` costs at most ``_POLISH_MAX_WORK`` multiply-adds and its Jacobian at
    most ``_POLISH_MAX_JACOBIAN`` entries; else ``result`` as it is."""
    U, _ = unpack(result.w, problem.shape)
    norms = problem.group_norms(U)
    n_var = problem.d * np.count_nonzero(norms > 1e-9 * norms.max()) if norms.max() > 0 else 0
    if 0 < n_var and problem.n * problem.K * float(n_var) ** 2 <= _POLISH_MAX_WORK:
        # with the active-set steps: groups that shrink to zero leave the support, and relu
        # columns follow the faces of their cones
        return active_set_round(problem, result, user_tol,
                                max_jacobian_size=_POLISH_MAX_JACOBIAN)
    result.converged = result.gap <= user_tol * abs(result.objective)
    return result


def _solve_fista(problem, **kwargs):
    """Proximal gradient (:func:`~skconvex.solvers.fista.solve_fista`).

    Euclidean groups: plainly for ``_PLAIN_ITER`` iterations; a program not solved by then
    goes on in rounds (:func:`~skconvex.solvers.rounds.solve_in_rounds`): to a ten times
    smaller gap (at most ``_FIRST_ROUND_GAP``), then Newton's method on the support, checked by
    the certificate, and from there tighter rounds until ``tol``. Once the support is found the
    program is smooth on it, where proximal gradient crawls at small alpha (concrete, alpha
    1e-3, 100 random patterns: 10,000 iterations to a gap of 3e-5 in 1.8 s plainly, 2,700 to
    1e-13 in 0.6 s in rounds).

    Shared units (nuclear-norm groups): plain proximal gradient; tiny programs, which
    ``solver="auto"`` does not give to the interior point, are then polished to a
    rounding-level duality gap (:func:`_polish`), as the interior point's are."""
    if problem.shared:
        result = solve_fista(problem, **kwargs)
        if problem.n * problem.Q * problem.K <= _SMALL_SIZE:
            result = _polish(problem, result, kwargs.get("tol", 1e-6))
        return result
    tol, max_iter = kwargs.pop("tol", 1e-6), kwargs.pop("max_iter", 2000)
    result = solve_fista(problem, tol=tol, max_iter=min(max_iter, _PLAIN_ITER), **kwargs)
    if result.converged or result.n_iter >= max_iter:
        return result
    kwargs.pop("warm_start", None)
    used = result.n_iter
    gap = result.gap / max(abs(result.objective), 1e-300)
    result = solve_in_rounds(problem, _support_polish, tol=tol, max_iter=max_iter - used,
                             first_round_gap=min(_FIRST_ROUND_GAP, 0.1 * gap),
                             warm_start=result.w, polish_converged=False, **kwargs)
    result.n_iter += used
    return result


def _solve_cvxpy(problem, **kwargs):
    """The interior-point reference (Clarabel), polished (:func:`_polish`): its solution is
    accurate to ~1e-8 and feasible only to the solver's tolerance. If the interior-point
    solver fails (it happens on degenerate ReLU programs), proximal gradient takes over, with a
    warning."""
    kwargs.pop("warm_start", None)
    user_tol = kwargs.get("tol", 1e-6)
    try:
        with warnings.catch_warnings():
            # "solution may be inaccurate": the polish below takes it to machine precision
            # and the certificate is recomputed, so the warning would be noise
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            # interior point: tightening the tolerance costs a few iterations only
            result = solve_cvxpy(problem, **{**kwargs, "tol": min(user_tol, 1e-10)})
    except (cp.error.SolverError, RuntimeError):
        warnings.warn("the interior-point solver failed on this program; solving it by "
                      "proximal gradient instead", RuntimeWarning, stacklevel=2)
        result = solve_fista(problem, **{**kwargs, "tol": min(user_tol, 1e-8),
                                         "max_iter": max(kwargs.get("max_iter", 0), 5000)})
        result = _polish(problem, result, user_tol)
        result.info["solver"] = "fista"  # what the fit reports in solver_
        return result
    return _polish(problem, result, user_tol)


def _standardize(X, sample_weight, fit_intercept):
    """``(Z, mean, scale)``: ``Z = (X - mean) / scale`` with (weighted) means and standard
    deviations (constant features get scale 1: :func:`skconvex._linalg.weighted_moments`),
    and a ones column appended when ``fit_intercept`` (hidden-unit biases). Shared by the
    convex network estimators."""
    mean, scale = weighted_moments(X, sample_weight)
    Z = (X - mean) / scale
    if fit_intercept:
        Z = np.hstack([Z, np.ones((Z.shape[0], 1))])
    return Z, mean, scale


def _bias_scaling(estimator):
    """The value of the constant column of ``estimator``'s preprocessed data
    (``intercept_scaling`` with ``fit_intercept``), or 1.0 when it has none."""
    if not estimator.fit_intercept:
        return 1.0
    return float(getattr(estimator, "intercept_scaling", 1.0))


def _sampling_view(Xt, c):
    """``Xt`` with its constant column (last, of value ``c``) divided by ``c``: generators
    drawn at random on it have biases of the scale of a standardized feature whatever ``c``
    is. A pattern is a sign pattern, so a generator ``g`` on the view is ``g`` with its last
    entry divided by ``c`` on ``Xt`` (:func:`_generators_on_data`)."""
    if c == 1.0:
        return Xt
    Xs = Xt.copy()
    Xs[:, -1] /= c
    return Xs


def _generators_on_data(G, c, axis=0):
    """Generators drawn on :func:`_sampling_view` mapped to the data ``Xt``: the same patterns.
    ``axis``: the features' axis of ``G`` (0: columns of a (n_features, m) matrix)."""
    if c == 1.0:
        return G
    G = np.array(G, dtype=np.float64)
    np.moveaxis(G, axis, 0)[-1] /= c
    return G


def _generators_on_view(G, c):
    """The inverse of :func:`_generators_on_data` (generators of columns of ``G``)."""
    if c == 1.0:
        return G
    G = np.array(G, dtype=np.float64)
    G[-1] *= c
    return G


# tiny programs: the polish rounds (proximal-gradient iterations per round, number of rounds)
# stop at this relative duality gap (usually reached by the first Newton solve: 1e-14)
_NEWTON_GAP, _NEWTON_ROUNDS, _ROUND_ITER = 1e-12, 4, 500

# solver="auto" solves programs with n_samples * n_columns * n_outputs up to this by the
# polished interior point
_SMALL_SIZE = 10_000

# proximal gradient (Euclidean groups): the iterations tried plainly before the rounds with a
# Newton polish, the relative gap of the first round (at most), and the largest Newton polish
# on the support, in multiply-adds (n_samples * n_outputs * variables^2)
_PLAIN_ITER, _FIRST_ROUND_GAP, _POLISH_MAX_WORK = 1000, 1e-2, 5e10
_POLISH_MAX_JACOBIAN = 16_000_000  # entries (128 MB)

# dual pattern search: fresh candidate patterns sampled per pattern added, and the perturbation
# trials of the local search on the chosen ones
_SEARCH_CANDIDATES = 10
_SEARCH_REFINE_TRIALS = 10
_SEARCH_ASCENT_STEPS = 30


def _pattern_dual_norms(problem, G, Lam):
    """The dual constraint values at the dual point ``Lam`` of the patterns of the generators
    ``G`` (columns), in the program ``problem`` (its data, loss, activation and units):
    ``(probe, per column (Q, K), per pattern (P,))``, ``probe`` the program over these
    patterns. Exact (projected for relu) where it matters; values below ``alpha / 2`` may come
    back as their unprojected upper bound (see ``TwoLayerReLUProblem.dual_norms``)."""
    probe = TwoLayerReLUProblem(problem.X, problem.Y, gate_mask(problem.X, G), problem.alpha,
                                problem.loss_name, fit_intercept=problem.fit_intercept,
                                relu=problem.relu, shared=problem.shared)
    cols = probe.dual_norms(Lam)
    per_pattern = np.zeros(probe.n_patterns)
    np.maximum.at(per_pattern, probe.col_pattern, cols.max(axis=1))
    return probe, cols, per_pattern


def _ascend_dual_gates(problem, G, Lam):
    """The generators ``G`` moved up their dual constraint values at the dual point ``Lam``
    by :func:`~skconvex.arrangements.ascend_gates`. Each generator ascends along one dual
    direction fixed at its start, the one its value is attained on: the single output, the
    output of the largest column norm (per-output units), or ``Lam v`` with ``v`` the top
    right singular vector of ``X^T D Lam`` (shared units, whose value is the spectral
    norm). For the ReLU program, whose values are cone-projected norms that the gated ascent
    does not see, a generator keeps its start where that value was higher."""
    n, K = Lam.shape
    X = problem.X
    if K == 1:
        R = np.repeat(Lam, G.shape[1], axis=1)
    else:
        mask = gate_mask(X, G).astype(np.float64)
        A = (mask.T @ (X[:, :, None] * Lam[:, None, :]).reshape(n, -1)).reshape(
            G.shape[1], X.shape[1], K)  # X^T D_j Lam, (m, d, K)
        if problem.shared:
            V = np.linalg.svd(A, full_matrices=False)[2][:, 0, :]  # (m, K)
        else:
            V = np.eye(K)[np.argmax(np.linalg.norm(A, axis=1), axis=1)]
        R = Lam @ V.T
    G_up, _ = ascend_gates(X, G, R, weights=problem.s, n_steps=_SEARCH_ASCENT_STEPS)
    if problem.relu:
        lower = (_pattern_dual_norms(problem, G_up, Lam)[2]
                 < _pattern_dual_norms(problem, G, Lam)[2])
        G_up[:, lower] = G[:, lower] / np.linalg.norm(G[:, lower], axis=0)
    return G_up


def _hidden_units(problem, U):
    """The hidden units of the convex solution ``U`` on standardized inputs:
    ``(q_idx (h,), input weights (d~, h), output weights (h, K))``, unit ``j`` gated by column
    ``q_idx[j]``. Per-output units: one per nonzero column (q, k), ``u / sqrt(||u||)`` in and
    ``+-sqrt(||u||)`` out to output k. Shared units: one per nonzero singular value ``s`` of
    the block ``U_q = sum s u v^T``, ``sqrt(s) u`` in and ``sqrt(s) v`` out. Either way the
    units' weight decay equals the group penalty and their output the convex model's."""
    if problem.shared:
        u, sv, vt = np.linalg.svd(np.moveaxis(U, 1, 0), full_matrices=False)
        tol = 1e-12 * float(sv.max()) if sv.size else 0.0
        q_idx, j_idx = np.nonzero(sv > tol)
        root = np.sqrt(sv[q_idx, j_idx])
        return q_idx, u[q_idx, :, j_idx].T * root, vt[q_idx, j_idx, :] * root[:, None]
    norms = problem.group_norms(U)  # (Q, K)
    tol = 1e-12 * float(norms.max()) if norms.size else 0.0
    q_idx, k_idx = np.nonzero(norms > tol)
    h = q_idx.size
    mags = norms[q_idx, k_idx]
    sign = np.where(q_idx < problem.n_patterns, 1.0, -1.0)
    W2 = np.zeros((h, problem.K))
    W2[np.arange(h), k_idx] = sign * np.sqrt(mags)
    return q_idx, U[:, q_idx, k_idx] / np.sqrt(mags), W2


def _extended_weights(U, c, n_old, n_new, *, signed):
    """Packed weights of a program enlarged from ``n_old`` to ``n_new`` patterns (cells) that
    keep the weights ``(U, c)`` of the old ones and start the new ones at zero (the warm start
    of a round of a dual search). ``signed``: the columns are the patterns with the output
    sign +, then the same patterns with -."""
    U_new = np.zeros((U.shape[0], (2 if signed else 1) * n_new, U.shape[2]))
    U_new[:, :n_old] = U[:, :n_old]
    if signed:
        U_new[:, n_new:n_new + n_old] = U[:, n_old:]
    return np.concatenate([U_new.ravel(), np.ravel(c)])


def _mlp_first_layer(mlp):
    """The hidden units' input weights of a fitted scikit-learn MLP with one hidden ReLU layer,
    with their biases as a last row: (n_features + 1, n_hidden)."""
    if len(mlp.coefs_) != 2 or getattr(mlp, "activation", "relu") != "relu":
        raise ValueError("an MLP with one hidden ReLU layer is needed")
    return np.vstack([mlp.coefs_[0], mlp.intercepts_[0][None, :]])


def _mlp_gates(mlp, intercept_scaling=1.0):
    """The generators of the activation patterns of a fitted scikit-learn MLP's hidden units
    (trained on inputs standardized as the convex estimators' preprocessing does), unit-normed:
    the columns that ``_fit_over`` of a two-layer estimator takes. (The certificate of an MLP in
    its own objective is :func:`skconvex.inspection.certify`.)"""
    G = _generators_on_data(_mlp_first_layer(mlp), intercept_scaling)
    return G / np.maximum(np.linalg.norm(G, axis=0), 1e-300)


def _network_from_mlp(est, mlp):
    """A copy of the fitted two-layer estimator ``est`` carrying the network of the fitted
    scikit-learn MLP ``mlp`` (one hidden ReLU layer, trained on inputs standardized with
    ``est``'s means and scales, as ``StandardScaler`` does), each hidden unit rescaled so that
    its input and output weights have equal norms (the function is unchanged and the weight
    decay is the least over such rescalings). Its ``regularized_loss`` is the MLP's network's
    objective in ``est``'s program; on the program over the MLP's own patterns
    (:func:`_mlp_gates`) that network is a feasible point, so the objective is at least the
    program's optimum."""
    cb = _bias_scaling(est)
    U, W2 = _generators_on_data(_mlp_first_layer(mlp), cb), mlp.coefs_[1]
    r = np.sqrt(np.linalg.norm(W2, axis=1) / np.maximum(np.linalg.norm(U, axis=0), 1e-300))
    U, W2 = U * r, W2 / r[:, None]
    net = copy.deepcopy(est)
    W1 = U[:-1] / est._scale[:, None]
    b1 = cb * U[-1] - est._mean @ W1
    net.coefs_, net.intercepts_ = [W1, W2], [b1, np.asarray(mlp.intercepts_[1], float)]
    net.gate_coefs_, net.gate_intercepts_ = W1, b1  # gated by its own units: ReLU units
    net._std_weights = (U, W2)
    net.n_hidden_ = U.shape[1]
    return net


def _fits_program(w, solver, problem):
    """Whether packed weights ``w`` (or None) can warm-start ``solver`` on ``problem``."""
    return w is not None and solver == "fista" and \
        w.size == int(np.prod(problem.shape)) + problem.K


class _ColumnSearchMixin:
    """``fit`` of the convex network estimators that choose their program's columns
    (patterns, cells) by the parameter named ``_search_param``: "random" solves the sampled
    program once; "dual" fits by the estimator's ``_fit_dual_search`` (column generation),
    whose rounds put the previous solution, extended, in ``_search_w0`` to warm-start the
    proximal-gradient solver (:meth:`_search_warm_start`)."""

    _search_param = None
    _search_columns = None  # the attribute that puts given columns in the program (_build)

    def _fit_over(self, X, y, columns, sample_weight=None):
        """Fit on the program over the given columns instead of sampled ones (patterns'
        generators for the two-layer estimators, ``(masks, sigs)`` cells for the path ones;
        the hook a round of the dual search uses): the program over a trained MLP's own
        patterns, for instance. Returns ``self``."""
        setattr(self, self._search_columns, columns)
        try:
            self._fit_program(X, y, sample_weight)
        finally:
            setattr(self, self._search_columns, None)
        return self

    def fit(self, X, y, sample_weight=None):
        """Fit the network by solving its convex program (see the class docstring).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (class labels for the classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Individual weights for each sample; an integer weight is equivalent to repeating
            the sample.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if getattr(self, self._search_param, "random") == "random":
            return self._fit_program(X, y, sample_weight)
        return self._fit_dual_search(X, y, sample_weight)

    def _fit_program(self, X, y, sample_weight):
        """One solve of the sampled program (the estimator's base ``fit``)."""
        return super().fit(X, y, sample_weight)

    def _search_warm_start(self, solver, problem):
        """The warm start of a round of the dual search, or None."""
        w0 = getattr(self, "_search_w0", None)
        return w0 if _fits_program(w0, solver, problem) else None


class _BaseConvexReLU(_ColumnSearchMixin, ConvexEstimator):
    """Shared machinery of the two-layer convex estimators.

    Preprocessing: features are standardized with (weighted) means and standard deviations
    (constant features get scale 1) and, with ``fit_intercept``, a ones column is appended so the
    hidden units have biases; the output layer then has an unpenalized intercept too. The
    activation patterns are sampled on the preprocessed data, and the fitted weights are mapped
    back to the raw input space, so ``predict`` gates new raw data exactly as the training data
    were gated.
    """

    _search_param = "pattern_search"
    _search_columns = "_search_gates"
    _solvers = {"fista": _solve_fista, "cvxpy": _solve_cvxpy}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_patterns": [Interval(Integral, 1, None, closed="left")],
        "pattern_search": [StrOptions({"random", "dual"})],
        "activation": [StrOptions({"relu", "gated_relu"})],
        "hidden_units": [StrOptions({"auto", "shared", "per_output"})],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "fista", "cvxpy"})],
        "warm_start": ["boolean"],
    }

    def _auto_solver(self, problem):
        # tiny programs (the sklearn checks, toy data): the interior point, polished to machine
        # precision, is robust and fast there; proximal gradient on working sets elsewhere.
        # Not for shared units: their nuclear norms make an SDP, slow in an interior-point
        # solver (a 3-class check problem: 140 s in Clarabel); proximal gradient polishes
        # tiny programs itself
        if problem.n * problem.Q * problem.K <= _SMALL_SIZE and not problem.shared:
            return "cvxpy"
        return "fista"

    def _solver_kwargs(self, solver, problem):
        w0 = self._search_warm_start(solver, problem)  # a round of the dual pattern search
        if w0 is None and self.warm_start:
            w0 = getattr(self, "_convex_weights", None)
            G_old = getattr(self, "_gates_std", None)
            if (w0 is not None and G_old is not None and problem.gates_.shape[0] ==
                    G_old.shape[0] and problem.n_patterns > G_old.shape[1] and
                    np.array_equal(problem.gates_[:, :G_old.shape[1]], G_old)):
                # a larger budget (_build kept the fitted patterns first): the fresh patterns
                # start at zero
                K, n_old = problem.K, G_old.shape[1]
                U = w0[:-K].reshape(problem.d, -1, K)
                w0 = _extended_weights(U, w0[-K:], n_old, problem.n_patterns,
                                       signed=problem.relu)
        return {"warm_start": w0} if _fits_program(w0, solver, problem) else {}

    # -- preprocessing -------------------------------------------------------------------
    def _prepare(self, X, sample_weight):
        """Standardized features and, with ``fit_intercept``, a constant column of value
        ``intercept_scaling``: ``(Xt, mean, scale)``."""
        Xt, mean, scale = _standardize(X, sample_weight, self.fit_intercept)
        c = _bias_scaling(self)
        if c != 1.0:
            Xt[:, -1] = c
        return Xt, mean, scale

    def _build(self, X, Y, sample_weight, loss):
        Xt, mean, scale = self._prepare(X, sample_weight)
        G = getattr(self, "_gates_std", None)
        c = _bias_scaling(self)
        if getattr(self, "_search_gates", None) is not None:
            G = self._search_gates  # a round of the dual pattern search
        elif not (self.warm_start and G is not None and G.shape[0] == Xt.shape[1]
                  and getattr(self, "_gates_scaling", 1.0) == c):
            budget = getattr(self, "_search_budget", None) or self.n_patterns
            G = _generators_on_data(
                sample_gates(_sampling_view(Xt, c), budget, sample_weight=sample_weight,
                             random_state=check_random_state(self.random_state)), c)
        elif G.shape[1] < self.n_patterns and getattr(self, "_search_budget", None) is None:
            # warm start with a larger budget: the fitted patterns, then fresh ones
            G = _generators_on_data(
                sample_gates(_sampling_view(Xt, c), self.n_patterns,
                             sample_weight=sample_weight,
                             random_state=check_random_state(self.random_state),
                             initial=_generators_on_view(G, c)), c)
        mask = gate_mask(Xt, G)
        problem = TwoLayerReLUProblem(Xt, Y, mask, _program_alpha(self), loss,
                                      sample_weight=sample_weight,
                                      fit_intercept=self.fit_intercept,
                                      relu=self.activation == "relu",
                                      shared=self._shared_units(Y.shape[1]))
        problem.mean_, problem.scale_, problem.gates_ = mean, scale, G
        return problem

    def _shared_units(self, n_outputs):
        """Whether the hidden units feed every output (see ``hidden_units``; with one output
        the two are the same network, and ``"shared"`` is ignored for ReLU)."""
        if self.hidden_units == "shared" and self.activation == "relu" and n_outputs > 1:
            raise ValueError("hidden_units='shared' needs activation='gated_relu': the convex "
                             "program of ReLU units shared by several outputs is not a group "
                             "lasso over sampled patterns; use hidden_units='per_output' or "
                             "'auto' with activation='relu'")
        return self.activation == "gated_relu" and self.hidden_units != "per_output"

    # -- dual pattern search (fit: _ColumnSearchMixin) -------------------------------------
    def _fit_dual_search(self, X, y, sample_weight):
        """``pattern_search="dual"``: column generation on the activation patterns.

        A quarter of the budget is sampled at random and the program solved; then, while the
        budget allows, ``_SEARCH_CANDIDATES`` times as many fresh patterns as are added are
        sampled, those whose dual constraint the fitted network violates most are chosen, their
        generators moved up that violation by smoothed gradient ascent
        (:func:`~skconvex.arrangements.ascend_gates`) and a random hill climb
        (:func:`~skconvex.arrangements.refine_gates`) and added (at most doubling the
        program), and the enlarged program is solved warm-started from the previous solution.
        This moves the sampled program towards the full (unsampled) one at a fraction of the
        cost of sampling the whole budget at random (concrete, 500 patterns: test R2 0.881
        against 0.869 with 1,000 random patterns, before the gradient ascent; concrete, 100
        patterns, alpha 3e-3, 3 seeds: optimum 0.0367 -> 0.0329 and test R2 0.856 -> 0.871 by
        the ascent).

        Repeated rows and rows of integer weight give the same search: the patterns are
        compared by their exact values (functions of the patterns), and the ascent runs on
        the merged rows (:func:`~skconvex.arrangements.merge_rows`) by steps that do not
        amplify rounding."""
        t0 = time.perf_counter()
        rng = check_random_state(self.random_state)
        budget = self.n_patterns
        n_iter = 0
        try:
            self._search_budget = max(1, budget // 4)
            self._search_gates = self._search_w0 = None
            self._fit_program(X, y, sample_weight)
            n_iter += self.n_iter_
            while self.n_patterns_ < budget:
                add = min(max(1, self.n_patterns_),
                          budget - self.n_patterns_)
                check = _convex_relu_dual_check(
                    self, X, y, n_new_patterns=_SEARCH_CANDIDATES * add,
                    sample_weight=sample_weight, random_state=rng)
                norms = check["norms_new"]
                violated = np.flatnonzero(norms > _program_alpha(self) * (1.0 + 1e-9))
                if violated.size == 0:
                    break  # no sampled pattern would enter the program
                top = violated[np.argsort(-norms[violated], kind="stable")[:add]]
                # move the chosen generators up their dual constraint value, by smoothed
                # gradient ascent and then a random hill climb: columns the full program
                # would use more (concrete, 100 patterns: the top 50 of 1,000 random
                # candidates 0.0093 -> 0.0127 on average by the hill climb alone)
                full, Lam = check["full"], check["Lam"]
                G_add = _ascend_dual_gates(full, check["gates_new"][:, top], Lam)
                G_add, _ = refine_gates(
                    full.X, G_add,
                    lambda C: _pattern_dual_norms(full, C, Lam)[2],
                    n_trials=_SEARCH_REFINE_TRIALS, exclude=_pattern_keys(full.mask),
                    random_state=rng)
                if G_add.shape[1] == 0:
                    # every violated pattern is in the program already (violated to the
                    # solver's tolerance): nothing new can enter
                    break
                P_old = self.n_patterns_
                P_new = P_old + G_add.shape[1]
                self._search_gates = np.hstack([self._gates_std, G_add])
                self._search_w0 = _extended_weights(check["U"], check["c_opt"], P_old, P_new,
                                                    signed=self.activation == "relu")
                self._fit_program(X, y, sample_weight)
                n_iter += self.n_iter_
                if self.verbose:
                    print(f"[pattern search] {self.n_patterns_} patterns, "
                          f"{self.n_hidden_} neurons, objective {self.objective_:.6e}")
                if self.n_patterns_ <= P_old:
                    break  # no distinct pattern was added (a guard: the search must progress)
        finally:
            self._search_budget = self._search_gates = self._search_w0 = None
        self.n_iter_ = n_iter
        self.fit_time_ = time.perf_counter() - t0
        return self

    # -- recovery ------------------------------------------------------------------------
    def _set_fitted(self, result, problem):
        U, c = unpack(result.w, problem.shape)
        P = problem.n_patterns
        d = problem.mean_.shape[0]
        q_idx, U_std, W2 = _hidden_units(problem, U)
        h = q_idx.size
        # back to raw inputs: x~ = [(x - mean) / scale, 1]
        W1 = U_std[:d] / problem.scale_[:, None]
        cb = _bias_scaling(self)  # x~ = [(x - mean) / scale, intercept_scaling]
        b1 = (cb * U_std[d] if self.fit_intercept else np.zeros(h)) - problem.mean_ @ W1
        Gs = problem.gates_[:, q_idx % P]
        GW = Gs[:d] / problem.scale_[:, None]
        gb = (cb * Gs[d] if self.fit_intercept else np.zeros(h)) - problem.mean_ @ GW
        self.coefs_ = [W1, W2]
        c = np.asarray(c, dtype=np.float64) + problem.y_offset  # the program's is centred
        if problem.loss_name == "cross_entropy":
            # the softmax is unchanged by a common shift of the output intercepts, which the
            # program leaves free: report the centered ones (a deterministic decision_function)
            c = c - c.mean()
        self.intercepts_ = [b1, c]
        self.gate_coefs_ = GW
        self.gate_intercepts_ = gb
        self.n_hidden_ = int(h)
        self.n_patterns_ = int(P)
        self.max_violation_ = problem.max_violation(U)
        self._gates_std = problem.gates_
        self._gates_scaling = cb
        self._convex_weights = result.w
        self._std_weights = (U_std, W2)  # the network on standardized inputs (weight decay)
        self._mean, self._scale = problem.mean_, problem.scale_

    def _hidden(self, X):
        H = X @ self.coefs_[0] + self.intercepts_[0]
        if self.activation == "relu":
            return np.maximum(H, 0.0)
        return H * ((X @ self.gate_coefs_ + self.gate_intercepts_) >= 0)

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._hidden(X) @ self.coefs_[1] + self.intercepts_[1]

    def _weight_decay(self):
        U_std, W2 = self._std_weights
        return 0.5 * _program_alpha(self) * (float(np.sum(U_std**2)) + float(np.sum(W2**2)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class ConvexReLURegressor(MultiOutputMixin, RegressorMixin, _BaseConvexReLU):
    """Two-layer ReLU network regression trained by its convex program, with a certificate.

    Fits ``f(x) = sum_j (x~ . u_j)_+ a_j + c`` (``x~`` the standardized input with a bias entry)
    with weight decay, ``(1/2) mean_i (f(x_i) - y_i)^2 + (alpha/2) sum_j (||u_j||^2 + a_j^2)``, by
    solving its exact convex reformulation restricted to ``n_patterns`` sampled activation
    patterns (Pilanci & Ergen, 2020): the group lasso ``min (1/2) mean ||sum_i D_i X~ (v_i - w_i)
    + c - y||^2 + alpha sum_i (||v_i|| + ||w_i||)`` subject to ``(2 D_i - I) X~ v_i >= 0`` (and the
    same for ``w_i``). Every nonzero ``v_i`` or ``w_i`` becomes one hidden unit; the network's
    regularized loss equals the convex optimum, and ``duality_gap_`` certifies how close that is
    to the best network with the sampled patterns. With ``activation="gated_relu"`` the gates
    ``1[x~ . g_i >= 0]`` are fixed by the sampled generators and the program is an unconstrained
    group lasso (Mishkin et al., 2022).

    What is certified: the fit is optimal (to ``duality_gap_``) among networks whose hidden units
    follow the sampled activation patterns on the training data. With every pattern of the data
    sampled (small ``n_features`` or many patterns) that is the global optimum over all
    two-layer ReLU networks of any width; with a pattern budget far below the number of
    patterns (which grows like ``n_samples ** rank(X)``), a network trained by local search can
    reach a lower regularized loss than the sampled program's optimum.
    :func:`certify_global_optimality` tells which case a fit is in, by checking the dual
    certificate against freshly sampled patterns; more patterns (or ``warm_start`` with a
    larger budget) close the distance.

    Parameters
    ----------
    alpha : float, default=1e-2
        Weight decay (> 0), relative to the mean squared error of the targets divided by
        their standard deviation: the program's regularization is ``alpha * y_scale_``, so
        ``alpha`` means the same on targets in any units (as on the inputs, which are
        standardized).
    n_patterns : int, default=100
        Budget of distinct activation patterns sampled (Gaussian generators).
    pattern_search : {"random", "dual"}, default="random"
        How the ``n_patterns`` patterns are chosen. "random": all sampled at once (Gaussian
        generators). "dual": column generation — a quarter sampled at random, then, fit after
        fit, the fresh patterns whose dual constraint the fitted network violates most (those
        the full, unsampled program would use), each improved by a local search on its
        generator (gradient ascent on a smoothed violation, then a random hill climb), are
        added until the budget is reached or no sampled pattern is violated.
        Several solves, warm-started; a better program (a lower optimum) for the same
        budget.
    activation : {"relu", "gated_relu"}, default="gated_relu"
    hidden_units : {"auto", "shared", "per_output"}, default="auto"
        With several outputs (multi-output regression, multiclass classification): "shared":
        every hidden unit feeds all outputs, like an MLP's; the group of a pattern is its
        (n_features + 1, n_outputs) block of weights with the nuclear norm, which is exactly
        the weight decay of the gated network (a pattern's block of rank r is r units with
        the same gate). gated_relu only. "per_output": each unit feeds one output (one
        Euclidean group per pattern and output; exact for both activations, but the outputs
        share no features). "auto": "shared" for gated_relu, "per_output" for relu. Ignored
        with one output.
    loss : {"squared"}, default="squared"
    fit_intercept : bool, default=True
        Biases in the hidden layer and an unpenalized output intercept.
    intercept_scaling : float, default=1.0
        Value of the constant column appended to the standardized inputs for the hidden
        biases (> 0; used with ``fit_intercept``), as in
        :class:`~sklearn.linear_model.LogisticRegression`: a hidden unit's bias ``b`` counts
        in the weight decay as ``b / intercept_scaling``, so a larger value penalizes the
        biases less (scikit-learn's MLP does not penalize them). The program and its
        certificate are exact for every value; the patterns are sampled as with 1.0.
    solver : {"auto", "fista", "cvxpy"}, default="auto"
        "fista": accelerated proximal gradient with backtracking and restarts on working sets of
        groups; for relu its prox projects every column onto its cone exactly (every iterate
        is feasible). "cvxpy": the same program with Clarabel (the reference; slow beyond small
        problems), polished by proximal-gradient steps and Newton's method on the support to
        machine precision. "auto": "cvxpy" for tiny programs (n_samples x columns x outputs
        <= 10,000), "fista" otherwise; with shared hidden units always "fista" (their
        nuclear norms make an SDP, slow in an interior-point solver), which polishes tiny
        programs through the units' factors (L-BFGS and Newton steps) to machine precision.
    tol : float, default=1e-6
        Target relative duality gap ``(objective - dual bound) / objective``.
    max_iter : int, default=2000
        Maximum number of (inner) proximal-gradient iterations. The interior-point solver
        (``solver="cvxpy"``, which ``"auto"`` picks for small programs) runs to its own
        tolerance whatever ``max_iter``; ``n_iter_`` then counts its iterations and those of
        the polish that follows.
    random_state : int, RandomState instance or None, default=None
        Seed of the pattern sampler.
    verbose : int, default=0
    warm_start : bool, default=False
        Reuse the previous fit's patterns and solution as the starting point (on data with
        the same number of features and ``intercept_scaling``). With a larger
        ``n_patterns``, fresh patterns are added to the fitted ones, their weights starting at
        zero: the optimum can only go down. A smaller ``n_patterns`` keeps them all.

    Attributes
    ----------
    coefs_ : list of ndarray
        ``[W1 (n_features, n_hidden_), W2 (n_hidden_, n_outputs)]`` in raw input space, like
        :class:`sklearn.neural_network.MLPRegressor`.
    intercepts_ : list of ndarray
        ``[b1 (n_hidden_,), b2 (n_outputs,)]``.
    gate_coefs_, gate_intercepts_ : ndarray
        The gates of the hidden units (used by ``gated_relu``; for ``relu`` the patterns that
        were sampled).
    n_hidden_ : int
        Active hidden units (nonzero groups of the convex solution; with shared units, the
        sum of the ranks of the nonzero blocks).
    n_patterns_ : int
        Distinct patterns actually used.
    objective_ : float
        Convex objective at the solution = regularized loss of the recovered network.
    y_scale_ : float
        The (weighted) standard deviation of the training targets, pooled over the outputs
        (1 for constant targets). The program uses the regularization ``alpha *
        y_scale_``, which is the program of ``alpha`` on the targets divided by ``y_scale_``
        (its objective times ``y_scale_ ** 2``); ``objective_``, ``duality_gap_`` and
        ``regularized_loss`` are in the units of ``y``.
    duality_gap_ : float
        Objective minus a dual lower bound of the sampled program.
    max_violation_ : float
        Largest cone-constraint violation (0 for gated_relu).
    n_iter_, fit_time_, solver_, n_features_in_, feature_names_in_
        As for every skconvex estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import ConvexReLURegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 3)
    >>> y = np.maximum(X @ [1.0, -2.0, 0.5], 0) + 0.05 * rng.randn(200)
    >>> reg = ConvexReLURegressor(alpha=1e-3, n_patterns=30, activation="gated_relu",
    ...                           random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95, reg.duality_gap_ <= 1e-6 * reg.objective_
    (True, True)
    """

    _parameter_constraints: dict = {
        **_BaseConvexReLU._parameter_constraints,
        "loss": [StrOptions({"squared"})],
    }

    def __init__(self, alpha=1e-2, *, n_patterns=100, pattern_search="random",
                 activation="gated_relu", hidden_units="auto", loss="squared",
                 fit_intercept=True, intercept_scaling=1.0, solver="auto", tol=1e-6,
                 max_iter=2000, random_state=None, verbose=0, warm_start=False):
        self.alpha = alpha
        self.n_patterns = n_patterns
        self.pattern_search = pattern_search
        self.activation = activation
        self.hidden_units = hidden_units
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _make_problem(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True,
                             ensure_min_samples=2)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        self._y_1d = y.ndim == 1
        Y = y.reshape(y.shape[0], -1)
        self.y_scale_ = _target_scale(Y, sample_weight)
        return self._build(X, Y, sample_weight, "squared")

    def predict(self, X):
        """Forward pass of the recovered network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out

    def regularized_loss(self, X, y, sample_weight=None):
        """The non-convex training objective of the recovered network on ``(X, y)``:
        ``(1/2) weighted mean ||f(x) - y||^2 + (alpha y_scale_ / 2) sum_j (||u_j||^2 +
        ||a_j||^2)`` with the weights of the network on standardized inputs (where the weight
        decay acts)."""
        X, Y, _, s = fitted_targets(self, X, y, sample_weight)
        pred = self._forward(X).reshape(len(X), -1)
        s = np.ones(len(X)) if s is None else s
        data = 0.5 * float(np.sum(s[:, None] * (pred - Y) ** 2)) / s.sum()
        return data + self._weight_decay()


class ConvexReLUClassifier(ClassifierMixin, NetworkClassifierMixin, _BaseConvexReLU):
    """Two-layer ReLU network classifier trained by its convex program, with a certificate.

    Binary problems use the logistic loss on one output; multiclass problems the softmax
    cross-entropy on one output per class, with hidden units that feed every class (gated ReLU,
    nuclear-norm groups) or one class each (``hidden_units="per_output"``, and always with
    ``activation="relu"``); either way the convex program is exact for the architecture and the
    certificate holds. See :class:`ConvexReLURegressor` for the program, the parameters and
    the fitted attributes.

    Parameters
    ----------
    alpha : float, default=1e-2
    n_patterns : int, default=100
    pattern_search : {"random", "dual"}, default="random"
    activation : {"relu", "gated_relu"}, default="gated_relu"
    hidden_units : {"auto", "shared", "per_output"}, default="auto"
        Multiclass: hidden units shared by all classes ("shared", the default with
        gated_relu) or one class per unit ("per_output", the default with relu).
    loss : {"auto", "logistic", "cross_entropy"}, default="auto"
        "auto": logistic for two classes, cross_entropy otherwise; "cross_entropy" with two
        classes uses two outputs.
    fit_intercept : bool, default=True
    intercept_scaling : float, default=1.0
    solver : {"auto", "fista", "cvxpy"}, default="auto"
    tol : float, default=1e-6
    max_iter : int, default=2000
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
    warm_start : bool, default=False
        As for :class:`ConvexReLURegressor`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_, intercepts_, gate_coefs_, gate_intercepts_, n_hidden_, n_patterns_, objective_,
    duality_gap_, max_violation_, n_iter_, fit_time_, solver_, n_features_in_
        As for :class:`ConvexReLURegressor`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skconvex import ConvexReLUClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ConvexReLUClassifier(alpha=1e-3, n_patterns=20, activation="gated_relu",
    ...                            random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    """

    _parameter_constraints: dict = {
        **_BaseConvexReLU._parameter_constraints,
        "loss": [StrOptions({"auto", "logistic", "cross_entropy"})],
    }

    def __init__(self, alpha=1e-2, *, n_patterns=100, pattern_search="random",
                 activation="gated_relu", hidden_units="auto", loss="auto",
                 fit_intercept=True, intercept_scaling=1.0, solver="auto", tol=1e-6,
                 max_iter=2000, random_state=None, verbose=0, warm_start=False):
        self.alpha = alpha
        self.n_patterns = n_patterns
        self.pattern_search = pattern_search
        self.activation = activation
        self.hidden_units = hidden_units
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def regularized_loss(self, X, y, sample_weight=None):
        """Non-convex training objective of the recovered network (weighted mean loss plus
        weight decay on the standardized-input weights)."""
        X, Y, _, s = fitted_targets(self, X, y, sample_weight)
        out = self._forward(X)
        s = np.ones(len(X)) if s is None else s
        if self._loss_ == "logistic":
            data = float(np.sum(s * np.logaddexp(0.0, -Y[:, 0] * out[:, 0]))) / s.sum()
        else:
            lse = np.logaddexp.reduce(out, axis=1)
            data = float(np.sum(s * (lse - np.sum(Y * out, axis=1)))) / s.sum()
        return data + self._weight_decay()


@dataclass
class OptimalityCertificate:
    """What :func:`certify_global_optimality` found."""

    objective: float
    duality_gap: float
    relative_gap: float
    n_new_patterns: int
    n_violated: int
    max_constraint_ratio: float
    lower_bound_enlarged: float
    relative_gap_enlarged: float

    @property
    def is_certified(self):
        """True when no freshly sampled pattern violates its dual constraint."""
        return self.n_violated == 0


def certify_global_optimality(estimator, X, y, *, n_new_patterns=1000, sample_weight=None,
                              rtol=1e-4, random_state=None):
    """Check a fitted two-layer convex network against freshly sampled activation patterns.

    (Three-layer convex networks are checked against freshly sampled pattern *pairs* the same
    way: see ``ConvexThreeLayerRegressor``.)

    The fit solved the convex program over the patterns it sampled. Its dual point ``Lam`` (the
    scaled gradient of the loss at the fitted predictions) must satisfy
    ``||X~^T D Lam|| <= alpha`` for *every* pattern ``D`` for the network to be optimal over all
    patterns (``alpha * y_scale_`` for a regressor: the regularization of its program). This
    samples ``n_new_patterns`` new patterns, reports how many violate that constraint (a
    violated pattern means that adding it would lower the optimum), and the
    duality gap against the enlarged program (fitted patterns plus the new ones), with the dual
    point rescaled to satisfy all of them. For ``relu`` the constraint of a pattern is
    ``||P_K(X~^T D Lam)|| <= alpha`` for ``v`` and the same with ``-Lam`` for ``w``, ``P_K`` the
    projection onto the pattern's cone (the best cone multipliers), computed exactly.

    Parameters
    ----------
    estimator : ConvexReLURegressor or ConvexReLUClassifier, fitted
    X, y : the training data the estimator was fitted on
    n_new_patterns : int, default=1000
    sample_weight : array-like or None
        The weights used in ``fit``.
    rtol : float, default=1e-4
        A new pattern counts as violated when its constraint exceeds ``alpha * (1 + rtol)``
        (the fit is solved to a tolerance, so the dual point is feasible only up to it).
    random_state : int, RandomState instance or None

    Returns
    -------
    OptimalityCertificate
    """
    check_scalar(n_new_patterns, "n_new_patterns", Integral, min_val=1)
    if hasattr(estimator, "_certify"):  # other convex networks certify their own programs
        return estimator._certify(X, y, n_new_patterns=n_new_patterns,
                                  sample_weight=sample_weight, rtol=rtol,
                                  random_state=random_state)
    if not isinstance(estimator, _BaseConvexReLU):
        raise TypeError(f"certify_global_optimality accepts a fitted ConvexReLURegressor, "
                        f"ConvexReLUClassifier, ConvexThreeLayerRegressor or "
                        f"ConvexThreeLayerClassifier; got {type(estimator).__name__} (a "
                        f"scikit-learn MLP: skconvex.inspection.certify; a path-regularized "
                        f"network: certify_path_optimality; a max-margin network: "
                        f"skconvex.inspection.certify_max_margin)")
    chk = _convex_relu_dual_check(estimator, X, y, n_new_patterns=n_new_patterns,
                                  sample_weight=sample_weight, random_state=random_state)
    objective, bound_old = chk["objective"], chk["bound_old"]
    alpha = _program_alpha(estimator)
    ratio_new = chk["norms_new"] / alpha
    gap = max(objective - bound_old, 0.0)
    gap_enl = max(objective - chk["bound_enlarged"], 0.0)
    denom = max(abs(objective), 1e-300)
    return OptimalityCertificate(
        objective=objective, duality_gap=gap, relative_gap=gap / denom,
        n_new_patterns=int(chk["gates_new"].shape[1]),
        n_violated=int(np.sum(ratio_new > 1.0 + rtol)),
        max_constraint_ratio=float(np.max(ratio_new)) if ratio_new.size else 0.0,
        lower_bound_enlarged=chk["bound_enlarged"], relative_gap_enlarged=gap_enl / denom)


def _convex_relu_dual_check(estimator, X, y, *, n_new_patterns=1000, sample_weight=None,
                            random_state=None):
    """The dual check behind :func:`certify_global_optimality` (and
    :func:`skconvex.inspection.certify`): the fitted program rebuilt on ``X`` (``full``), the
    dual direction ``Lam`` at the fitted predictions, the dual constraint values of the fitted
    columns (``norms_old``, (Q, K)) and of ``n_new_patterns`` fresh patterns (``probe``, its
    per-column values ``norms_new_cols`` and per-pattern maxima ``norms_new``), the dual bound
    of the fitted program (``bound_old``) and of the enlarged one (``bound_enlarged``, the
    dual point rescaled to satisfy every checked constraint)."""
    X, Y, loss, sample_weight = fitted_targets(estimator, X, y, sample_weight)
    Xt = (X - estimator._mean) / estimator._scale
    cb = _bias_scaling(estimator)
    if estimator.fit_intercept:
        Xt = np.hstack([Xt, np.full((Xt.shape[0], 1), cb)])
    G_old = estimator._gates_std
    relu = estimator.activation == "relu"
    shared = estimator._shared_units(Y.shape[1])
    full = TwoLayerReLUProblem(Xt, Y, gate_mask(Xt, G_old), _program_alpha(estimator),
                               loss,
                               sample_weight=sample_weight,
                               fit_intercept=estimator.fit_intercept, relu=relu, shared=shared)
    U, c = unpack(estimator._convex_weights, full.shape)
    # the fitted predictions and the dual direction
    objective, bound_old, c_opt, norms_old = full.certificate(U, c)
    Lam = -full.loss.grad(full.scores(full.forward(U), c_opt))
    # (fewer may exist: the certificate reports how many were checked)
    G_new = _generators_on_data(sample_gates(_sampling_view(full.X, cb), n_new_patterns,
                                             random_state=random_state, warn=False), cb)
    G_new = G_new[:, :n_new_patterns]
    # the dual constraint values of the new patterns (below alpha / 2 they may be upper
    # bounds, which decides nothing here)
    probe, norms_new_cols, norms_new = _pattern_dual_norms(full, G_new, Lam)
    alpha = _program_alpha(estimator)
    worst = max(float(np.max(norms_new)) if norms_new.size else 0.0,
                float(np.max(norms_old)) if norms_old.size else 0.0)
    t_max = alpha / worst if worst > 0 else np.inf
    if loss != "squared":
        t_max = min(1.0, t_max)
    t = full.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
    return {"objective": objective, "bound_old": bound_old,
            "bound_enlarged": full.loss.dual_value(t * Lam), "full": full, "probe": probe,
            "Lam": Lam, "U": U, "c_opt": c_opt, "norms_old": norms_old,
            "norms_new_cols": norms_new_cols, "norms_new": norms_new, "gates_new": G_new,
            "loss": loss}
