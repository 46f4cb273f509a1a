"""ProCoGAN: progressive convex GAN, one closed-form linear-generator stage per resolution."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted

from skconvex.problems.wgan import weighted_moments


def _downsample(images, factor):
    """Block means over ``factor x factor`` tiles (area downsampling)."""
    if factor == 1:
        return images
    n, h, w = images.shape
    return images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def _upsample(flat, shape):
    """Nearest-neighbour x2 upsampling of flattened ``shape`` images."""
    img = flat.reshape(flat.shape[0], *shape)
    return img.repeat(2, axis=1).repeat(2, axis=2).reshape(flat.shape[0], -1)


def _with_bias(A):
    return np.hstack([A, np.ones((A.shape[0], 1))])


class ProCoGAN(BaseEstimator):
    """Progressive convex GAN for images: one closed-form WGAN stage per resolution.

    Each stage is a linear generator against a quadratic-activation discriminator, solved in
    closed form (see :class:`ConvexWGAN`): at resolution ``r_s`` the stage maps its input
    ``A_s`` (the latent with a ones column at the first stage; the previous stage's output,
    upsampled x2 by nearest neighbour, with a ones column afterwards) to centered images
    ``G_s = A_s W_s`` with ``||S_s - G_s^T G_s / n_f||_2 <= beta_s`` (``S_s`` the covariance of
    the real images at that resolution), ``W_s`` of minimal Frobenius norm (the released
    ProCoGAN formula ``W_s = V_A diag(sqrt(n_f)/s_A) diag(sqrt(lambda - beta_s)) V_k^T``). The
    per-resolution mean image is added to the output. Real images are downsampled by block
    averaging.

    Every stage is affine and upsampling is linear, so the whole generator is affine in the
    latent and each stage's input has rank at most ``latent_dim`` (the previous truncation;
    plus one with the bias column). A truncation above the rank of its stage's
    input would divide by zero singular values; it is clipped to that rank with a warning.

    Parameters
    ----------
    resolutions : list of int or None, default=None
        Square stage resolutions, each twice the previous, the last one the image size. None:
        halve the image size while it is even and the result at least 4 (8x8 -> [4, 8],
        28x28 -> [7, 14, 28], 64x64 -> [4, 8, 16, 32, 64]).
    truncations : int, list of int or None, default=None
        Principal directions kept per stage (``beta_s = lambda_{k_s + 1}``); an int is used
        for every stage. Exclusive with ``betas``. None (and ``betas`` None): as many as each
        stage's input supports.
    betas : float, list of float or None, default=None
        Per-stage discriminator penalties (per-pixel-covariance scale).
    latent_dim : int, default=32
    n_latent_samples : int or None, default=None
        Training latents ``n_f`` (default: number of images).
    bias : bool, default=False
        Append a ones column to every stage's input, as the released code does. Off by
        default: the closed form pairs input and data directions by singular value, and the
        ones column (norm ``sqrt(n_f)``, like the latent's columns) then becomes one retained
        direction that is the same for every sample, i.e. a mean shift. A quadratic
        discriminator on centered data cannot tell a mean shift from variance
        (``E (u . x)^2`` mixes both), so the program is satisfied, but the images are biased
        (on digits, Frechet distance 1.77 with the bias column against 0.46 without).
    random_state : int, RandomState instance or None, default=None
        Seed of the training latents.

    Attributes
    ----------
    stages_ : list of ndarray
        ``W_s`` of shape (input columns, r_s * r_s).
    resolutions_ : list of int
    truncations_ : list of int
        Retained directions per stage (after clipping).
    betas_ : list of float
    means_ : list of ndarray
        Mean image per resolution, shape (r_s, r_s).
    constraint_values_ : list of float
        ``||S_s - G_s^T G_s / n_f||_2`` of each stage's training batch (<= ``betas_[s]``).
    image_shape_ : tuple
    n_features_in_ : int
        Pixels per image.
    fit_time_ : float

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skconvex.generative import ProCoGAN
    >>> images = load_digits().images
    >>> gan = ProCoGAN(truncations=[8, 8], latent_dim=16, random_state=0).fit(images)
    >>> gan.resolutions_, gan.sample(5, random_state=0).shape
    ([4, 8], (5, 8, 8))
    >>> all(c <= b * (1 + 1e-9) for c, b in zip(gan.constraint_values_, gan.betas_))
    True
    """

    _parameter_constraints: dict = {
        "resolutions": [list, None],
        "truncations": [Interval(Integral, 0, None, closed="left"), list, tuple, None],
        "betas": [Interval(Real, 0, None, closed="left"), list, tuple, None],
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "n_latent_samples": [Interval(Integral, 1, None, closed="left"), None],
        "bias": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, resolutions=None, *, truncations=None, betas=None, latent_dim=32,
                 n_latent_samples=None, bias=False, random_state=None):
        self.resolutions = resolutions
        self.truncations = truncations
        self.betas = betas
        self.latent_dim = latent_dim
        self.n_latent_samples = n_latent_samples
        self.bias = bias
        self.random_state = random_state

    def _validate_images(self, images, reset):
        images = check_array(images, allow_nd=True, dtype=np.float64, ensure_2d=False,
                             ensure_min_samples=2 if reset else 1)
        if images.ndim != 3:
            raise ValueError(f"images must have shape (n_images, height, width), got an array "
                             f"of shape {images.shape}")
        return images

    def _stage_resolutions(self, h, w):
        if self.resolutions is None:
            if h != w:
                raise ValueError(f"ProCoGAN needs square images, got {h}x{w}")
            res = [h]
            while res[0] % 2 == 0 and res[0] // 2 >= 4:
                res.insert(0, res[0] // 2)
            return res
        res = [int(r) for r in self.resolutions]
        if h != w or res[-1] != h or any(b != 2 * a for a, b in zip(res, res[1:])):
            raise ValueError(f"resolutions must double at every stage and end at the image "
                             f"size {h}x{w} (square images), got {self.resolutions}")
        return res

    def _per_stage(self, value, n_stages, name):
        """One value per stage, each checked like the scalar (an int >= 0 for
        ``truncations``, a real >= 0 for ``betas``)."""
        if value is None or np.isscalar(value):
            return [value] * n_stages
        if len(value) != n_stages:
            raise ValueError(f"{name} has {len(value)} entries for {n_stages} stages")
        kind = Integral if name == "truncations" else Real
        for v in value:
            if isinstance(v, bool) or not isinstance(v, kind) or not v >= 0:
                what = "int" if kind is Integral else "real number"
                raise ValueError(f"every entry of {name} must be a nonnegative {what}; got "
                                 f"{list(value)!r}")
        return list(value)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the stages, from the lowest resolution up.

        Parameters
        ----------
        X : array-like of shape (n_images, height, width)
            Real images (square).
        y : Ignored

        Returns
        -------
        self : object
        """
        t0 = time.perf_counter()
        images = self._validate_images(X, reset=True)
        if self.truncations is not None and self.betas is not None:
            raise ValueError("pass either truncations or betas, not both")
        n, h, w = images.shape
        res = self._stage_resolutions(h, w)
        truncs = self._per_stage(self.truncations, len(res), "truncations")
        betas = self._per_stage(self.betas, len(res), "betas")
        n_f = self.n_latent_samples or n
        rng = check_random_state(self.random_state)
        A = rng.standard_normal((n_f, self.latent_dim))
        if self.bias:
            A = _with_bias(A)
        self.stages_, self.truncations_, self.betas_ = [], [], []
        self.means_, self.constraint_values_ = [], []
        for s, r in enumerate(res):
            real = _downsample(images, h // r).reshape(n, -1)
            mean, S, _, _ = weighted_moments(real)
            lam, V = np.linalg.eigh(S)
            lam, V = np.maximum(lam[::-1], 0.0), V[:, ::-1]
            _, sa, Vat = np.linalg.svd(A, full_matrices=False)
            rank_in = int(np.sum(sa > sa[0] * max(A.shape) * np.finfo(float).eps))
            k, beta = truncs[s], betas[s]
            if beta is not None:
                k = int(np.sum(lam > beta))
            elif k is None:
                k = rank_in
            k = min(int(k), lam.size)
            if k > rank_in:
                warnings.warn(f"ProCoGAN stage {s} ({r}x{r}): truncation {k} exceeds the rank "
                              f"{rank_in} of the stage input; clipped to {rank_in}",
                              UserWarning, stacklevel=2)
                k = rank_in
            if beta is None:
                beta = float(lam[k]) if k < lam.size else 0.0
            mu = np.maximum(lam[:k] - beta, 0.0)
            W = Vat[:k].T @ ((np.sqrt(n_f) / sa[:k] * np.sqrt(mu))[:, None] * V[:, :k].T)
            G = A @ W
            self.constraint_values_.append(float(np.linalg.norm(S - G.T @ G / n_f, 2)))
            self.stages_.append(W)
            self.truncations_.append(int(np.sum(mu > 0)))
            self.betas_.append(float(beta))
            self.means_.append(mean.reshape(r, r))
            if s + 1 < len(res):
                A = _upsample(G, (r, r))
                if self.bias:
                    A = _with_bias(A)
        self.resolutions_ = res
        self._bias_fit = bool(self.bias)  # what sample() uses, whatever set_params does later
        self.image_shape_ = (h, w)
        self.n_features_in_ = h * w
        self.fit_time_ = time.perf_counter() - t0
        return self

    def sample(self, n_samples=1, random_state=None, stage=None):
        """Generate images.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Seed of the latents.
        stage : int or None, default=None
            Stop at this stage (its resolution); None: the last one.

        Returns
        -------
        images : ndarray of shape (n_samples, r, r)
        """
        check_is_fitted(self)
        if not (isinstance(n_samples, Integral) and n_samples >= 1):
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        last = len(self.stages_) - 1 if stage is None else int(stage)
        if not 0 <= last < len(self.stages_):
            raise ValueError(f"stage must be in [0, {len(self.stages_) - 1}], got {stage!r}")
        rng = check_random_state(random_state)
        # the fitted latent dimension and bias column (the first stage's rows, less its bias
        # row), not the parameters, which may have been set since
        bias = getattr(self, "_bias_fit", self.bias)
        latent = self.stages_[0].shape[0] - (1 if bias else 0)
        A = rng.standard_normal((n_samples, latent))
        for s in range(last + 1):
            if bias:
                A = _with_bias(A)
            A = A @ self.stages_[s]
            r = self.resolutions_[s]
            if s < last:
                A = _upsample(A, (r, r))
        r = self.resolutions_[last]
        return A.reshape(n_samples, r, r) + self.means_[last]
