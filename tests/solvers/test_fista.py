"""The accelerated proximal-gradient solver's line search near the optimum."""

import numpy as np
import pytest

from skconvex.arrangements import gate_mask, sample_gates
from skconvex.problems.group_lasso_relu import TwoLayerReLUProblem
from skconvex.solvers.fista import solve_fista


def _problem(loss, relu, n, seed, K=1):
    """A two-layer program on Gaussian data with a ones column, 20 sampled patterns."""
    rng = np.random.RandomState(seed)
    X = np.hstack([rng.randn(n, 5), np.ones((n, 1))])
    y = rng.randn(n, K) if loss == "squared" else np.sign(rng.randn(n, 1))
    mask = gate_mask(X, sample_gates(X, 20, random_state=0))
    return TwoLayerReLUProblem(X, y, mask, 1e-2, loss, relu=relu)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("relu", [False, True])
def test_fista_reaches_gaps_below_the_rounding_of_the_objective(loss, relu):
    """Close to the optimum the smooth part's values agree to rounding, and backtracking on
    them can no longer tell a step too long: the step grew unchecked and the iterates stopped
    converging (the gated squared program stalled at a relative gap of 1.7e-6 for 20,000
    iterations). The gradients' difference along the step decides there instead, and the
    gap goes on down to 1e-12 in a few hundred to about a thousand iterations."""
    problem = _problem(loss, relu, 200, 0)
    res = solve_fista(problem, tol=1e-12, max_iter=5000, working_set=False)
    assert res.converged
    assert 0 <= res.gap <= 1e-12 * res.objective


@pytest.mark.parametrize("K", [1, 3])
def test_single_precision_products_match_double(K):
    """``set_precision(float32)``: forward and adjoint to single-precision rounding, returned
    in float64; the default precision is restored exactly."""
    problem = _problem("squared", True, 300, 2, K)
    rng = np.random.RandomState(0)
    n = problem.n
    U, G = rng.randn(*problem.shape), rng.randn(n, K)
    T64, A64 = problem.forward(U), problem.adjoint(G)
    problem.set_precision(np.float32)
    T32, A32 = problem.forward(U), problem.adjoint(G)
    assert T32.dtype == A32.dtype == np.float64
    assert np.abs(T32 - T64).max() <= 1e-5 * np.abs(T64).max()
    assert np.abs(A32 - A64).max() <= 1e-5 * np.abs(A64).max()
    assert not np.array_equal(T32, T64)  # the products did run in single precision
    problem.set_precision(np.float64)
    np.testing.assert_array_equal(problem.forward(U), T64)
    with pytest.raises(ValueError, match="float64 or float32"):
        problem.set_precision(np.float16)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("relu", [False, True])
def test_mixed_precision_fista_certifies_in_double_precision(loss, relu):
    """The single-precision phase ends at a relative gap of ``COARSE_GAP``; the solve goes on
    in double precision to the same optimum as a solve that never leaves it, and the
    problem's products are left in double precision."""
    from skconvex.solvers import fista as F

    problem = _problem(loss, relu, 400, 1)
    assert problem.mixed_precision and F.COARSE_GAP > 1e-8
    seen = []
    set_precision = problem.set_precision
    problem.set_precision = lambda dtype: (seen.append(np.dtype(dtype)), set_precision(dtype))
    res = solve_fista(problem, tol=1e-8, max_iter=20000, working_set=False)
    assert seen[0] == np.float32 and seen[-1] == np.float64
    assert problem._dtype == np.float64
    del problem.set_precision
    ref = F.fista(problem, np.zeros(problem.shape), np.zeros(1), max_iter=20000, tol=1e-10,
                  gap_fn=lambda U, c, T: (problem.objective(U, c, T),
                                          problem.dual_bound(U, c, T)[0]),
                  coarse_gap=None)
    ref_obj = problem.objective(ref[0], ref[1])
    assert res.converged and 0 <= res.gap <= 1e-8 * res.objective
    assert abs(res.objective - ref_obj) <= 2e-8 * ref_obj
