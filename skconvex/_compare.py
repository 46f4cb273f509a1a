"""Side-by-side cases for ``skconvex compare``: each public estimator against the
scikit-learn model a user would pick instead, on the same data.

Every estimator of the registry must have an entry in ``CASES`` (a test checks it).
"""

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split


@dataclass
class Case:
    dataset: str
    load: Callable  # () -> (X, y)
    estimator: object
    peer: object
    peer_name: str
    metric: str = "r2"  # the estimators' own score()


def _split(X, y, seed=0):
    return train_test_split(X, y, test_size=0.25, random_state=seed)


def _ridge_cases(quick):
    from sklearn.datasets import load_diabetes, load_linnerud
    from sklearn.linear_model import Ridge

    from skconvex import SketchedRidge
    from skconvex.datasets import (
        make_decaying_spectrum_regression,
        make_sparse_decaying_regression,
        ridge_alpha_for_effective_dim,
    )

    n, d = (20_000, 800) if quick else (100_000, 1_000)
    alpha_dense = ridge_alpha_for_effective_dim(n * 0.98 ** (2 * np.arange(d)), 100)
    ns, ds = (50_000, 5_000) if quick else (200_000, 20_000)
    density = 1e-3 if quick else 2.5e-4
    alpha_sparse = ridge_alpha_for_effective_dim(
        ns * density * (1.0 + np.arange(ds)) ** -2.0, 200)
    return [
        Case("diabetes", lambda: load_diabetes(return_X_y=True), SketchedRidge(alpha=1e-2),
             Ridge(alpha=1e-2), "Ridge"),
        Case("linnerud (3 targets)", lambda: load_linnerud(return_X_y=True),
             SketchedRidge(alpha=1.0), Ridge(alpha=1.0), "Ridge"),
        Case(f"synthetic dense {n}x{d}, d_eff=100",
             lambda: make_decaying_spectrum_regression(n, d, random_state=0),
             SketchedRidge(alpha=alpha_dense, random_state=0), Ridge(alpha=alpha_dense),
             "Ridge"),
        Case(f"synthetic sparse {ns}x{ds}, d_eff=200",
             lambda: make_sparse_decaying_regression(ns, ds, density=density, random_state=0),
             SketchedRidge(alpha=alpha_sparse, random_state=0),
             Ridge(alpha=alpha_sparse, tol=1e-8),
             "Ridge"),
    ]


def _logistic_cases(quick):
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skconvex import NewtonLESSLogistic
    from skconvex.datasets import (
        make_decaying_spectrum_classification,
        make_sparse_classification,
    )

    n, d = (20_000, 500) if quick else (100_000, 2_000)
    ns, ds = (60_000, 2_000) if quick else (500_000, 20_000)
    density = 5e-3 if quick else 5e-4

    def scaled(est):
        return make_pipeline(StandardScaler(), est)

    return [
        Case("breast cancer (standardized)", lambda: load_breast_cancer(return_X_y=True),
             scaled(NewtonLESSLogistic(random_state=0)), scaled(LogisticRegression()),
             "LogisticRegression", metric="accuracy"),
        Case("iris (3 classes, multinomial)", lambda: load_iris(return_X_y=True),
             NewtonLESSLogistic(random_state=0), LogisticRegression(), "LogisticRegression",
             metric="accuracy"),
        Case(f"dense {n}x{d}, sing. values 0.98^j",
             lambda: make_decaying_spectrum_classification(n, d, random_state=0),
             NewtonLESSLogistic(tol=1e-3, random_state=0), LogisticRegression(tol=1e-6,
                                                                              max_iter=5000),
             "LogisticRegression", metric="accuracy"),
        Case(f"sparse {ns}x{ds}, density {density:g}",
             lambda: make_sparse_classification(ns, ds, density=density, random_state=0),
             NewtonLESSLogistic(tol=1e-3, random_state=0), LogisticRegression(tol=1e-6,
                                                                              max_iter=5000),
             "LogisticRegression", metric="accuracy"),
    ]


def _n_train(n_samples):
    """Training-set size of :func:`_split` (``train_test_split`` rounds the test part up)."""
    return n_samples - int(np.ceil(0.25 * n_samples))


def _mlp_peer(estimator, n_samples, width):
    """The scikit-learn network with the objective of ``estimator`` (a two-layer convex
    network): ``hidden_layer_sizes=(width,)``, standardized inputs (the convex estimators
    standardize internally) and the same weight decay. scikit-learn adds
    ``alpha / (2 n_samples) ||W||^2`` to the mean loss where skconvex adds ``alpha / 2 ||W||^2``,
    so its ``alpha`` is ``n_train`` times larger (it does not penalize the hidden biases,
    skconvex does). L-BFGS, scikit-learn's advice for small data sets."""
    from sklearn.base import is_classifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cls = MLPClassifier if is_classifier(estimator) else MLPRegressor
    return make_pipeline(StandardScaler(), cls(
        hidden_layer_sizes=(width,), alpha=estimator.alpha * _n_train(n_samples),
        solver="lbfgs", max_iter=5000, random_state=0))


def _standardized_target(load):
    """``(X, (y - mean) / std)``: the MLP peers' weight decay is relative to the mean squared
    error of the raw targets, so they need standardized targets for the same weight decay as
    the convex regressors, whose ``alpha`` is relative to the targets' std (``y_scale_``, about
    1 on the training split then). R^2 is unchanged."""
    def loader():
        X, y = load(return_X_y=True)
        return X, (y - y.mean(axis=0)) / y.std(axis=0)
    return loader


def _relu_regressor_cases(quick):
    from sklearn.datasets import load_diabetes

    from skconvex import ConvexReLURegressor

    # peers' widths: about the n_hidden_ of the convex fits (about 20-40 units here)
    P = 50 if quick else 200
    est = ConvexReLURegressor(alpha=1e-2, n_patterns=P, activation="relu", random_state=0)
    return [
        Case(f"diabetes (std. target), relu, {P} patterns", _standardized_target(load_diabetes),
             est, _mlp_peer(est, 442, 32), "MLPRegressor"),
    ]


def _relu_classifier_cases(quick):
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    from skconvex import ConvexReLUClassifier

    P = 50 if quick else 200

    def relu(**kw):
        return ConvexReLUClassifier(**{"alpha": 1e-2, "n_patterns": P, "activation": "relu",
                                       "random_state": 0, **kw})

    # peers' widths: about the n_hidden_ of the convex fits (10-11 units on breast cancer and
    # wine, 90 on digits)
    bc, wine = relu(), relu()
    cases = [
        Case(f"breast cancer, relu, {P} patterns", lambda: load_breast_cancer(return_X_y=True),
             bc, _mlp_peer(bc, 569, 16), "MLPClassifier", metric="accuracy"),
        Case(f"wine (3 classes), relu, {P} patterns", lambda: load_wine(return_X_y=True),
             wine, _mlp_peer(wine, 178, 16), "MLPClassifier", metric="accuracy"),
    ]
    if not quick:
        # the relu program's cone projections are costly with 65 columns and 10 outputs (a
        # minute): the gated program here
        digits = relu(n_patterns=50, activation="gated_relu")
        cases.append(Case("digits (10 classes), gated_relu, 50 patterns",
                          lambda: load_digits(return_X_y=True), digits,
                          _mlp_peer(digits, 1797, 64), "MLPClassifier", metric="accuracy"))
    return cases


class _SecondMomentScored:
    """A scikit-learn density model scored like :class:`~skconvex.generative.ConvexWGAN`:
    ``score(X) = -||S_X - C||_2``, the largest gap a unit quadratic discriminator sees between
    the held-out data (second moment ``S_X`` about the model's mean) and the model's
    covariance ``C`` (``get_covariance()`` / ``covariances_``)."""

    def __init__(self, estimator):
        self.estimator = estimator

    def get_params(self, deep=True):
        return {"estimator": self.estimator}

    def set_params(self, **params):
        self.estimator = params.get("estimator", self.estimator)
        return self

    def fit(self, X, y=None):
        self.estimator.fit(X)
        return self

    def score(self, X, y=None):
        est = self.estimator
        if hasattr(est, "get_covariance"):
            mean, C = est.mean_, est.get_covariance()
        else:  # GaussianMixture(n_components=1)
            mean, C = est.means_[0], est.covariances_[0]
        Xc = np.asarray(X, dtype=np.float64) - mean
        return -float(np.linalg.norm(Xc.T @ Xc / Xc.shape[0] - C, 2))


def _wgan_cases(quick):
    from sklearn.datasets import load_digits, load_wine
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    from skconvex.generative import ConvexWGAN

    metric = "-||S_test - C||_2"
    cases = []
    for k in (10, 30):
        # probabilistic PCA's covariance is also a thresholded spectrum (hard threshold of the
        # directions plus isotropic noise); the convex WGAN's is soft-thresholded
        cases.append(Case(f"digits, {k} components", lambda: load_digits(return_X_y=True),
                          ConvexWGAN(n_components=k, random_state=0),
                          _SecondMomentScored(PCA(n_components=k)), "PCA (probabilistic)",
                          metric=metric))
    cases.append(Case("wine, beta = 0 (covariance matched)", lambda: load_wine(return_X_y=True),
                      ConvexWGAN(beta=0.0, random_state=0),
                      _SecondMomentScored(GaussianMixture(1, reg_covar=1e-12)),
                      "GaussianMixture(1)", metric=metric))
    return cases


def _low_rank_multitask(n, d, K, rank, seed=0):
    """``Y = X B + noise`` with a rank-``rank`` coefficient matrix ``B`` (d, K)."""
    def loader():
        rng = np.random.RandomState(seed)
        X = rng.randn(n, d)
        B = rng.randn(d, rank) @ rng.randn(rank, K) / np.sqrt(d)
        return X, X @ B + 0.5 * rng.randn(n, K)
    return loader


def _deep_linear_cases_for(cls_name, quick):
    from sklearn.datasets import load_linnerud
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import skconvex

    cls = getattr(skconvex, cls_name)
    n, d, K = (2000, 50, 20) if quick else (20000, 100, 40)
    # alpha: of the order of the noise's top singular value of X^T E (sqrt(n) (sqrt(d) +
    # sqrt(K)) 0.5), so the noise directions are thresholded away
    alpha = 0.5 * np.sqrt(0.75 * n) * (np.sqrt(d) + np.sqrt(K))
    return [
        # standardized inputs: on the raw ones (scales 1 to 200) proximal gradient needs
        # ~950 iterations, on standardized ones 60
        Case("linnerud (3 targets, std.)", _standardized_target(load_linnerud),
             make_pipeline(StandardScaler(), cls(alpha=5.0, depth=3)),
             make_pipeline(StandardScaler(), Ridge(alpha=5.0)), "Ridge"),
        Case(f"low-rank multitask {n}x{d}, {K} targets, rank 3",
             _low_rank_multitask(n, d, K, 3), cls(alpha=alpha, depth=3), Ridge(alpha=1.0),
             "Ridge"),
    ]


def _parallel_deep_linear_cases(quick):
    return _deep_linear_cases_for("ParallelDeepLinearRegressor", quick)


def _deep_linear_cases(quick):
    return _deep_linear_cases_for("DeepLinearRegressor", quick)


def _max_margin_cases(quick):
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from skconvex import ConvexMaxMarginReLUClassifier

    P = 10 if quick else 40

    def scaled(est):
        return make_pipeline(StandardScaler(), est)

    est = ConvexMaxMarginReLUClassifier(alpha=1e-2, n_patterns=P, random_state=0)
    return [
        Case(f"breast cancer (std.), soft margin, {P} patterns",
             lambda: load_breast_cancer(return_X_y=True), scaled(est),
             scaled(LinearSVC(C=1.0)), "LinearSVC", metric="accuracy"),
        Case(f"wine (3 classes, std.), soft margin, {P} patterns",
             lambda: load_wine(return_X_y=True), scaled(est),
             scaled(LinearSVC(C=1.0)), "LinearSVC", metric="accuracy"),
    ]


def _deep_mlp_peer(estimator, width):
    """scikit-learn's two-hidden-layer network ``hidden_layer_sizes=(width, width)`` on
    standardized inputs (scikit-learn's default weight decay; a path norm has no scikit-learn
    counterpart), L-BFGS as advised for small data sets."""
    from sklearn.base import is_classifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cls = MLPClassifier if is_classifier(estimator) else MLPRegressor
    return make_pipeline(StandardScaler(), cls(hidden_layer_sizes=(width, width),
                                               solver="lbfgs", max_iter=5000, random_state=0))


def _path_deep_classifier_cases(quick):
    from sklearn.datasets import load_breast_cancer, load_wine

    from skconvex import PathRegularizedReLUClassifier

    C = 40 if quick else 100
    bc = PathRegularizedReLUClassifier(alpha=1e-2, n_cells=C, random_state=0)
    wine = PathRegularizedReLUClassifier(alpha=1e-2, n_cells=C, random_state=0)
    return [
        Case(f"breast cancer, depth 3, {C} cells", lambda: load_breast_cancer(return_X_y=True),
             bc, _deep_mlp_peer(bc, 16), "MLPClassifier(16,16)", metric="accuracy"),
        Case(f"wine (3 classes), depth 3, {C} cells", lambda: load_wine(return_X_y=True),
             wine, _deep_mlp_peer(wine, 16), "MLPClassifier(16,16)", metric="accuracy"),
    ]


def _path_deep_regressor_cases(quick):
    from sklearn.datasets import load_diabetes

    from skconvex import PathRegularizedReLURegressor

    C = 40 if quick else 100
    est = PathRegularizedReLURegressor(alpha=1e-2, n_cells=C, random_state=0)
    return [
        Case(f"diabetes (std. target), depth 3, {C} cells", _standardized_target(load_diabetes),
             est, _deep_mlp_peer(est, 16), "MLPRegressor(16,16)"),
    ]


def _quantized_mlp_peer(est, width):
    """The float network a user would train instead: scikit-learn's MLP of about the same
    width on standardized inputs (real weights, ReLU); the gap in score is the price of the
    binary first layer."""
    from sklearn.base import is_classifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cls = MLPClassifier if is_classifier(est) else MLPRegressor
    return make_pipeline(StandardScaler(), cls(hidden_layer_sizes=(width,), alpha=1.0,
                                               solver="lbfgs", max_iter=5000, random_state=0))


def _quantized_regressor_cases(quick):
    from sklearn.datasets import load_diabetes

    from skconvex import QuantizedPolyNet

    est = QuantizedPolyNet(alpha=1e-2, random_state=0)
    return [Case("diabetes (std. target), binary first layer",
                 _standardized_target(load_diabetes), est, _quantized_mlp_peer(est, 16),
                 "MLPRegressor")]


def _quantized_classifier_cases(quick):
    from sklearn.datasets import load_breast_cancer, load_digits

    from skconvex import QuantizedPolyNetClassifier

    def digits01():
        X, y = load_digits(return_X_y=True)
        return X[y < 2], y[y < 2]

    bc = QuantizedPolyNetClassifier(alpha=1e-2, random_state=0)
    cases = [Case("breast cancer, binary first layer", lambda: load_breast_cancer(
        return_X_y=True), bc, _quantized_mlp_peer(bc, 32), "MLPClassifier", metric="accuracy")]
    if not quick:
        dg = QuantizedPolyNetClassifier(alpha=1e-2, random_state=0)
        cases.append(Case("digits 0-vs-1 (64 features), binary first layer", digits01, dg,
                          _quantized_mlp_peer(dg, 32), "MLPClassifier", metric="accuracy"))
    return cases


def _mlp2_peer(estimator, width):
    """scikit-learn's two-hidden-layer network ``hidden_layer_sizes=(width, width)`` on
    standardized inputs (L-BFGS). Its penalty is weight decay on all layers, not the normalized
    three-layer form the convex estimator optimizes, so ``alpha`` is sklearn's default."""
    from sklearn.base import is_classifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cls = MLPClassifier if is_classifier(estimator) else MLPRegressor
    return make_pipeline(StandardScaler(), cls(hidden_layer_sizes=(width, width),
                                               solver="lbfgs", max_iter=5000, random_state=0))


def _three_layer_regressor_cases(quick):
    from sklearn.datasets import load_diabetes

    from skconvex import ConvexThreeLayerRegressor

    P = (10, 10) if quick else (20, 20)
    # the gated program (default) by FISTA on working sets; diabetes is small and noisy: a
    # larger alpha than the default (alpha=1e-2: test R^2 0.03, train 0.81)
    est = ConvexThreeLayerRegressor(alpha=1e-1, n_patterns=P, random_state=0)
    return [Case(f"diabetes (std. target), gated, {P[0]}x{P[1]} pattern pairs",
                 _standardized_target(load_diabetes), est, _mlp2_peer(est, 8),
                 "MLPRegressor(8,8)")]


def _three_layer_classifier_cases(quick):
    from sklearn.datasets import load_breast_cancer, load_wine

    from skconvex import ConvexThreeLayerClassifier

    P = (10, 10) if quick else (20, 20)

    def est():
        return ConvexThreeLayerClassifier(alpha=1e-2, n_patterns=P, random_state=0)

    bc, wine = est(), est()
    return [
        Case(f"breast cancer, gated, {P[0]}x{P[1]} pattern pairs",
             lambda: load_breast_cancer(return_X_y=True), bc, _mlp2_peer(bc, 8),
             "MLPClassifier(8,8)", metric="accuracy"),
        Case(f"wine (3 classes), gated, {P[0]}x{P[1]} pattern pairs",
             lambda: load_wine(return_X_y=True), wine, _mlp2_peer(wine, 8),
             "MLPClassifier(8,8)", metric="accuracy"),
    ]


CASES = {
    "ConvexMaxMarginReLUClassifier": _max_margin_cases,
    "ConvexWGAN": _wgan_cases,
    "ConvexReLUClassifier": _relu_classifier_cases,
    "ConvexReLURegressor": _relu_regressor_cases,
    "ConvexThreeLayerClassifier": _three_layer_classifier_cases,
    "ConvexThreeLayerRegressor": _three_layer_regressor_cases,
    "DeepLinearRegressor": _deep_linear_cases,
    "NewtonLESSLogistic": _logistic_cases,
    "ParallelDeepLinearRegressor": _parallel_deep_linear_cases,
    "PathRegularizedReLUClassifier": _path_deep_classifier_cases,
    "PathRegularizedReLURegressor": _path_deep_regressor_cases,
    "QuantizedPolyNet": _quantized_regressor_cases,
    "QuantizedPolyNetClassifier": _quantized_classifier_cases,
    "SketchedRidge": _ridge_cases,
}


def _final(est):
    """The estimator itself, or a pipeline's final step."""
    return est.steps[-1][1] if hasattr(est, "steps") else est


def _certificate(est):
    est = _final(est)
    obj = abs(getattr(est, "objective_", 0.0)) or 1.0
    if getattr(est, "optimality_gap_", None) is not None:
        # a quantized network: its distance to the SDP's bound on every binary network (its
        # duality_gap_ is the SDP solve's own gap, which certifies the relaxation only)
        return f"rel gap {est.optimality_gap_ / obj:.1e} (network to SDP bound)"
    gap = getattr(est, "duality_gap_", None)
    if gap is None:
        return "-"
    return f"rel gap {gap / obj:.1e}"


def _timed_fit(est, X, y):
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0


def run_compare(names=None, quick=False, log=print):
    """Fit each estimator and its peer on the same split; return the table rows (dicts)."""
    from skconvex.utils import all_estimators

    registry = dict(all_estimators())
    if names:
        unknown = sorted(set(names) - set(registry))
        if unknown:
            raise ValueError(f"unknown estimator(s) {unknown}; choose from {sorted(registry)}")
    rows = []
    for name in sorted(registry):
        if names and name not in names:
            continue
        if name not in CASES:
            raise KeyError(f"{name} has no entry in skconvex._compare.CASES")
        for case in CASES[name](quick):
            X, y = case.load()
            X_tr, X_te, y_tr, y_te = _split(X, y)
            est, peer = clone(case.estimator), clone(case.peer)
            t_est = _timed_fit(est, X_tr, y_tr)
            t_peer = _timed_fit(peer, X_tr, y_tr)
            row = {
                "estimator": name,
                "dataset": case.dataset,
                "score": float(est.score(X_te, y_te)),
                "fit_time": t_est,
                "peer": case.peer_name,
                "peer_score": float(peer.score(X_te, y_te)),
                "peer_fit_time": t_peer,
                "speedup": t_peer / t_est if t_est > 0 else float("nan"),
                "certificate": _certificate(est),
                "solver": getattr(_final(est), "solver_", None),
                "metric": case.metric,
            }
            rows.append(row)
            log(format_row(row))
    return rows


# column widths: the longest estimator, dataset and peer names of the cases
_W_EST, _W_DATA, _W_PEER = 29, 48, 18

HEADER = (f"{'estimator':<{_W_EST}} {'dataset':<{_W_DATA}} {'score':>8} {'fit s':>8} "
          f"{'peer':<{_W_PEER}} {'peer score':>10} {'peer s':>8} {'speedup':>8}  certificate")


def format_row(r):
    return (f"{r['estimator']:<{_W_EST}} {r['dataset']:<{_W_DATA}} {r['score']:>8.4f} "
            f"{r['fit_time']:>8.3f} {r['peer']:<{_W_PEER}} {r['peer_score']:>10.4f} "
            f"{r['peer_fit_time']:>8.3f} {r['speedup']:>7.2f}x  {r['certificate']}")
