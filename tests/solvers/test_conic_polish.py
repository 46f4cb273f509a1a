"""The conic finishing steps of the ReLU three-layer program: the best second-layer multipliers
for a fixed primal point (one small cone program per block), the program on working sets of
cone rows, and the polish that combines them after the augmented Lagrangian."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import nnls

import skconvex.neural_network._three_layer as three_layer
from skconvex.arrangements import gate_mask, sample_gates, sample_subnetwork_gates, subnetwork_mask
from skconvex.neural_network import ConvexThreeLayerRegressor
from skconvex.problems.three_layer import ThreeLayerReLUProblem
from skconvex.solvers import solve_cvxpy
from skconvex.solvers.augmented_lagrangian import solve_augmented_lagrangian
from skconvex.solvers.conic_polish import min_max_projected_norm, solve_on_cone_rows
from skconvex.solvers.fista import unpack


def _projected_norm(g, R):
    """||P_C(g)|| for C = {z : R z >= 0}, by nonnegative least squares (Moreau)."""
    return nnls(R.T, -g)[1] if R.shape[0] else np.linalg.norm(g)


def _problem(n=60, loss="squared", seed=0, alpha=0.02):
    rng = np.random.RandomState(seed)
    X = np.hstack([rng.randn(n, 2), np.ones((n, 1))])
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2 - 1 + 0.1 * rng.randn(n)
    G = sample_gates(X, 5, random_state=seed)
    W1, w2 = sample_subnetwork_gates(X, 4, width=2, first_layer=G, random_state=seed + 1)
    Y = y[:, None] if loss == "squared" else np.sign(y - np.median(y))[:, None]
    return ThreeLayerReLUProblem(X, Y, gate_mask(X, G), subnetwork_mask(X, W1, w2), alpha, loss)


def _reference_and_al(max_iter, tol=1e-6):
    """A program, its interior-point solution, and the augmented Lagrangian from zero
    multipliers after ``max_iter`` iterations."""
    p = _problem(n=80)
    ref = solve_cvxpy(p, tol=1e-10)
    p.set_multipliers(np.zeros_like(p.al_state["mu"]), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve_augmented_lagrangian(p, tol=tol, max_iter=max_iter)
    return p, ref, res


def test_min_max_projected_norm_closed_form():
    """One column with no cone rows and ``M = -I``: ``min_{w >= 0} ||v - w||`` is the norm of
    the negative part of ``v``, reached at ``w = v_+``."""
    v = np.array([1.5, -2.0, 0.3, -0.5])
    w, value = min_max_projected_norm(v[:, None], [-np.eye(4)], [np.zeros((0, 4))])
    assert_allclose(value, np.linalg.norm(np.minimum(v, 0)), rtol=1e-7)
    assert_allclose(w, np.maximum(v, 0), atol=1e-5)


def test_min_max_projected_norm_is_the_smallest_largest_projected_norm():
    """On random columns with cones and shared multipliers: the exact projected norms at the
    returned multipliers are at most the returned value and reach it, and no other
    nonnegative multipliers tried do better."""
    rng = np.random.RandomState(0)
    d, m, r = 4, 5, 6
    g0 = rng.randn(d, m)
    M = [rng.randn(d, r) for _ in range(m)]
    R = [rng.randn(7, d) for _ in range(m)]

    def worst(w):
        return max(_projected_norm(g0[:, j] + M[j] @ w, R[j]) for j in range(m))

    w, value = min_max_projected_norm(g0, M, R)
    assert np.all(w >= 0)
    assert_allclose(worst(w), value, rtol=1e-6)
    for _ in range(200):
        trial = np.abs(rng.randn(r)) * rng.rand()
        assert worst(trial) >= value * (1 - 1e-7)
    for j in range(r):  # coordinate moves from the solution do not help either
        for step in (1e-3, 1e-1):
            e = np.zeros(r)
            e[j] = step
            assert worst(w + e) >= value * (1 - 1e-7)
            assert worst(np.maximum(w - e, 0)) >= value * (1 - 1e-7)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_best_multipliers_certify_the_optimum(loss):
    """At the interior-point optimum, multipliers chosen by the block programs from nothing
    (all zero) certify it: the bound meets the objective to the solver's accuracy, while the
    zero multipliers alone certify nothing useful."""
    p = _problem(loss=loss)
    ref = solve_cvxpy(p, tol=1e-10)
    U, c = unpack(ref.w, p.shape)
    p.set_multipliers(np.zeros_like(p.al_state["mu"]), 0.0)
    obj0, bound0, _, _ = p.certificate(U, c)
    obj, bound, _, norms = p.best_multipliers(U, c)
    assert (obj0 - bound0) / obj0 > 1e-3
    assert (obj - bound) / obj < 1e-7
    assert norms.max() <= p.alpha * (1 + 1e-6)
    # the bound is a lower bound: the optimum is not below it
    assert bound <= ref.objective * (1 + 1e-9)


def test_solve_on_cone_rows_matches_the_full_program():
    """Starting from a rough point, the working sets of cone rows end at the optimum of the
    whole program (every row satisfied), with fewer rows than the program has."""
    p = _problem()
    ref = solve_cvxpy(p, tol=1e-10)
    p.set_multipliers(np.zeros_like(p.al_state["mu"]), 0.0)
    rough = solve_augmented_lagrangian(p, tol=1e-6, max_iter=40)
    U0, c0 = unpack(rough.w, p.shape)
    cols = np.flatnonzero(p.group_norms(unpack(ref.w, p.shape)[0]).max(axis=1) > 0)
    sub = p.restrict(cols)
    Us, cs, n_rounds = solve_on_cone_rows(sub, U0[:, cols] + 1e-9, c0)
    U = np.zeros(p.shape)
    U[:, cols] = Us
    o, _, _, _ = p.certificate(U, cs)
    assert_allclose(o, ref.objective, rtol=1e-7)
    assert p.max_violation(U) <= 1e-8
    assert n_rounds >= 1


def test_conic_polish_finishes_a_cut_augmented_lagrangian():
    """The augmented Lagrangian cut after 30 iterations is infeasible; the polish on its support
    reaches the interior-point optimum, feasible and certified, and adds the columns the first
    support missed."""
    p, ref, cut = _reference_and_al(30)
    assert not cut.converged and cut.info["max_violation"] > 1e-6
    # keep only the three largest columns: the rounds must find the rest
    U, c = unpack(cut.w, p.shape)
    norms = p.group_norms(U).max(axis=1)
    U[:, np.argsort(norms)[:-3]] = 0.0
    cut.w = np.concatenate([U.ravel(), c])
    n_ref = int((p.group_norms(unpack(ref.w, p.shape)[0]).max(axis=1) > 1e-6).sum())
    assert n_ref > 3
    out = three_layer._conic_polish(p, cut, 1e-7)
    assert out.converged and out.info["polish"] == "conic"
    assert_allclose(out.objective, ref.objective, rtol=1e-7)
    assert out.gap <= 1e-7 * out.objective
    assert out.info["max_violation"] <= 1e-8 * max(1.0, np.abs(p.Y).max())


def test_regressor_relu_converges_and_predicts_as_its_program(capsys):
    """The ReLU regressor's fit is finished by the polish (its rounds reported with
    ``verbose``): converged, no warning, the objective equals Clarabel's on the same program,
    and the recovered network's forward pass equals the convex model's prediction on the
    training data."""
    rng = np.random.RandomState(0)
    X = rng.randn(150, 3)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.randn(150)
    est = ConvexThreeLayerRegressor(activation="relu", solver="fista", max_iter=300,
                                    random_state=0, verbose=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est.fit(X, y)
    assert "[conic_polish] round 1: support" in capsys.readouterr().out
    assert est.duality_gap_ <= 1e-6 * est.objective_
    ref = ConvexThreeLayerRegressor(activation="relu", solver="cvxpy", random_state=0).fit(X, y)
    assert_allclose(est.objective_, ref.objective_, rtol=1e-6)
    assert_allclose(est.regularized_loss(X, y), est.objective_, rtol=1e-7)


def test_augmented_lagrangian_keeps_its_best_bound():
    """Each round's certificate is a lower bound; the run reports the largest: never above the
    optimum, never below the certificate of its last point, and its rounds' recorded gaps are
    measured from it (non-increasing bound)."""
    p, ref, res = _reference_and_al(3000, tol=1e-9)
    U, c = unpack(res.w, p.shape)
    _, last_bound, _, _ = p.certificate(U, c)
    assert res.dual_bound <= ref.objective * (1 + 1e-9)
    assert res.dual_bound >= last_bound
    bounds = [h["objective"] - h["gap"] for h in res.history if "violation" in h]
    assert len(bounds) > 2
    assert np.all(np.diff(bounds) >= -1e-9 * abs(ref.objective))


def test_best_multipliers_on_all_rows_certify_a_point_off_the_optimal_face():
    """A point a little off the optimal face (the optimum moved by 1e-6 of its scale and
    projected back onto the first-layer cones) leaves rows of the face at small slacks:
    multipliers on the active rows only then certify poorly, and those on every row of the
    blocks with output (``all_rows``) certify it to about its own accuracy."""
    p = _problem(n=80)
    ref = solve_cvxpy(p, tol=1e-10)
    U, c = unpack(ref.w, p.shape)
    nz = p.group_norms(U)[:, 0] > 0
    rng = np.random.RandomState(0)
    U[:, nz] += 1e-6 * np.abs(U).max() * rng.randn(p.d, int(nz.sum()), 1)
    U = p.project(U)
    p.set_multipliers(np.zeros_like(p.al_state["mu"]), 0.0)
    obj, bound_active, _, _ = p.best_multipliers(U, c)
    p.set_multipliers(np.zeros_like(p.al_state["mu"]), 0.0)
    _, bound_all, _, _ = p.best_multipliers(U, c, all_rows=True)
    assert bound_all >= bound_active
    assert (obj - bound_all) / obj < 1e-3
    assert (obj - bound_active) / obj > 10 * (obj - bound_all) / obj
    assert bound_all <= ref.objective * (1 + 1e-9)


def test_conic_polish_takes_a_tight_round_when_the_support_is_complete(monkeypatch):
    """When a round's point is a little off the optimal face (simulated: the support's solve
    at the usual tolerance returns the optimum moved by 1e-6) and no column outside is
    violated, the polish solves once more at the tight tolerance, with multipliers on all rows
    of the blocks with output, and converges."""
    p, ref, res = _reference_and_al(300)
    solve = three_layer.solve_on_cone_rows
    tols = []

    def off_the_face(problem, U, c, *, tol=1e-9, **kwargs):
        tols.append(tol)
        Us, cs, n = solve(problem, U, c, tol=tol, **kwargs)
        if tol > three_layer._TIGHT_TOL:
            nz = problem.group_norms(Us)[:, 0] > 0
            rng = np.random.RandomState(0)
            Us = Us.copy()
            Us[:, nz] += 1e-6 * np.abs(Us).max() * rng.randn(problem.d, int(nz.sum()), 1)
            Us = problem.project(Us)
        return Us, cs, n

    monkeypatch.setattr(three_layer, "solve_on_cone_rows", off_the_face)
    out = three_layer._conic_polish(p, res, 1e-7)
    assert tols[0] > three_layer._TIGHT_TOL and tols[-1] == three_layer._TIGHT_TOL
    assert out.converged
    assert_allclose(out.objective, ref.objective, rtol=1e-7)
