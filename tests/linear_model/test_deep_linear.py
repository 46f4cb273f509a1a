"""Deep linear networks: closed forms against cvxpy and brute force, recovered networks, the
duality gap (zero for parallel networks, positive at depth >= 3), gradient descent never
below the convex/closed-form value."""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skconvex import DeepLinearRegressor, ParallelDeepLinearRegressor
from skconvex.problems.deep_linear import interpolation_values, schatten_threshold


def _whitened(n=60, d=5, K=4, seed=0, noise=0.5):
    rng = np.random.RandomState(seed)
    X = PCA(whiten=True).fit_transform(rng.randn(n, d))  # X^T X = (n - 1) I, centered
    Y = X @ rng.randn(d, K) + noise * rng.randn(n, K)
    return X, Y


def _general(n=40, d=4, K=3, seed=1):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) @ np.diag([3.0, 1.0, 0.5, 0.2][:d])
    Y = X @ rng.randn(d, K) + 0.3 * rng.randn(n, K)
    return X, Y


def _nuclear_cvxpy(X, Y, alpha, sample_weight=None):
    s = np.ones(len(X)) if sample_weight is None else sample_weight
    xm, ym = np.average(X, axis=0, weights=s), np.average(Y, axis=0, weights=s)
    r = np.sqrt(s)[:, None]
    W = cp.Variable((X.shape[1], Y.shape[1]))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(r * (X - xm) @ W - r * (Y - ym))
                                  + alpha * cp.normNuc(W)))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return W.value, prob.value


@pytest.mark.parametrize("weighted", [False, True])
def test_parallel_closed_form_equals_cvxpy_nuclear_norm(weighted):
    X, Y = _whitened()
    sw = None
    if weighted:
        # whitened for the weighted Gram matrix: sum_i s_i (x_i - m)(x_i - m)^T = I
        sw = np.random.RandomState(3).uniform(0.5, 2.0, len(X))
        m = np.average(X, axis=0, weights=sw)
        evals, evecs = np.linalg.eigh((sw[:, None] * (X - m)).T @ (X - m))
        X = (X - m) @ evecs @ np.diag(evals ** -0.5) @ evecs.T
    reg = ParallelDeepLinearRegressor(alpha=20.0).fit(X, Y, sample_weight=sw)
    assert reg.solver_ == "closed_form"
    W_ref, val = _nuclear_cvxpy(X, Y, 20.0, sw)
    assert_allclose(reg.coef_.T, W_ref, atol=1e-6)
    assert abs(reg.objective_ - val) <= 1e-7 * val
    assert 0 <= reg.duality_gap_ <= 1e-10 * reg.objective_
    # the other solvers agree
    for solver in ["prox_grad", "cvxpy"]:
        other = ParallelDeepLinearRegressor(alpha=20.0, solver=solver, tol=1e-10,
                                            max_iter=20000).fit(X, Y, sample_weight=sw)
        assert_allclose(other.coef_, reg.coef_, atol=1e-6)


def test_parallel_rank_is_count_of_singular_values_above_alpha():
    X, Y = _whitened(K=4, noise=2.0)
    c = float(np.trace(X.T @ X)) / X.shape[1]
    sig = np.linalg.svd(X.T @ Y, compute_uv=False)
    for alpha in np.r_[0.5 * (sig[1:] + sig[:-1]), 0.5 * sig[-1]]:
        reg = ParallelDeepLinearRegressor(alpha=alpha).fit(X, Y)
        assert reg.rank_ == int(np.sum(sig > alpha))
        # the closed form: U (Sigma - alpha)_+ V^T / c
        assert_allclose(reg.singular_values_[:reg.rank_], (sig[sig > alpha] - alpha) / c,
                        rtol=1e-10)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_parallel_branches_recover_the_convex_solution(depth):
    X, Y = _whitened(noise=2.0)
    reg = ParallelDeepLinearRegressor(alpha=30.0, depth=depth).fit(X, Y)
    assert len(reg.branches_) == reg.rank_ >= 2
    W = sum(np.linalg.multi_dot(b) if len(b) > 2 else b[0] @ b[1] for b in reg.branches_)
    assert_allclose(W, reg.coef_.T, atol=1e-12)
    for b in reg.branches_:
        assert len(b) == depth
        norms = [np.linalg.norm(Wl) for Wl in b]
        assert_allclose(norms, norms[0], rtol=1e-12)  # balanced
    # the non-convex objective of the recovered network equals the convex optimum
    assert_allclose(reg.network_objective(X, Y), reg.objective_, rtol=1e-12)
    assert_allclose(reg.predict(X), X @ reg.coef_.T + reg.intercept_)


@pytest.mark.parametrize("solver", ["auto", "prox_grad"])
def test_parallel_general_data_matches_cvxpy(solver):
    X, Y = _general()
    W_ref, val = _nuclear_cvxpy(X, Y, 5.0)
    # prox_grad: 200 iterations (43,470 before the line search checked steps on the gradients
    # once the objective values agree to rounding)
    reg = ParallelDeepLinearRegressor(alpha=5.0, tol=1e-10, max_iter=2000,
                                      solver=solver).fit(X, Y)
    assert reg.solver_ == ("admm" if solver == "auto" else solver)
    assert_allclose(reg.coef_.T, W_ref, atol=1e-5)
    assert abs(reg.objective_ - val) <= 1e-8 * val
    assert 0 <= reg.duality_gap_ <= 1e-9 * reg.objective_
    # the dual point is feasible: ||X_c^T Lam||_2 <= alpha
    Xc = X - X.mean(axis=0)
    assert np.linalg.norm(Xc.T @ reg.dual_coef_, 2) <= 5.0 * (1 + 1e-12)


def test_scalar_threshold_matches_brute_force():
    # spec check p3_thresh.py: the depth-3 rule against a grid search
    tau, grid = 0.7, np.linspace(0, 4, 400001)
    for depth in [2, 3, 4]:
        sig = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
        s = schatten_threshold(sig, tau, depth)
        for si, sg in zip(s, sig):
            h = 0.5 * (grid - sg) ** 2 + tau * depth / 2 * grid ** (2 / depth)
            assert abs(si - grid[np.argmin(h)]) <= 2e-5
            hs = 0.5 * (si - sg) ** 2 + tau * depth / 2 * si ** (2 / depth)
            assert hs <= h.min() + 1e-12


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_standard_closed_form_is_the_global_minimizer(depth):
    X, Y = _whitened(noise=1.0)
    alpha = 15.0
    reg = DeepLinearRegressor(alpha=alpha, depth=depth).fit(X, Y)
    assert reg.solver_ == "closed_form"
    c = float(np.trace(X.T @ X)) / X.shape[1]
    sig = np.linalg.svd(X.T @ Y, compute_uv=False) / c
    s = schatten_threshold(sig, alpha / c, depth)
    assert reg.rank_ == int(np.sum(s > 0))
    assert_allclose(reg.singular_values_[:reg.rank_], s[s > 0], rtol=1e-10)
    # the balanced factors multiply to W and their weight decay equals the spectral penalty
    assert len(reg.layers_) == depth
    assert_allclose(np.linalg.multi_dot(reg.layers_) if depth > 2
                    else reg.layers_[0] @ reg.layers_[1], reg.coef_.T, atol=1e-12)
    assert_allclose(reg.network_objective(X, Y), reg.objective_, rtol=1e-10)
    # random perturbations of W never do better (global minimizer of the spectral program)
    from skconvex.problems.deep_linear import DeepLinearProblem

    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    prob = DeepLinearProblem(Xc, Yc, alpha, depth, parallel=False)
    rng = np.random.RandomState(0)
    for _ in range(50):
        W = reg.coef_.T + 0.05 * rng.randn(*reg.coef_.T.shape)
        assert prob.objective(W) >= reg.objective_ - 1e-9


def test_standard_rank_shrinks_with_depth():
    X, Y = _whitened(noise=1.0)
    ranks = [DeepLinearRegressor(alpha=15.0, depth=L).fit(X, Y).rank_ for L in [2, 3, 6]]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] > ranks[-1]


def test_duality_gap_interpolation_example():
    # W* = diag(3, 1), L = 3: P = 1.5 (3^{2/3} + 1), D = 1.5 * 4^{2/3}, gap 0.84
    P, D = interpolation_values(np.diag([3.0, 1.0]), 3)
    assert_allclose([P, D], [1.5 * (3 ** (2 / 3) + 1), 1.5 * 4 ** (2 / 3)], rtol=1e-14)
    X, Y = np.eye(2), np.diag([3.0, 1.0])
    reg = DeepLinearRegressor(alpha=1e-7, depth=3, fit_intercept=False).fit(X, Y)
    assert_allclose(reg.duality_gap_ / 1e-7, P - D, rtol=1e-5)
    assert_allclose(reg.dual_value_ / 1e-7, D, rtol=1e-5)
    # the parallel network has no gap on the same data
    par = ParallelDeepLinearRegressor(alpha=1e-7, depth=3, fit_intercept=False).fit(X, Y)
    assert par.duality_gap_ <= 1e-8 * par.objective_


def test_duality_gap_zero_for_depth_two_and_scalar_output_positive_and_growing_else():
    X, Y = _whitened(noise=1.0)
    gaps = {}
    for L in [2, 3, 4, 6]:
        reg = DeepLinearRegressor(alpha=15.0, depth=L).fit(X, Y)
        assert reg.dual_value_ <= reg.dual_value_upper_ + 1e-12 if L > 2 else True
        gaps[L] = reg.duality_gap_ / reg.objective_
    assert gaps[2] <= 1e-10
    assert 1e-3 < gaps[3] < gaps[4] < gaps[6]
    for L in [3, 5]:  # scalar output: rank 1, no gap
        reg = DeepLinearRegressor(alpha=15.0, depth=L).fit(X, Y[:, 0])
        assert reg.coef_.shape == (X.shape[1],)
        assert reg.duality_gap_ <= 1e-7 * reg.objective_
        assert reg.dual_value_upper_ - reg.dual_value_ <= 1e-7 * reg.objective_


def test_dual_value_is_the_lagrangian_dual():
    # D = min_t [(beta (L-1)/2) t^2 + D(t)], D(t) = max_Lam <Lam,Y> - |Lam|^2/2
    # - t^{2(L-1)}/(2 beta) ||X^T Lam||_2^2 (the saddle form): dual_value_ <= it at every t,
    # and the fitted dual_value_ is close to the minimum over a grid
    X, Y = _general(n=15, d=3, K=2)
    beta, L = 2.0, 3
    reg = DeepLinearRegressor(alpha=beta, depth=L).fit(X, Y)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    vals = []
    for t in [0.8, 1.1, 1.4, 1.8]:
        Lam = cp.Variable(Yc.shape)
        a = t ** (2 * (L - 1)) / beta
        p = cp.Problem(cp.Maximize(cp.sum(cp.multiply(Lam, Yc)) - 0.5 * cp.sum_squares(Lam)
                                   - a / 2 * cp.square(cp.sigma_max(Xc.T @ Lam))))
        p.solve(solver=cp.CLARABEL)
        vals.append(beta * (L - 1) / 2 * t * t + p.value)
    assert reg.dual_value_ <= min(vals) + 1e-6
    assert reg.dual_value_ >= min(vals) - 0.05 * abs(min(vals))
    assert reg.dual_value_ <= reg.dual_value_upper_ <= reg.primal_value_


def _gd_standard(X, Y, alpha, depth, seed, steps=6000, lr=2e-3):
    rng = np.random.RandomState(seed)
    d, K = X.shape[1], Y.shape[1]
    widths = [d] + [4] * (depth - 1) + [K]
    Ws = [0.5 * rng.randn(widths[i], widths[i + 1]) for i in range(depth)]
    for _ in range(steps):
        prods = [np.eye(d)]
        for Wl in Ws:
            prods.append(prods[-1] @ Wl)
        G = X.T @ (X @ prods[-1] - Y)  # gradient wrt the end-to-end map
        grads = []
        right = np.eye(K)
        for l in range(depth - 1, -1, -1):
            grads.append(prods[l].T @ G @ right.T + alpha * Ws[l])
            right = Ws[l] @ right
        grads.reverse()
        Ws = [Wl - lr * g for Wl, g in zip(Ws, grads)]
    W = np.linalg.multi_dot(Ws)
    return 0.5 * np.sum((X @ W - Y) ** 2) + 0.5 * alpha * sum(np.sum(Wl ** 2) for Wl in Ws)


def test_gradient_descent_never_below_the_closed_form():
    rng = np.random.RandomState(0)
    X = np.linalg.qr(rng.randn(20, 3))[0]  # X^T X = I
    Y = X @ np.diag([3.0, 2.0, 0.3]) @ rng.randn(3, 3) + 0.05 * rng.randn(20, 3)
    reg = DeepLinearRegressor(alpha=0.5, depth=3, fit_intercept=False).fit(X, Y)
    vals = [_gd_standard(X, Y, 0.5, 3, seed, lr=0.05, steps=3000) for seed in range(4)]
    assert min(vals) >= reg.objective_ - 1e-9
    assert min(vals) <= reg.objective_ * (1 + 1e-4)  # GD does reach it from some start
    assert reg.dual_value_ < reg.objective_ - 1e-3  # and the dual is strictly below


def test_standard_general_data_prox_grad():
    X, Y = _general()
    reg = DeepLinearRegressor(alpha=5.0, depth=3).fit(X, Y)
    assert reg.solver_ == "prox_grad"
    assert reg.dual_value_ <= reg.dual_value_upper_ <= reg.primal_value_
    assert_allclose(reg.network_objective(X, Y), reg.objective_, rtol=1e-9)
    # depth 2 is the nuclear-norm program: equals the parallel fit
    two = DeepLinearRegressor(alpha=5.0, depth=2, tol=1e-10, max_iter=20000).fit(X, Y)
    par = ParallelDeepLinearRegressor(alpha=5.0, tol=1e-10, max_iter=20000).fit(X, Y)
    assert_allclose(two.coef_, par.coef_, atol=1e-6)


def test_bad_input():
    X, Y = _general()
    with pytest.raises(ValueError, match="whitened"):
        ParallelDeepLinearRegressor(solver="closed_form").fit(X, Y)
    with pytest.raises(ValueError, match="non-convex"):
        DeepLinearRegressor(depth=3, solver="cvxpy").fit(X, Y)
    with pytest.raises(InvalidParameterError, match="depth"):
        DeepLinearRegressor(depth=1).fit(X, Y)
    with pytest.raises(InvalidParameterError, match="alpha"):
        ParallelDeepLinearRegressor(alpha=0.0).fit(X, Y)
    with pytest.raises(ValueError, match="NaN"):
        ParallelDeepLinearRegressor().fit(np.full_like(X, np.nan), Y)
    # numeric text targets are numbers, as for Ridge (was a TypeError inside np.average)
    for Est in (ParallelDeepLinearRegressor, DeepLinearRegressor):
        assert_allclose(Est().fit(X, Y.astype(str)).predict(X), Est().fit(X, Y).predict(X),
                        rtol=1e-10, atol=1e-12)
    reg = ParallelDeepLinearRegressor().fit(X, Y)
    with pytest.raises(ValueError, match="features"):
        reg.predict(X[:, :2])


def test_default_fit_converges_on_diabetes():
    """The default budget covers a standard data set: depth 3 on scikit-learn's diabetes
    needs 1,193 proximal-gradient steps (the default was 1,000 and warned)."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = DeepLinearRegressor().fit(X, y)
    assert 1000 < reg.n_iter_ < reg.max_iter


def test_standard_network_on_near_duplicate_columns():
    """The non-convex prox-gradient starts from the ridge solution with the layers' weight
    decay: from the unregularized least squares (coefficients of 1e7 on a near-duplicate
    column) its relative move test stopped after one step, 8000 times above a feasible point."""
    rng = np.random.RandomState(0)
    X = rng.randn(120, 3)
    y = X @ [1.0, -0.5, 0.3] + 0.5 * rng.randn(120)
    ref = DeepLinearRegressor(alpha=1.0, depth=3).fit(X, y)
    Xd = np.column_stack([X, X[:, 0] + 1e-9 * rng.randn(120)])
    est = DeepLinearRegressor(alpha=1.0, depth=3).fit(Xd, y)
    # a feasible point: the 3-column network with a zero weight on the copy
    assert est.objective_ <= ref.objective_ * (1 + 1e-6)
    assert np.abs(est.coef_).max() < 2.0
    # the same network as with an exact copy (the column's weight split between the two)
    exact = DeepLinearRegressor(alpha=1.0, depth=3).fit(np.column_stack([X, X[:, 0]]), y)
    assert_allclose(est.objective_, exact.objective_, rtol=1e-6)
    assert_allclose(est.predict(Xd), exact.predict(Xd), atol=1e-4)


def test_standard_network_warning_names_its_stopping_rule():
    """The non-convex prox-gradient stops on its relative step; its ConvergenceWarning quotes
    the step (it quoted the duality gap, which the non-convex program keeps at its optimum)."""
    from sklearn.datasets import make_regression


    X, y = make_regression(300, 5, noise=5.0, random_state=0)
    Y = np.column_stack([y, X[:, 0] * 3 + 1, y - X[:, 1]])
    with pytest.warns(ConvergenceWarning, match="relative step of .* above tol"):
        DeepLinearRegressor(alpha=500.0, max_iter=1).fit(X, Y)


@pytest.mark.parametrize("spread", [1e3, 1e4, 1e6])
def test_parallel_with_features_on_scales_far_apart(spread):
    # proximal gradient takes steps of 1 / ||X||_2^2: with column scales 1 to 1e3 it stopped
    # at max_iter=5000 with a relative gap of 2e-2 (1e4: 0.83, R2 0.82 against 0.97); ADMM's
    # least-squares step is exact
    rng = np.random.RandomState(0)
    X = rng.randn(300, 6) * np.logspace(0, np.log10(spread), 6)
    Y = (X / np.logspace(0, np.log10(spread), 6)) @ rng.randn(6, 3) + 0.5 * rng.randn(300, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ParallelDeepLinearRegressor(alpha=10.0, tol=1e-9).fit(X, Y)
    assert reg.solver_ == "admm"
    assert 0 <= reg.duality_gap_ <= 1e-9 * reg.objective_
    with warnings.catch_warnings():  # ("Solution may be inaccurate" at 1e6: the reference's)
        warnings.simplefilter("ignore", UserWarning)
        W_ref, val = _nuclear_cvxpy(X, Y, 10.0)
    assert reg.objective_ <= val * (1 + 1e-9)
    assert_allclose(reg.objective_, val, rtol=1e-8)
    if spread <= 1e4:  # (Clarabel's own accuracy on the coefficients of the largest column)
        assert_allclose(reg.coef_.T, W_ref, rtol=1e-5, atol=1e-8 / spread)
    # the non-convex network recovered from it has the same objective
    assert_allclose(reg.network_objective(X, Y), reg.objective_, rtol=1e-10)


@pytest.mark.parametrize("factor", [1e-4, 0.2])
def test_parallel_small_and_large_penalty_on_scaled_features(factor):
    # features on scales 1 to 1e3: with a small penalty FISTA stalled (5000 steps, gap 4e-4)
    # where ADMM takes 60 iterations; with a large one ADMM alone stalled (5000, gap 7e-4)
    # where FISTA takes 40: ADMM hands over to FISTA after 200 iterations
    rng = np.random.RandomState(5)
    n, d, K = 1000, 40, 4
    sc = 10 ** rng.uniform(0, 3, d)
    X = rng.randn(n, d) * sc
    Y = X @ (rng.randn(d, 2) / sc[:, None]) @ rng.randn(2, K) + 10 * rng.randn(n, K)
    s0 = np.linalg.norm((X - X.mean(0)).T @ (Y - Y.mean(0)), 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ParallelDeepLinearRegressor(alpha=factor * s0).fit(X, Y)
    assert reg.solver_ == "admm"
    assert reg.n_iter_ < 1000
    _, val = _nuclear_cvxpy(X, Y, factor * s0)
    assert_allclose(reg.objective_, val, rtol=1e-6)
