"""Path-regularized deep ReLU networks: agreement with cvxpy, recovered network = convex model,
path-norm invariances, reduction to the two-layer program, the global-optimality claim against
gradient descent, the low-rank approximation, and bad input."""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize

from skconvex import PathRegularizedReLUClassifier, PathRegularizedReLURegressor
from skconvex.arrangements import gate_mask, sample_gates
from skconvex.neural_network import certify_path_optimality
from skconvex.neural_network._deep import _low_rank_bound
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.problems.path_deep import CellTree, PathDeepProblem, path_norm, sample_cells
from skconvex.solvers import solve_cvxpy
from skconvex.solvers.fista import solve_fista, unpack


def relu(z):
    return np.maximum(z, 0.0)


def _data(n=40, d=2, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = relu(relu(X @ rng.randn(d, 3)) @ rng.randn(3)) - 0.5 * relu(X[:, 0]) + \
        0.05 * rng.randn(n)
    return X, y


def _targets(y, loss):
    if loss == "squared":
        return y[:, None]
    if loss == "logistic":
        return np.where(y > np.median(y), 1.0, -1.0)[:, None]
    return np.eye(3)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]


def _problem(loss="squared", widths=(2,), n=30, C=6, alpha=5e-3, seed=0):
    X, y = _data(n, 2, seed)
    Xt = np.hstack([X, np.ones((n, 1))])
    tree = CellTree(widths)
    masks, sigs = sample_cells(Xt, C, tree, random_state=seed)
    return PathDeepProblem(Xt, _targets(y, loss), masks, sigs, tree, alpha, loss)


def _net_forward(X, weights):
    """Forward pass of one layered sub-network ``[W1, W2, ..., w_L]`` (inputs with bias)."""
    h = X @ weights[0]
    for W in weights[1:-1]:
        h = relu(h) @ W
    return relu(h[:, 0]) * weights[-1]


@pytest.mark.parametrize("loss,widths", [("squared", (2,)), ("logistic", (2,)),
                                         ("cross_entropy", (2,)), ("squared", (2, 2)),
                                         ("squared", (1, 2, 1))])
def test_fista_matches_cvxpy(loss, widths):
    p = _problem(loss, widths)
    ref = solve_cvxpy(p, tol=1e-9)
    res = solve_fista(p, tol=1e-8, max_iter=50_000)
    assert res.converged
    U, c = unpack(res.w, p.shape)
    assert p.max_violation(U) <= 1e-10  # every iterate is projected onto the cones
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.dual_bound <= ref.objective * (1 + 1e-9)  # a valid lower bound
    assert 0 <= res.duality_gap <= 1e-8 * res.objective * 1.01


@pytest.mark.parametrize("widths", [(2,), (2, 2)])
def test_recovered_networks_reproduce_the_convex_model(widths):
    p = _problem("squared", widths, n=40, C=10)
    res = solve_fista(p, tol=1e-6, max_iter=50_000)
    U, c = unpack(res.w, p.shape)
    pred = p.forward(U)[:, 0] + c[0]
    nets = p.subnetworks(U)
    assert nets
    f = c[0] + sum(_net_forward(p.X, w) for _, _, w in nets)
    assert_allclose(f, pred, rtol=1e-9, atol=1e-12)
    for _, t, w in nets:
        assert_allclose(path_norm(w), t, rtol=1e-10)
    penalty = p.alpha * sum(t for _, t, _ in nets)
    assert_allclose(p.loss.value(f[:, None]) + penalty, res.objective, rtol=1e-10)


@pytest.mark.parametrize("depth,widths", [(3, (3,)), (4, (2, 2))])
def test_estimator_objective_equals_recovered_network(depth, widths):
    X, y = _data(120, 3)
    X = X * [1.0, 1000.0, 0.001] + [0.0, 5000.0, -3.0]  # badly scaled features
    est = PathRegularizedReLURegressor(alpha=2e-3, depth=depth, widths=widths, n_cells=15,
                                       tol=1e-9, max_iter=30_000, random_state=0).fit(X, y)
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
    assert est.max_violation_ <= 1e-6
    assert est.duality_gap_ >= 0
    assert len(est.path_norms_) == est.n_subnetworks_ >= 1
    # predict (the network's forward pass) equals the convex model's prediction
    Xt = np.hstack([(X - est._mean) / est._scale, np.ones((len(X), 1))])
    masks, sigs = est._cells
    p = PathDeepProblem(Xt, y[:, None], masks, sigs, CellTree(widths), est.alpha * est.y_scale_)
    U, c = unpack(est._convex_weights, p.shape)
    assert_allclose(est.predict(X), p.forward(U)[:, 0] + c[0] + p.y_offset[0], rtol=1e-8,
                    atol=1e-10)
    # and the forward pass through the layered (block-diagonal) weights agrees
    f = est.intercept_[0] + sum(
        _net_forward(np.hstack([X, np.ones((len(X), 1))]),
                     [np.vstack([net["coefs"][0], net["intercept"]])] + net["coefs"][1:])
        for net in est.subnetworks_)
    assert_allclose(est.predict(X), f, rtol=1e-9, atol=1e-10)



def test_intercept_scaling_penalizes_the_first_layer_biases_less():
    """``intercept_scaling = c``: the program's constant column holds ``c``, so the objective is
    the loss plus the path norms with each first-layer bias counted as ``b / c`` (recomputed here
    from the raw networks); the cells are sampled alike for every ``c`` (on the unit column), so
    over the same cells a larger ``c`` never has a larger optimum."""
    X, y = _data(120, 2)
    X = X * [3.0, 0.5] + [1.0, -2.0]
    fits = {}
    for c in (1.0, 4.0):
        est = PathRegularizedReLURegressor(alpha=2e-3, n_cells=15, tol=1e-10, max_iter=30_000,
                                           intercept_scaling=c, random_state=0).fit(X, y)
        fits[c] = est
        assert est.duality_gap_ <= 1e-8 * est.objective_
        norms = []
        for net in est.subnetworks_:
            W = net["coefs"][0]
            w_std = W * est._scale[:, None]  # the weights on the standardized features
            b_std = net["intercept"] + est._mean @ W
            norms.append(path_norm([np.vstack([w_std, b_std / c])] + net["coefs"][1:]))
        objective = 0.5 * np.mean((est.predict(X) - y) ** 2) + \
            est.alpha * est.y_scale_ * sum(norms)
        assert_allclose(objective, est.objective_, rtol=1e-7)
        assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-7)
        # predict (the raw network) is the convex model's prediction on the training data
        Xt = np.hstack([(X - est._mean) / est._scale, np.full((len(X), 1), c)])
        masks, sigs = est._cells
        p = PathDeepProblem(Xt, y[:, None], masks, sigs, CellTree((2,)),
                            est.alpha * est.y_scale_)
        U, c0 = unpack(est._convex_weights, p.shape)
        # (the program's intercept is relative to the targets' mean)
        assert_allclose(est.predict(X), p.forward(U)[:, 0] + c0[0] + p.y_offset[0], rtol=1e-8,
                        atol=1e-10)
    for a, b in zip(fits[1.0]._cells, fits[4.0]._cells):
        assert_array_equal(a, b)
    assert fits[4.0].objective_ <= fits[1.0].objective_ * (1 + 1e-8)
    assert fits[4.0].objective_ < 0.999 * fits[1.0].objective_  # the biases matter here
    # without first-layer biases the parameter plays no part
    a, b = (PathRegularizedReLURegressor(alpha=2e-3, n_cells=10, fit_intercept=False,
                                         intercept_scaling=c, random_state=0).fit(X, y)
            for c in (1.0, 4.0))
    assert_allclose(a.predict(X), b.predict(X))
    with pytest.raises(ValueError, match="intercept_scaling"):
        PathRegularizedReLURegressor(intercept_scaling=0.0).fit(X, y)

def test_classifier_vector_output_and_probabilities():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = PathRegularizedReLUClassifier(alpha=3e-3, n_cells=5, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.decision_function(X).shape == (150, 3)
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert_allclose(clf.regularized_loss(X, y), clf.objective_, rtol=1e-6)
    assert {net["output"] for net in clf.subnetworks_} <= {0, 1, 2}
    yb = (y == 2).astype(int)
    clf2 = PathRegularizedReLUClassifier(alpha=3e-3, n_cells=5, random_state=0).fit(X, yb)
    assert clf2.decision_function(X).shape == (150,)
    assert_allclose(clf2.regularized_loss(X, yb), clf2.objective_, rtol=1e-6)


def test_path_norm_invariant_under_rescaling_and_untying():
    rng = np.random.RandomState(0)
    X = np.hstack([rng.randn(50, 3), np.ones((50, 1))])
    W1, W2, W3, w4 = rng.randn(4, 3), rng.randn(3, 2), rng.randn(2, 1), -1.7
    net = [W1, W2, W3, w4]
    f0, R0 = _net_forward(X, net), path_norm(net)
    # per-neuron rescaling: input weights by a > 0, output weights by 1 / a
    a1, a2, a3 = rng.uniform(0.1, 10, 3), rng.uniform(0.1, 10, 2), rng.uniform(0.1, 10, 1)
    scaled = [W1 * a1, (W2 / a1[:, None]) * a2, (W3 / a2[:, None]) * a3, w4 / a3[0]]
    assert_allclose(path_norm(scaled), R0, rtol=1e-12)
    assert_allclose(_net_forward(X, scaled), f0, rtol=1e-10)
    # untying: one copy of each first-layer unit per second-layer unit (a tree)
    U1 = np.hstack([W1, W1])  # leaves of unit 0 then of unit 1
    U2 = np.zeros((6, 2))
    U2[:3, 0], U2[3:, 1] = W2[:, 0], W2[:, 1]
    tree = [U1, U2, W3, w4]
    assert_allclose(_net_forward(X, tree), f0, rtol=1e-12)
    assert_allclose(path_norm(tree), R0, rtol=1e-12)
    # the path norm is the explicit sum over paths
    explicit = sum((np.sum(W1[:, i] ** 2) * W2[i, j] ** 2 * W3[j, 0] ** 2 * w4 ** 2)
                   for i in range(3) for j in range(2))
    assert_allclose(R0, np.sqrt(explicit), rtol=1e-12)


def test_estimator_path_norms_invariant_under_rescaling():
    X, y = _data(60, 2)
    est = PathRegularizedReLURegressor(alpha=5e-3, depth=4, widths=(2, 2), n_cells=8,
                                       random_state=0).fit(X, y)
    rng = np.random.RandomState(1)
    for w, R in zip(est._std_nets, est.path_norms_):
        W1, W2, W3, w4 = w
        a1, a2 = rng.uniform(0.2, 5, W1.shape[1]), rng.uniform(0.2, 5, W2.shape[1])
        scaled = [W1 * a1, (W2 / a1[:, None]) * a2, W3 / a2[:, None], w4]
        assert_allclose(path_norm(scaled), R, rtol=1e-12)


def test_width_one_depth_three_is_the_two_layer_program():
    """m1 = 1, L = 3: a cell (D, +, all-ones root) is a two-layer ReLU neuron of pattern D."""
    X, y = _data(50, 2)
    Xt = np.hstack([X, np.ones((50, 1))])
    G = sample_gates(Xt, 10, random_state=0)
    M = gate_mask(Xt, G)
    two = TwoLayerReLUProblem(Xt, y[:, None], M, 5e-3, relu=True)
    P = M.shape[1]
    masks = np.stack([M, np.ones_like(M)], axis=2)  # (n, P, 2): leaf pattern, root all-on
    deep = PathDeepProblem(Xt, y[:, None], masks, np.ones((P, 2)), CellTree((1,)), 5e-3)
    r2 = solve_cvxpy(two, tol=1e-9)
    rd = solve_fista(deep, tol=1e-8, max_iter=50_000)
    assert_allclose(rd.objective, r2.objective, rtol=1e-6)
    # the same solution: the deep program's columns are the two-layer ones
    U2, c2 = unpack(r2.w, two.shape)
    Ud, cd = unpack(rd.w, deep.shape)
    assert_allclose(deep.forward(Ud) + cd, two.forward(U2) + c2, atol=1e-3)
    # and the cell sampler with m1 = 1 gives two-layer ReLU sub-networks: the program on its
    # cells agrees with cvxpy on the two-layer formulation of the same neurons
    masks, sigs = sample_cells(Xt, 12, CellTree((1,)), random_state=0)
    deep2 = PathDeepProblem(Xt, y[:, None], masks, sigs, CellTree((1,)), 5e-3)
    ref = solve_cvxpy(deep2, tol=1e-9)
    res = solve_fista(deep2, tol=1e-8, max_iter=50_000)
    assert_allclose(res.objective, ref.objective, rtol=1e-6)


def test_cvxpy_solver_agrees_with_fista_estimator():
    X, y = _data(40, 2)
    kw = dict(alpha=5e-3, n_cells=6, random_state=0, max_iter=50_000)
    a = PathRegularizedReLURegressor(solver="cvxpy", tol=1e-9, **kw).fit(X, y)
    b = PathRegularizedReLURegressor(solver="fista", tol=1e-9, **kw).fit(X, y)
    assert a.solver_ == "cvxpy" and b.solver_ == "fista"
    assert_allclose(a.objective_, b.objective_, rtol=1e-6)
    assert_allclose(a.predict(X), b.predict(X), atol=1e-3)
    assert a.duality_gap_ >= 0 and b.duality_gap_ >= 0


def _all_cells_1d(Xt):
    """Every cell of 1-D data with a bias column for L = 3, m1 = 2: all threshold patterns of
    the leaves, all signs, every root pattern (a superset of the realizable ones)."""
    n = Xt.shape[0]
    order = np.argsort(Xt[:, 0])
    leaf = []
    for k in range(n + 1):
        m = np.zeros(n, dtype=bool)
        m[order[k:]] = True
        leaf += [m, ~m]
    leaf = list({m.tobytes(): m for m in leaf}.values())
    roots = [np.array(b, dtype=bool) for b in itertools.product([0, 1], repeat=n)][1:]
    masks, sigs = [], []
    for i, j in itertools.combinations_with_replacement(range(len(leaf)), 2):
        for s1, s2 in itertools.product([1.0, -1.0], repeat=2):
            for r in roots:
                masks.append(np.stack([leaf[i], leaf[j], r], axis=1))
                sigs.append([s1, s2, 1.0])
    return np.stack(masks, axis=1), np.array(sigs)


def test_gradient_descent_never_beats_the_certified_optimum():
    """On tiny 1-D data every cell is enumerated, so the dual certificate is global: training
    the non-convex path-regularized network from many seeds never goes below it."""
    rng = np.random.RandomState(0)
    n, alpha = 5, 2e-2
    x = np.sort(rng.uniform(-2, 2, n))
    Xt = np.column_stack([x, np.ones(n)])
    y = np.sin(2 * x)
    tree = CellTree((2,))
    masks, sigs = sample_cells(Xt, 150, tree, random_state=0)
    p = PathDeepProblem(Xt, y[:, None], masks, sigs, tree, alpha, fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve_fista(p, tol=1e-7, max_iter=100_000)
    U, c = unpack(res.w, p.shape)
    Lam = -p.loss.grad(p.forward(U))
    am, asg = _all_cells_1d(Xt)
    full = PathDeepProblem(Xt, y[:, None], am, asg, tree, alpha, fit_intercept=False)
    worst = float(np.max(full.dual_norms(Lam)))
    t = full.loss.dual_scale(Lam, alpha / worst)
    lower = full.loss.dual_value(t * Lam)  # a lower bound of every network's objective
    assert lower <= res.objective
    assert res.objective - lower <= 0.05 * res.objective  # the sample is nearly complete

    def objective(theta, K=6):
        W1 = theta[:K * 4].reshape(K, 2, 2)
        w2 = theta[K * 4:K * 6].reshape(K, 2)
        w3 = theta[K * 6:K * 7]
        A = np.einsum("nd,kdj->knj", Xt, W1)
        H1 = relu(A)
        g = np.einsum("knj,kj->kn", H1, w2)
        H2 = relu(g)
        f = w3 @ H2
        r = (f - y) / n
        S = np.einsum("kdj,kdj,kj->k", W1, W1, w2 ** 2)
        R = np.abs(w3) * np.sqrt(S)
        val = 0.5 * np.mean((f - y) ** 2) + alpha * np.sum(R)
        gw3 = H2 @ r + alpha * np.sign(w3) * np.sqrt(S)
        gg = r[None, :] * w3[:, None] * (g > 0)
        gw2 = np.einsum("knj,kn->kj", H1, gg)
        gA = gg[:, :, None] * w2[:, None, :] * (A > 0)
        gW1 = np.einsum("nd,knj->kdj", Xt, gA)
        dS = alpha * np.abs(w3) / (2 * np.sqrt(np.maximum(S, 1e-300)))
        gW1 += dS[:, None, None] * 2 * W1 * (w2 ** 2)[:, None, :]
        gw2 += dS[:, None] * 2 * np.einsum("kdj,kdj->kj", W1, W1) * w2
        return val, np.concatenate([gW1.ravel(), gw2.ravel(), gw3])

    best = np.inf
    for seed in range(20):
        theta0 = np.random.RandomState(seed).randn(6 * 7)
        out = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 3000, "gtol": 1e-12, "ftol": 1e-15})
        assert out.fun >= lower - 1e-10
        best = min(best, out.fun)
    assert best >= lower - 1e-10


def test_certificate_on_fresh_cells():
    X, y = _data(60, 2)
    est = PathRegularizedReLURegressor(alpha=5e-3, n_cells=5, random_state=0).fit(X, y)
    cert = certify_path_optimality(est, X, y, n_new_cells=100, random_state=1)
    assert cert.n_new_patterns > 0
    assert cert.duality_gap >= 0
    # with 5 cells, fresh cells lower the optimum: some violate and the enlarged bound drops
    assert cert.n_violated > 0 and not cert.is_certified
    assert cert.lower_bound_enlarged <= est.objective_ - est.duality_gap_ + 1e-12
    big = PathRegularizedReLURegressor(alpha=5e-3, n_cells=40, random_state=0).fit(X, y)
    cert2 = certify_path_optimality(big, X, y, n_new_cells=100, random_state=1)
    assert cert2.max_constraint_ratio < cert.max_constraint_ratio


def test_low_rank_approximation():
    rng = np.random.RandomState(0)
    X = rng.randn(80, 2) @ rng.randn(2, 5) + 0.01 * rng.randn(80, 5)  # nearly rank 2
    y = relu(X[:, 0] - X[:, 1]) + 0.05 * rng.randn(80)
    est = PathRegularizedReLURegressor(alpha=5e-3, n_cells=10, rank=3, random_state=0).fit(X, y)
    # the network trained on X_r computes the same outputs on X: its objective on X is the
    # convex objective
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
    assert est.low_rank_bound_ > 0
    full = PathRegularizedReLURegressor(alpha=5e-3, n_cells=10, random_state=0).fit(X, y)
    assert full.low_rank_bound_ == 0.0
    # the derived bound: for any tree network, moving the data by a matrix of spectral norm
    # sigma moves the data term by at most _low_rank_bound
    Xt = np.hstack([X, np.ones((80, 1))])
    Uu, sv, Vt = np.linalg.svd(Xt, full_matrices=False)
    Xr = (Uu[:, :2] * sv[:2]) @ Vt[:2]
    for seed in range(10):
        r = np.random.RandomState(seed)
        nets = [[r.randn(6, 2), r.randn(2, 1), r.randn()] for _ in range(3)]
        f = sum(_net_forward(Xt, w) for w in nets)
        fr = sum(_net_forward(Xr, w) for w in nets)
        val = 0.5 * np.mean((f - y) ** 2)
        val_r = 0.5 * np.mean((fr - y) ** 2)
        bound = _low_rank_bound("squared", sv[2], 2, sum(path_norm(w) for w in nets), val,
                                1 / 80)
        assert abs(val_r - val) <= bound
        yl = np.where(y > np.median(y), 1.0, -1.0)
        dl = abs(np.mean(np.logaddexp(0, -yl * fr)) - np.mean(np.logaddexp(0, -yl * f)))
        assert dl <= _low_rank_bound("logistic", sv[2], 2,
                                     sum(path_norm(w) for w in nets), 0.0, 1 / 80)


def test_bad_input():
    X, y = _data(30, 2)
    with pytest.raises(ValueError, match="widths"):
        PathRegularizedReLURegressor(depth=4, widths=(2,)).fit(X, y)
    with pytest.raises(ValueError, match="widths"):
        PathRegularizedReLURegressor(widths=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="depth"):
        PathRegularizedReLURegressor(depth=2).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        PathRegularizedReLURegressor(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="rank"):
        PathRegularizedReLURegressor(rank=0).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PathRegularizedReLURegressor().fit(Xn, y)
    with pytest.raises(ValueError, match="one class"):
        PathRegularizedReLUClassifier().fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="logistic"):
        PathRegularizedReLUClassifier(loss="logistic").fit(X, np.arange(30) % 3)
    est = PathRegularizedReLURegressor(n_cells=4, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(np.ones((3, 5)))


@pytest.mark.parametrize("lists,factors", [("auto", "auto"), ("always", "auto"),
                                           ("auto", "two")])
@pytest.mark.parametrize("widths,n", [((2,), 300), ((2, 2), 200), ((1, 2, 1), 150), ((5,), 200)])
def test_screened_projection_equals_the_plain_one(widths, n, lists, factors, monkeypatch):
    """The projections screened by each column's lists of near constraints and warm-started
    from its kept active set and Cholesky factor (kept from call to call) equal the plain
    Lawson-Hanson projection along a sequence of points that move by large and tiny steps
    (both the lists and the full passes decide), and stay in the cones; a column with a zero
    path (its leaf's constraints all at zero slack) included. Also with a pool of two kept
    factors for the six columns (slots handed from column to column)."""
    import skconvex.problems.group_lasso_relu as glr
    import skconvex.problems.path_deep as pd
    from skconvex.problems._path_kernels import project_tree_cone

    if lists == "always":  # lists of near constraints at these small sizes too
        monkeypatch.setattr(pd, "_LIST_ROWS", 0)
    if factors == "two":
        monkeypatch.setattr(glr, "_FACTOR_BYTES", 2 * 8 * (4 * CellTree(widths).n_leaves + 1) ** 2)
    rng = np.random.RandomState(0)
    X = np.hstack([rng.randn(n, 3), np.ones((n, 1))])
    tree = CellTree(widths)
    masks, sigs = sample_cells(X, 6, tree, random_state=1)
    p = PathDeepProblem(X, rng.randn(n, 1), masks, sigs, tree, 1e-3)
    D, Q = p.shape[0], p.shape[1]
    Z = rng.randn(D, Q, 1)
    Z.reshape(4, tree.n_leaves, Q)[:, 0, 0] = 0.0  # column 0: path 0 is zero
    for t in range(40):
        Z = Z + [1.0, 1e-2, 1e-4, 1e-7][t % 4] * rng.randn(*Z.shape)
        Z.reshape(4, tree.n_leaves, Q)[:, 0, 0] = 0.0
        P = p.project(Z, slot="prox")
        for q in range(Q):
            c = p.col_cell[q]
            u = project_tree_cone(p.X, p._xnorm, p.masks[:, c, :], p.sigs[c],
                                  *tree.arrays()[:5], tree.n_leaves,
                                  np.ascontiguousarray(Z[:, q, 0]), np.zeros(1, np.int64),
                                  np.zeros(1, np.int64), 0)[0]
            assert_allclose(P[:, q, 0], u, rtol=0, atol=1e-10 * max(1.0, np.abs(u).max()))
        assert p.max_violation(P) <= 1e-12 * max(1.0, np.abs(P).max())
    # kept factors were reused (a column's age counts its reuses since it was factored)
    fac_slot, factors_, fac_rows, fac_age = p._state("prox")[7:]
    assert factors_.shape[0] == (2 if factors == "two" else 12)
    assert fac_age.max() > 0
    # the lists decided some tests: some columns kept their reference point over the last
    # (tiny) step
    ref = p._state("prox")[3].copy()
    p.project(Z + 1e-12 * rng.randn(*Z.shape), slot="prox")
    assert np.all(p._state("prox")[3] == ref, axis=-1).any()


def test_updated_cholesky_factor_equals_a_fresh_one():
    """The screened projection's factor of the active rows' Gram matrix, kept up to date as
    rows join and leave, is the Cholesky factor of the remaining rows' Gram matrix."""
    from skconvex.problems._cone_kernels import (_chol_append, _chol_delete, _chol_rows,
                                                  _chol_solve)

    rng = np.random.RandomState(0)
    D, m = 12, 9
    A = np.zeros((D + 1, D))
    A[:m] = rng.randn(m, D)
    L, b, z = np.zeros((D + 1, D + 1)), np.zeros(D + 1), rng.randn(D)
    for a in range(m):
        assert _chol_append(A, L, b, z, a)
    rows = list(range(m))
    for k in [4, 0, 5, 2]:  # positions in the current active set
        _chol_delete(L, len(rows), k)
        A[k:len(rows) - 1] = A[k + 1:len(rows)].copy()
        b[k:len(rows) - 1] = b[k + 1:len(rows)].copy()
        rows.pop(k)
        n_s = len(rows)
        Ls = L[:n_s, :n_s]
        assert_allclose(np.triu(Ls, 1), 0.0, atol=0)
        assert np.all(np.diag(Ls) > 0)
        assert_allclose(Ls @ Ls.T, A[:n_s] @ A[:n_s].T, atol=1e-12)
        sol = np.zeros(D + 1)
        _chol_solve(L, b, n_s, sol)
        ref = np.linalg.lstsq(A[:n_s].T, -z, rcond=None)[0]  # min ||z + A^T rho||
        assert_allclose(sol[:n_s], ref, atol=1e-10)
    # a row in the span of the active ones is refused, and nothing changes
    A[len(rows)] = A[:len(rows)].T @ rng.randn(len(rows))
    L0 = L.copy()
    assert not _chol_append(A, L, b, z, len(rows))
    assert_allclose(L, L0, atol=0)
    # at once (a warm start): the dependent rows are left out, the others moved up
    B = rng.randn(7, D)
    B[3] = B[0] - 2 * B[1]
    B[5] = 0.0
    A = np.zeros((D + 1, D))
    A[:7] = B
    L, b = np.zeros((D + 1, D + 1)), np.zeros(D + 1)
    keep = _chol_rows(A, L, b, z, 7)
    assert_allclose(keep, [True, True, True, False, True, False, True])
    K = B[keep]
    assert_allclose(A[:5], K, atol=0)
    assert_allclose(L[:5, :5] @ L[:5, :5].T, K @ K.T, atol=1e-12)
    assert_allclose(b[:5], -K @ z, atol=1e-12)


def test_fista_estimator_polish_reaches_rounding_level():
    """The "fista" solver (proximal gradient to a loose gap, then Newton on the support and
    the faces of the cones) meets a tight tol and agrees with the reference."""
    X, y = _data(60, 2, seed=3)
    kw = dict(alpha=5e-3, n_cells=8, random_state=0, max_iter=20_000)
    a = PathRegularizedReLURegressor(solver="cvxpy", tol=1e-10, **kw).fit(X, y)
    b = PathRegularizedReLURegressor(solver="fista", tol=1e-10, **kw).fit(X, y)
    assert b.duality_gap_ <= 1e-10 * b.objective_
    assert_allclose(b.objective_, a.objective_, rtol=1e-8)
    assert b.max_violation_ <= 1e-10
    assert_allclose(b.regularized_loss(X, y), b.objective_, rtol=1e-8)


# -- dual cell search (column generation) ------------------------------------------------


def test_dual_cell_search_improves_on_its_random_start():
    # cell_search="dual" starts from the random program of a quarter of the budget (the same
    # cells as n_cells=budget // 4 with the same seed) and only adds cells, so its optimum
    # can only be lower; the added cells are ones the fitted network violates
    X, y = _data(120, 2, seed=1)
    kw = dict(alpha=5e-3, random_state=0, tol=1e-8, max_iter=20_000)
    start = PathRegularizedReLURegressor(n_cells=6, **kw).fit(X, y)
    dual = PathRegularizedReLURegressor(n_cells=24, cell_search="dual", **kw).fit(X, y)
    assert 6 < dual.n_cells_ <= 24
    assert_allclose(dual._cells[0][:, :6], start._cells[0])
    assert_allclose(dual._cells[1][:6], start._cells[1])
    assert dual.objective_ < start.objective_ * (1 - 1e-3)
    assert dual.duality_gap_ <= 1e-6 * dual.objective_
    # the recovered network is still the convex model
    assert_allclose(dual.regularized_loss(X, y), dual.objective_, rtol=1e-6)
    # closer to the full program than the same budget sampled at random
    rand = PathRegularizedReLURegressor(n_cells=dual.n_cells_, **kw).fit(X, y)
    assert dual.objective_ < rand.objective_
    # the search leaves no state behind: a refit with the other setting is the plain one
    again = dual.set_params(cell_search="random", n_cells=6).fit(X, y)
    assert_allclose(again.objective_, start.objective_, rtol=1e-8)


def test_top_violators_are_the_most_violated_cells():
    from unittest import mock

    import skconvex.neural_network._deep as deep

    X, y = _data(80, 2, seed=2)
    est = PathRegularizedReLURegressor(alpha=5e-3, n_cells=5, random_state=0).fit(X, y)
    check = deep._new_cells_check(est, X, y, 60, None, 3)
    # every value exactly (projected), from the program over the fitted and the new cells
    exact = deep._per_cell(check["enlarged"].dual_norms(check["Lam"]))[check["n_old"]:]
    alpha = est.alpha * est.y_scale_  # the program's regularization
    violated = np.flatnonzero(exact > alpha)
    assert violated.size > 4
    best = violated[np.argsort(-exact[violated], kind="stable")]
    # with every candidate allowed a projection, the lazy scan finds the exact top 4
    with mock.patch.object(deep, "_SEARCH_PROJECTED", 10_000):
        top = deep._top_violators(check, 4, alpha)
    assert_allclose(exact[top], exact[best[:4]], rtol=1e-9)
    # with the default cap: violated cells only, largest first
    top = deep._top_violators(check, 4, alpha)
    assert top.size and np.all(exact[top] > alpha)
    assert np.all(np.diff(exact[top]) <= 1e-12)


def test_dual_cell_search_repeated_rows_equal_integer_weights():
    X, y = _data(60, 2, seed=4)
    w = np.random.RandomState(0).randint(1, 3, len(y))
    kw = dict(alpha=5e-3, n_cells=12, cell_search="dual", random_state=0, tol=1e-10,
              max_iter=20_000)
    weighted = PathRegularizedReLURegressor(**kw).fit(X, y, sample_weight=w.astype(float))
    repeated = PathRegularizedReLURegressor(**kw).fit(np.repeat(X, w, axis=0),
                                                      np.repeat(y, w))
    assert weighted.n_cells_ == repeated.n_cells_
    assert_allclose(weighted.objective_, repeated.objective_, rtol=1e-8)
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6, atol=1e-8)


def test_dual_cell_search_classifier_string_labels():
    # three classes (cross-entropy, vector output) by proximal gradient: the rounds after the
    # first are warm-started from the previous solution
    X, y = _data(90, 2, seed=5)
    labels = np.array(["low", "mid", "high"])[np.digitize(y, np.quantile(y, [0.33, 0.66]))]
    kw = dict(alpha=5e-3, solver="fista", random_state=0, tol=1e-6, max_iter=20_000)
    start = PathRegularizedReLUClassifier(n_cells=3, **kw).fit(X, labels)
    clf = PathRegularizedReLUClassifier(n_cells=12, cell_search="dual", **kw).fit(X, labels)
    assert set(clf.predict(X)) <= set(labels)
    assert 3 < clf.n_cells_ <= 12
    assert clf.objective_ < start.objective_ and clf.score(X, labels) > start.score(X, labels)
    assert_allclose(clf.regularized_loss(X, labels), clf.objective_, rtol=1e-6)
    cert = certify_path_optimality(clf, X, labels, n_new_cells=50, random_state=1)
    assert cert.duality_gap >= 0


@pytest.mark.parametrize("task,scaling", [("binary", 1.0), ("multiclass", 1.0),
                                          ("binary", 4.0)])
def test_program_over_an_mlps_cells_holds_the_mlp(task, scaling):
    """The global-optimality claim against scikit-learn's own trainer, for depth 3: an
    L-BFGS-trained MLP(6, 6), untied into trees (second-layer biases on an always-on leaf), is a
    feasible point of the path program over its own cells; carried over exactly, it is never
    below the certified optimum minus its gap."""
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from skconvex.neural_network._deep import _mlp_cells, _network_from_mlp
    from skconvex.neural_network._two_layer import _standardize

    X, y = load_breast_cancer(return_X_y=True) if task == "binary" else load_wine(
        return_X_y=True)
    X, y = X[::3], y[::3]
    Z = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # any network will do
        mlp = MLPClassifier(hidden_layer_sizes=(6, 6), alpha=1.0, solver="lbfgs",
                            max_iter=500, random_state=0).fit(Z, y)
    est = PathRegularizedReLUClassifier(alpha=1e-2, depth=3, widths=(7,),
                                        intercept_scaling=scaling, tol=1e-8, random_state=0)
    est._fit_over(X, y, _mlp_cells(mlp, _standardize(X, None, True)[0]))
    assert est.n_cells_ <= 6
    assert est.duality_gap_ <= 1e-6 * est.objective_
    assert est.max_violation_ <= 1e-8
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
    net = _network_from_mlp(est, mlp)
    assert_allclose(net.predict_proba(X), mlp.predict_proba(Z), rtol=1e-8, atol=1e-12)
    assert net.regularized_loss(X, y) >= est.objective_ - est.duality_gap_
    assert net.regularized_loss(X, y) > 1.01 * est.objective_


# -- ascent of sub-networks on the dual constraint --------------------------------------------


def _tree_net(tree, W1, E, b):
    """Sub-network ``b`` of the arrays of :func:`ascend_subnetworks` as a function and its path
    norm (from the tree's paths)."""
    def f(X):
        h = X @ W1[:, b, :]
        hs = {p: h[:, p] for p in range(tree.n_leaves)}
        for u in range(tree.n_leaves, tree.n_nodes):
            lo, hi = tree.child_lo[u], tree.child_hi[u]
            hs[u] = sum(E[b, v] * relu(hs[v]) for v in range(lo, hi))
        return relu(hs[tree.root])
    norm2 = sum(np.sum(W1[:, b, p] ** 2) * np.prod([E[b, v] ** 2 for v in path[:-1]])
                for p, path in enumerate(tree.paths))
    return f, np.sqrt(norm2)


@pytest.mark.parametrize("widths", [(2,), (3, 2), (2, 2, 2)])
def test_subnetwork_value_gradient_is_exact(widths):
    from skconvex.problems.path_deep import _signed_value_grad

    rng = np.random.RandomState(0)
    tree = CellTree(widths)
    n, d, B = 40, 4, 3
    X, lam = rng.randn(n, d), rng.randn(n, B)
    W1, E = rng.randn(d, B, tree.n_leaves), rng.randn(B, tree.n_nodes)
    v, gW, gE = _signed_value_grad(tree, X, W1, E, lam)
    for b in range(B):
        assert_allclose(v[b], lam[:, b] @ _tree_net(tree, W1, E, b)[0](X), rtol=1e-12)
    eps = 1e-6
    for arr, grad, axis in ((W1, gW, 1), (E, gE, 0)):
        for idx in itertools.product(*map(range, arr.shape)):
            if arr is E and idx[1] == tree.root:
                assert grad[idx] == 0.0
                continue
            up, down = arr.copy(), arr.copy()
            up[idx] += eps
            down[idx] -= eps
            args = (up, E) if arr is W1 else (W1, up)
            vp = _signed_value_grad(tree, X, *args, lam)[0]
            args = (down, E) if arr is W1 else (W1, down)
            vm = _signed_value_grad(tree, X, *args, lam)[0]
            assert abs((vp - vm)[idx[axis]] / (2 * eps) - grad[idx]) <= 1e-6


@pytest.mark.parametrize("widths", [(2,), (2, 2)])
def test_ascended_subnetworks_raise_their_dual_values_within_their_cells(widths):
    from skconvex.problems.path_deep import _dual_values, _normalize_blocks, ascend_subnetworks

    X, y = _data(80, 2, seed=3)
    Xt = np.hstack([X, np.ones((80, 1))])
    tree = CellTree(widths)
    rng = np.random.RandomState(0)
    Lam = rng.randn(80, 2) / 80
    W1, E = rng.randn(3, 6, tree.n_leaves), rng.randn(6, tree.n_nodes)
    W0, E0 = W1.copy(), E.copy()
    _normalize_blocks(tree, W0, E0)
    start = np.abs(_dual_values(tree, Xt, W0, E0, Lam)).max(axis=1)
    Wb, Eb, values = ascend_subnetworks(Xt, tree, W1, E, Lam, n_steps=60)
    live = start > 0
    assert np.all(values >= start - 1e-12) and np.all(values[live] > 1.2 * start[live])
    for b in np.flatnonzero(live):
        f, R = _tree_net(tree, Wb, Eb, b)
        assert_allclose(R, 1.0, rtol=1e-12)  # normalized: path norm 1
        # the value of the output and sign chosen at the start
        assert np.min(np.abs(np.abs(f(Xt) @ Lam) - values[b])) <= 1e-10 * values[b]
    # each network's cell holds it: the cell's exact dual value is at least the network's
    from skconvex.problems.path_deep import cells_of_networks

    rows, idx = np.ones(80, dtype=bool), np.flatnonzero(live)
    cells = [cells_of_networks(Xt, tree, Wb[:, [b]], Eb[[b]], rows, set()) for b in idx]
    problem = PathDeepProblem(Xt, np.zeros((80, 2)), np.stack([m[0] for m, _ in cells], axis=1),
                              np.stack([s[0] for _, s in cells]), tree, 1.0, "squared")
    exact = problem.dual_norms(Lam).max(axis=1)
    exact = np.maximum(exact[:idx.size], exact[idx.size:])
    assert np.all(exact >= values[idx] * (1 - 1e-9))


def test_ascent_repeated_rows_equal_integer_weights():
    from skconvex.problems.path_deep import ascend_subnetworks

    X, _ = _data(50, 2, seed=6)
    Xt = np.hstack([X, np.ones((50, 1))])
    tree = CellTree((2,))
    rng = np.random.RandomState(1)
    w = rng.randint(1, 4, 50)
    lam = rng.randn(50, 1) / w.sum()
    W1, E = rng.randn(3, 5, 2), rng.randn(5, tree.n_nodes)
    a = ascend_subnetworks(Xt, tree, W1, E, lam * w[:, None])
    b = ascend_subnetworks(np.repeat(Xt, w, axis=0), tree, W1, E, np.repeat(lam, w, axis=0))
    for x, z in zip(a, b):
        assert_allclose(x, z, rtol=1e-9, atol=1e-12)


def test_dual_search_ascended_cells_are_new_and_violated():
    import skconvex.neural_network._deep as deep

    X, y = _data(80, 2, seed=2)
    est = PathRegularizedReLURegressor(alpha=5e-3, n_cells=5, random_state=0).fit(X, y)
    check = deep._new_cells_check(est, X, y, 20, None, 3, n_ascended=6)
    k = check["n_ascended"]
    assert 0 < k <= 6 and check["sigs"].shape[0] == 20 + k
    exact = deep._per_cell(check["enlarged"].dual_norms(check["Lam"]))[check["n_old"]:]
    alpha = est.alpha * est.y_scale_
    # moved up their dual values, the ascended cells are violated, beyond the sampled ones
    assert np.all(exact[20:] > alpha) and exact[20:].max() > exact[:20].max()
    # and none repeats a cell of the program or a sampled one (canonical keys)
    from skconvex.problems.path_deep import cell_keys

    tree, rows = est._tree(), np.ones(len(X), bool)
    old = cell_keys(tree, *est._cells, rows)
    sampled = cell_keys(tree, check["masks"][:, :20], check["sigs"][:20], rows)
    new = [cell_keys(tree, check["masks"][:, [j]], check["sigs"][[j]], rows).pop()
           for j in range(20, 20 + k)]
    assert len(set(new)) == k and not (set(new) & (old | sampled))
    # the dual search ranks the most violated first
    top = deep._top_violators(check, 3, alpha)
    assert top[0] >= 20 and exact[top[0]] == exact.max()


def test_certificate_with_ascended_cells_is_sharper():
    X, y = _data(60, 2)
    est = PathRegularizedReLURegressor(alpha=5e-3, n_cells=40, random_state=0).fit(X, y)
    plain = certify_path_optimality(est, X, y, n_new_cells=100, random_state=1)
    sharp = certify_path_optimality(est, X, y, n_new_cells=100, n_ascended=10, random_state=1)
    assert 100 < sharp.n_new_patterns <= 110
    assert sharp.max_constraint_ratio > plain.max_constraint_ratio
    assert sharp.n_violated > plain.n_violated
    assert sharp.lower_bound_enlarged <= plain.lower_bound_enlarged + 1e-12
    with pytest.raises(ValueError, match="n_ascended"):
        certify_path_optimality(est, X, y, n_ascended=-1)


def test_distinct_columns_keeps_the_best_of_near_copies():
    from skconvex.neural_network._deep import _distinct_columns

    rng = np.random.RandomState(0)
    a, b = rng.rand(30), rng.rand(30)
    F = np.column_stack([a, 2 * a + 1e-3 * rng.rand(30), b, np.zeros(30), a])
    values = np.array([1.0, 3.0, 2.0, 5.0, 3.0])
    # column 1 (the largest value of the copies of a; tie with 4 broken by index), then b;
    # the zero column is never kept
    assert _distinct_columns(F, values, 0.95).tolist() == [1, 2]
    assert _distinct_columns(F, values, 1.0 + 1e-12).tolist() == [0, 1, 2, 4]


def test_fitted_cells_are_stored_as_bits():
    """The fitted cells (masks over every training row, kept for warm starts and the
    certificate) are stored as packed bits: a pickle at 8,000 rows was 2.4 MB."""
    import pickle
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    X, y = _data(2000, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = PathRegularizedReLURegressor(n_cells=50, max_iter=50, random_state=0).fit(X, y)
    masks, sigs = est._cells
    assert masks.dtype == bool and masks.shape[:2] == (2000, 50)
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded._cells[0], masks)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert len(pickle.dumps(est)) < masks.size / 4  # 1 bit per entry, not 1 byte
