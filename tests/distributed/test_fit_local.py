"""Dask arrays on the local scheduler (no cluster), errors, and the package without dask."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

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
