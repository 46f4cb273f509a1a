"""Low-rank (Burer-Monteiro) solver for SDPs over scaled elliptopes.

For programs whose variables are PSD blocks with constant diagonal, ``Z_j = t_j R_j R_j^T``
with ``t_j >= 0`` and unit-norm rows of ``R_j`` (``N x r``, the scaled oblique manifold), the
constraints ``Z_j PSD, diag(Z_j) = t_j 1`` hold by construction. The rows are parameterized as
``R_j`` the row-normalized ``Y_j`` and ``t_j`` the mean squared row norm of ``Y_j``; the smooth
objective in the unconstrained ``(Y, c0)`` is minimized by L-BFGS. The starting rank
``r = ceil(sqrt(2N)) + 1`` satisfies ``r(r+1)/2 > N``, the condition under which a factorized
SDP with ``N`` linear constraints has no spurious second-order critical points for generic
data (Boumal, Voroninski & Bandeira, 2016). A loss of ``n`` linear functionals of ``Z``
fixes more than the diagonal, though, and the optimum's rank can exceed ``r`` (rank 10 for
``N = 16``, 300 samples): a round that stalls short of the tolerance doubles the rank (up to
``N``). The other stall, a block stuck at ``t_j = 0`` (where its factor receives no
gradient), is escaped between rounds: the dual certificate computes every block's best
direction, and a block whose direction violates its dual constraint is restarted along it.

A problem exposes ``N, K, d, n_blocks, block_output, block_sign, X, coefs, alpha, loss,
fit_intercept, shape, pack, certificate, block_bounds, optimal_intercept`` (see
:class:`skconvex.problems.quantized_sdp.QuantizedSDPProblem`).
"""

import numpy as np
from scipy.optimize import minimize
from sklearn.utils import check_random_state

from skconvex._linalg import small_kernel
from skconvex._result import FitResult
from skconvex.utils._progress import ProgressLogger

REQUIRED = ("N", "K", "d", "n_blocks", "block_output", "block_sign", "X", "coefs", "alpha",
            "loss", "fit_intercept", "shape", "pack", "certificate", "block_bounds",
            "optimal_intercept")


def default_rank(N):
    """``ceil(sqrt(2N)) + 1`` capped at ``N``: above the Barvinok-Pataki bound."""
    return int(min(N, int(np.ceil(np.sqrt(2 * N))) + 1))


class _Factorized:
    """Objective and gradient of the program in the factors ``(Y, c0)``.

    Block ``j`` is ``Z_j = t_j R_j R_j^T`` with ``R_j`` the row-normalized ``Y_j`` and
    ``t_j`` the mean squared row norm of ``Y_j``: unconstrained variables whose scale follows
    the block's mass, as in the plain factorization ``Z = Y Y^T`` (the conditioning L-BFGS
    needs), with the constant diagonal built in.
    """

    def __init__(self, problem, rank):
        self.p = problem
        self.r = rank
        B, N = problem.n_blocks, problem.N
        self.sizes = (B * N * rank, problem.K if problem.fit_intercept else 0)
        onehot = np.zeros((B, problem.K))
        onehot[np.arange(B), problem.block_output] = 1.0
        self.onehot = onehot
        self.n_eval = 0

    def split(self, theta):
        nY, _ = self.sizes
        p = self.p
        Y = theta[:nY].reshape(p.n_blocks, p.N, self.r)
        c = theta[nY:] if p.fit_intercept else np.zeros(p.K)
        return Y, c

    def join(self, Y, c):
        parts = [Y.ravel()]
        if self.p.fit_intercept:
            parts.append(c)
        return np.concatenate(parts)

    @staticmethod
    def make_y(t, R):
        return np.sqrt(np.maximum(t, 0.0))[:, None, None] * R

    def rows(self, Y):
        """``(t, R, row norms)``."""
        nrm2 = np.einsum("bir,bir->bi", Y, Y)
        t = np.mean(nrm2, axis=1)
        nrm = np.sqrt(nrm2)
        safe = np.where(nrm > 0, nrm, 1.0)
        return t, Y / safe[:, :, None], safe

    def scores(self, t, R):
        p = self.p
        p2, p1, p0 = p.coefs
        B, d, r = p.n_blocks, p.d, self.r
        R1 = R[:, :d, :]
        r2 = R[:, d, :]
        P = (p.X @ R1.transpose(1, 0, 2).reshape(d, B * r)).reshape(-1, B, r)
        q = p0
        if p2 != 0.0:
            q = q + p2 * np.square(P).sum(axis=2)
        if p1 != 0.0:
            q = q + p1 * (P * r2).sum(axis=2)
        q = np.broadcast_to(q, P.shape[:2])
        return P, q, (q * (p.block_sign * t)) @ self.onehot

    def fun_grad(self, theta):
        self.n_eval += 1
        p = self.p
        p2, p1, _ = p.coefs
        B, d, r, N = p.n_blocks, p.d, self.r, p.N
        Y, c = self.split(theta)
        t, R, nrm = self.rows(Y)
        P, q, S = self.scores(t, R)
        f, g = p.loss.value_grad(S + c)
        obj = f + p.alpha * float(np.sum(t))
        gb = g[:, p.block_output] * p.block_sign  # (n, B)
        dt = np.sum(gb * q, axis=0) + p.alpha
        r2 = R[:, d, :]
        M = gb[:, :, None] * (2.0 * p2 * P + p1 * r2[None, :, :])  # (n, B, r)
        dR = np.empty_like(R)
        dR[:, :d, :] = (p.X.T @ M.reshape(-1, B * r)).reshape(d, B, r).transpose(1, 0, 2)
        dR[:, d, :] = p1 * np.einsum("nb,nbr->br", gb, P)
        dR *= t[:, None, None]
        # through R = Y / ||Y_i|| and t = mean ||Y_i||^2
        dY = (dR - np.sum(dR * R, axis=2, keepdims=True) * R) / nrm[:, :, None]
        dY += (2.0 / N) * dt[:, None, None] * Y
        dc = np.sum(g, axis=0)
        return obj, self.join(dY, dc)

    def fit_masses(self, t, R, c):
        """The traces (and intercepts) that are optimal for fixed rows: a small convex program
        in ``(t, c0)``, solved first so that the joint problem starts well scaled."""
        p = self.p
        _, q, _ = self.scores(np.ones(p.n_blocks), R)
        Q = q * p.block_sign  # (n, B)
        B = p.n_blocks

        def fg(x):
            tt = x[:B]
            cc = x[B:] if p.fit_intercept else np.zeros(p.K)
            f, g = p.loss.value_grad((Q * tt) @ self.onehot + cc)
            gb = g[:, p.block_output]
            grad = [np.sum(gb * Q, axis=0) + p.alpha]
            if p.fit_intercept:
                grad.append(np.sum(g, axis=0))
            return f + p.alpha * float(np.sum(tt)), np.concatenate(grad)

        x0 = np.concatenate([t, c]) if p.fit_intercept else t.copy()
        res = minimize(fg, x0, jac=True, method="L-BFGS-B",
                       bounds=[(0.0, None)] * B + [(None, None)] * (x0.size - B),
                       options={"maxiter": 500, "ftol": 1e-15, "gtol": 1e-12})
        return res.x[:B], (res.x[B:] if p.fit_intercept else c)

    def blocks(self, Y):
        t, R, _ = self.rows(Y)
        return t[:, None, None] * np.einsum("bir,bjr->bij", R, R), t, R


def _perturb(R, rng, scale=0.3):
    """Unit rows near those of ``R``."""
    W = R + scale * rng.standard_normal(R.shape) / np.sqrt(R.shape[-1])
    return W / np.linalg.norm(W, axis=-1, keepdims=True)


def solve_burer_monteiro(problem, *, tol=1e-6, max_iter=2000, verbose=0, random_state=None,
                         rank=None, warm_start=None, check_every=100, **_):
    """Minimize the SDP by L-BFGS-B on low-rank factors, with the problem's dual certificate.

    Parameters
    ----------
    problem : object
        See the module docstring (e.g. ``QuantizedSDPProblem``).
    tol : float
        Target relative gap ``(P - D) / |P|`` between the objective and the dual bound.
    max_iter : int
        Maximum number of L-BFGS iterations (all rounds together).
    rank : int or None
        Columns of each factor (default ``ceil(sqrt(2N)) + 1``).
    warm_start : tuple ``(t, R, c0)`` or None
        Traces, unit-row factors (``(n_blocks, N, rank)``) and intercepts to start from.
    check_every : int
        L-BFGS iterations per round; each round ends with a certificate (mixing-method
        maxima of the block duals, one top eigenvalue per block).

    Returns
    -------
    FitResult
        ``w`` packs the blocks ``Z_j = t_j R_j R_j^T`` and the optimal intercepts;
        ``info["factors"] = (t, R, c0)``.
    """
    # L-BFGS on small factors: its kernels (products with X of a few columns per block, small
    # eigenproblems) run on one BLAS thread unless X is large (skconvex._linalg.small_kernel)
    n_cols = getattr(problem, "n_blocks", 1) * (rank or 8)
    with small_kernel(2.0 * problem.X.size * n_cols):
        return _solve_burer_monteiro(problem, tol=tol, max_iter=max_iter, verbose=verbose,
                                     random_state=random_state, rank=rank,
                                     warm_start=warm_start, check_every=check_every)


def _solve_burer_monteiro(problem, *, tol=1e-6, max_iter=2000, verbose=0, random_state=None,
                          rank=None, warm_start=None, check_every=100):
    """The body of :func:`solve_burer_monteiro`."""
    missing = [name for name in REQUIRED if not hasattr(problem, name)]
    if missing:
        raise TypeError(f"burer_monteiro needs {missing} from the problem "
                        f"{type(problem).__name__}")
    rng = check_random_state(random_state)
    log = ProgressLogger("burer-monteiro", verbose, tol=tol)
    N, B = problem.N, problem.n_blocks
    r = default_rank(N) if rank is None else int(min(rank, N))
    fac = _Factorized(problem, r)
    seed = int(rng.randint(0, 2**31 - 1))
    if warm_start is not None:
        t, R, c = (np.array(a, dtype=np.float64) for a in warm_start)
        if R.shape[2] != r:
            R = np.concatenate([R, np.zeros((B, N, max(r - R.shape[2], 0)))], axis=2)[:, :, :r]
        R = _perturb(R, rng, 1e-3)
    else:
        # the best direction of every block at Z = 0: its elliptope maximum of the dual
        c = problem.optimal_intercept(np.zeros((problem.n, problem.K)))
        Lam = -problem.loss.grad(np.zeros((problem.n, problem.K)) + c)
        _, Rs = problem.block_bounds(Lam, random_state=seed, return_factors=True)
        # a rank-one R (a cut: the maximizer often is one) is a saddle of the factorized
        # program where the rows get no gradient: the starting rows are perturbed off it
        R = _perturb(np.stack(Rs)[:, :, :r], rng, 0.1)
        # the masses optimal for these rows (blocks whose dual constraint holds stay at 0)
        t, c = fac.fit_masses(np.zeros(B), R, c)
    theta = fac.join(fac.make_y(t, R), c)
    n_iter, history, converged, stalls = 0, [], False, 0
    best, prev, n_eval = None, None, 0
    while True:
        chunk = int(min(check_every, max_iter - n_iter))
        if chunk > 0:
            res = minimize(fac.fun_grad, theta, jac=True, method="L-BFGS-B",
                           options={"maxiter": chunk, "maxcor": 20, "ftol": 1e-16,
                                    "gtol": 1e-14})
            theta = res.x
            n_iter += max(1, int(res.nit))
            stalled = res.nit < chunk
            log.message(f"L-BFGS: {res.nit} iterations, {res.message}", level=2)
        else:
            stalled = True
        Y, c = fac.split(theta)
        Zs, t, R = fac.blocks(Y)
        objective, bound, c_opt, rho, Rmax = problem.certificate(
            Zs, c, factors=[R[j] if t[j] > 0 else None for j in range(B)],
            random_state=seed, return_factors=True)
        gap = max(objective - bound, 0.0)
        rel = gap / max(abs(objective), 1e-300)
        history.append({"objective": objective, "gap": gap, "elapsed": log.elapsed,
                        "n_iter": n_iter})
        log.iteration(n_iter, objective=objective, gap=gap, measure=rel)
        if best is None or gap < best[1]:
            best = (objective, gap, bound, Zs, c_opt, (t.copy(), R.copy(), c_opt.copy()))
        if rel <= tol:
            converged = True
            break
        if n_iter >= max_iter:
            break
        # a round that lowers the objective by less than 1% of the gap is slow (at that rate
        # the gap takes hundreds of rounds: a reason to raise the rank); one that no longer
        # lowers it has stalled
        slow = prev is not None and prev - objective <= 0.01 * gap
        stalled = stalled or (prev is not None and prev - objective <= 1e-12 * abs(objective))
        prev = objective
        # a block that carries (almost) no mass gets no gradient in its rows: when its best
        # direction violates the dual constraint it restarts along that direction, with the
        # optimal masses for the new rows
        tmax = max(float(np.max(t)), 1e-300)
        restart = (rho > problem.alpha * (1 + 1e-8)) & (t <= 1e-6 * tmax)
        if restart.any():
            R = R.copy()
            R[restart] = _perturb(np.stack(Rmax)[restart][:, :, :r], rng, 0.05)
            t, c_opt = fac.fit_masses(t, R, c_opt)
            stalls = 0
        elif (stalled or slow) and r < N:
            # the optimum needs more rank: the default is above the Barvinok-Pataki bound of
            # the diagonal constraints alone, but the loss fixes n more linear functionals of
            # Z at the optimum (a 300 x 15 regression: rank 10 > 7, and the rank-7 factors
            # stalled 0.6% above the optimum with a relative gap of 0.13). The factors gain
            # columns, started just off the rank-r face (a saddle there)
            r_new = min(N, 2 * r)
            log.message(f"stalled at rank {r} (relative gap {rel:.1e}): rank -> {r_new}")
            R = _perturb(np.concatenate([R, np.zeros((B, N, r_new - r))], axis=2), rng, 1e-2)
            n_eval += fac.n_eval
            r, fac = r_new, _Factorized(problem, r_new)
            t, c_opt = fac.fit_masses(t, R, c_opt)
            stalls, prev = 0, None
        elif stalled:
            stalls += 1
            if stalls >= 3:
                break
        theta = fac.join(fac.make_y(t, R), c_opt)
    objective, gap, bound, Zs, c_opt, factors = best
    return FitResult(problem.pack(Zs, c_opt), objective, bound, n_iter, converged, history,
                     {"factors": factors, "rank": r, "n_eval": n_eval + fac.n_eval}, gap=gap)
