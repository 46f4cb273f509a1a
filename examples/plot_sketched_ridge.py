r"""
============================================================
Ridge regression by sketch-preconditioned CG (SketchedRidge)
============================================================

:class:`~skconvex.linear_model.SketchedRidge` minimizes the same objective as scikit-learn's
:class:`~sklearn.linear_model.Ridge`. On large problems it runs conjugate gradient
preconditioned with :math:`H_S = (SA)^\top (SA) + \alpha I`, where :math:`S` is a random
sketch with ``sketch_size`` rows. CG then converges at a rate set by
:math:`d_{\mathrm{eff}} / m`, where :math:`m` is the sketch size and

.. math::

    d_{\mathrm{eff}}(\alpha) = \operatorname{tr} A^\top A (A^\top A + \alpha I)^{-1}
    = \sum_j \frac{\sigma_j^2}{\sigma_j^2 + \alpha}

is the *effective dimension* of the problem. It can be much smaller than the number of
features. With ``sketch_size="adaptive"`` (the default) the sketch starts small and doubles
only while CG makes too little progress, so its final size follows :math:`d_{\mathrm{eff}}`
without knowing it in advance.

This example

1. compares the fit time and accuracy of ``SketchedRidge(solver="pcg")`` with three
   solvers of scikit-learn's ``Ridge`` on the same data,
2. plots the convergence of PCG for fixed sketch sizes below, near and above
   :math:`d_{\mathrm{eff}}`, and for the adaptive size,
3. shows that the adaptive sketch size follows :math:`d_{\mathrm{eff}}(\alpha)` and not the
   number of features.
"""

# %%
# A synthetic problem with a decaying spectrum
# --------------------------------------------
# :func:`~skconvex.datasets.make_decaying_spectrum_regression` builds
# :math:`X = G \, \mathrm{diag}(\mathrm{decay}^j) V^\top` with a Gaussian :math:`G` and a
# random orthogonal :math:`V`. This is the benchmark of the sketching papers. With
# ``effective_dim=100`` it also returns the ``alpha`` for which
# :math:`d_{\mathrm{eff}} \approx 100`, here with 1000 features.

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from skconvex import SketchedRidge
from skconvex.datasets import make_decaying_spectrum_regression
from skconvex.sketching import effective_dimension

X, y, alpha = make_decaying_spectrum_regression(
    40_000, 1_000, effective_dim=100, random_state=0
)
print(f"X: {X.shape[0]} x {X.shape[1]}, alpha = {alpha:.4g}")

# %%
# Side by side with scikit-learn
# ------------------------------
# The reference solution comes from ``Ridge(solver="cholesky")``, which forms and factors
# :math:`X^\top X`. The iterative solvers of ``Ridge`` (LSQR and conjugate gradient, both
# without a preconditioner) are given ``tol=1e-8``, as ``SketchedRidge`` is. The table also
# shows the final sketch size of ``SketchedRidge``, its estimate of
# :math:`d_{\mathrm{eff}}` from the sketch, and the number of iterations.
#
# ``SketchedRidge`` is first fitted once on a small slice so that its numba kernels are
# compiled before the timed fits (they are cached on disk afterwards). Each timing below is
# a single fit, so expect some noise in the numbers.


def fit_time(est, X, y):
    t0 = time.perf_counter()
    est.fit(X, y)
    return time.perf_counter() - t0


SketchedRidge(alpha=alpha, solver="pcg", random_state=0).fit(X[:2000], y[:2000])  # compile

models = {
    "Ridge(cholesky)": Ridge(alpha=alpha, solver="cholesky"),
    "Ridge(lsqr)": Ridge(alpha=alpha, solver="lsqr", tol=1e-8),
    "Ridge(sparse_cg)": Ridge(alpha=alpha, solver="sparse_cg", tol=1e-8),
    "SketchedRidge(pcg)": SketchedRidge(alpha=alpha, solver="pcg", random_state=0),
}
fit_times = {name: fit_time(est, X, y) for name, est in models.items()}
coef_ref = models["Ridge(cholesky)"].coef_


def rel_error(coef):
    return np.linalg.norm(coef - coef_ref) / np.linalg.norm(coef_ref)


def show(value, fmt):
    return "-" if value is None else format(value, fmt)


print(f"{'solver':<20} {'fit time':>9} {'rel. error':>11} {'sketch':>7} "
      f"{'d_eff est.':>10} {'n_iter':>7}")
for name, est in models.items():
    n_iter = getattr(est, "n_iter_", None)
    if n_iter is not None and not np.isscalar(n_iter):  # Ridge(lsqr) gives one per target
        n_iter = int(np.max(n_iter))
    print(f"{name:<20} {fit_times[name]:>8.2f}s {rel_error(est.coef_):>11.1e} "
          f"{show(getattr(est, 'sketch_size_', None), 'd'):>7} "
          f"{show(getattr(est, 'effective_dim_', None), '.1f'):>10} "
          f"{show(n_iter, 'd'):>7}")

# %%
# Convergence for several sketch sizes
# ------------------------------------
# Here ``SketchedRidge`` is refitted with ``max_iter = 1, 2, ..., T`` and a fixed
# ``random_state``, so every refit draws the same sketch and repeats the same iterations.
# After each refit we measure the relative error of the coefficients against the Cholesky
# solution. The refits stop at ``max_iter`` on purpose, so their ``ConvergenceWarning`` is
# silenced. To keep this cheap we use a smaller problem (4000 samples) with the same
# :math:`d_{\mathrm{eff}} \approx 100`.
#
# A sketch with fewer rows than :math:`d_{\mathrm{eff}}` (64) is a poor preconditioner.
# Sizes above :math:`d_{\mathrm{eff}}` give fast linear convergence, and each increase in
# size converges faster. The adaptive rule picks its size while it runs.

Xs, ys, alpha_s = make_decaying_spectrum_regression(
    4_000, 1_000, effective_dim=100, random_state=1
)
coef_s = Ridge(alpha=alpha_s, solver="cholesky").fit(Xs, ys).coef_
T = 10
iterations = np.arange(1, T + 1)
curves = {}
for size in [64, 256, 1024, "adaptive"]:
    errors = []
    for k in iterations:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = SketchedRidge(alpha=alpha_s, solver="pcg", sketch_size=size, max_iter=k,
                                tol=1e-12, random_state=0).fit(Xs, ys)
        errors.append(np.linalg.norm(est.coef_ - coef_s) / np.linalg.norm(coef_s))
    curves[size] = (np.array(errors), est.sketch_size_)

fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
for size, (errors, final_size) in curves.items():
    label = (f"adaptive (final size {final_size})" if size == "adaptive"
             else f"sketch_size={size}")
    style = dict(color="k", lw=2.2) if size == "adaptive" else dict(marker="o", ms=3.5)
    ax.semilogy(iterations, errors, label=label, **style)
ax.set_xlabel("PCG iteration (max_iter)")
ax.set_ylabel(r"relative error $\|w_k - w^\star\|\,/\,\|w^\star\|$")
ax.set_title(rf"SketchedRidge, n={Xs.shape[0]}, d={Xs.shape[1]}, "
             rf"$d_{{\mathrm{{eff}}}}\approx100$")
ax.set_xticks(iterations)
ax.grid(True, which="major", alpha=0.4)
ax.legend(title="sketch size")
plt.show()

# %%
# The sketch size follows the effective dimension
# -----------------------------------------------
# Next we sweep ``alpha`` on a wider problem (1500 features, slower spectral decay), so
# that :math:`d_{\mathrm{eff}}(\alpha)` ranges from about 1 to about 1000.
# :func:`skconvex.sketching.effective_dimension` with ``method="exact"`` evaluates
# :math:`\sum_j s_j / (s_j + \alpha)` from the eigenvalues :math:`s_j` of :math:`X^\top X`.
# For a smooth curve over many values of ``alpha``, we compute the eigenvalues once and
# check one point against the package function. For each ``alpha`` the plot shows the
# final adaptive ``sketch_size_`` and the estimate ``effective_dim_`` from the sketch.

Xw, yw = make_decaying_spectrum_regression(6_000, 1_500, decay=0.996, random_state=2)
d = Xw.shape[1]
eigenvalues = np.linalg.eigvalsh(Xw.T @ Xw)
alpha_grid = np.logspace(0, 6, 49)
d_eff_grid = np.array([np.sum(eigenvalues / (eigenvalues + a)) for a in alpha_grid])
assert np.isclose(d_eff_grid[24], effective_dimension(Xw, alpha_grid[24], method="exact"))

alphas = alpha_grid[::8]
sketch_sizes, d_eff_est, n_iters = [], [], []
for a in alphas:
    est = SketchedRidge(alpha=a, solver="pcg", random_state=0).fit(Xw, yw)
    sketch_sizes.append(est.sketch_size_)
    d_eff_est.append(est.effective_dim_)
    n_iters.append(est.n_iter_)

print(f"{'alpha':>9} {'d_eff':>7} {'d_eff est.':>10} {'sketch_size_':>12} {'n_iter_':>7}")
for a, de, est_de, m, it in zip(alphas, d_eff_grid[::8], d_eff_est, sketch_sizes, n_iters):
    print(f"{a:>9.3g} {de:>7.1f} {est_de:>10.1f} {m:>12d} {it:>7d}")

fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
ax.loglog(alpha_grid, d_eff_grid, color="C0", lw=2,
          label=r"exact $d_{\mathrm{eff}}(\alpha)$")
ax.loglog(alphas, d_eff_est, "x", color="C0", ms=8,
          label=r"estimate from the sketch (effective_dim_)")
ax.loglog(alphas, sketch_sizes, "s-", color="C3", lw=1.2,
          label="final adaptive sketch_size_")
ax.axhline(d, color="0.4", ls="--", lw=1.2)
ax.text(alpha_grid[-1], d * 1.1, f"n_features = {d}", color="0.3", ha="right", va="bottom")
ax.set_xlabel(r"regularization $\alpha$")
ax.set_ylabel("dimension (rows of the sketch)")
ax.set_title(f"Adaptive sketch size vs effective dimension (n={Xw.shape[0]}, d={d})")
ax.set_ylim(0.5, 4 * d)
ax.grid(True, which="major", alpha=0.4)
ax.legend(loc="lower left")
plt.show()

# %%
# When ``alpha`` is large, :math:`d_{\mathrm{eff}}` is small and the sketch stays at its
# starting size of 512 rows, well below the 1500 features. The rule does not start
# smaller, because each new sketch costs at least one pass over the data. As ``alpha``
# decreases, :math:`d_{\mathrm{eff}}` grows and the adaptive rule doubles the sketch so that
# CG keeps converging quickly. From then on, the final size stays within a small factor
# of :math:`d_{\mathrm{eff}}` (between 2 and 5 here). The sketch exceeds the number of
# features only when :math:`d_{\mathrm{eff}}` comes close to it. The preconditioner is then
# factored in feature space, as a direct solver would be. ``effective_dim_`` comes with
# every fit at no extra cost. It is computed from the final sketch and slightly
# underestimates the exact value.
