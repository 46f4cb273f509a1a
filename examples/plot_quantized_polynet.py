r"""
=====================================================================
Binary-weight networks by semidefinite relaxation: bound, net, optimum
=====================================================================

:class:`~skconvex.neural_network.QuantizedPolyNet` trains a two-layer network whose first
layer is binary, ``u_j`` in :math:`\{-1, +1\}^d`, with a polynomial activation
:math:`\sigma(t) = a t^2 + b t + c` and an l1 penalty on the output weights
(Bartan & Pilanci, 2021). Choosing the binary neurons is combinatorial; lifting
:math:`[u; 1][u; 1]^T` and relaxing the cut polytope to the elliptope gives a semidefinite
program whose value is a **lower bound** on the training objective of every binary network
(any width). The SDP solution is rounded to binary neurons (Grothendieck's identity), their
output weights are refitted, and ``optimality_gap_`` certifies how far the quantized network
can be from the best one.

On a small problem (8 features) all :math:`2^8` binary neurons can be enumerated, so the exact
optimum is known. This example compares, as the penalty varies: the SDP lower bound, the
SDP-trained network, the exact optimum, and post-training quantization (train real first-layer
weights, then take their signs and refit the output layer).
"""

# %%
# Data: a planted binary network
# ------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize

from skconvex import QuantizedPolyNet
from skconvex.neural_network._quantized import _Lasso, exact_binary_optimum
from skconvex.problems.quantized_sdp import polynomial

rng = np.random.default_rng(0)
n, d = 300, 8
X = rng.standard_normal((n, d))
U_true = np.sign(rng.standard_normal((d, 4)))
coefs = (0.09, 0.5, 0.47)  # "relu_approx"
y = polynomial(X @ U_true / np.sqrt(d), coefs) @ [1.0, -0.7, 0.8, -0.5]
y += 0.1 * y.std() * rng.standard_normal(n)


# %%
# Post-training quantization baseline
# -----------------------------------
# A float network of the same width with neurons on the sphere of radius ``sqrt(d)`` (the norm
# of a binary neuron) trained on the same objective by L-BFGS; then ``u = sign(w)`` and the
# output layer is refitted by the same convex problem as the SDP network's.
def ptq_objective(problem, h, seed=0):
    r = np.random.default_rng(seed)

    def fg(x):
        V = x[: d * h].reshape(d, h)
        p, q, c = x[d * h: d * h + h], x[d * h + h: d * h + 2 * h], x[-1]
        nv = np.linalg.norm(V, axis=0)
        W = np.sqrt(d) * V / nv
        T = problem.X @ W
        F = polynomial(T, coefs)
        res = F @ (p - q) + c - problem.Y[:, 0]
        s = problem.s
        obj = 0.5 * np.sum(s * res**2) + problem.alpha * np.sum(p + q)
        g = s * res
        ga = F.T @ g
        dW = problem.X.T @ (g[:, None] * (p - q) * (2 * coefs[0] * T + coefs[1]))
        dV = np.sqrt(d) * (dW - W * np.sum(dW * W, axis=0) / d) / nv
        return obj, np.concatenate([dV.ravel(), ga + problem.alpha, problem.alpha - ga,
                                    [g.sum()]])

    x0 = np.concatenate([r.standard_normal(d * h), np.zeros(2 * h + 1)])
    bounds = [(None, None)] * (d * h) + [(0, None)] * (2 * h) + [(None, None)]
    res = minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000})
    U = np.where(res.x[: d * h].reshape(d, h) >= 0, 1.0, -1.0)
    lasso = _Lasso(problem.features(U), np.zeros(h, dtype=int), problem.loss, problem.s,
                   problem.alpha, 1, True)
    a, c = lasso.solve(np.zeros(h), lasso.intercept(np.zeros(h), None))
    return lasso.objective(a, c)


# %%
# Sweep the penalty
# -----------------
alphas = np.logspace(-3, -1, 5)
rows = []
for alpha in alphas:
    est = QuantizedPolyNet(alpha=alpha, activation="relu_approx", random_state=0).fit(X, y)
    # the estimator's program (its targets divided by y_scale_): the exhaustive optimum and
    # the baseline on it, scaled back to the units of y like the estimator's attributes
    problem = est._make_problem(X, y)
    unit2 = est.y_scale_ ** 2
    exact = exact_binary_optimum(problem)[0] * unit2
    rows.append((est.sdp_value_, est.objective_, exact,
                 ptq_objective(problem, max(est.n_hidden_, 1)) * unit2))
    print(f"alpha={alpha:.0e}: SDP bound {est.sdp_value_:.5f}  SDP net {est.objective_:.5f}  "
          f"exact {exact:.5f}  PTQ {rows[-1][3]:.5f}  width {est.n_hidden_}  "
          f"certified gap {est.optimality_gap_ / est.objective_:.2%}")
rows = np.array(rows)

# %%
# Plot: objective relative to the exact optimum
# ---------------------------------------------
# The SDP bound sits below the optimum (the relaxation is not tight for a general polynomial
# activation); the SDP-trained network reaches the optimum; post-training quantization stays
# well above it.
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(alphas, rows[:, 0] / rows[:, 2], "v-", label="SDP lower bound")
ax.plot(alphas, rows[:, 1] / rows[:, 2], "o-", label="SDP-trained binary net")
ax.plot(alphas, rows[:, 3] / rows[:, 2], "s-", label="post-training quantization")
ax.axhline(1.0, color="k", lw=0.8, ls="--", label="exact optimum (all $2^8$ neurons)")
ax.set_xscale("log")
ax.set_xlabel("alpha (l1 penalty on the output weights)")
ax.set_ylabel("training objective / exact optimum")
ax.legend()
fig.tight_layout()
plt.show()
