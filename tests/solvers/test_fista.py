"""The accelerated proximal-gradient solver's line search near the optimum."""

import numpy as np
import pytest

from skconvex.arrangements import gate_mask, sample_gates
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.solvers.fista import solve_fista


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("relu", [False, True])
def test_fista_reaches_gaps_below_the_rounding_of_the_objective(loss, relu):
    """Close to the optimum the smooth part's values agree to rounding, and backtracking on
    them can no longer tell a step too long: the step grew unchecked and the iterates stopped
    converging (the gated squared program stalled at a relative gap of 1.7e-6 for 20,000
    iterations). The gradients' difference along the step decides there instead, and the
    gap goes on down to 1e-12 in a few hundred to about a thousand iterations."""
    rng = np.random.RandomState(0)
    n, d = 200, 6
    X = np.hstack([rng.randn(n, d - 1), np.ones((n, 1))])
    y = rng.randn(n, 1) if loss == "squared" else np.sign(rng.randn(n, 1))
    mask = gate_mask(X, sample_gates(X, 20, random_state=0))
    problem = TwoLayerReLUProblem(X, y, mask, 1e-2, loss, relu=relu)
    res = solve_fista(problem, tol=1e-12, max_iter=5000, working_set=False)
    assert res.converged
    assert 0 <= res.gap <= 1e-12 * res.objective
