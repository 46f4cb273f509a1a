"""Smooth losses with their Fenchel conjugates (for dual bounds), on an (n, k) score matrix.

Every loss is ``f(Z) = sum_i s_i l(Z_i, y_i)`` with sample weights ``s`` summing to one, so the
data term is a weighted mean. ``dual_value(Lam)`` returns ``-f^*(-Lam)`` for a dual point of the
form ``Lam = -t * grad f(Z)`` with ``0 <= t <= 1`` (which stays in the conjugate's domain for all
three losses): weak duality then gives ``P >= D`` for any primal point.
"""

import numpy as np
from scipy.special import log_expit, xlogy

# the logarithms' arguments in the dual slopes stay within (0, 1)
_TINY = np.finfo(np.float64).tiny
_EPS_HALF = np.finfo(np.float64).epsneg


def centered_targets(Y, s, loss, fit_intercept):
    """``(Y - offset, offset)``: with the squared loss and a free output intercept, the targets
    minus their weighted mean (``s`` sums to one); else ``Y`` and zeros.

    The programs' data term and intercept are invariant to that shift, and working in centred
    units keeps the residuals and the dual value accurate: with targets offset by 1e9 the
    residuals carried rounding errors of 1e-7, and the dual value's term ``offset * sum Lam``
    (zero in exact arithmetic at the optimal intercept) swamped the duality gap."""
    if loss != "squared" or not fit_intercept:
        return Y, np.zeros(Y.shape[1])
    offset = s @ Y
    Yc = Y - offset
    # a constant output (to rounding: its mean is not exactly one of its values) is exactly
    # zero once centred: the optimum is then zero and certified at once (a rounding-level
    # residual of 1e-16 gave an optimum of 1e-63 that no relative gap test could certify)
    constant = np.max(np.abs(Yc), axis=0) <= 8 * np.finfo(np.float64).eps * np.abs(offset)
    Yc[:, constant] = 0.0
    return Yc, offset


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

    def _dual_quadratic(self, Lam):
        pos = self.s > 0
        return (float(np.sum(Lam[pos] * self.Y[pos])),
                float(np.sum(Lam[pos] ** 2 / self.s[pos, None])))

    def dual_slopes(self, Lam):
        """``t -> (d/dt, d2/dt2)`` of ``dual_value(t Lam)`` (a concave quadratic)."""
        lin, quad = self._dual_quadratic(Lam)
        return lambda t: (lin - quad * t, -quad)

    def dual_scale(self, Lam, t_max):
        """The ``t`` in ``[0, t_max]`` maximizing ``dual_value(t Lam)``."""
        lin, quad = self._dual_quadratic(Lam)
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

    def dual_slopes(self, Lam):
        """``t -> (d/dt, d2/dt2)`` of ``dual_value(t Lam)`` (concave in ``t``)."""
        pos = self.s > 0
        s = self.s[pos, None]
        v = self.Y[pos] * Lam[pos] / s
        nz = v != 0
        s, v = np.broadcast_to(s, v.shape)[nz], v[nz]

        def slopes(t):
            # of -sum s (u log u + (1-u) log(1-u)) at u = t v
            u = np.clip(t * v, _TINY, 1.0 - _EPS_HALF)
            return (-float(np.sum(s * v * (np.log(u) - np.log1p(-u)))),
                    -float(np.sum(s * v * v / (u * (1.0 - u)))))

        return slopes

    def dual_scale(self, Lam, t_max):
        """The ``t`` in ``[0, t_max]`` maximizing ``dual_value(t Lam)``."""
        return _concave_argmax(self.dual_slopes(Lam), t_max)

    def intercept(self, Z0, c0=None, n_steps=30):
        """Optimal intercept for fixed scores: damped Newton steps on one variable
        (:func:`_newton_intercept`; a plain Newton step overshoots where almost every score is
        already confident: the curvature is then tiny against the gradient)."""
        c0 = 0.0 if c0 is None else float(np.asarray(c0, dtype=np.float64).reshape(-1)[0])
        sY = self.s[:, None] * self.Y

        def newton(c):
            p = np.exp(log_expit(-self.Y * (Z0 + c)))  # sigma(-y z)
            g = -float(np.sum(sY * p))
            h = float(np.sum(self.s[:, None] * p * (1 - p)))
            step = g / max(h, 1e-12)
            return abs(g), step, g * step

        c = _newton_intercept(lambda c: self.value(Z0 + c), newton, np.array([c0]), n_steps,
                              float(np.sum(self.s)))
        return np.asarray(c, dtype=np.float64).reshape(1)


class CrossEntropyLoss:
    """Multinomial ``l(z, y) = logsumexp(z) - z_y`` with one-hot ``Y`` (n, K)."""

    name = "cross_entropy"
    curvature = 0.5

    def __init__(self, Y, s):
        self.Y, self.s = Y, s

    def value(self, Z):
        lse, _, _ = _row_exp(Z)
        return float(np.sum(self.s * (lse - np.einsum("nk,nk->n", Z, self.Y))))

    def grad(self, Z):
        return self.s[:, None] * (_softmax(Z) - self.Y)

    def value_grad(self, Z):
        """The value and gradient from one pass of exponentials."""
        lse, E, S = _row_exp(Z)
        E /= S[:, None]  # the softmax
        E -= self.Y
        E *= self.s[:, None]
        return float(np.sum(self.s * (lse - np.einsum("nk,nk->n", Z, self.Y)))), E

    def hessian_rows(self, Z):
        """Second derivative of the loss in each row's scores, ``s_i (diag(p) - p p^T)``:
        (n, K, K)."""
        P = _softmax(Z)
        H = -P[:, :, None] * P[:, None, :]
        K = Z.shape[1]
        H[:, np.arange(K), np.arange(K)] += P
        return self.s[:, None, None] * H

    def dual_value(self, Lam):
        # q_i = y_i - Lam_i / s_i lies in the simplex; -f*(-Lam) = -sum_i s_i sum_k q log q
        pos = self.s > 0
        q = np.clip(self.Y[pos] - Lam[pos] / self.s[pos, None], 0.0, 1.0)
        return -float(np.sum(self.s[pos, None] * xlogy(q, q)))

    def dual_slopes(self, Lam):
        """``t -> (d/dt, d2/dt2)`` of ``dual_value(t Lam)`` (concave in ``t``)."""
        pos = self.s > 0
        s = self.s[pos, None]
        B = Lam[pos] / s  # q(t) = y - t B
        nz = B != 0
        Yn, s, B = self.Y[pos][nz], np.broadcast_to(s, B.shape)[nz], B[nz]

        def slopes(t):
            # of -sum s q log q at q = y - t B
            q = np.clip(Yn - t * B, _TINY, 1.0)
            return (float(np.sum(s * B * (np.log(q) + 1.0))),
                    -float(np.sum(s * B * B / q)))

        return slopes

    def dual_scale(self, Lam, t_max):
        """The ``t`` in ``[0, t_max]`` maximizing ``dual_value(t Lam)``."""
        return _concave_argmax(self.dual_slopes(Lam), t_max)

    def intercept(self, Z0, c0=None, n_steps=50):
        """Optimal intercepts (sum zero) for fixed scores, by damped Newton steps
        (:func:`_newton_intercept`)."""
        K = Z0.shape[1]
        c = np.zeros(K) if c0 is None else np.array(c0, dtype=np.float64)

        def newton(c):
            P = _softmax(Z0 + c)
            g = self.s @ (P - self.Y)
            H = (P * self.s[:, None]).T @ P
            H = np.diag(self.s @ P) - H + 1e-12 * np.eye(K)
            step = np.linalg.lstsq(H, g, rcond=None)[0]
            step -= step.mean()
            return float(np.max(np.abs(g))), step, float(g @ step)

        c = _newton_intercept(lambda c: self.value(Z0 + c), newton, c, n_steps,
                              float(np.sum(self.s)))
        return c - c.mean()


def _row_exp(Z):
    """``(logsumexp of each row, exp(Z - row max), row sums of that)``: the log-normalizer and
    the softmax's pieces in one pass (scipy's logsumexp costs 2.4 times as much at 2,000 x 26)."""
    m = Z.max(axis=1)
    E = np.exp(Z - m[:, None])
    S = E.sum(axis=1)
    return np.log(S) + m, E, S


def _softmax(Z):
    """The row-wise softmax of ``Z`` (from :func:`_row_exp`)."""
    _, E, S = _row_exp(Z)
    E /= S[:, None]
    return E


def _newton_intercept(value, newton, c, n_steps, weight):
    """Damped Newton's method for the optimal output intercepts ``c`` of a loss ``value(c)``;
    ``newton(c) -> (max |gradient|, Newton step, predicted decrease)``; ``weight`` the sum of
    the sample weights.

    Stops on the gradient, not on the objective's stall: the certificate needs ``sum(Lam)
    = 0`` (the intercept's dual constraint) to rounding level. Once a step's predicted decrease
    is below the rounding of the loss (and the gradient small), the loss cannot judge it: such
    steps are taken whole (Newton converges there) while the gradient keeps shrinking, instead
    of a line search halving them to nothing (up to 30 evaluations of the loss a call)."""
    f_old = value(c)
    g_tol = 1e-15 * max(1.0, weight)
    g_old, c_old, rounding = np.inf, c, False
    for it in range(n_steps + 1):
        g_max, step, decrease = newton(c)
        if rounding and g_max >= g_old:
            c = c_old  # the whole step did not shrink the gradient: undo it, stop
            break
        if g_max <= g_tol or it == n_steps:
            break
        g_old, c_old = g_max, c
        # (a small gradient too: a saturated loss can make the step tiny far from the
        # optimum, where the whole step would be no Newton step)
        rounding = (decrease <= 1e-13 * max(abs(f_old), 1e-300)
                    and g_max <= 1e-6 * max(1.0, weight))
        if rounding:
            c = c - step
            continue
        t = 1.0
        while True:
            f_new = value(c - t * step)
            if f_new <= f_old - 1e-4 * t * decrease or t <= 1e-8:
                break
            t *= 0.5
        if f_new < f_old:
            c = c - t * step
            f_old = f_new
        if t <= 1e-8:
            break  # the damped Newton steps stall
    return c


def _concave_argmax(slopes, t_max, n_iter=100):
    """Maximize a concave function of one variable on ``[0, t_max]`` from its first and
    second derivatives (``slopes(t) -> (d1, d2)``), to a relative ``1e-9`` in ``t``.

    Newton's method on ``d1 = 0``, kept inside the bracket where ``d1`` changes sign and
    replaced by bisection where it leaves it. Newton's steps shrink also where the root is at
    a singularity of ``d2`` (a dual point on the boundary of the conjugate's domain), so a
    step that says "converged" is confirmed by the sign of ``d1`` just beyond it; if that
    fails, the next step bisects. A handful of evaluations where a golden-section search on
    the values takes forty.
    """
    t_max = float(t_max)
    # bracket the root from t = 1 up (a Newton step from a huge t loses the root to rounding)
    lo, hi = 0.0, min(t_max, 1.0)
    d1, d2 = slopes(hi)
    while d1 > 0 and hi < t_max:
        lo, hi = hi, min(16.0 * hi, t_max)
        d1, d2 = slopes(hi)
    if d1 >= 0:
        return hi
    t, bisect, zero_checked = hi, False, False
    for _ in range(n_iter):
        newton = t - d1 / d2 if d2 < 0 and not bisect else np.nan
        if lo == 0.0 and not newton > 0.0 and not zero_checked:
            zero_checked = True  # Newton points at or below 0 (or nowhere): is the max at 0?
            if slopes(0.0)[0] <= 0:
                return 0.0
        t_new = newton if lo < newton < hi else 0.5 * (lo + hi)
        bisect = False
        d1, d2 = slopes(t_new)
        if d1 == 0:
            return t_new
        if d1 > 0:
            lo = t_new
        else:
            hi = t_new
        if hi - lo <= 1e-9 * hi:
            return t_new
        if t_new == newton and abs(t_new - t) <= 1e-10 * t_new:
            # confirm: the root lies within a relative 1e-9 beyond t_new
            probe = t_new * (1.0 + 1e-9) if d1 > 0 else t_new * (1.0 - 1e-9)
            if not lo < probe < hi:
                return t_new
            p1 = slopes(probe)[0]
            if (p1 <= 0) == (d1 > 0):
                return t_new
            if p1 > 0:
                lo = probe
            else:
                hi = probe
            bisect = True
        t = t_new
    return t


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
