"""Smooth losses with their Fenchel conjugates (for dual bounds), on an (n, k) score matrix.

Every loss is ``f(Z) = sum_i s_i l(Z_i, y_i)`` with sample weights ``s`` summing to one, so the
data term is a weighted mean. ``dual_value(Lam)`` returns ``-f^*(-Lam)`` for a dual point of the
form ``Lam = -t * grad f(Z)`` with ``0 <= t <= 1`` (which stays in the conjugate's domain for all
three losses): weak duality then gives ``P >= D`` for any primal point.
"""

import numpy as np
from scipy.special import log_expit, logsumexp, softmax, xlogy


class SquaredLoss:
    """``l(z, y) = 1/2 ||z - y||^2``."""

    name = "squared"
    curvature = 1.0  # Lipschitz constant of l' per unit weight

    def __init__(self, Y, s):
        self.Y, self.s = Y, s

    def value(self, Z):
        R = Z - self.Y
        return 0.5 * float(np.sum(self.s[:, None] * R * R))

    def grad(self, Z):
        return self.s[:, None] * (Z - self.Y)

    def value_grad(self, Z):
        G = self.s[:, None] * (Z - self.Y)
        return 0.5 * float(np.sum(G * (Z - self.Y))), G

    def dual_value(self, Lam):
        # -f*(-Lam) = sum_i <Lam_i, y_i> - ||Lam_i||^2 / (2 s_i)
        pos = self.s > 0
        return float(np.sum(Lam[pos] * self.Y[pos])
                     - 0.5 * np.sum(Lam[pos] ** 2 / self.s[pos, None]))

    def dual_scale(self, Lam, t_max):
        """The ``t`` in ``[0, t_max]`` maximizing ``dual_value(t Lam)`` (a concave quadratic)."""
        pos = self.s > 0
        lin = float(np.sum(Lam[pos] * self.Y[pos]))
        quad = float(np.sum(Lam[pos] ** 2 / self.s[pos, None]))
        return t_max if quad <= 0 else float(np.clip(lin / quad, 0.0, t_max))

    def hessian_rows(self, Z):
        """Second derivative of the loss in each row's scores: (n, K, K)."""
        n, K = Z.shape
        H = np.zeros((n, K, K))
        H[:, np.arange(K), np.arange(K)] = self.s[:, None]
        return H

    def intercept(self, Z0):
        """Optimal output intercept for fixed scores ``Z0``."""
        return self.s @ (self.Y - Z0) / self.s.sum()


class LogisticLoss:
    """Binary ``l(z, y) = log(1 + exp(-y z))`` with ``y`` in {-1, +1} (one output)."""

    name = "logistic"
    curvature = 0.25

    def __init__(self, Y, s):
        self.Y, self.s = Y, s

    def value(self, Z):
        return -float(np.sum(self.s[:, None] * log_expit(self.Y * Z)))

    def grad(self, Z):
        # d/dz log(1+exp(-yz)) = -y sigmoid(-yz)
        return -self.s[:, None] * self.Y * np.exp(log_expit(-self.Y * Z))

    def value_grad(self, Z):
        return self.value(Z), self.grad(Z)

    def hessian_rows(self, Z):
        """Second derivative of the loss in each row's score: (n, 1, 1)."""
        p = np.exp(log_expit(-self.Y * Z))
        return (self.s[:, None] * p * (1.0 - p))[:, :, None]

    def dual_value(self, Lam):
        # with u_i = y_i Lam_i / s_i in [0, 1]: -f*(-Lam) = -sum_i s_i (u log u + (1-u) log(1-u))
        pos = self.s > 0
        u = np.clip(self.Y[pos] * Lam[pos] / self.s[pos, None], 0.0, 1.0)
        return -float(np.sum(self.s[pos, None] * (xlogy(u, u) + xlogy(1 - u, 1 - u))))

    def dual_scale(self, Lam, t_max):
        return _golden_max(lambda t: self.dual_value(t * Lam), t_max)

    def intercept(self, Z0, c0=None, n_steps=30):
        """Optimal intercept for fixed scores: Newton's method on one variable, damped by
        backtracking on the loss (a plain Newton step overshoots where almost every score
        is already confident: the curvature is then tiny against the gradient)."""
        c = 0.0 if c0 is None else float(np.asarray(c0, dtype=np.float64).reshape(-1)[0])
        sY = self.s[:, None] * self.Y
        f = self.value(Z0 + c)
        for _ in range(n_steps):
            p = np.exp(log_expit(-self.Y * (Z0 + c)))  # sigma(-y z)
            g = -float(np.sum(sY * p))
            h = float(np.sum(self.s[:, None] * p * (1 - p)))
            step = g / max(h, 1e-12)
            t = 1.0
            while True:
                f_new = self.value(Z0 + (c - t * step))
                if f_new <= f - 1e-4 * t * g * step or t < 1e-10:
                    break
                t *= 0.5
            if f_new > f:  # no decrease along the Newton direction: at the optimum
                break
            c, f = c - t * step, f_new
            if abs(t * step) < 1e-13 * (1 + abs(c)):
                break
        return np.array([c])


class CrossEntropyLoss:
    """Multinomial ``l(z, y) = logsumexp(z) - z_y`` with one-hot ``Y`` (n, K)."""

    name = "cross_entropy"
    curvature = 0.5

    def __init__(self, Y, s):
        self.Y, self.s = Y, s

    def value(self, Z):
        return float(np.sum(self.s * (logsumexp(Z, axis=1) - np.sum(Z * self.Y, axis=1))))

    def grad(self, Z):
        return self.s[:, None] * (softmax(Z, axis=1) - self.Y)

    def value_grad(self, Z):
        return self.value(Z), self.grad(Z)

    def hessian_rows(self, Z):
        """Second derivative of the loss in each row's scores, ``s_i (diag(p) - p p^T)``:
        (n, K, K)."""
        P = softmax(Z, axis=1)
        H = -P[:, :, None] * P[:, None, :]
        K = Z.shape[1]
        H[:, np.arange(K), np.arange(K)] += P
        return self.s[:, None, None] * H

    def dual_value(self, Lam):
        # q_i = y_i - Lam_i / s_i lies in the simplex; -f*(-Lam) = -sum_i s_i sum_k q log q
        pos = self.s > 0
        q = np.clip(self.Y[pos] - Lam[pos] / self.s[pos, None], 0.0, 1.0)
        return -float(np.sum(self.s[pos, None] * xlogy(q, q)))

    def dual_scale(self, Lam, t_max):
        return _golden_max(lambda t: self.dual_value(t * Lam), t_max)

    def intercept(self, Z0, c0=None, n_steps=50):
        """Optimal intercepts (sum zero) for fixed scores, by damped Newton steps."""
        K = Z0.shape[1]
        c = np.zeros(K) if c0 is None else np.array(c0, dtype=np.float64)
        f_old = self.value(Z0 + c)
        for _ in range(n_steps):
            P = softmax(Z0 + c, axis=1)
            g = self.s @ (P - self.Y)
            H = (P * self.s[:, None]).T @ P
            H = np.diag(self.s @ P) - H + 1e-12 * np.eye(K)
            step = np.linalg.lstsq(H, g, rcond=None)[0]
            step -= step.mean()
            t = 1.0
            while t > 1e-8:
                f_new = self.value(Z0 + c - t * step)
                if f_new <= f_old - 1e-4 * t * float(g @ step):
                    break
                t *= 0.5
            c = c - t * step
            f_old = f_new
            # stop on the gradient, not on the objective's stall: the certificate needs
            # sum(Lam) = 0 (the intercept's dual constraint) to rounding level
            if np.max(np.abs(g)) <= 1e-15 * max(1.0, float(np.sum(self.s))) or t < 1e-8:
                break
        return c - c.mean()


def _golden_max(fun, t_max, n_iter=40):
    """Maximize a concave function of one variable on [0, t_max]."""
    lo, hi = 0.0, float(t_max)
    phi = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
    fa, fb = fun(a), fun(b)
    for _ in range(n_iter):
        if fa < fb:
            lo, a, fa = a, b, fb
            b = lo + phi * (hi - lo)
            fb = fun(b)
        else:
            hi, b, fb = b, a, fa
            a = hi - phi * (hi - lo)
            fa = fun(a)
    best = max((fun(t_max), t_max), (fa, a), (fb, b))
    return best[1]


LOSSES = {"squared": SquaredLoss, "logistic": LogisticLoss, "cross_entropy": CrossEntropyLoss}


def cvxpy_loss(name, Z, Y, s):
    """The data term ``sum_i s_i l(Z_i, y_i)`` of loss ``name`` as a cvxpy expression of the
    (n, K) score expression ``Z`` (reference solvers)."""
    import cvxpy as cp

    if name == "squared":
        return 0.5 * cp.sum(cp.multiply(s[:, None], cp.square(Z - Y)))
    if name == "logistic":
        return cp.sum(cp.multiply(s[:, None], cp.logistic(-cp.multiply(Y, Z))))
    return cp.sum(cp.multiply(s, cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1)))
