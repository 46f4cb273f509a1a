"""Path-regularized parallel deep ReLU networks trained by their convex program."""

import copy
import hashlib
import time
import warnings
from numbers import Integral, Real

import cvxpy as cp
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex.base import ConvexEstimator
from skconvex.neural_network._classifier import NetworkClassifierMixin, fitted_targets
from skconvex.neural_network._regressor import _program_alpha, _target_scale, y_scale_doc
from skconvex.neural_network._two_layer import (OptimalityCertificate, _BaseConvexReLU,
                                                _bias_scaling, _ColumnSearchMixin,
                                                _extended_weights, _generators_on_data,
                                                _sampling_view)
from skconvex.problems._losses import LOSSES
from skconvex.problems.path_deep import (CellTree, PathDeepProblem, _dual_values,
                                         _normalize_blocks, ascend_subnetworks, cell_keys,
                                         cells_of_networks, path_norm, sample_cells)
from skconvex.solvers.cvxpy_backend import solve_cvxpy
from skconvex.solvers.fista import solve_fista, unpack
from skconvex.solvers.rounds import solve_in_rounds
from skconvex.solvers.support_newton import active_set_round

# solver="auto" uses the polished interior point up to n_samples * columns * column size *
# outputs of this size, proximal gradient above
_SMALL_SIZE = 60_000


def _solve_cvxpy(problem, **kwargs):
    """The interior-point reference (Clarabel) on the cvxpy form, projected onto the cones and
    polished to a rounding-level duality gap: Newton's method on the support and the active
    faces of the cones (the two-layer polish, generalized to cells), with short
    proximal-gradient rounds (exact cone projections, every iterate feasible) between
    attempts to settle the support; proximal gradient with a warning when the interior point
    fails."""
    kwargs.pop("warm_start", None)
    user_tol = kwargs.get("tol", 1e-6)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            result = solve_cvxpy(problem, **{**kwargs, "tol": min(user_tol, 1e-10)})
    except (cp.error.SolverError, RuntimeError):
        warnings.warn("the interior-point solver failed on this program; solving it by "
                      "proximal gradient instead", RuntimeWarning, stacklevel=2)
        result = solve_fista(problem, tol=min(user_tol, 1e-8), working_set=False,
                             max_iter=max(kwargs.get("max_iter", 0), 5000))
        result.info["solver"] = "fista"  # what the fit reports in solver_
    solver = result.info.get("solver")
    n_iter = result.n_iter
    for r in range(_POLISH_ROUNDS):
        result = active_set_round(problem, result, user_tol)
        if result.gap <= _POLISH_GAP * abs(result.objective):
            break
        result = solve_fista(problem, tol=_POLISH_GAP, max_iter=_POLISH_ITER * (r + 1),
                             warm_start=result.w, working_set=False)
        n_iter += result.n_iter
    result.n_iter = n_iter
    result.converged = result.gap <= user_tol * abs(result.objective)
    if solver is not None:
        result.info["solver"] = solver
    return result


# polish of the interior-point solution: Newton attempts, proximal-gradient iterations between
# them (growing), target relative gap
_POLISH_ROUNDS, _POLISH_ITER, _POLISH_GAP = 4, 150, 1e-12


def _solve_fista(problem, **kwargs):
    """Proximal gradient (working sets; exact cone projections, so every iterate is a network)
    to a loose relative gap, then Newton's method on the support and the active faces of the
    cones (:func:`~skconvex.solvers.support_newton.polish_support_newton`), checked by the
    certificate of the whole program; repeated from the better point with a gap target ten
    times tighter until the certificate meets ``tol``.

    First-order steps are slow on these programs once the support is found (cells that
    share patterns make the groups strongly correlated: n=10000, 200 cells, alpha=1e-3 took
    2620 iterations to a gap of 7e-5), while the columns of the solution lie on faces of
    their cones of low dimension (mostly extreme rays), where the program is smooth and
    small: there Newton's method goes to rounding level in a few steps. A polish that would
    change the support or leave the cones is not taken."""
    return solve_in_rounds(problem, active_set_round, tol=kwargs.pop("tol", 1e-4),
                           max_iter=kwargs.pop("max_iter", 10000),
                           first_round_gap=_FIRST_ROUND_GAP,
                           warm_start=kwargs.pop("warm_start", None), **kwargs)


# the first proximal-gradient round of the "fista" solver stops at this relative gap
_FIRST_ROUND_GAP = 1e-1

# dual cell search: fresh cells sampled per cell added
_SEARCH_CANDIDATES = 10
# ... of which at most this many times the number to add are projected (by the largest
# unprojected values), and at most this many rounds add cells (each round costs a solve;
# the later ones add few: breast cancer, 100 cells, 25 + 25 + 14 + 10 + 4 + 2)
_SEARCH_PROJECTED, _SEARCH_ROUNDS = 2, 3
# cells from ascended sub-networks (ascend_subnetworks), started from the best of this many
# random sub-networks per ascended one
_ASCENT_STARTS = 20
# ... and of the ascended sub-networks, those whose outputs have a cosine above this with one
# of a larger value are dropped: near-copies of a cell add little to the program and make it
# ill-conditioned (spiral, alpha 1e-4, 300 cells, splits 0-2: relative gaps 2e-5, 1e-3, 6e-5
# at max_iter without the filter, 2e-13, 2e-8, 2e-13 with it, and objectives 2-4 % lower)
_ASCENT_DISTINCT = 0.95


def _mlp_as_tree(mlp, intercept_scaling=1.0):
    """The network of a fitted scikit-learn MLP with two hidden ReLU layers, trained on inputs
    standardized as the path estimators' preprocessing does, as depth-3 trees of widths
    ``(m1 + 1,)``: every second-layer unit ``j`` is a sub-network whose leaves are the ``m1``
    first-layer units and an always-on unit (input weights the constant column's unit vector
    over ``intercept_scaling``, so it outputs 1) whose edge carries the second-layer bias.
    Returns ``(U, E, W3)``: leaf weights on the standardized inputs with a constant column of
    value ``intercept_scaling`` (d + 1, m1 + 1), edges (m1 + 1, m2) and output weights
    (m2, n_outputs)."""
    if len(mlp.coefs_) != 3 or getattr(mlp, "activation", "relu") != "relu":
        raise ValueError("an MLP with two hidden ReLU layers is needed")
    W1, W2, W3 = mlp.coefs_
    b1, b2 = mlp.intercepts_[:2]
    d = W1.shape[0]
    U = np.zeros((d + 1, W1.shape[1] + 1))
    U[:d, :-1], U[d, :-1], U[d, -1] = W1, b1 / intercept_scaling, 1.0 / intercept_scaling
    return U, np.vstack([W2, b2[None, :]]), W3


def _mlp_cells(mlp, Xt):
    """The cells of the trees of :func:`_mlp_as_tree` on the preprocessed data ``Xt`` (ones
    column last), one per second-layer unit: ``(masks, sigs)`` as
    :func:`~skconvex.problems.path_deep.sample_cells` returns them, for the tree of widths
    ``(m1 + 1,)`` (for ``_fit_over``). On the program over these cells the MLP's network is a
    feasible point."""
    U, E, _ = _mlp_as_tree(mlp)
    H1 = Xt @ U
    n, (l, m2) = Xt.shape[0], E.shape
    masks = np.empty((n, m2, l + 1), dtype=bool)
    masks[:, :, :l] = (H1 >= 0)[:, None, :]
    masks[:, :, l] = np.maximum(H1, 0.0) @ E >= 0
    sigs = np.ones((m2, l + 1))
    sigs[:, :l] = np.where(E.T >= 0, 1.0, -1.0)
    return masks, sigs


def _network_from_mlp(est, mlp):
    """A copy of the fitted path estimator ``est`` (depth 3, widths ``(m1 + 1,)``) carrying the
    network of the MLP (see :func:`_mlp_as_tree`; one sub-network per second-layer unit and
    output). Its ``regularized_loss`` is the MLP's network's objective in ``est``'s program."""
    c = _bias_scaling(est)
    U, E, W3 = _mlp_as_tree(mlp, c)
    if tuple(est.widths_) != (U.shape[1],):
        raise ValueError(f"the estimator's tree has widths {est.widths_}; the MLP's needs "
                         f"({U.shape[1]},)")
    W1 = U[:-1] / est._scale[:, None]
    b1 = c * U[-1] - est._mean @ W1
    nets, std_nets = [], []
    for j, k in zip(*np.nonzero(W3)):
        nets.append({"coefs": [W1, E[:, j:j + 1], float(W3[j, k])], "intercept": b1,
                     "output": int(k)})
        std_nets.append([U, E[:, j:j + 1], float(W3[j, k])])
    net = copy.deepcopy(est)
    net._pack(nets, est._tree(), W1.shape[0])
    net.intercept_ = np.asarray(mlp.intercepts_[-1], dtype=np.float64)
    net._std_nets = std_nets
    net.subnetworks_, net.n_subnetworks_ = nets, len(nets)
    net.path_norms_ = np.asarray([path_norm(w) for w in std_nets], dtype=np.float64)
    return net


def _low_rank_bound(loss, sigma, n_paths, sum_norms, value, s_max):
    """Largest change of the data term when the data move by a matrix of spectral norm
    ``sigma`` under a parallel network of tree sub-networks with ``n_paths`` paths each and
    path norms summing to ``sum_norms``, from a data term ``value`` (derived: the outputs move
    by at most ``sigma sqrt(n_paths) sum_norms`` in the Euclidean norm over samples; the weighted
    mean loss is then bounded by its Lipschitz constant, or for the squared loss by
    ``||r|| ||D|| + ||D||^2 / 2`` in the weighted norm)."""
    B = np.sqrt(s_max) * sigma * np.sqrt(n_paths) * sum_norms
    if loss == "squared":
        return float(np.sqrt(2.0 * max(value, 0.0)) * B + 0.5 * B * B)
    return float((2.0 if loss == "cross_entropy" else 1.0) * B)


class _BasePathReLU(_ColumnSearchMixin, ConvexEstimator):
    """Shared machinery of the path-regularized estimators.

    Preprocessing as the two-layer estimators (standardized features, a ones column for the
    first-layer biases with ``fit_intercept``); cells are sampled on the preprocessed data
    (after the rank-``rank`` truncation when ``rank`` is set), and the recovered first-layer
    weights are mapped back to the raw input space, so ``predict`` is the forward pass of the
    recovered network on raw inputs.
    """

    _search_param = "cell_search"
    _search_columns = "_search_cells"
    _solvers = {"fista": _solve_fista, "cvxpy": _solve_cvxpy}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "depth": [Interval(Integral, 3, None, closed="left")],
        "widths": [None, tuple, list],
        "n_cells": [Interval(Integral, 1, None, closed="left")],
        "cell_search": [StrOptions({"random", "dual"})],
        "rank": [None, Interval(Integral, 1, None, closed="left")],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "solver": [StrOptions({"auto", "fista", "cvxpy"})],
    }

    def _auto_solver(self, problem):
        if problem.n * problem.Q * problem.shape[0] * problem.K <= _SMALL_SIZE:
            return "cvxpy"
        return "fista"

    def _solver_kwargs(self, solver, problem):
        w0 = self._search_warm_start(solver, problem)  # a round of the dual cell search
        return {} if w0 is None else {"warm_start": w0}

    def _fit_dual_search(self, X, y, sample_weight):
        """``cell_search="dual"``: column generation on the cells.

        A quarter of the budget is sampled at random and the program solved; then, for at most
        ``_SEARCH_ROUNDS`` rounds while the budget allows, ``_SEARCH_CANDIDATES`` times as many
        fresh cells as are added are sampled, and as many more cells as are added come from
        sub-networks moved up their dual constraint value by gradient ascent
        (:func:`~skconvex.problems.path_deep.ascend_subnetworks`, started from the best of
        ``_ASCENT_STARTS`` times as many random ones); those whose dual constraint the fitted
        network violates most (the cells that would lower the optimum most if added; the
        values of :func:`certify_path_optimality`, see :func:`_top_violators`) are added, at
        most doubling the program, and the enlarged program is solved warm-started from the
        previous solution. The ascent is what reaches the cells the full program uses: spiral
        (450 rows, alpha 1e-3, a budget of 300 cells, three splits) ends at objectives of
        0.2007, 0.2077 and 0.2023 with it (229 to 257 cells) and 0.2504, 0.2542 and 0.2522
        without it, where three rounds of sampled candidates alone add few cells (169 to 215).
        The search stops early when no candidate is violated; ``n_cells_`` may then stay
        below ``n_cells``. The sampled program comes closer to the full
        (unsampled) one than with the whole budget sampled at random (breast cancer, 100 cells,
        alpha 3e-3, 5 splits: test accuracy 0.966 -> 0.972; spiral, 600 cells, alpha 1e-3:
        0.979 -> 0.987, before the caps on projections and rounds).

        The candidates are ranked by :func:`_top_violators` (exact values, computed lazily;
        rows repeated instead of reweighted choose the same cells)."""
        t0 = time.perf_counter()
        rng = check_random_state(self.random_state)
        budget = self.n_cells
        n_iter = 0
        try:
            self._search_budget = max(1, budget // 4)
            self._search_cells = self._search_w0 = None
            self._fit_program(X, y, sample_weight)
            n_iter += self.n_iter_
            for _ in range(_SEARCH_ROUNDS):
                if self.n_cells_ >= budget:
                    break
                C_old = self.n_cells_
                add = min(max(1, C_old), budget - C_old)
                check = _new_cells_check(self, X, y, _SEARCH_CANDIDATES * add, sample_weight,
                                         rng, n_ascended=add)
                top = _top_violators(check, add, _program_alpha(self))
                if top.size == 0:
                    break  # no sampled cell would enter the program
                masks_old, sigs_old = self._cells
                self._search_cells = (
                    np.ascontiguousarray(np.concatenate([masks_old, check["masks"][:, top]],
                                                        axis=1)),
                    np.concatenate([sigs_old, check["sigs"][top]]))
                U, c = unpack(self._convex_weights, self._search_shape)
                self._search_w0 = _extended_weights(U, c, C_old, C_old + top.size, signed=True)
                self._fit_program(X, y, sample_weight)
                n_iter += self.n_iter_
                if self.verbose:
                    print(f"[cell search] {self.n_cells_} cells, {self.n_subnetworks_} "
                          f"sub-networks, objective {self.objective_:.6e}")
        finally:
            self._search_budget = self._search_cells = self._search_w0 = None
        self.n_iter_ = n_iter
        self.fit_time_ = time.perf_counter() - t0
        return self

    _prepare = _BaseConvexReLU._prepare

    def _tree(self):
        widths = (2,) * (self.depth - 2) if self.widths is None else tuple(self.widths)
        if len(widths) != self.depth - 2 or not all(
                isinstance(m, Integral) and not isinstance(m, bool) and m >= 1 for m in widths):
            raise ValueError(f"widths must be a tuple of depth - 2 = {self.depth - 2} positive "
                             f"ints (the branching of layers 1 .. depth-2), got {self.widths!r}")
        return CellTree(widths)

    def _build(self, X, Y, sample_weight, loss):
        tree = self._tree()
        Xt, mean, scale = self._prepare(X, sample_weight)
        V = None
        sigma_next = 0.0
        if self.rank is not None and self.rank < min(Xt.shape):
            # the polynomial-time approximation: the program on the rank-r truncation X_r
            _, sv, Vt = np.linalg.svd(Xt, full_matrices=False)
            V = Vt[:self.rank].T
            sigma_next = float(sv[self.rank])
            Xt = (Xt @ V) @ V.T
        if getattr(self, "_search_cells", None) is not None:
            masks, sigs = self._search_cells  # a round of the dual cell search
        else:
            budget = getattr(self, "_search_budget", None) or self.n_cells
            masks, sigs = sample_cells(_sampling_view(Xt, _bias_scaling(self)), budget,
                                       tree, sample_weight=sample_weight,
                                       random_state=check_random_state(self.random_state))
        if masks.shape[1] == 0:
            raise ValueError("no cell with an active last hidden unit was found on these data "
                             "(constant features?)")
        problem = PathDeepProblem(Xt, Y, masks, sigs, tree, _program_alpha(self), loss,
                                  sample_weight=sample_weight, fit_intercept=self.fit_intercept)
        problem.mean_, problem.scale_, problem.V_ = mean, scale, V
        problem.cells_ = (masks, sigs)  # on every training row (the problem drops weight 0)
        self._fit_data_key = _data_key(X, Y, sample_weight)
        problem.sigma_next_ = sigma_next
        s = np.ones(X.shape[0]) if sample_weight is None else sample_weight
        problem.s_max_ = float(np.max(s) / np.sum(s))
        return problem

    # -- recovery ------------------------------------------------------------------------
    # the fitted cells (activation masks on the training rows, and their signatures), kept
    # for warm starts and the certificate, stored as packed bits: a fitted model's pickle
    # was 2.4 MB at 8,000 rows, 500 times the weights that predict needs
    @property
    def _cells(self):
        packed, shape, sigs = self._cells_packed
        bits = np.unpackbits(packed, count=int(np.prod(shape)))
        return bits.reshape(shape).astype(bool), sigs

    @_cells.setter
    def _cells(self, cells):
        masks, sigs = cells
        masks = np.asarray(masks, dtype=bool)
        self._cells_packed = (np.packbits(masks.ravel()), masks.shape, sigs)

    def _set_fitted(self, result, problem):
        U, c = unpack(result.w, problem.shape)
        subnets = problem.subnetworks(U)
        d = problem.mean_.shape[0]
        tree = problem.tree
        std_nets, raw_nets, norms, outputs = [], [], [], []
        for k, t, weights in subnets:
            W1 = weights[0]
            if problem.V_ is not None:  # the leaf vectors lie in span(V) up to rounding
                W1 = problem.V_ @ (problem.V_.T @ W1)
            std_nets.append([W1] + weights[1:])
            W1_raw = W1[:d] / problem.scale_[:, None]
            b1 = (_bias_scaling(self) * W1[d] if self.fit_intercept
                  else np.zeros(W1.shape[1])) - \
                problem.mean_ @ W1_raw
            raw_nets.append({"coefs": [W1_raw] + weights[1:], "intercept": b1, "output": k})
            norms.append(path_norm(weights))
            outputs.append(k)
        self.subnetworks_ = raw_nets
        self.path_norms_ = np.asarray(norms, dtype=np.float64)
        self.n_subnetworks_ = len(raw_nets)
        self.n_cells_ = int(problem.n_cells)
        self.widths_ = tree.widths
        self.intercept_ = np.asarray(c, dtype=np.float64) + problem.y_offset  # centred in it
        self.max_violation_ = problem.max_violation(U)
        self._std_nets = std_nets
        self._mean, self._scale = problem.mean_, problem.scale_
        self._n_outputs = problem.K
        self._pack(raw_nets, tree, problem.d - (1 if self.fit_intercept else 0))
        self._cells = problem.cells_
        self._convex_weights = result.w
        self._search_shape = problem.shape
        self._V = problem.V_
        if problem.V_ is not None:
            s_norm = float(np.sum(self.path_norms_))
            obj = float(result.objective)
            # the optimal network of the full-rank data has path norms summing to at most
            # objective / alpha (its objective is at most ours)
            self.low_rank_bound_ = _low_rank_bound(
                problem.loss_name, problem.sigma_next_, tree.n_leaves,
                max(obj / _program_alpha(self), s_norm), obj, problem.s_max_)
        else:
            self.low_rank_bound_ = 0.0

    def _pack(self, nets, tree, d):
        """Stack the sub-networks for a batched forward pass: first layer (d, S l), then per
        layer the weight of the edge from each child into its parent (S, units, m)."""
        S, ell = len(nets), tree.n_leaves
        self._W1 = np.zeros((d, S * ell))
        self._b1 = np.zeros(S * ell)
        self._edges = []
        for layer in range(1, len(tree.layer_nodes)):
            n_units = tree.layer_sizes[layer]
            self._edges.append(np.zeros((S, n_units, tree.widths[layer - 1])))
        self._wL = np.zeros(S)
        self._out = np.zeros((S, self._n_outputs))
        for s, net in enumerate(nets):
            self._W1[:, s * ell:(s + 1) * ell] = net["coefs"][0]
            self._b1[s * ell:(s + 1) * ell] = net["intercept"]
            for layer, W in enumerate(net["coefs"][1:-1]):
                m = tree.widths[layer]
                # block-diagonal: unit u's children are rows u*m .. (u+1)*m - 1
                for u in range(W.shape[1]):
                    self._edges[layer][s, u] = W[u * m:(u + 1) * m, u]
            self._wL[s] = net["coefs"][-1]
            self._out[s, net["output"]] = 1.0

    def _forward(self, X):
        """The forward pass of the recovered parallel network (raw inputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        n, S = X.shape[0], self._wL.size
        if S == 0:  # every group is zero: the intercept alone
            return np.zeros((n, self._n_outputs)) + self.intercept_
        h = (X @ self._W1 + self._b1).reshape(n, S, -1)
        for E in self._edges:
            a = np.maximum(h, 0.0).reshape(n, S, E.shape[1], E.shape[2])
            h = np.einsum("nsum,sum->nsu", a, E)
        out = (np.maximum(h[:, :, 0], 0.0) * self._wL) @ self._out
        return out + self.intercept_

    def _path_penalty(self):
        return _program_alpha(self) * float(sum(path_norm(w) for w in self._std_nets))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


_DOC_PROGRAM = """
    The network is ``f(x) = sum_k f_k(x) + c``, a sum of depth-``depth`` ReLU sub-networks; each
    sub-network is a tree whose unit in layer ``l + 1`` has ``widths[l - 1]`` children in layer
    ``l`` (layer 1 units see the standardized input with a bias entry, the last hidden layer has
    one unit, the output weight is a scalar; equivalently, a layered network with block-diagonal
    weight matrices). Training minimizes ``loss(f) + alpha sum_k R_k`` with ``R_k`` the l2 path
    norm of sub-network ``k`` (square root of the sum over input-output paths of the product of
    the squared weights, a first-layer unit's input weight vector counting by its norm; not
    squared). A first-layer unit's bias ``b`` enters that vector as ``b / intercept_scaling``
    (the constant column of the preprocessed data holds ``intercept_scaling``), so a larger
    value penalizes the biases less; scikit-learn's MLP does not penalize them at all. This is
    solved exactly as a convex group lasso with one Frobenius group per *cell* (activation
    patterns of every unit and signs of every edge) and the cone constraints that make the
    patterns those of the network; ``n_cells`` cells are sampled from random
    sub-networks of the tree shape (Ergen & Pilanci, 2021). Every nonzero group is one
    sub-network; the recovered network's regularized loss equals the convex objective, and its
    forward pass equals the convex model's prediction on the training data (the cone
    constraints hold to rounding: ``max_violation_``).

    What is certified: ``duality_gap_`` bounds the distance to the best network whose units
    follow one of the sampled cells on the training data. With every cell of the data sampled
    this is the global optimum over all such parallel networks (any number of sub-networks);
    with a cell budget far below the number of cells (which grows polynomially in the number of
    samples only for fixed widths and data rank), local search may find a lower objective.
    :func:`certify_path_optimality` checks the dual point against freshly sampled cells.

    ``rank``: the paper's polynomial-time approximation. The program is solved on the
    rank-``rank`` truncated SVD ``X_r`` of the preprocessed data, whose number of cells is
    polynomial in the number of samples for fixed ``rank`` and widths. The first-layer weights of
    the solution lie in the row space of ``X_r``, so the recovered network computes the same
    outputs on ``X`` as on ``X_r``: the fit is a network for the real data with the objective
    ``objective_``. ``low_rank_bound_`` (derived here; the paper's constant was not available)
    bounds how much the optimum on ``X_r`` can exceed the optimum on ``X``: at most
    ``h(sigma_{r+1} sqrt(l) objective_ / alpha)`` with ``h`` the loss's modulus of continuity
    (``sqrt(2 objective_) B + B^2 / 2`` for the squared loss, ``B`` for the logistic, ``2 B``
    for the cross-entropy, ``B`` scaled by the square root of the largest normalized sample
    weight) and ``l`` the number of paths of a sub-network. So ``objective_`` is within
    ``duality_gap_ + low_rank_bound_`` of the full-rank optimum when the sample covers every
    cell of ``X_r``.
"""

_DOC_PARAMS = """
    alpha : float, default=1e-3
        Weight of the path norm (> 0), relative to the mean loss; for the regressor, of the
        targets divided by their standard deviation: its program's regularization is
        ``alpha * y_scale_``.
    depth : int, default=3
        Number of layers L >= 3 (L - 1 hidden layers).
    widths : tuple of int or None, default=None
        Branching ``(m_1, ..., m_{L-2})`` of the sub-network trees; None: 2 per layer.
    n_cells : int, default=100
        Budget of distinct cells sampled (each gives two groups, one per output sign).
    cell_search : {"random", "dual"}, default="random"
        How the ``n_cells`` cells are chosen. "random": all sampled from random sub-networks.
        "dual": column generation (a quarter at random, then rounds that add the new cells
        whose dual constraints the fitted network violates most, each round warm-started;
        the candidates are freshly sampled cells and the cells of sub-networks moved up
        their dual constraint value by gradient ascent): a program closer to the full one
        for the same budget, at the cost of a few solves (see ``_fit_dual_search``).
    rank : int or None, default=None
        Solve on the rank-``rank`` truncated SVD of the preprocessed data (see above).
    fit_intercept : bool, default=True
        First-layer biases and an unpenalized output intercept.
    intercept_scaling : float, default=1.0
        Value of the constant column appended to the standardized inputs for the first-layer
        biases (> 0; used with ``fit_intercept``), as in
        :class:`~sklearn.linear_model.LogisticRegression`: a bias ``b`` counts in the path
        norm as ``b / intercept_scaling``, so a larger value penalizes the biases less. The
        program and its certificate are exact for every value; the cells are sampled as with
        1.0 (a random first-layer bias has the scale of a standardized feature). On banana
        (2 features, where a unit's bias is a third of its input weights), 3.0 instead of 1.0
        raised the mean test accuracy over 5 splits from 0.901 to 0.907 (alpha 3e-4, 300
        cells by the dual search); 10.0 gave no more. Larger values make the program worse
        conditioned (slower fits).
    solver : {"auto", "fista", "cvxpy"}, default="auto"
        "fista": accelerated proximal gradient on working sets of groups; the prox projects
        every cell onto its cone exactly (every iterate is a network). "cvxpy": the same
        program with Clarabel, projected onto the cones and polished by proximal-gradient steps
        (the reference; slow beyond small problems). "auto": "cvxpy" for tiny programs, "fista"
        otherwise.
    tol : float, default=1e-4
        Target relative duality gap.
    max_iter : int, default=10000
        Maximum number of proximal-gradient iterations (the interior-point solver of small
        programs runs to its own tolerance whatever ``max_iter``). Fits that converge stop earlier
        (default regressors on diabetes and on scikit-learn's regression check data: 3,120 and
        4,040 iterations, the rounds' Newton polish included).
    random_state : int, RandomState instance or None, default=None
        Seed of the cell sampler.
    verbose : int, default=0
"""

_DOC_ATTRS = """
    subnetworks_ : list of dict
        One per nonzero group: ``"coefs"`` the layered weights ``[W1 (n_features, l), W2 (l,
        l / m_1), ..., W_{L-1} (m_{L-2}, 1), w_L (float)]`` in raw input space (block-diagonal
        matrices), ``"intercept"`` the first-layer biases ``(l,)``, ``"output"`` the output it
        feeds.
    path_norms_ : ndarray of shape (n_subnetworks_,)
        Path norm of each sub-network (on the standardized inputs, where it is penalized).
    n_subnetworks_ : int
    n_cells_ : int
        Distinct cells sampled.
    widths_ : tuple of int
    intercept_ : ndarray of shape (n_outputs,)
    objective_ : float
        Convex objective = regularized loss of the recovered network.
""" + y_scale_doc("``objective_``, ``duality_gap_`` and ``regularized_loss``") + \
    """    duality_gap_ : float
        Objective minus a dual lower bound of the sampled program.
    max_violation_ : float
        Largest violation of the cone constraints (the recovered network's activations on the
        training data differ from the cells' patterns only by this much).
    low_rank_bound_ : float
        See ``rank`` (0 without it).
    n_iter_, fit_time_, solver_, n_features_in_, feature_names_in_
        As for every skconvex estimator.
"""


class PathRegularizedReLURegressor(RegressorMixin, _BasePathReLU):
    __doc__ = ("""Path-regularized parallel deep ReLU network regression, trained by its convex
    program, with a certificate.
""" + _DOC_PROGRAM + """
    Parameters
    ----------""" + _DOC_PARAMS + """    loss : {"squared"}, default="squared"
        Half the (weighted) mean squared error; multi-output targets get one output per
        target, each sub-network feeding one of them.

    Attributes
    ----------""" + _DOC_ATTRS + """
    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import PathRegularizedReLURegressor
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 2)
    >>> y = np.maximum(np.maximum(X @ [1.0, -1.0], 0) - 0.5, 0) + 0.05 * rng.randn(200)
    >>> reg = PathRegularizedReLURegressor(alpha=1e-3, n_cells=20, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9, reg.max_violation_ < 1e-6
    (True, True)
    """)

    _parameter_constraints: dict = {
        **_BasePathReLU._parameter_constraints,
        "loss": [StrOptions({"squared"})],
    }

    def __init__(self, alpha=1e-3, *, depth=3, widths=None, n_cells=100, cell_search="random",
                 rank=None, loss="squared", fit_intercept=True, intercept_scaling=1.0,
                 solver="auto", tol=1e-4, max_iter=10000, random_state=None, verbose=0):
        self.alpha = alpha
        self.depth = depth
        self.widths = widths
        self.n_cells = n_cells
        self.cell_search = cell_search
        self.rank = rank
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

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
        """The non-convex training objective of the recovered network on ``(X, y)``: half the
        weighted mean squared error plus ``alpha * y_scale_`` times the sum of the path
        norms."""
        X, Y, _, s = fitted_targets(self, X, y, sample_weight)
        pred = self._forward(X).reshape(len(X), -1)
        s = np.ones(len(X)) if s is None else s
        return 0.5 * float(np.sum(s[:, None] * (pred - Y) ** 2)) / s.sum() + \
            self._path_penalty()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class PathRegularizedReLUClassifier(ClassifierMixin, NetworkClassifierMixin, _BasePathReLU):
    __doc__ = ("""Path-regularized parallel deep ReLU network classifier, trained by its convex
    program, with a certificate.

    Binary problems use the logistic loss on one output. Multiclass problems use one vector
    -output program (not one-vs-rest): the softmax cross-entropy on one output per class, every
    sub-network feeding one class, so the program is exact for that architecture and the
    certificate holds.
""" + _DOC_PROGRAM + """
    Parameters
    ----------""" + _DOC_PARAMS + """    loss : {"auto", "logistic", "cross_entropy"}, default="auto"
        "auto": logistic for two classes, cross_entropy otherwise.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)""" + _DOC_ATTRS + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skconvex import PathRegularizedReLUClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = PathRegularizedReLUClassifier(alpha=1e-3, n_cells=10, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    """)

    _parameter_constraints: dict = {
        **_BasePathReLU._parameter_constraints,
        "loss": [StrOptions({"auto", "logistic", "cross_entropy"})],
    }

    def __init__(self, alpha=1e-3, *, depth=3, widths=None, n_cells=100, cell_search="random",
                 rank=None, loss="auto", fit_intercept=True, intercept_scaling=1.0,
                 solver="auto", tol=1e-4, max_iter=10000, random_state=None, verbose=0):
        self.alpha = alpha
        self.depth = depth
        self.widths = widths
        self.n_cells = n_cells
        self.cell_search = cell_search
        self.rank = rank
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def regularized_loss(self, X, y, sample_weight=None):
        """Non-convex training objective of the recovered network: weighted mean loss plus
        ``alpha`` times the sum of the path norms."""
        X, Y, _, s = fitted_targets(self, X, y, sample_weight)
        out = self._forward(X)
        s = np.ones(len(X)) if s is None else s
        if self._loss_ == "logistic":
            data = float(np.sum(s * np.logaddexp(0.0, -Y[:, 0] * out[:, 0]))) / s.sum()
        else:
            lse = np.logaddexp.reduce(out, axis=1)
            data = float(np.sum(s * (lse - np.sum(Y * out, axis=1)))) / s.sum()
        return data + self._path_penalty()


def _data_key(X, Y, sample_weight):
    """A digest of training data (``X`` and ``Y`` as float64 arrays, the weights, ``None``
    the same as ones): what tells :func:`certify_path_optimality` it has the fit's data."""
    h = hashlib.sha1()
    s = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    for a in (X, Y, s):
        a = np.ascontiguousarray(a, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _new_cells_check(estimator, X, y, n_new_cells, sample_weight, random_state, n_ascended=0):
    """A fitted path network's cells with ``n_new_cells`` freshly sampled ones, and the fit's
    dual point: a dict with ``masks``, ``sigs`` (the new cells), ``enlarged`` (one program over
    the ``n_old`` fitted cells, then the new ones), ``Lam`` (the dual point on its rows) and
    ``loss``. Shared by :func:`certify_path_optimality` and the dual cell search.

    With ``n_ascended``, that many more new cells come from sub-networks moved up their dual
    constraint value (:func:`~skconvex.problems.path_deep.ascend_subnetworks`), started from
    the best of ``_ASCENT_STARTS`` times as many random ones; near-copies of an ascended
    network of a larger value (cosine of the outputs above ``_ASCENT_DISTINCT``) and cells
    already in the program or among the sampled ones are dropped."""
    X, Y, loss, sample_weight = fitted_targets(estimator, X, y, sample_weight)
    if _data_key(X, Y, sample_weight) != getattr(estimator, "_fit_data_key", None):
        raise ValueError("the certificate of a path-regularized network needs the data it was "
                         "fitted on (X, y and sample_weight): its cells are sign patterns on "
                         "those rows")
    Xt = (X - estimator._mean) / estimator._scale
    if estimator.fit_intercept:
        Xt = np.hstack([Xt, np.full((Xt.shape[0], 1), _bias_scaling(estimator))])
    if estimator._V is not None:
        Xt = (Xt @ estimator._V) @ estimator._V.T
    tree = estimator._tree()
    rng = check_random_state(random_state)
    masks_old, sigs_old = estimator._cells
    masks, sigs = sample_cells(_sampling_view(Xt, _bias_scaling(estimator)), n_new_cells, tree,
                               sample_weight=sample_weight,
                               random_state=rng)
    # the dual direction at the fitted predictions (on the training data every sub-network
    # follows its cell, so the forward pass is the convex model's prediction), with the
    # program's normalized sample weights
    Z = estimator._forward(X).reshape(len(X), -1)
    keep = np.ones(len(X), dtype=bool) if sample_weight is None else sample_weight > 0
    s = np.full(len(X), 1.0 / len(X)) if sample_weight is None else \
        sample_weight / np.sum(sample_weight)
    Lam = -LOSSES[loss](Y[keep], s[keep]).grad(Z[keep])
    if n_ascended > 0:
        seen = cell_keys(tree, masks_old, sigs_old, keep) | cell_keys(tree, masks, sigs, keep)
        more_m, more_s = _ascended_cells(
            Xt, tree, Lam, keep, s, seen, n_ascended, rng,
            bias_scale=_bias_scaling(estimator))
        if more_m:
            masks = np.concatenate([masks, np.stack(more_m, axis=1)], axis=1)
            sigs = np.concatenate([sigs, np.stack(more_s)])
    C_old = sigs_old.shape[0]
    # one program over the fitted cells and the new ones
    enlarged = PathDeepProblem(Xt, Y, np.concatenate([masks_old, masks], axis=1),
                               np.concatenate([sigs_old, sigs]), tree,
                               _program_alpha(estimator), loss,
                               sample_weight=sample_weight,
                               fit_intercept=estimator.fit_intercept)
    return dict(masks=masks, sigs=sigs, enlarged=enlarged, Lam=Lam, loss=loss, n_old=C_old,
                n_ascended=len(more_m) if n_ascended > 0 else 0)


def _ascended_cells(Xt, tree, Lam, keep, s, seen, n_ascended, rng, bias_scale=1.0):
    """The new cells (lists of masks and signs, as :func:`cells_of_networks`) of
    ``n_ascended`` sub-networks ascended on their dual constraint value at the dual point
    ``Lam`` (on the rows ``keep``, of normalized weights ``s``), started from the best of
    ``_ASCENT_STARTS`` times as many random ones, without near-copies and without the cells
    in ``seen``. The random ones are Gaussian with their bias row (the last of the leaf
    weights) divided by ``bias_scale``, the value of ``Xt``'s constant column (so that their
    biases have the scale of a standardized feature; 1.0: no constant column)."""
    B = _ASCENT_STARTS * n_ascended
    W1 = rng.standard_normal((Xt.shape[1], B, tree.n_leaves))
    W1 = _generators_on_data(W1, bias_scale)
    E = rng.standard_normal((B, tree.n_nodes))
    _normalize_blocks(tree, W1, E)
    X = Xt[keep]
    start = np.abs(_dual_values(tree, X, W1, E, Lam)).max(axis=1)
    # the starts of the largest values (rounded: repeated rows rank like reweighted ones)
    top = np.argsort(-np.round(start / max(start.max(), 1e-300), 9), kind="stable")
    W1, E, values = ascend_subnetworks(X, tree, W1[:, top[:n_ascended]],
                                       E[top[:n_ascended]], Lam)
    # ascents often end on nearly the same network: keep the distinct ones (their outputs on
    # the rows, weighted so that repeated rows count like reweighted ones)
    F = np.maximum(tree.forward_random(X, W1, E)[:, :, tree.root], 0.0)
    kept = _distinct_columns(F * np.sqrt(s[keep])[:, None], values, _ASCENT_DISTINCT)
    return cells_of_networks(Xt, tree, W1[:, kept], E[kept], keep, seen)


def _distinct_columns(F, values, max_cosine):
    """Indices (sorted) of columns of ``F`` kept greedily by decreasing ``values`` (compared
    rounded to 1e-9 relative, ties by index): a column is kept when its cosine with every
    kept one is at most ``max_cosine`` (zero columns are never kept)."""
    norms = np.linalg.norm(F, axis=0)
    F = F / np.maximum(norms, 1e-300)
    scale = max(float(np.max(np.abs(values))), 1e-300) if values.size else 1.0
    kept = []
    for b in np.argsort(-np.round(values / scale, 9), kind="stable"):
        if norms[b] > 0 and (not kept or np.max(F[:, kept].T @ F[:, b]) <= max_cosine):
            kept.append(b)
    return np.sort(np.array(kept, dtype=np.intp))


def _per_cell(values):
    """Columns ``(cell, +)`` then ``(cell, -)`` of a program's (Q, K) column values: the
    largest value of each cell, (C,)."""
    values = values.max(axis=1)
    C = values.size // 2
    return np.maximum(values[:C], values[C:])


def _top_violators(check, n_top, alpha):
    """The (at most) ``n_top`` new cells of ``check`` (:func:`_new_cells_check`) whose dual
    constraint values exceed ``alpha`` most, largest first, among the ascended cells (all of
    them) and the ``_SEARCH_PROJECTED * n_top`` sampled cells of the largest unprojected
    values. A cell's value is its projected norm, at most its unprojected one, and a
    projection is the costly part (an active-set solve per column), so the sampled cells are
    projected in the order of the unprojected norms, ``n_top`` at a time, and the scan stops
    early once the next cell's unprojected norm is below the ``n_top``-th projected value met.
    (An ascended cell's projected value is large where a sampled cell's unprojected norm may
    be large for nothing, so the ascended cells are always projected.) Values are compared
    rounded to 1e-9 relative to ``alpha`` (ties by sampling order), so rows repeated instead of
    reweighted rank alike."""
    enlarged, Lam, C_old = check["enlarged"], check["Lam"], check["n_old"]
    A = enlarged.adjoint(Lam)
    raw = enlarged._dual_group_norms(A)  # (Q, K), upper bounds of the projected values
    C = raw.shape[0] // 2
    bound = np.round(_per_cell(raw)[C_old:] / alpha, 9)
    exact = np.full(bound.size, -np.inf)

    def project(new):
        chunk = C_old + new
        selected = np.zeros(raw.shape, dtype=bool)
        selected[chunk] = selected[C + chunk] = True
        if enlarged.relu:
            values = np.where(selected, enlarged.group_norms(enlarged.project(A, selected)),
                              raw)
        else:
            values = raw
        exact[new] = np.round(_per_cell(values)[chunk] / alpha, 9)

    n_sampled = bound.size - check.get("n_ascended", 0)
    ascended = np.arange(n_sampled, bound.size)
    ascended = ascended[bound[ascended] > 1.0]
    if ascended.size:
        project(ascended)
    order = np.argsort(-bound[:n_sampled], kind="stable")
    order = order[bound[order] > 1.0]  # only these can be violated
    for start in range(0, min(order.size, _SEARCH_PROJECTED * n_top), n_top):
        if np.count_nonzero(exact > 1.0) >= n_top and \
                np.sort(exact)[-n_top] >= bound[order[start]]:
            break  # no cell left can enter the top
        project(order[start:start + n_top])
    violated = np.flatnonzero(exact > 1.0)
    return violated[np.argsort(-exact[violated], kind="stable")[:n_top]]


def certify_path_optimality(estimator, X, y, *, n_new_cells=200, n_ascended=0,
                            sample_weight=None, rtol=1e-4, random_state=None):
    """Check a fitted path-regularized network against freshly sampled cells.

    The dual point of the fit (the scaled negative loss gradient at the fitted predictions)
    must satisfy ``||P_c(A_c^T Lam)||_F <= alpha`` for every cell ``c`` (``A_c`` the cell's
    linear map, ``P_c`` the projection onto its cone, computed exactly; ``alpha * y_scale_`` for
    the regressor) for the fit to be optimal over all cells. This samples ``n_new_cells`` new
    cells (both output signs), reports how many violate that (a violated cell would lower the
    optimum if added) and the duality gap against the enlarged program (sampled plus new
    cells).

    Parameters
    ----------
    estimator : PathRegularizedReLURegressor or PathRegularizedReLUClassifier, fitted
    X, y : the training data
    n_new_cells : int, default=200
    n_ascended : int, default=0
        Also check the cells of this many sub-networks moved up their dual constraint value by
        gradient ascent (:func:`~skconvex.problems.path_deep.ascend_subnetworks`, from the
        best of 20 times as many random ones; those already among the fitted or sampled cells
        are skipped). They find violated cells where random ones do not: a sharper check.
    sample_weight : array-like or None
        The weights used in ``fit``.
    rtol : float, default=1e-4
        A new cell counts as violated when its constraint exceeds ``alpha * (1 + rtol)``.
    random_state : int, RandomState instance or None

    Returns
    -------
    OptimalityCertificate
        (``n_new_patterns`` counts the new cells.)
    """
    if not isinstance(estimator, _BasePathReLU):
        raise TypeError(f"certify_path_optimality accepts a fitted "
                        f"PathRegularizedReLURegressor or PathRegularizedReLUClassifier; got "
                        f"{type(estimator).__name__}")
    check_is_fitted(estimator)
    check_scalar(n_new_cells, "n_new_cells", Integral, min_val=0)
    check_scalar(n_ascended, "n_ascended", Integral, min_val=0)
    if n_new_cells + n_ascended == 0:
        raise ValueError("certify_path_optimality needs new cells to check: n_new_cells and "
                         "n_ascended are both 0")
    check = _new_cells_check(estimator, X, y, n_new_cells, sample_weight, random_state,
                             n_ascended=n_ascended)
    enlarged, Lam, sigs, loss = check["enlarged"], check["Lam"], check["sigs"], check["loss"]
    per_cell = _per_cell(enlarged.dual_norms(Lam))
    norms_new = per_cell[check["n_old"]:]
    alpha = _program_alpha(estimator)
    objective = float(estimator.objective_)
    gap = max(float(estimator.duality_gap_ or 0.0), 0.0)
    worst = float(np.max(per_cell)) if per_cell.size else 0.0
    t_max = alpha / worst if worst > 0 else np.inf
    if loss != "squared":
        t_max = min(1.0, t_max)
    t = enlarged.loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
    bound_enl = enlarged.loss.dual_value(t * Lam)
    denom = max(abs(objective), 1e-300)
    ratio = norms_new / alpha
    return OptimalityCertificate(
        objective=objective, duality_gap=gap, relative_gap=gap / denom,
        n_new_patterns=int(sigs.shape[0]), n_violated=int(np.sum(ratio > 1.0 + rtol)),
        max_constraint_ratio=float(np.max(ratio)) if ratio.size else 0.0,
        lower_bound_enlarged=bound_enl, relative_gap_enlarged=max(objective - bound_enl, 0.0)
        / denom)
