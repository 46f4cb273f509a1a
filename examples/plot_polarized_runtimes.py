r"""
=====================================================
Computational polarization: polarized runtime CDFs
=====================================================

A linear computation :math:`b = A x` split over :math:`N = 2^n` workers waits for its
slowest worker unless it is *coded*. :class:`~skconvex.distributed.PolarCodedMatVec` codes
it like a polar code over the reals. Two identical workers computing
:math:`(A_1 + A_2) x` and :math:`A_2 x` form two *virtual* workers:

- a **slow** one, :math:`A_1 x = y_1 - y_2`, which needs both results: runtime
  :math:`\max(T_1, T_2)`, CDF :math:`F^2`;
- a **fast** one, :math:`A_2 x`, available from either result once :math:`A_1 x` is known:
  runtime :math:`\min(T_1, T_2)`, CDF :math:`2F - F^2`.

The mean of the two CDFs is :math:`F` again: the split preserves the mean runtime.
Repeated :math:`n` times (an FFT-like butterfly), the :math:`N` virtual runtime CDFs
*polarize*: each one tends to a step at a deterministic time, and the steps are distributed
as :math:`F`. Data blocks are placed on the :math:`K = RN` fastest virtual workers; the
others are frozen to zero. The result is decodable once those :math:`K` virtual workers
have finished, by successive cancellation: :math:`O(N \log N)` additions, where an MDS code
solves a :math:`K \times K` linear system.

This example plots the polarized CDFs, checks them against a Monte Carlo simulation, and
compares completion times with MDS coding and with no coding.
"""

# %%
# The polarized CDFs
# ------------------
# Worker runtimes are shifted exponential: a deterministic second plus an exponential tail.
import matplotlib.pyplot as plt
import numpy as np

from skconvex.distributed import (
    MDSCodedMatVec,
    PolarCodedMatVec,
    ShiftedExponentialDelay,
    UncodedMatVec,
    polarize_cdf,
)

runtime = ShiftedExponentialDelay(shift=1.0, rate=1.0)
t = np.linspace(0, 6, 601)
F = runtime.cdf(t)

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
for ax, n in zip(axes, (1, 3, 7)):
    Fs = polarize_cdf(F, n)
    for Fi in Fs:
        ax.plot(t, Fi, lw=0.6, alpha=0.5)
    ax.plot(t, Fs.mean(axis=0), "k--", lw=2, label="mean of the N CDFs")
    ax.plot(t, F, "k:", lw=1, label="F (one worker)")
    ax.set_title(f"N = {2 ** n} virtual workers")
    ax.set_xlabel("time")
axes[0].set_ylabel("CDF of a virtual runtime")
axes[0].legend(loc="lower right")
fig.tight_layout()
print("largest deviation of the mean virtual CDF from F (n = 7):",
      np.abs(polarize_cdf(F, 7).mean(axis=0) - F).max())

# %%
# The expected virtual runtimes become distributed as :math:`F`: sorted, they trace the
# quantile function of one worker's runtime.
fig, ax = plt.subplots(figsize=(6, 4))
for n in (4, 7, 10):
    code = PolarCodedMatVec(n, 0.5, runtime_cdf=runtime).fit(np.ones((2 ** n, 1)))
    ET = np.sort(code.expected_virtual_runtimes_)
    ax.plot((np.arange(ET.size) + 0.5) / ET.size, ET, label=f"N = {2 ** n}")
q = np.linspace(0.001, 0.999, 200)
ax.plot(q, runtime.ppf(q), "k--", label="quantile function of F")
ax.axvline(0.5, color="grey", lw=0.5)
ax.set_xlabel("rank / N")
ax.set_ylabel("expected virtual runtime")
ax.set_ylim(0.9, 5)
ax.legend()
fig.tight_layout()

# %%
# Monte Carlo check
# -----------------
# Virtual runtimes of simulated runs (``virtual_times`` applies max/min along the butterfly)
# against the CDFs computed by the recursion, for the slowest, a middle and the fastest
# virtual worker of N = 16.
rng = np.random.default_rng(0)
code = PolarCodedMatVec(4, 0.5, runtime_cdf=runtime).fit(np.ones((16, 1)))
V = code.virtual_times(runtime.sample((20000, 16), random_state=rng))
fig, ax = plt.subplots(figsize=(6, 4))
for i, color in zip((0, 6, 15), ("C0", "C1", "C2")):
    ax.plot(code.grid_, code.virtual_cdfs_[i], color=color, label=f"virtual worker {i}")
    s = np.sort(V[:, i])
    ax.step(s, np.arange(1, s.size + 1) / s.size, color=color, ls=":", where="post")
ax.set_xlim(0.9, 6)
ax.set_xlabel("time")
ax.set_ylabel("CDF (lines: recursion, dotted: simulation)")
ax.legend()
fig.tight_layout()

# %%
# Completion time against MDS and uncoded computation
# ---------------------------------------------------
# The K-th order statistic (MDS) is the information-theoretic lower bound for giving each
# worker 1/K of the work; it tends to :math:`F^{-1}(R)`. The uncoded computation splits the
# work over the N workers (half the load each, so half the runtime) and waits for all.
# At these lengths polar coding stays 9% to 16% above the bound (mean completion times 1.81
# to 1.96 against 1.65 to 1.69: the ratio grows from 1.09 at N = 4 to 1.16 at N = 256 and is
# 1.14 at N = 1024; polarization at finite length is slow), but it decodes with additions
# only, and it beats uncoded computation from N = 16 on.
levels = (2, 4, 6, 8, 10)
means = {"polar": [], "MDS (K-th order statistic)": [], "uncoded": []}
for n in levels:
    N = 2 ** n
    polar = PolarCodedMatVec(n, 0.5, runtime_cdf=runtime).fit(np.ones((N, 1)))
    T = runtime.sample((300, N), random_state=rng)
    means["polar"].append(polar.completion_time(T).mean())
    means["MDS (K-th order statistic)"].append(
        MDSCodedMatVec(N, N // 2).fit(np.ones((N, 1))).completion_time(T).mean())
    means["uncoded"].append(0.5 * UncodedMatVec(N).fit(np.ones((N, 1)))
                            .completion_time(T).mean())
fig, ax = plt.subplots(figsize=(6, 4))
for name, m in means.items():
    ax.plot([2 ** n for n in levels], m, "o-", label=name)
ax.axhline(runtime.ppf(0.5), color="k", ls="--", lw=1, label=r"$F^{-1}(R)$")
ax.set_xscale("log", base=2)
ax.set_xlabel("N workers (rate 1/2)")
ax.set_ylabel("mean completion time")
ax.legend()
fig.tight_layout()
for name, m in means.items():
    print(f"{name:28s}", " ".join(f"{v:.3f}" for v in m))

# %%
# Decoding from the first sufficient set of results
# -------------------------------------------------
# In a run, the results of the workers finished by ``completion_time(T)`` decode exactly;
# one result fewer does not (an :class:`~skconvex.distributed.UndecodableError`). On a Dask
# cluster, :class:`~skconvex.distributed.DaskCodedMatVec` does this with futures, decoding as
# soon as the results that have arrived suffice (see :doc:`/scaling_dask`).
A = rng.standard_normal((4096, 20))
x = rng.standard_normal(20)
code = PolarCodedMatVec(8, 0.5, runtime_cdf=runtime).fit(A)
T = runtime.sample(256, random_state=rng)
done = T <= code.completion_time(T)
y = code.matvec(x, available=done)
print(f"decoded from {done.sum()} of 256 results, max error {np.abs(y - A @ x).max():.1e}, "
      f"{code.decode_flops_} additions/subtractions")
plt.show()
