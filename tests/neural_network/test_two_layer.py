"""Two-layer convex ReLU networks: agreement with cvxpy, recovered network = convex model,
certificates, and the global-optimality claim against gradient descent."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconvex.datasets import make_planted_relu_regression
from skconvex.arrangements import gate_mask, sample_gates
from skconvex.neural_network import (
    ConvexReLUClassifier,
    ConvexReLURegressor,
    certify_global_optimality,
)
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.solvers import solve_cvxpy
from skconvex.solvers.fista import solve_fista


def _planted(n=120, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = np.maximum(X @ rng.randn(d, 4), 0) @ rng.randn(4) + 0.05 * rng.randn(n)
    return X, y


def _problem(loss, relu, n=80, P=12, seed=0):
    X, y = _planted(n, 3, seed)
    Xt = np.hstack([X, np.ones((n, 1))])
    M = gate_mask(Xt, sample_gates(Xt, P, random_state=seed))
    if loss == "squared":
        Y = y[:, None]
    elif loss == "logistic":
        Y = np.where(y > np.median(y), 1.0, -1.0)[:, None]
    else:
        Y = np.eye(3)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    return TwoLayerReLUProblem(Xt, Y, M, 2e-3, loss, relu=relu)


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
def test_gated_fista_matches_cvxpy(loss):
    p = _problem(loss, relu=False)
    ref = solve_cvxpy(p, tol=1e-9)
    res = solve_fista(p, tol=1e-9, max_iter=50_000)
    assert res.converged
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert 0 <= res.duality_gap <= 1e-9 * res.objective * 1.01
    # weak duality: the certificate bounds the reference optimum from below
    assert res.dual_bound <= ref.objective + 1e-12


@pytest.mark.parametrize("loss", ["squared", "logistic", "cross_entropy"])
@pytest.mark.parametrize("working_set", [False, True])
def test_relu_projected_fista_matches_cvxpy(loss, working_set):
    p = _problem(loss, relu=True, n=60, P=8)
    ref = solve_cvxpy(p, tol=1e-9)
    res = solve_fista(p, tol=1e-7, max_iter=60_000, working_set=working_set)
    assert res.converged
    U = res.w[:-p.K].reshape(p.shape)
    # every iterate is projected onto the cones: feasible to rounding
    assert p.max_violation(U) <= 1e-10
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    # the projected-gradient certificate is a valid lower bound of the reference optimum
    assert res.dual_bound <= ref.objective * (1 + 1e-9)
    assert res.objective - res.dual_bound <= 1e-7 * res.objective * 1.01


def test_cone_projection_matches_cvxpy():
    import cvxpy as cp

    from skconvex.problems._cone_kernels import project_cone

    rng = np.random.RandomState(0)
    for _ in range(20):
        n, d = rng.randint(5, 120), rng.randint(2, 9)
        X = np.hstack([rng.randn(n, d - 1), np.ones((n, 1))])
        signs = np.where(X @ rng.randn(d) >= 0, 1.0, -1.0)
        z = 3 * rng.randn(d)
        u, S, n_active, _ = project_cone(X, signs, z, np.zeros(1, dtype=np.int64), 0)
        v = cp.Variable(d)
        cp.Problem(cp.Minimize(cp.sum_squares(v - z)),
                   [cp.multiply(signs, X @ v) >= 0]).solve(
            solver="CLARABEL", tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
        assert_allclose(u, v.value, atol=1e-7 * max(1.0, np.linalg.norm(z)))
        assert np.min(signs * (X @ u)) >= -1e-10 * np.linalg.norm(z)
        # a warm start from the returned active set reproduces the projection
        u2, _, _, _ = project_cone(X, signs, z, S, n_active)
        assert_allclose(u2, u, atol=1e-10 * max(1.0, np.linalg.norm(z)))


@pytest.mark.parametrize("duplicates", [False, True])
def test_cone_projection_matches_nnls_in_higher_dimension(duplicates):
    """Projections with large active sets (the factor of the active rows' Gram matrix updated
    through many joins and leaves) equal the NNLS solution ``z + A^T rho``, ``rho =
    argmin_{rho >= 0} ||z + A^T rho||``; with repeated and nearly repeated rows (dependent
    active rows: the solves fall back to least squares from scratch) too."""
    from scipy.optimize import nnls

    from skconvex.problems._cone_kernels import project_cone

    rng = np.random.RandomState(1)
    n, d = 300, 40
    X = np.hstack([rng.randn(n, d - 1), np.ones((n, 1))])
    if duplicates:
        X[150:] = X[:150] + rng.choice([0.0, 1e-13], size=(150, 1)) * rng.randn(150, d)
    signs = np.where(X @ rng.randn(d) >= 0, 1.0, -1.0)
    A = signs[:, None] * X
    for _ in range(5):
        z = 3 * rng.randn(d)
        u, S, n_active, _ = project_cone(X, signs, z, np.zeros(1, dtype=np.int64), 0)
        rho = nnls(A.T, -z, maxiter=50 * n)[0]
        ref = z + A.T @ rho
        assert n_active > 10
        assert_allclose(u, ref, atol=1e-8 * np.linalg.norm(z))
        assert np.min(A @ u) >= -1e-10 * np.linalg.norm(z) * np.abs(A).max()
        u2, _, _, _ = project_cone(X, signs, z, S, n_active)
        assert_allclose(u2, u, atol=1e-10 * np.linalg.norm(z))


@pytest.mark.parametrize("pool", ["auto", "two"])
def test_kept_factors_give_the_fresh_projections(pool, monkeypatch):
    """The program's projections, warm-started from each column's kept active set and its
    kept Cholesky factor (reused up to the refresh, handed between columns when the pool is
    small), equal fresh projections along a sequence of points moving by large and tiny
    steps."""
    import skconvex.problems.group_lasso_relu as glr
    from skconvex.problems._cone_kernels import FACTOR_REFRESH, project_cone

    rng = np.random.RandomState(0)
    n, d, P = 300, 12, 4
    if pool == "two":
        monkeypatch.setattr(glr, "_FACTOR_BYTES", 2 * 8 * (d + 1) ** 2)
    X = np.hstack([rng.randn(n, d - 1), np.ones((n, 1))])
    mask = gate_mask(X, sample_gates(X, P, random_state=0))
    p = TwoLayerReLUProblem(X, rng.randn(n, 2), mask, 1e-3, "squared", relu=True)
    Z = rng.randn(d, p.Q, p.K)
    reused = 0
    for t in range(2 * FACTOR_REFRESH + 10):
        Z = Z + [1.0, 1e-3, 1e-6, 1e-9][t % 4] * rng.randn(*Z.shape)
        out = p.project(Z)
        reused += int(np.sum(p._factors[3] > 0))
        for q in range(p.Q):
            signs = np.where(p.mask[:, p.col_pattern[q]], 1.0, -1.0)
            for k in range(p.K):
                u = project_cone(X, signs, Z[:, q, k].copy(), np.zeros(1, np.int64), 0)[0]
                assert_allclose(out[:, q, k], u, rtol=0,
                                atol=1e-10 * max(1.0, np.abs(u).max()))
    assert p._factors[1].shape[0] == (2 if pool == "two" else 2 * P * 2)
    assert reused > 0  # kept factors were used
    assert p._factors[3].max() <= FACTOR_REFRESH


def test_working_set_matches_full_fista():
    p = _problem("squared", relu=False, n=200, P=40)
    full = solve_fista(p, tol=1e-9, max_iter=50_000, working_set=False)
    ws = solve_fista(p, tol=1e-9, max_iter=50_000, working_set=True)
    assert ws.converged and full.converged
    assert ws.info["working_set"] <= 40
    assert_allclose(ws.objective, full.objective, rtol=2e-9)


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_recovered_network_equals_convex_model(activation):
    X, y = _planted(150, 3)
    X = X * [1.0, 1000.0, 0.001] + [0.0, 5000.0, -3.0]  # badly scaled features
    est = ConvexReLURegressor(alpha=2e-3, n_patterns=15, activation=activation, tol=1e-8,
                              max_iter=40_000, random_state=0).fit(X, y)
    # the non-convex objective of the recovered weights equals the convex objective
    assert_allclose(est.regularized_loss(X, y), est.objective_,
                    rtol=1e-6)
    assert est.n_hidden_ >= 1
    assert est.duality_gap_ >= 0
    if activation == "relu":
        assert est.max_violation_ <= 1e-10



@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_intercept_scaling_penalizes_hidden_biases_less(activation):
    """``intercept_scaling = c``: the program's constant column holds ``c``, so the objective is
    the loss plus the weight decay with each hidden bias counted as ``b / c`` (recomputed here
    from the raw network); the patterns are sampled alike for every ``c`` (on the unit column),
    so a larger ``c`` never has a larger optimum."""
    X, y = _planted(150, 2)
    X = X * [3.0, 0.5] + [1.0, -2.0]
    fits = {}
    for c in (1.0, 4.0):
        est = ConvexReLURegressor(alpha=2e-3, n_patterns=15, activation=activation, tol=1e-10,
                                  max_iter=40_000, intercept_scaling=c,
                                  random_state=0).fit(X, y)
        fits[c] = est
        assert est.duality_gap_ <= 1e-8 * est.objective_
        W1, W2 = est.coefs_
        w_std = W1 * est._scale[:, None]  # the weights on the standardized features
        b_std = est.intercepts_[0] + est._mean @ W1
        decay = np.sum(np.linalg.norm(np.vstack([w_std, b_std / c]), axis=0) *
                       np.linalg.norm(W2, axis=1))
        objective = 0.5 * np.mean((est.predict(X) - y) ** 2) + est.alpha * est.y_scale_ * decay
        assert_allclose(objective, est.objective_, rtol=1e-7)
        assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-7)
    G1, G4 = fits[1.0]._gates_std, fits[4.0]._gates_std
    assert_allclose(G4[:-1], G1[:-1])
    assert_allclose(4.0 * G4[-1], G1[-1])
    assert fits[4.0].objective_ <= fits[1.0].objective_ * (1 + 1e-8)
    assert fits[4.0].objective_ < 0.999 * fits[1.0].objective_  # the biases matter here
    # the certificate's fresh patterns are drawn the same way
    cert = certify_global_optimality(fits[4.0], X, y, random_state=0)
    assert cert.relative_gap >= 0
    with pytest.raises(ValueError, match="intercept_scaling"):
        ConvexReLURegressor(intercept_scaling=-1.0).fit(X, y)


def test_generators_on_data_scale_the_bias_entry_on_the_features_axis():
    """Generators drawn with the constant column at 1 act on the data whose column holds ``c``
    with their bias entry divided by ``c``: the same signs, whichever axis holds the
    features."""
    from skconvex.neural_network._two_layer import _generators_on_data, _sampling_view

    rng = np.random.RandomState(0)
    Xt = np.hstack([rng.randn(30, 3), np.full((30, 1), 4.0)])
    G = rng.randn(4, 5)
    Xs = _sampling_view(Xt, 4.0)
    assert_allclose(Xs[:, -1], 1.0) and Xt[0, -1] == 4.0
    assert_allclose(Xt @ _generators_on_data(G, 4.0), Xs @ G)
    stack = rng.randn(6, 4, 2)  # (networks, features, width)
    on_data = _generators_on_data(stack, 4.0, axis=1)
    assert_allclose(np.einsum("nd,pdw->pnw", Xt, on_data), np.einsum("nd,pdw->pnw", Xs, stack))
    lead = rng.randn(4, 6, 2)  # (features, networks, leaves)
    assert_allclose(np.einsum("nd,dbl->nbl", Xt, _generators_on_data(lead, 4.0)),
                    np.einsum("nd,dbl->nbl", Xs, lead))
    assert _generators_on_data(G, 1.0) is G


def test_gap_shrinks_with_tol():
    X, y = _planted(150, 3)
    gaps = []
    for tol in (1e-2, 1e-4, 1e-6):
        est = ConvexReLURegressor(alpha=1e-3, n_patterns=20, tol=tol, max_iter=50_000,
                                  solver="fista", random_state=0).fit(X, y)
        gaps.append(est.duality_gap_ / est.objective_)
        assert gaps[-1] <= tol
    assert gaps[0] > gaps[-1]


def _all_patterns_problem():
    """Tiny 2-D data where sampling finds every activation pattern: the program is exact."""
    rng = np.random.RandomState(3)
    X = rng.randn(10, 2)
    y = np.maximum(X @ [1.0, -1.0] + 0.3, 0) - 0.5 * np.maximum(X @ [0.3, 1.0], 0)
    return X, y


def test_gradient_descent_never_beats_convex_optimum():
    """Non-convex training (many seeds) stays above the certified optimum minus the gap."""
    X, y = _all_patterns_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = ConvexReLURegressor(alpha=1e-2, n_patterns=2000, activation="relu", tol=1e-7,
                                  max_iter=100_000, random_state=0).fit(X, y)
    lower = est.objective_ - est.duality_gap_
    Xs = (X - est._mean) / est._scale
    Xt = np.hstack([Xs, np.ones((len(X), 1))])
    n, alpha = len(X), est.alpha * est.y_scale_  # the program's regularization
    best = np.inf
    for seed in range(20):
        rng = np.random.RandomState(seed)
        W = rng.randn(3, 8) * 0.5
        a = rng.randn(8) * 0.5
        c = 0.0
        lr = 0.05
        for _ in range(4000):
            H = Xt @ W
            A = np.maximum(H, 0)
            r = A @ a + c - y
            ga = A.T @ r / n + alpha * a
            gW = Xt.T @ ((r[:, None] * a[None, :]) * (H > 0)) / n + alpha * W
            gc = r.mean()
            a -= lr * ga
            W -= lr * gW
            c -= lr * gc
        H = np.maximum(Xt @ W, 0)
        obj = 0.5 * np.mean((H @ a + c - y) ** 2) + 0.5 * alpha * (np.sum(W**2) + np.sum(a**2))
        best = min(best, obj)
    assert est.duality_gap_ <= 1e-5 * est.objective_
    assert best >= lower - 1e-9
    # every pattern was sampled: fresh patterns violate nothing, the fit is certified
    gated = ConvexReLURegressor(alpha=1e-2, n_patterns=2000, random_state=0).fit(X, y)
    cert = certify_global_optimality(gated, X, y, n_new_patterns=2000, random_state=1)
    assert cert.is_certified
    assert cert.relative_gap_enlarged <= 1e-6


def test_certificate_flags_missing_patterns():
    X, y = _planted(300, 5)
    est = ConvexReLURegressor(alpha=1e-4, n_patterns=3, random_state=0, tol=1e-8,
                              max_iter=20_000).fit(X, y)
    cert = certify_global_optimality(est, X, y, n_new_patterns=500, random_state=1)
    assert cert.n_violated > 0 and not cert.is_certified
    assert cert.max_constraint_ratio > 1
    assert cert.lower_bound_enlarged <= est.objective_ - est.duality_gap_ + 1e-12


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_certificate_with_every_pattern_sampled(activation):
    """With every activation pattern of the data in the program, fresh patterns find nothing
    (the fit is globally optimal over all two-layer networks for relu)."""
    X, y = _all_patterns_problem()
    est = ConvexReLURegressor(alpha=1e-2, n_patterns=2000, activation=activation,
                              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer distinct patterns than asked
        est.fit(X, y)
    cert = certify_global_optimality(est, X, y, n_new_patterns=300, random_state=1)
    assert cert.is_certified and cert.n_violated == 0
    assert cert.max_constraint_ratio <= 1 + 1e-4
    assert cert.relative_gap <= 1e-6
    assert cert.relative_gap_enlarged <= 1e-6


def test_classifier_binary_and_multiclass():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = ConvexReLUClassifier(alpha=1e-3, n_patterns=20, random_state=0, solver="fista",
                               max_iter=5000).fit(X, y)
    assert clf.score(X, y) > 0.95
    assert clf.predict_proba(X).shape == (150, 3)
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert_allclose(clf.regularized_loss(X, y), clf.objective_, rtol=1e-6)
    yb = np.where(y == 0, "setosa", "other")
    clf = ConvexReLUClassifier(alpha=1e-3, n_patterns=20, random_state=0, solver="fista",
                               max_iter=5000).fit(X, yb)
    assert set(clf.classes_) == {"other", "setosa"}
    assert clf.decision_function(X).shape == (150,)
    assert clf.score(X, yb) == 1.0


def test_warm_start_reuses_patterns_and_solution():
    X, y = _planted(200, 3)
    est = ConvexReLURegressor(alpha=1e-3, n_patterns=20, random_state=0, warm_start=True,
                              solver="fista", tol=1e-6, max_iter=20_000).fit(X, y)
    n1 = est.n_iter_
    G = est._gates_std.copy()
    est.fit(X, y)
    assert_allclose(est._gates_std, G)
    assert est.n_iter_ < n1


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_warm_start_with_a_larger_budget_adds_patterns(activation):
    """The docstring's "warm_start with a larger budget closes the distance": the refit keeps
    the fitted patterns, adds fresh ones up to the new budget and starts from the previous
    solution (before, it kept the old patterns only and the objective did not move)."""
    X, y = _planted(200, 3)
    kw = dict(alpha=1e-3, activation=activation, random_state=0, solver="fista", tol=1e-7,
              max_iter=20_000)
    est = ConvexReLURegressor(n_patterns=10, warm_start=True, **kw).fit(X, y)
    G, obj = est._gates_std.copy(), est.objective_
    est.set_params(n_patterns=60).fit(X, y)
    assert est.n_patterns_ == 60
    assert_allclose(est._gates_std[:, :10], G)
    masks = gate_mask(est._prepare(X, None)[0], est._gates_std)
    assert len({m.tobytes() for m in masks.T}) == 60  # distinct patterns
    assert est.objective_ < obj * (1 - 1e-3)
    assert est.duality_gap_ <= 1e-6 * est.objective_
    # the same optimum as a cold fit over the same patterns
    cold = ConvexReLURegressor(n_patterns=60, **kw)
    cold._fit_over(X, y, est._gates_std)
    assert cold.objective_ == pytest.approx(est.objective_, rel=1e-5)


def test_shared_units_are_ignored_with_one_output():
    """``hidden_units="shared"`` with ReLU is an error only with several outputs: with one,
    the docstring's "Ignored with one output" holds (a grid over activation x hidden_units on
    single-output data used to fail)."""
    X, y = _planted(60, 3)
    for est, target in [(ConvexReLURegressor, y), (ConvexReLUClassifier, y > np.median(y))]:
        kw = dict(activation="relu", n_patterns=8, random_state=0)
        a = est(hidden_units="shared", **kw).fit(X, target)
        b = est(hidden_units="per_output", **kw).fit(X, target)
        assert a.objective_ == pytest.approx(b.objective_, rel=1e-9)
    with pytest.raises(ValueError, match="hidden_units='shared' needs"):
        ConvexReLURegressor(hidden_units="shared", activation="relu").fit(
            X, np.column_stack([y, -y]))


def test_bad_input():
    X, y = _planted(50, 3)
    with pytest.raises(ValueError, match="n_patterns"):
        ConvexReLURegressor(n_patterns=0).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        ConvexReLURegressor(alpha=0.0).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        ConvexReLUClassifier().fit(X, np.zeros(50))
    with pytest.raises(ValueError, match="NaN"):
        ConvexReLURegressor().fit(np.full((5, 2), np.nan), np.ones(5))
    with pytest.raises(ValueError, match="activation"):
        ConvexReLURegressor(activation="tanh").fit(X, y)
    # more patterns than exist: warn and use those that exist
    with pytest.warns(UserWarning, match="distinct activation patterns"):
        est = ConvexReLURegressor(n_patterns=500, random_state=0).fit(X[:6, :1], y[:6])
    assert est.n_patterns_ < 500
    # constant features are fine
    Xc = np.hstack([X, np.ones((50, 1))])
    ConvexReLURegressor(random_state=0).fit(Xc, y).predict(Xc)


def test_features_in_any_units_are_standardized():
    """Each feature's constant test is relative to its own mean: a feature of standard
    deviation 1e-4 next to a timestamp-like one (mean 1.7e9) was taken for a constant (an
    absolute floor scaled by the largest mean of all features), left unscaled and removed by
    the weight decay (R^2 0.10 against 0.98 with a StandardScaler in front)."""
    rng = np.random.RandomState(0)
    small = 1e-4 * rng.randn(200)
    X = np.column_stack([1.7e9 + 3e5 * rng.randn(200), small])
    y = np.maximum(small / 1e-4, 0) + 0.05 * rng.randn(200)
    est = ConvexReLURegressor(n_patterns=30, random_state=0).fit(X, y)
    ref = make_pipeline(StandardScaler(), ConvexReLURegressor(n_patterns=30, random_state=0))
    assert est.score(X, y) > 0.9
    assert est.score(X, y) == pytest.approx(ref.fit(X, y).score(X, y), abs=1e-6)
    # a feature of standard deviation 1e-13 is scaled too
    est = ConvexReLURegressor(n_patterns=30, random_state=0).fit(X[:, 1:] * 1e-9, y)
    assert est.score(X[:, 1:] * 1e-9, y) > 0.9


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_dual_pattern_search_improves_on_its_random_start(activation):
    # pattern_search="dual" starts from the random program of a quarter of the budget (the
    # same patterns as n_patterns=budget // 4 with the same seed) and only adds patterns, so
    # its optimum can only be lower; the added patterns are those the fitted network violates
    X, y = make_planted_relu_regression(300, 5, random_state=3)
    kw = dict(alpha=1e-2, activation=activation, random_state=0, tol=1e-8, max_iter=20_000)
    start = ConvexReLURegressor(n_patterns=10, **kw).fit(X, y)
    dual = ConvexReLURegressor(n_patterns=40, pattern_search="dual", **kw).fit(X, y)
    assert 10 < dual.n_patterns_ <= 40
    np.testing.assert_allclose(dual._gates_std[:, :10], start._gates_std)
    assert dual.objective_ < start.objective_ * (1 - 1e-3)
    assert dual.duality_gap_ <= 1e-6 * dual.objective_
    # the recovered network is still the convex model
    np.testing.assert_allclose(dual.regularized_loss(X, y), dual.objective_, rtol=1e-6)
    # the search leaves no state behind: a refit with the other setting is the plain one
    again = dual.set_params(pattern_search="random", n_patterns=10).fit(X, y)
    np.testing.assert_allclose(again.objective_, start.objective_, rtol=1e-8)


def test_dual_pattern_search_classifier_string_labels_and_weights():
    X, y = make_planted_relu_regression(240, 4, random_state=5)
    labels = np.array(["low", "mid", "high"])[np.digitize(y, np.quantile(y, [0.33, 0.66]))]
    w = np.random.RandomState(0).randint(1, 3, len(y)).astype(float)
    clf = ConvexReLUClassifier(alpha=1e-2, n_patterns=24, pattern_search="dual",
                               random_state=0).fit(X, labels, sample_weight=w)
    assert set(clf.predict(X)) <= set(labels)
    assert 6 < clf.n_patterns_ <= 24 and clf.score(X, labels) > 0.8


def test_dual_pattern_search_stops_when_no_new_pattern_can_enter():
    """Four distinct points have few patterns: once the violated candidates are all in the
    program already (violated only to the solver's tolerance), the search stops below its
    budget instead of refitting the same program forever (scikit-learn's
    check_sample_weights_not_overwritten data). Sampling fewer candidates than asked is no
    warning: the search's candidate budgets are not the user's ``n_patterns``."""
    X = np.repeat([[1.0, 3.0], [2.0, 1.0], [3.0, 3.0], [4.0, 1.0]], 4, axis=0)
    y = np.repeat([1.0, 2.0, 1.0, 2.0], 4)
    w = np.ones(16)
    w[0] = 10.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = ConvexReLURegressor(n_patterns=20, pattern_search="dual",
                                  random_state=0).fit(X, y, sample_weight=w)
    assert est.n_patterns_ < 20
    assert est.duality_gap_ <= est.tol * est.objective_


# -- shared hidden units (nuclear-norm groups) --------------------------------------------


@pytest.mark.parametrize("loss", ["squared", "cross_entropy"])
def test_shared_units_fista_matches_cvxpy(loss):
    p0 = _problem(loss, relu=False, n=60, P=8)
    Y = p0.Y if loss == "cross_entropy" else np.hstack([p0.Y, p0.Y ** 2 - 1.0])
    p = TwoLayerReLUProblem(p0.X, Y, p0.mask, 2e-2, loss, shared=True)
    assert p.shared and p.group_norms(np.ones(p.shape)).shape == (p.Q, 1)
    ref = solve_cvxpy(p, tol=1e-9)
    res = solve_fista(p, tol=1e-9, max_iter=50_000)
    assert res.converged
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert res.dual_bound <= ref.objective * (1 + 1e-9)
    # the nuclear norm is not the per-output program: a different (smaller) optimum
    per = solve_fista(TwoLayerReLUProblem(p0.X, Y, p0.mask, 2e-2, loss), tol=1e-9,
                      max_iter=50_000)
    assert res.objective < per.objective * (1 - 1e-4)


def test_shared_units_prox_is_nuclear_norm_prox():
    """Singular-value soft-thresholding is the prox: it minimizes
    ``step alpha ||V||_* + ||V - U||^2 / 2`` block by block (checked against cvxpy)."""
    import cvxpy as cp

    p = _problem("cross_entropy", relu=False, n=40, P=3)
    p = TwoLayerReLUProblem(p.X, p.Y, p.mask, 0.7, "cross_entropy", shared=True)
    U = np.random.RandomState(1).randn(*p.shape)
    out = p.prox(U, 1.3)
    for q in range(p.Q):
        V = cp.Variable((p.d, p.K))
        cp.Problem(cp.Minimize(1.3 * 0.7 * cp.normNuc(V)
                               + 0.5 * cp.sum_squares(V - U[:, q]))).solve()
        assert_allclose(out[:, q], V.value, atol=1e-5)


@pytest.mark.parametrize("Est", [ConvexReLUClassifier, ConvexReLURegressor])
def test_shared_units_network(Est):
    """Shared units feed every output; the recovered network's regularized loss (weight decay
    on the units of each block's SVD) equals the nuclear-norm objective, its output equals the
    convex model's, and the certificate checks the blocks."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    if Est is ConvexReLURegressor:
        y = np.column_stack([X[:, 0] * X[:, 1], X[:, 2] - X[:, 3], np.sin(X[:, 0])])
        X = X[:, [1, 2, 3]]
    kw = dict(alpha=1e-2, n_patterns=12, random_state=0, solver="fista", tol=1e-7,
              max_iter=50_000)
    shared = Est(**kw).fit(X, y)
    per = Est(hidden_units="per_output", **kw).fit(X, y)
    assert shared._shared_units(3) and not per._shared_units(3)
    W2 = shared.coefs_[1]
    assert W2.shape == (shared.n_hidden_, 3)
    assert np.mean(np.count_nonzero(W2, axis=1) == 3) > 0.9  # units feed every output
    assert np.all(np.count_nonzero(per.coefs_[1], axis=1) == 1)
    assert_allclose(shared.regularized_loss(X, y), shared.objective_, rtol=1e-7)
    assert shared.duality_gap_ <= 1e-7 * shared.objective_ * 1.01
    # the forward pass of the recovered units is the convex model
    p = shared._make_problem(X, y)
    U = shared._convex_weights[:-3].reshape(p.shape)
    assert_allclose(shared._forward(X), p.forward(U) + shared.intercepts_[1], atol=1e-8)
    cert = certify_global_optimality(shared, X, y, n_new_patterns=200, random_state=0)
    assert cert.relative_gap <= 1e-6
    from skconvex.inspection import certify

    net = certify(shared, X, y, n_patterns=200, random_state=0)
    assert net.neuron_ratios.shape == (shared.n_hidden_,)
    assert np.all(net.neuron_ratios <= 1 + 1e-3)  # active units sit on their constraint
    assert net.witness_coefs.shape == (X.shape[1], net.violating_patterns.shape[1])
    # a richer model class for the same penalty weight: never a worse optimum
    assert shared.objective_ <= per.objective_ * (1 + 1e-6)


def test_shared_units_need_gated_relu():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="hidden_units='shared' needs activation='gated_relu'"):
        ConvexReLUClassifier(activation="relu", hidden_units="shared").fit(X, y)
    # auto: per-output units with relu, shared with gated_relu
    assert not ConvexReLUClassifier(activation="relu")._shared_units(3)
    assert ConvexReLUClassifier()._shared_units(3)


def test_refine_gates_climbs_and_keeps_patterns_distinct():
    from skconvex.arrangements import _pattern_keys, refine_gates

    rng = np.random.RandomState(0)
    X = np.hstack([rng.randn(300, 4), np.ones((300, 1))])
    target = np.array([1.0, -2.0, 0.5, 0.0, 0.3])
    target /= np.linalg.norm(target)

    def score(G):  # agreement of each pattern with the pattern of ``target``
        return np.mean(gate_mask(X, G) == (X @ target >= 0)[:, None], axis=0)

    G0 = sample_gates(X, 40, random_state=1)
    exclude = set(_pattern_keys(gate_mask(X, G0[:, :5])))
    G, s = refine_gates(X, G0[:, 5:], score, n_trials=30, exclude=exclude, random_state=0)
    assert_allclose(s, score(G))
    assert np.all(np.diff(s) <= 0)  # ordered by score
    keys = _pattern_keys(gate_mask(X, G))
    assert len(set(keys)) == len(keys) and not set(keys) & exclude
    # the climb raises the scores well above those of the starting generators
    assert s.mean() > score(G0[:, 5:]).mean() + 0.05
    assert_allclose(np.linalg.norm(G, axis=0), 1.0)


def test_ascend_gates_finds_the_best_pattern():
    from skconvex.arrangements import ascend_gates

    rng = np.random.RandomState(0)
    X = np.hstack([rng.randn(300, 2), np.ones((300, 1))])
    r = (X @ np.array([1.0, -0.5, 0.3]) >= 0) - 0.5 + 0.1 * rng.randn(300)

    def exact(G):
        return np.linalg.norm(X.T @ (gate_mask(X, G) * r[:, None]), axis=0)

    best = exact(rng.randn(3, 200_000)).max()  # brute force over the patterns of 2-D data
    G0 = sample_gates(X, 20, random_state=1)
    assert exact(G0).max() < 0.95 * best
    G, s = ascend_gates(X, G0, np.repeat(r[:, None], 20, axis=1))
    assert_allclose(s, exact(G))
    assert_allclose(np.linalg.norm(G, axis=0), 1.0)
    assert np.all(s >= exact(G0))  # no generator gets worse
    assert s.max() == pytest.approx(best, rel=1e-12)  # the best pattern is found
    assert np.sum(s > (1 - 1e-12) * best) >= 5 and s.mean() > 0.9 * best


def test_ascend_gates_same_for_repeated_and_reweighted_rows():
    # rows of integer weight k and rows repeated k times (in another order) are the same
    # data to the ascent: it runs on the merged rows, with the weighted spread
    from skconvex.arrangements import ascend_gates, merge_rows

    rng = np.random.RandomState(3)
    X = np.hstack([rng.randn(40, 3), np.ones((40, 1))])
    w = rng.randint(1, 4, 40).astype(float)
    r = rng.randn(40) * w
    Xr = np.repeat(X, w.astype(int), axis=0)
    rr = np.repeat(r / w, w.astype(int))
    perm = rng.permutation(len(Xr))
    Xm, wm, Rm = merge_rows(Xr[perm], None, rr[perm, None])
    Xw, ww, Rw = merge_rows(X, w, r[:, None])
    assert_array_equal(Xm, Xw)
    assert_allclose(wm, ww)
    assert_allclose(Rm, Rw, rtol=1e-14)
    G0 = sample_gates(X, 15, random_state=0)
    Gw, sw = ascend_gates(X, G0, np.repeat(r[:, None], 15, axis=1), weights=w)
    Gr, sr = ascend_gates(Xr[perm], G0, np.repeat(rr[perm, None], 15, axis=1))
    assert_allclose(Gw, Gr, atol=1e-10)
    assert_array_equal(gate_mask(X, Gw), gate_mask(X, Gr))
    assert_allclose(sw, sr, rtol=1e-12)
    assert np.all(sw >= np.linalg.norm(X.T @ (gate_mask(X, G0) * r[:, None]), axis=0))


def test_dual_search_ascent_lowers_the_optimum():
    # the gradient ascent on the chosen generators gives a program with a lower optimum than
    # the hill climb alone, for the same budget and seed
    from unittest import mock

    import skconvex.neural_network._two_layer as two_layer

    X, y = make_planted_relu_regression(400, 6, random_state=0)
    est = ConvexReLURegressor(alpha=1e-2, n_patterns=40, pattern_search="dual", random_state=0)
    with_ascent = est.fit(X, y).objective_
    with mock.patch.object(two_layer, "_ascend_dual_gates", lambda problem, G, Lam: G):
        without = clone(est).fit(X, y).objective_
    assert with_ascent < without


def test_factored_polish_reaches_the_shared_units_optimum():
    from skconvex.solvers.factored_polish import polish_factored
    from skconvex.solvers.fista import unpack

    p0 = _problem("cross_entropy", relu=False, n=60, P=8)
    p = TwoLayerReLUProblem(p0.X, p0.Y, p0.mask, 2e-2, "cross_entropy", shared=True)
    loose = solve_fista(p, tol=1e-4, max_iter=50_000)
    ref = solve_cvxpy(p, tol=1e-9)
    w, improved = polish_factored(p, loose.w)
    assert improved
    U, c = unpack(w, p.shape)
    obj, bound, _, _ = p.certificate(U, c)
    # from a 1e-4 gap to a rounding-level one, at the interior point's optimum
    assert obj - bound <= 1e-11 * obj
    assert abs(obj - ref.objective) <= 1e-7 * ref.objective
    Ur, cr = unpack(ref.w, p.shape)
    # the predictions, up to the softmax's free common shift
    Z, Zr = p.forward(U) + c, p.forward(Ur) + cr
    assert_allclose(Z - Z.mean(axis=1, keepdims=True), Zr - Zr.mean(axis=1, keepdims=True),
                    atol=1e-4)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_support_newton_finds_the_faces_of_the_cones(loss):
    # from the optimum moved into the interior of its cones (every active cone row released),
    # the active-set Newton polish cuts its steps at the cone rows, moves to the optimum's
    # faces and reaches the optimum; every point it returns is in the cones
    from skconvex.solvers.fista import pack, unpack
    from skconvex.solvers.support_newton import polish_support_newton

    X, y = _planted(60, 3, 0)
    Xt = np.hstack([X, np.ones((60, 1))])
    G = sample_gates(Xt, 8, random_state=0)
    Y = y[:, None] if loss == "squared" else np.where(y > np.median(y), 1.0, -1.0)[:, None]
    p = TwoLayerReLUProblem(Xt, Y, gate_mask(Xt, G), 2e-3, loss, relu=True)
    ref = solve_fista(p, tol=1e-9, max_iter=60_000)
    w_opt, improved = polish_support_newton(p, ref.w, active_set=True)
    U, c = unpack(w_opt, p.shape)
    f_opt, bound, _, _ = p.certificate(U, c)
    assert f_opt - bound <= 1e-12 * f_opt
    on_face = 0
    U_in = U.copy()
    for q in np.flatnonzero(p.group_norms(U)[:, 0] > 0):
        g = G[:, q % p.n_patterns] / np.linalg.norm(G[:, q % p.n_patterns])
        slack = (np.where(p.mask[:, q % p.n_patterns], 1.0, -1.0)[:, None] * Xt) @ U[:, q, 0]
        on_face += int(np.any(slack <= 1e-9 * np.linalg.norm(U[:, q, 0])))
        U_in[:, q, 0] += 1e-3 * np.linalg.norm(U[:, q, 0]) * g
    assert on_face >= 2  # the optimum has columns on faces of their cones
    assert p.max_violation(U_in) == 0.0
    w, improved = polish_support_newton(p, pack(U_in, c), active_set=True)
    # without the active-set steps the polish gives up there
    assert not polish_support_newton(p, pack(U_in, c))[1]
    assert improved
    U_new, c_new = unpack(w, p.shape)
    assert p.max_violation(U_new) <= 1e-12
    f_new, bound_new, _, _ = p.certificate(U_new, c_new)
    assert f_new == pytest.approx(f_opt, rel=1e-12)
    assert f_new - bound_new <= 1e-10 * f_new


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_fista_rounds_polish_slow_programs_to_rounding_level(monkeypatch, activation):
    # a small alpha: proximal gradient alone crawls once the support is found; after
    # _PLAIN_ITER iterations the rounds with a Newton polish on the support (and the faces of
    # the cones, for relu) finish the program
    import skconvex.neural_network._two_layer as two_layer

    X, y = make_planted_relu_regression(300, 6, random_state=0)[:2]
    kw = dict(alpha=1e-3, n_patterns=60 if activation == "gated_relu" else 30,
              activation=activation, random_state=0, max_iter=20_000)
    est = ConvexReLURegressor(solver="fista", **kw).fit(X, y)
    assert two_layer._PLAIN_ITER < est.n_iter_ < 20_000
    assert est.duality_gap_ <= 1e-11 * est.objective_
    ref = ConvexReLURegressor(solver="cvxpy", **kw).fit(X, y)
    assert est.objective_ == pytest.approx(ref.objective_, rel=1e-10)
    assert est.max_violation_ <= 1e-12
    # the same iterations of plain proximal gradient are far from there
    monkeypatch.setattr(two_layer, "_PLAIN_ITER", est.n_iter_)
    plain = ConvexReLURegressor(solver="fista", **{**kw, "max_iter": est.n_iter_})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain.fit(X, y)
    assert plain.duality_gap_ > 1e3 * est.duality_gap_


@pytest.mark.parametrize("task,scaling", [("regression", 1.0), ("multiclass", 1.0),
                                          ("multiclass", 4.0)])
def test_program_over_an_mlps_patterns_holds_the_mlp(task, scaling):
    """The global-optimality claim against scikit-learn's own trainer: the program over the
    activation patterns of an Adam-trained MLP has the MLP's network as a feasible point, so
    that network (carried over exactly) is never below the certified optimum minus its gap,
    and the optimum's recovered network has the optimum's objective."""
    from sklearn.datasets import load_diabetes, load_wine
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from skconvex.neural_network._two_layer import _mlp_gates, _network_from_mlp

    if task == "regression":
        X, y = load_diabetes(return_X_y=True)
        X, y = X[:150], (y[:150] - y[:150].mean()) / y[:150].std()
        MLP, est = MLPRegressor, ConvexReLURegressor(alpha=1e-2, intercept_scaling=scaling,
                                                     random_state=0)
    else:
        X, y = load_wine(return_X_y=True)
        MLP, est = MLPClassifier, ConvexReLUClassifier(alpha=1e-2, intercept_scaling=scaling,
                                                       random_state=0)
    Z = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP may stop at max_iter: any network will do
        mlp = MLP(hidden_layer_sizes=(12,), max_iter=300, random_state=0).fit(Z, y)
    est._fit_over(X, y, _mlp_gates(mlp, scaling))
    assert est.n_patterns_ <= 12
    assert est.duality_gap_ <= 1e-6 * est.objective_
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
    net = _network_from_mlp(est, mlp)
    if task == "regression":
        assert_allclose(net.predict(X), mlp.predict(Z), rtol=1e-10, atol=1e-12)
    else:
        assert_allclose(net.predict_proba(X), mlp.predict_proba(Z), rtol=1e-8, atol=1e-12)
    assert net.regularized_loss(X, y) >= est.objective_ - est.duality_gap_
    # the program's optimum is strictly better than the MLP here (it is not at the optimum)
    assert net.regularized_loss(X, y) > 1.01 * est.objective_
