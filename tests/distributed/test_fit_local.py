"""Dask arrays on the local scheduler (no cluster), errors, and the package without dask."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from sklearn.exceptions import ConvergenceWarning

from skconvex import NewtonLESSLogistic, SketchedRidge


def test_package_works_without_dask():
    code = textwrap.dedent("""
        import sys
        sys.modules["dask"] = None          # make "import dask" fail
        sys.modules["distributed"] = None
        import numpy as np
        import skconvex
        from skconvex.distributed import DaskCodedMatVec, PolarCodedMatVec
        A = np.arange(12.0).reshape(6, 2)
        code = PolarCodedMatVec(2, 0.5).fit(A)
        assert np.allclose(code.matvec(np.ones(2)), A.sum(1))
        skconvex.SketchedRidge().fit(A, np.arange(6.0))
        try:
            DaskCodedMatVec(code)
        except ImportError as exc:
            assert "skconvex[dask]" in str(exc), exc
            print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


da = pytest.importorskip("dask.array")


def test_ridge_and_logistic_on_local_scheduler():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((900, 6))
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(900)
    Xd = da.from_array(X, chunks=(200, 3))  # column chunks are merged
    for fit_intercept in (True, False):
        ref = SketchedRidge(alpha=0.5, fit_intercept=fit_intercept).fit(X, y)
        est = SketchedRidge(alpha=0.5, fit_intercept=fit_intercept).fit(Xd, y)
        np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-10)
        assert est.n_features_in_ == 6 and est.solver_ == "direct"
    Y = np.column_stack([y, -2 * y])
    est = SketchedRidge(alpha=0.5, solver="pcg", sketch_size=32, tol=1e-10,
                        random_state=0).fit(Xd, Y)
    ref = SketchedRidge(alpha=0.5, solver="direct").fit(X, Y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    # multinomial logistic regression with labels as strings
    labels = np.array(["a", "b", "c"])[np.digitize(X[:, 0] + X[:, 1], [-0.7, 0.7])]
    ref = NewtonLESSLogistic(C=2.0, solver="newton", tol=1e-10).fit(X, labels)
    est = NewtonLESSLogistic(C=2.0, solver="newton", tol=1e-10).fit(Xd, labels)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(est.predict(X), ref.predict(X))
    # float32 is kept
    est32 = SketchedRidge(alpha=0.5).fit(Xd.astype(np.float32), y)
    assert est32.coef_.dtype == np.float32


def test_errors_on_dask_input():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 4))
    Xd = da.from_array(X, chunks=(10, 4))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SketchedRidge().fit(Xd, np.ones(49))
    with pytest.raises(ValueError, match="n_samples >= n_features"):
        SketchedRidge().fit(da.from_array(rng.standard_normal((5, 8))), np.ones(5))
    Xnan = X.copy()
    Xnan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SketchedRidge().fit(da.from_array(Xnan, chunks=(10, 4)), np.ones(50))
    with pytest.raises(ValueError, match="NaN"):
        NewtonLESSLogistic().fit(da.from_array(Xnan, chunks=(10, 4)), np.arange(50) % 2)
    with pytest.raises(ValueError, match="only one class"):
        NewtonLESSLogistic().fit(Xd, np.zeros(50))
    with pytest.raises(ValueError, match="sample_weight"):
        SketchedRidge().fit(Xd, np.ones(50), sample_weight=-np.ones(50))
    with pytest.raises(ValueError, match="2D"):
        SketchedRidge().fit(da.ones(10), np.ones(10))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_on_dask_with_a_feature_of_large_mean(n_classes):
    # the solver shifts the features by their means: a feature of mean 1e6 couples its
    # coefficient to the intercept, and the unshifted Hessian stalled the Newton sketch
    rng = np.random.RandomState(0)
    n, d = 6000, 8
    X = rng.randn(n, d)
    z = X @ rng.randn(d) + 0.5 * rng.randn(n)
    y = np.digitize(z, np.quantile(z, np.linspace(0, 1, n_classes + 1)[1:-1]))
    X[:, 2] += 1e6
    Xd = da.from_array(X, chunks=(1500, d))
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = NewtonLESSLogistic(random_state=0, tol=1e-10).fit(Xd, y)
    assert est.objective_ <= ref.objective_ * (1 + 1e-10)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    # (multinomial margins are defined up to one constant per row: compare probabilities)
    np.testing.assert_allclose(est.predict_proba(X), ref.predict_proba(X), atol=1e-7)
    # a warm start from the solution (given in the unshifted model) stops at once
    est.set_params(warm_start=True).fit(Xd, y)
    assert est.n_iter_ <= 2
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("solver", ["newton", "newton-less"])
def test_multinomial_logistic_on_dask_with_a_feature_on_a_large_scale(solver):
    # the summed Hessian's jitter was relative to its mean diagonal entry: next to a feature
    # on a scale of 1e8 it swamped the other coefficients' curvature (100 iterations, 4.5x the
    # optimum); the multinomial loss's null directions are lifted as in memory
    rng = np.random.RandomState(0)
    n, d = 6000, 8
    X = rng.randn(n, d)
    z = X @ rng.randn(d) + 0.5 * rng.randn(n)
    y = np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))
    X[:, 2] *= 1e8
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = NewtonLESSLogistic(solver=solver, random_state=0, tol=1e-10).fit(
            da.from_array(X, chunks=(1500, d)), y)
    assert est.objective_ <= ref.objective_ * (1 + 1e-12)
    scales = np.where(np.arange(d) == 2, 1e8, 1.0)
    np.testing.assert_allclose(est.coef_ * scales, ref.coef_ * scales, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_on_dask_with_a_feature_of_large_mean(weighted):
    # the Gram matrix is summed from centred blocks: X^T X corrected by the mean cancelled
    # (coefficients off by 1e-4 with a feature of mean 1e6)
    from sklearn.linear_model import Ridge

    rng = np.random.RandomState(0)
    n, d = 3000, 10
    X = rng.randn(n, d)
    y = X @ rng.randn(d) + 0.1 * rng.randn(n)
    X[:, 2] += 1e6
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    ref = Ridge(alpha=1.0, solver="cholesky").fit(X, y, sample_weight=sw)
    est = SketchedRidge(alpha=1.0, solver="direct").fit(
        da.from_array(X, chunks=(700, d)), y, sample_weight=sw)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, rtol=1e-8)


def test_logistic_on_dask_float32_with_a_feature_of_large_mean():
    """float32 blocks are shifted by the float32-rounded means; the parameters are mapped back
    with the same values (with the float64 means the fit ended 2e-5 off the optimum)."""
    from skconvex.distributed import _fit

    rng = np.random.default_rng(0)
    n, d = 4000, 4
    X = rng.standard_normal((n, d))
    X[:, 1] = 3.0 * X[:, 1] + 1e6 + 0.3
    y = (X[:, 0] + 0.8 * (X[:, 1] - 1e6) + rng.logistic(size=n) > 0).astype(int)
    X32 = X.astype(np.float32)
    ref = NewtonLESSLogistic(solver="newton", tol=1e-10).fit(X32.astype(np.float64), y)
    est = NewtonLESSLogistic(solver="newton", tol=1e-10)
    problem = _fit.logistic_problem(est, da.from_array(X32, chunks=(1000, d)), y)
    W = np.asarray(problem.newton_sketch(sketch="exact", tol=1e-10).w).reshape(problem.shape)

    def objective(coef, b):
        z = X32.astype(np.float64) @ coef + b
        return 0.5 * coef @ coef + float(np.sum(np.logaddexp(0.0, -(2.0 * y - 1.0) * z)))

    assert objective(W[0, :-1], W[0, -1]) == pytest.approx(
        objective(ref.coef_[0], ref.intercept_[0]), rel=1e-10)
