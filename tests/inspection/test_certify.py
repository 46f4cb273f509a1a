"""Certificates for trained two-layer ReLU networks: scikit-learn's regularization
correspondence, agreement with the exact convex optimum, stalled networks refuted with a
witness neuron, weak duality, skconvex's own networks, bad input."""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skconvex import ConvexReLURegressor
from skconvex.inspection import certify


def _data_1d(n=20, seed=0):
    rng = np.random.RandomState(seed)
    x = np.sort(rng.uniform(-2, 2, n))
    return x[:, None], np.abs(x) - 0.5 + 0.1 * rng.randn(n)


def _mlp(cls=MLPRegressor, **kw):
    kw = {"hidden_layer_sizes": (10,), "solver": "lbfgs", "max_iter": 50000, "max_fun": 200000,
          "tol": 1e-14, **kw}
    return cls(**kw)


def _fit(est, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y, **kw)


def _exact_1d_optimum(x, y, beta):
    """The global minimum of 1/2 mean (f - y)^2 + beta sum |a_j| ||w_j|| over two-layer ReLU
    networks with free biases on 1-D inputs: a lasso over the hinges at every sample."""
    n = x.size
    A = np.hstack([np.maximum(x[:, None] - x[None, :], 0), np.maximum(x[None, :] - x[:, None], 0)])
    z, c = cp.Variable(2 * n), cp.Variable()
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ z + c - y) / n + beta * cp.norm1(z)))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return prob.value


@pytest.mark.parametrize("kind", ["regressor", "multioutput", "binary", "multiclass"])
def test_objective_is_sklearns_loss(kind):
    # the regularization correspondence: J = mean loss + alpha / (2 n) ||W||^2, what
    # scikit-learn minimizes and reports in loss_
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    if kind == "regressor":
        est, y = _mlp(alpha=0.3, random_state=0), X @ [1.0, -1.0, 0.5]
    elif kind == "multioutput":
        est, y = _mlp(alpha=0.3, random_state=0), np.column_stack([X[:, 0], X[:, 1] ** 2])
    elif kind == "binary":
        est, y = _mlp(MLPClassifier, alpha=0.3, random_state=0), X[:, 0] > 0
    else:
        est, y = _mlp(MLPClassifier, alpha=0.3, random_state=0), np.digitize(X[:, 0], [-.5, .5])
    _fit(est, X, y)
    cert = certify(est, X, y, n_patterns=200, random_state=0)
    assert_allclose(cert.objective, est.loss_, rtol=1e-10)
    assert cert.dual_bound <= cert.objective + 1e-12
    K = np.asarray(y).reshape(len(X), -1).shape[1] if kind != "multiclass" else 1
    assert_allclose(cert.regularization, K * 0.3 / 40 if kind in ("regressor", "multioutput")
                    else 0.3 / 40)


def test_mlp_certificate_agrees_with_the_convex_optimum():
    X, y = _data_1d()
    alpha, n = 2.0, len(y)
    opt = _exact_1d_optimum(X[:, 0], y, alpha / n)
    n_cert = 0
    for seed in range(5):
        mlp = _fit(_mlp(alpha=alpha, random_state=seed), X, y)
        # one-dimensional inputs, every sample an anchor: every activation region is checked,
        # so the bound holds for every network
        cert = certify(mlp, X, y, n_anchors=n, random_state=0)
        assert cert.dual_bound <= opt + 1e-9
        assert cert.objective >= opt - 1e-9
        if cert.is_certified:
            n_cert += 1
            assert cert.objective - opt <= cert.gap + 1e-12
            assert cert.relative_gap <= 1e-3
        else:
            assert cert.max_constraint_ratio > 1.0
    assert n_cert >= 1
    # seed 2 stops at a poor local point: refuted, with witness neurons that violate the dual
    # constraint (adding one lowers the objective)
    mlp = _fit(_mlp(alpha=alpha, random_state=2), X, y)
    cert = certify(mlp, X, y, n_anchors=n, random_state=0)
    assert cert.objective > opt * 1.2 and not cert.is_certified
    assert cert.violating_patterns.shape[1] > 0
    Lam = cert.details["Lam"][:, 0]
    vals = np.abs(Lam @ np.maximum(X @ cert.witness_coefs + cert.witness_intercepts, 0.0))
    assert_allclose(vals / cert.regularization, cert.pattern_ratios, rtol=1e-8)
    assert np.all(vals > cert.regularization)


def test_mlp_certificate_with_targets_far_from_zero():
    """The certificate works on centred targets and intercept: the same network shifted by 1e9
    (its output intercept and the targets) gets the same objective, bound and gap (the dual
    value of the uncentred targets cancelled catastrophically)."""
    import copy

    X, y = _data_1d()
    mlp = _fit(_mlp(alpha=2.0, random_state=0), X, y)
    shifted = copy.deepcopy(mlp)
    shifted.intercepts_[1] = shifted.intercepts_[1] + 1e9
    ref = certify(mlp, X, y, n_anchors=len(y), random_state=0)
    cert = certify(shifted, X, y + 1e9, n_anchors=len(y), random_state=0)
    assert_allclose(cert.objective, ref.objective, rtol=1e-6)
    assert_allclose(cert.dual_bound, ref.dual_bound, rtol=1e-6)
    assert cert.is_certified == ref.is_certified


def test_dead_network_stalls_and_is_refuted():
    # every hidden unit inactive on every sample: the gradient of the hidden layer is zero,
    # gradient-based training cannot move it, and the network is the constant mean
    X, y = _data_1d()
    mlp = _fit(_mlp(alpha=0.5, random_state=0, max_iter=1), X, y)
    mlp.coefs_[0][:] = np.abs(mlp.coefs_[0])
    mlp.intercepts_[0][:] = -10.0
    mlp.set_params(warm_start=True, max_iter=200)
    _fit(mlp, X, y)
    assert np.all(X @ mlp.coefs_[0] + mlp.intercepts_[0] < 0)  # still dead
    cert = certify(mlp, X, y, n_anchors=len(y), random_state=0)
    assert not cert.is_certified and cert.relative_gap > 0.1
    assert cert.max_constraint_ratio > 1.5
    # moving along the best witness lowers the training objective
    k = int(np.argmax(cert.pattern_ratios))
    w, b = cert.witness_coefs[:, k], cert.witness_intercepts[k]
    h = np.maximum(X @ w + b, 0.0)
    sign = np.sign(cert.details["Lam"][:, 0] @ h)
    t = 0.05
    f = mlp.predict(X) + sign * t * t * h
    base = 0.5 * np.mean((mlp.predict(X) - y) ** 2) + 0.5 * 0.5 / len(y) * sum(
        np.sum(W ** 2) for W in mlp.coefs_)
    new = 0.5 * np.mean((f - y) ** 2) + 0.5 * 0.5 / len(y) * (
        sum(np.sum(W ** 2) for W in mlp.coefs_) + 2 * t * t)
    assert_allclose(base, cert.objective, rtol=1e-10)
    assert new < base


def test_weak_duality_for_vector_outputs():
    rng = np.random.RandomState(0)
    x = np.sort(rng.uniform(-2, 2, 24))
    X, y = x[:, None], np.digitize(x, [-0.7, 0.7])
    objs, bounds = [], []
    for seed in range(3):
        mlp = _fit(_mlp(MLPClassifier, alpha=1.0, random_state=seed, hidden_layer_sizes=(8,)),
                   X, y)
        cert = certify(mlp, X, y, n_anchors=len(x), random_state=0)
        objs.append(cert.objective)
        bounds.append(cert.dual_bound)
    # every region is checked in 1-D (vector outputs use a valid upper bound per region): each
    # bound is below every network's objective
    assert max(bounds) <= min(objs) + 1e-12


@pytest.mark.parametrize("activation", ["relu", "gated_relu"])
def test_convex_relu_networks(activation):
    X, y = _data_1d(n=30, seed=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_patterns=", category=UserWarning)
        est = ConvexReLURegressor(alpha=1e-2, n_patterns=200, activation=activation,
                                  random_state=0).fit(X, y)
        cert = certify(est, X, y, n_patterns=500, random_state=1)
    assert_allclose(cert.objective, est.objective_, rtol=1e-9)
    assert cert.is_certified
    assert cert.gap <= max(est.duality_gap_, 0) + 1e-6 * est.objective_
    assert cert.neuron_ratios.shape == (est.n_hidden_,)
    assert np.all(cert.neuron_ratios <= 1 + 1e-4)
    # too few patterns: fresh ones violate, and their witnesses are real neurons
    few = ConvexReLURegressor(alpha=1e-3, n_patterns=3, activation="relu",
                              random_state=0).fit(X, y)
    cert = certify(few, X, y, n_patterns=500, random_state=1)
    assert not cert.is_certified and cert.violating_patterns.shape[1] > 0
    assert cert.witness_coefs.shape == (1, cert.violating_patterns.shape[1])


def test_bad_input():
    X, y = _data_1d()
    with pytest.raises(ValueError, match="one hidden layer"):
        certify(_fit(_mlp(hidden_layer_sizes=(4, 4), max_iter=20), X, y), X, y)
    with pytest.raises(ValueError, match="relu"):
        certify(_fit(_mlp(activation="tanh", max_iter=20), X, y), X, y)
    with pytest.raises(ValueError, match="squared_error"):
        certify(_fit(_mlp(loss="poisson", max_iter=20), X, np.abs(y)), X, np.abs(y))
    with pytest.raises(TypeError, match="MLPRegressor"):
        certify(object(), X, y)
    mlp = _fit(_mlp(max_iter=20), X, y)
    with pytest.raises(ValueError, match="features"):
        certify(mlp, np.hstack([X, X]), y)
    with pytest.raises(ValueError, match="NaN"):
        certify(mlp, X, np.full_like(y, np.nan))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        certify(MLPRegressor(), X, y)
