"""The convex network regressors' ``alpha`` is relative to the scale of the targets
(``y_scale_``): a fit is equivariant to the units of ``y``, and a default fit on targets far from
unit scale converges within the default budget."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import _regression_dataset

from skconvex import (ConvexReLURegressor, ConvexThreeLayerRegressor, DeepLinearRegressor,
                      ParallelDeepLinearRegressor,
                      PathRegularizedReLURegressor, QuantizedPolyNet)
from skconvex.neural_network._regressor import _target_scale


def _data(n=60, d=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = np.maximum(X @ rng.randn(d, 4), 0) @ rng.randn(4) + 0.1 * rng.randn(n)
    return X, y


REGRESSORS = [
    ConvexReLURegressor(n_patterns=20, random_state=0),
    ConvexReLURegressor(alpha=0.05, n_patterns=20, activation="relu", solver="fista",
                        random_state=0),
    ConvexThreeLayerRegressor(n_patterns=(4, 3), random_state=0),
    PathRegularizedReLURegressor(n_cells=10, random_state=0),
    QuantizedPolyNet(n_neurons=10, random_state=0),
]


# targets far from unit scale. The interior point solves every program in the units of the
# targets' spread (``target_unit``): in the units of y its absolute tolerances stopped the path
# regressor's solve early at 1e-13 and failed the two- and three-layer ones at 1e13 (which fell
# back on proximal gradient)
EXTREME_UNITS = [(est, a) for est in REGRESSORS for a in (2.0 ** -43, 2.0 ** 43)]


@pytest.mark.parametrize("est, a, b", [(est, 8.0, -3.0) for est in REGRESSORS]
                         + [(est, a, 0.0) for est, a in EXTREME_UNITS],
                         ids=lambda v: type(v).__name__ if hasattr(v, "fit") else f"{v:g}")
def test_fit_is_equivariant_to_the_units_of_y(est, a, b):
    """Targets in other units (scaled and shifted) give the same network in those units:
    the same predictions up to the change of units, the objective scaled by the square.
    Powers of two: the scaled program is the same up to rounding. Targets of scale 1e-13
    once got ``y_scale_ = 1`` (an absolute floor) and networks pruned to nothing (an
    absolute pruning threshold)."""
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        base = est.__class__(**est.get_params()).fit(X, y)
        moved = est.__class__(**est.get_params()).fit(X, a * y + b)
    assert moved.y_scale_ == pytest.approx(a * base.y_scale_, rel=1e-12)
    assert base.y_scale_ == pytest.approx(np.std(y), rel=1e-12)
    assert_allclose(moved.predict(X), a * base.predict(X) + b, rtol=1e-6,
                    atol=1e-6 * a * base.y_scale_)
    assert moved.objective_ == pytest.approx(a**2 * base.objective_, rel=1e-6)
    assert moved.solver_ == base.solver_  # the same solver (no fallback) in any units


def test_target_scale_weighted_pooled_and_constant():
    rng = np.random.RandomState(0)
    Y = rng.randn(50, 2) * [1.0, 3.0]
    # pooled over the outputs: the root of the mean of their variances
    assert _target_scale(Y, None) == pytest.approx(np.sqrt(np.mean(Y.var(axis=0))))
    # integer weights are repeated rows
    w = rng.randint(0, 3, size=50).astype(float)
    assert _target_scale(Y, w) == pytest.approx(_target_scale(np.repeat(Y, w.astype(int),
                                                                        axis=0), None))
    assert _target_scale(np.full((10, 1), 5.0), None) == 1.0  # constant targets
    # a constant output does not count; a tiny or huge one has its own scale
    Yc = np.column_stack([Y[:, 0], np.full(50, 7.0)])
    assert _target_scale(Yc, None) == pytest.approx(np.std(Y[:, 0]) / np.sqrt(2))
    assert _target_scale(Y[:, :1] * 1e-13 + 1.0, None) == pytest.approx(1e-13 * np.std(Y[:, 0]),
                                                                       rel=1e-3)


@pytest.mark.parametrize("activation", ["gated_relu", "relu"])
def test_default_fit_converges_on_targets_in_large_units(activation):
    """scikit-learn's regression check data (y std 42): with alpha on the raw units the
    default fits stopped at max_iter far from the optimum (relative gap 0.2-0.8)."""
    X, y = _regression_dataset()
    assert np.std(y) > 40
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = ConvexReLURegressor(activation=activation, random_state=0).fit(X, y)
    assert est.duality_gap_ <= est.tol * est.objective_
    assert est.score(X, y) > 0.8


def test_no_overflow_warnings_at_large_target_scales():
    """The group prox computed 1 - thr / max(norm, 1e-300): a flood of numpy overflow warnings
    when targets of scale 1e13 make the threshold large (hundreds in one path fit)."""
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.filterwarnings("ignore", message="the interior-point solver failed")
        est = PathRegularizedReLURegressor(n_cells=10, random_state=0).fit(X, 2.0 ** 43 * y)
    assert est.score(X, 2.0 ** 43 * y) > 0.9


@pytest.mark.parametrize("solver", ["auto", "fista"])
@pytest.mark.parametrize("a", [1e-40, 1e40])
def test_targets_beyond_single_precision_fit(solver, a):
    """Targets of scale 1e40 (or 1e-40): the interior point solves in the targets' units,
    and proximal gradient keeps to double precision (its single-precision phase overflowed at
    1e40: "non-finite weights")."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 3), rng.randn(30)
    # (tight tol: at scale 1 the proximal gradient's first phase is in single precision, so
    # the two fits' iterates differ to within tol)
    params = dict(n_patterns=5, solver=solver, tol=1e-10, random_state=0)
    base = ConvexReLURegressor(**params).fit(X, y)
    est = ConvexReLURegressor(**params).fit(X, a * y)
    assert est.solver_ == base.solver_
    assert_allclose(est.predict(X), a * base.predict(X), rtol=1e-6, atol=1e-6 * a)
    assert est.objective_ == pytest.approx(a**2 * base.objective_, rel=1e-6)


def test_targets_too_large_for_the_arithmetic_are_a_clear_error():
    """Targets of scale 1e160 (their squares overflow) make the solvers return non-finite
    values; the fit says what is wrong (the Newton polish once failed with "min() arg is an
    empty sequence")."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 3), rng.randn(30)
    for solver in ("auto", "fista"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(FloatingPointError, match="non-finite weights"):
                ConvexReLURegressor(n_patterns=5, solver=solver, random_state=0).fit(X, y * 1e160)


@pytest.mark.parametrize("est", REGRESSORS + [ConvexReLURegressor(n_patterns=20, solver="fista",
                                                                  random_state=0)],
                         ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("offset", [1e6, 1e9])
def test_targets_with_a_large_offset(est, offset):
    """The programs work on centred targets (``y_offset``): with targets offset by 1e9 the
    residuals carried rounding errors of 1e-7 and the dual value's ``offset * sum(Lam)`` term
    swamped the duality gap: ConvergenceWarnings and max_iter runs at 1e6, and at 1e9 a
    three-layer fit stopped 40 % above the optimum reporting a zero gap."""
    rng = np.random.RandomState(0)
    X = rng.randn(80, 3)
    y = np.maximum(X @ [1.0, -2.0, 0.5], 0) + 0.1 * rng.randn(80)
    base = est.__class__(**est.get_params()).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        moved = est.__class__(**est.get_params()).fit(X, y + offset)
    assert moved.objective_ == pytest.approx(base.objective_, rel=1e-6)
    assert moved.duality_gap_ <= max(10 * base.duality_gap_, 1e-7 * base.objective_)
    assert_allclose(moved.predict(X) - offset, base.predict(X), atol=1e-5 * np.std(y))


@pytest.mark.parametrize("est", REGRESSORS + [DeepLinearRegressor(),
                                              ParallelDeepLinearRegressor()],
                         ids=lambda e: type(e).__name__)
def test_constant_targets_converge_at_once(est):
    """A constant target (a CV fold can have one) is fitted exactly and certified: centred,
    it is exactly zero (a rounding-level residual gave optimum 1e-63, which no relative gap
    test certifies: max_iter runs and ConvergenceWarnings), and the nuclear-norm dual bound
    of a zero residual is 0, not inf * 0 = NaN."""
    X = np.random.RandomState(0).randn(80, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = est.__class__(**est.get_params()).fit(X, np.full(len(X), 3.0))
    assert_allclose(est.predict(X), 3.0, atol=1e-12)
    assert est.duality_gap_ == 0.0
    assert est.objective_ <= 1e-28


@pytest.mark.parametrize("est", REGRESSORS[:4], ids=lambda e: type(e).__name__)
def test_uncentred_targets_without_intercept(est):
    """Without an intercept the targets are not centred, and the interior point gets them
    in units of their root mean square (in units of their spread, targets of mean 1e3 and
    spread 1e-2 were 8e4 times too large: the interior point failed and the fallback stopped
    at a relative gap of 0.1 to 1)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) + 1.0
    y = 1e3 + 1e-2 * (np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.1 * rng.standard_normal(40))
    params = {**est.get_params(), "fit_intercept": False, "solver": "cvxpy", "alpha": 1e-2}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback, no ConvergenceWarning
        fit = est.__class__(**params).fit(X, y)
    assert fit.solver_ == "cvxpy"
    assert fit.duality_gap_ <= 1e-6 * fit.objective_
