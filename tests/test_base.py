"""The base class, the registry and the command line."""

import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconvex import SketchedRidge
from skconvex._compare import CASES
from skconvex._result import FitResult
from skconvex.base import ConvexEstimator
from skconvex.cli import main
from skconvex.utils import all_estimators


def test_every_estimator_is_a_convex_estimator_with_a_compare_case():
    for name, cls in all_estimators():
        assert issubclass(cls, ConvexEstimator)
        assert name in CASES, f"{name} needs a row in skconvex compare"


def test_fitted_record_and_pickle():
    rng = np.random.RandomState(0)
    X, y = rng.randn(100, 5), rng.randn(100)
    est = SketchedRidge(solver="pcg", random_state=0).fit(X, y)
    for attr in ("n_iter_", "objective_", "duality_gap_", "fit_time_", "solver_"):
        assert hasattr(est, attr)
    assert est.n_iter_ >= 1 and est.fit_time_ > 0
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est2.predict(X), est.predict(X))


def test_pipeline_and_grid_search():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 8)
    y = X @ rng.randn(8) + 0.1 * rng.randn(200)
    pipe = make_pipeline(StandardScaler(), SketchedRidge())
    search = GridSearchCV(pipe, {"sketchedridge__alpha": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.9
    assert clone(search.best_estimator_).get_params()["sketchedridge__alpha"] in (0.1, 1, 10)


def test_fit_result_gap():
    r = FitResult(np.zeros(2), 3.0, 2.5, 4, True)
    assert r.duality_gap == 0.5
    assert FitResult(np.zeros(2), 3.0, None, 4, True).duality_gap is None


def test_convergence_warning_says_why_the_fit_missed_tol():
    """At max_iter the warning asks for more iterations; a solver that stopped earlier by its
    own rule (an interior point's certificate looser than tol) is told apart."""
    from skconvex.base import _not_converged_message

    est = SketchedRidge(tol=1e-8, max_iter=50)
    at_max = FitResult(np.zeros(2), 2.0, 1.0, 50, False)
    msg = _not_converged_message(est, "pcg", at_max)
    assert "stopped at max_iter=50 at a relative duality gap of 5.0e-01" in msg
    assert "violated" not in msg
    # the augmented Lagrangian's point is infeasible until it converges: the warning says so
    al = FitResult(np.zeros(2), 2.0, 1.0, 50, False, info={"max_violation": 0.25})
    assert "violated by 2.5e-01" in _not_converged_message(est, "fista", al)
    early = FitResult(np.zeros(2), 2.0, 2.0 - 4e-5, 18, False)
    msg = _not_converged_message(est, "cvxpy", early)
    assert "after 18 iterations" in msg and "2.0e-05" in msg
    assert "more iterations do not help" in msg


def test_all_estimators_bad_filter():
    with pytest.raises(ValueError, match="type_filter"):
        all_estimators("clusterer")


def test_cli_compare_quick_json(tmp_path, capsys):
    path = tmp_path / "rows.json"
    rc = main(["compare", "--quick", "--estimator", "SketchedRidge", "--json", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "SketchedRidge" in out and "diabetes" in out and "certificate" in out
    rows = json.loads(path.read_text())
    assert {r["dataset"] for r in rows} >= {"diabetes"}
    for r in rows:
        # same objective as sklearn's Ridge: the same held-out score
        assert abs(r["score"] - r["peer_score"]) < 1e-6
        assert r["certificate"].startswith("rel gap")


def test_compare_rows_of_pipelines_name_the_solver():
    """A case whose estimator is a pipeline reports its final step's solver (it was null)."""
    from skconvex._compare import run_compare

    rows = run_compare(["NewtonLESSLogistic"], quick=True, log=lambda _: None)
    assert rows and all(r["solver"] for r in rows)


def test_cli_errors_before_the_fits(tmp_path, capsys):
    """An unknown estimator or an unwritable --json is an error before any fit or output
    (the JSON file was opened after every fit, and its OSError was a traceback)."""
    assert main(["compare", "--estimator", "Nope"]) == 2
    out = capsys.readouterr()
    assert "unknown estimator" in out.err and out.out == ""
    bad = tmp_path / "missing" / "rows.json"
    assert main(["compare", "--estimator", "SketchedRidge", "--json", str(bad)]) == 2
    out = capsys.readouterr()
    assert f"cannot write --json {bad}" in out.err and out.out == ""


def test_cli_estimators(capsys):
    assert main(["estimators"]) == 0
    assert "SketchedRidge" in capsys.readouterr().out
