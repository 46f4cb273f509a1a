"""NewtonLESSLogistic against scikit-learn's LogisticRegression (newton-cholesky, tol=1e-10)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skconvex import NewtonLESSLogistic
from skconvex.datasets import (
    make_decaying_spectrum_classification,
    make_sparse_classification,
)
from skconvex.problems import LogisticProblem
from skconvex.solvers import solve_cvxpy, solve_newton_sketch

# "newton-less-fixed": a fixed sketch size, so that the sketched Hessian is used whatever the
# adaptive rule would pick on these small problems (exact Newton, or the diagonal
# preconditioner)
SOLVERS = ["newton-less", "newton-less-fixed", "newton-gaussian", "newton"]


def _estimator(solver, **kwargs):
    if solver == "newton-less-fixed":
        return NewtonLESSLogistic(solver="newton-less", sketch_size=300, **kwargs)
    return NewtonLESSLogistic(solver=solver, **kwargs)


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Small dense kernels (ours and sklearn's references) on one BLAS thread: on the 2-core
    machines here threaded OpenBLAS makes them 10-30x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _data(n=3000, d=40, n_classes=2, seed=0, sparse=False, dtype=np.float64):
    rng = np.random.RandomState(seed)
    if sparse:
        X = sp.random(n, d, density=0.2, format="csr", random_state=rng,
                      data_rvs=rng.standard_normal)
        X = X + sp.csr_matrix((np.ones(n), (np.arange(n), np.arange(n) % d)), shape=(n, d))
        X = X.tocsr()
    else:
        X = rng.standard_normal((n, d)) + 0.3  # nonzero means: the intercept matters
    W = rng.standard_normal((n_classes, d)) * (1.5 / np.sqrt(d))
    Z = np.asarray(X @ W.T) + rng.standard_normal(n_classes)
    if n_classes == 2:
        y = (rng.rand(n) < 1.0 / (1.0 + np.exp(-(Z[:, 1] - Z[:, 0])))).astype(int)
    else:
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        y = (P.cumsum(axis=1) > rng.rand(n)[:, None]).argmax(axis=1)
    return X.astype(dtype), y


def _reference(X, y, C=1.0, fit_intercept=True, sample_weight=None):
    return LogisticRegression(C=C, solver="newton-cholesky", tol=1e-10, max_iter=1000,
                              fit_intercept=fit_intercept).fit(X, y, sample_weight=sample_weight)


def _params(est):
    return np.column_stack([est.coef_, est.intercept_]).astype(np.float64)


def _rel(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn(solver, n_classes, fit_intercept, sparse, weighted):
    X, y = _data(n_classes=n_classes, sparse=sparse)
    sw = np.random.RandomState(1).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    ref = _reference(X, y, 1.0, fit_intercept, sw)
    est = _estimator(solver, C=1.0, fit_intercept=fit_intercept, random_state=0).fit(
        X, y, sample_weight=sw)
    assert est.solver_ == solver.replace("-fixed", "")
    if solver == "newton-less-fixed":
        assert est.sketch_size_ == 300
    assert est.coef_.shape == ref.coef_.shape and est.intercept_.shape == ref.intercept_.shape
    assert _rel(_params(est), _params(ref)) < 1e-5
    if not fit_intercept:
        assert_array_equal(est.intercept_, 0.0)
        assert 0.0 <= est.duality_gap_ <= 1e-8 * est.objective_
    else:
        assert est.duality_gap_ is None
    assert_allclose(est.predict_proba(X), ref.predict_proba(X), rtol=1e-5, atol=1e-7)
    assert_array_equal(est.predict(X), ref.predict(X))


def test_sketch_is_used_and_sized_by_effective_dimension():
    """The default solver sketches on a problem big enough, with a sketch size tied to the
    effective dimension (estimated, far below d here), and still matches sklearn."""
    X, y = make_decaying_spectrum_classification(12000, 400, decay=0.95, random_state=0)
    est = NewtonLESSLogistic(C=1.0, random_state=0).fit(X, y)
    ref = _reference(X, y)
    assert _rel(_params(est), _params(ref)) < 1e-5
    assert est.sketch_size_ is not None and 0 < est.sketch_size_ < 3000
    assert 20 < est.effective_dim_ < 200
    assert est.n_passes_ < 3 * est.n_iter_ + 3


def test_sparse_well_conditioned_uses_diagonal_preconditioner():
    """Sparse data whose Hessian is well conditioned once its diagonal is scaled out, and a
    pass costs little against a sketch: the adaptive rule drops the sketch (sketch_size_ = 0,
    Newton-CG with the diagonal preconditioner) and still finds the solution (reference: exact
    Newton, itself checked against sklearn above; sklearn's newton-cholesky takes seconds
    on this sparse problem)."""
    X, y = make_sparse_classification(20000, 1000, density=1e-2, random_state=0)
    est = NewtonLESSLogistic(random_state=0).fit(X, y)
    assert est.sketch_size_ == 0
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    assert _rel(_params(est), _params(ref)) < 1e-5


def test_inner_pcg_direction_matches_newton():
    """Conjugate gradient refinements of the sketched direction converge to the Newton
    direction (binary with intercept; multinomial with the gauge-singular intercepts)."""
    from skconvex.solvers.newton_sketch import _direction, _inverse_gram, _Jacobi

    for n_classes in (2, 3):
        X, y = _data(n=2000, d=15, n_classes=n_classes)
        problem = LogisticProblem(X, y, 1.0, n_classes=n_classes)
        rng = np.random.RandomState(0)
        W = 0.1 * rng.standard_normal(problem.shape)
        st = problem.state(problem.margins(W))
        G = problem.grad_from_residual(W, st["R"])
        newton = -_inverse_gram(problem.hessian(st), problem.reg).solve(G.ravel())
        pre = _Jacobi(problem.hess_diag(st) + problem.reg)
        D = _direction(problem, pre, G, st, 200, eta=1e-10).ravel()
        if n_classes > 2:  # compare up to the gauge (a constant added to all intercepts)
            D = D.reshape(problem.shape)
            D[:, -1] -= D[:, -1].mean()
            D = D.ravel()
        assert _rel(D, newton) < 1e-7


@pytest.mark.parametrize("sketch", ["less_uniform", "less", "sjlt", "srht", "gaussian",
                                    "rademacher"])
def test_every_sketch_kind(sketch):
    X, y = _data(n=2500, d=30)
    ref = _reference(X, y)
    est = NewtonLESSLogistic(sketch=sketch, sketch_size=200, random_state=0).fit(X, y)
    assert est.sketch_size_ == 200
    assert _rel(_params(est), _params(ref)) < 1e-5


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True])
def test_woodbury_path_with_intercept(n_classes, sparse):
    """A fixed sketch smaller than the number of parameters (Woodbury), with the unpenalized
    intercepts eliminated exactly (Schur complement)."""
    X, y = _data(n=4000, d=120, n_classes=n_classes, sparse=sparse)
    ref = _reference(X, y, C=0.05)
    est = NewtonLESSLogistic(C=0.05, sketch_size=60, nnz_per_row=4, random_state=0,
                             max_iter=300).fit(X, y)
    assert est.sketch_size_ == 60
    assert _rel(_params(est), _params(ref)) < 1e-5
    if n_classes > 2:
        assert abs(est.intercept_.sum()) < 1e-10


def test_objective_decreases_monotonically_and_stops_on_decrement():
    X, y = _data(n=5000, d=60)
    for sketch in ["less_uniform", "gaussian", "exact"]:
        problem = LogisticProblem(X, y, 1.0)
        res = solve_newton_sketch(problem, sketch=sketch, tol=1e-8, random_state=0)
        obj = np.array([h["objective"] for h in res.history])
        assert np.all(np.diff(obj) <= 1e-12 * abs(obj[0])), sketch
        assert res.converged and res.history[-1]["measure"] <= 1e-8
        assert_allclose(res.objective, problem.objective(res.w), rtol=1e-12)


def test_matches_cvxpy_reference():
    X, y = _data(n=300, d=8, n_classes=3)
    problem = LogisticProblem(X, y, 0.5, n_classes=3)
    ref = solve_cvxpy(problem, tol=1e-9)
    res = solve_newton_sketch(LogisticProblem(X, y, 0.5, n_classes=3), sketch="exact")
    assert_allclose(res.objective, ref.objective, rtol=1e-6)
    assert res.objective <= ref.objective + 1e-9 * abs(ref.objective)


def test_float32_kept():
    X, y = _data(n=3000, d=30, dtype=np.float32)
    est = NewtonLESSLogistic(random_state=0).fit(X, y)
    ref = _reference(X.astype(np.float64), y)
    assert est.coef_.dtype == np.float32 and est.intercept_.dtype == np.float32
    assert est.decision_function(X).dtype == np.float32
    assert _rel(_params(est), _params(ref)) < 1e-4


def test_sparse_csc_and_csr_agree():
    X, y = _data(n=2000, d=30, sparse=True)
    a = NewtonLESSLogistic(random_state=0).fit(X.tocsr(), y)
    b = NewtonLESSLogistic(random_state=0).fit(X.tocsc(), y)
    assert _rel(_params(a), _params(b)) < 1e-6
    assert_allclose(a.decision_function(X.tocsc()), a.decision_function(X.toarray()),
                    rtol=1e-10, atol=1e-10)


def test_string_labels_and_classifier_api():
    X, y = _data(n=1500, d=10, n_classes=3)
    labels = np.array(["cat", "dog", "emu"])[y]
    est = NewtonLESSLogistic(random_state=0).fit(X, labels)
    assert_array_equal(est.classes_, ["cat", "dog", "emu"])
    assert set(est.predict(X)) <= set(est.classes_)
    P = est.predict_proba(X)
    assert P.shape == (1500, 3)
    assert_allclose(P.sum(axis=1), 1.0)
    assert_allclose(est.predict_log_proba(X), np.log(P), rtol=1e-10, atol=1e-12)
    assert_array_equal(est.predict(X), est.classes_[P.argmax(axis=1)])
    assert est.score(X, labels) > 0.5
    # binary: decision_function of shape (n,), positive for classes_[1]
    yb = np.where(y == 0, "no", "yes")
    est = NewtonLESSLogistic(random_state=0).fit(X, yb)
    s = est.decision_function(X)
    assert s.shape == (1500,)
    assert_array_equal(est.predict(X), np.where(s > 0, "yes", "no"))
    assert_allclose(est.predict_proba(X)[:, 1], 1.0 / (1.0 + np.exp(-s)), rtol=1e-12)
    # extreme margins: no overflow, log-probabilities stay finite
    big = NewtonLESSLogistic(random_state=0).fit(X, yb)
    big.coef_ = big.coef_ * 1e4
    assert np.all(np.isfinite(big.predict_log_proba(X)))


def test_integer_weights_equal_repeated_rows():
    X, y = _data(n=1500, d=20)
    w = np.random.RandomState(0).randint(0, 4, X.shape[0])
    rep = np.repeat(np.arange(X.shape[0]), w)
    a = NewtonLESSLogistic(random_state=0, tol=1e-10).fit(X, y, sample_weight=w)
    b = NewtonLESSLogistic(random_state=0, tol=1e-10).fit(X[rep], y[rep])
    assert _rel(_params(a), _params(b)) < 1e-8


def test_warm_start():
    X, y = _data(n=4000, d=50)
    est = NewtonLESSLogistic(warm_start=True, random_state=0).fit(X, y)
    first = est.n_iter_
    coef = est.coef_.copy()
    est.fit(X, y)
    assert est.n_iter_ <= 2 < first
    assert _rel(est.coef_, coef) < 1e-6
    cold = NewtonLESSLogistic(warm_start=False, random_state=0).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == first


def test_determinism():
    X, y = _data(n=4000, d=40)
    a = NewtonLESSLogistic(random_state=3).fit(X, y)
    b = NewtonLESSLogistic(random_state=3).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)


def test_max_iter_warns_and_stays_finite():
    X, y = _data(n=3000, d=40)
    est = NewtonLESSLogistic(max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        est.fit(X, y)
    assert np.all(np.isfinite(est.coef_)) and est.n_iter_ == 1


def test_verbose_prints_progress(capsys):
    X, y = _data(n=3000, d=40)
    NewtonLESSLogistic(verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "[newton-less_uniform]" in out and "elapsed" in out and "m=" in out


def test_fit_does_not_modify_inputs_or_params():
    X, y = _data(n=1000, d=20)
    Xc, yc = X.copy(), y.copy()
    est = NewtonLESSLogistic(random_state=0)
    params = est.get_params()
    est.fit(X, y, sample_weight=np.ones(1000))
    assert_array_equal(X, Xc)
    assert_array_equal(y, yc)
    assert est.get_params() == params


# -- bad input ---------------------------------------------------------------------------------

def _int64_csr():
    X = sp.csr_matrix(np.eye(4)[[0, 1, 2, 3, 0, 1]])
    X.indices = X.indices.astype(np.int64)
    X.indptr = X.indptr.astype(np.int64)
    return X


@pytest.mark.parametrize(
    "X, y, kwargs, fit_kwargs, match",
    [
        (np.ones((5, 2)), np.zeros(5), {}, {}, "one class"),
        (np.ones((5, 2)), np.array([0, 0, 0, 1, 1]), {},
         {"sample_weight": np.array([1.0, 1, 1, 0, 0])}, "one class"),
        (np.array([[np.nan, 1.0], [1.0, 2.0], [0, 1]]), np.array([0, 1, 0]), {}, {}, "NaN"),
        (np.array([[np.inf, 1.0], [1.0, 2.0], [0, 1]]), np.array([0, 1, 0]), {}, {},
         "infinity"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {"C": 0.0}, {}, "'C' parameter"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {"C": -1.0}, {}, "'C' parameter"),
        (np.ones((4, 2)), np.array([1, "a", 1, "a"], dtype=object), {}, {}, "mixed types"),
        (np.ones((4, 2)), [1, "a", 1, "a"], {}, {}, "mixed types"),
        (np.ones((4, 2)), np.array([0.5, 1.5, 0.5, 2.5]), {}, {}, "Unknown label type"),
        (_int64_csr(), np.array([0, 1, 0, 1, 0, 1]), {}, {}, "32-bit integer indices"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {"solver": "lbfgs"}, {}, "'solver' parameter"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {"sketch": "fourier"}, {},
         "'sketch' parameter"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {"nnz_per_row": 0}, {},
         "'nnz_per_row' parameter"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {"tol": 0.0}, {}, "'tol' parameter"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {}, {"sample_weight": -np.ones(4)},
         "[Nn]egative"),
        (np.ones((4, 2)), np.array([0, 1, 0, 1]), {}, {"sample_weight": np.ones(3)},
         "sample_weight.shape"),
        (np.ones((1, 2)), np.array([0]), {}, {}, "1 sample"),
        (np.ones((4, 2)), np.array([0, 1, 0]), {}, {}, "inconsistent numbers of samples"),
    ],
)
def test_bad_input(X, y, kwargs, fit_kwargs, match):
    with pytest.raises(ValueError, match=match):
        NewtonLESSLogistic(**kwargs).fit(X, y, **fit_kwargs)


def test_predict_wrong_number_of_features():
    X, y = _data(n=200, d=5)
    est = NewtonLESSLogistic().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(np.ones((3, 4)))


def test_sparse_multiclass_probes_the_diagonal_preconditioner_before_sketching(monkeypatch):
    """Sparse multinomial data where a pass costs far less than a sketch of 5 x 256 rows:
    Newton-CG with the diagonal preconditioner is tried on the first Newton system before any
    sketch is drawn, and chosen (50,000 x 1,000 with 10 classes had spent 68 s doubling
    sketches before choosing it, then solved in 0.6 s)."""
    import scipy.sparse as sp

    import skconvex.solvers.newton_sketch as ns

    drawn = []

    class Counting(ns.Sketch):
        def __init__(self, *args, **kwargs):
            drawn.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ns, "Sketch", Counting)
    rng = np.random.RandomState(2)
    n, d, K = 8000, 400, 5
    X = sp.random(n, d, density=0.01, format="csr", random_state=rng, data_rvs=rng.randn)
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    y = np.argmax(np.asarray(X @ rng.randn(K, d).T) + rng.gumbel(size=(n, K)), axis=1)
    est = NewtonLESSLogistic(random_state=0).fit(X, y)
    assert drawn == []
    assert est.sketch_size_ == 0 and est.effective_dim_ is None
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    assert _rel(_params(est), _params(ref)) < 1e-6


@pytest.mark.parametrize("n_classes", [5, 10])
def test_dense_multinomial_is_not_charged_a_pass_per_class(n_classes):
    """A dense pass with k class columns is one GEMM (it reads X once), not k reads: charged
    k reads, the cost model chose the exact Hessian (k(k+1)/2 weighted Grams an iteration)
    where Newton-CG with the diagonal preconditioner is several times faster (20,000 x 200,
    10 classes: 18.8 s -> 1.4 s); at 5 classes the diagonal method is measured by a probe."""
    from skconvex.datasets import make_correlated_classification

    rng = np.random.RandomState(0)
    X, _ = make_correlated_classification(6000, 100, random_state=0)
    y = (X @ (rng.randn(100, n_classes) * 0.3) + rng.gumbel(size=(6000, n_classes))).argmax(1)
    est = NewtonLESSLogistic(random_state=0).fit(X, y)
    assert est.sketch_size_ == 0  # no sketch, no exact Hessian
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    assert _rel(_params(est), _params(ref)) < 1e-5


@pytest.mark.parametrize("solver", ["newton-less", "newton"])
def test_warm_start_worse_than_the_intercept_model_is_dropped(solver):
    """A refit with warm_start=True after the features change units (x100) started from
    margins 100x too large and crept (steps of 2^-18, 12x the optimum after max_iter); a warm
    start worse than the intercept-only model is now dropped."""
    rng = np.random.RandomState(0)
    X = rng.randn(80, 3)
    y = (np.maximum(X @ [1, -2, .5], 0) + 0.1 * rng.randn(80) > 0.5).astype(int)
    warm = NewtonLESSLogistic(warm_start=True, solver=solver, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warm.fit(100 * X, y)
    cold = NewtonLESSLogistic(solver=solver, random_state=0).fit(100 * X, y)
    assert warm.objective_ == pytest.approx(cold.objective_, rel=1e-8)
    assert warm.n_iter_ <= cold.n_iter_ + 2


def test_diagonal_newton_cg_that_falls_short_goes_back_to_sketching():
    """The diagonal preconditioner is chosen on the first Newton system; where CG then falls
    short of its forcing term twice in a row (features on scales 1 to 100, 10 classes: the
    scaled Hessian's conditioning grows near the optimum), the solver sketches again (it ran
    100 iterations at linear speed, where sketches take 11)."""
    rng = np.random.default_rng(0)
    n, d, k = 8000, 100, 10
    scales = np.logspace(0, 2, d)
    X = rng.standard_normal((n, d)) * scales
    y = np.argmax(X @ (rng.standard_normal((d, k)) / scales[:, None])
                  + rng.gumbel(size=(n, k)), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = NewtonLESSLogistic(random_state=0).fit(X, y)
    assert est.n_iter_ <= 20
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    assert _rel(_params(est), _params(ref)) < 1e-5


def _softmax_reference(X, y, n_classes, scales, C=1.0):
    """Multinomial optimum of ``X diag(scales)`` by L-BFGS in the rescaled coefficients
    ``U = W diag(scales)`` (a well-conditioned problem: features of natural scale, penalty
    ``|U_j|^2 / scales_j^2``); returns W (rows summing to zero) and the intercepts."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    n, d = X.shape
    Y = np.eye(n_classes)[y]
    pen = 1.0 / scales**2

    def fun(theta):
        U, b = theta[: n_classes * d].reshape(n_classes, d), theta[n_classes * d:]
        Z = X @ U.T + b
        lse = logsumexp(Z, axis=1)
        R = C * (np.exp(Z - lse[:, None]) - Y)
        f = C * float(np.sum(lse - np.sum(Y * Z, axis=1))) + 0.5 * float(np.sum(U * U * pen))
        return f, np.r_[(R.T @ X + U * pen).ravel(), R.sum(axis=0)]

    res = minimize(fun, np.zeros(n_classes * (d + 1)), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "gtol": 1e-12, "ftol": 0.0, "maxcor": 50})
    U = res.x[: n_classes * d].reshape(n_classes, d)
    U -= U.mean(axis=0)
    b = res.x[n_classes * d:]
    return U / scales, b - b.mean()


@pytest.mark.parametrize("scale", [1e6, 1e8])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("solver", ["newton-less", "newton-less-fixed", "newton"])
def test_multinomial_with_a_feature_on_a_large_scale(scale, sparse, solver):
    # adding one vector to every class's coefficients leaves the multinomial loss unchanged:
    # the computed Hessian's rounding along those directions (eps times entries of 1e16)
    # swamped the penalty's curvature and the Cholesky factorization failed (scale 1e6:
    # "19-th leading minor not positive definite"); the coefficients of that feature carried
    # errors of 0.5% where it did not
    X, y = _data(n=1500, d=5, n_classes=3)
    scales = np.ones(5)
    scales[2] = scale
    W_ref, b_ref = _softmax_reference(X, y, 3, scales)
    Xs = X * scales
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = _estimator(solver, tol=1e-10, random_state=0).fit(
            sp.csr_matrix(Xs) if sparse else Xs, y)
    assert_allclose(est.coef_ * scales, W_ref * scales, rtol=1e-6, atol=1e-8)
    assert_allclose(est.intercept_, b_ref, atol=1e-6)
    assert np.all(np.abs(est.coef_.sum(axis=0)) * scales <= 1e-12)  # rows sum to zero
    from scipy.special import softmax

    assert_allclose(est.predict_proba(Xs), softmax(X @ (W_ref * scales).T + b_ref, axis=1),
                    atol=1e-7)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("mean", [1e6, 1e8])
@pytest.mark.parametrize("solver", ["newton-less", "newton"])
def test_feature_of_large_mean(n_classes, mean, solver):
    # the intercepts' Schur complement cancels: a feature of mean m leaves rounding errors of
    # eps m^2 on curvatures of its variance (binary; the Cholesky factorization failed at
    # 1e8) or of the penalty (multinomial; failed at 1e6). The features are centred on a
    # copy and the intercepts moved back. The data are exact in binary (20 fractional bits
    # plus the mean), so the shifted problem is the same problem
    X, y = _data(n=1500, d=5, n_classes=n_classes)
    X = np.round(X * 2**20) / 2**20
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    Xm = X.copy()
    Xm[:, 2] += mean
    assert np.array_equal(Xm[:, 2] - mean, X[:, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = NewtonLESSLogistic(solver=solver, tol=1e-10, random_state=0).fit(Xm, y)
    assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-10)
    assert_allclose(est.intercept_ + est.coef_[:, 2] * mean, ref.intercept_, atol=1e-6)
    assert_allclose(est.predict_proba(Xm), ref.predict_proba(X), atol=1e-8)
    assert est.objective_ == pytest.approx(ref.objective_, rel=1e-10)
    # a warm start (given in the user's units) is mapped into the centred problem; the
    # user's intercept holds offset^T w (1e7 at 1e8) to its rounding, a step or two more
    est.set_params(warm_start=True).fit(Xm, y)
    assert est.n_iter_ <= 3
    assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-10)


def test_a_column_far_from_zero_is_centred():
    # a column of mean 30 and unit spread: its coupling with the intercept is invisible to
    # the diagonal preconditioner of Newton-CG (a 5-class fit took 8 iterations and twice
    # the time); centred on a copy, the fit is the centred data's, step for step
    from skconvex.problems.logistic import feature_offset

    X, y = _data(n=3000, d=20, n_classes=5)
    Xm = X.copy()
    Xm[:, 3] += 30.0
    off = feature_offset(Xm, 1.0)
    assert off is not None and off[3] == pytest.approx(Xm[:, 3].mean(), rel=1e-12)
    assert feature_offset(X, 1.0) is None  # (means of 0.3 against unit spreads)
    a = NewtonLESSLogistic(random_state=0).fit(Xm - off, y)
    b = NewtonLESSLogistic(random_state=0).fit(Xm, y)
    assert b.n_iter_ == a.n_iter_
    assert_allclose(b.coef_, a.coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(b.predict_proba(Xm), a.predict_proba(Xm - off), atol=1e-12)
