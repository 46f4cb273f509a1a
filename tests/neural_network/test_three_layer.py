"""Three-layer convex ReLU networks: operators, agreement with cvxpy, recovered network =
convex model, the two-layer program as a special case, certificates, and the global-optimality
claim against gradient descent."""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

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
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.problems.three_layer import ThreeLayerReLUProblem
from skconvex.solvers import solve_cvxpy
from skconvex.solvers.augmented_lagrangian import solve_augmented_lagrangian
from skconvex.solvers.fista import unpack


def _data(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = np.hstack([rng.randn(n, 2), np.ones((n, 1))])
    y = np.sign(rng.randn(n)) + 0.1 * rng.randn(n)
    return X, y


def _problem(loss="squared", n=40, P=(6, 5), K=1, seed=0, alpha=0.02):
    X, y = _data(n, seed)
    G = sample_gates(X, P[0], random_state=seed)
    W1, w2 = sample_subnetwork_gates(X, P[1], width=2, first_layer=G, random_state=seed + 1)
    if loss == "squared":
        Y = np.column_stack([y * (k + 1) for k in range(K)])
    elif loss == "logistic":
        Y = np.sign(y)[:, None]
    else:
        Y = np.eye(3)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    return ThreeLayerReLUProblem(X, Y, gate_mask(X, G), subnetwork_mask(X, W1, w2), alpha,
                                 loss)


@pytest.mark.parametrize("K", [1, 2])
def test_operators_adjoint_and_working_sets(K):
    p = _problem(K=K)
    rng = np.random.RandomState(1)
    U = rng.randn(*p.shape)
    H = p.forward(U)
    # the definition, column by column
    ref = np.zeros_like(H)
    for q in range(p.Q):
        ref[:, p.col_block[q]] += p.col_sign[q] * (
            p.mask[:, p.col_pattern[q], None] * (p.X @ U[:, q]))
    assert_allclose(H, ref, atol=1e-12)
    G = rng.randn(*H.shape)
    assert_allclose(np.sum(G * H), np.sum(p.adjoint(G) * U), rtol=1e-12)
    # a working set (the segment-sum path) agrees with the full (lifted) path
    cols = np.sort(rng.choice(p.Q, 15, replace=False))
    sub = p.restrict(cols)
    Uz = np.zeros_like(U)
    Uz[:, cols] = U[:, cols]
    assert_allclose(sub.forward(U[:, cols]), p.forward(Uz)[:, sub.blocks], atol=1e-12)
    Gs = rng.randn(p.n, sub.n_blocks_active, K)
    assert_allclose(np.sum(Gs * sub.forward(U[:, cols])), np.sum(sub.adjoint(Gs) * U[:, cols]),
                    rtol=1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_augmented_lagrangian_matches_cvxpy(loss):
    ref_p = _problem(loss)
    ref = solve_cvxpy(ref_p, tol=1e-10)
    U_ref, _ = unpack(ref.w, ref_p.shape)
    assert ref_p.max_violation(U_ref) <= 1e-8
    assert 0 <= ref.duality_gap <= 1e-8 * ref.objective
    p = _problem(loss)
    res = solve_augmented_lagrangian(p, tol=1e-7, max_iter=20_000)
    assert res.converged
    U, _ = unpack(res.w, p.shape)
    assert abs(res.objective - ref.objective) <= 1e-6 * ref.objective
    assert p.max_violation(U) <= 1e-6
    assert 0 <= res.duality_gap <= 1e-7 * res.objective * 1.01
    # both certificates are valid lower bounds of the other solver's objective
    assert res.dual_bound <= ref.objective * (1 + 1e-9)
    assert ref.dual_bound <= res.objective * (1 + 1e-9)


def test_degenerate_cells_reduce_to_two_layer_program():
    """One first-layer neuron with a positive second-layer weight per cell and D2 = D1: the
    program is the two-layer ReLU program (v = the s3=+ blocks, w = the s3=- blocks)."""
    X, y = _data(30, 2)
    M = gate_mask(X, sample_gates(X, 6, random_state=0))
    p3 = ThreeLayerReLUProblem(X, y[:, None], M, M, 0.02)
    P = M.shape[1]
    # column (b, s2=+, i=j) of block b = (s3, j)
    cols = np.array([(2 * b) * P + (b % P) for b in range(2 * P)])
    r3 = solve_cvxpy(p3.restrict(cols), tol=1e-10)
    p2 = TwoLayerReLUProblem(X, y[:, None], M, 0.02, relu=True)
    r2 = solve_cvxpy(p2, tol=1e-10)
    assert_allclose(r3.objective, r2.objective, rtol=1e-7)
    # and the first-order solver on the restricted three-layer program
    r3f = solve_augmented_lagrangian(p3.restrict(cols), tol=1e-8, max_iter=20_000)
    assert_allclose(r3f.objective, r2.objective, rtol=1e-6)


@pytest.mark.parametrize("solver", ["cvxpy", "fista"])
def test_recovered_network_equals_convex_model(solver):
    rng = np.random.RandomState(0)
    X = rng.randn(60, 2)
    y = np.maximum(np.maximum(X @ [1.0, -1.0], 0) - 0.5, 0) + 0.05 * rng.randn(60)
    X = X * [1000.0, 0.001] + [5000.0, -3.0]  # badly scaled features
    est = ConvexThreeLayerRegressor(alpha=1e-2, n_patterns=(4, 3), activation="relu",
                                    solver=solver, tol=1e-6, max_iter=30_000,
                                    random_state=0).fit(X, y)
    assert est.n_subnetworks_ >= 1
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
    assert_allclose(est.subnetwork_norms(), 1.0, rtol=1e-9)
    assert est.max_violation_ <= 1e-6
    assert 0 <= est.duality_gap_ <= 1e-6 * est.objective_ * 1.01
    # predict (the forward pass) equals the convex model's prediction on the training data
    p = est._make_problem(X, y)
    U, c = unpack(est._convex_weights, p.shape)
    # (the program's intercept is relative to the targets' mean)
    assert_allclose(est.predict(X), p.scores(p.forward(U), c + p.y_offset)[:, 0], atol=1e-6)
    # every first-layer unit follows its pattern: the forward pass of each sub-network
    for W1, w2, w3 in est.subnetworks_:
        assert W1.shape == (3, w2.size) and w3.shape == (1,)


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_intercept_scaling_penalizes_the_first_layer_biases_less(activation):
    """``intercept_scaling = c``: the constant column holds ``c``, so every recovered
    sub-network, mapped back to the standardized inputs with its biases counted as ``b / c``,
    has ``||W1||_F = 1`` (checked here from the raw weights); the objective is the network's;
    the gates are sampled alike for every ``c`` (on the unit column), so a larger ``c`` has no
    larger optimum; the certificate samples its fresh gates the same way."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 2)
    y = np.maximum(np.maximum(X @ [1.0, -1.0] + 1.0, 0) - 0.5, 0) + 0.05 * rng.randn(60)
    X = X * [3.0, 0.5] + [1.0, -2.0]
    relu = activation == "relu"
    fits = {}
    for c in (1.0, 4.0):
        est = ConvexThreeLayerRegressor(alpha=2e-3, n_patterns=(4, 3) if relu else (6, 5),
                                        activation=activation, tol=1e-8, max_iter=30_000,
                                        intercept_scaling=c, random_state=0).fit(X, y)
        fits[c] = est
        assert est.duality_gap_ <= 1e-6 * est.objective_ * 1.01
        assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-6)
        for W1, _, _ in est.subnetworks_:
            w_std = W1[:-1] * est._scale[:, None]
            b_std = W1[-1] + est._mean @ W1[:-1]
            assert_allclose(np.linalg.norm(np.vstack([w_std, b_std / c])), 1.0, rtol=1e-9)
        p = est._make_problem(X, y)
        U, c0 = unpack(est._convex_weights, p.shape)
        assert_allclose(est.predict(X), p.scores(p.forward(U), c0 + p.y_offset)[:, 0],
                        atol=1e-6)
    for old, new in zip((fits[1.0]._gates_std, fits[1.0]._subnet_gates_std[0]),
                        (fits[4.0]._gates_std, fits[4.0]._subnet_gates_std[0])):
        assert_allclose(new[..., :-1, :], old[..., :-1, :])
        assert_allclose(4.0 * new[..., -1, :], old[..., -1, :])
    assert fits[4.0].objective_ <= fits[1.0].objective_ * (1 + 1e-6)
    assert fits[4.0].objective_ < 0.999 * fits[1.0].objective_  # the biases matter here
    cert = certify_global_optimality(fits[4.0], X, y, random_state=0)
    assert cert.relative_gap >= 0 and cert.n_new_patterns > 0
    with pytest.raises(ValueError, match="intercept_scaling"):
        ConvexThreeLayerRegressor(intercept_scaling=0.0).fit(X, y)


def _all_patterns_data():
    """1-D data with 6 points: every first-layer pattern is sampled and every nonempty subset
    is a second-layer pattern, so the program is the exact problem (N) over all networks."""
    x = np.linspace(-1, 1, 6) + 0.05 * np.sin(np.arange(6))
    y = np.array([0.2, -0.5, 0.9, 0.1, -0.3, 0.6])
    X = np.column_stack([(x - x.mean()) / x.std(), np.ones(6)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fewer patterns exist than asked
        M1 = gate_mask(X, sample_gates(X, 100, random_state=0))
    M2 = np.array(list(itertools.product([0, 1], repeat=6)), dtype=bool)[1:].T
    return X, y, M1, M2


def test_gradient_descent_never_beats_convex_optimum():
    X, y, M1, M2 = _all_patterns_data()
    alpha = 0.02
    p = ThreeLayerReLUProblem(X, y[:, None], M1, M2, alpha)
    assert M1.shape[1] == 11  # all threshold patterns of 6 points in 1-D
    res = solve_cvxpy(p, tol=1e-10)
    lower = res.objective - res.duality_gap
    assert 0 <= res.duality_gap <= 1e-8 * res.objective
    n = len(y)
    best = np.inf
    # (N) by projected gradient descent: weight decay on layers 2-3, ||W1_k||_F <= 1
    for seed in range(12):
        rng = np.random.RandomState(seed)
        K, m1 = 5, 4
        W1 = rng.randn(K, 2, m1) * 0.5
        w2 = rng.randn(K, m1) * 0.5
        w3 = rng.randn(K) * 0.5
        c = 0.0
        lr = 0.05
        for _ in range(3000):
            pre1 = np.einsum("nd,kdm->knm", X, W1)
            H1 = np.maximum(pre1, 0)
            pre2 = np.einsum("knm,km->kn", H1, w2)
            H2 = np.maximum(pre2, 0)
            r = (H2 * w3[:, None]).sum(0) + c - y
            g3 = (H2 * r[None]).sum(1) / n + alpha * w3
            gh2 = (r[None] * w3[:, None]) * (pre2 > 0) / n
            g2 = np.einsum("kn,knm->km", gh2, H1) + alpha * w2
            g1 = np.einsum("nd,knm->kdm", X, gh2[:, :, None] * w2[:, None, :] * (pre1 > 0))
            W1 -= lr * g1
            w2 -= lr * g2
            w3 -= lr * g3
            c -= lr * r.mean()
            W1 /= np.maximum(np.sqrt((W1 ** 2).sum((1, 2))), 1.0)[:, None, None]
        H2 = np.maximum(np.einsum("knm,km->kn", np.maximum(
            np.einsum("nd,kdm->knm", X, W1), 0), w2), 0)
        r = (H2 * w3[:, None]).sum(0) + c - y
        obj = 0.5 * np.mean(r ** 2) + 0.5 * alpha * (np.sum(w2 ** 2) + np.sum(w3 ** 2))
        best = min(best, obj)
    assert best >= lower - 1e-9
    # gradient descent does train (it is not a vacuous comparison)
    assert best <= 2 * res.objective


def test_certificate_and_gap():
    X, y = _data(50, 3)
    est = ConvexThreeLayerRegressor(alpha=1e-2, n_patterns=(2, 2), activation="relu",
                                    random_state=0).fit(X, y)
    assert est.duality_gap_ >= 0
    cert = certify_global_optimality(est, X, y, n_new_patterns=30, random_state=1)
    assert cert.duality_gap >= 0 and cert.relative_gap <= 1e-6
    # two patterns per layer miss much: fresh pairs violate the dual constraints
    assert cert.n_violated > 0 and not cert.is_certified
    assert cert.lower_bound_enlarged <= est.objective_ - est.duality_gap_ + 1e-12


def _projected_pair_norms(p, M1, Gam):
    """Every column ``+-X^T D1_i Gam_b`` projected onto its cone, the largest norm over the
    outputs: ``(+, i, b)`` then ``(-, i, b)`` (the reference of ``probe_norms``)."""
    d, K = p.d, p.K
    P1, B = M1.shape[1], Gam.shape[1]
    A = np.einsum("nd,ni,nbk->dibk", p.X, M1.astype(float), Gam).reshape(d, P1 * B, K)
    V = np.concatenate([A, -A], axis=1)
    probe = object.__new__(type(p))
    probe.__dict__.update(p.__dict__)
    probe.mask = np.ascontiguousarray(M1)
    probe.col_pattern = np.tile(np.repeat(np.arange(P1), B), 2)
    probe.col_id = np.arange(V.shape[1])
    probe._new_warm_starts(V.shape[1])
    return probe.group_norms(probe.project(V)).max(axis=1)


def _fit_and_fresh_patterns(n, K, seed, budgets, fresh):
    """A ReLU program over ``budgets`` (first-, second-layer) sampled patterns, solved, with its
    dual point and ``fresh`` new patterns of each layer: ``(X, Y, p, Lam, Gam, M1n, M2n)``."""
    X, y = _data(n, 3)
    Y = np.column_stack([y * (k + 1) for k in range(K)])
    rng = np.random.RandomState(seed)
    G = sample_gates(X, budgets[0], random_state=rng)
    W1, w2 = sample_subnetwork_gates(X, budgets[1], width=2, first_layer=G, random_state=rng)
    p = ThreeLayerReLUProblem(X, Y, gate_mask(X, G), subnetwork_mask(X, W1, w2), 0.02,
                              "squared")
    res = solve_augmented_lagrangian(p, tol=1e-8, max_iter=20_000)
    U, c = unpack(res.w, p.shape)
    Lam, Gam = p.dual_point(p.forward(U), p.certificate(U, c)[2])
    M1n = gate_mask(X, sample_gates(X, fresh[0], random_state=rng))
    M2n = subnetwork_mask(X, *sample_subnetwork_gates(X, fresh[1], width=2,
                                                       random_state=rng))
    return X, Y, p, Lam, Gam, M1n, M2n


@pytest.mark.parametrize("K", [1, 2])
def test_probe_norms_project_what_the_certificate_needs(K):
    """The fresh pairs' dual values against every column projected: the values above the floor
    and the maximum are exact, the others upper bounds. Of the four columns of a new
    second-layer pattern, two are distinct (projected once)."""
    X, Y, p, Lam, Gam, M1n, M2n = _fit_and_fresh_patterns(60, K, 0, (4, 3), (10, 8))
    G2 = M2n[:, :, None] * Lam[:, None, :]
    exact = np.concatenate([_projected_pair_norms(p, M1n, Gam),
                            _projected_pair_norms(p, np.hstack([p.mask, M1n]),
                                                  np.concatenate([G2, -G2], axis=1))])
    for floor in (0.5 * p.alpha, 1.0001 * p.alpha, 10 * exact.max()):
        fast = p.probe_norms(Gam, Lam, M1n, M2n, floor=floor)
        assert fast.shape == exact.shape
        assert fast.max() == pytest.approx(exact.max(), rel=1e-9)
        assert np.array_equal(fast > floor, exact > floor)
        assert_allclose(fast[exact > floor], exact[exact > floor], rtol=1e-9)
        below = exact <= floor
        assert np.all(fast[below] >= exact[below] - 1e-12)
    assert np.sum(exact > 1.0001 * p.alpha) > 0  # the count decides something here


@pytest.mark.parametrize("K", [1, 2])
def test_probe_blocks_and_columns_in_the_enlarged_program(K):
    """``probe_norms(return_blocks=True)`` and ``_probe_column`` place every fresh value on its
    column of the enlarged program (fitted and fresh patterns): the enlarged program's own
    dual norms there, with the fit's multipliers in its blocks and zero in the new ones, are
    the same values."""
    from skconvex.neural_network._three_layer import _probe_column

    X, Y, p, Lam, Gam, M1n, M2n = _fit_and_fresh_patterns(40, K, 1, (3, 2), (4, 3))
    values, blocks = p.probe_norms(Gam, Lam, M1n, M2n, floor=0.0, return_blocks=True)
    P1o, P2o, P1a, P2n = p.n_first, p.n_second, p.n_first + M1n.shape[1], M2n.shape[1]
    P2a = P2o + P2n
    big = ThreeLayerReLUProblem(X, Y, np.hstack([p.mask, M1n]), np.hstack([p.mask2, M2n]),
                                0.02, "squared")
    mu = np.zeros((big.n, big.n_blocks, K))
    mu[:, np.r_[np.arange(P2o), P2a + np.arange(P2o)]] = p.al_state["mu"]
    Gam_big = (big.out_mask[:, :, None] * Lam[:, None, :]
               + (big.cone_sign * big.s[:, None])[:, :, None] * mu)
    ref = big.dual_norms(Gam_big).max(axis=1)
    cols = [(2 * b + (0 if s2 > 0 else 1)) * P1a + i for b, (s2, i) in
            zip(blocks, (_probe_column(q, P1o, P2o, P1a, P2n) for q in range(values.size)))]
    assert len(set(cols)) == values.size  # every fresh column once
    assert_allclose(values, ref[cols], rtol=1e-6, atol=1e-12)  # two projection paths


def test_relu_certificate_refines_the_multipliers_of_fresh_blocks():
    """Fresh blocks were probed with zero multipliers, an upper bound: on a fit over every
    first-layer pattern the certificate reported 118 violated pairs and a ratio of 3.2 while
    the enlarged program's optimum was the fit's. Their best multipliers certify it now; where
    fresh pairs do lower the optimum, the certificate still says so, and its enlarged bound
    stays below the enlarged optimum."""
    from sklearn.utils import check_random_state

    from skconvex.neural_network._three_layer import _new_gates, _solve_cvxpy

    def enlarged_optimum(est, X, y, n_new, seed):
        Xt = np.hstack([(X - est._mean) / est._scale, np.full((len(X), 1), est._bias_scale)])
        G_new, W1n, w2n = _new_gates(Xt, n_new, est.width, est._gates_std, est._bias_scale,
                                     check_random_state(seed))
        W1o, w2o = est._subnet_gates_std
        p = ThreeLayerReLUProblem(Xt, y[:, None], gate_mask(Xt, np.hstack([est._gates_std,
                                                                           G_new])),
                                  subnetwork_mask(Xt, np.concatenate([W1o, W1n]),
                                                  np.concatenate([w2o, w2n])),
                                  est.alpha * est.y_scale_, "squared")
        return _solve_cvxpy(p, tol=1e-9, max_iter=20_000).objective

    rng = np.random.RandomState(0)
    X = np.sort(rng.randn(10, 1), axis=0)
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.randn(10)
    est = ConvexThreeLayerRegressor(alpha=1e-2, n_patterns=(20, 20), activation="relu",
                                    random_state=0).fit(X, y)
    cert = certify_global_optimality(est, X, y, n_new_patterns=10, random_state=1)
    assert cert.n_violated == 0 and cert.is_certified
    assert enlarged_optimum(est, X, y, 10, 1) == pytest.approx(est.objective_, rel=1e-8)
    X = rng.randn(40, 2)
    y = np.sin(2 * X[:, 0]) * X[:, 1] + 0.1 * rng.randn(40)
    est = ConvexThreeLayerRegressor(alpha=1e-2, n_patterns=(6, 4), activation="relu",
                                    random_state=0).fit(X, y)
    cert = certify_global_optimality(est, X, y, n_new_patterns=6, random_state=0)
    best = enlarged_optimum(est, X, y, 6, 0)
    assert cert.n_violated > 0 and best < est.objective_ * (1 - 1e-3)
    assert cert.lower_bound_enlarged <= best * (1 + 1e-9)
    assert cert.max_constraint_ratio < 2.5  # 5.4 at the fit's multipliers


def test_classifier_binary_and_multiclass():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    # few pattern pairs underfit three classes; the point here is the vector-output program
    clf = ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=(5, 3), solver="cvxpy",
                                     activation="relu", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.6
    assert clf.predict_proba(X).shape == (150, 3)
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert_allclose(clf.regularized_loss(X, y), clf.objective_, rtol=1e-6)
    assert {int(np.flatnonzero(w3)[0]) for _, _, w3 in clf.subnetworks_} <= {0, 1, 2}
    yb = np.where(y == 0, "setosa", "other")
    clf = ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=(5, 3), activation="relu",
                                     random_state=0).fit(X, yb)
    assert set(clf.classes_) == {"other", "setosa"}
    assert clf.decision_function(X).shape == (150,)
    assert clf.score(X, yb) > 0.9
    assert_allclose(clf.regularized_loss(X, yb), clf.objective_, rtol=1e-6)


def test_relu_classifier_default_fit_converges():
    """The augmented Lagrangian's default penalty (the loss's scale): the ReLU classifier on
    standardized wine (178 rows, 3 classes, 1,600 columns) certifies within the default
    max_iter (1,040 iterations; a start at rho = 100 took about 12,000)."""
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = ConvexThreeLayerClassifier(activation="relu", random_state=0).fit(X, y)
    assert clf.n_iter_ <= 2500
    assert 0 <= clf.duality_gap_ <= 1e-6 * clf.objective_
    assert clf.max_violation_ <= 1e-8
    assert_allclose(clf.regularized_loss(X, y), clf.objective_, rtol=1e-9)
    assert clf.score(X, y) > 0.95


def test_bad_input():
    X, y = _data(30)
    with pytest.raises(ValueError, match="n_patterns"):
        ConvexThreeLayerRegressor(n_patterns=0).fit(X, y)
    with pytest.raises(ValueError, match="n_patterns"):
        ConvexThreeLayerRegressor(n_patterns=(3, 0)).fit(X, y)
    with pytest.raises(ValueError, match="n_patterns"):
        ConvexThreeLayerRegressor(n_patterns=(3, 2, 1)).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        ConvexThreeLayerRegressor(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="width"):
        ConvexThreeLayerRegressor(width=0).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        ConvexThreeLayerRegressor(solver="sgd").fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        ConvexThreeLayerClassifier().fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="NaN"):
        ConvexThreeLayerRegressor().fit(np.full((5, 2), np.nan), np.ones(5))
    with pytest.raises(ValueError, match="logistic"):
        ConvexThreeLayerClassifier(loss="logistic").fit(X, np.arange(30) % 3)
    # no pattern pair active on a common sample: an error that says so, for every solver
    # (was an AxisError inside cvxpy, or a silent intercept-only model with fista)
    Xs = np.random.RandomState(0).randn(40, 3)
    ys = Xs[:, 0] - Xs[:, 1] ** 2
    for solver in ("auto", "fista", "cvxpy"):
        with pytest.raises(ValueError, match="no pair of the 1 first-layer and 1 second-layer"):
            ConvexThreeLayerRegressor(n_patterns=1, solver=solver, random_state=0).fit(Xs, ys)


def test_solver_reports_the_solver_that_fit(monkeypatch):
    """When the interior point fails and the first-order method fits, ``solver_`` names the
    first-order method (it said "cvxpy")."""
    import skconvex.neural_network._three_layer as tl

    def fail(*args, **kwargs):
        raise RuntimeError("no solution")

    monkeypatch.setattr(tl, "solve_cvxpy", fail)
    X, y = _data(30)
    with pytest.warns(RuntimeWarning, match="interior-point solver failed"):
        est = ConvexThreeLayerRegressor(n_patterns=(3, 2), activation="relu", solver="cvxpy",
                                        random_state=0).fit(X, y)
    assert est.solver_ == "fista"


def test_relu_fit_stopped_at_max_iter_warns_that_it_is_not_feasible(monkeypatch):
    """An augmented-Lagrangian fit cut at max_iter ends at an infeasible point: the warning
    gives its certified gap and its constraint violation (as ``max_violation_`` records). (The
    conic polish, which would finish this small program, is switched off.)"""
    import skconvex.neural_network._three_layer as three_layer

    monkeypatch.setattr(three_layer, "_CONIC_POLISH_SIZE", 0)
    X, y = _data(120, 3)
    est = ConvexThreeLayerRegressor(activation="relu", solver="fista", max_iter=30,
                                    random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"at a relative duality gap of .* with its "
                                                r"constraints violated by"):
        est.fit(X, y)
    assert est.max_violation_ > 1e-6
