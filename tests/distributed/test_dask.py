"""Execution on a dask.distributed LocalCluster (2 worker processes, 1 thread each).

One cluster for the module, started and stopped here; every coded run has a timeout."""

import logging

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

from skconvex import NewtonLESSLogistic, SketchedRidge  # noqa: E402
from skconvex.distributed import (  # noqa: E402
    DaskCodedMatVec,
    MDSCodedMatVec,
    PolarCodedMatVec,
    ShiftedExponentialDelay,
    UncodedMatVec,
    UndecodableError,
    dask_config,
)

DELAY = ShiftedExponentialDelay(shift=0.01, rate=40.0)  # about 35 ms per task


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) \
            as cluster, distributed.Client(cluster) as c:
        yield c


def test_polar_decodes_from_first_sufficient_results(client):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 8))
    code = PolarCodedMatVec(3, 0.5, runtime_cdf=DELAY).fit(A)
    run = DaskCodedMatVec(code, client, delay=DELAY, timeout=60, random_state=0)
    for _ in range(2):
        x = rng.standard_normal((8, 2))
        np.testing.assert_allclose(run.matvec(x), A @ x, atol=1e-10)
        rec = run.last_run_
        assert code.n_blocks_ <= rec["n_used"] <= code.n_workers_
        # a result never arrives before its injected delay, so decoding cannot happen
        # before the completion time of the delays
        assert rec["completion_time"] >= code.completion_time(rec["delays"]) - 1e-6
        assert np.all(rec["arrivals"][np.isfinite(rec["arrivals"])] >=
                      rec["delays"][np.isfinite(rec["arrivals"])] - 1e-6)
    # a worker the code does not need is not waited for: decoded without its result
    delays = np.zeros(8)
    j = next(i for i in range(8) if code.can_decode(np.arange(8) != i))
    delays[j] = 1.0
    np.testing.assert_allclose(run.matvec(np.ones(8), delays=delays), A.sum(1), atol=1e-10)
    assert run.last_run_["n_used"] <= 7 and np.isinf(run.last_run_["arrivals"][j])
    run.close()


@pytest.mark.parametrize("code", [MDSCodedMatVec(8, 4, random_state=0), UncodedMatVec(4)])
def test_mds_and_uncoded_same_executor(client, code):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((101, 5))
    code.fit(A)
    run = DaskCodedMatVec(code, client, delay=DELAY, timeout=60, random_state=1)
    x = rng.standard_normal(5)
    np.testing.assert_allclose(run.matvec(x), A @ x, atol=1e-8)
    rec = run.last_run_
    expected = code.n_blocks_ if isinstance(code, MDSCodedMatVec) else code.n_workers_
    assert rec["n_used"] == expected


def test_timeout_raises_undecodable(client):
    A = np.ones((16, 2))
    code = PolarCodedMatVec(2, 0.5).fit(A)
    run = DaskCodedMatVec(code, client, timeout=0.5)
    with pytest.raises(UndecodableError, match="timed out"):
        run.matvec(np.ones(2), delays=np.full(4, 2.0))


def test_scheduler_address_same_code_path(client):
    """A scheduler address (as for a remote cluster) goes through the same code."""
    address = client.scheduler.address
    A = np.arange(40.0).reshape(20, 2)
    code = PolarCodedMatVec(2, 0.5).fit(A)
    run = DaskCodedMatVec(code, address, timeout=60)
    try:
        np.testing.assert_allclose(run.matvec(np.ones(2)), A.sum(1))
        assert run.client_ is not client
    finally:
        run.close()
        run.client_.close()


def _ridge_data(rng, n=2000, d=30):
    X = rng.standard_normal((n, d)) * np.linspace(0.2, 2.0, d)
    y = X @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("solver, kw", [("direct", {}), ("pcg", {"sketch_size": 128}),
                                        ("pcg", {"sketch": "gaussian", "sketch_size": 128})])
def test_sketched_ridge_on_dask_array_equals_in_memory(client, solver, kw):
    rng = np.random.default_rng(2)
    X, y = _ridge_data(rng)
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    Xd = da.from_array(X, chunks=(500, X.shape[1]))
    params = dict(alpha=2.0, solver=solver, tol=1e-10, random_state=0, **kw)
    ref = SketchedRidge(**params).fit(X, y, sample_weight=sw)
    est = SketchedRidge(**params).fit(Xd, y, sample_weight=sw)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-8)
    assert est.intercept_ == pytest.approx(ref.intercept_, abs=1e-7)
    assert est.objective_ == pytest.approx(ref.objective_, rel=1e-10)
    np.testing.assert_allclose(est.predict(X), ref.predict(X), atol=1e-6)


def test_sketched_ridge_through_polar_coded_hessian_products(client):
    rng = np.random.default_rng(3)
    X, y = _ridge_data(rng, n=2000, d=20)
    Xd = da.from_array(X, chunks=(500, 20))
    ref = SketchedRidge(alpha=1.0, solver="pcg", sketch_size=64, tol=1e-10,
                        random_state=0).fit(X, y)
    code = PolarCodedMatVec(3, 0.5, runtime_cdf=DELAY)
    with dask_config(coding=code, delay=DELAY, client=client, random_state=0,
                     timeout=60) as cfg:
        est = SketchedRidge(alpha=1.0, solver="pcg", sketch_size=64, tol=1e-10,
                            random_state=0).fit(Xd, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-8)
    runs = cfg["runs"]
    assert len(runs) >= est.n_iter_  # every Hessian product went through the code
    assert all(code.n_blocks_ <= r["n_used"] <= code.n_workers_ for r in runs)
    assert any(r["n_used"] < code.n_workers_ for r in runs)  # stragglers skipped


@pytest.mark.parametrize("solver", ["newton-less", "newton"])
def test_newton_less_logistic_on_dask_array_equals_in_memory(client, solver):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((1500, 8))
    y = (X @ rng.standard_normal(8) + rng.standard_normal(1500) > 0).astype(int)
    Xd = da.from_array(X, chunks=(500, 8))
    ref = NewtonLESSLogistic(C=0.5, solver=solver, tol=1e-10, random_state=0).fit(X, y)
    est = NewtonLESSLogistic(C=0.5, solver=solver, tol=1e-10, random_state=0).fit(Xd, y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=1e-8)
    assert est.objective_ == pytest.approx(ref.objective_, rel=1e-12)
    np.testing.assert_array_equal(est.classes_, ref.classes_)
