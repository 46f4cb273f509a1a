"""
Certifying scikit-learn MLPs against the convex optimum
=======================================================

A two-layer ReLU network with weight decay has an exact convex reformulation, so the best
network for a given ``alpha`` has a computable value, and the dual of the convex program gives
a *certificate*: from a trained network's residual we build a dual point, check its
constraints on the activation regions of the network's own neurons and of fresh ones, and get
a lower bound on every network's objective (:func:`skconvex.inspection.certify`).

Here we train :class:`sklearn.neural_network.MLPRegressor` from several seeds on a
one-dimensional problem (where checking every sample as a kink anchor covers *every*
activation region, so the bound holds for every network of any width), certify each, and
plot their objectives (scikit-learn's own ``loss_``) against the exact convex optimum, with
each network's certified interval ``[dual_bound, objective]``.
"""

# %%
import warnings

import cvxpy as cp
import matplotlib.pyplot as plt
import numpy as np
from sklearn.neural_network import MLPRegressor

from skconvex.inspection import certify

rng = np.random.RandomState(0)
n = 30
x = np.sort(rng.uniform(-2, 2, n))
X, y = x[:, None], np.sin(2 * x) + 0.1 * rng.randn(n)
alpha = 1.0  # scikit-learn's alpha: J = mean(1/2 (f - y)^2) + alpha / (2 n) ||W||^2

# %%
# The exact optimum. With unpenalized hidden biases (as in scikit-learn) and 1-D inputs, the
# convex program is a lasso over the hinge functions ``relu(+-(x - x_k))`` at every sample,
# with weight ``beta = alpha / n`` (the rescaled penalty ``beta sum_j |a_j| ||w_j||``).
A = np.hstack([np.maximum(x[:, None] - x[None, :], 0), np.maximum(x[None, :] - x[:, None], 0)])
z, c = cp.Variable(2 * n), cp.Variable()
opt = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(A @ z + c - y) / n
                             + alpha / n * cp.norm1(z))).solve(solver=cp.CLARABEL)

# %%
# Train and certify networks from ten seeds (L-BFGS, 20 hidden units).
rows = []
for seed in range(10):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPRegressor(hidden_layer_sizes=(20,), alpha=alpha, solver="lbfgs",
                           max_iter=5000, max_fun=50000, tol=1e-12, random_state=seed).fit(X, y)
    cert = certify(mlp, X, y, n_anchors=n, random_state=0)
    rows.append((seed, mlp.loss_, cert))
    print(f"seed {seed}: loss_ {mlp.loss_:.6f}  certified objective {cert.objective:.6f}  "
          f"bound {cert.dual_bound:.6f}  rel. gap {cert.relative_gap:.1e}  "
          f"certified {cert.is_certified}  violating regions {cert.violating_patterns.shape[1]}")
print(f"convex optimum {opt:.6f}")

# %%
# Every bound is below the optimum and every objective above it. A network is certified when
# its interval is short (relative gap below ``gap_tol=1e-3``). L-BFGS stops networks close to
# stationarity but not at it, so the dual point built from the residual violates a few
# constraints by a fraction of a percent and the intervals of the good networks are a few
# 1e-3 long; a network stuck at a poor stationary point gets a long interval, and its
# violating regions (with witness neurons) prove that adding a unit would lower its loss.
fig, ax = plt.subplots(figsize=(7, 4))
for seed, loss, cert in rows:
    color = "tab:green" if cert.is_certified else "tab:red"
    ax.plot([seed, seed], [cert.dual_bound, cert.objective], color=color, lw=3, alpha=0.5)
    ax.plot(seed, loss, "o", color=color)
ax.axhline(opt, color="k", ls="--", label="convex optimum")
ax.set_xlabel("MLPRegressor random_state")
ax.set_ylabel("objective (scikit-learn's loss_)")
ax.set_title("certified intervals [dual bound, objective]: green certified, red refuted")
ax.legend()
fig.tight_layout()
plt.show()
