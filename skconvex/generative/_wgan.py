"""Wasserstein GAN with a linear generator and a two-layer discriminator, solved exactly."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from skconvex.base import ConvexEstimator
from skconvex.problems.wgan import (
    SQRT_2PI,
    WGANProblem,
    generator_weight,
    spectral_norm_sym,
    relu_moments,
    solve_closed_form,
    solve_sdp,
    weighted_moments,
)


class ConvexWGAN(ConvexEstimator):
    """Wasserstein GAN (linear generator, two-layer discriminator) solved by its convex program.

    The WGAN game ``min_gen max_D E_data D(x) - E_gen D(x) - R_d(D) + R_g(gen)`` with a
    two-layer discriminator ``D(x) = sum_j sigma(u_j . x) v_j`` (``||u_j|| <= 1``, penalty
    ``beta sum_j |v_j|``) reduces, by convex duality, to
    ``min R_g(gen)`` subject to a constraint on the two distributions (Sahiner et al., 2022).
    The generator is ``x = b + W^T z`` with a standard Gaussian latent ``z`` and
    ``R_g = ||W||_F^2``; the data are centered and their mean is the bias ``b``:

    - ``discriminator="quadratic"`` (``sigma(t) = t^2``): ``||S - W^T W||_2 <= beta``
      (``S`` the data covariance). Closed form: ``W^T W`` is ``S`` with its eigenvalues
      soft-thresholded by ``beta`` — ``sum_i (lambda_i - beta)_+ v_i v_i^T``, the solution of
      the SDP ``min tr M  s.t.  M >= 0, -beta I <= S - M <= beta I``.
    - ``discriminator="relu"`` (``sigma(t) = (t)_+``, ``n_neurons`` sampled unit directions
      ``u_j``): ``|E_data (u_j . x)_+ - E_gen (u_j . x)_+| <= beta`` for every neuron; with the
      Gaussian latent ``E_gen (u . x)_+ = sqrt(u^T W^T W u / 2 pi)`` and the program is an SDP
      in ``M = W^T W`` (solved by Clarabel through cvxpy).
    - ``discriminator="linear"`` (``sigma(t) = t``): only the means are compared,
      ``||mean - b|| <= beta``; the generator is the point ``b = mean (1 - beta/||mean||)_+``
      (``R_g = ||b||^2``, data not centered). The optimal generator ignores its latent: a linear
      discriminator cannot see anything beyond the first moment.

    Moments are per-sample expectations, so ``beta`` is on the scale of the covariance's
    eigenvalues (``beta = 0`` matches the covariance, ``beta >= lambda_max`` gives ``W = 0``).
    ``constraint_value_`` is the discriminator constraint of the fitted generator against the
    training data — the certificate that the inner maximization is 0, i.e. no discriminator of
    the class (with penalty ``beta``) tells the two apart; it equals ``beta`` when the
    constraint is active.

    Parameters
    ----------
    discriminator : {"quadratic", "relu", "linear"}, default="quadratic"
        Activation of the discriminator's hidden layer.
    beta : float or None, default=None
        Discriminator penalty = constraint radius (>= 0). None: 0, or the value
        ``n_components`` implies.
    n_components : int or None, default=None
        Quadratic discriminator only: keep this many principal directions, i.e.
        ``beta = lambda_{n_components + 1}`` (the released ProCoGAN code's "truncation"); the
        constraint then holds with equality. Exclusive with ``beta``.
    latent_dim : int or None, default=None
        Latent dimension of the generator; None: the rank of the optimal generated covariance
        (at least 1). A value below that rank cannot satisfy the constraint (ValueError).
    n_neurons : int, default=100
        Relu discriminator only: number of hidden neurons (unit directions drawn uniformly on
        the sphere with ``random_state``). The constraint is certified on these neurons.
    whiten_latent : bool, default=True
        Quadratic discriminator: True solves the population program (latent ``N(0, I)``,
        generated covariance exactly ``W^T W``); False uses ``n_latent_samples`` raw Gaussian
        training latents ``Z`` and the released code's formula
        ``W = V_z diag(sqrt(n_f)/s_z) diag(sqrt mu) V^T``, exact for the training batch
        ``G = Z W`` (``G^T G / n_f = M``) and approximate for fresh latents.
    n_latent_samples : int or None, default=None
        Training latents ``n_f`` (default: the number of samples, at least ``latent_dim``).
        They realize the generated batch ``G`` of the certificate.
    solver : {"auto", "closed_form", "cvxpy"}, default="auto"
        "closed_form" (quadratic, linear), "cvxpy" (the SDP/SOCP with Clarabel: the reference
        for quadratic and linear, the solver for relu). "auto": closed form where there is one.
    tol : float, default=1e-8
        Clarabel's tolerance (cvxpy solver).
    max_iter : int, default=1000
        Unused by the closed form; kept for the common interface.
    random_state : int, RandomState instance or None, default=None
        Seed of the discriminator neurons (relu) and of the training latents.
    verbose : int, default=0

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Data mean.
    generator_weight_ : ndarray of shape (latent_dim_, n_features)
        ``W``; samples are ``z @ W + generator_bias_``.
    generator_bias_ : ndarray of shape (n_features,)
        ``b`` (the mean, or its shrunk version for the linear discriminator).
    covariance_ : ndarray of shape (n_features, n_features)
        Generated covariance ``W^T W`` (population, latent ``N(0, I)``).
    eigenvalues_ : ndarray of shape (n_features,)
        Eigenvalues of the data covariance, descending (quadratic).
    components_ : ndarray of shape (n_components_, n_features)
        Principal directions kept by the generator (rows).
    retained_ : ndarray of shape (n_components_,)
        Generated variances along them, ``(lambda_i - beta)_+`` for quadratic.
    n_components_ : int
        Rank of the generated covariance.
    latent_dim_ : int
    beta_ : float
        The penalty used.
    constraint_value_ : float
        The discriminator constraint of the fitted generator on the training data (<= beta;
        for quadratic with training latents: ``||S - G^T G / n_f||_2`` of the realized batch).
    neurons_ : ndarray of shape (n_features, n_neurons)
        Relu discriminator directions.
    objective_ : float
        ``||W||_F^2`` (``||b||^2`` for linear).
    duality_gap_ : float
        Objective minus a lower bound (closed-form optimum, or Clarabel's dual point made
        exactly feasible).
    n_iter_, fit_time_, solver_, n_features_in_, feature_names_in_
        As for every skconvex estimator.

    References
    ----------
    A. Sahiner, T. Ergen, B. Ozturkler, B. Bartan, J. Pauly, M. Mardani, M. Pilanci, "Hidden
    Convexity of Wasserstein GANs: Interpretable Generative Models with Closed-Form
    Solutions", ICLR 2022, arXiv:2107.05680.

    Examples
    --------
    >>> import numpy as np
    >>> from skconvex.generative import ConvexWGAN
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(500, 4) @ np.diag([3.0, 2.0, 0.5, 0.1]) + 1.0
    >>> gan = ConvexWGAN(n_components=2).fit(X)
    >>> gan.n_components_, bool(np.isclose(gan.constraint_value_, gan.beta_))
    (2, True)
    >>> gan.sample(3, random_state=0).shape
    (3, 4)
    """

    _solvers = {"closed_form": solve_closed_form, "cvxpy": solve_sdp}

    _parameter_constraints: dict = {
        **ConvexEstimator._parameter_constraints,
        "discriminator": [StrOptions({"quadratic", "relu", "linear"})],
        "beta": [Interval(Real, 0, None, closed="left"), None],
        "n_components": [Interval(Integral, 0, None, closed="left"), None],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "n_neurons": [Interval(Integral, 1, None, closed="left")],
        "whiten_latent": ["boolean"],
        "n_latent_samples": [Interval(Integral, 1, None, closed="left"), None],
        "solver": [StrOptions({"auto", "closed_form", "cvxpy"})],
    }

    def __init__(self, discriminator="quadratic", *, beta=None, n_components=None,
                 latent_dim=None, n_neurons=100, whiten_latent=True, n_latent_samples=None,
                 solver="auto", tol=1e-8, max_iter=1000, random_state=None, verbose=0):
        self.discriminator = discriminator
        self.beta = beta
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.n_neurons = n_neurons
        self.whiten_latent = whiten_latent
        self.n_latent_samples = n_latent_samples
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.verbose = verbose

    def _auto_solver(self, problem):
        return "cvxpy" if problem.kind == "relu" else "closed_form"

    def _make_problem(self, X, y=None, sample_weight=None):
        X = validate_data(self, X, dtype=np.float64)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must have a positive sum")
        if self.beta is not None and self.n_components is not None:
            raise ValueError("pass either beta or n_components, not both")
        if self.n_components is not None and self.discriminator != "quadratic":
            raise ValueError("n_components applies to discriminator='quadratic' only; use beta")
        if self.solver == "closed_form" and self.discriminator == "relu":
            raise ValueError("the relu discriminator has no closed form; use solver='cvxpy' "
                             "or 'auto'")
        mean, S, Xc, w = weighted_moments(X, sample_weight)
        d = X.shape[1]
        beta = 0.0 if self.beta is None else float(self.beta)
        U = c = None
        problem = WGANProblem(self.discriminator, mean, S, beta)
        if self.n_components is not None:
            lam = problem.eigenvalues
            beta = float(max(lam[self.n_components], 0.0)) if self.n_components < d else 0.0
            problem.beta = beta
        if self.discriminator == "relu":
            rng = check_random_state(self.random_state)
            U = rng.standard_normal((d, self.n_neurons))
            U /= np.linalg.norm(U, axis=0)
            c = relu_moments(Xc, U, w)
        self._n_train = X.shape[0]
        # (the linear discriminator compares the uncentered means)
        problem.U, problem.c = U, c
        return problem

    def _set_fitted(self, result, problem):
        d = problem.d
        self.beta_ = problem.beta
        self.mean_ = problem.mean
        if problem.kind == "linear":
            self.generator_bias_ = np.asarray(result.w, float)
            self.latent_dim_ = self.latent_dim or 1
            self.generator_weight_ = np.zeros((self.latent_dim_, d))
            self.covariance_ = np.zeros((d, d))
            self.components_ = np.zeros((0, d))
            self.retained_ = np.zeros(0)
            self.n_components_ = 0
            self.constraint_value_ = problem.constraint(b=self.generator_bias_)
            return
        M = result.w
        if "V" in result.info:  # closed form: reuse its eigen-decomposition
            lam, V, mu = result.info["eigenvalues"], result.info["V"], result.info["mu"]
        else:
            lam_m, V = np.linalg.eigh(M)
            lam_m, V = lam_m[::-1], V[:, ::-1]
            keep = lam_m > 1e-9 * max(float(lam_m[0]), np.finfo(float).tiny)
            mu = lam_m[keep]
            lam = problem.eigenvalues
        k = mu.size
        self.eigenvalues_ = lam
        self.components_ = V[:, :k].T.copy()
        self.retained_ = mu.copy()
        self.n_components_ = int(k)
        self.latent_dim_ = int(self.latent_dim or max(k, 1))
        n_f = max(self.n_latent_samples or self._n_train, self.latent_dim_)
        rng = check_random_state(self.random_state)
        Z = rng.standard_normal((n_f, self.latent_dim_))
        if self.whiten_latent or problem.kind != "quadratic":
            # population program: W^T W = M exactly; the training batch is whitened so that
            # its realized second moment is M too
            W = generator_weight(mu, V, self.latent_dim_)
            Z -= Z.mean(axis=0)
            Q, R = np.linalg.qr(Z)
            Z = np.sqrt(n_f) * Q * np.sign(np.diag(R))
        else:
            W = generator_weight(mu, V, self.latent_dim_, Z=Z)
        self.generator_weight_ = W
        self.generator_bias_ = problem.mean.copy()
        self.covariance_ = W.T @ W
        if problem.kind == "quadratic":
            # G^T G / n_f of the realized batch G = Z W, as W^T (Z^T Z / n_f) W
            self.constraint_value_ = problem.constraint(M=W.T @ ((Z.T @ Z / n_f) @ W))
        else:
            self.neurons_ = problem.U
            self.constraint_value_ = problem.constraint(M=self.covariance_)
        # the objective of the recovered generator (||W||_F^2; tr M for whitened latents)
        result.objective = float(np.sum(W * W))
        if problem.kind == "quadratic" and not self.whiten_latent:
            _, sz, _ = np.linalg.svd(Z, full_matrices=False)
            # lower bound for non-whitened latents: n_f sum_i mu_i / s_i^2 (von Neumann)
            mu_opt = np.maximum(problem.eigenvalues - problem.beta, 0.0)
            m = min(mu_opt.size, sz.size)
            result.dual_bound = float(n_f * np.sum(mu_opt[:m] / sz[:m] ** 2))
            result.gap = max(result.objective - result.dual_bound, 0.0)
        elif result.dual_bound is not None:
            result.gap = max(result.objective - result.dual_bound, 0.0)

    # -- generative interface ----------------------------------------------------------------
    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the generator: ``z @ generator_weight_ + generator_bias_``.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Seed of the latents.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if not (isinstance(n_samples, Integral) and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        rng = check_random_state(random_state)
        Z = rng.standard_normal((n_samples, self.latent_dim_))
        return Z @ self.generator_weight_ + self.generator_bias_

    def discriminator_constraint(self, X, directions=None):
        """The discriminator constraint between the data ``X`` and the generator.

        quadratic: ``||S_X - W^T W||_2`` with ``S_X`` the second moment of ``X`` about the
        generator's mean (the largest gap any unit quadratic neuron sees); linear:
        ``||mean(X) - b||``; relu: ``max_j |E_X (u_j . (x - b))_+ - E_gen (u_j . (x - b))_+|``
        over ``directions`` (unit columns, shape (n_features, P); default: the fitted
        neurons).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        directions : array-like of shape (n_features, n_directions) or None

        Returns
        -------
        value : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.discriminator == "linear":
            return float(np.linalg.norm(X.mean(axis=0) - self.generator_bias_))
        Xc = X - self.generator_bias_
        if self.discriminator == "quadratic" and directions is None:
            return spectral_norm_sym(Xc.T @ Xc / X.shape[0] - self.covariance_)
        U = self.neurons_ if directions is None else np.asarray(directions, dtype=np.float64)
        if U.ndim != 2 or U.shape[0] != self.n_features_in_:
            raise ValueError(f"directions must have shape (n_features={self.n_features_in_}, "
                             f"n_directions), got {U.shape}")
        norms = np.linalg.norm(U, axis=0)
        if not np.all(np.isfinite(U)) or np.any(norms == 0):
            raise ValueError("directions must be finite and nonzero columns (they are "
                             "normalized to unit length)")
        U = U / norms
        gen_std = np.sqrt(np.maximum(np.einsum("ij,ik,kj->j", U, self.covariance_, U), 0.0))
        if self.discriminator == "quadratic":
            return float(np.max(np.abs(np.mean((Xc @ U) ** 2, axis=0) - gen_std ** 2)))
        data = np.mean(np.maximum(Xc @ U, 0.0), axis=0)
        return float(np.max(np.abs(data - gen_std / SQRT_2PI)))

    def score(self, X, y=None):
        """Minus the discriminator constraint between ``X`` and the generator (higher is
        better; 0 when no discriminator of the class tells them apart).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        return -self.discriminator_constraint(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.required = False
        return tags
