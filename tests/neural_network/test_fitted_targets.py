"""The objective and certificates of a fitted network on ``(X, y)`` validate ``y`` against
the network: labels it was not fitted on, targets with NaN, wrong lengths or numbers of
outputs and bad sample weights get an error that names the problem (before, labels were
mapped by ``np.searchsorted`` and gave a wrong objective and a certificate of relative gap
1 without an error; NaN targets an all-NaN certificate)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor

from skconvex import (ConvexMaxMarginReLUClassifier, ConvexReLUClassifier, ConvexReLURegressor,
                      ConvexThreeLayerClassifier, ConvexThreeLayerRegressor,
                      PathRegularizedReLUClassifier, PathRegularizedReLURegressor)
from skconvex.inspection import certify
from skconvex.neural_network import certify_global_optimality, certify_path_optimality

rng = np.random.RandomState(0)
X = rng.randn(40, 3)
Y_REG = X[:, 0] - X[:, 1] + 0.1 * rng.randn(40)
Y_CLF = np.where(X[:, 0] > 0, "pos", "neg")


def _fitted(est, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


CLASSIFIERS = [
    (ConvexReLUClassifier(n_patterns=8, random_state=0), certify_global_optimality),
    (ConvexThreeLayerClassifier(n_patterns=(3, 2), random_state=0), certify_global_optimality),
    (PathRegularizedReLUClassifier(n_cells=4, random_state=0), certify_path_optimality),
    (ConvexReLUClassifier(n_patterns=8, random_state=0), certify),
    (MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0), certify),
]
REGRESSORS = [
    (ConvexReLURegressor(n_patterns=8, random_state=0), certify_global_optimality),
    (ConvexThreeLayerRegressor(n_patterns=(3, 2), random_state=0), certify_global_optimality),
    (PathRegularizedReLURegressor(n_cells=4, random_state=0), certify_path_optimality),
    (ConvexReLURegressor(n_patterns=8, random_state=0), certify),
    (MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0), certify),
]


def _ids(case):
    est, check = case
    return f"{type(est).__name__}-{check.__name__}"


@pytest.mark.parametrize("case", CLASSIFIERS, ids=_ids)
@pytest.mark.parametrize("labels", [(Y_CLF == "pos").astype(int),
                                    np.where(Y_CLF == "pos", "pos", "other")],
                         ids=["0/1 for neg/pos", "unseen label"])
def test_labels_the_network_was_not_fitted_on(case, labels):
    est, check = case
    est = _fitted(est, Y_CLF)
    with pytest.raises(ValueError, match="labels the network was not fitted on"):
        check(est, X, labels)
    if hasattr(est, "regularized_loss"):
        with pytest.raises(ValueError, match="labels the network was not fitted on"):
            est.regularized_loss(X, labels)
        # the training labels give the fit's objective
        assert est.regularized_loss(X, Y_CLF) == pytest.approx(est.objective_, rel=1e-6)


@pytest.mark.parametrize("case", REGRESSORS, ids=_ids)
def test_bad_targets_and_weights(case):
    est, check = case
    est = _fitted(est, Y_REG)
    bad = Y_REG.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        check(est, X, bad)
    with pytest.raises(ValueError, match="y has 39 samples, X has 40"):
        check(est, X, Y_REG[:-1])
    with pytest.raises(ValueError, match="y has 2 outputs, the network 1"):
        check(est, X, np.column_stack([Y_REG, Y_REG]))
    with pytest.raises(ValueError, match="sample_weight"):
        check(est, X, Y_REG, sample_weight=np.ones(39))
    with pytest.raises(ValueError, match="Negative values"):
        check(est, X, Y_REG, sample_weight=-np.ones(40))
    if hasattr(est, "regularized_loss"):
        with pytest.raises(ValueError, match="NaN"):
            est.regularized_loss(X, bad)


def test_the_certificates_name_the_networks_they_accept():
    ridge = Ridge().fit(X, Y_REG)
    mlp = _fitted(MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0), Y_REG)
    mm = ConvexMaxMarginReLUClassifier(n_patterns=5, random_state=0).fit(X, Y_CLF)
    for est in (ridge, mlp, mm):
        with pytest.raises(TypeError, match="certify_global_optimality accepts"):
            certify_global_optimality(est, X, Y_REG)
        with pytest.raises(TypeError, match="certify_path_optimality accepts"):
            certify_path_optimality(est, X, Y_REG)
    net = _fitted(ConvexReLURegressor(n_patterns=8, random_state=0), Y_REG)
    path = _fitted(PathRegularizedReLURegressor(n_cells=4, random_state=0), Y_REG)
    with pytest.raises(ValueError, match="n_new_patterns == -5, must be >= 1"):
        certify_global_optimality(net, X, Y_REG, n_new_patterns=-5)
    with pytest.raises(ValueError, match="n_patterns == 0, must be >= 1"):
        certify(net, X, Y_REG, n_patterns=0)
    with pytest.raises(ValueError, match="both 0"):
        certify_path_optimality(path, X, Y_REG, n_new_cells=0)
    # ascended cells alone are a check
    cert = certify_path_optimality(path, X, Y_REG, n_new_cells=0, n_ascended=3,
                                   random_state=0)
    assert cert.n_new_patterns >= 1


def test_the_path_certificate_needs_the_training_data():
    """Its cells are sign patterns on the training rows: other rows gave a numpy error (a
    different count) or meaningless ratios next to the fit's objective (the same count)."""
    path = _fitted(PathRegularizedReLURegressor(n_cells=4, random_state=0), Y_REG)
    for Xo, yo, sw in [(X[:30], Y_REG[:30], None), (X[::-1], Y_REG[::-1], None),
                       (X, Y_REG + 1.0, None), (X, Y_REG, np.full(40, 2.0))]:
        with pytest.raises(ValueError, match="needs the data it was fitted on"):
            certify_path_optimality(path, Xo, yo, sample_weight=sw)
    # None and unit weights are the same data
    certify_path_optimality(path, X, Y_REG, sample_weight=np.ones(40), n_new_cells=5)
