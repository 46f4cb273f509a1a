"""scikit-learn's conventions for the network classifiers' scores: with two classes,
``decision_function`` has shape (n_samples,) and is the score of ``classes_[1]`` whatever the
loss (the cross-entropy's two outputs gave (n, 2), and the roc_auc scorer,
CalibratedClassifierCV and DecisionBoundaryDisplay failed)."""

import warnings

import numpy as np
import pytest
from scipy.special import expit
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score

from skconvex import (ConvexReLUClassifier, ConvexThreeLayerClassifier,
                      PathRegularizedReLUClassifier, QuantizedPolyNetClassifier)

rng = np.random.RandomState(0)
X = rng.randn(80, 2)
y = np.where(X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3, "b", "a")

CLASSIFIERS = [
    ConvexReLUClassifier(n_patterns=10, random_state=0),
    ConvexThreeLayerClassifier(n_patterns=(3, 2), random_state=0),
    PathRegularizedReLUClassifier(n_cells=4, random_state=0),
    QuantizedPolyNetClassifier(n_neurons=10, random_state=0),
]


@pytest.mark.parametrize("est", CLASSIFIERS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("loss", ["logistic", "cross_entropy"])
def test_binary_decision_function_is_the_score_of_the_second_class(est, loss):
    est = est.__class__(**{**est.get_params(), "loss": loss})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        scores = est.decision_function(X)
        assert scores.shape == (len(X),)
        assert_array_equal(est.predict(X), est.classes_[(scores > 0).astype(int)])
        # the log-odds of the second class
        assert_allclose(expit(scores), est.predict_proba(X)[:, 1], rtol=1e-9, atol=1e-12)
        assert roc_auc_score(y, scores) > 0.6
        cv = cross_val_score(est, X, y, cv=2, scoring="roc_auc", error_score="raise")
    assert np.all(np.isfinite(cv))
