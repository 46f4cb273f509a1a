"""Wasserstein GANs with two-layer discriminators as convex programs (Sahiner et al., 2022).

For a discriminator ``D(x) = sum_j sigma(u_j . x) v_j`` with ``||u_j|| <= 1`` and the penalty
``beta * sum_j |v_j|`` (matched to the degree of ``sigma``), maximizing
``E_data D - E_gen D - penalty`` over ``(u, v)`` gives 0 when a "discriminator constraint" on
the two distributions holds and ``+inf`` otherwise. The generator problem is then
``min R_g(generator)`` subject to that constraint. With a linear generator
``x = b + W^T z`` on a standard Gaussian latent ``z`` (generated covariance ``M = W^T W``) and
``R_g = ||W||_F^2`` (``= tr M``), on data centered at their mean (added back as ``b``):

- quadratic ``sigma(t) = t^2``: ``||S - M||_2 <= beta`` (second moments), the SDP
  ``min tr M  s.t.  M >= 0, -beta I <= S - M <= beta I``, solved in closed form by
  soft-thresholding the spectrum of ``S``: ``M* = sum_i (lambda_i - beta)_+ v_i v_i^T``;
- ReLU ``sigma(t) = (t)_+`` over a finite set of discriminator neurons ``u_j``:
  ``|E_data (u_j . x)_+ - E_gen (u_j . x)_+| <= beta``. For the Gaussian generator
  ``E_gen (u . x)_+ = sqrt(u^T M u / (2 pi))``, so the constraint is
  ``2 pi (c_j - beta)_+^2 <= u_j^T M u_j <= 2 pi (c_j + beta)^2``, linear in ``M``: the SDP
  ``min tr M  s.t.  M >= 0`` and those ``2 P`` linear inequalities (exact, no pattern
  enumeration: the Gaussian latent averages the generator's activation patterns out);
- linear ``sigma(t) = t`` (uncentered data, bias-only generator, ``R_g = ||b||^2``):
  ``||mean - b|| <= beta``, solved by ``b = mean (1 - beta / ||mean||)_+``.

All moments are per-sample expectations, so ``beta`` is on the scale of the data covariance's
eigenvalues (the ``sum``-form ``||X^T X - G^T G||_2 <= n beta`` with as many generated as real
samples).
"""

import numpy as np

from skconvex._result import FitResult

SQRT_2PI = np.sqrt(2.0 * np.pi)


def weighted_moments(X, sample_weight=None):
    """Mean and centered second moment ``S = sum_i w_i (x_i - m)(x_i - m)^T / sum_i w_i``."""
    if sample_weight is None:
        w = np.full(X.shape[0], 1.0 / X.shape[0])
    else:
        w = sample_weight / sample_weight.sum()
    mean = w @ X
    Xc = X - mean
    Y = Xc if sample_weight is None else Xc * np.sqrt(w * X.shape[0])[:, None]
    S = (Y.T @ Y) / X.shape[0]
    return mean, 0.5 * (S + S.T), Xc, w


def relu_moments(Xc, U, w):
    """``c_j = sum_i w_i (u_j . x_i)_+`` for the (centered) data and the neurons ``U`` (d, P)."""
    return w @ np.maximum(Xc @ U, 0.0)


def soft_threshold_spectrum(S, beta):
    """Eigen-decomposition of ``S`` (descending) and the soft-thresholded spectrum."""
    lam, V = np.linalg.eigh(S)
    lam, V = lam[::-1], V[:, ::-1]
    return lam, V, np.maximum(lam - beta, 0.0)


def generator_weight(mu, V, latent_dim, Z=None):
    """Generator weight ``W`` (latent_dim, d) with covariance ``W^T W = V diag(mu) V^T``.

    ``mu`` are the retained eigenvalues (descending, > 0), ``V`` their eigenvectors. With
    ``Z=None`` the latent is the standard Gaussian (whitened): ``W = [diag(sqrt mu) V^T; 0]``.
    With training latents ``Z`` (n_f, latent_dim), the released ProCoGAN formula
    ``W = V_z diag(sqrt(n_f) / s_z) diag(sqrt mu) V^T`` (largest ``s_z`` paired with the largest
    ``mu``: the smallest ``||W||_F`` among all ``W`` with ``(Z W)^T (Z W) / n_f = M``), so the
    generated training batch ``G = Z W`` has ``G^T G / n_f = V diag(mu) V^T`` exactly.
    """
    k = mu.size
    d = V.shape[0]
    if k > latent_dim:
        raise ValueError(f"the optimal generator covariance has rank {k} > latent_dim="
                         f"{latent_dim}: a generator with {latent_dim} latent dimensions cannot "
                         "satisfy the discriminator constraint (increase latent_dim, or beta)")
    W = np.zeros((latent_dim, d))
    if k == 0:
        return W
    if Z is None:
        W[:k] = np.sqrt(mu)[:, None] * V[:, :k].T
        return W
    _, sz, Vzt = np.linalg.svd(Z, full_matrices=False)
    if sz[k - 1] <= 1e-12 * sz[0]:
        raise ValueError(f"the training latents have rank < {k}; use more latent samples")
    scale = np.sqrt(Z.shape[0]) / sz[:k] * np.sqrt(mu)
    return Vzt[:k].T @ (scale[:, None] * V[:, :k].T)


class WGANProblem:
    """The generator program of a WGAN with a two-layer discriminator (module docstring).

    Parameters
    ----------
    kind : {"quadratic", "relu", "linear"}
    mean : ndarray (d,)
        Data mean (weighted).
    S : ndarray (d, d)
        Centered second moment of the data.
    beta : float
        Discriminator penalty (constraint radius).
    U : ndarray (d, P) or None
        Discriminator neurons (unit columns), relu only.
    c : ndarray (P,) or None
        ``E_data (u_j . x)_+`` on the centered data, relu only.
    """

    def __init__(self, kind, mean, S, beta, U=None, c=None):
        self.kind, self.mean, self.S, self.beta = kind, mean, S, float(beta)
        self.U, self.c = U, c
        self.d = mean.shape[0]
        self._lam = None

    @property
    def eigenvalues(self):
        """Eigenvalues of ``S``, descending (computed once)."""
        if self._lam is None:
            self._lam = np.linalg.eigvalsh(self.S)[::-1].copy()
        return self._lam

    # -- relu bounds ---------------------------------------------------------------------
    def relu_bounds(self):
        lo = 2.0 * np.pi * np.maximum(self.c - self.beta, 0.0) ** 2
        hi = 2.0 * np.pi * (self.c + self.beta) ** 2
        return lo, hi

    # -- objective, constraint, certificate ----------------------------------------------
    def constraint(self, M=None, b=None):
        """The discriminator constraint value (to compare with ``beta``)."""
        if self.kind == "linear":
            return float(np.linalg.norm(self.mean - b))
        if self.kind == "quadratic":
            return spectral_norm_sym(self.S - M)
        q = np.sqrt(np.maximum(np.einsum("ij,ik,kj->j", self.U, M, self.U), 0.0)) / SQRT_2PI
        return float(np.max(np.abs(self.c - q))) if q.size else 0.0

    def lower_bound(self):
        """Optimal value from the closed forms (quadratic, linear); None for relu."""
        if self.kind == "linear":
            return max(float(np.linalg.norm(self.mean)) - self.beta, 0.0) ** 2
        if self.kind == "quadratic":
            return float(np.sum(np.maximum(self.eigenvalues - self.beta, 0.0)))
        return None

    def closed_form(self):
        """``(M or b, info)`` for quadratic / linear."""
        if self.kind == "linear":
            norm = float(np.linalg.norm(self.mean))
            shrink = max(1.0 - self.beta / norm, 0.0) if norm > 0 else 0.0
            return self.mean * shrink, {}
        if self.kind != "quadratic":
            raise ValueError("the relu discriminator has no closed form; use solver='cvxpy'")
        from scipy.linalg import eigh

        lam = self.eigenvalues
        mu = np.maximum(lam - self.beta, 0.0)
        # retained: above the rounding of the eigen-decomposition
        tiny = 10 * self.d * np.finfo(float).eps * max(abs(lam[0]), np.finfo(float).tiny)
        k = int(np.sum(mu > tiny)) if lam.size else 0
        if k == 0:
            V = np.zeros((self.d, 0))
        else:  # eigenvectors of the retained directions only
            lam_k, V = eigh(self.S, subset_by_index=[self.d - k, self.d - 1])
            V = V[:, ::-1]
            mu = np.maximum(lam_k[::-1] - self.beta, 0.0)
        return (V * mu[:k]) @ V.T, {"eigenvalues": lam, "V": V, "mu": mu[:k]}

    def to_cvxpy(self):
        """``(cvxpy.Problem, variable)``: the SDP in ``M`` (quadratic, relu) or the SOCP in
        ``b`` (linear)."""
        import cvxpy as cp

        d, beta = self.d, self.beta
        if self.kind == "linear":
            b = cp.Variable(d)
            return cp.Problem(cp.Minimize(cp.sum_squares(b)),
                              [cp.norm(self.mean - b) <= beta]), b
        M = cp.Variable((d, d), PSD=True)
        if self.kind == "quadratic":
            eye = np.eye(d)
            cons = [self.S - M << beta * eye, M - self.S << beta * eye]
            return cp.Problem(cp.Minimize(cp.trace(M)), cons), M
        # relu: in the units of the data, M = D M' D with D the features' standard
        # deviations (a congruence: the same feasible set and optimum), each constraint
        # divided by ||D u_j||^2 and the objective by max D^2. In raw units a feature on a
        # scale of 1e6 gave entries spanning 1e12 and Clarabel declared the feasible
        # program (the data covariance satisfies every constraint) infeasible
        Dg, c, sj, Uh = self._relu_scaling()
        lo, hi = self.relu_bounds()
        q = cp.sum(cp.multiply(Uh, M @ Uh), axis=0)  # uh_j^T M' uh_j
        cons = [q >= lo / sj, q <= hi / sj]
        return cp.Problem(cp.Minimize(cp.sum(cp.multiply(Dg * Dg / c, cp.diag(M)))),
                          cons), M

    def _relu_scaling(self):
        """``(D, c, s, Uh)``: the features' scales, ``max D^2``, ``||D u_j||^2`` and the unit
        columns ``D u_j / ||D u_j||`` of the rescaled relu program."""
        diag = np.diag(self.S).copy()
        pos = diag > 0
        Dg = np.where(pos, np.sqrt(np.where(pos, diag, 1.0)), 1.0)
        Ut = Dg[:, None] * self.U
        sj = np.maximum(np.sum(Ut * Ut, axis=0), np.finfo(float).tiny)
        return Dg, float(np.max(Dg * Dg)), sj, Ut / np.sqrt(sj)

    def from_cvxpy(self, value):
        """``M`` in the data's units from the cvxpy variable's value (see :meth:`to_cvxpy`)."""
        M = np.asarray(value, float)
        if self.kind != "relu":
            return M
        Dg = self._relu_scaling()[0]
        return Dg[:, None] * M * Dg[None, :]

    def dual_bound_from_duals(self, cons):
        """A valid lower bound from (approximate) cvxpy dual values, rescaled to be exactly
        dual feasible."""
        if self.kind == "quadratic":
            # max tr(L1 (S - bI)) - tr(L2 (S + bI)),  L1, L2 >= 0,  L1 - L2 <= I
            L1, L2 = (_psd_part(c.dual_value) for c in cons)
            s = max(1.0, float(np.linalg.eigvalsh(L1 - L2)[-1]))
            eye = np.eye(self.d)
            return float(np.sum(L1 * (self.S - self.beta * eye))
                         - np.sum(L2 * (self.S + self.beta * eye))) / s
        # relu: max sum lam_j lo_j - nu_j hi_j,  lam, nu >= 0,  sum (lam_j - nu_j) u_j u_j^T <= I
        # (the multipliers of the rescaled program, mapped back: lam_j = c lam'_j / s_j)
        _, c, sj, _ = self._relu_scaling()
        lam, nu = (c * np.maximum(np.asarray(k.dual_value, float), 0.0) / sj for k in cons)
        lo, hi = self.relu_bounds()
        A = (self.U * (lam - nu)) @ self.U.T
        s = max(1.0, float(np.linalg.eigvalsh(0.5 * (A + A.T))[-1]))
        return float(lam @ lo - nu @ hi) / s


def spectral_norm_sym(A):
    """``||A||_2`` of a symmetric matrix (largest absolute eigenvalue; cheaper than an SVD)."""
    lam = np.linalg.eigvalsh(0.5 * (A + A.T))
    return float(max(abs(lam[0]), abs(lam[-1]))) if lam.size else 0.0


def _psd_part(A):
    A = 0.5 * (np.asarray(A, float) + np.asarray(A, float).T)
    lam, V = np.linalg.eigh(A)
    return (V * np.maximum(lam, 0.0)) @ V.T


def solve_closed_form(problem, **_):
    """Closed-form solution (quadratic, linear); the lifted variable in ``w``."""
    sol, info = problem.closed_form()
    if problem.kind == "linear":
        objective = float(sol @ sol)
    else:
        objective = float(np.trace(sol))
    bound = problem.lower_bound()
    return FitResult(np.asarray(sol, float), objective, bound, 1, True, [], info,
                     gap=max(objective - bound, 0.0))


def solve_sdp(problem, *, tol=1e-8, verbose=0, **_):
    """The convex program with cvxpy (Clarabel): the reference path, and the solver of the
    relu program. The duality gap comes from Clarabel's dual point, rescaled to be exactly
    feasible; the primal ``M`` is projected onto the PSD cone."""
    import cvxpy as cp

    import warnings

    prob, var = problem.to_cvxpy()
    try:
        with warnings.catch_warnings():
            # "solution may be inaccurate": the certificate below is computed independently
            # and decides convergence
            warnings.filterwarnings("ignore", message="Solution may be inaccurate",
                                    category=UserWarning)
            prob.solve(solver=cp.CLARABEL, verbose=verbose > 1, tol_gap_abs=tol,
                       tol_gap_rel=tol, tol_feas=tol)
    except cp.error.SolverError as exc:  # pragma: no cover - solver breakdown
        raise RuntimeError(f"Clarabel failed on the WGAN program: {exc}") from exc
    if prob.status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        raise ValueError(f"the {problem.kind} discriminator constraint cannot be met by a "
                         f"Gaussian generator with beta={problem.beta:g}; increase beta")
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"Clarabel returned no solution: {prob.status}")
    n_iter = max(1, int(getattr(prob.solver_stats, "num_iters", 1) or 1))
    if problem.kind == "linear":
        b = np.asarray(var.value, float)
        objective = float(b @ b)
        bound = problem.lower_bound()
        return FitResult(b, objective, bound, n_iter, prob.status == cp.OPTIMAL, [], {},
                         gap=max(objective - bound, 0.0))
    M = _psd_part(problem.from_cvxpy(var.value))
    objective = float(np.trace(M))
    bound = problem.dual_bound_from_duals(prob.constraints)
    gap = max(objective - bound, 0.0)
    # converged when the certified gap and the constraint are fine, whatever Clarabel's
    # status says ("optimal" on a relu program with features on scales 1e6 apart came with a
    # certified relative gap of 2e-2; an "inaccurate" point with a fine certificate is kept)
    scale = max(objective, float(np.trace(problem.S)), np.finfo(float).tiny)
    ok = (gap <= np.sqrt(tol) * scale
          and problem.constraint(M=M) <= problem.beta + np.sqrt(tol) * scale)
    return FitResult(M, objective, bound, n_iter, ok, [], {"status": prob.status}, gap=gap)
