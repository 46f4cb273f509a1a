"""What every convex-network classifier shares: label encoding, the loss the labels call for,
and the outputs (decision function, probabilities, classes) of a fitted network; and the
validation of targets for a fitted network's objective or certificate (classifiers and
regressors: ``fitted_targets``)."""

import numpy as np
from scipy.special import expit, softmax
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.base import is_classifier
from sklearn.utils.validation import (_check_sample_weight, check_array, check_is_fitted,
                                      column_or_1d, validate_data)


def encode_labels(estimator, X, y, sample_weight=None):
    """Validate a classifier's training data: ``X`` as float64, the labels encoded as
    ``0..K-1`` (``estimator.classes_`` set, at least two classes), ``sample_weight`` checked.
    Returns ``(X, yi, sample_weight)``."""
    X, y = validate_data(estimator, X, y, dtype=np.float64, ensure_min_samples=2)
    check_classification_targets(y)
    enc = LabelEncoder()
    yi = enc.fit_transform(y)
    estimator.classes_ = enc.classes_
    if len(estimator.classes_) < 2:
        raise ValueError(f"{type(estimator).__name__} needs samples of at least 2 classes in "
                         f"the data, but the data contain only one class: "
                         f"{str(estimator.classes_[0])!r}")
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
    return X, yi, sample_weight


def fitted_label_indices(estimator, y, n_samples):
    """The labels ``y`` of ``n_samples`` rows as indices into a fitted classifier's
    ``classes_``, with an error that names the problem for a wrong length or labels the
    network was not fitted on (``np.searchsorted`` alone would map them silently)."""
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} samples, X has {n_samples}")
    known = np.isin(y, estimator.classes_)
    if not known.all():
        unknown = np.unique(np.asarray(y[~known], dtype=object).astype(str))
        raise ValueError(f"y contains labels the network was not fitted on: "
                         f"{', '.join(unknown[:5])}{' ...' if unknown.size > 5 else ''} "
                         f"(classes_: {', '.join(map(str, estimator.classes_[:10]))}"
                         f"{' ...' if len(estimator.classes_) > 10 else ''})")
    return np.searchsorted(estimator.classes_, y)


def fitted_targets(estimator, X, y, sample_weight=None):
    """Validate data for a fitted convex network's objective or certificate on ``(X, y)``.

    ``X`` as at ``predict``; a classifier's labels must be among its ``classes_``, a
    regressor's targets finite with as many outputs as the network; ``sample_weight`` of
    ``X``'s length and nonnegative. Returns ``(X, Y, loss, sample_weight)``: ``Y`` the targets
    encoded as in the network's program (``+-1`` for the logistic loss, one-hot for the
    cross-entropy), ``(n, K)``, and ``sample_weight`` ``None`` when not given."""
    check_is_fitted(estimator)
    X = validate_data(estimator, X, dtype=np.float64, reset=False)
    n = X.shape[0]
    if is_classifier(estimator):
        yi = fitted_label_indices(estimator, y, n)
        loss = estimator._loss_
        K = len(estimator.classes_)
        Y = (2.0 * yi - 1.0)[:, None] if loss == "logistic" else np.eye(K)[yi]
    else:
        loss = "squared"
        Y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")
        if Y.shape[0] != n:
            raise ValueError(f"y has {Y.shape[0]} samples, X has {n}")
        Y = Y.reshape(n, -1)
        K = estimator._forward(X[:1]).shape[1]
        if Y.shape[1] != K:
            raise ValueError(f"y has {Y.shape[1]} outputs, the network {K}")
    if sample_weight is not None:
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                             ensure_non_negative=True)
    return X, Y, loss, sample_weight


class NetworkClassifierMixin:
    """Classifier half of a convex-network estimator.

    The estimator provides ``_build(X, Y, sample_weight, loss)`` (the program for encoded
    targets ``Y``) and ``_forward(X)`` (the fitted network's output). Two classes use the
    logistic loss on one output (``Y`` in {-1, +1}), more classes the cross-entropy on one
    output per class (one-hot ``Y``); ``loss="auto"`` picks so. Put it left of the estimator's
    base class (and right of ``ClassifierMixin``)."""

    def _make_problem(self, X, y, sample_weight=None):
        X, yi, sample_weight = encode_labels(self, X, y, sample_weight)
        K = len(self.classes_)
        loss = self.loss
        if loss == "auto":
            loss = "logistic" if K == 2 else "cross_entropy"
        if loss == "logistic" and K > 2:
            raise ValueError(f"loss='logistic' needs 2 classes, got {K}; use "
                             "loss='cross_entropy' or 'auto'.")
        self._loss_ = loss
        Y = (2.0 * yi - 1.0)[:, None] if loss == "logistic" else np.eye(K)[yi]
        return self._build(X, Y, sample_weight, loss)

    def decision_function(self, X):
        """Confidence scores. Two classes: shape (n_samples,), the score of ``classes_[1]``
        (the network output for the logistic loss; the difference of the two outputs,
        the log-odds, for the cross-entropy), as scikit-learn's scorers and meta-estimators
        expect. More classes: the network outputs, (n_samples, n_classes)."""
        out = self._forward(X)
        if self._loss_ == "logistic":
            return out[:, 0]
        if out.shape[1] == 2:
            return out[:, 1] - out[:, 0]
        return out

    def predict_proba(self, X):
        """Class probabilities (sigmoid or softmax of the network output)."""
        out = self._forward(X)
        if self._loss_ == "logistic":
            p = expit(out[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(out, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(np.clip(self.predict_proba(X), 1e-300, None))

    def predict(self, X):
        """Most probable class (the forward pass of the recovered network)."""
        out = self._forward(X)
        if self._loss_ == "logistic":
            return self.classes_[(out[:, 0] > 0).astype(int)]
        return self.classes_[np.argmax(out, axis=1)]
