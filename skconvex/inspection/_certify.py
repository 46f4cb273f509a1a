"""Certificates of global optimality for trained two-layer ReLU networks (scikit-learn's
``MLPRegressor`` / ``MLPClassifier`` with one hidden layer, and skconvex's convex networks).

The dual of a two-layer ReLU network with weight decay is a convex program whose constraint is
one inequality per hidden neuron direction (Pilanci & Ergen, arXiv:2002.10553; Wang & Pilanci,
arXiv:2110.06488). A trained network's residual gives a dual point; if that point satisfies the
constraint for *every* neuron, weak duality bounds the global minimum from below and the
network is certified (spec two_layer.md section 7, p4_gradient_flow_implicit_bias.md
section 4). See ``docs/certificates.rst``.
"""

import warnings
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils import check_random_state, check_scalar
from sklearn.utils.validation import (_check_sample_weight, check_array, check_is_fitted,
                                      validate_data)

from skconvex.arrangements import gate_mask, sample_gates
from skconvex.neural_network._classifier import fitted_label_indices
from skconvex.problems._losses import LOSSES, centered_targets
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem


@dataclass
class NetworkCertificate:
    """What :func:`certify` found.

    Attributes
    ----------
    objective : float
        The network's training objective, in the network's own units (for an MLP the value
        scikit-learn minimizes, ``loss_``).
    dual_bound : float
        A lower bound on the objective of every network of the family (any width) whose
        hidden neurons' activation regions were among the checked ones; with every region
        checked (e.g. one-dimensional inputs with every sample as an anchor), on the global
        minimum.
    gap : float
        ``objective - dual_bound``: how much lower any (checked) network can go.
    relative_gap : float
        ``gap / |objective|``.
    is_certified : bool
        ``relative_gap <= gap_tol`` (and, for vector outputs, no undecided region): the network
        is within ``gap_tol`` of the best network over the checked regions. Violated
        constraints are accounted for in the gap (the dual point is scaled into them).
    regularization : float
        ``beta``: the weight of the group penalty ``beta * sum_j ||w_j|| ||a_j||`` of the
        convex program, in units where the data term is the mean loss (see :func:`certify`).
    max_constraint_ratio : float
        Largest checked dual-constraint value over ``beta`` (an upper bound of it for vector
        outputs); ``<= 1`` on every checked pattern means the dual point is feasible there.
    n_patterns_checked : int
        Activation regions checked (the network's own and fresh ones).
    neuron_ratios : ndarray of shape (n_hidden,)
        For each hidden neuron, the dual-constraint value of its own activation region over
        ``beta`` (``nan`` for a neuron with zero input weights). At a stationary point of
        the training objective every active neuron sits on the constraint (ratio ~1);
        above ``1 + rtol`` the network is not optimal.
    violating_neurons : ndarray of int
        Hidden neurons whose own region violates the constraint.
    violating_patterns : ndarray of bool, shape (n_samples, n_violations)
        Activation patterns (on the training samples) of fresh regions that violate it: adding
        a neuron with that pattern lowers the objective.
    pattern_ratios : ndarray of shape (n_violations,)
        Their constraint values over ``beta``.
    witness_coefs, witness_intercepts : ndarray of shape (n_features, n_violations), (n_violations,)
        For single-output networks, one unit-norm neuron per violating fresh region, in the raw
        input space, with ``|Lam^T relu(X w + b)| = ratio * beta``: the direction in which a
        new hidden unit decreases the objective (empty for vector outputs).
    n_undecided : int
        Vector outputs only: regions whose upper bound exceeds ``beta`` but whose lower bound
        does not (the exact per-region value is a non-convex maximization).
    details : dict
        Loss, scale factors and the dual point ``Lam`` (n_samples, n_outputs).
    """

    objective: float
    dual_bound: float
    gap: float
    relative_gap: float
    is_certified: bool
    regularization: float
    max_constraint_ratio: float
    n_patterns_checked: int
    neuron_ratios: np.ndarray
    violating_neurons: np.ndarray
    violating_patterns: np.ndarray
    pattern_ratios: np.ndarray
    witness_coefs: np.ndarray
    witness_intercepts: np.ndarray
    n_undecided: int = 0
    details: dict = field(default_factory=dict, repr=False)


def certify(network, X, y, *, sample_weight=None, n_patterns=1000, n_anchors=None, rtol=1e-4,
            gap_tol=1e-3, random_state=None):
    """Certify (or refute) the global optimality of a trained two-layer ReLU network.

    Accepts a fitted :class:`sklearn.neural_network.MLPRegressor` (``loss="squared_error"``)
    or :class:`sklearn.neural_network.MLPClassifier` (binary or multiclass) with one hidden
    layer and ``activation="relu"``, or a fitted :class:`skconvex.ConvexReLURegressor` /
    :class:`skconvex.ConvexReLUClassifier`. From the network's predictions it builds the dual
    point ``Lam = -grad loss`` (with the output intercept re-optimized so that
    ``sum_i Lam_i = 0``), checks the dual constraint ``||Lam^T relu(X v + c)|| <= beta`` for
    ``||v|| <= 1`` on the activation regions of the network's own neurons and on freshly
    sampled ones (exactly per region, by a projection onto the region's cone), rescales the
    dual point into every checked constraint and returns the duality gap it certifies.

    **Regularization correspondence (scikit-learn).** ``MLPRegressor`` / ``MLPClassifier``
    minimize (see ``_loss_grad_lbfgs`` in ``sklearn/neural_network/_multilayer_perceptron.py``
    and the losses in ``sklearn/neural_network/_base.py``)::

        J = mean_loss + alpha / (2 S) * (||W1||_F^2 + ||W2||_F^2),   S = sum of sample weights

    where ``mean_loss`` is the weighted mean of ``1/2 ||f(x) - y||^2 / K`` (regression, ``K``
    outputs: scikit-learn averages the squared error over outputs too), of the logistic loss
    (binary) or of the softmax cross-entropy (multiclass), and the intercepts are **not**
    penalized. By rescaling each hidden unit (``(w, b, a) -> (w/t, b/t, a t)``) the penalty
    becomes ``beta sum_j ||w_j|| ||a_j||`` with ``beta = alpha / S`` (classification) or
    ``beta = K alpha / S`` (regression, data term multiplied by ``K``), and the global minimum
    over networks of any width is the optimum of a convex program whose dual constraint is the
    one above, with **unpenalized hidden biases**: the bias ``c`` is free. For a fixed ``v`` the
    best ``c`` puts the neuron's kink on a sample, so the constraint is checked on the data
    shifted by an anchor sample ``x_k`` (``relu((X - x_k) v)``), anchor by anchor: that is
    exact, and with one-dimensional inputs and every sample as an anchor it covers every
    region. ``ConvexReLU*`` networks penalize their hidden biases and standardize the inputs:
    their own program (``alpha`` relative to the mean loss, biases in the norm) is checked,
    with the machinery of :func:`skconvex.neural_network.certify_global_optimality`.

    What is certified: ``dual_bound`` is below the objective of every network whose neurons'
    activation regions were checked; a network is reported certified when the gap is at most
    ``gap_tol`` relative and no checked region violates its constraint. Only sampled regions
    are checked in more than one input dimension (their number grows like ``n^d``), so a
    certificate is "optimal up to pattern sampling"; a violation, on the other hand, is a proof
    that the network is not exactly optimal (a witness neuron is returned for single outputs),
    and the gap bounds how much it can lose.

    Parameters
    ----------
    network : fitted MLPRegressor, MLPClassifier, ConvexReLURegressor or ConvexReLUClassifier
    X : array-like of shape (n_samples, n_features)
        The training data.
    y : array-like
        The training targets / labels.
    sample_weight : array-like of shape (n_samples,) or None
        The weights used in ``fit``.
    n_patterns : int, default=1000
        Fresh activation regions to check.
    n_anchors : int or None, default=None
        MLP networks: samples used as kink anchors for the fresh regions (``None``: all
        samples up to 64, drawn at random). Every anchor gets ``n_patterns / n_anchors``
        Gaussian directions.
    rtol : float, default=1e-4
        A constraint counts as violated above ``beta (1 + rtol)`` (trained networks are
        stationary only to a tolerance).
    gap_tol : float, default=1e-3
        Largest relative gap reported as certified (networks trained by L-BFGS or Adam stop
        at small but non-zero gaps).
    random_state : int, RandomState instance or None

    Returns
    -------
    NetworkCertificate
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from skconvex.neural_network._two_layer import _BaseConvexReLU

    check_scalar(n_patterns, "n_patterns", Integral, min_val=1)
    if n_anchors is not None:
        check_scalar(n_anchors, "n_anchors", Integral, min_val=1)
    if isinstance(network, _BaseConvexReLU):
        return _certify_convex_relu(network, X, y, sample_weight=sample_weight,
                                    n_patterns=n_patterns, rtol=rtol, gap_tol=gap_tol,
                                    random_state=random_state)
    if isinstance(network, (MLPRegressor, MLPClassifier)):
        return _certify_mlp(network, X, y, sample_weight=sample_weight, n_patterns=n_patterns,
                            n_anchors=n_anchors, rtol=rtol, gap_tol=gap_tol,
                            random_state=random_state)
    raise TypeError(f"certify accepts a fitted MLPRegressor, MLPClassifier, "
                    f"ConvexReLURegressor or ConvexReLUClassifier; got {type(network).__name__}")


def _mlp_problem(mlp, X, y, sample_weight):
    """Validate an MLP and its data; return ``(X, Y, loss, out_scale, S, weights s)``."""
    check_is_fitted(mlp)
    if len(mlp.coefs_) != 2:
        raise ValueError(f"certify needs a network with one hidden layer; this "
                         f"{type(mlp).__name__} has {len(mlp.coefs_) - 1} "
                         f"(hidden_layer_sizes={mlp.hidden_layer_sizes!r})")
    if mlp.activation != "relu":
        raise ValueError(f"certify needs activation='relu'; this {type(mlp).__name__} uses "
                         f"activation={mlp.activation!r}")
    X = validate_data(mlp, X, dtype=np.float64, reset=False)
    n = X.shape[0]
    sw = np.ones(n) if sample_weight is None else _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if is_classifier(mlp):
        fitted_label_indices(mlp, y, n)  # a clear error for unknown labels or a wrong length
        if mlp.out_activation_ == "softmax":
            Y = mlp._label_binarizer.transform(y).astype(np.float64)
            loss = "cross_entropy"
        elif mlp._label_binarizer.y_type_ == "binary":
            Y = 2.0 * mlp._label_binarizer.transform(y).astype(np.float64) - 1.0
            loss = "logistic"
        else:
            raise ValueError("certify does not handle multilabel MLPClassifier networks")
        scale = 1.0
    else:
        if mlp.loss != "squared_error":
            raise ValueError(f"certify needs loss='squared_error'; got loss={mlp.loss!r}")
        Y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if Y.shape[0] != n:
            raise ValueError(f"y has {Y.shape[0]} samples, X has {n}")
        Y = Y.reshape(n, -1)
        if Y.shape[1] != mlp.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the network {mlp.n_outputs_}")
        loss = "squared"
        # scikit-learn averages the half squared error over the outputs too
        scale = float(Y.shape[1])
    if not np.all(np.isfinite(Y)):
        raise ValueError("y contains NaN or infinity")
    return X, Y, loss, scale, float(np.sum(sw)), sw


def _certify_mlp(mlp, X, y, *, sample_weight, n_patterns, n_anchors, rtol, gap_tol,
                 random_state):
    X, Y, loss_name, scale, S, sw = _mlp_problem(mlp, X, y, sample_weight)
    keep = sw > 0
    X, Y, sw = X[keep], Y[keep], sw[keep]
    n, d = X.shape
    K = Y.shape[1]
    s = sw / sw.sum()
    W1, W2 = (np.asarray(W, dtype=np.float64) for W in mlp.coefs_)
    b1, b2 = (np.asarray(b, dtype=np.float64) for b in mlp.intercepts_)
    beta = scale * mlp.alpha / S
    # the output intercept is free: centred targets and intercept, as the programs take them
    # (accurate residuals and dual value for targets far from zero)
    Y, y_offset = centered_targets(Y, s, loss_name, True)
    b2 = b2 - y_offset
    loss = LOSSES[loss_name](Y, s)
    H = np.maximum(X @ W1 + b1, 0.0)
    Z0 = H @ W2
    # objective in the scaled units (data term = mean loss * scale), then the MLP's own
    penalty = 0.5 * beta * (float(np.sum(W1 ** 2)) + float(np.sum(W2 ** 2)))
    objective = loss.value(Z0 + b2) + penalty
    # dual point at the best output intercept: sum_i Lam_i = 0
    c_opt = loss.intercept(Z0) if loss_name == "squared" else loss.intercept(Z0, b2)
    Lam = -loss.grad(Z0 + c_opt)

    rng = check_random_state(random_state)
    # the network's own regions: anchored at the samples next to each neuron's kink
    w_norm = np.linalg.norm(W1, axis=0)
    own = []  # (anchor, generator, neuron)
    pre = X @ W1 + b1
    for j in np.flatnonzero(w_norm > 0):
        on = pre[:, j] >= 0
        if on.any():
            own.append((int(np.flatnonzero(on)[np.argmin(pre[on, j])]), W1[:, j], j))
        if (~on).any():
            own.append((int(np.flatnonzero(~on)[np.argmax(pre[~on, j])]), W1[:, j], j))
    n_anch = min(n, 64) if n_anchors is None else min(int(n_anchors), n)
    anchors = rng.choice(n, size=n_anch, replace=False) if n_anch < n else np.arange(n)
    per = max(2, int(np.ceil(n_patterns / max(n_anch, 1))))

    tol_v = beta * (1.0 + rtol)
    neuron_ub = np.full(W1.shape[1], np.nan)
    ubs, n_checked, n_undecided = [], 0, 0
    viol_masks, viol_ratio, wit_W, wit_b = [], [], [], []

    def check(k, G, neurons=None):
        nonlocal n_checked, n_undecided
        Xk = X - X[k]
        mask = gate_mask(Xk, G)
        prob = TwoLayerReLUProblem(Xk, Y, mask, beta, loss_name, fit_intercept=True,
                                   relu=True)
        cols = prob.dual_norms(Lam)  # (2P, K): v columns then w columns (both signs)
        P = mask.shape[1]
        h = np.maximum(cols[:P], cols[P:])  # (P, K): best sign per output
        ub = np.sqrt(np.sum(h * h, axis=1)) if K > 1 else h[:, 0]
        lb = h.max(axis=1)
        n_checked += P
        ubs.append(ub)
        if neurons is not None:
            for p, j in enumerate(neurons):
                neuron_ub[j] = np.fmax(neuron_ub[j], ub[p] / beta)
            return
        bad = lb > tol_v
        n_undecided += int(np.sum((ub > tol_v) & ~bad))
        if not bad.any():
            return
        idx = np.flatnonzero(bad)
        viol_masks.append(mask[:, idx])
        viol_ratio.append(lb[idx] / beta)
        if K == 1:
            # the maximizing neuron of each violating region: the projection of the
            # gradient onto its cone (the sign column with the larger value)
            q = np.where(cols[idx, 0] >= cols[P + idx, 0], idx, P + idx)
            sel = np.zeros((2 * P, 1), dtype=bool)
            sel[q, 0] = True
            V = prob.project(prob.adjoint(Lam), sel)[:, q, 0]
            V /= np.maximum(np.linalg.norm(V, axis=0), 1e-300)
            wit_W.append(V)
            wit_b.append(-X[k] @ V)

    with warnings.catch_warnings():
        # few distinct regions per anchor in low dimension: expected, not a warning here
        warnings.filterwarnings("ignore", message="n_patterns=", category=UserWarning)
        for k, g, j in own:
            check(k, g[:, None], neurons=[j])
        for k in anchors:
            G = sample_gates(X - X[k], per, random_state=rng)
            if G.shape[1]:
                check(int(k), G)
    # the all-active (linear) regions: ||X^T Lam||_2, exact also for vector outputs
    lin = float(np.linalg.norm(X.T @ Lam, 2))
    ubs.append(np.array([lin]))
    n_checked += 1
    if lin > tol_v:
        viol_masks.append(np.ones((n, 1), dtype=bool))
        viol_ratio.append(np.array([lin / beta]))
        if K == 1:
            v = X.T @ Lam[:, 0]
            v = v / np.linalg.norm(v)
            wit_W.append(v[:, None])
            wit_b.append(np.array([-np.min(X @ v)]))
    worst = max(float(np.max(np.concatenate(ubs))), float(np.nanmax(neuron_ub, initial=0.0))
                * beta)
    t_max = beta / worst if worst > 0 else np.inf
    if loss_name != "squared":
        t_max = min(1.0, t_max)
    t = loss.dual_scale(Lam, t_max if np.isfinite(t_max) else 1e300)
    bound = loss.dual_value(t * Lam)
    objective_own, bound_own = objective / scale, bound / scale
    gap = max(objective_own - bound_own, 0.0)
    rel = gap / max(abs(objective_own), 1e-300)
    viol_neurons = np.flatnonzero(neuron_ub > 1.0 + rtol)
    masks = np.hstack(viol_masks) if viol_masks else np.zeros((n, 0), dtype=bool)
    ratios = np.concatenate(viol_ratio) if viol_ratio else np.zeros(0)
    return NetworkCertificate(
        objective=objective_own, dual_bound=bound_own, gap=gap, relative_gap=rel,
        is_certified=bool(rel <= gap_tol and n_undecided == 0),
        regularization=beta, max_constraint_ratio=worst / beta,
        n_patterns_checked=int(n_checked), neuron_ratios=neuron_ub,
        violating_neurons=viol_neurons, violating_patterns=masks, pattern_ratios=ratios,
        witness_coefs=np.hstack(wit_W) if wit_W else np.zeros((d, 0)),
        witness_intercepts=np.concatenate(wit_b) if wit_b else np.zeros(0),
        n_undecided=int(n_undecided),
        details={"loss": loss_name, "scale": scale, "Lam": Lam, "dual_scale": t,
                 "sample_weight_sum": S, "n_anchors": int(n_anch)})


def _certify_convex_relu(est, X, y, *, sample_weight, n_patterns, rtol, gap_tol,
                         random_state):
    from skconvex.neural_network._two_layer import (_bias_scaling, _convex_relu_dual_check,
                                                    _hidden_units)

    chk = _convex_relu_dual_check(est, X, y, n_new_patterns=n_patterns,
                                  sample_weight=sample_weight, random_state=random_state)
    alpha = chk["full"].alpha  # the program's (alpha times y_scale_ for regressors)
    full, probe = chk["full"], chk["probe"]
    objective, bound = chk["objective"], chk["bound_enlarged"]
    gap = max(objective - bound, 0.0)
    rel = gap / max(abs(objective), 1e-300)
    # the hidden units of the convex solution, in the order of _set_fitted: unit j sits in
    # column q_idx[j] (and feeds output k_idx[j], or every output with shared units)
    q_idx, _, W2 = _hidden_units(full, chk["U"])
    k_idx = np.zeros(q_idx.size, dtype=np.intp) if full.shared else np.argmax(W2 != 0, axis=1)
    neuron_ratios = chk["norms_old"][q_idx, k_idx] / alpha
    viol_neurons = np.flatnonzero(neuron_ratios > 1.0 + rtol)
    cols = chk["norms_new_cols"]  # (Q_new, K)
    bad_cols = cols > alpha * (1.0 + rtol)
    bad_q = np.flatnonzero(bad_cols.any(axis=1))
    masks = probe.mask[:, probe.col_pattern[bad_q]]
    ratios = cols[bad_q].max(axis=1) / alpha
    d = est._mean.shape[0]
    if bad_q.size and probe.shared:
        # the witness unit of a violated block: its top left singular vector (the input
        # weights of the unit whose addition lowers the objective fastest)
        A = np.moveaxis(probe.adjoint(chk["Lam"])[:, bad_q], 1, 0)
        V = np.linalg.svd(A, full_matrices=False)[0][:, :, 0].T
    elif bad_q.size:
        V = probe.project(probe.adjoint(chk["Lam"]), bad_cols)
        k_best = np.argmax(np.where(bad_cols[bad_q], cols[bad_q], -np.inf), axis=1)
        V = V[:, bad_q, k_best]
    if bad_q.size:
        V = V / np.maximum(np.linalg.norm(V, axis=0), 1e-300)
        W = V[:d] / est._scale[:, None]
        b = (_bias_scaling(est) * V[d] if est.fit_intercept else np.zeros(bad_q.size)) - \
            est._mean @ W
    else:
        W, b = np.zeros((d, 0)), np.zeros(0)
    all_ratio = max(float(np.max(chk["norms_new"], initial=0.0)),
                    float(np.max(chk["norms_old"], initial=0.0))) / alpha
    return NetworkCertificate(
        objective=objective, dual_bound=bound, gap=gap, relative_gap=rel,
        is_certified=bool(rel <= gap_tol),
        regularization=alpha, max_constraint_ratio=all_ratio,
        n_patterns_checked=int(full.n_patterns + probe.n_patterns),
        neuron_ratios=neuron_ratios, violating_neurons=viol_neurons,
        violating_patterns=masks, pattern_ratios=ratios, witness_coefs=W,
        witness_intercepts=b, n_undecided=0,
        details={"loss": chk["loss"], "scale": 1.0, "Lam": chk["Lam"],
                 "program": "convex_relu"})


@dataclass
class MaxMarginCertificate:
    """What :func:`certify_max_margin` found (spec p4 section 4).

    Attributes
    ----------
    is_certified : bool
        The KKT multipliers are dual feasible on every checked pattern (``dual_constraint_max
        <= 1 + tol``) and satisfy stationarity (``stationarity_residual <= tol``): the
        normalized network is a global optimum of the max-margin problem (up to pattern
        sampling).
    objective : float
        ``1/2 ||theta||^2`` of the network normalized to smallest margin 1.
    dual_bound : float
        ``sum lam / max(1, dual_constraint_max)``: a lower bound of the max-margin optimum.
    gap : float
    dual_constraint_max : float
        ``max |(lam y)^T relu(X u)|`` over unit ``u`` in the checked regions.
    stationarity_residual : float
        Relative residual of the KKT stationarity equations solved for ``lam >= 0``.
    lam : ndarray of shape (n_samples,)
    """

    is_certified: bool
    objective: float
    dual_bound: float
    gap: float
    dual_constraint_max: float
    stationarity_residual: float
    lam: np.ndarray = field(repr=False)


def certify_max_margin(W, a, X, y, *, n_patterns=1000, active_tol=1e-3, tol=1e-3,
                       random_state=None):
    """Certify that a bias-free two-layer ReLU network ``f(x) = relu(x W) a`` is a global
    optimum of the max-margin problem ``min 1/2 (||W||^2 + ||a||^2) s.t. y_i f(x_i) >= 1``,
    the problem whose KKT points gradient flow on the unregularized logistic loss converges to
    in direction. Hidden biases: append a ones column to ``X`` and the biases as a row of ``W``.

    Steps (spec p4 section 4): normalize the weights to smallest margin 1; take the samples
    with margin ``<= 1 + active_tol``; solve the stationarity equations
    ``a_j = v^T relu(X w_j)``, ``w_j = a_j X^T D_j v`` (``v = lam * y``) for ``lam >= 0`` by
    a small constrained least-squares problem; check ``max_{||u|| <= 1} |v^T relu(X u)| <= 1`` on the
    network's own and ``n_patterns`` fresh activation patterns (exact per pattern by a cone
    projection). Samples on a neuron's kink take any subgradient in ``[0, 1]``. Then ``sum lam`` (scaled into the checked constraints) is a dual value and
    the network is optimal when it meets the primal value.

    Parameters
    ----------
    W : ndarray of shape (n_features, n_hidden)
    a : ndarray of shape (n_hidden,)
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,) with values in {-1, +1}
    n_patterns : int, default=1000
    active_tol, tol : float, default=1e-3
    random_state : int, RandomState instance or None

    Returns
    -------
    MaxMarginCertificate
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if W.ndim != 2 or W.shape[0] != X.shape[1] or W.shape[1] != a.size:
        raise ValueError(f"W must have shape (n_features, n_hidden) = ({X.shape[1]}, {a.size}), "
                         f"got {W.shape}")
    if not np.all(np.isin(y, [-1.0, 1.0])):
        raise ValueError("y must hold labels -1 and +1")
    margins = y * (np.maximum(X @ W, 0.0) @ a)
    m = float(np.min(margins))
    if m <= 0:
        raise ValueError(f"the network does not separate the data (smallest margin {m:.3g})")
    W, a = W / np.sqrt(m), a / np.sqrt(m)
    margins = margins / m
    objective = 0.5 * (float(np.sum(W ** 2)) + float(np.sum(a ** 2)))
    act = np.flatnonzero(margins <= 1.0 + active_tol)
    # stationarity: a_j = sum_i lam_i y_i relu(x_i w_j) and w_j = a_j sum_i lam_i y_i g_ij x_i
    # with the Clarke subgradient g_ij = 1[x_i w_j > 0], or any value in [0, 1] for a sample
    # on the neuron's kink (x_i w_j = 0: optimal neurons pass through samples); with
    # mu_ij = lam_i g_ij on the kinks, a small least-squares problem over lam >= 0,
    # 0 <= mu_ij <= lam_i
    import cvxpy as cp

    XA, yA = X[act], y[act]
    Z = XA @ W
    wn = np.linalg.norm(W, axis=0)
    kink = np.abs(Z) <= 1e-7 * np.linalg.norm(XA, axis=1)[:, None] * np.maximum(wn, 1e-300)
    lam_v = cp.Variable(act.size, nonneg=True)
    res_terms, cons = [], []
    for j in range(W.shape[1]):
        h = np.maximum(Z[:, j], 0.0) * yA
        res_terms.append(h @ lam_v - a[j])
        on = (Z[:, j] > 0) & ~kink[:, j]
        expr = a[j] * ((XA[on] * yA[on, None]).T @ lam_v[np.flatnonzero(on)]) \
            if on.any() else np.zeros(X.shape[1])
        kk = np.flatnonzero(kink[:, j])
        if kk.size:
            mu = cp.Variable(kk.size, nonneg=True)
            cons.append(mu <= lam_v[kk])
            expr = expr + a[j] * ((XA[kk] * yA[kk, None]).T @ mu)
        res_terms.append(expr - W[:, j])
    r = np.concatenate([a, W.T.ravel()])
    prob_s = cp.Problem(cp.Minimize(cp.sum_squares(cp.hstack(res_terms))), cons)
    prob_s.solve(solver=cp.CLARABEL)
    lam_a = np.maximum(np.asarray(lam_v.value, dtype=float), 0.0)
    resid = np.sqrt(max(float(prob_s.value), 0.0)) / max(float(np.linalg.norm(r)), 1e-300)
    lam = np.zeros(X.shape[0])
    lam[act] = lam_a
    v = (lam * y)[:, None]
    own = W[:, np.linalg.norm(W, axis=0) > 0]
    G = np.hstack([own, sample_gates(X, n_patterns, random_state=random_state)]) \
        if n_patterns > 0 else own
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_patterns=", category=UserWarning)
        prob = TwoLayerReLUProblem(X, np.ones((X.shape[0], 1)), gate_mask(X, G), 1.0,
                                   "squared", fit_intercept=False, relu=True)
    norms = prob.dual_norms(v)
    g = float(np.max(norms)) if norms.size else 0.0
    bound = float(np.sum(lam)) / max(1.0, g)
    gap = max(objective - bound, 0.0)
    return MaxMarginCertificate(
        is_certified=bool(g <= 1.0 + tol and resid <= tol),
        objective=objective, dual_bound=bound, gap=gap, dual_constraint_max=g,
        stationarity_residual=float(resid), lam=lam)
