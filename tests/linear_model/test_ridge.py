"""SketchedRidge against scikit-learn's Ridge (cholesky) and cvxpy, as sklearn's test_ridge."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from skconvex import SketchedRidge
from skconvex.datasets import make_decaying_spectrum_regression

SOLVERS = ["pcg", "ihs", "direct"]


def _problem(n, d, k=None, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X, y = make_decaying_spectrum_regression(n, d, decay=0.99, random_state=rng)
    X = X + 0.5  # nonzero column means: the intercept matters
    if k is not None:
        y = np.column_stack([y + j * rng.randn(n) + 3.0 * j for j in range(k)])
    return X.astype(dtype), y + 2.0


def _reference(X, y, alpha, fit_intercept, sample_weight=None):
    Xd = X.toarray() if sp.issparse(X) else X
    return Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="cholesky").fit(
        Xd.astype(np.float64), y, sample_weight=sample_weight)


def _rel(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b))


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn_ridge(solver, fit_intercept, sparse, weighted):
    X, y = _problem(1500, 120)
    sw = np.random.RandomState(1).uniform(0.2, 3.0, X.shape[0]) if weighted else None
    if sparse:
        X = sp.random(1500, 120, density=0.1, format="csr", random_state=2) + sp.csr_matrix(
            (np.ones(1500), (np.arange(1500), np.arange(1500) % 120)), shape=(1500, 120))
        X = X.tocsr()
    ref = _reference(X, y, 3.0, fit_intercept, sw)
    est = SketchedRidge(alpha=3.0, fit_intercept=fit_intercept, solver=solver,
                        random_state=0, max_iter=500).fit(X, y, sample_weight=sw)
    assert est.solver_ == solver
    assert _rel(est.coef_, ref.coef_) < 1e-6
    assert_allclose(est.intercept_, ref.intercept_, rtol=1e-6, atol=1e-8)
    assert est.duality_gap_ >= 0
    assert est.duality_gap_ <= 1e-8 * est.objective_
    assert_allclose(est.predict(X), ref.predict(X.toarray() if sparse else X), rtol=1e-6,
                    atol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_multi_target(solver):
    X, Y = _problem(1200, 80, k=3)
    ref = _reference(X, Y, 1.0, True)
    est = SketchedRidge(alpha=1.0, solver=solver, random_state=0, max_iter=500).fit(X, Y)
    assert est.coef_.shape == (3, 80) and est.intercept_.shape == (3,)
    assert _rel(est.coef_, ref.coef_) < 1e-6
    assert_allclose(est.intercept_, ref.intercept_, rtol=1e-6)
    assert est.predict(X).shape == Y.shape


@pytest.mark.parametrize("solver", ["pcg", "ihs", "direct"])
def test_float32_kept(solver):
    X, y = _problem(1000, 60, dtype=np.float32)
    est = SketchedRidge(alpha=1.0, solver=solver, random_state=0, max_iter=500).fit(X, y)
    ref = _reference(X, y, 1.0, True)
    assert est.coef_.dtype == np.float32
    assert est.predict(X).dtype == np.float32
    assert _rel(est.coef_, ref.coef_) < 1e-4


def test_woodbury_path_sketch_smaller_than_features():
    """Sketch with fewer rows than features: the preconditioner goes through Woodbury."""
    X, y = make_decaying_spectrum_regression(3000, 900, decay=0.99, random_state=0)
    alpha = 30.0
    ref = _reference(X, y, alpha, True)
    est = SketchedRidge(alpha=alpha, solver="pcg", sketch_size=300, random_state=0,
                        max_iter=300).fit(X, y)
    assert est.sketch_size_ == 300 < X.shape[1]
    assert _rel(est.coef_, ref.coef_) < 1e-6


@pytest.mark.parametrize("solver", ["pcg", "ihs", "direct"])
def test_wide_data_uses_dual(solver):
    rng = np.random.RandomState(0)
    X = rng.randn(150, 600)
    y = rng.randn(150)
    ref = _reference(X, y, 2.0, True)
    est = SketchedRidge(alpha=2.0, solver=solver, random_state=0, max_iter=500).fit(X, y)
    assert _rel(est.coef_, ref.coef_) < 1e-6


def test_matches_cvxpy_reference():
    X, y = _problem(200, 15)
    a = SketchedRidge(alpha=0.7, solver="cvxpy").fit(X, y)
    b = SketchedRidge(alpha=0.7, solver="pcg", random_state=0).fit(X, y)
    assert_allclose(a.objective_, b.objective_, rtol=1e-8)
    assert _rel(b.coef_, a.coef_) < 1e-5


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "srht", "sjlt", "less_uniform",
                                  "less"])
def test_every_sketch_kind(kind):
    X, y = _problem(1500, 100)
    ref = _reference(X, y, 5.0, True)
    est = SketchedRidge(alpha=5.0, solver="pcg", sketch=kind, random_state=0,
                        max_iter=500).fit(X, y)
    assert _rel(est.coef_, ref.coef_) < 1e-6


def test_adaptive_sketch_tracks_effective_dimension_not_d():
    """Small d_eff in many features: the final sketch stays far below d."""
    X, y, alpha = make_decaying_spectrum_regression(6000, 1500, effective_dim=20,
                                                    random_state=0)
    est = SketchedRidge(alpha=alpha, solver="pcg", random_state=0).fit(X, y)
    ref = _reference(X, y, alpha, True)
    assert _rel(est.coef_, ref.coef_) < 1e-6
    assert est.sketch_size_ < X.shape[1]
    assert 10 < est.effective_dim_ < 40  # true d_eff is about 20


def test_adaptive_sketch_grows_when_progress_fails():
    """A sketch that starts too small for d_eff doubles until the progress test passes."""
    X, y, alpha = make_decaying_spectrum_regression(8000, 1000, effective_dim=250,
                                                    random_state=0)
    est = SketchedRidge(alpha=alpha, solver="ihs", random_state=0, max_iter=300).fit(X, y)
    ref = _reference(X, y, alpha, True)
    assert est.sketch_size_ > 512
    assert _rel(est.coef_, ref.coef_) < 1e-6


def test_determinism_and_auto_choice():
    X, y = _problem(800, 40)
    a = SketchedRidge(solver="pcg", random_state=3).fit(X, y)
    b = SketchedRidge(solver="pcg", random_state=3).fit(X, y)
    assert_allclose(a.coef_, b.coef_, rtol=0, atol=0)
    assert SketchedRidge().fit(X, y).solver_ == "direct"
    assert SketchedRidge(alpha=0.0).fit(X, y).solver_ == "direct"


@pytest.mark.parametrize("n, d, kw", [
    (600, 450, dict(alpha=1e-8, solver="ihs")),
    (2000, 600, dict(alpha=1e-8, solver="pcg", sketch="less_uniform")),
    (2000, 600, dict(alpha=1e-4, solver="pcg", sketch="gaussian")),
])
def test_resketching_restates_the_convergence_measure(n, d, kw):
    """The stopping test sqrt(delta / delta_0) is relative to the first sketch's
    ``b^T H_S^{-1} b``, huge when that sketch is below the effective dimension at small alpha;
    when the sketch doubled, delta_0 stayed and the solvers stopped far from the optimum
    without a warning (coefficients off by 6e-4 and 1.4e-3 here)."""
    rng = np.random.RandomState(0)
    X = rng.randn(n, d)
    y = X @ rng.randn(d) + rng.randn(n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = SketchedRidge(random_state=0, **kw).fit(X, y)
    ref = Ridge(alpha=kw["alpha"], solver="cholesky").fit(X, y)
    assert np.abs(est.coef_ - ref.coef_).max() <= 1e-7 * np.abs(ref.coef_).max()


@pytest.mark.parametrize("weighted", [False, True])
def test_features_of_a_large_mean(weighted):
    """Centring by the rank-one identity X^T X - n m m^T cancelled catastrophically for
    features like years or timestamps (a shift of 1e6: coefficients off by 1e-2); the direct
    solver's Gram is that of the centred rows now."""
    rng = np.random.RandomState(0)
    Z = rng.randn(500, 50)
    y = Z @ rng.randn(50) + 0.1 * rng.randn(500)
    sw = rng.rand(500) + 0.5 if weighted else None
    exact = Ridge(alpha=1.0).fit(Z, y, sample_weight=sw).coef_  # a shift leaves coef_ alone
    est = SketchedRidge(alpha=1.0, solver="direct").fit(Z + 1e6, y, sample_weight=sw)
    assert_allclose(est.coef_, exact, atol=1e-8 * np.abs(exact).max())


@pytest.mark.parametrize("solver", ["direct", "pcg", "ihs"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(1500, 40), (300, 900)])
def test_sparse_features_of_a_large_mean(solver, weighted, shape):
    """The sparse Gram (and kernel) matrices were B^T B - q o^T - o q^T + (u.u) o o^T: for a
    stored column of mean 1e8 the expansion cancelled (a diagonal entry of -61440 for 1417);
    the coefficients came out wrong by 3e-2 to 27 without a warning (direct), or the
    iterative solvers failed. Such columns are now centred densely."""
    n, d = shape
    rng = np.random.RandomState(1)
    X = rng.randn(n, d)
    X[rng.rand(n, d) > 0.3] = 0.0
    X[:, 0] = 1e8 + rng.randn(n)
    y = X[:, 1:] @ rng.randn(d - 1) + (X[:, 0] - 1e8) + 0.1 * rng.randn(n) + 3.0
    sw = np.exp(rng.uniform(-2, 2, n)) if weighted else None
    Xc = X.copy()
    Xc[:, 0] -= 1e8  # (exact: the column is 1e8 plus numbers of order one)
    ref = Ridge(alpha=1.0, solver="cholesky").fit(Xc, y, sample_weight=sw).coef_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = SketchedRidge(alpha=1.0, solver=solver, tol=1e-10, max_iter=1000,
                            random_state=0).fit(sp.csr_matrix(X), y, sample_weight=sw)
    assert_allclose(est.coef_, ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("mean", [1e6, 1e8])
def test_sparse_wide_kernel_with_a_feature_of_a_large_mean(mean):
    """d > n: the kernel is the Gram matrix of the transposed operator, whose heavy columns
    (every sample) did not fit the dense copy; it is now the operator's own kernel, built
    from its heavy feature columns (700 x 3000: 2e-4 wrong at a mean of 1e6, non-finite
    weights at 1e8)."""
    rng = np.random.RandomState(0)
    n, d = 400, 3000  # (the transpose's dense copy, 1.2e6 entries, is over its cap)
    X = sp.random(n, d, density=0.02, random_state=1, format="csc")
    X = sp.hstack([X[:, :5], sp.csc_matrix((mean + rng.randn(n))[:, None]), X[:, 6:]])
    X = X.tocsr()
    y = np.asarray(X[:, :50] @ rng.randn(50)).ravel() + rng.randn(n)
    Xc = X.toarray()
    Xc[:, 5] -= mean  # (exact: 1e8 plus numbers of order one)
    ref = Ridge(alpha=1.0, solver="cholesky").fit(Xc, y).coef_  # (centred: well conditioned)
    est = SketchedRidge(alpha=1.0, solver="direct").fit(X, y)
    assert_allclose(est.coef_, ref, atol=1e-8 * np.abs(ref).max())


def test_alpha_zero_is_least_squares():
    X, y = _problem(300, 20)
    est = SketchedRidge(alpha=0.0).fit(X, y)
    ref = Ridge(alpha=0.0, solver="cholesky").fit(X, y)
    assert _rel(est.coef_, ref.coef_) < 1e-8
    assert est.duality_gap_ is None
    # collinear columns: the minimum-norm solution, like LinearRegression (the Gram's
    # rounding-level eigenvalue was kept and the weight split unevenly)
    from sklearn.linear_model import LinearRegression

    X[:, 6] = X[:, 7]
    est = SketchedRidge(alpha=0.0).fit(X, y)
    assert_allclose(est.coef_, LinearRegression().fit(X, y).coef_, atol=1e-10)


def test_float32_products_that_overflow_are_an_error():
    """float32 data whose Gram overflows float32 gave a model of zeros, silently."""
    rng = np.random.RandomState(0)
    X = rng.randn(50, 5)
    y = X @ rng.randn(5)
    with pytest.raises(ValueError, match="overflow float32; pass X as float64"):
        SketchedRidge().fit((X * 1e19).astype(np.float32), y)
    est = SketchedRidge(alpha=1e-12).fit(X * 1e19, y)  # float64 is fine
    assert est.score(X * 1e19, y) > 0.999


def test_integer_weights_equal_repeated_rows():
    X, y = _problem(400, 30)
    w = np.random.RandomState(0).randint(0, 4, X.shape[0])
    a = SketchedRidge(solver="pcg", random_state=0).fit(X, y, sample_weight=w)
    rep = np.repeat(np.arange(X.shape[0]), w)
    b = SketchedRidge(solver="pcg", random_state=0).fit(X[rep], y[rep])
    assert _rel(a.coef_, b.coef_) < 1e-7
    assert_allclose(a.intercept_, b.intercept_, rtol=1e-7)


def test_max_iter_warns_and_stays_finite():
    X, y = _problem(2000, 300)
    est = SketchedRidge(alpha=1e-3, solver="pcg", sketch_size=8, max_iter=2,
                        random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        est.fit(X, y)
    assert np.all(np.isfinite(est.coef_))
    assert est.n_iter_ == 2


def test_verbose_prints_progress(capsys):
    X, y = _problem(2000, 200)
    SketchedRidge(solver="pcg", verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "[pcg]" in out and "elapsed" in out and "%" in out


def test_fit_does_not_modify_inputs_or_params():
    X, y = _problem(500, 30)
    Xc, yc = X.copy(), y.copy()
    est = SketchedRidge(solver="pcg", random_state=0)
    params = est.get_params()
    est.fit(X, y)
    assert_allclose(X, Xc, rtol=0, atol=0)
    assert_allclose(y, yc, rtol=0, atol=0)
    assert est.get_params() == params


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "X, y, kwargs, fit_kwargs, err, match",
    [
        (np.array([[np.nan, 1.0], [1.0, 2.0], [0, 1]]), np.ones(3), {}, {}, ValueError, "NaN"),
        (np.array([[np.inf, 1.0], [1.0, 2.0], [0, 1]]), np.ones(3), {}, {}, ValueError,
         "infinity"),
        (np.ones((3, 2)), np.array([1.0, np.nan, 2.0]), {}, {}, ValueError, "NaN"),
        (np.empty((0, 3)), np.empty(0), {}, {}, ValueError, "0 sample"),
        (np.ones((1, 3)), np.ones(1), {}, {}, ValueError, "1 sample"),
        (np.ones((5, 2)), np.ones(5), {}, {"sample_weight": np.ones(4)}, ValueError,
         "sample_weight.shape"),
        (np.ones((5, 2)), np.ones(5), {}, {"sample_weight": -np.ones(5)}, ValueError,
         "[Nn]egative"),
        (np.ones((5, 2)), np.ones(5), {"alpha": -1.0}, {}, ValueError, "'alpha' parameter"),
        (np.ones((5, 2)), np.ones(5), {"sketch_size": 10, "solver": "pcg"}, {}, ValueError,
         "sketch_size=10"),
        (np.ones((5, 2)), np.ones(5), {"sketch": "fourier"}, {}, ValueError,
         "'sketch' parameter"),
        (np.ones((5, 2)), np.ones(5), {"solver": "lbfgs"}, {}, ValueError,
         "'solver' parameter"),
        (np.ones((5, 2)), np.ones(5), {"tol": 0.0}, {}, ValueError, "'tol' parameter"),
        (np.ones((5, 2)) + 1j, np.ones(5), {}, {}, ValueError, "[Cc]omplex"),
        (np.ones((5, 2, 2)), np.ones(5), {}, {}, ValueError, "3"),
        (np.ones((5, 2)), np.ones(4), {}, {}, ValueError, "inconsistent numbers of samples"),
    ],
)
def test_bad_input(X, y, kwargs, fit_kwargs, err, match):
    with pytest.raises(err, match=match):
        SketchedRidge(**kwargs).fit(X, y, **fit_kwargs)


def test_predict_wrong_number_of_features():
    X, y = _problem(100, 5)
    est = SketchedRidge().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        est.predict(np.ones((3, 4)))


def test_sparse_ill_conditioned_columns_diagonal_then_sketch():
    """Very sparse data with decaying column scales: the adaptive solver starts from the free
    diagonal preconditioner and still reaches the exact solution."""
    from skconvex.datasets import make_sparse_decaying_regression

    X, y, alpha = make_sparse_decaying_regression(20000, 2000, density=5e-4,
                                                  effective_dim=100, random_state=0)
    est = SketchedRidge(alpha=alpha, solver="pcg", random_state=0, tol=1e-10).fit(X, y)
    ref = _reference(X, y, alpha, True)
    assert _rel(est.coef_, ref.coef_) < 1e-7
    assert est.n_iter_ < 40
    assert est.sketch_size_ < X.shape[1]


def test_auto_solver_with_many_targets():
    """Dense X with many targets: PCG's passes grow with the number of targets and the Gram
    matrix does not, so "auto" solves directly from one target per 100 rows of the short side
    (at 200 targets PCG took 4x as long as the direct solver)."""
    rng = np.random.RandomState(0)
    X = rng.randn(3000, 800)
    one = SketchedRidge(alpha=10.0, random_state=0).fit(X, X[:, 0] + rng.randn(3000))
    assert one.solver_ == "pcg"
    Y = X[:, :10] + rng.randn(3000, 10)
    many = SketchedRidge(alpha=10.0, random_state=0).fit(X, Y)
    assert many.solver_ == "direct"
    ref = Ridge(alpha=10.0, solver="cholesky").fit(X, Y)
    np.testing.assert_allclose(many.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    # sparse X keeps PCG (its Gram is dense and costly)
    Xs = sp.random(3000, 800, density=0.01, format="csr", random_state=0)
    assert SketchedRidge(alpha=10.0).fit(Xs, Y).solver_ == "pcg"


@pytest.mark.parametrize("solver", ["pcg", "ihs"])
def test_objective_is_that_of_the_coefficients_without_intercept(solver):
    """The iterative solvers' objective came from the expansion 1/2 <W, G - A^T b> +
    1/2 ||b||^2, which cancels when the fit is close to targets of a large norm: with a
    feature of mean 1e8 and no intercept, objective_ was negative (-2e6 for 1e2)."""
    rng = np.random.RandomState(1)
    X = rng.randn(1500, 40)
    X[:, 0] += 1e8
    y = X @ rng.randn(40) + 0.1 * rng.randn(1500) + 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SketchedRidge(alpha=1.0, fit_intercept=False, solver=solver,
                            random_state=0).fit(X, y)
    r = X @ est.coef_ - y
    value = 0.5 * float(r @ r) + 0.5 * float(est.coef_ @ est.coef_)
    assert est.objective_ > 0
    assert_allclose(est.objective_, value, rtol=1e-6)


def test_ihs_that_diverges_hands_over_to_pcg():
    """IHS measures its decrement with the sketched Hessian; without an intercept, a feature
    of mean 1e8 and d > n made that wrong, and its iterate grew to 1e38 (objective 1e82)
    with the progress test passing. A diverged IHS hands the problem to PCG."""
    rng = np.random.RandomState(1)
    X = rng.randn(300, 900)
    X[:, 0] += 1e8
    y = X @ (rng.randn(900) / X.std(0)) + 0.1 * rng.randn(300) + 3.0
    # (the SVD: backward stable where the normal equations' condition number is 1e19)
    ref = Ridge(alpha=1.0, fit_intercept=False, solver="svd").fit(X, y).coef_
    est = SketchedRidge(alpha=1.0, fit_intercept=False, solver="ihs", random_state=0,
                        max_iter=200).fit(X, y)
    assert est.solver_ == "pcg"
    assert_allclose(est.coef_, ref, atol=1e-6 * np.abs(ref).max())
