r"""
==================================================================
A ReLU network on two spirals, trained by its convex program
==================================================================

:class:`~skconvex.neural_network.ConvexReLUClassifier` fits a two-layer ReLU network

.. math::

    f(x) = \sum_j a_j \, (\tilde x^\top u_j)_+ + c,
    \qquad \tilde x = [\text{standardized } x, 1],

with weight decay, :math:`\frac1n \sum_i \log(1 + e^{-y_i f(x_i)}) + \frac\alpha2 \sum_j
(\|u_j\|^2 + a_j^2)`, without gradient descent. It samples ``n_patterns`` activation
patterns (which training points switch a unit on) and solves the convex program of the
network restricted to those patterns, a group lasso with one group per pattern and sign
(Pilanci & Ergen, 2020). Every nonzero group becomes one hidden unit, so the width of the
network, ``n_hidden_``, is an output of the fit, and ``duality_gap_`` bounds how far the
network is from the best network whose units follow the sampled patterns.

This example fits it on two interleaved spirals and compares it with scikit-learn's
:class:`~sklearn.neural_network.MLPClassifier` of the same width and the same weight decay.
It draws both decision boundaries and the hidden units of both networks: in two dimensions
unit :math:`j` is the line :math:`x \cdot W_1[:, j] + b_1[j] = 0`, active on one side of it.
"""

# %%
# Two spirals
# -----------
# 400 training points and 2,000 test points, drawn from the same distribution: two arms
# of 1.5 turns, one per class, with Gaussian noise.

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconvex import ConvexReLUClassifier


def make_spirals(n_samples, *, turns=1.5, noise=0.2, random_state=None):
    rng = np.random.RandomState(random_state)
    t = np.sqrt(rng.rand(n_samples)) * turns * 2 * np.pi  # uniform density along the arms
    label = rng.randint(0, 2, n_samples)
    radius = 3 * t / (turns * 2 * np.pi)
    angle = t + np.pi * label  # the second arm is the first one turned by 180 degrees
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return X + noise * rng.randn(n_samples, 2), label


X, y = make_spirals(400, random_state=0)
X_test, y_test = make_spirals(2000, random_state=1)

# %%
# The convex network and the MLP
# ------------------------------
# ``alpha=1e-3`` with 200 sampled patterns. The program is solved by accelerated proximal
# gradient (each iterate satisfies the ReLU cone constraints exactly) to a relative duality
# gap of ``tol=1e-4``.
#
# The MLP gets the width that the convex fit chose and the same weight decay. scikit-learn
# adds :math:`\frac{\alpha'}{2 n} \|W\|^2` to the mean loss where skconvex adds
# :math:`\frac\alpha2 \|W\|^2`, hence ``alpha' = n * alpha``. (It does not penalize the hidden
# biases, skconvex does: its objective is a little more lenient.) The inputs are
# standardized, as ``ConvexReLUClassifier`` does internally, and trained by L-BFGS,
# scikit-learn's advice for small data sets.

alpha = 1e-3
convex = ConvexReLUClassifier(alpha=alpha, n_patterns=200, activation="relu", tol=1e-4,
                              max_iter=20_000, random_state=0).fit(X, y)

mlp = make_pipeline(StandardScaler(), MLPClassifier(
    hidden_layer_sizes=(convex.n_hidden_,), alpha=alpha * len(X), solver="lbfgs",
    max_iter=5000, random_state=0))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    t0 = time.perf_counter()
    mlp.fit(X, y)
    mlp_time = time.perf_counter() - t0

print(f"{'':22} {'train acc':>9} {'test acc':>9} {'hidden units':>13} {'fit time':>9}")
for name, model, width, fit_time in [
        ("ConvexReLUClassifier", convex, convex.n_hidden_, convex.fit_time_),
        ("MLPClassifier (lbfgs)", mlp, mlp[-1].hidden_layer_sizes[0], mlp_time)]:
    print(f"{name:22} {model.score(X, y):9.3f} {model.score(X_test, y_test):9.3f} "
          f"{width:13d} {fit_time:8.2f}s")
print(f"convex fit: objective {convex.objective_:.5f}, duality gap {convex.duality_gap_:.1e} "
      f"(relative {convex.duality_gap_ / convex.objective_:.1e}) after {convex.n_iter_} "
      f"iterations, cone violation {convex.max_violation_:.1e}")

# %%
# Decision boundaries and hidden units
# ------------------------------------
# The background is the predicted probability of class 1 (blue), the black curve its 0.5
# level. Each line is one hidden unit, its width proportional to the unit's output weight
# :math:`|a_j|`, blue where the unit pushes towards class 1 (:math:`a_j > 0`), red otherwise.
# The convex network's units are the nonzero groups of the solution: their number and
# placement are decided by the program. The MLP's units are where L-BFGS left them.


def hidden_units(model):
    """(W1, b1, a) of a fitted network in raw input coordinates."""
    if isinstance(model, ConvexReLUClassifier):
        return model.coefs_[0], model.intercepts_[0], model.coefs_[1].sum(axis=1)
    scaler, net = model[0], model[-1]
    W1 = net.coefs_[0] / scaler.scale_[:, None]
    return W1, net.intercepts_[0] - scaler.mean_ @ W1, net.coefs_[1][:, 0]


def draw(ax, model, title):
    lim = 4.2
    xx, yy = np.meshgrid(np.linspace(-lim, lim, 300), np.linspace(-lim, lim, 300))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.55)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", s=8, edgecolors="k", linewidths=0.3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    W1, b1, a = hidden_units(model)
    scale = np.abs(a).max()
    for w, b, out in zip(W1.T, b1, a):
        p0 = -b * w / (w @ w)  # the point of the line closest to the origin
        direction = np.array([-w[1], w[0]])
        # axline spans the axes: the line is clipped to the plotted area
        ax.axline(p0, p0 + direction, color="navy" if out > 0 else "darkred",
                  lw=0.3 + 3.0 * abs(out) / scale, alpha=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")


fig, axes = plt.subplots(1, 2, figsize=(11, 5.4))
draw(axes[0], convex,
     f"ConvexReLUClassifier: {convex.n_hidden_} units, test acc "
     f"{convex.score(X_test, y_test):.3f}\nrelative duality gap "
     f"{convex.duality_gap_ / convex.objective_:.0e}, fit {convex.fit_time_:.1f} s")
draw(axes[1], mlp,
     f"MLPClassifier (lbfgs): {convex.n_hidden_} units, test acc "
     f"{mlp.score(X_test, y_test):.3f}\nno certificate, fit {mlp_time:.1f} s")
fig.tight_layout()

# %%
# What the certificate says
# -------------------------
# The duality gap proves that no network whose hidden units follow the 200 sampled
# patterns has a lower objective than the fitted one by more than ``duality_gap_``. It does
# not cover patterns that were not sampled: a wider sample (or a local search, like the
# MLP's, started from other points) can still find a lower objective.
# :func:`~skconvex.neural_network.certify_global_optimality` tests the fit against freshly
# sampled patterns, and :ref:`sphx_glr_auto_examples_plot_convex_relu_gap.py` compares the
# objective values with those of scikit-learn's networks over time.
plt.show()
