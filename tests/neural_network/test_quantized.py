"""QuantizedPolyNet: SDP relaxation, certificate, rounding, refit and the estimators."""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris

from skconvex import QuantizedPolyNet, QuantizedPolyNetClassifier
from skconvex.neural_network._quantized import (
    exact_binary_optimum,
    grothendieck_min_eig,
    round_neurons,
)
from skconvex.problems.quantized_sdp import QuantizedSDPProblem, elliptope_max, polynomial
from skconvex.solvers.burer_monteiro import solve_burer_monteiro
from skconvex.solvers.cvxpy_backend import solve_cvxpy

RELU_APPROX = (0.09, 0.5, 0.47)


def _planted(n, d, coefs, seed=0, noise=0.1, width=3):
    """The data of the spec's numerical check (planted binary network)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = np.sign(rng.standard_normal((d, width)))
    al = np.array([1.0, -0.5, 0.7, 0.4, -0.8][:width])
    y = polynomial(X @ U, coefs) @ al + noise * rng.standard_normal(n)
    return X, y


def _cvxpy(problem):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Clarabel: "may be inaccurate"
        return solve_cvxpy(problem, tol=1e-9)


@pytest.mark.parametrize("coefs, value", [(RELU_APPROX, 1.1236439), ((1.0, 0.0, 0.0), 1.2086619)])
def test_sdp_value_of_the_spec_check(coefs, value):
    # the spec's check: sum of squares, lam = 0.5, no intercept; ours is a mean, so alpha and
    # the value scale by 1 / n
    X, y = _planted(30, 5, coefs)
    problem = QuantizedSDPProblem(X, y, 0.5 / 30, coefs, fit_intercept=False)
    res = _cvxpy(problem)
    assert res.objective * 30 == pytest.approx(value, rel=1e-6)
    # the dual bound is a lower bound, and tight at the interior-point solution
    assert res.dual_bound <= res.objective
    assert res.duality_gap <= 1e-6 * res.objective


def test_forward_adjoint_and_blocks():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 4))
    problem = QuantizedSDPProblem(X, np.eye(3)[rng.integers(0, 3, 20)], 0.1, RELU_APPROX,
                                  loss="cross_entropy")
    Zs = rng.standard_normal(problem.shape)
    Zs = Zs + Zs.transpose(0, 2, 1)
    Lam = rng.standard_normal((20, 3))
    G = problem.adjoint(Lam)
    lhs = np.sum(problem.forward(Zs) * Lam)
    rhs = sum(problem.block_sign[j] * np.sum(G[problem.block_output[j]] * Zs[j])
              for j in range(problem.n_blocks))
    assert lhs == pytest.approx(rhs, rel=1e-12)
    # a rank-one block [u; 1][u; 1]^T is the neuron sigma(x . u)
    u = np.sign(rng.standard_normal(4))
    ut = np.append(u, 1.0)
    Z1 = np.zeros(problem.shape)
    Z1[2] = np.outer(ut, ut)  # output 1, positive sign
    expected = np.zeros((20, 3))
    expected[:, 1] = polynomial(X @ u, RELU_APPROX)
    np.testing.assert_allclose(problem.forward(Z1), expected, atol=1e-12)


def test_elliptope_max_against_cvxpy():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((8, 8))
    G = A + A.T
    W = cp.Variable((8, 8), PSD=True)
    ref = cp.Problem(cp.Maximize(cp.trace(G @ W)), [cp.diag(W) == 1]).solve(solver=cp.CLARABEL)
    ub, val, R = elliptope_max(G, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(R, axis=1), 1.0)
    assert val <= ref * (1 + 1e-7) and ub >= ref * (1 - 1e-7)
    assert ub - val <= 1e-5 * abs(ref)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("coefs", [RELU_APPROX, (1.0, 0.0, 0.0)])
def test_burer_monteiro_matches_cvxpy(coefs, loss):
    X, y = _planted(80, 6, coefs, seed=3)
    X /= np.sqrt(6)
    Y = y if loss == "squared" else np.sign(y - np.median(y))
    problem = QuantizedSDPProblem(X, Y, 1e-2, coefs, loss=loss)
    ref = _cvxpy(problem)
    bm = solve_burer_monteiro(problem, tol=1e-7, random_state=0)
    # both dual bounds lower-bound both objectives
    assert bm.dual_bound <= ref.objective + 1e-12
    assert ref.dual_bound <= bm.objective + 1e-12
    assert bm.objective == pytest.approx(ref.objective, rel=1e-5)
    # the low-rank point is feasible: PSD blocks with constant diagonal
    Zs, _ = problem.unpack(bm.w)
    for Z in Zs:
        assert np.linalg.eigvalsh(Z)[0] >= -1e-10 * max(Z[-1, -1], 1)
        np.testing.assert_allclose(np.diag(Z), Z[-1, -1], rtol=1e-10, atol=1e-14)


def test_burer_monteiro_raises_its_rank_when_the_optimum_needs_it():
    """The starting rank (7 for 15 features) is above the Barvinok-Pataki bound of the
    diagonal constraints alone; the loss fixes 300 more functionals and the optimum has rank
    10. The rank-7 factors stalled 0.6% above the optimum with a relative gap of 0.13 (and a
    ConvergenceWarning); the solver now doubles the rank when it stalls."""
    rng = np.random.RandomState(0)
    X = rng.randn(300, 15)
    y = X[:, :3].sum(axis=1) ** 2 + X[:, 3] + 0.1 * rng.randn(300)
    problem = QuantizedSDPProblem(X / np.sqrt(15), y, 1e-2, RELU_APPROX)
    ref = _cvxpy(problem)
    Zs, _ = problem.unpack(ref.w)
    assert max(np.sum(np.linalg.eigvalsh(Z) > 1e-6 * np.trace(Z)) for Z in Zs) > 7
    bm = solve_burer_monteiro(problem, tol=1e-6, random_state=0)
    assert bm.converged and bm.info["rank"] > 7
    assert bm.objective == pytest.approx(ref.objective, rel=1e-5)
    assert bm.dual_bound <= ref.objective + 1e-12


def test_dual_bound_valid_at_any_point():
    X, y = _planted(40, 5, RELU_APPROX, seed=4)
    problem = QuantizedSDPProblem(X / np.sqrt(5), y, 1e-2, RELU_APPROX)
    opt = _cvxpy(problem).objective
    rng = np.random.default_rng(0)
    for _ in range(3):
        V = rng.standard_normal((2, 6, 3))
        V /= np.linalg.norm(V, axis=2, keepdims=True)
        Zs = rng.uniform(0, 3, (2, 1, 1)) * np.einsum("bir,bjr->bij", V, V)
        objective, bound, _, _ = problem.certificate(Zs)
        assert bound <= opt + 1e-9 <= objective + 2e-9


def test_grothendieck_rounding_is_unbiased():
    # Zhat = 2/pi arcsin(S) with S a correlation matrix lies in the cut polytope: the rounding
    # reproduces it in expectation (error ~ 1/sqrt(m))
    rng = np.random.default_rng(5)
    V = rng.standard_normal((6, 3))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    Zhat = 2 / np.pi * np.arcsin(np.clip(V @ V.T, -1, 1))
    assert grothendieck_min_eig(Zhat) >= -1e-10
    m = 40_000
    U = round_neurons(Zhat, m, rng)
    assert set(np.unique(U)) <= {-1.0, 1.0}
    Ut = np.vstack([U, np.ones(m)])
    err = np.abs(Ut @ Ut.T / m - Zhat).max()
    assert err <= 5 / np.sqrt(m)
    # Goemans-Williamson rounding of the same matrix is biased: 2/pi arcsin(Zhat) != Zhat
    U = round_neurons(Zhat, m, rng, method="gw")
    Ut = np.vstack([U, np.ones(m)])
    assert np.abs(Ut @ Ut.T / m - Zhat).max() > 10 / np.sqrt(m)


def _exact(est, X, y):
    """The exact binary optimum of ``est``'s program on ``(X, y)`` in the units of its fitted
    attributes (the regressor's program is solved on ``y / y_scale_``)."""
    return exact_binary_optimum(est._make_problem(X, y))[0] * est._y_unit ** 2


@pytest.mark.parametrize("solver", ["cvxpy", "burer_monteiro"])
@pytest.mark.parametrize("activation", ["relu_approx", "quadratic"])
def test_bounds_against_enumeration(activation, solver):
    # all 2^d binary neurons (any width): the exact optimum of the binary problem
    X, y = _planted(60, 7, RELU_APPROX if activation == "relu_approx" else (1, 0, 0), seed=6)
    est = QuantizedPolyNet(alpha=1e-2, activation=activation, solver=solver, n_neurons=50,
                           random_state=0).fit(X, y)
    exact = _exact(est, X, y)
    assert est.sdp_value_ <= exact * (1 + 1e-7)
    assert est.objective_ >= exact * (1 - 1e-7)
    assert est.objective_ <= 1.05 * exact  # the target: within 5 %
    assert est.optimality_gap_ >= 0
    assert est.optimality_gap_ == pytest.approx(est.objective_ - est.sdp_value_)


def test_weights_exactly_quantized_and_forward():
    X, y = _planted(60, 6, RELU_APPROX, seed=7)
    est = QuantizedPolyNet(alpha=1e-2, activation="relu_approx", random_state=0).fit(X, y)
    U, W2 = est.coefs_
    assert U.shape == (6, est.n_hidden_) and est.n_hidden_ >= 1
    assert set(np.unique(U)) <= {-1.0, 1.0}
    Xt = (X - est.input_mean_) / est.input_scale_
    manual = polynomial(Xt @ U, RELU_APPROX) @ W2[:, 0] + est.intercepts_[1][0]
    np.testing.assert_allclose(est.predict(X), manual, rtol=1e-12)
    # the reported objective is the network's own training objective, with the program's
    # regularization alpha * y_scale_ (alpha is relative to the targets' std)
    data = 0.5 * np.mean((est.predict(X) - y) ** 2)
    assert est.y_scale_ == pytest.approx(np.std(y), rel=1e-12)
    penalty = est.alpha * est.y_scale_ * np.abs(W2).sum()
    assert est.objective_ == pytest.approx(data + penalty, rel=1e-10)


@pytest.mark.parametrize("rounding", ["grothendieck", "gw"])
def test_gap_nonnegative_without_refit(rounding):
    X, y = _planted(50, 5, RELU_APPROX, seed=8)
    plain = QuantizedPolyNet(alpha=1e-2, activation="relu_approx", rounding=rounding,
                             refit_second_layer=False, random_state=0).fit(X, y)
    refit = QuantizedPolyNet(alpha=1e-2, activation="relu_approx", rounding=rounding,
                             random_state=0).fit(X, y)
    for est in (plain, refit):
        assert est.optimality_gap_ >= 0
        assert set(np.unique(est.coefs_[0])) <= {-1.0, 1.0}
    assert refit.objective_ <= plain.objective_


def test_pure_quadratic_near_tight():
    X, y = _planted(40, 6, (1.0, 0.0, 0.0), seed=9)
    # the program of regularization 1e-2 (alpha is relative to the targets' std)
    est = QuantizedPolyNet(alpha=1e-2 / np.std(y), activation="quadratic",
                           random_state=0).fit(X, y)
    exact = _exact(est, X, y)
    assert (exact - est.sdp_value_) <= 2e-3 * exact
    assert est.optimality_gap_ <= 2e-3 * est.objective_
    # the general polynomial's relaxation on the same data is much looser
    X, y = _planted(40, 6, RELU_APPROX, seed=9)
    gen = QuantizedPolyNet(alpha=1e-2, activation="relu_approx", random_state=0).fit(X, y)
    exact_gen = _exact(gen, X, y)
    assert (exact_gen - gen.sdp_value_) / exact_gen > 5 * (exact - est.sdp_value_) / exact


def test_classifier_binary_and_multiclass():
    X, y = load_iris(return_X_y=True)
    clf = QuantizedPolyNetClassifier(alpha=1e-2, n_neurons=30, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.predict_proba(X).shape == (150, 3)
    assert clf.sdp_traces_.shape == (6,)
    assert clf.optimality_gap_ >= 0
    yb = (y == 2).astype(int)
    clf = QuantizedPolyNetClassifier(alpha=1e-3, activation="relu_approx",
                                     random_state=0).fit(X, yb)
    exact = _exact(clf, X, yb)
    assert clf.sdp_value_ <= exact * (1 + 1e-6) and clf.objective_ >= exact * (1 - 1e-7)
    assert clf.score(X, yb) > 0.95


def test_bad_input():
    X, y = _planted(20, 3, RELU_APPROX)
    with pytest.raises(ValueError, match="activation"):
        QuantizedPolyNet(activation=(1.0, 2.0)).fit(X, y)
    with pytest.raises(ValueError, match="a != 0 or b != 0"):
        QuantizedPolyNet(activation=(0.0, 0.0, 1.0)).fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        QuantizedPolyNet(activation="cubic").fit(X, y)
    with pytest.raises(ValueError, match="levels"):
        QuantizedPolyNet(levels="ternary").fit(X, y)
    with pytest.raises(ValueError, match="rounding"):
        QuantizedPolyNet(rounding="nearest").fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        QuantizedPolyNet(alpha=0.0).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        QuantizedPolyNet().fit(Xn, y)
    with pytest.raises(ValueError, match="only one class"):
        QuantizedPolyNetClassifier().fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="needs 2 classes"):
        QuantizedPolyNetClassifier(loss="logistic").fit(X, np.arange(20) % 3)
    with pytest.raises(ValueError, match="n_features"):
        exact_binary_optimum(QuantizedSDPProblem(np.zeros((3, 13)), np.zeros(3), 1.0))


@pytest.mark.parametrize("tol", [None, 1e-6])
def test_interior_point_solution_polished_to_tol(tol):
    """Clarabel's solution on scikit-learn's 3-class blob check data certifies only a relative
    gap of 9.8e-6 with Clarabel 0.11 (2.7e-5 with earlier versions: its primal blocks are
    accurate to about the square root of its tolerance); the low-rank polish from it meets
    the tol (the default 1e-5, and 1e-6, which Clarabel's solution misses with every
    version), so the fit gives no ConvergenceWarning, and its bound is no looser."""
    from sklearn.datasets import make_blobs
    from sklearn.exceptions import ConvergenceWarning

    X, y = make_blobs(n_samples=30, random_state=0, n_features=3)
    kw = {} if tol is None else {"tol": tol}
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = QuantizedPolyNetClassifier(n_neurons=20, random_state=0, **kw).fit(X, y)
    assert est.solver_ == "cvxpy"
    assert est.duality_gap_ <= est.tol * est.sdp_objective_
    raw = solve_cvxpy(est._make_problem(X, y), tol=1e-8)
    if tol is not None:
        assert raw.duality_gap > est.tol * raw.objective  # what the polish repaired
    assert est.sdp_value_ >= raw.objective - raw.duality_gap  # a bound no looser


def test_output_lasso_polish_only_on_the_right_support():
    """The output-layer lasso's Newton polish (signs fixed) converges on the optimum's support
    and stops at once where a full step would take a weight across zero (there it ran off to
    objectives of 1e6 and was rejected on every call, 70-87 % of a fit); the features are
    grouped by output and the Lipschitz constant is computed once."""
    from skconvex.neural_network._quantized import _Lasso
    from skconvex.problems._losses import LOSSES

    rng = np.random.RandomState(0)
    n, M = 200, 12
    F = rng.randn(n, M)
    y = F[:, :4] @ [2.0, -1.0, 1.5, 0.5] + 0.1 * rng.randn(n)
    s = np.full(n, 1.0 / n)
    loss = LOSSES["squared"](y[:, None], s)
    lasso = _Lasso(F, np.zeros(M, dtype=np.intp), loss, s, 0.05, 1, True)
    a, c = lasso.solve(np.zeros(M), np.zeros(1), tol=1e-12, n_rounds=20)
    obj, gap, _ = lasso.gap(a, c)
    assert gap <= 1e-12 * obj
    support = np.flatnonzero(a)
    # from a perturbed point on the right support the polish lands on the optimum
    a0 = a.copy()
    a0[support] *= 1.1
    a1, c1 = lasso.newton_polish(a0, c)
    assert_allclose(a1, a, rtol=1e-9, atol=1e-12)
    # a weight that should be zero: the full step crosses zero, the polish stops
    wrong = a.copy()
    off = np.setdiff1d(np.arange(M), support)[0]
    wrong[off] = 1e-3 * np.sign(F[:, off] @ (y - F @ a - c))
    fresh = _Lasso(F, np.zeros(M, dtype=np.intp), loss, s, 0.05, 1, True)
    a2, c2 = fresh.newton_polish(wrong, c)
    assert fresh.objective(a2, c2) <= fresh.objective(wrong, c)
    assert fresh._lipschitz is None  # not needed by the polish
    fresh.fista(a2, c2, max_iter=10)
    L = fresh._lipschitz
    fresh.fista(a2, c2, max_iter=10)
    assert fresh._lipschitz == L
    assert_allclose(L, np.linalg.eigvalsh(np.column_stack([F, np.ones(n)]).T @
                                          np.column_stack([F, np.ones(n)]) / n)[-1])
