"""Newton's method on the support in normal-equations form (gated programs): the structured
Gram matrix of the three-layer pair program equals the dense one, the polish reaches the
interior-point optimum from a loose proximal-gradient point, and the gated three-layer
estimator's rounds (proximal gradient, Newton, certificate) agree with the reference."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skconvex.arrangements import (
    gate_mask,
    sample_gates,
    sample_subnetwork_gates,
    subnetwork_mask,
)
from skconvex.neural_network import ConvexThreeLayerRegressor
from skconvex.neural_network._three_layer import _solve_gated_rounds
from skconvex.problems.gated_three_layer import GatedThreeLayerProblem
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.solvers import solve_cvxpy
from skconvex.solvers.fista import solve_fista, unpack
from skconvex.solvers.gram_newton import _Support, polish_gram_newton


def _data(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = np.hstack([rng.randn(n, 3), np.ones((n, 1))])
    y = np.maximum(X[:, 0] - X[:, 1], 0) + 0.1 * rng.randn(n)
    G = sample_gates(X, 6, random_state=seed)
    W1, w2 = sample_subnetwork_gates(X, 5, width=2, first_layer=G, random_state=seed + 1)
    return X, y, gate_mask(X, G), subnetwork_mask(X, W1, w2)


def _targets(loss, y):
    if loss == "squared":
        return y[:, None]
    if loss == "logistic":
        return np.sign(y - np.median(y))[:, None]
    return np.eye(3)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_pair_gram_equals_dense_gram(loss):
    X, y, M1, M2 = _data()
    rng = np.random.RandomState(1)
    sw = rng.rand(len(y))
    sw[:20] = 0.0
    p = GatedThreeLayerProblem(X, _targets(loss, y), M1, M2, 1e-3, loss, sample_weight=sw)
    sup = _Support(p, [(int(q), 0) for q in rng.permutation(p.Q)[:15]])
    Hrows = p.loss.hessian_rows(rng.randn(p.n, 1))
    H = sup.hessian(Hrows)
    # the dense J^T W J from the problem's own Jacobian columns
    J = np.hstack([p.sign_mask[:, q, None] * p.X for q in sup.by_k[0]] + [np.ones((p.n, 1))])
    assert_allclose(H, J.T @ (Hrows[:, 0, 0, None] * J), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_polish_from_loose_point_matches_cvxpy(loss):
    X, y, M1, M2 = _data()
    p = GatedThreeLayerProblem(X, _targets(loss, y), M1, M2, 1e-3, loss)
    ref = solve_cvxpy(p, tol=1e-10)
    loose = solve_fista(p, tol=1e-3, max_iter=5000)
    w, improved = polish_gram_newton(p, loose.w)
    assert improved
    U, c = unpack(w, p.shape)
    objective, bound, _, _ = p.certificate(U, c)
    assert objective < loose.objective
    assert objective >= ref.objective - 1e-9 * abs(ref.objective)
    if loss != "cross_entropy":
        # the support of the loose point is the optimal one: rounding level
        assert objective - bound <= 1e-12 * objective
        assert_allclose(objective, ref.objective, rtol=1e-8)


def test_polish_needs_gated_euclidean_program():
    X, y, M1, _ = _data()
    p = TwoLayerReLUProblem(X, y[:, None], M1, 1e-3, relu=True)
    with pytest.raises(ValueError, match="gated program"):
        polish_gram_newton(p, np.zeros(p.shape[0] * p.Q + 1))


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_gated_rounds_match_plain_fista_and_cvxpy(loss):
    X, y, M1, M2 = _data()
    p = GatedThreeLayerProblem(X, _targets(loss, y), M1, M2, 1e-3, loss)
    ref = solve_cvxpy(p, tol=1e-10)
    res = _solve_gated_rounds(p, tol=1e-8, max_iter=50_000)
    assert res.converged
    assert 0 <= res.gap <= 1e-8 * res.objective
    # the certificate is the whole program's (recomputed: the softmax intercept is found by
    # Newton steps from the stored one, which moves the bound in the last digits)
    U, c = unpack(res.w, p.shape)
    objective, bound, _, _ = p.certificate(U, c)
    assert_allclose(objective, res.objective, rtol=1e-12)
    assert 0 <= objective - bound <= 1e-7 * objective
    assert_allclose(res.objective, ref.objective, rtol=1e-7)
    if loss != "cross_entropy":  # (plain proximal gradient takes ~30,000 iterations there)
        plain = solve_fista(p, tol=1e-8, max_iter=50_000)
        assert plain.converged
        assert_allclose(res.objective, plain.objective, rtol=1e-7)


def test_estimator_rounds_recover_the_convex_model():
    """Solver "fista" beyond the tiny-program polish: the recovered network is the convex
    model, with the whole program's certificate."""
    rng = np.random.RandomState(0)
    X = rng.randn(600, 3)
    y = np.maximum(np.maximum(X @ [1.0, -1.0, 0.5], 0) - 0.5, 0) + 0.05 * rng.randn(600)
    est = ConvexThreeLayerRegressor(alpha=1e-3, n_patterns=(6, 5), solver="fista", tol=1e-8,
                                    max_iter=20_000, random_state=0).fit(X, y)
    assert 0 <= est.duality_gap_ <= 1e-8 * est.objective_
    p = est._make_problem(X, y)
    U, c = unpack(est._convex_weights, p.shape)
    objective, bound, _, _ = p.certificate(U, c)
    assert_allclose([objective, bound], [est.objective_, est.objective_ - est.duality_gap_],
                    rtol=1e-10)
    assert_allclose(est.predict(X), p.scores(p.forward(U), c + p.y_offset)[:, 0], rtol=1e-9,
                    atol=1e-9)  # (the program's intercept is relative to the targets' mean)
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-9)
