"""Runtime (delay) models of workers: i.i.d. runtimes with a known CDF.

Each model has ``cdf(t)``, ``ppf(q)``, ``mean()`` and ``sample(size, random_state)``; any of
them can design a :class:`~skconvex.distributed.PolarCodedMatVec` (``runtime_cdf=model``) and
inject stragglers into a run on a Dask cluster (``delay=model``).
"""

from numbers import Real

from abc import ABC, abstractmethod

import numpy as np
from sklearn.utils import check_random_state


class _DelayModel(ABC):
    def sample(self, size=None, random_state=None):
        """Draw runtimes (seconds); ``random_state`` may also be a ``np.random.Generator``."""
        rng = random_state if isinstance(random_state, np.random.Generator) else \
            check_random_state(random_state)
        return self.ppf(rng.uniform(size=size))

    @abstractmethod
    def ppf(self, q):
        """Quantile function of the runtime distribution."""

    @abstractmethod
    def mean(self):
        """Mean runtime."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _check_positive(value, name, strict=True):
    if not isinstance(value, Real) or not np.isfinite(value) or \
            (value <= 0 if strict else value < 0):
        raise ValueError(f"{name} must be a {'positive' if strict else 'non-negative'} "
                         f"finite number, got {value!r}.")
    return float(value)


class ShiftedExponentialDelay(_DelayModel):
    """``T = shift + Exponential(rate)``: ``F(t) = 1 - exp(-rate (t - shift))`` for
    ``t >= shift`` (the usual model of coded computing: a deterministic part plus a random
    tail)."""

    def __init__(self, shift=1.0, rate=1.0):
        self.shift = _check_positive(shift, "shift", strict=False)
        self.rate = _check_positive(rate, "rate")

    def cdf(self, t):
        t = np.asarray(t, dtype=np.float64)
        return -np.expm1(-self.rate * np.maximum(t - self.shift, 0.0))

    def ppf(self, q):
        q = np.asarray(q, dtype=np.float64)
        return self.shift - np.log1p(-q) / self.rate

    def mean(self):
        return self.shift + 1.0 / self.rate


class ExponentialDelay(ShiftedExponentialDelay):
    """``T = Exponential(rate)`` (``ShiftedExponentialDelay`` with ``shift=0``)."""

    def __init__(self, rate=1.0):
        super().__init__(shift=0.0, rate=rate)

    def __repr__(self):
        return f"ExponentialDelay(rate={self.rate!r})"


class ParetoDelay(_DelayModel):
    """Heavy-tailed runtimes: ``F(t) = 1 - (scale / t)^shape`` for ``t >= scale``
    (mean ``scale * shape / (shape - 1)``, infinite for ``shape <= 1``)."""

    def __init__(self, scale=1.0, shape=1.5):
        self.scale = _check_positive(scale, "scale")
        self.shape = _check_positive(shape, "shape")

    def cdf(self, t):
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.where(t >= self.scale, 1.0 - (self.scale / np.maximum(t, self.scale))
                            ** self.shape, 0.0)

    def ppf(self, q):
        q = np.asarray(q, dtype=np.float64)
        return self.scale * (1.0 - q) ** (-1.0 / self.shape)

    def mean(self):
        return np.inf if self.shape <= 1 else self.scale * self.shape / (self.shape - 1.0)
