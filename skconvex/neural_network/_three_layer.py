"""Three-layer ReLU networks (sums of sub-networks) trained by their convex program."""

import warnings
from abc import abstractmethod
from numbers import Integral, Real

import cvxpy as cp
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex.arrangements import (
    gate_mask,
    sample_gates,
    sample_subnetwork_gates,
    subnetwork_mask,
)
from skconvex.base import ConvexEstimator
from skconvex.neural_network._classifier import NetworkClassifierMixin, fitted_targets
from skconvex.neural_network._regressor import _program_alpha, _target_scale
from skconvex.neural_network._two_layer import (
    OptimalityCertificate,
    _BaseConvexReLU,
    _bias_scaling,
    _generators_on_data,
    _polish,
    _sampling_view,
    _solve_cvxpy as _solve_cvxpy_gated,
)
from skconvex.problems.gated_three_layer import GatedThreeLayerProblem, pair_dual_norms
from skconvex.problems.three_layer import ThreeLayerReLUProblem
from skconvex.solvers.augmented_lagrangian import solve_augmented_lagrangian
from skconvex.solvers.conic_polish import solve_on_cone_rows
from skconvex.solvers.cvxpy_backend import solve_cvxpy
from skconvex.solvers.fista import solve_fista, unpack
from skconvex.solvers.gram_newton import polish_gram_newton
from skconvex.solvers.rounds import accept_polish, solve_in_rounds
from skconvex.utils._progress import ProgressLogger

# solver="auto" solves programs with n_samples * n_columns * n_outputs up to this by the
# interior point (Clarabel), larger ones by the augmented Lagrangian
_SMALL_SIZE = 20_000


# gated programs with n_samples * n_pairs * n_outputs up to this get their FISTA solution
# polished (proximal-gradient rounds and Newton's method on the support) to machine precision
_POLISH_SIZE = 10_000

# default pattern budgets (first layer, second layer) of each activation
_DEFAULT_PATTERNS = {"gated_relu": (20, 20), "relu": (12, 12)}


def _newton_polish_gated(problem, result, user_tol):
    """Newton's method on the support of ``result`` in normal-equations form
    (:func:`~skconvex.solvers.gram_newton.polish_gram_newton`), kept when the certificate of
    the whole program says the objective went down."""
    def good_enough(U, c):
        objective, bound, _, _ = problem.certificate(U, c)
        return objective - bound <= 0.1 * user_tol * abs(objective)

    w, improved = polish_gram_newton(problem, result.w, stop=good_enough)
    return accept_polish(problem, result, w if improved else None, user_tol)


def _solve_gated_rounds(problem, **kwargs):
    """FISTA on working sets to a loose relative gap, then Newton's method on the support,
    checked by the certificate of the whole program; repeated from the better point with a
    gap target ten times tighter until the certificate meets ``tol``.

    Proximal gradient is slow on these programs at small ``alpha`` once the support is
    (nearly) found: pairs that share patterns make the groups strongly correlated. On the
    support the program is smooth and has (|S| d)^2 Hessian entries, and Newton's method
    reaches rounding level in a few steps when the support is right."""
    return solve_in_rounds(problem, _newton_polish_gated, tol=kwargs.pop("tol", 1e-6),
                           max_iter=kwargs.pop("max_iter", 5000),
                           first_round_gap=_FIRST_ROUND_GAP,
                           warm_start=kwargs.pop("warm_start", None), polish_converged=False,
                           **kwargs)


# the first proximal-gradient round of the gated "fista" solver stops at this relative gap
_FIRST_ROUND_GAP = 1e-2


# the ReLU program's conic polish (:func:`_conic_polish`) runs when the support's program
# (n_samples x support columns x d) and each block's multiplier program (n_samples x 2 P1 x d)
# have at most this many entries
_CONIC_POLISH_SIZE = 2_000_000
# its first support: the columns above this times the largest column norm (the others join
# when the certificate finds them violated)
_SUPPORT_TOL = 1e-3
# the interior-point tolerance of its last round, when the first ones leave the certificate
# short of tol on a complete support
_TIGHT_TOL = 1e-11


def _conic_polish(problem, result, user_tol, max_rounds=6, verbose=0):
    """The ReLU program solved on the support of an augmented-Lagrangian point, and certified.

    The augmented Lagrangian finds the support (the nonzero columns) long before its
    second-layer multipliers converge (squared loss: see the solver notes of the estimators).
    The program restricted to the support is small: the interior-point method (Clarabel)
    solves it to 1e-9 on working sets of its cone rows
    (:func:`~skconvex.solvers.conic_polish.solve_on_cone_rows`), and
    :meth:`~skconvex.problems.three_layer.ThreeLayerReLUProblem.best_multipliers` gives every
    block the second-layer multipliers that make the whole program's certificate tightest for
    that point. Columns outside the support whose dual constraint that certificate finds
    violated join it and the round repeats (``max_rounds``); when none is but the gap is above
    ``user_tol``, a last round solves at ``_TIGHT_TOL`` and lets the blocks with output give
    multipliers to all their rows. The best round replaces
    ``result`` when it meets ``user_tol`` (feasible, to ``1e-8 max(1, max |y|)``), when it is
    feasible and ``result`` is not, or when both are (in)feasible and its gap is smaller."""
    U, c = unpack(result.w, problem.shape)
    norms = problem.group_norms(U).max(axis=1)
    if not norms.any() or problem.n * 2 * problem.n_first * problem.d > _CONIC_POLISH_SIZE:
        return result
    ws = np.flatnonzero(norms > _SUPPORT_TOL * norms.max())
    scale = max(1.0, float(np.max(np.abs(problem.Y))))
    state = {"mu": problem.al_state["mu"].copy(), "rho": problem.al_state["rho"]}
    best = None
    log = ProgressLogger("conic_polish", verbose, tol=user_tol)
    tight = False
    for n_round in range(1, max_rounds + 1):
        if problem.n * ws.size * problem.d > _CONIC_POLISH_SIZE:
            break
        try:
            Us, cs, _ = solve_on_cone_rows(problem.restrict(ws), U[:, ws], c,
                                           tol=_TIGHT_TOL if tight else 1e-9)
            U = np.zeros(problem.shape)
            U[:, ws], c = Us, cs
            objective, bound, c, dual = problem.best_multipliers(U, c, all_rows=tight)
        except (cp.error.SolverError, RuntimeError):
            break
        viol = problem.max_violation(U)
        outside = np.ones(problem.Q, dtype=bool)
        outside[ws] = False
        violators = outside[:, None] & (dual > problem.alpha * (1 + 1e-9))
        log.message(f"round {n_round}: support {ws.size} columns, relative gap "
                    f"{(objective - bound) / max(abs(objective), 1e-300):.3e}, violation "
                    f"{viol:.1e}, {int(violators.any(axis=1).sum())} columns outside violated")
        if best is None or objective - bound < best[0] - best[1]:
            best = (objective, bound, np.concatenate([U.ravel(), c]), viol,
                    {"mu": problem.al_state["mu"].copy(), "rho": 0.0})
        if objective - bound <= user_tol * abs(objective) or (tight and not violators.any()):
            break
        if not violators.any():
            # the support is complete but the certificate is not tight enough: the point is a
            # little off the optimal face (the predictions' error is about the square root of
            # the objective's). Once more, with a tighter interior point and multipliers on
            # every row of the blocks with output
            tight = True
            continue
        # the violators join in the direction they would move: their projected dual vectors
        # (the rows nearest to it start the working set of their cone rows)
        _, Gam = problem.dual_point(problem.forward(U), c)
        P = problem.project(problem.adjoint(Gam), violators)
        U = U + 1e-12 * np.where(violators[None], P, 0.0)
        ws = np.union1d(ws, np.flatnonzero(violators.any(axis=1)))
    if best is not None:
        objective, bound, w, viol, best_state = best
        gap = max(objective - bound, 0.0)
        feasible = viol <= 1e-8 * scale
        was_feasible = (result.info or {}).get("max_violation", np.inf) <= 1e-8 * scale
        met = feasible and gap <= user_tol * abs(objective)
        if met or (feasible and not was_feasible) or (feasible == was_feasible
                                                      and gap < result.duality_gap):
            result.w, result.objective, result.dual_bound, result.gap = w, objective, bound, gap
            result.converged = met
            result.info = {**(result.info or {}), "max_violation": viol, "polish": "conic"}
            state = best_state
    problem.set_multipliers(state["mu"], state["rho"])
    return result


def _solve_relu(problem, **kwargs):
    """solver="fista" for the ReLU program: the augmented Lagrangian, then, when it stops short
    of ``tol`` with the squared loss on a program small enough, the conic polish on its support
    (:func:`_conic_polish`). The classification losses converge without it, and their
    exponential cones make the interior-point programs slow (a cut fit of wine, three
    outputs: 4 minutes of polish, against 1.4 s for the augmented Lagrangian to converge)."""
    result = solve_augmented_lagrangian(problem, **kwargs)
    if not result.converged and problem.loss_name == "squared":
        result = _conic_polish(problem, result, kwargs.get("tol", 1e-6),
                               verbose=kwargs.get("verbose", 0))
    return result


def _solve_first_order(problem, **kwargs):
    """solver="fista": for the gated program, accelerated proximal gradient on working sets
    with Newton's method on the support between rounds (:func:`_solve_gated_rounds`),
    polished to machine precision when tiny; for the ReLU program, :func:`_solve_relu`."""
    if not isinstance(problem, GatedThreeLayerProblem):
        return _solve_relu(problem, **kwargs)
    if problem.shared:
        result = solve_fista(problem, **kwargs)
    else:
        result = _solve_gated_rounds(problem, **kwargs)
    if problem.n * problem.Q * problem.K <= _POLISH_SIZE and result.w.size > problem.K:
        result = _polish(problem, result, kwargs.get("tol", 1e-6))
    return result


def _solve_cvxpy(problem, **kwargs):
    """The interior-point reference (Clarabel) at a tight tolerance. Gated program: the
    two-layer path (polished to machine precision). ReLU program: the first-layer cones are
    restored exactly by projection and the certificate uses the solver's second-layer duals; if
    the interior-point solver fails, the augmented Lagrangian takes over, with a warning."""
    if isinstance(problem, GatedThreeLayerProblem):
        return _solve_cvxpy_gated(problem, **kwargs)
    kwargs.pop("warm_start", None)
    user_tol = kwargs.get("tol", 1e-6)
    result = None
    # a tight tolerance first; Clarabel sometimes fails there on the exponential cones of the
    # classification losses and succeeds at its default one. The squared loss tries 1e-12
    # before (scikit-learn's sample-weight check needs its predictions to 1e-7)
    tight = (1e-12, 1e-10) if problem.loss_name == "squared" else (1e-10,)
    for ipm_tol in [min(user_tol, t) for t in tight] + [1e-8]:
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                        category=UserWarning)
                result = solve_cvxpy(problem, **{**kwargs, "tol": ipm_tol})
            break
        except (cp.error.SolverError, RuntimeError):
            continue
    if result is None:
        warnings.warn("the interior-point solver failed on this program; solving it by the "
                      "augmented Lagrangian instead", RuntimeWarning, stacklevel=2)
        problem.set_multipliers(np.zeros_like(problem.al_state["mu"]), 0.0)
        result = solve_augmented_lagrangian(problem, **kwargs)
        result.info["solver"] = "fista"  # what the fit reports in solver_ (first order)
        return result
    result.converged = result.duality_gap <= user_tol * abs(result.objective)
    U, c = unpack(result.w, problem.shape)
    scale = max(1.0, float(np.max(np.abs(problem.Y))))
    feasible = problem.max_violation(U) <= 1e-8 * scale
    if feasible and not result.converged:
        # the solver's second-layer duals certify loosely: the best multipliers for its point
        objective, bound, c, _ = problem.best_multipliers(U, c)
        if objective - bound < result.duality_gap:
            result.w = np.concatenate([U.ravel(), c])
            result.objective, result.dual_bound = objective, bound
            result.gap = max(objective - bound, 0.0)
            result.converged = result.gap <= user_tol * abs(objective)
    if not result.converged or not feasible:
        # an inaccurate interior-point solution: the augmented Lagrangian from it, with the
        # solver's duals as multipliers
        problem.set_multipliers(problem.al_state["mu"], 0.0)
        result = solve_augmented_lagrangian(problem, **{**kwargs, "warm_start": result.w})
    return result


def _parse_budgets(n_patterns, activation="relu"):
    if isinstance(n_patterns, str) and n_patterns == "auto":
        return _DEFAULT_PATTERNS[activation]
    if isinstance(n_patterns, (Integral, np.integer)) and not isinstance(n_patterns, bool):
        P1 = P2 = int(n_patterns)
    elif isinstance(n_patterns, tuple) and len(n_patterns) == 2 and all(
            isinstance(v, (Integral, np.integer)) and not isinstance(v, bool)
            for v in n_patterns):
        P1, P2 = (int(v) for v in n_patterns)
    else:
        raise ValueError(f"n_patterns must be a positive int or a pair (first-layer, "
                         f"second-layer) of positive ints, got {n_patterns!r}")
    if P1 < 1 or P2 < 1:
        raise ValueError(f"n_patterns must be >= 1, got {n_patterns!r}")
    return P1, P2


def _new_gates(Xt, n_new, width, G_old, cb, rng):
    """Fresh first-layer generators and second-layer sub-networks for a certificate, sampled
    as the fit samples them (on the data with the constant column at 1; the second-layer ones
    drawing their first layers from the old and the new generators), returned on ``Xt``
    (constant column ``cb``): ``(G_new, W1, w2)``."""
    Xs = _sampling_view(Xt, cb)
    G_new = sample_gates(Xs, n_new, random_state=rng, warn=False)
    first = np.hstack([_generators_on_data(G_old, 1.0 / cb), G_new])
    W1, w2 = sample_subnetwork_gates(Xs, n_new, width=width, first_layer=first,
                                     random_state=rng)
    return _generators_on_data(G_new, cb), _generators_on_data(W1, cb, axis=1), w2


# certificates of ReLU three-layer fits: blocks whose new columns get their best multipliers
# (those of the largest values; the others keep upper bounds)
_REFINE_BLOCKS = 16
# ... each by working sets of columns, this many more per solve (a block of diabetes' fresh
# patterns has 2,000 columns: 10 s per interior-point solve on all of them)
_REFINE_COLUMNS = 64


def _refine_blocks(full, T, Lam, M1n, M2n, values, blocks, threshold):
    """The certificate's values of new columns with each block's best multipliers.

    ``values`` (flat) are the new columns' projected dual norms at the fit's multipliers (zero
    in new blocks) and ``blocks`` their blocks in the enlarged program (fitted and new
    patterns: :meth:`~skconvex.problems.three_layer.ThreeLayerReLUProblem.probe_norms`). Those
    are upper bounds: a block's multipliers can lower its columns' norms. Every block with a
    value above ``threshold`` gets the multipliers that minimize its largest norm (the
    per-block program of ``best_multipliers``, from the fit's, with every row allowed), and
    its new columns the exact norms there (the largest over outputs): the blocks in the order
    of their largest value, at most ``_REFINE_BLOCKS``; among blocks of more than
    ``_REFINE_COLUMNS`` columns, up to the first whose violation the best multipliers do not
    remove (the fit is then not optimal over the enlarged program, and more refinement would
    cost seconds per block to tighten numbers that certify nothing). The others keep their
    upper bounds. Blocks are independent given ``Lam``, so the enlarged program's dual point
    keeps the fit's multipliers elsewhere.

    Returns ``(values, worst)``: the values with those of the refined blocks replaced, in the
    same order, and the largest norm of any column (fitted or new) of a refined block (the
    enlarged bound's scaling must cover it: their multipliers changed)."""
    above = values > threshold
    if not above.any():
        return values, 0.0
    # the candidate blocks, largest value first, at most _REFINE_BLOCKS of them
    top = np.zeros(int(blocks.max()) + 1)
    np.maximum.at(top, blocks[above], values[above])
    cand = np.flatnonzero(top > 0)
    cand = cand[np.argsort(-top[cand], kind="stable")][:_REFINE_BLOCKS]
    P1o, P2o = full.n_first, full.n_second
    P2a = P2o + M2n.shape[1]
    M1_all, M2_all = np.hstack([full.mask, M1n]), np.hstack([full.mask2, M2n])
    n, K = Lam.shape
    hscale = float(np.max(np.abs(T))) if T.size else 0.0
    values = values.copy()
    worst = 0.0
    for b in cand:
        # the block's program alone: its second-layer pattern j with every first-layer one
        # (the enlarged program would keep warm starts for all its columns: 4 million on
        # diabetes' fresh patterns), the fit's multipliers and image in a fitted block
        j, sign = b % P2a, int(b >= P2a)
        single = ThreeLayerReLUProblem(full.X, full.Y, M1_all, M2_all[:, j:j + 1], full.alpha,
                                       full.loss_name, sample_weight=full.s,
                                       fit_intercept=full.fit_intercept)
        mu_b, H_b = np.zeros((n, K)), np.zeros((n, K))
        if j < P2o:
            mu_b = full.al_state["mu"][:, j + sign * P2o]
            H_b = T[:, j + sign * P2o]
        cols = np.flatnonzero(single.col_block == sign)
        sub = single.restrict(cols)
        norms = np.max([sub._block_multipliers(0, k, Lam[:, k], mu_b[:, k], H_b[:, k], hscale,
                                               True, max_columns=_REFINE_COLUMNS)[1]
                        for k in range(K)], axis=0)
        worst = max(worst, float(norms.max()))
        # a violation the best multipliers do not remove, on a block large enough to cost
        # seconds: the refinement stops there
        stop = norms.max() > threshold and cols.size > _REFINE_COLUMNS
        # the new columns of the block, in the order probe_norms lists them: (s2, i) with i
        # over the new first-layer patterns (a fitted block) or over all (a new block)
        pattern, s2 = sub.col_pattern, sub.col_sign
        new = pattern >= P1o if j < P2o else np.ones(cols.size, dtype=bool)
        exact = {(float(sg), int(i)): v for sg, i, v in zip(s2[new], pattern[new], norms[new])}
        at = np.flatnonzero(blocks == b)
        values[at] = _in_probe_order(exact, at, P1o, P2o, P1o + M1n.shape[1], M2n.shape[1])
        if stop:
            break
    return values, worst


def _in_probe_order(exact, at, P1o, P2o, P1a, P2n):
    """The exact values ``exact[(s2, i)]`` of a block's new columns at their flat positions
    ``at`` in :meth:`~skconvex.problems.three_layer.ThreeLayerReLUProblem.probe_norms`."""
    return np.array([exact[_probe_column(q, P1o, P2o, P1a, P2n)] for q in at])


def _probe_column(q, P1o, P2o, P1a, P2n):
    """``(s2, i)``: the second-layer sign and first-layer pattern (in the enlarged program)
    of the column at flat position ``q`` of ``probe_norms`` (its block is the one
    ``return_blocks`` gives)."""
    n_a = 2 * (P1a - P1o) * 2 * P2o  # part (a): fitted blocks, new first-layer patterns
    if q < n_a:  # (s2, i, b): b fastest, then i, then the sign
        return (1.0 if q < n_a // 2 else -1.0), int(P1o + (q % (n_a // 2)) // (2 * P2o))
    # part (b): two arrays (+ blocks, - blocks), each (i, c): s2 = + on the first half of c
    i, c = divmod((q - n_a) % (P1a * 2 * P2n), 2 * P2n)
    return (1.0 if c < P2n else -1.0), int(i)


class _BaseConvexThreeLayer(ConvexEstimator):
    """Shared machinery of the three-layer convex estimators.

    Preprocessing as for the two-layer estimators: features standardized with (weighted) means
    and standard deviations and, with ``fit_intercept``, a constant column of value
    ``intercept_scaling`` appended (first-layer biases) and an unpenalized output intercept.
    Patterns are sampled on the preprocessed data with the constant column at 1 (the same
    patterns for every ``intercept_scaling``); the recovered weights are mapped back to raw
    inputs.
    """

    _solvers = {"fista": _solve_first_order, "cvxpy": _solve_cvxpy}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "width": [Interval(Integral, 1, None, closed="left")],
        "n_patterns": [Interval(Integral, 1, None, closed="left"), tuple,
                       StrOptions({"auto"})],
        "activation": [StrOptions({"gated_relu", "relu"})],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "fista", "cvxpy"})],
    }

    _prepare = _BaseConvexReLU._prepare

    def _auto_solver(self, problem):
        if isinstance(problem, GatedThreeLayerProblem):
            # as the two-layer estimators: the polished interior point on tiny programs (toy
            # data, the sklearn checks), where ill-conditioned group lassos can take FISTA
            # tens of thousands of iterations; FISTA on working sets elsewhere
            return "cvxpy" if problem.n * problem.Q * problem.K <= _POLISH_SIZE else "fista"
        if problem.n * problem.Q * problem.K <= _SMALL_SIZE:
            return "cvxpy"
        return "fista"

    def _build(self, X, Y, sample_weight, loss):
        P1, P2 = _parse_budgets(self.n_patterns, self.activation)
        Xt, mean, scale = self._prepare(X, sample_weight)
        rng = check_random_state(self.random_state)
        cb = _bias_scaling(self)
        Xs = _sampling_view(Xt, cb)
        G = sample_gates(Xs, P1, sample_weight=sample_weight, random_state=rng)
        W1, w2 = sample_subnetwork_gates(Xs, P2, width=self.width, first_layer=G,
                                         sample_weight=sample_weight, random_state=rng)
        G, W1 = _generators_on_data(G, cb), _generators_on_data(W1, cb, axis=1)
        program = GatedThreeLayerProblem if self.activation == "gated_relu" else \
            ThreeLayerReLUProblem
        M2 = subnetwork_mask(Xt, W1, w2)
        problem = program(Xt, Y, gate_mask(Xt, G), M2, _program_alpha(self), loss,
                          sample_weight=sample_weight, fit_intercept=self.fit_intercept)
        if problem.Q == 0:
            raise ValueError(f"no pair of the {G.shape[1]} first-layer and {M2.shape[1]} "
                             f"second-layer activation patterns is active on a common sample "
                             f"(n_patterns={self.n_patterns!r}): the program has no column; "
                             f"use a larger n_patterns")
        problem.mean_, problem.scale_, problem.bias_scale_ = mean, scale, cb
        problem.gates_, problem.subnet_gates_ = G, (W1, w2)
        return problem

    # -- recovery ------------------------------------------------------------------------
    def _to_raw(self, W, problem):
        """Weights ``W`` (d~, m) acting on standardized inputs ``x~ = [(x - mean) / scale, c]``
        (``c = intercept_scaling``) as weights (n_features + 1, m) acting on ``[x, 1]``."""
        d = problem.mean_.shape[0]
        Wr = W[:d] / problem.scale_[:, None]
        br = ((problem.bias_scale_ * W[d] if self.fit_intercept else np.zeros(W.shape[1]))
              - problem.mean_ @ Wr)
        return np.vstack([Wr, br])

    def _set_fitted_gated(self, result, problem):
        """One sub-network per (second-layer pattern j, output k) with nonzero groups: its
        first-layer neurons are the nonzero ``w_ij`` scaled to ``||W1||_F = ||w2|| = 1``, each
        gated by its first-layer generator ``g_i``; its output unit is gated by the random
        sub-network that produced ``D2_j``."""
        U, c = unpack(result.w, problem.shape)
        norms = problem.group_norms(U)  # (Q, K)
        tol = 1e-12 * float(norms.max()) if norms.size else 0.0
        G = problem.gates_
        V1, v2 = problem.subnet_gates_
        subnets, std_subnets, gates = [], [], []
        for k in range(problem.K):
            live = norms[:, k] > tol
            for j in np.unique(problem.pair_second[live]):
                cols = np.flatnonzero(live & (problem.pair_second == j))
                mags = norms[cols, k]
                t = float(mags.sum())
                W1s = U[:, cols, k] / np.sqrt(mags * t)  # unit Frobenius norm
                w2 = np.sqrt(mags / t)  # unit norm
                w3 = np.zeros(problem.K)
                w3[k] = t
                std_subnets.append((W1s, w2, w3))
                subnets.append((self._to_raw(W1s, problem), w2, w3))
                gates.append((self._to_raw(G[:, problem.pair_first[cols]], problem),
                              self._to_raw(V1[j], problem), v2[j].copy()))
        self.subnetworks_ = subnets
        self.subnetwork_gates_ = gates
        self._std_subnetworks = std_subnets
        self.n_subnetworks_ = len(subnets)
        d = problem.mean_.shape[0]
        R = len(subnets)
        widths = [W.shape[1] for W, _, _ in subnets]
        m = int(sum(widths))
        mg = self.width * R
        W1, b1, G1, g1 = np.zeros((d, m)), np.zeros(m), np.zeros((d, m)), np.zeros(m)
        W2, W3 = np.zeros((m, R)), np.zeros((R, problem.K))
        V1d, vb, V2 = np.zeros((d, mg)), np.zeros(mg), np.zeros((mg, R))
        off = 0
        for r, ((W, w2, w3), (Gr, Vr, vr)) in enumerate(zip(subnets, gates)):
            h = W.shape[1]
            W1[:, off:off + h], b1[off:off + h] = W[:-1], W[-1]
            G1[:, off:off + h], g1[off:off + h] = Gr[:-1], Gr[-1]
            W2[off:off + h, r] = w2
            W3[r] = w3
            sl = slice(r * self.width, (r + 1) * self.width)
            V1d[:, sl], vb[sl], V2[sl, r] = Vr[:-1], Vr[-1], vr
            off += h
        self.coefs_ = [W1, W2, W3]
        self.intercepts_ = [b1, np.zeros(R), np.asarray(c, dtype=np.float64) + problem.y_offset]
        self.gate_coefs_ = [G1, V1d, V2]
        self.gate_intercepts_ = [g1, vb]
        self.n_patterns_ = (int(problem.n_first), int(problem.n_second))
        self.n_pairs_ = int(problem.Q)
        self.max_violation_ = 0.0
        self._pairs = (problem.pair_first, problem.pair_second)
        self._convex_weights = result.w
        self._gates_std = problem.gates_
        self._subnet_gates_std = problem.subnet_gates_
        self._mean, self._scale = problem.mean_, problem.scale_
        self._bias_scale = problem.bias_scale_

    def _set_fitted(self, result, problem):
        if isinstance(problem, GatedThreeLayerProblem):
            return self._set_fitted_gated(result, problem)
        U, c = unpack(result.w, problem.shape)
        norms = problem.group_norms(U)  # (Q, K)
        tol = 1e-12 * float(norms.max()) if norms.size else 0.0
        d = problem.mean_.shape[0]
        subnets, std_subnets = [], []
        for k in range(problem.K):
            live = norms[:, k] > tol
            for b in np.unique(problem.col_block[live]):
                cols = np.flatnonzero(live & (problem.col_block == b))
                mags = norms[cols, k]
                t = float(mags.sum())
                W1s = U[:, cols, k] / np.sqrt(mags * t)  # unit Frobenius norm
                w2 = problem.col_sign[cols] * np.sqrt(mags / t)  # unit norm
                w3 = np.zeros(problem.K)
                w3[k] = problem.block_sign[b] * t
                std_subnets.append((W1s, w2, w3))
                subnets.append((self._to_raw(W1s, problem), w2, w3))
        self.subnetworks_ = subnets
        self._std_subnetworks = std_subnets
        self.n_subnetworks_ = len(subnets)
        # the whole network as three dense layers (block structure) for a fast forward pass
        widths = [W.shape[1] for W, _, _ in subnets]
        m = int(sum(widths))
        W1 = np.zeros((d, m))
        b1 = np.zeros(m)
        W2 = np.zeros((m, len(subnets)))
        W3 = np.zeros((len(subnets), problem.K))
        off = 0
        for r, (W, w2, w3) in enumerate(subnets):
            h = W.shape[1]
            W1[:, off:off + h], b1[off:off + h] = W[:-1], W[-1]
            W2[off:off + h, r] = w2
            W3[r] = w3
            off += h
        self.coefs_ = [W1, W2, W3]
        self.intercepts_ = [b1, np.zeros(len(subnets)),
                            np.asarray(c, dtype=np.float64) + problem.y_offset]
        self.n_patterns_ = (int(problem.n_first), int(problem.n_second))
        self.max_violation_ = problem.max_violation(U)
        self._convex_weights = result.w
        self._gates_std = problem.gates_
        self._subnet_gates_std = problem.subnet_gates_
        self._mean, self._scale = problem.mean_, problem.scale_
        self._bias_scale = problem.bias_scale_
        # the second-layer multipliers the certificate used
        self._multipliers = problem.mu_plus(problem.forward(U)).copy()

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.activation == "gated_relu":
            G1, V1, V2 = self.gate_coefs_
            g1, vb = self.gate_intercepts_
            H1 = (X @ self.coefs_[0] + self.intercepts_[0]) * ((X @ G1 + g1) >= 0)
            gate2 = (np.maximum(X @ V1 + vb, 0.0) @ V2) >= 0
            return ((H1 @ self.coefs_[1]) * gate2) @ self.coefs_[2] + self.intercepts_[2]
        H1 = np.maximum(X @ self.coefs_[0] + self.intercepts_[0], 0.0)
        H2 = np.maximum(H1 @ self.coefs_[1], 0.0)
        return H2 @ self.coefs_[2] + self.intercepts_[2]

    def _penalty(self):
        return _program_alpha(self) * float(sum(np.sum(np.abs(w3))
                                                for _, _, w3 in self.subnetworks_))

    @abstractmethod
    def _data_loss(self, out, Y, s):
        """The (weighted by ``s``) mean loss of the network output ``out`` on the targets
        ``Y`` (n, K) encoded as in the program (``fitted_targets``)."""

    def regularized_loss(self, X, y, sample_weight=None):
        """The objective (N) of the recovered network on ``(X, y)``: the (weighted) mean loss
        of the forward pass plus ``alpha sum_k |w3_k|`` (``alpha * y_scale_`` for the
        regressor). Every sub-network has
        ``||W1||_F = ||w2||_2 = 1`` on the standardized inputs (see ``subnetwork_norms``), so
        this is the value of (N) at a feasible point."""
        X, Y, _, s = fitted_targets(self, X, y, sample_weight)
        out = self._forward(X)
        s = np.ones(len(out)) if s is None else s
        return self._data_loss(out, Y, s) + self._penalty()

    def subnetwork_norms(self):
        """``(||W1||_F, ||w2||_2)`` of every recovered sub-network on the standardized inputs
        (where the constraints of (N) act): both 1 up to rounding."""
        check_is_fitted(self)
        return np.array([[np.linalg.norm(W), np.linalg.norm(w2)]
                         for W, w2, _ in self._std_subnetworks]).reshape(-1, 2)

    def _certify(self, X, y, *, n_new_patterns=100, sample_weight=None, rtol=1e-4,
                 random_state=None):
        """See :func:`skconvex.neural_network.certify_global_optimality`."""
        X, Y, loss, sample_weight = fitted_targets(self, X, y, sample_weight)
        Xt = (X - self._mean) / self._scale
        cb = self._bias_scale
        if self.fit_intercept:
            Xt = np.hstack([Xt, np.full((Xt.shape[0], 1), cb)])
        if self.activation == "gated_relu":
            return self._certify_gated(Xt, Y, loss, n_new_patterns, sample_weight, rtol,
                                       random_state, cb)
        W1, w2 = self._subnet_gates_std
        full = ThreeLayerReLUProblem(Xt, Y, gate_mask(Xt, self._gates_std),
                                     subnetwork_mask(Xt, W1, w2), _program_alpha(self), loss,
                                     sample_weight=sample_weight,
                                     fit_intercept=self.fit_intercept)
        mu = self._multipliers
        if mu.shape[0] != full.n:  # other rows than the fit's: no multipliers (conservative)
            mu = np.zeros((full.n, full.n_blocks, full.K))
        full.set_multipliers(mu, 0.0)
        U, c = unpack(self._convex_weights, full.shape)
        T = full.forward(U)
        objective, bound_old, c_opt, norms_old = full.certificate(U, c, T)
        Lam, Gam = full.dual_point(T, c_opt)
        rng = check_random_state(random_state)
        G_new, W1n, w2n = _new_gates(full.X, n_new_patterns, self.width, self._gates_std,
                                     cb, rng)
        # the values above alpha (1 + rtol) decide the count, and the maximum is exact; at
        # the fit's multipliers (zero in new blocks) they are upper bounds, so the blocks with
        # a value above it get their best multipliers (_refine_blocks)
        alpha = _program_alpha(self)
        M1n, M2n = gate_mask(full.X, G_new), subnetwork_mask(full.X, W1n, w2n)
        norms_new, blocks_new = full.probe_norms(Gam, Lam, M1n, M2n, floor=alpha * (1 + rtol),
                                                 return_blocks=True)
        norms_new, worst_refined = _refine_blocks(full, T, Lam, M1n, M2n, norms_new,
                                                  blocks_new, alpha * (1 + rtol))
        ratio_new = norms_new / alpha
        worst = max(float(np.max(norms_new)) if norms_new.size else 0.0,
                    float(np.max(norms_old)) if norms_old.size else 0.0, worst_refined)
        t_max = full._t_max(np.array([worst]))
        t = full.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
        bound_enlarged = full.loss.dual_value(t * Lam)
        gap = max(objective - bound_old, 0.0)
        gap_enl = max(objective - bound_enlarged, 0.0)
        denom = max(abs(objective), 1e-300)
        return OptimalityCertificate(
            objective=objective, duality_gap=gap, relative_gap=gap / denom,
            n_new_patterns=int(norms_new.size), n_violated=int(np.sum(ratio_new > 1 + rtol)),
            max_constraint_ratio=float(np.max(ratio_new)) if ratio_new.size else 0.0,
            lower_bound_enlarged=bound_enlarged, relative_gap_enlarged=gap_enl / denom)

    def _certify_gated(self, Xt, Y, loss, n_new_patterns, sample_weight, rtol, random_state,
                       cb):
        """The gated program's certificate: the dual point at the fitted predictions against
        the sampled pairs (exact duality gap) and against fresh pairs (new first-layer gates
        with every second-layer gate, every first-layer gate with new second-layer gates):
        their dual norms ``||X~^T D1 D2 Lam_k||``, unprojected (no cones)."""
        V1, v2 = self._subnet_gates_std
        G_old = self._gates_std
        full = GatedThreeLayerProblem(Xt, Y, gate_mask(Xt, G_old), subnetwork_mask(Xt, V1, v2),
                                      _program_alpha(self), loss, sample_weight=sample_weight,
                                      fit_intercept=self.fit_intercept, pairs=self._pairs)
        U, c = unpack(self._convex_weights, full.shape)
        objective, bound_old, c_opt, norms_old = full.certificate(U, c)
        Lam = -full.loss.grad(full.scores(full.forward(U), c_opt))
        rng = check_random_state(random_state)
        Xk = full.X  # the rows with positive weight
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="n_patterns=", category=UserWarning)
            G_new, V1n, v2n = _new_gates(Xk, n_new_patterns, self.width, G_old, cb, rng)
        M1o, M1n = gate_mask(Xk, G_old), gate_mask(Xk, G_new)
        M2o, M2n = subnetwork_mask(Xk, V1, v2), subnetwork_mask(Xk, V1n, v2n)
        norms_new = np.concatenate([
            pair_dual_norms(Xk, M1n, np.hstack([M2o, M2n]), Lam).max(axis=-1).ravel(),
            pair_dual_norms(Xk, M1o, M2n, Lam).max(axis=-1).ravel()])
        ratio_new = norms_new / _program_alpha(self)
        worst = max(float(np.max(norms_new)) if norms_new.size else 0.0,
                    float(np.max(norms_old)) if norms_old.size else 0.0)
        t_max = _program_alpha(self) / worst if worst > 0 else np.inf
        if loss != "squared":
            t_max = min(1.0, t_max)
        t = full.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
        bound_enlarged = full.loss.dual_value(t * Lam)
        gap = max(objective - bound_old, 0.0)
        gap_enl = max(objective - bound_enlarged, 0.0)
        denom = max(abs(objective), 1e-300)
        return OptimalityCertificate(
            objective=objective, duality_gap=gap, relative_gap=gap / denom,
            n_new_patterns=int(norms_new.size), n_violated=int(np.sum(ratio_new > 1 + rtol)),
            max_constraint_ratio=float(np.max(ratio_new)) if ratio_new.size else 0.0,
            lower_bound_enlarged=bound_enlarged, relative_gap_enlarged=gap_enl / denom)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


_PROGRAM_DOC = """
    What is optimized, ``activation="gated_relu"`` (the default). The gated relaxation of the
    program below (Ergen & Pilanci's three-layer program with the cone constraints dropped and
    the sampled patterns kept as fixed gates): a sum of gated sub-networks
    ``f(x) = sum_k g2_k(x) (((x~ W1_k) * g1_k(x)) w2_k) w3_k + c``, where every first-layer
    neuron ``r`` is gated by ``1[x~ . g_r >= 0]`` (a sampled first-layer generator) and the
    sub-network's output unit by ``1[(x~ V1_k)_+ v2_k >= 0]`` (the random width-``width``
    sub-network that produced its second-layer pattern), in the normalized form
    ``min mean loss + alpha sum_k |w3_k|`` s.t. ``||W1_k||_F <= 1``, ``||w2_k|| <= 1``. Its
    exact convex program is the gated two-layer group lasso over pattern pairs

        min  mean_i loss( sum_(i,j) D1_i D2_j X~ w_ij + c, y ) + alpha sum_(i,j) ||w_ij||

    (the four sign variables of a pair collapse to one free vector: the least
    ``||u|| + ||v|| + ||u'|| + ||v'||`` with ``u - v - u' + v' = w`` is ``||w||``), over the
    distinct nonempty products ``D1_i D2_j`` of the sampled patterns (up to ``P1 P2`` pairs).
    It is solved by accelerated proximal gradient (FISTA) on working sets of pairs; the
    sub-network of (second-layer pattern ``j``, output ``k``) has one first-layer neuron
    ``w_ij / sqrt(||w_ij|| t)`` per nonzero pair (``t = sum_i ||w_ij||``), ``w2_i =
    sqrt(||w_ij|| / t)`` and ``w3 = t``: ``||W1||_F = ||w2|| = 1`` and the recovered network's
    objective equals the convex objective; ``predict`` is its forward pass (equal to the
    convex model's prediction on the training data). ``duality_gap_`` is exact for the program
    over the sampled pairs; :func:`certify_global_optimality` checks the dual point against
    fresh pairs (their unprojected dual norms ``||X~^T D1 D2 Lam_k||``).

    What is optimized, ``activation="relu"``. The model is a sum of ``K`` three-layer sub-networks
    ``f(x) = sum_k ((x~ W1_k)_+ w2_k)_+ w3_k + c`` (``x~`` the standardized input with a bias
    entry of value ``intercept_scaling``; ``W1_k`` of any width, ``w2_k`` a vector, ``w3_k`` the
    output weight, one second-layer unit per sub-network), trained in the *normalized* form

        (N)  min  mean_i loss(f(x_i), y_i) + alpha sum_k |w3_k|
             s.t. ||W1_k||_F <= 1 and ||w2_k||_2 <= 1 for every k,

    through its exact convex reformulation over pairs of sampled activation patterns (first
    layer ``D1_i = 1[x~ g_i >= 0]``, second layer ``D2_j`` = the output patterns of random
    width-``width`` sub-networks): a group lasso with one group per (pair, signs) and the cone
    constraints that make every group's first- and second-layer units follow their patterns
    (Ergen & Pilanci, 2021; the derivation is in the package's spec p1_three_layer.md). Every
    nonzero block of the convex solution is one recovered sub-network, with
    ``||W1||_F = ||w2|| = 1`` and ``|w3|`` equal to the block's group norm, so the recovered
    network's objective (N) equals the convex objective. Equivalent (same optimum, same
    predictions after rescaling): weight decay ``(alpha/2) (||w2_k||^2 + w3_k^2)`` on the last
    two layers with ``||W1_k||_F <= 1``; or the path penalty
    ``alpha sum_k |w3_k| sum_r ||w1_kr|| |w2_kr|`` without constraints. Plain weight decay on
    all three layers is *not* this program (it costs ``(3/2) alpha |amplitude|^(2/3)`` per
    sub-network, a concave power, not a group norm).

    What is certified: ``duality_gap_`` bounds the distance to the optimum of the program over
    the sampled pattern pairs; with every pattern pair of the data sampled that is the global
    optimum of (N) over networks of any width. :func:`certify_global_optimality` checks the
    dual point against freshly sampled pairs (``n_new_patterns`` counts their columns). For
    ReLU, a fresh pair's value depends on its block's second-layer multipliers: probed at the
    fit's (zero in new blocks), it is an upper bound, and the blocks with a value above
    ``alpha (1 + rtol)`` get their best multipliers, up to 16 blocks by largest value, and on
    blocks of more than 64 columns up to the first that stays violated (a pair the fit's
    network cannot satisfy: the enlarged program's optimum is lower). On a fit over all the
    first-layer patterns of 10 one-feature rows, zero multipliers reported 118 violated pairs
    (ratio 3.2) where the enlarged optimum was the fit's; the refined certificate reports 0.

    Solvers. Gated: "fista" is FISTA on working sets of pairs to a relative gap of 1e-2, then
    Newton's method on the support (the nonzero pairs; normal equations), checked by the
    certificate of the whole program and repeated with ten times tighter gaps until ``tol``
    (tiny programs, n_samples x pairs x outputs <= 10,000, are also polished); "cvxpy"
    the same group lasso with Clarabel, polished; "auto": "cvxpy" on tiny programs, "fista"
    otherwise. ReLU: "fista": an augmented Lagrangian on the second-layer cone constraints whose
    subproblems are solved by accelerated proximal gradient (FISTA, restarts, backtracking) on
    working sets of groups, the first-layer cones enforced exactly by projection in the prox;
    it stops at relative duality gap ``tol`` with the second-layer cones violated by at most
    ``1e-8 max(1, max |y|)`` (so the forward pass of the recovered network equals the convex
    model's prediction on the training data to that accuracy; ``max_violation_`` records it).
    With the squared loss the cone multipliers converge slowly: on all 442 rows of diabetes it
    had not converged after 20,000 iterations (objective 1e-5 below the optimum at a cone
    violation of 0.0035). Where the augmented Lagrangian stops short of ``tol`` (at
    ``max_iter``) with the squared loss, a conic polish finishes the fit when the program is
    small enough
    (n_samples x 2 P1 x n_features and n_samples x support x n_features at most 2,000,000):
    the program restricted to the support of its point (the columns above 1e-3 of the largest)
    is solved by Clarabel on working sets of cone rows, and each second-layer block gets the
    multipliers that make the certificate of the whole program tightest (one small cone
    program per block); columns outside that the certificate finds violated join and the round
    repeats (and when none is but the gap is still above ``tol``, a last round solves at a
    tighter tolerance). ``n_iter_`` counts the augmented Lagrangian's iterations. Default regressor, on
    this machine: all of diabetes, 23 s (5,000 iterations, then the polish), relative gap
    6e-10, violation 9e-9; its first 200 rows, 10 s, 1e-9; Friedman #1 with 200 rows, 16 s,
    6e-10, with 2,000 rows 73 s (36 s of polish), 2e-11. The classification losses converge
    without it (500 rows of digits: 1,110 iterations, 20 s).
    "cvxpy": the same program with Clarabel (the reference; small problems). "auto": "cvxpy"
    when n_samples x 4 P1 P2 x n_outputs <= 20,000, "fista" otherwise.
"""


class ConvexThreeLayerRegressor(RegressorMixin, _BaseConvexThreeLayer):
    __doc__ = """Three-layer ReLU network regression trained by its convex program.
""" + _PROGRAM_DOC + """
    Parameters
    ----------
    alpha : float, default=1e-2
        Weight of ``sum |w3|`` (> 0), relative to the mean squared error
        ``(1/2) mean (f(x) - y)^2`` of the targets divided by their standard deviation: the
        program's regularization is ``alpha * y_scale_``.
    width : int, default=3
        First-layer width of the random sub-networks that generate the second-layer patterns
        (the recovered sub-networks may be wider).
    n_patterns : int, (int, int) or "auto", default="auto"
        Budgets of distinct first- and second-layer patterns (an int: both); the gated program
        has up to ``P1 P2`` groups (pairs), the ReLU program ``4 P1 P2``. "auto": (20, 20) for
        gated_relu, (12, 12) for relu.
    activation : {"gated_relu", "relu"}, default="gated_relu"
        The gated program (fixed gates, an unconstrained group lasso, scales to large data) or
        the cone-constrained ReLU program (small data).
    loss : {"squared"}, default="squared"
    fit_intercept : bool, default=True
        First-layer biases and an unpenalized output intercept.
    intercept_scaling : float, default=1.0
        Value of the constant column appended to the standardized inputs for the first-layer
        biases (> 0; used with ``fit_intercept``), as in
        :class:`~sklearn.linear_model.LogisticRegression`: a bias ``b`` counts in the
        constraint ``||W1||_F = 1`` as ``b / intercept_scaling``, so a larger value penalizes
        the biases less (scikit-learn's MLP does not penalize them). The program and its
        certificate are exact for every value; the patterns are sampled as with 1.0.
    solver : {"auto", "fista", "cvxpy"}, default="auto"
    tol : float, default=1e-6
        Target relative duality gap.
    max_iter : int, default=5000
        Maximum number of proximal-gradient iterations (all subproblems together). The
        interior-point solver and the conic polish of small ReLU programs run to their own
        tolerances whatever ``max_iter``.
    random_state : int, RandomState instance or None, default=None
        Seed of the pattern samplers.
    verbose : int, default=0

    Attributes
    ----------
    subnetworks_ : list of (W1, w2, w3)
        The recovered sub-networks on raw inputs: ``W1`` of shape (n_features + 1, width_k)
        acts on ``[x, 1]`` (last row: first-layer biases), ``w2`` of shape (width_k,),
        ``w3`` of shape (n_outputs,) (one nonzero entry: the output it feeds).
    subnetwork_gates_ : list of (G1, V1, v2)
        gated_relu only, one per sub-network, on ``[x, 1]``: ``G1`` (n_features + 1, width_k)
        the first-layer gate generators (neuron ``r`` is gated by ``1[[x, 1] . G1[:, r] >= 0]``),
        ``V1`` (n_features + 1, width) and ``v2`` (width,) the gate of the output unit,
        ``1[([x, 1] V1)_+ v2 >= 0]``.
    n_subnetworks_ : int
    coefs_, intercepts_ : list of ndarray
        The same network as three dense layers (block-structured second layer), as in
        :class:`sklearn.neural_network.MLPRegressor`.
    gate_coefs_, gate_intercepts_ : list of ndarray
        gated_relu only: the gates in dense form, ``[G1 (n_features, n_hidden1), V1
        (n_features, width n_subnetworks_), V2 (width n_subnetworks_, n_subnetworks_)]`` and
        ``[g1, v1]`` (biases).
    n_patterns_ : (int, int)
        Distinct first- and second-layer patterns used.
    n_pairs_ : int
        gated_relu only: distinct nonempty pattern pairs (groups of the program).
    objective_ : float
        Convex objective = objective (N) of the recovered network.
    y_scale_ : float
        The (weighted) standard deviation of the training targets, pooled over
        the outputs (1 for constant targets). The program uses the regularization ``alpha *
        y_scale_``, which is the program of ``alpha`` on the targets divided by ``y_scale_``
        (its objective times ``y_scale_ ** 2``); ``objective_``, ``duality_gap_`` and
        ``regularized_loss`` are in the units of ``y``.
    duality_gap_ : float
        Objective minus a dual lower bound of the program over the sampled pairs (clipped at
        0).
    max_violation_ : float
        Largest cone-constraint violation at the solution (output units; 0 for gated_relu).
        A ReLU fit stopped at ``max_iter`` (with a ConvergenceWarning) on a program too large
        for the conic polish (see the solver notes) may end above ``1e-8 max(1, max |y|)``:
        that point is not feasible, its ``objective_`` may lie below the optimum and
        ``duality_gap_`` then certifies nothing.
    n_iter_, fit_time_, solver_, n_features_in_, feature_names_in_
        As for every skconvex estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import ConvexThreeLayerRegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(100, 2)
    >>> y = np.maximum(np.maximum(X @ [1.0, -1.0], 0) - 0.5, 0) + 0.05 * rng.randn(100)
    >>> reg = ConvexThreeLayerRegressor(alpha=1e-2, n_patterns=(10, 10),
    ...                                 random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.9), bool(reg.duality_gap_ <= 1e-6 * reg.objective_)
    (True, True)
    >>> bool(abs(reg.regularized_loss(X, y) - reg.objective_) <= 1e-6 * reg.objective_)
    True
    >>> relu = ConvexThreeLayerRegressor(alpha=1e-3, n_patterns=6, activation="relu",
    ...                                  random_state=0).fit(X, y)
    >>> bool(relu.score(X, y) > 0.8)
    True
    """

    _parameter_constraints: dict = {
        **_BaseConvexThreeLayer._parameter_constraints,
        "loss": [StrOptions({"squared"})],
    }

    def __init__(self, alpha=1e-2, *, width=3, n_patterns="auto", activation="gated_relu",
                 loss="squared", fit_intercept=True, intercept_scaling=1.0, solver="auto",
                 tol=1e-6, max_iter=5000, random_state=None, verbose=0):
        self.alpha = alpha
        self.width = width
        self.n_patterns = n_patterns
        self.activation = activation
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _make_problem(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True,
                             ensure_min_samples=2)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        self.y_scale_ = _target_scale(y.reshape(-1, 1), sample_weight)
        return self._build(X, y.reshape(-1, 1), sample_weight, "squared")

    def predict(self, X):
        """Forward pass of the recovered three-layer network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._forward(X)[:, 0]

    def _data_loss(self, out, Y, s):
        r = out[:, 0] - Y[:, 0]
        return 0.5 * float(np.sum(s * r * r)) / s.sum()


class ConvexThreeLayerClassifier(ClassifierMixin, NetworkClassifierMixin, _BaseConvexThreeLayer):
    __doc__ = """Three-layer ReLU network classifier trained by its convex program.

    Binary problems use the logistic loss on one output. Multiclass problems use a
    vector-output program (not one-vs-rest): the softmax cross-entropy on one output per class,
    every sub-network feeding one class (so the convex program is exact for this architecture
    and the certificate holds for the joint multiclass objective).
""" + _PROGRAM_DOC + """
    Parameters
    ----------
    alpha : float, default=1e-2
    width : int, default=3
    n_patterns : int, (int, int) or "auto", default="auto"
    activation : {"gated_relu", "relu"}, default="gated_relu"
    loss : {"auto", "logistic", "cross_entropy"}, default="auto"
        "auto": logistic for two classes, cross_entropy otherwise.
    fit_intercept : bool, default=True
    intercept_scaling : float, default=1.0
    solver : {"auto", "fista", "cvxpy"}, default="auto"
    tol : float, default=1e-6
    max_iter : int, default=5000
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    subnetworks_, subnetwork_gates_, n_subnetworks_, coefs_, intercepts_, gate_coefs_,
    gate_intercepts_, n_patterns_, n_pairs_, objective_, duality_gap_, max_violation_, n_iter_,
    fit_time_, solver_, n_features_in_
        As for :class:`ConvexThreeLayerRegressor` (``w3`` has one entry per output).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skconvex import ConvexThreeLayerClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=(8, 6),
    ...                                  random_state=0).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95), clf.solver_
    (True, 'fista')
    """

    _parameter_constraints: dict = {
        **_BaseConvexThreeLayer._parameter_constraints,
        "loss": [StrOptions({"auto", "logistic", "cross_entropy"})],
    }

    def __init__(self, alpha=1e-2, *, width=3, n_patterns="auto", activation="gated_relu",
                 loss="auto", fit_intercept=True, intercept_scaling=1.0, solver="auto",
                 tol=1e-6, max_iter=5000, random_state=None, verbose=0):
        self.alpha = alpha
        self.width = width
        self.n_patterns = n_patterns
        self.activation = activation
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _data_loss(self, out, Y, s):
        if self._loss_ == "logistic":
            z = Y[:, 0] * out[:, 0]
            return float(np.sum(s * np.logaddexp(0.0, -z))) / s.sum()
        lse = np.logaddexp.reduce(out, axis=1)
        return float(np.sum(s * (lse - np.sum(Y * out, axis=1)))) / s.sum()
