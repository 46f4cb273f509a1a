"""The losses' one-dimensional dual scale and optimal intercepts (the certificates' pieces)."""

import numpy as np
import pytest
from scipy.special import expit, softmax

from skconvex.problems._losses import (CrossEntropyLoss, LogisticLoss, SquaredLoss,
                                      _concave_argmax)


def _problem(kind, rng, n=150, K=5, scale=1.0):
    s = rng.random(n)
    s[rng.random(n) < 0.1] = 0.0  # rows of weight zero
    s /= s.sum()
    if kind == "cross_entropy":
        Y = np.eye(K)[np.arange(n) % K]
        return CrossEntropyLoss(Y, s), scale * rng.standard_normal((n, K))
    if kind == "squared":
        Y = rng.standard_normal((n, K))
        return SquaredLoss(Y, s), scale * rng.standard_normal((n, K))
    Y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    return LogisticLoss(Y, s), scale * rng.standard_normal((n, 1))


@pytest.mark.parametrize("kind", ["squared", "cross_entropy", "logistic"])
def test_dual_slopes_are_the_derivatives_of_the_dual_value(kind):
    rng = np.random.default_rng(2)
    loss, Z = _problem(kind, rng)
    Lam = -loss.grad(Z)
    slopes = loss.dual_slopes(Lam)
    h = 1e-5
    for t in [0.05, 0.3, 0.7, 0.95]:
        d1, d2 = slopes(t)
        f = [loss.dual_value((t + k * h) * Lam) for k in (-1, 0, 1)]
        np.testing.assert_allclose(d1, (f[2] - f[0]) / (2 * h), rtol=1e-6)
        np.testing.assert_allclose(d2, (f[2] - 2 * f[1] + f[0]) / h ** 2, rtol=1e-3)


@pytest.mark.parametrize("kind", ["cross_entropy", "logistic"])
@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0, 1000.0])
@pytest.mark.parametrize("shrink", [1.0, 0.3])
@pytest.mark.parametrize("t_max", [1.0, 0.37, 1e-3])
def test_dual_scale_maximizes_the_dual_value(kind, scale, shrink, t_max):
    # the dual point -t grad f(Z): concave in t, with its maximum inside, at t_max, or (large
    # scores) next to the boundary of the conjugate's domain where the curvature blows up
    rng = np.random.default_rng(7)
    loss, Z = _problem(kind, rng, scale=scale)
    Lam = -shrink * loss.grad(Z)
    t = loss.dual_scale(Lam, t_max)
    assert 0.0 <= t <= t_max
    grid = np.linspace(0.0, t_max, 2001)
    values = np.array([loss.dual_value(g * Lam) for g in grid])
    k = int(np.argmax(values))
    fine = np.linspace(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)], 2001)
    best = max(loss.dual_value(g * Lam) for g in fine)
    assert loss.dual_value(t * Lam) >= best - 1e-12 * max(abs(best), 1e-300)


def _intercept_gradient(loss, Z0, c):
    if isinstance(loss, CrossEntropyLoss):
        return loss.s @ (softmax(Z0 + c, axis=1) - loss.Y)
    return -loss.s @ (loss.Y * expit(-loss.Y * (Z0 + c)))


@pytest.mark.parametrize("kind", ["cross_entropy", "logistic"])
@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_intercept_zeroes_the_gradient(kind, scale):
    rng = np.random.default_rng(3)
    loss, Z0 = _problem(kind, rng, n=400, K=8, scale=scale)
    c = loss.intercept(Z0)
    assert c.shape == (Z0.shape[1],)
    if kind == "cross_entropy":
        assert abs(c.sum()) <= 1e-12 * max(1.0, np.abs(c).max())
    assert np.abs(_intercept_gradient(loss, Z0, c)).max() <= 1e-14
    # no other intercept does better
    for _ in range(20):
        other = c + 1e-3 * rng.standard_normal(c.shape)
        assert loss.value(Z0 + other) >= loss.value(Z0 + c) - 1e-15


@pytest.mark.parametrize("kind", ["cross_entropy", "logistic"])
def test_intercept_from_its_optimum_costs_few_evaluations(kind):
    # started at the optimum, the Newton steps are below the loss's rounding: they are taken
    # whole (no line search halving a step the loss cannot judge), and the gradient stays at
    # rounding level
    rng = np.random.default_rng(5)
    loss, Z0 = _problem(kind, rng, n=1000, K=10)
    c_opt = loss.intercept(Z0)
    value = loss.value
    for size in [0.0, 1e-12, 1e-10, 1e-9]:
        for _ in range(5):
            calls = []
            loss.value = lambda Z: (calls.append(1), value(Z))[1]
            c = loss.intercept(Z0, c_opt + size * rng.standard_normal(c_opt.shape))
            loss.value = value
            assert len(calls) <= 4
            assert np.abs(_intercept_gradient(loss, Z0, c)).max() <= 1e-14
            np.testing.assert_allclose(c, c_opt, atol=1e-12)


@pytest.mark.parametrize("a, b, t_max, expected", [
    (1.0, 3.0, 1e300, 3.0),          # interior maximum, no finite bound on t
    (1e-4, 50.0, 1e300, 5e5),        # far from t = 1
    (1.0, 3.0, 2.0, 2.0),            # at the bound
    (1.0, -1.0, 1e300, 0.0),         # at zero
    (0.0, -1.0, 5.0, 0.0),           # linear, decreasing
    (0.0, 1.0, 5.0, 5.0),            # linear, increasing
])
def test_concave_argmax_of_quadratics(a, b, t_max, expected):
    # -(a/2) t^2 + b t on [0, t_max]
    calls = []

    def slopes(t):
        calls.append(t)
        return b - a * t, -a

    t = _concave_argmax(slopes, t_max)
    assert t == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert len(calls) <= 10
