"""ConvexWGAN and ProCoGAN: closed forms against cvxpy, constraints, limits, bad input."""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skconvex.generative import ConvexWGAN, ProCoGAN


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(400, 6) @ rng.randn(6, 6) + rng.randn(6)
    return X


def _cov(X):
    Xc = X - X.mean(axis=0)
    return Xc.T @ Xc / X.shape[0]


def test_quadratic_closed_form_equals_sdp(data):
    S = _cov(data)
    lam = np.sort(np.linalg.eigvalsh(S))[::-1]
    beta = 0.5 * (lam[2] + lam[3])
    cf = ConvexWGAN(beta=beta, random_state=0).fit(data)
    # the SDP written here independently: min tr M, M psd, -beta I <= S - M <= beta I
    M = cp.Variable((6, 6), PSD=True)
    prob = cp.Problem(cp.Minimize(cp.trace(M)),
                      [S - M << beta * np.eye(6), M - S << beta * np.eye(6)])
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    scale = np.abs(S).max()
    assert np.abs(cf.covariance_ - M.value).max() <= 1e-6 * scale
    assert abs(cf.objective_ - prob.value) <= 1e-6 * prob.value
    assert cf.n_components_ == 3
    # the estimator's own cvxpy path agrees, with a valid dual certificate
    ref = ConvexWGAN(beta=beta, solver="cvxpy", random_state=0).fit(data)
    assert ref.solver_ == "cvxpy"
    assert np.abs(ref.covariance_ - cf.covariance_).max() <= 1e-6 * scale
    assert 0 <= ref.duality_gap_ <= 1e-6 * ref.objective_
    assert cf.duality_gap_ <= 1e-12 * cf.objective_


@pytest.mark.parametrize("whiten", [True, False])
def test_constraint_active_with_truncation(data, whiten):
    S = _cov(data)
    lam = np.sort(np.linalg.eigvalsh(S))[::-1]
    gan = ConvexWGAN(n_components=2, whiten_latent=whiten, n_latent_samples=300,
                     random_state=0).fit(data)
    assert gan.beta_ == pytest.approx(lam[2], rel=1e-12)
    # realized batch G = Z W: ||S - G^T G / n_f||_2 = beta (active)
    assert gan.constraint_value_ == pytest.approx(gan.beta_, rel=1e-9)
    assert np.linalg.matrix_rank(gan.generator_weight_) == 2
    # generated covariance: the two top eigenvalues soft-thresholded
    np.testing.assert_allclose(gan.retained_, lam[:2] - lam[2], rtol=1e-10)
    if whiten:
        assert gan.discriminator_constraint(data) == pytest.approx(gan.beta_, rel=1e-9)
        assert gan.objective_ == pytest.approx(np.sum(lam[:2] - lam[2]), rel=1e-12)
    else:
        # fresh latents: the population covariance is only approximately M
        assert gan.duality_gap_ <= 1e-10 * gan.objective_


def test_closed_form_w_minimal_among_repairings(data):
    """For raw latents Z, ||W||_F of the closed form is no larger than any feasible W with
    the same generated batch second moment (random orthogonal re-pairings)."""
    gan = ConvexWGAN(n_components=3, whiten_latent=False, latent_dim=5, n_latent_samples=200,
                     random_state=1).fit(data)
    rng = np.random.RandomState(1)
    Z = rng.standard_normal((200, 5))  # the estimator's training latents (same seed)
    Uz, sz, Vzt = np.linalg.svd(Z, full_matrices=False)
    mu, Vk = gan.retained_, gan.components_.T
    G = Z @ gan.generator_weight_
    S = _cov(data)
    assert np.linalg.norm(S - G.T @ G / 200, 2) == pytest.approx(gan.beta_, rel=1e-9)
    best = np.inf
    for _ in range(200):
        Q, _ = np.linalg.qr(rng.standard_normal((5, 3)))
        W2 = Vzt.T @ ((np.sqrt(200) / sz)[:, None] * Q) @ (np.sqrt(mu)[:, None] * Vk.T)
        G2 = Z @ W2
        assert np.linalg.norm(S - G2.T @ G2 / 200, 2) <= gan.beta_ * (1 + 1e-9)
        best = min(best, np.sum(W2 ** 2))
    assert np.sum(gan.generator_weight_ ** 2) <= best * (1 + 1e-12)
    assert gan.objective_ == pytest.approx(np.sum(gan.generator_weight_ ** 2))


def test_limits(data):
    S = _cov(data)
    lam_max = np.linalg.eigvalsh(S)[-1]
    exact = ConvexWGAN(beta=0.0).fit(data)  # beta -> 0: the covariance is matched
    np.testing.assert_allclose(exact.covariance_, S, atol=1e-10 * lam_max)
    assert exact.n_components_ == 6
    small = ConvexWGAN(beta=1e-6 * lam_max).fit(data)
    assert np.abs(small.covariance_ - S).max() <= 2e-6 * lam_max
    big = ConvexWGAN(beta=lam_max * 1.01).fit(data)  # beta >= sigma_1^2: G = 0
    assert big.n_components_ == 0 and not np.any(big.generator_weight_)
    assert np.allclose(big.sample(4, random_state=0), data.mean(axis=0))
    assert big.constraint_value_ == pytest.approx(lam_max, rel=1e-12)
    # rank(G^T G) = #{lambda_i > beta}
    lam = np.sort(np.linalg.eigvalsh(S))[::-1]
    for k in range(7):
        beta = lam[k] if k < 6 else 0.0
        g = ConvexWGAN(beta=beta * (1 - 1e-9) if k < 6 else 0.0).fit(data)
        assert g.n_components_ == min(k + 1, 6) if k < 6 else g.n_components_ == 6


def test_sampling_law(data):
    gan = ConvexWGAN(n_components=3).fit(data)
    Xs = gan.sample(200_000, random_state=0)
    np.testing.assert_allclose(Xs.mean(axis=0), data.mean(axis=0),
                               atol=0.02 * np.sqrt(np.diag(_cov(data))).max())
    C = np.cov(Xs, rowvar=False)
    assert np.abs(C - gan.covariance_).max() <= 0.02 * np.abs(gan.covariance_).max()
    np.testing.assert_array_equal(gan.sample(5, random_state=3), gan.sample(5, random_state=3))
    assert gan.score(data) == pytest.approx(-gan.beta_, rel=1e-9)


def test_linear_discriminator_closed_form_and_cvxpy(data):
    m = data.mean(axis=0)
    beta = 0.4 * np.linalg.norm(m)
    cf = ConvexWGAN("linear", beta=beta).fit(data)
    b = cp.Variable(6)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(b)), [cp.norm(m - b) <= beta])
    prob.solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(cf.generator_bias_, b.value, atol=1e-6 * np.linalg.norm(m))
    np.testing.assert_allclose(cf.generator_bias_, m * 0.6, rtol=1e-12)
    assert cf.constraint_value_ == pytest.approx(beta, rel=1e-12)  # active
    assert not np.any(cf.generator_weight_)
    ref = ConvexWGAN("linear", beta=beta, solver="cvxpy").fit(data)
    np.testing.assert_allclose(ref.generator_bias_, cf.generator_bias_,
                               atol=1e-6 * np.linalg.norm(m))
    zero = ConvexWGAN("linear", beta=2 * np.linalg.norm(m)).fit(data)
    assert not np.any(zero.generator_bias_)


def test_relu_discriminator_program(data):
    gan = ConvexWGAN("relu", beta=0.3, n_neurons=40, random_state=0).fit(data)
    assert gan.solver_ == "cvxpy"
    # the constraint on the neurons holds (and is active somewhere: the optimum sits on it)
    assert gan.constraint_value_ <= 0.3 * (1 + 1e-6)
    assert gan.constraint_value_ >= 0.3 * (1 - 1e-4)
    assert 0 <= gan.duality_gap_ <= 1e-6 * gan.objective_
    # the Gaussian-latent identity behind the program: E (u.x)_+ = sqrt(u^T M u / 2 pi)
    U = gan.neurons_
    Xs = gan.sample(400_000, random_state=0) - gan.generator_bias_
    mc = np.maximum(Xs @ U, 0.0).mean(axis=0)
    q = np.sqrt(np.einsum("ij,ik,kj->j", U, gan.covariance_, U) / (2 * np.pi))
    np.testing.assert_allclose(mc, q, rtol=0.02, atol=1e-3)
    # the same SDP written here: min tr M s.t. 2 pi (c - beta)_+^2 <= u^T M u <= 2 pi (c+beta)^2
    Xc = data - data.mean(axis=0)
    c = np.maximum(Xc @ U, 0).mean(axis=0)
    M = cp.Variable((6, 6), PSD=True)
    quad = cp.sum(cp.multiply(U, M @ U), axis=0)
    prob = cp.Problem(cp.Minimize(cp.trace(M)),
                      [quad >= 2 * np.pi * np.maximum(c - 0.3, 0) ** 2,
                       quad <= 2 * np.pi * (c + 0.3) ** 2])
    with warnings.catch_warnings():  # Clarabel's "inaccurate" flag on this reference
        warnings.simplefilter("ignore", UserWarning)
        prob.solve(solver=cp.CLARABEL)
    assert gan.objective_ == pytest.approx(prob.value, rel=1e-6)
    # beta >= max c_j: nothing to match, W = 0
    zero = ConvexWGAN("relu", beta=1.01 * c.max(), n_neurons=40, random_state=0).fit(data)
    assert zero.objective_ <= 1e-8 * gan.objective_
    # larger beta, smaller generator
    loose = ConvexWGAN("relu", beta=0.6, n_neurons=40, random_state=0).fit(data)
    assert loose.objective_ < gan.objective_


def test_sklearn_conventions(data):
    gan = ConvexWGAN(n_components=2, random_state=0)
    assert clone(gan).get_params() == gan.get_params()
    gan.set_params(n_components=3)
    assert gan.fit(data).n_components_ == 3
    w = np.ones(len(data))
    w[:100] = 2.0
    rep = np.vstack([data, data[:100]])
    a = ConvexWGAN(beta=1.0).fit(data, sample_weight=w)
    b = ConvexWGAN(beta=1.0).fit(rep)
    np.testing.assert_allclose(a.covariance_, b.covariance_, atol=1e-10)


def test_bad_input(data):
    with pytest.raises(ValueError, match="either beta or n_components"):
        ConvexWGAN(beta=1.0, n_components=2).fit(data)
    with pytest.raises(ValueError, match="n_components applies"):
        ConvexWGAN("relu", n_components=2).fit(data)
    with pytest.raises(ValueError, match="no closed form"):
        ConvexWGAN("relu", solver="closed_form").fit(data)
    with pytest.raises(ValueError, match="latent_dim"):
        ConvexWGAN(n_components=4, latent_dim=2).fit(data)
    with pytest.raises(ValueError, match="discriminator"):
        ConvexWGAN("tanh").fit(data)
    with pytest.raises(ValueError, match="beta"):
        ConvexWGAN(beta=-1.0).fit(data)
    with pytest.raises(ValueError, match="NaN"):
        ConvexWGAN().fit(np.full((5, 2), np.nan))
    gan = ConvexWGAN().fit(data)
    with pytest.raises(ValueError, match="n_samples"):
        gan.sample(0)
    with pytest.raises(ValueError, match="features"):
        gan.score(data[:, :3])
    # a zero direction gave NaN
    with pytest.raises(ValueError, match="nonzero columns"):
        gan.discriminator_constraint(data, directions=np.zeros((data.shape[1], 2)))


# -- ProCoGAN ---------------------------------------------------------------------------------
def _blobs(n=300, size=8, seed=0):
    """Gaussian blobs at random positions and widths on a size x size grid."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[:size, :size]
    cx, cy = rng.uniform(1, size - 2, (2, n, 1, 1))
    s = rng.uniform(0.8, 2.0, (n, 1, 1))
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s ** 2))


def test_procogan_stages_shapes_and_constraints():
    images = _blobs()
    with pytest.warns(UserWarning, match="clipped"):
        gan = ProCoGAN(truncations=[6, 8], latent_dim=10, bias=True,
                       random_state=0).fit(images)
    assert gan.resolutions_ == [4, 8]
    assert [W.shape for W in gan.stages_] == [(11, 16), (65, 64)]
    assert gan.truncations_ == [6, 7]  # stage 2 clipped to the rank of its input (6 + bias)
    for s, r in enumerate(gan.resolutions_):
        real = images.reshape(300, r, 8 // r, r, 8 // r).mean(axis=(2, 4)).reshape(300, -1)
        S = _cov(real)
        lam = np.sort(np.linalg.eigvalsh(S))[::-1]
        k = gan.truncations_[s]
        assert gan.betas_[s] == pytest.approx(lam[k], rel=1e-10)
        assert gan.constraint_values_[s] == pytest.approx(gan.betas_[s], rel=1e-8)
        np.testing.assert_allclose(gan.means_[s].ravel(), real.mean(axis=0))
        out = gan.sample(7, random_state=0, stage=s)
        assert out.shape == (7, r, r)
    assert gan.sample(3, random_state=1).shape == (3, 8, 8)


def test_procogan_without_bias_is_centered():
    """Without the ones column no retained direction is constant over samples: the generated
    mean is the data mean; with it, the shift the released code has."""
    images = _blobs(n=400)
    scale = images.std()
    plain = ProCoGAN(truncations=[8, 8], latent_dim=12, random_state=0).fit(images)
    assert [W.shape for W in plain.stages_] == [(12, 16), (64, 64)]
    assert plain.truncations_ == [8, 8]
    for c, b in zip(plain.constraint_values_, plain.betas_):
        assert c == pytest.approx(b, rel=1e-8)
    gen = plain.sample(20_000, random_state=0)
    assert np.abs(gen.mean(axis=0) - images.mean(axis=0)).max() <= 0.05 * scale
    biased = ProCoGAN(truncations=[8, 8], latent_dim=12, bias=True, random_state=0).fit(images)
    shift = np.abs(biased.sample(20_000, random_state=0).mean(axis=0)
                   - images.mean(axis=0)).max()
    assert shift > 0.2 * scale


def test_procogan_betas_and_defaults():
    images = _blobs(n=200, size=16, seed=1)
    gan = ProCoGAN(latent_dim=8, random_state=0).fit(images)
    assert gan.resolutions_ == [4, 8, 16]
    for c, b in zip(gan.constraint_values_, gan.betas_):
        assert c <= b * (1 + 1e-8) + 1e-12
    big = ProCoGAN(betas=1e6, latent_dim=4, random_state=0).fit(images)
    assert big.truncations_ == [0, 0, 0]
    np.testing.assert_allclose(big.sample(2, random_state=0)[0], images.mean(axis=0))
    assert clone(gan).get_params() == gan.get_params()


def test_procogan_bad_input():
    images = _blobs(n=50)
    with pytest.raises(ValueError, match="shape"):
        ProCoGAN().fit(images.reshape(50, -1))
    with pytest.raises(ValueError, match="either truncations or betas"):
        ProCoGAN(truncations=2, betas=1.0).fit(images)
    with pytest.raises(ValueError, match="resolutions must double"):
        ProCoGAN(resolutions=[3, 8]).fit(images)
    with pytest.raises(ValueError, match="entries"):
        ProCoGAN(truncations=[1, 2, 3]).fit(images)
    # list entries are checked like the scalars (negative betas broke constraint <= beta;
    # a negative truncation became the largest one)
    with pytest.raises(ValueError, match="every entry of betas must be a nonnegative real"):
        ProCoGAN(betas=[-1.0, 1.0]).fit(images)
    with pytest.raises(ValueError, match="every entry of truncations must be a nonnegative int"):
        ProCoGAN(truncations=[-1, 4]).fit(images)
    with pytest.raises(ValueError, match="every entry of truncations"):
        ProCoGAN(truncations=[2.5, 4]).fit(images)
    # sample() uses the fitted latent dimension, not a parameter set since (was a numpy error)
    for bias in (False, True):
        gan = ProCoGAN(latent_dim=4, bias=bias, random_state=0).fit(images)
        before = gan.sample(3, random_state=0)
        gan.set_params(latent_dim=7)
        np.testing.assert_allclose(gan.sample(3, random_state=0), before)
    # tuples are lists
    a = ProCoGAN(truncations=(2, 2), random_state=0).fit(images)
    b = ProCoGAN(truncations=[2, 2], random_state=0).fit(images)
    assert a.truncations_ == b.truncations_
    with pytest.raises(ValueError, match="square"):
        ProCoGAN().fit(np.zeros((5, 8, 4)))
    with pytest.raises(ValueError, match="NaN"):
        ProCoGAN().fit(np.full((5, 8, 8), np.nan))


def test_procogan_samples_with_the_fitted_bias_column():
    """sample() uses the bias column the model was fitted with: after set_params(bias=...)
    without a refit, a two-stage model failed with a matmul error and a one-stage model drew
    from another distribution."""
    from sklearn.datasets import load_digits

    img = load_digits().images[:200]
    two = ProCoGAN(truncations=[8, 8], latent_dim=16, random_state=0).fit(img)
    ref = two.sample(5, random_state=0)
    np.testing.assert_array_equal(two.set_params(bias=True).sample(5, random_state=0), ref)
    one = ProCoGAN(resolutions=[8], truncations=8, latent_dim=16, bias=True,
                   random_state=0).fit(img)
    ref = one.sample(5, random_state=0)
    np.testing.assert_array_equal(one.set_params(bias=False).sample(5, random_state=0), ref)


def test_relu_program_with_a_feature_on_a_large_scale():
    """In raw units a feature of scale 1e6 gave the relu SDP entries spanning 1e12, and
    Clarabel declared it infeasible ("increase beta") although the data covariance satisfies
    every constraint; it is now solved in the features' units. The certificate decides
    convergence, not Clarabel's status."""
    rng = np.random.RandomState(0)
    X = rng.randn(500, 4) @ rng.randn(4, 4)
    X[:, 0] *= 1e6
    beta = 0.2 * np.sqrt(np.trace(np.cov(X.T))) / np.sqrt(2 * np.pi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # (its certified gap: 2e-2)
        g = ConvexWGAN("relu", beta=beta, random_state=0, n_neurons=50).fit(X)
    assert g.constraint_value_ <= beta * (1 + 1e-6)
    assert 0 <= g.duality_gap_ <= 0.05 * g.objective_
    # the same data in its own units: the fit of the program is unchanged there
    tame = X.copy()
    tame[:, 0] /= 1e6
    beta_t = 0.2 * np.sqrt(np.trace(np.cov(tame.T))) / np.sqrt(2 * np.pi)
    t = ConvexWGAN("relu", beta=beta_t, random_state=0, n_neurons=50).fit(tame)
    assert t.duality_gap_ <= 1e-6 * t.objective_
