r"""
====================================================================
Logistic regression by the Newton sketch (NewtonLESSLogistic)
====================================================================

:class:`~skconvex.linear_model.NewtonLESSLogistic` minimizes scikit-learn's L2-regularized
logistic loss,

.. math::

    F(w, b) = \tfrac12 \|w\|^2 + C \sum_i \log\bigl(1 + e^{-y_i (x_i^\top w + b)}\bigr),

the objective of :class:`~sklearn.linear_model.LogisticRegression`, by Newton's method with a
*sketched* Hessian. The Hessian is :math:`H = X^\top D X + I` with :math:`D = \mathrm{diag}(C
p_i (1 - p_i))`; each iteration replaces it by :math:`H_S = (S D^{1/2} X)^\top (S D^{1/2} X) + I`
where :math:`S` is a fresh LESS embedding with ``m`` rows (Dereziński et al., Newton-LESS,
arXiv:2107.07480). Factoring :math:`H_S` costs :math:`m d^2` instead of the :math:`n d^2` of the
exact Hessian, and the iteration still converges fast once :math:`m` is a small multiple of
the *effective dimension* of the Hessian, :math:`d_{\mathrm{eff}} = \operatorname{tr}
X^\top D X (X^\top D X + I)^{-1}`, which ``sketch_size="adaptive"`` estimates from a first
small sketch (Lacotte, Wang & Pilanci, arXiv:2105.07291).

This example plots the relative objective gap against time for the three solvers of
``NewtonLESSLogistic`` and four solvers of ``LogisticRegression`` on an ill-conditioned
problem (singular values of :math:`X` decaying like :math:`0.98^j`, the setting of the
Newton-LESS experiments), where quasi-Newton and conjugate-gradient methods need many
iterations and the exact Hessian is expensive.
"""

# %%
# The problem
# -----------
# :func:`~skconvex.datasets.make_decaying_spectrum_classification` draws
# :math:`X = G \, \mathrm{diag}(0.98^j) V^\top` (Gaussian :math:`G`, random orthogonal
# :math:`V`) and labels from a planted logistic model. ``C = 1`` with :math:`n = 20\,000`
# samples is a small regularization: :math:`\lambda = 1 / (C n) = 5 \cdot 10^{-5}` in the
# :math:`\frac1n \sum` scaling.

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from skconvex import NewtonLESSLogistic
from skconvex.datasets import make_decaying_spectrum_classification
from skconvex.problems import LogisticProblem

X, y = make_decaying_spectrum_classification(20_000, 500, random_state=0)
C = 1.0
problem = LogisticProblem(X, y, C)  # only used to evaluate F on every solver's output
print(f"X: {X.shape[0]} x {X.shape[1]}, positives {y.mean():.2f}")


def objective(est):
    return problem.objective(np.column_stack([est.coef_, est.intercept_]).astype(float))


# %%
# Traces of objective gap against time
# ------------------------------------
# Each solver is run with a sequence of ``max_iter`` values and every fit is timed, so each
# point of a curve is a complete, independent fit (as a user would run it). Everything runs
# on one BLAS thread, so that the comparison is between algorithms. The optimum :math:`F^*`
# is the best objective reached by any run.

NewtonLESSLogistic(random_state=0).fit(X[:3000], y[:3000])  # compile the numba kernels


def trace(make, iters):
    out = []
    for it in iters:
        est = make(it)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            est.fit(X, y)
            out.append((time.perf_counter() - t0, objective(est)))
    return out


solvers = {
    "NewtonLESSLogistic (newton-less)": (
        lambda it: NewtonLESSLogistic(C=C, max_iter=it, tol=1e-10, random_state=0),
        [1, 2, 3, 4, 5, 6, 8]),
    "NewtonLESSLogistic (newton-gaussian)": (
        lambda it: NewtonLESSLogistic(C=C, solver="newton-gaussian", max_iter=it, tol=1e-10,
                                      random_state=0),
        [1, 2, 4]),
    "NewtonLESSLogistic (newton, exact)": (
        lambda it: NewtonLESSLogistic(C=C, solver="newton", max_iter=it, tol=1e-10),
        [1, 2, 3, 4, 5]),
    "LogisticRegression (lbfgs)": (
        lambda it: LogisticRegression(C=C, max_iter=it, tol=1e-12),
        [10, 30, 100, 300]),
    "LogisticRegression (newton-cg)": (
        lambda it: LogisticRegression(C=C, solver="newton-cg", max_iter=it, tol=1e-12),
        [1, 2, 4, 8]),
    "LogisticRegression (newton-cholesky)": (
        lambda it: LogisticRegression(C=C, solver="newton-cholesky", max_iter=it, tol=1e-12),
        [1, 2, 3, 4, 5]),
    "LogisticRegression (saga)": (
        lambda it: LogisticRegression(C=C, solver="saga", max_iter=it, tol=1e-12),
        [2, 5, 10]),
}

with threadpool_limits(limits=1):
    traces = {name: trace(make, iters) for name, (make, iters) in solvers.items()}

F_star = min(F for tr in traces.values() for _, F in tr)

# %%
# The plot
# --------
# The Newton sketch reaches a relative gap of :math:`10^{-6}` long before L-BFGS, Newton-CG
# and SAGA, whose iterations are cheap but many on this ill-conditioned Hessian, and before
# exact Newton, whose iterations are few but each costs a product of :math:`X^\top` with
# :math:`D X` (:math:`n d^2`). The Gaussian sketch (the theory's reference) converges at the
# same rate per iteration as LESS but each sketch costs a dense product with :math:`X`.

fig, ax = plt.subplots(figsize=(7, 4.5))
for name, tr in traces.items():
    t = [a for a, _ in tr]
    gap = [max((F - F_star) / abs(F_star), 1e-16) for _, F in tr]
    style = "-o" if name.startswith("Newton") else "--s"
    ax.semilogy(t, gap, style, label=name, markersize=4)
ax.axhline(1e-6, color="gray", lw=0.8, ls=":")
ax.set_xlabel("fit time (s, one thread)")
ax.set_ylabel(r"relative objective gap $(F - F^*) / F^*$")
ax.set_title(f"n = {X.shape[0]:,}, d = {X.shape[1]}, singular values 0.98^j, C = {C:g}")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# What the adaptive rule chose
# ----------------------------
# The fitted estimator reports the final sketch size, its estimate of the effective
# dimension of the Hessian (far below the 500 features) and the passes over ``X`` it made.

with threadpool_limits(limits=1):
    est = NewtonLESSLogistic(C=C, tol=1e-4, random_state=0).fit(X, y)
print(f"iterations {est.n_iter_}, sketch size {est.sketch_size_}, "
      f"d_eff ~ {est.effective_dim_:.0f}, passes over X {est.n_passes_:.1f}, "
      f"relative gap {(objective(est) - F_star) / abs(F_star):.1e}")
plt.show()
