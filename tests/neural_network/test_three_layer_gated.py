"""Gated three-layer convex networks: the reduction to the gated two-layer group lasso over
pattern pairs, FISTA against cvxpy, the recovered gated network equals the convex model, and
the certificate."""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from numpy.testing import assert_allclose

from skconvex.arrangements import (
    gate_mask,
    sample_gates,
    sample_subnetwork_gates,
    subnetwork_mask,
)
from skconvex.neural_network import (
    ConvexThreeLayerClassifier,
    ConvexThreeLayerRegressor,
    certify_global_optimality,
)
from skconvex.problems.gated_three_layer import (
    GatedThreeLayerProblem,
    pair_dual_norms,
    pair_masks,
)
from skconvex.solvers import solve_cvxpy
from skconvex.solvers.fista import solve_fista, unpack


def _masks(n=40, P=(5, 4), seed=0):
    rng = np.random.RandomState(seed)
    X = np.hstack([rng.randn(n, 2), np.ones((n, 1))])
    y = np.sign(rng.randn(n)) + 0.1 * rng.randn(n)
    G = sample_gates(X, P[0], random_state=seed)
    W1, w2 = sample_subnetwork_gates(X, P[1], width=2, first_layer=G, random_state=seed + 1)
    return X, y, gate_mask(X, G), subnetwork_mask(X, W1, w2)


def _targets(loss, y):
    if loss == "squared":
        return y[:, None]
    if loss == "logistic":
        return np.sign(y)[:, None]
    return np.eye(3)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]


def test_pair_masks_are_products_of_first_and_second_layer_patterns():
    X, y, M1, M2 = _masks()
    mask, first, second = pair_masks(M1, M2)
    assert_allclose(mask, M1[:, first] & M2[:, second])
    # distinct and nonempty, and every nonempty product appears
    assert mask.any(axis=0).all()
    assert len({mask[:, q].tobytes() for q in range(mask.shape[1])}) == mask.shape[1]
    kept = {mask[:, q].tobytes() for q in range(mask.shape[1])}
    for i in range(M1.shape[1]):
        for j in range(M2.shape[1]):
            prod = M1[:, i] & M2[:, j]
            assert (not prod.any()) or prod.tobytes() in kept
    p = GatedThreeLayerProblem(X, y[:, None], M1, M2, 0.02)
    assert_allclose(p.mask, M1[:, p.pair_first] & M2[:, p.pair_second])
    # the probe of dual norms over pairs agrees with the problem's own
    Lam = np.random.RandomState(0).randn(len(y), 1)
    norms = pair_dual_norms(X, M1, M2, Lam)
    assert_allclose(p.dual_norms(Lam)[:, 0], norms[p.pair_first, p.pair_second, 0],
                    rtol=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_gated_program_equals_four_sign_program_and_fista_matches_cvxpy(loss):
    """Dropping the cones of the ReLU program (four sign variables per pair, no constraints)
    gives the gated group lasso over pairs: the same optimum; FISTA reaches it."""
    X, y, M1, M2 = _masks()
    Y = _targets(loss, y)
    alpha = 0.02
    n, d = X.shape
    K = Y.shape[1]
    P1, P2 = M1.shape[1], M2.shape[1]
    # the four-sign program in cvxpy, written out
    Z = []
    reg = 0
    c = cp.Variable(K)
    for k in range(K):
        out = c[k]
        for s in range(4):
            V = cp.Variable((d, P1 * P2))
            sign = 1.0 if s in (0, 3) else -1.0  # u - v - u' + v'
            D = (M2[:, :, None] & M1[:, None, :]).reshape(n, -1)
            out = out + sign * cp.sum(cp.multiply(D, X @ V), axis=1)
            reg = reg + cp.sum(cp.norm(V, 2, axis=0))
        Z.append(out)
    Zm = cp.vstack(Z).T if K > 1 else cp.reshape(Z[0], (n, 1), order="F")
    from skconvex.problems._losses import cvxpy_loss

    prob = cp.Problem(cp.Minimize(cvxpy_loss(loss, Zm, Y, np.full(n, 1.0 / n)) + alpha * reg))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    four_sign = prob.value
    p = GatedThreeLayerProblem(X, Y, M1, M2, alpha, loss)
    ref = solve_cvxpy(p, tol=1e-10)
    res = solve_fista(GatedThreeLayerProblem(X, Y, M1, M2, alpha, loss), tol=1e-9,
                      max_iter=50_000)
    assert res.converged
    assert_allclose(ref.objective, four_sign, rtol=1e-6)
    assert_allclose(res.objective, ref.objective, rtol=1e-6)
    assert 0 <= res.duality_gap <= 1e-9 * res.objective * 1.01
    assert res.dual_bound <= ref.objective * (1 + 1e-9)


def _forward_by_subnetwork(est, X):
    """The gated three-layer network evaluated sub-network by sub-network from the public
    attributes ``subnetworks_`` and ``subnetwork_gates_``."""
    Xb = np.hstack([X, np.ones((len(X), 1))])
    out = np.zeros((len(X), est.intercepts_[-1].size)) + est.intercepts_[-1]
    for (W1, w2, w3), (G1, V1, v2) in zip(est.subnetworks_, est.subnetwork_gates_):
        h1 = (Xb @ W1) * (Xb @ G1 >= 0)
        gate2 = np.maximum(Xb @ V1, 0.0) @ v2 >= 0
        out += ((h1 @ w2) * gate2)[:, None] * w3[None, :]
    return out


@pytest.mark.parametrize("solver", ["fista", "cvxpy"])
def test_recovered_gated_network_equals_convex_model(solver):
    rng = np.random.RandomState(0)
    X = rng.randn(80, 2)
    y = np.maximum(np.maximum(X @ [1.0, -1.0], 0) - 0.5, 0) + 0.05 * rng.randn(80)
    X = X * [1000.0, 0.001] + [5000.0, -3.0]  # badly scaled features
    est = ConvexThreeLayerRegressor(alpha=1e-3, n_patterns=(6, 5), solver=solver, tol=1e-8,
                                    max_iter=20_000, random_state=0).fit(X, y)
    assert est.activation == "gated_relu" and est.solver_ == solver
    assert est.n_subnetworks_ >= 2
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
    assert_allclose(est.subnetwork_norms(), 1.0, rtol=1e-9)
    assert est.max_violation_ == 0.0
    assert 0 <= est.duality_gap_ <= 1e-8 * est.objective_ * 1.01
    p = est._make_problem(X, y)
    assert isinstance(p, GatedThreeLayerProblem)
    U, c = unpack(est._convex_weights, p.shape)
    convex_pred = p.scores(p.forward(U), c + p.y_offset)[:, 0]  # (centred intercept)
    assert_allclose(est.predict(X), convex_pred, rtol=1e-9, atol=1e-9)
    assert_allclose(_forward_by_subnetwork(est, X)[:, 0], convex_pred, rtol=1e-9, atol=1e-9)
    for (W1, w2, w3), (G1, V1, v2) in zip(est.subnetworks_, est.subnetwork_gates_):
        assert W1.shape == G1.shape == (3, w2.size) and w3.shape == (1,)
        assert V1.shape == (3, est.width) and v2.shape == (est.width,)
        assert np.all(w3 >= 0)
    # the gated network is not the ReLU network: it differs from the ReLU forward pass
    relu_out = sum(np.maximum(np.maximum(np.hstack([X, np.ones((80, 1))]) @ W1, 0) @ w2, 0)
                   * w3[0] for W1, w2, w3 in est.subnetworks_)
    assert not np.allclose(relu_out + est.intercepts_[-1][0], convex_pred)


def test_gated_classifier_binary_and_multiclass():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: no ConvergenceWarning
        clf = ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=(8, 6),
                                         random_state=0).fit(X, y)
    assert clf.solver_ == "fista"
    assert clf.score(X, y) > 0.95
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert_allclose(clf.regularized_loss(X, y), clf.objective_, rtol=1e-6)
    assert_allclose(clf.decision_function(X), _forward_by_subnetwork(clf, X), atol=1e-9)
    assert {int(np.flatnonzero(w3)[0]) for _, _, w3 in clf.subnetworks_} == {0, 1, 2}
    yb = np.where(y == 2, "virginica", "other")
    clf = ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=(8, 6), random_state=0).fit(X, yb)
    assert clf.decision_function(X).shape == (150,)
    assert clf.score(X, yb) > 0.95
    assert_allclose(clf.regularized_loss(X, yb), clf.objective_, rtol=1e-6)
    # the interior point reaches the same optimum
    ref = ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=(8, 6), solver="cvxpy",
                                     random_state=0).fit(X, yb)
    assert_allclose(ref.objective_, clf.objective_, rtol=1e-6)


def test_gated_gap_nonnegative_and_vanishing():
    rng = np.random.RandomState(1)
    X = rng.randn(300, 4)
    y = np.sin(X[:, 0]) + np.maximum(X[:, 1] * X[:, 2], 0) + 0.1 * rng.randn(300)
    gaps, objs = [], []
    for tol in (1e-2, 1e-4, 1e-7):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # converged: no ConvergenceWarning
            est = ConvexThreeLayerRegressor(alpha=1e-3, n_patterns=(10, 10), tol=tol,
                                            max_iter=20_000, random_state=0).fit(X, y)
        assert 0 <= est.duality_gap_ <= tol * est.objective_ * 1.01
        gaps.append(est.duality_gap_)
        objs.append(est.objective_)
    assert gaps[-1] < gaps[0]
    # every fit's objective is above every fit's lower bound (objective - gap)
    lower = max(o - g for o, g in zip(objs, gaps))
    assert min(objs) >= lower - 1e-12
    assert_allclose(objs[-1], min(objs), rtol=1e-7)
    cert = certify_global_optimality(est, X, y, n_new_patterns=20, random_state=0)
    assert_allclose(cert.objective, est.objective_, rtol=1e-10)
    assert 0 <= cert.duality_gap <= 1e-7 * est.objective_ * 1.01
    # 10 x 10 pairs miss much of the data's structure: fresh pairs are violated, and the
    # enlarged bound is a lower bound below the sampled program's
    assert cert.n_violated > 0 and cert.max_constraint_ratio > 1
    assert cert.lower_bound_enlarged <= est.objective_ - est.duality_gap_ + 1e-12


def test_gated_certificate_with_every_pattern():
    """On 6 points in 1-D every first-layer pattern is sampled and the second-layer budget
    covers every reachable gate: fresh pairs repeat sampled ones and satisfy the dual
    constraints."""
    x = np.linspace(-1, 1, 6) + 0.05 * np.sin(np.arange(6))
    y = np.array([0.2, -0.5, 0.9, 0.1, -0.3, 0.6])
    X = x[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer patterns exist than asked
        est = ConvexThreeLayerRegressor(alpha=0.02, n_patterns=(50, 60), width=2, tol=1e-10,
                                        max_iter=20_000, random_state=0).fit(X, y)
        cert = certify_global_optimality(est, X, y, n_new_patterns=30, random_state=3)
    assert est.n_patterns_[0] == 11
    assert cert.n_new_patterns > 0
    assert cert.is_certified and cert.max_constraint_ratio <= 1 + 1e-6
    assert cert.relative_gap_enlarged <= 1e-8


def test_activation_validation_and_defaults():
    X, y = np.random.RandomState(0).randn(30, 2), np.arange(30.0)
    with pytest.raises(ValueError, match="activation"):
        ConvexThreeLayerRegressor(activation="tanh").fit(X, y)
    with pytest.raises(ValueError, match="n_patterns"):
        ConvexThreeLayerRegressor(n_patterns="many").fit(X, y)
    est = ConvexThreeLayerRegressor()
    assert est.activation == "gated_relu" and est.n_patterns == "auto"
    est.fit(X, y)
    # a tiny program: the polished interior point, as for the two-layer estimators
    assert est.n_patterns_[0] == 20 and est.solver_ == "cvxpy"
