"""Quantized (binary first layer) polynomial-activation networks trained by an SDP relaxation."""

import time
import warnings
from numbers import Integral, Real

import cvxpy as cp
import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex._linalg import weighted_moments
from skconvex.base import ConvexEstimator
from skconvex.neural_network._classifier import NetworkClassifierMixin
from skconvex.neural_network._regressor import _program_alpha, _target_scale, y_scale_doc
from skconvex.problems.quantized_sdp import (
    QuantizedSDPProblem,
    activation_coefs,
    elliptope_max,
    factor_rows,
    polynomial,
)
from skconvex.solvers.burer_monteiro import default_rank, solve_burer_monteiro
from skconvex.solvers.cvxpy_backend import solve_cvxpy


def _low_rank_start(problem, w, rank):
    """``(t, R, c0)``, the warm start of :func:`solve_burer_monteiro` at the packed blocks
    ``w``: the traces, unit-row factors of the normalized blocks ``Z_j / t_j`` (random unit
    rows for an empty block) and the intercepts."""
    Zs, c0 = problem.unpack(w)
    t = np.maximum(problem.traces(Zs), 0.0)
    r = default_rank(problem.N) if rank is None else int(min(rank, problem.N))
    rng = np.random.default_rng(0)
    R = np.empty((problem.n_blocks, problem.N, r))
    for j in range(problem.n_blocks):
        if t[j] > 0:
            R[j] = factor_rows(Zs[j] / t[j], r)
        else:
            R[j] = rng.standard_normal((problem.N, r))
            R[j] /= np.linalg.norm(R[j], axis=1, keepdims=True)
    return t, R, np.asarray(c0, dtype=np.float64)


def _solve_cvxpy(problem, *, cvxpy_solver="CLARABEL", **kwargs):
    """The interior-point reference; falls back to the low-rank solver (with a warning) when
    the conic solver fails. An interior point's solution certifies the gap only to its own
    accuracy (its primal blocks are accurate to about the square root of its tolerance: on
    scikit-learn's 3-class blob check data the dual point is 3e-5 infeasible and the
    certified relative gap 2.7e-5, for Clarabel tolerances 1e-8 and 1e-10 alike); a solution
    whose certificate misses ``tol`` is polished by the low-rank method warm-started from it
    (there: 1.4e-8 in about 60 L-BFGS iterations), and the better certificate is kept."""
    rank = kwargs.pop("rank", None)
    try:
        with warnings.catch_warnings():
            # the certificate is recomputed from the solution: the bound stays valid
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            tol = min(kwargs.get("tol", 1e-8), 1e-8) if cvxpy_solver == "CLARABEL" else \
                kwargs.get("tol", 1e-5)
            result = solve_cvxpy(problem, **{**kwargs, "tol": tol}, cvxpy_solver=cvxpy_solver)
        # converged means: the certificate recomputed from the solution meets the tolerance
        user_tol = kwargs.get("tol", 1e-5)
        result.converged = result.duality_gap <= user_tol * max(abs(result.objective), 1e-300)
        if not result.converged:
            polished = solve_burer_monteiro(
                problem, **{**kwargs, "rank": rank,
                            "warm_start": _low_rank_start(problem, result.w, rank)})
            if polished.duality_gap < result.duality_gap:
                polished.n_iter += result.n_iter
                result = polished
        return result
    except (cp.error.SolverError, RuntimeError):
        warnings.warn(f"the conic solver {cvxpy_solver} failed on this program; solving it by "
                      "the low-rank (Burer-Monteiro) method instead", RuntimeWarning,
                      stacklevel=2)
        result = solve_burer_monteiro(problem, **kwargs)
        result.info["solver"] = "burer_monteiro"  # what the fit reports in solver_
        return result


# solver="auto": the interior point up to this many features (squared loss, other losses)
# and samples. Regression optima can need a high rank, which the low-rank solver reaches by
# doubling: quadratic targets, n=500, d=30: Clarabel 5.8 s, low rank 14.1 s; n=2000, d=30:
# 16.5 s against 32.6 s. Classification (exponential cones in the interior point): breast
# cancer, d=30: 2.5 s against 0.13 s
_CVXPY_MAX_FEATURES, _CVXPY_MAX_FEATURES_CLASSIFY, _CVXPY_MAX_SAMPLES = 30, 10, 2000

# column generation after the refit: rounds, and draws per block and round
_CG_ROUNDS, _CG_DRAWS = 8, 30


def round_neurons(Zhat, n_samples, rng, method="grothendieck"):
    """Binary neurons drawn from a block of the relaxation.

    ``Zhat`` is the block divided by its trace (unit diagonal, ``(d+1) x (d+1)``). Grothendieck
    rounding factors ``S = sin(pi/2 Zhat)`` (projected to the nearest correlation matrix when it
    is not PSD: negative eigenvalues clipped, diagonal rescaled to one), draws
    ``v = sign(V g)`` with ``g ~ N(0, I)`` (``sign(0) = +1``), so that ``E[v v^T] = Zhat`` when
    ``S`` is PSD; Goemans-Williamson rounding factors ``Zhat`` itself
    (``E[v v^T] = 2/pi arcsin(Zhat)``). Returns ``U`` of shape ``(d, n_samples)`` with entries
    in {-1, +1}: ``u = v[:d] v[d]`` (the lifted vector ``[u; 1]`` has last entry ``+1``).
    """
    S = np.sin(0.5 * np.pi * Zhat) if method == "grothendieck" else Zhat
    S = (S + S.T) / 2
    w, V = np.linalg.eigh(S)
    F = V * np.sqrt(np.maximum(w, 0.0))
    nrm = np.linalg.norm(F, axis=1, keepdims=True)
    F = F / np.where(nrm > 0, nrm, 1.0)
    g = rng.standard_normal((F.shape[1], n_samples))
    v = np.sign(F @ g)
    v[v == 0] = 1.0
    return v[:-1] * v[-1]


def grothendieck_min_eig(Zhat):
    """``lambda_min(sin(pi/2 Zhat))``: when >= 0, ``Zhat`` lies in the cut polytope (the block
    is exactly a mixture of binary neurons, Grothendieck's identity)."""
    S = np.sin(0.5 * np.pi * Zhat)
    return float(np.linalg.eigvalsh((S + S.T) / 2)[0])


def _one_flip_ascent(G, V, max_passes=None):
    """Greedy single-bit flips raising ``v^T G v`` for every column of ``V`` (entries +-1)
    until no flip helps. Returns ``(V, values)``."""
    V = V.copy()
    N, m = V.shape
    GV = G @ V
    diag = np.diag(G)[:, None]
    cols = np.arange(m)
    for _ in range(max_passes or 4 * N):
        # flipping v_i changes v^T G v by -4 v_i (G v - G_ii v)_i
        gain = -4.0 * V * (GV - diag * V)
        i = np.argmax(gain, axis=0)
        better = gain[i, cols] > 1e-12 * (1.0 + np.abs(np.sum(V * GV, axis=0)))
        if not better.any():
            break
        idx, ci = i[better], cols[better]
        old = V[idx, ci].copy()
        V[idx, ci] = -old
        GV[:, ci] -= 2.0 * G[:, idx] * old
    return V, np.sum(V * GV, axis=0)


class _Lasso:
    """``min f(F A(a) + c) + alpha ||a||_1`` over output weights ``a`` of fixed neurons: ``F``
    (n, M) features, neuron ``j`` feeding output ``out[j]``, ``f`` a weighted-mean loss."""

    def __init__(self, F, out, loss, s, alpha, K, fit_intercept):
        self.F, self.out, self.loss, self.s = F, out, loss, s
        self.alpha, self.K, self.fit_intercept = alpha, K, fit_intercept
        self.M = F.shape[1]
        # each neuron feeds one output: the features grouped by output, one product per
        # output (a dense (M, K) weight matrix did K times the work)
        self._groups = [np.flatnonzero(out == k) for k in range(K)]
        self._Fk = [F if idx.size == self.M else np.ascontiguousarray(F[:, idx])
                    for idx in self._groups]
        self._lipschitz = None
        self._polish_failed = False

    def scores(self, a, c):
        Z = np.empty((self.n, self.K))
        for k, (idx, Fk) in enumerate(zip(self._groups, self._Fk)):
            Z[:, k] = Fk @ a[idx] if idx.size else 0.0
        return Z + c

    def grad_a(self, g):
        out = np.empty(self.M)
        for k, (idx, Fk) in enumerate(zip(self._groups, self._Fk)):
            if idx.size:
                out[idx] = Fk.T @ g[:, k]
        return out

    def lipschitz(self):
        """Lipschitz constant of the gradient of the smooth part (in ``(a, c)``): the top
        eigenvalue of the weighted Gram of ``[F, 1]``, from its smaller side, once."""
        if self._lipschitz is None:
            Fc = self.F * np.sqrt(self.s)[:, None]
            if self.fit_intercept:
                Fc = np.column_stack([Fc, np.sqrt(self.s)])
            curv = {"squared": 1.0, "logistic": 0.25, "cross_entropy": 0.5}[self.loss.name]
            if not Fc.size:
                top = 1.0
            else:
                G = Fc @ Fc.T if Fc.shape[0] < Fc.shape[1] else Fc.T @ Fc
                top = float(np.linalg.eigvalsh(G)[-1])
            self._lipschitz = max(curv * top, 1e-300) * (2.0 if self.K > 1 else 1.0)
        return self._lipschitz

    def objective(self, a, c):
        return self.loss.value(self.scores(a, c)) + self.alpha * float(np.sum(np.abs(a)))

    def intercept(self, a, c):
        if not self.fit_intercept:
            return np.zeros(self.K)
        Z0 = self.scores(a, np.zeros(self.K))
        if self.loss.name == "squared":
            return self.loss.intercept(Z0)
        c_new = self.loss.intercept(Z0, c)
        # plain Newton on the intercept can overshoot on near-separable scores: keep the
        # starting point when it is better
        if c is not None and not (np.all(np.isfinite(c_new)) and
                                  self.loss.value(Z0 + c_new) <= self.loss.value(Z0 + c)):
            return np.asarray(c, dtype=np.float64)
        return c_new

    def gap(self, a, c):
        """Objective minus a dual lower bound (``Lam = -t grad f`` at the optimal intercept)."""
        c = self.intercept(a, c)
        Z = self.scores(a, c)
        obj = self.loss.value(Z) + self.alpha * float(np.sum(np.abs(a)))
        Lam = -self.loss.grad(Z)
        worst = float(np.max(np.abs(self.grad_a(-Lam)))) if self.M else 0.0
        t_max = self.alpha / worst if worst > 0 else 1e300
        if self.loss.name != "squared":
            t_max = min(1.0, t_max)
        t = self.loss.dual_scale(Lam, t_max)
        return obj, max(obj - self.loss.dual_value(t * Lam), 0.0), c

    def fista(self, a, c, tol=1e-8, max_iter=2000):
        step = 1.0 / self.lipschitz()
        c = self.intercept(a, c)
        ya, yc, tk = a.copy(), c.copy(), 1.0
        for it in range(max_iter):
            g = self.loss.grad(self.scores(ya, yc))
            za = ya - step * self.grad_a(g)
            a_new = np.sign(za) * np.maximum(np.abs(za) - step * self.alpha, 0.0)
            c_new = yc - step * np.sum(g, axis=0) if self.fit_intercept else yc
            # gradient-based restart of the momentum (O'Donoghue & Candes)
            if float((ya - a_new) @ (a_new - a) + (yc - c_new) @ (c_new - c)) > 0:
                tk = 1.0
            t_new = 0.5 * (1 + np.sqrt(1 + 4 * tk * tk))
            mom = (tk - 1) / t_new
            ya, yc = a_new + mom * (a_new - a), c_new + mom * (c_new - c)
            a, c, tk = a_new, c_new, t_new
            if it % 50 == 49:
                obj, gap, c = self.gap(a, c)
                ya, yc, tk = a.copy(), c.copy(), 1.0
                if gap <= tol * max(abs(obj), 1e-300):
                    break
        return a, self.intercept(a, c)

    def solve(self, a, c, tol=1e-7, n_rounds=5, round_iter=200):
        """Rounds of proximal-gradient steps (they find the support) and Newton's method on
        the support (it finds the weights), until the relative duality gap is below ``tol``."""
        for _ in range(n_rounds):
            a, c = self.fista(a, c, tol=tol, max_iter=round_iter)
            a, c = self.newton_polish(a, c)
            obj, gap, c = self.gap(a, c)
            if gap <= tol * max(abs(obj), 1e-300):
                break
        return a, c

    def newton_polish(self, a, c, n_steps=30):
        """Newton's method on the support with the signs fixed (machine-precision weights when
        the support is right); kept only when it lowers the objective and keeps the signs.

        It stops at the first Newton step that would take a weight across zero (the support
        is then not the optimum's): with the signs fixed the l1 term is linear, so such steps
        ran off to objectives of 1e6, and the polish was rejected on every call while costing
        70-87 % of a fit. With at least as many weights as samples the Hessian is singular
        and the polish is skipped; after a rejected polish the next calls of this program
        are too."""
        S = np.flatnonzero(a)
        if S.size == 0:
            return a, self.intercept(a, c)
        if self._polish_failed or S.size >= self.n:
            return a, c
        sgn = np.sign(a[S])
        Fv, o, K = self.F[:, S], self.out[S], self.K
        p = S.size + (K if self.fit_intercept else 0)
        if p > 2000:
            return a, c
        x = np.concatenate([a[S], c if self.fit_intercept else []])

        def unpackx(x):
            aa = a.copy()
            aa[S] = x[:S.size]
            cc = x[S.size:] if self.fit_intercept else np.zeros(K)
            return aa, cc

        def phi(x):
            aa, cc = unpackx(x)
            return self.loss.value(self.scores(aa, cc)) + self.alpha * float(sgn @ x[:S.size])

        f = phi(x)
        for _ in range(n_steps):
            aa, cc = unpackx(x)
            Z = self.scores(aa, cc)
            g = self.loss.grad(Z)
            grad = [np.einsum("ij,ij->j", Fv, g[:, o]) + self.alpha * sgn]
            if self.fit_intercept:
                grad.append(np.sum(g, axis=0))
            grad = np.concatenate(grad)
            H = self.loss.hessian_rows(Z)  # (n, K, K)
            Jv = np.column_stack([Fv, np.ones((self.n, K))]) if self.fit_intercept else Fv
            jo = np.concatenate([o, np.arange(K)]) if self.fit_intercept else o
            Hs = np.empty((p, p))
            for k in range(K):
                Pk = jo == k
                for l in range(K):
                    Pl = jo == l
                    Hs[np.ix_(Pk, Pl)] = (Jv[:, Pk] * H[:, k, l][:, None]).T @ Jv[:, Pl]
            Hs += 1e-12 * np.trace(Hs) / p * np.eye(p)
            try:
                dx = np.linalg.solve(Hs, grad)
            except np.linalg.LinAlgError:
                break
            # a full step that would take a weight across zero: the support is not the
            # optimum's, where this polish has nothing to give (the proximal-gradient rounds
            # move weights to zero): stop here
            toward = sgn * dx[:S.size] > 0  # |a_i| shrinks along -dx
            if toward.any() and np.any(x[:S.size][toward] / dx[:S.size][toward] < 1.0):
                break
            t = 1.0
            while t > 1e-10:
                f_new = phi(x - t * dx)
                if f_new <= f - 1e-4 * t * float(grad @ dx):
                    break
                t *= 0.5
            if t <= 1e-10:
                break
            x = x - t * dx
            f = f_new
            if np.max(np.abs(t * dx)) <= 1e-14 * (1 + np.max(np.abs(x))):
                break
        aa, cc = unpackx(x)
        if np.all(np.sign(aa[S]) == sgn) and self.objective(aa, cc) <= self.objective(a, c):
            return aa, cc
        self._polish_failed = True
        return a, c

    @property
    def n(self):
        return self.F.shape[0]


class _BaseQuantizedPolyNet(ConvexEstimator):
    """Shared machinery of the quantized polynomial-activation networks.

    Preprocessing: the first layer sees ``x~ = (x - mean) / (std * sqrt(n_features))`` (weighted
    mean and standard deviation; constant features get ``std = 1``), so that a binary neuron's
    pre-activation ``x~ . u`` is of order one. The network is
    ``f(x) = sum_j a_j sigma(x~ . u_j) + c0`` with ``u_j`` in {-1, +1}^d; ``coefs_[0]`` holds the
    ``u_j`` exactly, and the affine input normalization is stored in ``input_mean_`` and
    ``input_scale_`` (a fixed per-feature scaling, as a batch-norm layer folded into the input).
    """

    _solvers = {"cvxpy": _solve_cvxpy, "burer_monteiro": solve_burer_monteiro}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "n_neurons": [Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"quadratic", "relu_approx"}), "array-like"],
        "levels": [StrOptions({"binary"})],
        "rounding": [StrOptions({"grothendieck", "gw"})],
        "refit_second_layer": ["boolean"],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "cvxpy", "burer_monteiro"})],
        "cvxpy_solver": [StrOptions({"CLARABEL", "SCS"})],
        "rank": [Interval(Integral, 1, None, closed="left"), None],
    }

    def _auto_solver(self, problem):
        max_d = _CVXPY_MAX_FEATURES if problem.loss_name == "squared" else \
            _CVXPY_MAX_FEATURES_CLASSIFY
        if problem.d <= max_d and problem.n <= _CVXPY_MAX_SAMPLES:
            return "cvxpy"
        return "burer_monteiro"

    def _solver_kwargs(self, solver, problem):
        if solver == "cvxpy":
            return {"cvxpy_solver": self.cvxpy_solver}
        return {"rank": self.rank}

    def _run_solver(self, problem, **extra):
        t0 = time.perf_counter()
        out = super()._run_solver(problem, **extra)
        self.sdp_time_ = time.perf_counter() - t0
        return out

    # -- preprocessing -------------------------------------------------------------------
    def _build(self, X, Y, sample_weight, loss):
        coefs = activation_coefs(self.activation)
        s = None if sample_weight is None else sample_weight
        if s is not None and not np.any(s > 0):
            raise ValueError("sample_weight has no positive entry: nothing to fit")
        mean, scale = weighted_moments(X, s)
        scale = scale * np.sqrt(X.shape[1])
        Xt = (X - mean) / scale
        # the regressor's program is solved on targets divided by y_scale_ (regularization
        # alpha): its interior-point and low-rank solvers have absolute tolerances, which
        # failed on targets far from unit scale (relative gaps of 0.4 to 1 at y * 1e-7 and
        # y * 1e10); fit() maps the results back to the units of y
        unit = self._y_unit = getattr(self, "y_scale_", 1.0) if loss == "squared" else 1.0
        problem = QuantizedSDPProblem(Xt, Y / unit, _program_alpha(self) / unit, coefs, loss,
                                      sample_weight=sample_weight,
                                      fit_intercept=self.fit_intercept)
        problem.mean_, problem.scale_ = mean, scale
        return problem

    # -- recovery ------------------------------------------------------------------------
    def _set_fitted(self, result, problem):
        rng = check_random_state(self.random_state)
        Zs, c_sdp = problem.unpack(result.w)
        t = problem.traces(Zs)
        d, K = problem.d, problem.K
        coefs = problem.coefs
        tmax = float(np.max(t)) if t.size else 0.0
        active = np.flatnonzero(t > 1e-9 * max(tmax, 1e-300)) if tmax > 0 else np.array([], int)
        U_list, out_list, a_list = [], [], []
        min_eig = np.inf
        for j in active:
            Zhat = Zs[j] / t[j]
            min_eig = min(min_eig, grothendieck_min_eig(Zhat))
            U = round_neurons(Zhat, self.n_neurons, rng, self.rounding)
            U_list.append(U)
            out_list.append(np.full(U.shape[1], problem.block_output[j]))
            a_list.append(np.full(U.shape[1], problem.block_sign[j] * t[j] / self.n_neurons))
        if U_list:
            U = np.hstack(U_list)
            out = np.concatenate(out_list)
            a = np.concatenate(a_list)
            if coefs[1] == 0.0:
                # sigma(x.u) = sigma(-x.u) when the activation is even: one sign per pair
                U = U * np.where(U[0] < 0, -1.0, 1.0)
            # merge repeated neurons (same output): their weights add up
            keys = np.column_stack([out, U.T])
            uniq, inv = np.unique(keys, axis=0, return_inverse=True)
            inv = inv.ravel()
            a = np.bincount(inv, weights=a, minlength=uniq.shape[0])
            out = uniq[:, 0].astype(np.intp)
            U = np.ascontiguousarray(uniq[:, 1:].T)
        else:
            U, out, a = np.zeros((d, 0)), np.zeros(0, dtype=np.intp), np.zeros(0)
        lasso = _Lasso(problem.features(U), out, problem.loss, problem.s, problem.alpha, K,
                       problem.fit_intercept)
        c = lasso.intercept(a, np.array(c_sdp, dtype=np.float64))
        if self.refit_second_layer and U.shape[1] > 0:
            a0 = a if lasso.objective(a, c) <= lasso.objective(np.zeros_like(a), c) else 0 * a
            a, c = lasso.solve(a0, c)
            U, out, a, c, lasso = self._column_generation(problem, U, out, a, c, rng)
        net_objective = lasso.objective(a, c)
        keep = a != 0
        U, out, a = U[:, keep], out[keep], a[keep]
        h = U.shape[1]
        W2 = np.zeros((h, K))
        W2[np.arange(h), out] = a
        self.coefs_ = [U, W2]
        # (the program's intercept is relative to its targets' mean)
        self.intercepts_ = [np.zeros(h), np.asarray(c, dtype=np.float64) + problem.y_offset]
        self.input_mean_, self.input_scale_ = problem.mean_, problem.scale_
        self.activation_coefs_ = coefs
        self.n_hidden_ = int(h)
        self.sdp_value_ = float(result.dual_bound)
        self.sdp_objective_ = float(result.objective)
        self._net_objective = net_objective
        self.optimality_gap_ = max(self._net_objective - self.sdp_value_, 0.0)
        self.grothendieck_min_eig_ = float(min_eig) if np.isfinite(min_eig) else 0.0
        # exact relaxation: Grothendieck's test on every block, or a quantized network that
        # attains the certified lower bound
        self.is_tight_ = bool(self.grothendieck_min_eig_ >= -1e-6 or self.optimality_gap_ <=
                              max(self.tol, 1e-6) * max(abs(self._net_objective), 1e-300))
        self.sdp_traces_ = t

    def _column_generation(self, problem, U, out, a, c, rng, n_rounds=_CG_ROUNDS,
                           n_draws=_CG_DRAWS):
        """Add binary neurons that violate the refitted lasso's dual constraint and refit.

        A neuron ``u`` can lower the objective of the refitted output layer exactly when
        ``|sum_i Lam_i sigma(x_i . u)| > alpha`` (``Lam = -grad f``): a max-cut problem in
        ``[u; 1]`` (the quadratic form ``G_k(Lam)`` of the relaxation). Candidates are drawn by
        Goemans-Williamson rounding of its elliptope maximizer and improved by single-bit
        flips; the violating ones join the lasso. Each round can only lower the objective.
        """
        K = problem.K
        lasso = _Lasso(problem.features(U), out, problem.loss, problem.s, problem.alpha, K,
                       problem.fit_intercept)
        for _ in range(n_rounds):
            Z = lasso.scores(a, c)
            Lam = -problem.loss.grad(Z)
            G = problem.adjoint(Lam)
            new_U, new_out = [], []
            for j in range(problem.n_blocks):
                Gj = problem.block_sign[j] * G[problem.block_output[j]]
                ub, _, R = elliptope_max(Gj, random_state=int(rng.randint(2**31 - 1)))
                if ub <= problem.alpha * (1 + 1e-9):
                    continue  # no binary neuron of this block can violate its constraint
                V = np.sign(R @ rng.standard_normal((R.shape[1], n_draws)))
                V[V == 0] = 1.0
                V, vals = _one_flip_ascent(Gj, V)
                Vj = V[:, vals > problem.alpha * (1 + 1e-9)]
                if Vj.shape[1]:
                    new_U.append(Vj[:-1] * Vj[-1])
                    new_out.append(np.full(Vj.shape[1], problem.block_output[j]))
            if not new_U:
                break
            U2 = np.hstack([U] + new_U)
            out2 = np.concatenate([out] + new_out)
            keys = np.column_stack([out2, U2.T])
            _, first = np.unique(keys, axis=0, return_index=True)
            first = np.sort(first)
            first = first[first >= U.shape[1]]
            if first.size == 0:
                break
            U = np.hstack([U, U2[:, first]])
            out = np.concatenate([out, out2[first]])
            a = np.concatenate([a, np.zeros(first.size)])
            lasso = _Lasso(problem.features(U), out, problem.loss, problem.s, problem.alpha,
                           K, problem.fit_intercept)
            f_old = lasso.objective(a, c)
            a2, c2 = lasso.solve(a, c)
            f_new = lasso.objective(a2, c2)
            if f_new > f_old:
                break
            a, c = a2, c2
            if f_old - f_new <= 1e-5 * abs(f_new):
                break  # the new neurons barely help: stop
            # the columns that stayed at zero are dropped (they can return in a later round)
            keep = a != 0
            U, out, a = U[:, keep], out[keep], a[keep]
            lasso = _Lasso(problem.features(U), out, problem.loss, problem.s, problem.alpha,
                           K, problem.fit_intercept)
        return U, out, a, c, lasso

    def fit(self, X, y, sample_weight=None):
        """Solve the SDP relaxation, round it to binary neurons and refit the output layer.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        super().fit(X, y, sample_weight)
        # back to the units of y: outputs times the unit, objectives times its square
        u = self._y_unit
        self.coefs_[1] = self.coefs_[1] * u
        self.intercepts_[1] = self.intercepts_[1] * u
        self.sdp_traces_ = self.sdp_traces_ * u
        for name in ("sdp_value_", "sdp_objective_", "optimality_gap_", "duality_gap_"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name) * u * u)
        self._net_objective *= u * u
        self.objective_ = float(self._net_objective)
        return self

    def _hidden(self, X):
        Xt = (X - self.input_mean_) / self.input_scale_
        return polynomial(Xt @ self.coefs_[0], self.activation_coefs_)

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._hidden(X) @ self.coefs_[1] + self.intercepts_[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


_PARAMS_DOC = """
    Parameters
    ----------
    alpha : float, default=1e-2
        Weight of the l1 penalty ``sum_j |a_j|`` on the output weights (relative to the mean
        loss; for the regressor, of the targets divided by their standard deviation: its
        program's regularization is ``alpha * y_scale_``). The binary neurons have fixed norm
        ``||u_j||^2 = n_features``, so this is the whole regularization.
    n_neurons : int, default=100
        Binary neurons drawn by rounding from each block (sign of the output weight, and
        output) of the SDP solution; repeated draws are merged, and the refit keeps those with
        a nonzero output weight.
    activation : {"quadratic", "relu_approx"} or (a, b, c), default="relu_approx"
        ``sigma(t) = a t^2 + b t + c``; "quadratic" is ``t^2`` (the case where the relaxation is
        near tight), "relu_approx" is ``0.09 t^2 + 0.5 t + 0.47`` (a polynomial approximation
        of the ReLU).
    levels : {"binary"}, default="binary"
        First-layer weights in {-1, +1}.
    rounding : {"grothendieck", "gw"}, default="grothendieck"
        "grothendieck": ``sign(V g)`` with ``V`` a factor of ``sin(pi/2 Zhat)`` (unbiased when
        that matrix is PSD); "gw": Goemans-Williamson, ``V`` a factor of ``Zhat``.
    refit_second_layer : bool, default=True
        Refit the output weights of the drawn neurons by the convex l1-penalized problem
        (it can only lower the objective); otherwise each draw gets ``+-t / n_neurons``.
    fit_intercept : bool, default=True
        An unpenalized output intercept.
    solver : {"auto", "cvxpy", "burer_monteiro"}, default="auto"
        "cvxpy": the SDP by an interior-point (Clarabel) or splitting (SCS) conic solver.
        "burer_monteiro": low-rank factors ``Z = t R R^T`` with unit rows, by L-BFGS (scales to
        a few hundred features). "auto": "cvxpy" up to 2,000 samples and 30 features
        (regression) or 10 (classification), "burer_monteiro" otherwise.
    cvxpy_solver : {"CLARABEL", "SCS"}, default="CLARABEL"
    rank : int or None, default=None
        Columns of the low-rank factors to start from (default ``ceil(sqrt(2 (n_features +
        1))) + 1``). The solver doubles them (up to ``n_features + 1``) when it stalls short
        of ``tol``: the loss fixes ``n_samples`` linear functionals of the optimum, whose rank
        can exceed the default (rank 10 for 15 features on 300 samples).
    tol : float, default=1e-5
        Target relative gap of the SDP solve (objective minus its dual bound).
    max_iter : int, default=2000
        L-BFGS iterations of the low-rank solver (the interior-point solver runs to its own
        tolerance whatever ``max_iter``).
    random_state : int, RandomState instance or None, default=None
        Seed of the rounding and of the low-rank solver's start.
    verbose : int, default=0
"""

_ATTRS_DOC = """
    Attributes
    ----------
    coefs_ : list of ndarray
        ``[U (n_features, n_hidden_), W2 (n_hidden_, n_outputs)]``; ``U`` has entries in
        {-1, +1} exactly, each hidden unit feeds one output.
    intercepts_ : list of ndarray
        ``[zeros(n_hidden_), c0 (n_outputs,)]`` (binary neurons have no bias).
    input_mean_, input_scale_ : ndarray of shape (n_features,)
        The input normalization ``x~ = (x - input_mean_) / input_scale_``.
    activation_coefs_ : tuple
        ``(a, b, c)`` of the activation.
    n_hidden_ : int
    sdp_value_ : float
        Certified lower bound on the training objective of *every* network of this form
        (binary first layer, any width): a dual bound of the relaxation, valid however
        accurately it was solved.
    sdp_objective_ : float
        Objective of the relaxation at the solution found (>= its optimum).
    objective_ : float
        Training objective (weighted mean loss + ``alpha sum_j |a_j|``, with ``alpha *
        y_scale_`` for the regressor) of the quantized network.
""" + y_scale_doc("``objective_``, ``sdp_value_`` and ``optimality_gap_``") + \
    """    optimality_gap_ : float
        ``objective_ - sdp_value_`` (>= 0): how far the network can be from the best binary
        network at most.
    duality_gap_ : float
        Gap of the SDP solve itself (``sdp_objective_ - sdp_value_``).
    grothendieck_min_eig_ : float
        Smallest eigenvalue of ``sin(pi/2 Zhat)`` over the blocks.
    is_tight_ : bool
        The relaxation is certified exact: either ``grothendieck_min_eig_ >= -1e-6`` (every
        block lies in the cut polytope by Grothendieck's identity, so rounding converges to
        the SDP value as ``n_neurons`` grows), or the quantized network attains the lower bound
        (``optimality_gap_ <= max(tol, 1e-6) * objective_``).
    sdp_time_ : float
        Seconds spent solving the SDP (the rest of ``fit_time_`` is rounding and refit).
    sdp_traces_ : ndarray of shape (2 n_outputs,)
        ``t`` of each block (l1 mass of the positive and negative output weights).
    n_iter_, fit_time_, solver_, n_features_in_, feature_names_in_
        As for every skconvex estimator.
"""


class QuantizedPolyNet(RegressorMixin, _BaseQuantizedPolyNet):
    __doc__ = """Two-layer network with binary first-layer weights, trained by an SDP relaxation.

    Fits ``f(x) = sum_j a_j sigma(x~ . u_j) + c0`` with ``u_j`` in {-1, +1}^d, a polynomial
    activation ``sigma(t) = a t^2 + b t + c`` and the objective
    ``(1/2) weighted mean (f(x_i) - y_i)^2 + alpha sum_j |a_j|``. Training such a network is
    combinatorial; lifting ``[u; 1][u; 1]^T`` and relaxing the cut polytope to the elliptope
    gives a semidefinite program (Bartan & Pilanci, 2021) whose value lower-bounds the
    objective of every binary network. The SDP solution is rounded to binary neurons
    (Grothendieck's identity), their output weights are refitted by the convex l1 problem,
    and ``optimality_gap_`` certifies how close the quantized network is to the best one.
    See :mod:`skconvex.problems.quantized_sdp` for the program and its dual bound.
""" + _PARAMS_DOC + _ATTRS_DOC + """
    Examples
    --------
    >>> import numpy as np
    >>> from skconvex import QuantizedPolyNet
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 6)
    >>> y = (X @ [1, 1, -1, 1, -1, 1.0]) ** 2 - 0.5 * (X @ [1, -1, -1, 1, 1, 1.0]) ** 2
    >>> reg = QuantizedPolyNet(alpha=1e-3, random_state=0).fit(X, y)
    >>> bool(np.all(np.abs(reg.coefs_[0]) == 1)), reg.score(X, y) > 0.99
    (True, True)
    >>> bool(reg.optimality_gap_ <= 0.05 * reg.objective_)
    True
    """

    _parameter_constraints: dict = {
        **_BaseQuantizedPolyNet._parameter_constraints,
        "loss": [StrOptions({"squared"})],
    }

    def __init__(self, alpha=1e-2, *, n_neurons=100, activation="relu_approx", levels="binary",
                 rounding="grothendieck", refit_second_layer=True, loss="squared",
                 fit_intercept=True, solver="auto", cvxpy_solver="CLARABEL", rank=None,
                 tol=1e-5, max_iter=2000, random_state=None, verbose=0):
        self.alpha = alpha
        self.n_neurons = n_neurons
        self.activation = activation
        self.levels = levels
        self.rounding = rounding
        self.refit_second_layer = refit_second_layer
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.cvxpy_solver = cvxpy_solver
        self.rank = rank
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _make_problem(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True,
                             ensure_min_samples=2)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
        self.y_scale_ = _target_scale(y[:, None], sample_weight)
        return self._build(X, y[:, None], sample_weight, "squared")

    def predict(self, X):
        """Output of the quantized network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._forward(X)[:, 0]


class QuantizedPolyNetClassifier(ClassifierMixin, NetworkClassifierMixin, _BaseQuantizedPolyNet):
    __doc__ = """Classifier with binary first-layer weights, trained by an SDP relaxation.

    Binary problems use the logistic loss on one output, multiclass problems the softmax
    cross-entropy with one output per class (each hidden unit feeds one class, each class has
    its own pair of SDP blocks). See :class:`QuantizedPolyNet` for the model, the relaxation
    and the certificate.
""" + _PARAMS_DOC.replace(
        "    fit_intercept : bool",
        "    loss : {\"auto\", \"logistic\", \"cross_entropy\"}, default=\"auto\"\n"
        "        \"auto\": logistic for two classes, cross_entropy otherwise.\n"
        "    fit_intercept : bool") + _ATTRS_DOC + """    classes_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skconvex import QuantizedPolyNetClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = QuantizedPolyNetClassifier(alpha=1e-3, activation="relu_approx",
    ...                                  random_state=0).fit(X, y)
    >>> bool((abs(clf.coefs_[0]) == 1).all()), clf.score(X, y) > 0.95
    (True, True)
    """

    _parameter_constraints: dict = {
        **_BaseQuantizedPolyNet._parameter_constraints,
        "loss": [StrOptions({"auto", "logistic", "cross_entropy"})],
    }

    def __init__(self, alpha=1e-2, *, n_neurons=100, activation="relu_approx", levels="binary",
                 rounding="grothendieck", refit_second_layer=True, loss="auto",
                 fit_intercept=True, solver="auto", cvxpy_solver="CLARABEL", rank=None,
                 tol=1e-5, max_iter=2000, random_state=None, verbose=0):
        self.alpha = alpha
        self.n_neurons = n_neurons
        self.activation = activation
        self.levels = levels
        self.rounding = rounding
        self.refit_second_layer = refit_second_layer
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.cvxpy_solver = cvxpy_solver
        self.rank = rank
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose


def exact_binary_optimum(estimator_or_problem, *, solver="CLARABEL"):
    """The global optimum of the binary problem for small ``n_features`` (<= 12): the convex
    l1 problem over all ``2^d`` binary neurons (any width), solved by cvxpy.

    Takes a :class:`QuantizedSDPProblem`. Returns ``(value, U, a)``.
    """
    problem = estimator_or_problem
    d, K = problem.d, problem.K
    if d > 12:
        raise ValueError(f"enumerating 2^{d} binary neurons is too costly; n_features <= 12")
    grid = np.array(np.meshgrid(*([[-1.0, 1.0]] * d), indexing="ij")).reshape(d, -1)
    if problem.coefs[1] == 0.0:
        grid = grid[:, grid[0] > 0]  # sigma even: u and -u are the same neuron
    F = problem.features(grid)
    A = cp.Variable((grid.shape[1], K))
    c0 = cp.Variable(K) if problem.fit_intercept else np.zeros(K)
    S = F @ A + (cp.reshape(c0, (1, K), order="C") if problem.fit_intercept else 0)
    s, Y = problem.s, problem.Y
    if problem.loss_name == "squared":
        data = 0.5 * cp.sum(cp.multiply(s[:, None], cp.square(S - Y)))
    elif problem.loss_name == "logistic":
        data = cp.sum(cp.multiply(s[:, None], cp.logistic(-cp.multiply(Y, S))))
    else:
        data = cp.sum(cp.multiply(s, cp.log_sum_exp(S, axis=1))) - \
            cp.sum(cp.multiply(s[:, None] * Y, S))
    prob = cp.Problem(cp.Minimize(data + problem.alpha * cp.sum(cp.abs(A))))
    prob.solve(solver=getattr(cp, solver))
    return float(prob.value), grid, np.asarray(A.value)


__all__ = ["QuantizedPolyNet", "QuantizedPolyNetClassifier", "exact_binary_optimum",
           "grothendieck_min_eig", "round_neurons"]
