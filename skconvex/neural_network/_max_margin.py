"""Two-layer ReLU max-margin classifier: the convex program that gradient flow on an
unregularized two-layer ReLU network implicitly solves (Wang & Pilanci, arXiv:2110.06488;
spec p4_gradient_flow_implicit_bias.md)."""

import warnings
from numbers import Integral, Real

import cvxpy as cp
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skconvex._result import FitResult
from skconvex.arrangements import gate_mask, sample_gates
from skconvex.base import ConvexEstimator
from skconvex.solvers.cvxpy_backend import log_result
from skconvex.utils._progress import ProgressLogger
from skconvex.neural_network._classifier import encode_labels
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem


def _solve_max_margin(problem, *, tol=1e-8, verbose=0, prune_tol=1e-6, **_):
    """The hard- or soft-margin group-ell_1 program with Clarabel; the solution is projected
    onto the cones and (hard margin) rescaled to margin 1 exactly, the dual point from the
    margin constraints' multipliers is scaled into every dual constraint."""
    X, Y, K = problem.X, problem.Y, problem.K
    S = problem.sign_mask
    Us = [cp.Variable((problem.d, problem.Q)) for _ in range(K)]
    Z = [cp.sum(cp.multiply(S, X @ U), axis=1) for U in Us]
    C = np.where(problem.mask[:, problem.col_pattern], 1.0, -1.0)
    cons = [cp.multiply(C, X @ U) >= 0 for U in Us]
    reg = sum(cp.sum(cp.norm(U, 2, axis=0)) for U in Us)
    if problem.hard:
        margin = [cp.multiply(Y[:, k], Z[k]) >= 1 for k in range(K)]
        prob = cp.Problem(cp.Minimize(reg), margin + cons)
    else:
        # hinge by slacks: the margin constraints' multipliers are the dual point
        xi = [cp.Variable(problem.n, nonneg=True) for _ in range(K)]
        margin = [cp.multiply(Y[:, k], Z[k]) >= 1 - xi[k] for k in range(K)]
        hinge = sum(problem.s @ xk for xk in xi)
        prob = cp.Problem(cp.Minimize(hinge + problem.alpha * reg), margin + cons)
    log = ProgressLogger("cvxpy CLARABEL", verbose)
    log.message(f"solving the {'hard' if problem.hard else 'soft'}-margin program over "
                f"{problem.Q} columns")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            prob.solve(solver=cp.CLARABEL, verbose=verbose > 1, tol_gap_abs=tol,
                       tol_gap_rel=tol, tol_feas=tol)
    except cp.error.SolverError as exc:
        raise RuntimeError("the interior-point solver (Clarabel) failed on the max-margin "
                           "program; features on very different scales are the usual cause: "
                           "rescale them (StandardScaler)") from exc
    if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise ValueError("the data are not separable by a two-layer ReLU network with the "
                         f"{problem.n_patterns} sampled activation patterns (hard margin is "
                         "infeasible); use margin='soft' or more patterns")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy (Clarabel) returned no solution: {prob.status}")
    # cvxpy's warnings (e.g. "Solution may be inaccurate") only for a solution that is used:
    # the certificate below says how accurate it is; an infeasible program raises above
    for w in caught:
        if "Solution may be inaccurate" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    U = np.stack([np.asarray(Uk.value) for Uk in Us], axis=-1)
    # interior-point solutions carry many columns at the solver's tolerance: drop them, unless
    # that costs more than tol of the objective (hard margin: a sample's margin can rest on
    # small columns, and the rescaling to margin 1 then pays for them: 0.25% on a
    # barely separable set at prune_tol 1e-6)
    # candidates, preferred in this order unless a later one is better by more than its
    # threshold: pruned and merged; merged (tol); and, a guard against a merge gone wrong,
    # the interior point's own columns (unmerged: many near-copies of each neuron on
    # degenerate data, so only when the merged network is worse by 1e-3 or infeasible)
    norms = problem.group_norms(U)
    U_kept = U * (norms > prune_tol * max(float(norms.max()) if norms.size else 0.0, 1e-300))
    candidates = [(problem.project(_merge_parallel(problem, problem.project(U_kept))), 0.0)]
    if prune_tol > 0:
        candidates.append((problem.project(_merge_parallel(problem, problem.project(U))), tol))
    candidates.append((problem.project(U), 1e-3))
    best = None
    for Uc, threshold in candidates:
        cert = problem.certificate(Uc, margin)
        if best is None or cert[0] < best[1][0] - threshold * abs(cert[0]):
            best = (Uc, cert)
    U, (objective, bound, lam) = best
    if not np.isfinite(objective):
        raise RuntimeError("the interior-point solution misclassifies training samples once "
                           "projected onto its cones (hard margin); rescale the features "
                           "(StandardScaler) or use margin='soft'")
    gap = max(objective - bound, 0.0)
    log_result(log, prob, objective, gap)
    n_iter = max(1, int(getattr(prob.solver_stats, "num_iters", 1) or 1))
    # the certificate of the returned network decides, not the solver's status alone (to
    # 1e-4: pruning and merging the interior point's columns cost up to 1e-5 of the optimum)
    converged = prob.status == cp.OPTIMAL and gap <= max(100.0 * tol, 1e-4) * abs(objective)
    result = FitResult(U.ravel(), objective, bound, n_iter, converged, gap=gap)
    result.info["dual"] = lam
    return result


def _merge_parallel(problem, U, tol=1e-7, cone_tol=1e-3):
    """Columns of the same sign and output with the same direction make one neuron:
    ``relu(X u1) + relu(X u2) = relu(X (u1 + u2))`` and ``||u1|| + ||u2|| = ||u1 + u2||`` when
    ``u2`` lies in ``u1``'s cone. Degenerate data (e.g. orthogonal separable: the optimal
    neurons lie on the boundary of many cells) give interior-point solutions spread over many
    equal columns.

    A column joins another only when its direction agrees to ``cos >= 1 - tol`` AND it lies in
    the other's cone up to ``cone_tol`` (relative to ``max |X u|``: the interior point's
    columns on cell boundaries are up to 1e-4 outside on orthogonal separable data), so the sum
    stays near that cone, onto which it is projected next. Near-parallel directions can fall
    on either side of a sample (a feature of scale 1e4 carries coefficients of 1e-4 that
    barely move the cosine and decide signs), and merging them made a hard-margin network
    misclassify 12 % of its training set. The caller keeps the unmerged network when merging
    costs more than its tolerance."""
    U = U.copy()
    norms = problem.group_norms(U)
    C = np.where(problem.mask[:, problem.col_pattern], 1.0, -1.0)  # (n, Q) cone signs
    for k in range(U.shape[2]):
        for sign in (1.0, -1.0):
            cols = np.flatnonzero((norms[:, k] > 0) & (problem.col_sign == sign))
            if cols.size < 2:
                continue
            dirs = U[:, cols, k] / norms[cols, k]
            XD = problem.X @ dirs  # (n, len(cols)): the directions on the data
            floor = cone_tol * np.max(np.abs(XD), axis=0)
            done = np.zeros(cols.size, dtype=bool)
            for i in range(cols.size):
                if done[i]:
                    continue
                same = (~done) & (dirs[:, i] @ dirs >= 1.0 - tol)
                same[i] = False
                if same.any():
                    # the candidates inside column i's cone
                    inside = np.all(C[:, cols[i], None] * XD >= -floor, axis=0)
                    same &= inside
                if same.any():
                    U[:, cols[i], k] += U[:, cols[same], k].sum(axis=1)
                    U[:, cols[same], k] = 0.0
                    done |= same
                done[i] = True
    return U


class MaxMarginReLUProblem(TwoLayerReLUProblem):
    """The max-margin program on the columns of :class:`TwoLayerReLUProblem` (ReLU, no output
    intercept); ``Y`` holds +-1 labels, one column per one-vs-rest output.

    Hard: ``min sum_{q,k} ||U_qk||  s.t.  Y_ik Z_ik >= 1`` and the cone constraints.
    Soft: ``min sum_i s_i sum_k (1 - Y_ik Z_ik)_+ + alpha sum_{q,k} ||U_qk||`` (``s`` the
    normalized sample weights).
    """

    def __init__(self, X, Y, mask, alpha, *, hard, sample_weight=None):
        super().__init__(X, Y, mask, 1.0 if hard else alpha, "squared",
                         sample_weight=sample_weight, fit_intercept=False, relu=True)
        self.hard = bool(hard)

    def margins(self, U):
        return self.Y * self.forward(U)

    def objective_at(self, U):
        reg = float(np.sum(self.group_norms(U)))
        if self.hard:
            return reg
        hinge = float(np.sum(self.s[:, None] * np.maximum(0.0, 1.0 - self.margins(U))))
        return hinge + self.alpha * reg

    def certificate(self, U, margin_constraints=()):
        """``(objective, dual bound, lam)`` at a cone-feasible ``U``. Hard margin: ``U`` is
        rescaled to margin exactly 1 first (the program is homogeneous); a ``U`` that
        misclassifies a sample (margin <= 0) is infeasible, its objective ``inf``."""
        if self.hard:
            m = float(np.min(self.margins(U))) if U.size else 0.0
            if m > 0:
                U *= 1.0 / m
            else:
                objective = np.inf
        lam = np.column_stack([np.maximum(np.asarray(c.dual_value, float).ravel(), 0.0)
                               for c in margin_constraints]) if len(margin_constraints) \
            else np.zeros(self.Y.shape)
        if not (self.hard and m <= 0):
            objective = self.objective_at(U)
        return objective, self.dual_value(lam), lam

    def dual_value(self, lam):
        """``sum lam`` with ``lam`` scaled into the dual constraints
        ``||P_K(X^T D_q (lam_k * y_k))|| <= alpha`` (``alpha = 1`` for hard margin) of every
        column, and (soft) the box ``0 <= lam_i <= s_i``."""
        if not self.hard:
            lam = np.clip(lam, 0.0, self.s[:, None])
        norms = self.dual_norms(lam * self.Y)
        worst = float(np.max(norms)) if norms.size else 0.0
        t = min(1.0, self.alpha / worst) if worst > 0 else 1.0
        if self.hard and worst > 0:
            t = self.alpha / worst
        return t * float(np.sum(lam))


class ConvexMaxMarginReLUClassifier(ClassifierMixin, ConvexEstimator):
    """Two-layer ReLU classifier trained by the convex program of gradient flow's implicit bias.

    Gradient flow on the *unregularized* logistic (or exponential) loss of a two-layer ReLU
    network ``f(x) = sum_j relu(x~ . w_j) a_j`` (``x~ = [x, 1]`` with ``fit_intercept``) from
    small initializations converges in direction to a KKT point of the max-margin problem
    ``min 1/2 sum_j (||w_j||^2 + a_j^2)  s.t.  y_i f(x_i) >= 1`` (Lyu & Li; Ji & Telgarsky), and
    the global optimum of that problem is the convex program (Wang & Pilanci,
    arXiv:2110.06488)::

        min sum_q (||v_q|| + ||w_q||)  s.t.  y_i sum_q D_q X~ (v_q - w_q) >= 1,
                                            (2 D_q - I) X~ v_q >= 0, (2 D_q - I) X~ w_q >= 0

    over the activation patterns ``D_q`` (sampled: a restriction, exact when all patterns are
    sampled). ``margin="hard"`` solves it (the data must be separable); ``margin="soft"``
    replaces the margin constraints by the mean hinge loss plus ``alpha`` times the group
    norm, which approaches the hard-margin solution (rescaled) as ``alpha -> 0``. Every nonzero
    ``v_q`` / ``w_q`` becomes one balanced hidden unit (``||w_j|| = |a_j|``), so
    ``1/2 ||theta||^2`` of the recovered network equals the convex objective (hard margin). With
    more than two classes, one one-vs-rest network per class (each hidden unit feeds one
    class). The network has no output intercept (it must stay 2-homogeneous); the hidden units
    have biases through the ones column. Inputs are used as given (no standardization: the
    implicit bias depends on the geometry of the data).

    Parameters
    ----------
    margin : {"soft", "hard"}, default="soft"
    alpha : float, default=1e-2
        Soft margin: weight of the group norm against the mean hinge loss (> 0).
    n_patterns : int, default=50
        Budget of distinct sampled activation patterns.
    fit_intercept : bool, default=True
        Hidden-unit biases (a ones column appended to ``X``).
    solver : {"cvxpy"}, default="cvxpy"
        The second-order cone program with Clarabel.
    prune_tol : float, default=1e-6
        Columns of the solution with a norm below ``prune_tol`` times the largest are set to
        zero (the interior point leaves them at its tolerance); the hard-margin solution is
        then rescaled to margin 1 and the duality gap computed for the pruned network. When
        pruning raises the objective by more than ``tol`` (relative; a hard margin can rest
        on small columns), the unpruned network is kept.
    tol : float, default=1e-8
        Clarabel's tolerances.
    max_iter : int, default=1000
        Unused by Clarabel (kept for the common interface).
    random_state : int, RandomState instance or None, default=None
        Seed of the pattern sampler.
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray
    coefs_ : list of ndarray
        ``[W1 (n_features, n_hidden_), W2 (n_hidden_, n_outputs)]``.
    intercepts_ : list of ndarray
        ``[b1 (n_hidden_,), zeros (n_outputs,)]``.
    n_hidden_ : int
    dual_coef_ : ndarray of shape (n_samples, n_outputs)
        The multipliers ``lam`` of the margins (hard) or hinge terms (soft), before scaling
        into the dual constraints.
    support_ : ndarray of int
        Samples with a positive multiplier (the support vectors).
    convex_objective_ : float
        The program's objective (= ``objective_``); hard margin: ``1/2 ||theta||^2`` of the
        recovered network, whose smallest margin is 1.
    dual_objective_ : float
        ``sum lam`` scaled into every dual constraint: a lower bound of the optimum.
    duality_gap_, n_iter_, fit_time_, solver_, n_features_in_
        As for every skconvex estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import ConvexMaxMarginReLUClassifier
    >>> X = np.array([[2.0, 0.1], [1.0, 0.3], [0.1, 2.0], [0.2, 1.0]])
    >>> y = np.array([1, 1, -1, -1])
    >>> clf = ConvexMaxMarginReLUClassifier(margin="hard", fit_intercept=False, n_patterns=20,
    ...                                     random_state=0).fit(X, y)
    >>> clf.score(X, y), clf.duality_gap_ < 1e-6 * clf.objective_
    (1.0, True)
    """

    _solvers = {"cvxpy": _solve_max_margin}

    def _solver_kwargs(self, solver, problem):
        return {"prune_tol": self.prune_tol}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "margin": [StrOptions({"soft", "hard"})],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_patterns": [Interval(Integral, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"cvxpy"})],
        "prune_tol": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, margin="soft", *, alpha=1e-2, n_patterns=50, fit_intercept=True,
                 solver="cvxpy", prune_tol=1e-6, tol=1e-8, max_iter=1000, random_state=None,
                 verbose=0):
        self.margin = margin
        self.prune_tol = prune_tol
        self.alpha = alpha
        self.n_patterns = n_patterns
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _augment(self, X):
        return np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X

    def _make_problem(self, X, y, sample_weight=None):
        X, yi, sample_weight = encode_labels(self, X, y, sample_weight)
        K = len(self.classes_)
        Y = (2.0 * yi - 1.0)[:, None] if K == 2 else 2.0 * np.eye(K)[yi] - 1.0
        Xt = self._augment(X)
        G = sample_gates(Xt, self.n_patterns, sample_weight=sample_weight,
                         random_state=check_random_state(self.random_state))
        problem = MaxMarginReLUProblem(Xt, Y, gate_mask(Xt, G), self.alpha,
                                       hard=self.margin == "hard", sample_weight=sample_weight)
        problem.gates_ = G
        return problem

    def _set_fitted(self, result, problem):
        U = result.w.reshape(problem.shape)
        norms = problem.group_norms(U)
        tol = 1e-9 * max(1.0, float(norms.max()) if norms.size else 1.0)
        q_idx, k_idx = np.nonzero(norms > tol)
        mags = norms[q_idx, k_idx]
        V = U[:, q_idx, k_idx] / np.sqrt(mags)
        a = np.where(problem.col_sign[q_idx] > 0, 1.0, -1.0) * np.sqrt(mags)
        W2 = np.zeros((q_idx.size, problem.K))
        W2[np.arange(q_idx.size), k_idx] = a
        d = self.n_features_in_
        self.coefs_ = [V[:d], W2]
        self.intercepts_ = [V[d] if self.fit_intercept else np.zeros(q_idx.size),
                            np.zeros(problem.K)]
        self.n_hidden_ = int(q_idx.size)
        self.n_patterns_ = int(problem.n_patterns)
        lam = result.info.get("dual", np.zeros(problem.Y.shape))
        self.dual_coef_ = lam
        self.support_ = np.flatnonzero(lam.max(axis=1) > 1e-9 * max(1.0, float(lam.max())))
        self.convex_objective_ = float(result.objective)
        self.dual_objective_ = float(result.dual_bound)
        self.max_violation_ = problem.max_violation(U)

    def decision_function(self, X):
        """Network output: (n_samples,) for two classes, else (n_samples, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        out = np.maximum(X @ self.coefs_[0] + self.intercepts_[0], 0.0) @ self.coefs_[1]
        return out[:, 0] if len(self.classes_) == 2 else out

    def predict(self, X):
        """``sign(f(x))`` (two classes) or the class of the largest output."""
        out = self.decision_function(X)
        if out.ndim == 1:
            return self.classes_[(out > 0).astype(int)]
        return self.classes_[np.argmax(out, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def is_orthogonal_separable(X, y):
    """Whether ``x_i . x_j > 0`` for every pair of the same class and ``<= 0`` across classes
    (binary labels)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(f"is_orthogonal_separable needs 2 classes, got {classes.size}")
    G = X @ X.T
    same = y[:, None] == y[None, :]
    return bool(np.all(G[same] > 0) and np.all(G[~same] <= 0))


def orthogonal_separable_solution(X, y):
    """The global max-margin network for orthogonal separable data (spec p4 section 2):
    ``u_pm = argmin ||u||  s.t.  X_pm u >= 1`` for each class; the network
    ``f(x) = relu(x . u_+) - relu(x . u_-)`` (the larger label is the positive class), of value
    ``||u_+|| + ||u_-||``. Returns ``(u_plus, u_minus)``."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    classes = np.unique(y)
    if not is_orthogonal_separable(X, y):
        raise ValueError("the data are not orthogonal separable")

    def minnorm(A):
        u = cp.Variable(A.shape[1])
        cp.Problem(cp.Minimize(cp.norm(u)), [A @ u >= 1]).solve(solver=cp.CLARABEL)
        return np.asarray(u.value)

    return minnorm(X[y == classes[1]]), minnorm(X[y == classes[0]])

