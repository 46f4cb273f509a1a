"""SketchedRidge against scikit-learn's Ridge solvers and a direct Cholesky, at equal accuracy.

Problems (spec/sketching.md section 2, the sketching issue's list), all with fit_intercept=True:

  R1  dense  n=100,000  d=1,000   X = G diag(0.98^j) V^T, alpha so that d_eff = 100
  R2  dense  n=200,000  d=2,000   same construction, d_eff = 100
  R3  dense  n=16,000   d=12,000  same construction, d_eff = 400
  R4  sparse n=500,000  d=50,000  density 1e-4, column scales (1+j)^-1, d_eff = 200

Every solver runs in this one process, on the same arrays, on ONE thread (BLAS, OpenMP and numba
limited with threadpoolctl / numba.set_num_threads; the reference numbers of the spec are "this
machine, 1 thread", and this machine's OpenBLAS is pathological with 2 threads).

Equal accuracy: the exact solution is computed once (dense: normal-equations Cholesky in float64
plus iterative refinement; sparse: the better certified of a very tight lsqr and a very tight
SketchedRidge, certified by the gradient norm), and every solver must reach a relative
coefficient error <= 1e-8 in every timed run. The tolerance of each iterative solver (sklearn's
``tol`` for sparse_cg / lsqr / sag / saga, ours ``tol``) is the loosest of a grid 1e-6 ... 1e-14
that reaches it, searched in this run; the run that found it counts as the first timed repeat.

Columns: ``fit s`` median wall time of ``fit`` (3 repeats, 1 when a fit takes > 30 s),
``passes`` that time divided by the time of one ``X.T @ (X @ v)`` measured in the same run,
``sk/this`` the time of scikit-learn's fastest accurate solver divided by this row's time.

Usage::

    python benchmarks/bench_ridge.py            # full sizes (about 35 minutes, ~15 GB peak)
    python benchmarks/bench_ridge.py --quick    # small sizes, < 60 s on an idle machine
    python benchmarks/bench_ridge.py --problems R1,R3 --diagnose

The last line is ``RESULT name=bench_ridge ratio=<min over problems of sklearn's fastest /
SketchedRidge(pcg)> accuracy_ok=<true|false>``.
"""

import argparse
import gc
import math
import os
import sys
import time
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    fmt,
    gemm_gflops,
    load_report,
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

TARGET_ERR = 1e-8
TOL_GRID = [1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-13, 1e-14]
SEED = 0

PROBLEMS = {
    # name: kind, full (n, d), quick (n, d), d_eff, speed-up target over sklearn's fastest
    "R1": dict(kind="dense", full=(100_000, 1_000), quick=(20_000, 500), deff=100, target=1.5),
    "R2": dict(kind="dense", full=(200_000, 2_000), quick=(30_000, 1_000), deff=100, target=4.0),
    "R3": dict(kind="dense", full=(16_000, 12_000), quick=(3_000, 2_000), deff=400, target=5.0),
    "R4": dict(kind="sparse", full=(500_000, 50_000), quick=(100_000, 10_000), deff=200,
               target=3.0),
}


# --------------------------------------------------------------------------------------
# data, exact solution, accuracy
# --------------------------------------------------------------------------------------


def make_problem(name, quick):
    from skconvex.datasets import (
        make_decaying_spectrum_regression,
        make_sparse_decaying_regression,
    )

    spec = PROBLEMS[name]
    n, d = spec["quick" if quick else "full"]
    if spec["kind"] == "dense":
        X, y, alpha = make_decaying_spectrum_regression(
            n, d, decay=0.98, effective_dim=spec["deff"], random_state=SEED)
    else:
        X, y, alpha = make_sparse_decaying_regression(
            n, d, density=1e-4, power=1.0, effective_dim=spec["deff"], random_state=SEED)
    return X, np.asarray(y, dtype=np.float64), float(alpha)


def centred_grad(X, y, w, b_mean, mu, alpha):
    """Gradient of 1/2||X_c w - y_c||^2 + alpha/2||w||^2 with X_c = X - 1 mu^T, y_c = y - mean."""
    r = np.asarray(X @ w).ravel() - float(mu @ w) - (y - b_mean)
    return np.asarray(X.T @ r).ravel() - mu * r.sum() + alpha * w


def numpy_cholesky(X, y, alpha, *, return_factor=False):
    """Direct ridge with intercept: factor X_c^T X_c + alpha I (primal, n >= d) or
    X_c X_c^T + alpha I (kernel, n < d), centring handled exactly by rank-one corrections
    (X is not copied)."""
    n, d = X.shape
    mu = X.mean(axis=0)
    ym = y.mean()
    yc = y - ym
    if n >= d:
        G = X.T @ X  # numpy uses SYRK for X.T @ X
        G -= n * np.outer(mu, mu)
        G.flat[:: d + 1] += alpha
        rhs = X.T @ yc  # sum(yc) = 0, so X_c^T yc = X^T yc
        factor = sla.cho_factor(G, lower=True, overwrite_a=True, check_finite=False)
        w = sla.cho_solve(factor, rhs, check_finite=False)
    else:
        K = X @ X.T
        q = X @ mu
        K -= q[:, None]
        K -= q[None, :]
        K += float(mu @ mu)
        K.flat[:: n + 1] += alpha
        factor = sla.cho_factor(K, lower=True, overwrite_a=True, check_finite=False)
        z = sla.cho_solve(factor, yc, check_finite=False)
        w = X.T @ z - mu * z.sum()
    b = ym - float(mu @ w)
    if return_factor:
        return w, b, factor
    return w, b


def refine_direct(X, y, alpha, w, factor, steps=2):
    """Iterative refinement of a primal Cholesky solution with float64 gradients.

    Returns the refined w and the size of the last correction relative to ||w|| (an estimate
    of the remaining error)."""
    mu = X.mean(axis=0)
    ym = y.mean()
    corr = float("nan")
    for _ in range(steps):
        g = centred_grad(X, y, w, ym, mu, alpha)
        delta = sla.cho_solve(factor, g, check_finite=False)
        w = w - delta
        corr = float(np.linalg.norm(delta) / np.linalg.norm(w))
    return w, corr


def grad_certificate(X, y, w, alpha):
    """Upper bound (first order) on ||w - w*|| / ||w*||: ||grad|| / (alpha ||w||)."""
    mu = np.asarray(X.mean(axis=0)).ravel()
    g = centred_grad(X, y, w, y.mean(), mu, alpha)
    return float(np.linalg.norm(g) / (alpha * np.linalg.norm(w)))


def rel_err(w, ref):
    return float(np.linalg.norm(np.asarray(w).ravel() - ref) / np.linalg.norm(ref))


# --------------------------------------------------------------------------------------
# solvers
# --------------------------------------------------------------------------------------


def fit_ours(X, y, alpha, solver, tol, max_iter=100, verbose=0):
    from skconvex import SketchedRidge

    est = SketchedRidge(alpha=alpha, fit_intercept=True, solver=solver, tol=tol,
                        max_iter=max_iter, random_state=SEED, verbose=verbose)
    return est.fit(X, y)


def fit_sklearn(X, y, alpha, solver, tol=1e-4, max_iter=None):
    from sklearn.linear_model import Ridge

    est = Ridge(alpha=alpha, fit_intercept=True, solver=solver, tol=tol, max_iter=max_iter,
                random_state=SEED)
    est.fit(X, y)
    used = getattr(est, "solver_", solver)
    if used != solver:  # sklearn may silently switch solvers: never time a mislabelled run
        raise RuntimeError(f"sklearn Ridge ran solver {used!r} when asked for {solver!r}")
    return est


def warm_up():
    """Compile (or load from the numba cache) every skconvex kernel used below."""
    from skconvex.datasets import (
        make_decaying_spectrum_regression,
        make_sparse_decaying_regression,
    )

    Xd, yd = make_decaying_spectrum_regression(3000, 300, random_state=1)
    Xs, ys = make_sparse_decaying_regression(20000, 2000, density=2e-3, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for solver in ("pcg", "ihs"):
            fit_ours(Xd, yd, 1.0, solver, 1e-8)
            fit_ours(Xs, ys, 1e-2, solver, 1e-8)


class Row(dict):
    pass


def run_problem(name, args, gflops):
    spec = PROBLEMS[name]
    log = print if args.verbose else (lambda *a, **k: None)
    cap = args.cap
    slow_cap = args.slow_cap
    t0 = time.perf_counter()
    X, y, alpha = make_problem(name, args.quick)
    n, d = X.shape
    dense = not sp.issparse(X)
    nnz = n * d if dense else X.nnz
    gen_s = time.perf_counter() - t0
    x_gb = (X.nbytes if dense else X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 1e9

    # one pass = X.T @ (X @ v)
    v = np.random.default_rng(1).standard_normal(d)
    t_pass = median_time(lambda: X.T @ (X @ v), repeats=7)

    print(f"== {name}: {'dense' if dense else 'sparse CSR'} n={n:,} d={d:,} nnz={nnz:,} "
          f"({x_gb:.2f} GB), alpha={alpha:.4g} (nominal d_eff={spec['deff']}), "
          f"data generated in {gen_s:.1f} s; one pass X.T@(X@v) = {1e3 * t_pass:.1f} ms",
          flush=True)

    rows = []
    notes = []

    def accurate(res_err):
        return res_err <= TARGET_ERR

    # ---------------------------------------------------------------- exact solution
    ref = None
    direct_first = None
    if dense:
        (t_dir, (w_dir, b_dir, factor)) = timed(numpy_cholesky, X, y, alpha, return_factor=True)
        direct_first = (t_dir, (w_dir, b_dir))
        if n >= d:
            ref, corr = refine_direct(X, y, alpha, w_dir, factor)
            cert = f"last refinement correction {corr:.1e}"
            # exact d_eff = d - alpha ||L^-1||_F^2 (costs a triangular inverse)
            if d <= 12_000:
                Linv, info = sla.lapack.dtrtri(np.tril(factor[0]), lower=1)
                deff_exact = d - alpha * float(np.sum(Linv * Linv)) if info == 0 else None
                del Linv
            else:
                deff_exact = None
        else:  # pragma: no cover - the dense problems here all have n >= d
            ref, corr, deff_exact = w_dir, float("nan"), None
            cert = "kernel Cholesky (no refinement)"
        del factor
        gc.collect()
        bound = grad_certificate(X, y, ref, alpha)
        ref_desc = (f"numpy Cholesky + 2 refinement steps ({cert}; gradient bound "
                    f"{bound:.1e})")
        ref_ok = corr <= 1e-2 * TARGET_ERR or bound <= 1e-1 * TARGET_ERR
    else:
        deff_exact = None
        cands = []
        t_l, est_l = timed(fit_sklearn, X, y, alpha, "lsqr", tol=1e-14,
                           max_iter=max(1000, int(cap / t_pass)))
        cands.append(("sklearn lsqr tol=1e-14", est_l.coef_.copy(), t_l))
        t_o, est_o = timed(fit_ours, X, y, alpha, "pcg", 1e-14, max_iter=500)
        cands.append(("SketchedRidge pcg tol=1e-14", est_o.coef_.copy(), t_o))
        certs = [(grad_certificate(X, y, w, alpha), lab, w, t) for lab, w, t in cands]
        certs.sort(key=lambda c: c[0])
        bound, lab, ref, _ = certs[0]
        agree = rel_err(certs[1][2], ref)
        ref_desc = (f"{lab} (gradient bound {bound:.1e}; the other candidate, "
                    f"{certs[1][1]}, has bound {certs[1][0]:.1e} and differs by {agree:.1e})")
        ref_ok = bound <= 1e-1 * TARGET_ERR
        del cands, certs, est_l, est_o
    print(f"   exact solution: {ref_desc}; "
          f"d_eff exact = {fmt(deff_exact, '{:.1f}', 'n/a')}", flush=True)

    def err_of(res):
        coef = res[0] if isinstance(res, tuple) else res.coef_
        return rel_err(coef, ref)

    def add_row(solver, family, tol, median, times, errs, est=None, note="", n_iter=None,
                skipped=False):
        row = Row(solver=solver, family=family, tol=tol, median=median, times=times,
                  err=max(errs) if errs else None, skipped=skipped, note=note, n_iter=n_iter,
                  m=None, deff=None, npass=None)
        if est is not None and hasattr(est, "sketch_size_"):
            row["m"] = est.sketch_size_
            row["deff"] = est.effective_dim_
            row["npass"] = est.n_passes_
        rows.append(row)
        status = "skipped" if skipped else f"{median:.3f} s, err {row['err']:.1e}"
        print(f"   {solver:<28} {status}  {note}", flush=True)
        return row

    def iterative(label, family, make_fit, start=1e-8, n_iter_of=None, est_of=lambda r: r,
                  max_iter=None):
        """Tolerance search + timing of one iterative solver. A failed run that hit its
        iteration cap (or, when the iteration count is not reported, took the whole time cap)
        ends the walk towards tighter tolerances."""

        failed_errs, state = [], {"why": None}

        def give_up(t, res):
            it = n_iter_of(res) if n_iter_of else None
            failed_errs.append(err_of(res))
            if max_iter is not None and it is not None and it >= max_iter:
                state["why"] = f"hit the iteration cap ({max_iter})"
            elif it is None and family != "ours" and t > 0.9 * cap:
                state["why"] = f"hit the time cap ({cap:.3g} s)"
            elif len(failed_errs) >= 2 and failed_errs[-1] > 0.5 * failed_errs[-2]:
                # a 10x tighter tol that did not even halve the error: capped or stagnating
                state["why"] = "stalled (a 10x tighter tol did not halve the error)"
            return state["why"] is not None

        def run(tol):
            return timed(make_fit(tol))

        def show(tol, t, res, passed):
            log(f"      {label} tol={tol:.0e}: {t:.3f} s, err {err_of(res):.1e}"
                f"{'' if passed else '  (not accurate)'}")

        tol, first, tried = search_loosest(run, TOL_GRID, lambda r: accurate(err_of(r)),
                                           start=start, log=show, give_up=give_up)
        search = "search " + " ".join(f"{t:.0e}{'+' if p else '-'}" for t, _, p in tried)
        if tol is None:
            t, res = first
            why = state["why"] or f"no tol of the grid reaches {TARGET_ERR:g}"
            return add_row(label, family, None, t, [t], [err_of(res)], est=est_of(res),
                           note=f"{why}; {search}",
                           n_iter=n_iter_of(res) if n_iter_of else None)
        med, times, res, errs = time_fit(make_fit(tol), repeats=args.repeats, first=first,
                                         check=err_of)
        return add_row(label, family, tol, med, times, errs, est=est_of(res), note=search,
                       n_iter=n_iter_of(res) if n_iter_of else None)

    # ---------------------------------------------------------------- direct Cholesky (numpy)
    if dense:
        med, times, _, errs = time_fit(lambda: numpy_cholesky(X, y, alpha),
                                       repeats=args.repeats, first=direct_first, check=err_of)
        add_row("numpy Cholesky (normal eq.)", "direct", None, med, times, errs,
                note="primal X^T X + alpha I" if n >= d else "kernel X X^T + alpha I")
        del direct_first
    else:
        add_row("numpy Cholesky (normal eq.)", "direct", None, None, [], [], skipped=True,
                note=f"skipped: the dense {d}x{d} Gram needs {8 * d * d / 1e9:.0f} GB")

    # ---------------------------------------------------------------- ours
    # (a search starts at the tolerance found for the previous solver of the same family)
    ours = {}
    start = 1e-8
    for solver in ("pcg", "ihs"):
        ours[solver] = iterative(
            f"SketchedRidge({solver})", "ours",
            lambda tol, s=solver: (lambda: fit_ours(X, y, alpha, s, tol)),
            n_iter_of=lambda e: e.n_iter_, max_iter=100, start=start)
        start = ours[solver]["tol"] or start

    # ---------------------------------------------------------------- sklearn
    max_it_cg = max(100, int(cap / t_pass))
    if dense:
        med, times, est, errs = time_fit(lambda: fit_sklearn(X, y, alpha, "cholesky"),
                                         repeats=args.repeats, check=err_of)
        add_row("sklearn cholesky", "sklearn", None, med, times, errs,
                note="copies X to centre it")
    else:
        add_row("sklearn cholesky", "sklearn", None, None, [], [], skipped=True,
                note=f"skipped: would form a dense {d}x{d} Gram ({8 * d * d / 1e9:.0f} GB); "
                     "sklearn also refuses cholesky on sparse X with fit_intercept")

    start = 1e-8
    for solver in ("sparse_cg", "lsqr"):
        row = iterative(f"sklearn {solver}", "sklearn",
                        lambda tol, s=solver: (lambda: fit_sklearn(X, y, alpha, s, tol=tol,
                                                                   max_iter=max_it_cg)),
                        n_iter_of=_sk_iters, max_iter=max_it_cg, start=start)
        start = row["tol"] or start

    # svd: LAPACK gesdd, ~ 4 n d^2 + 22 d^3 flops in theory; with sklearn's centring copy and
    # gesdd's BLAS-2 part it ran ~3x the n d^2 term on this machine (12 n d^2 calibrates it).
    # X is copied twice and U is n x d.
    if dense:
        svd_s = (12.0 * n * d * d + 22.0 * d**3) / (gflops * 1e9)
        svd_gb = 3 * x_gb
        avail = _mem_available_gb()
        if svd_s > slow_cap:
            add_row("sklearn svd", "sklearn", None, None, [], [], skipped=True,
                    note=f"skipped: est. {svd_s:.3g} s (12nd^2+22d^3 flops at "
                         f"{gflops:.0f} GFlop/s) > cap {slow_cap:.3g} s")
        elif svd_gb > 0.8 * avail:
            add_row("sklearn svd", "sklearn", None, None, [], [], skipped=True,
                    note=f"skipped: needs ~{svd_gb:.0f} GB, {avail:.0f} GB available")
        else:
            med, times, est, errs = time_fit(lambda: fit_sklearn(X, y, alpha, "svd"),
                                             repeats=args.repeats, check=err_of)
            add_row("sklearn svd", "sklearn", None, med, times, errs,
                    note=f"est. was {svd_s:.3g} s")
    else:
        add_row("sklearn svd", "sklearn", None, None, [], [], skipped=True,
                note="skipped: sklearn's svd solver needs dense X")

    # sag / saga: extrapolate the error decay per epoch before committing to a search
    for solver in ("sag", "saga"):
        if not dense and solver == "saga":
            add_row("sklearn saga", "sklearn", None, None, [], [], skipped=True,
                    note="skipped: sklearn rejects saga on sparse X with fit_intercept")
            continue
        if not dense:
            add_row("sklearn sag", "sklearn", None, None, [], [], skipped=True,
                    note="skipped: on sparse X with fit_intercept sklearn runs sparse_cg "
                         "instead unless max_iter=None and tol > 1e-4 (no accurate sag run)")
            continue
        if args.no_sag:
            add_row(f"sklearn {solver}", "sklearn", None, None, [], [], skipped=True,
                    note="skipped (--no-sag)")
            continue
        a, b = 2, 6
        t_a, est_a = timed(fit_sklearn, X, y, alpha, solver, tol=0.0, max_iter=a)
        e_a = err_of(est_a)
        epoch = t_a / a
        if epoch * b > slow_cap:
            add_row(f"sklearn {solver}", "sklearn", None, None, [], [], skipped=True,
                    note=f"skipped: one epoch {epoch:.1f} s; error {e_a:.1e} after {a} "
                         "epochs")
            continue
        t_b, est_b = timed(fit_sklearn, X, y, alpha, solver, tol=0.0, max_iter=b)
        e_b = err_of(est_b)
        epoch = t_b / b
        rate = (e_b / e_a) ** (1.0 / (b - a)) if e_a > 0 else 0.0
        if e_b <= TARGET_ERR:
            need = b
        elif 0 < rate < 1:
            need = b + math.log(TARGET_ERR / e_b) / math.log(rate)
        else:
            need = math.inf
        est_s = need * epoch
        if est_s > slow_cap:
            add_row(f"sklearn {solver}", "sklearn", None, None, [], [], skipped=True,
                    note=f"skipped: est. {est_s:.3g} s > cap {slow_cap:.3g} s (error {e_a:.1e} "
                         f"after {a} epochs, {e_b:.1e} after {b}: {rate:.3f}/epoch, "
                         f"{epoch:.2f} s/epoch)")
            continue
        max_it = int(math.ceil(cap / epoch))
        iterative(f"sklearn {solver}", "sklearn",
                  lambda tol, s=solver: (lambda: fit_sklearn(X, y, alpha, s, tol=tol,
                                                             max_iter=max_it)),
                  n_iter_of=_sk_iters, max_iter=max_it)

    # ---------------------------------------------------------------- table
    sk = [r for r in rows if r["family"] == "sklearn" and not r["skipped"]
          and r["err"] is not None and r["err"] <= TARGET_ERR]
    sk_best = min(sk, key=lambda r: r["median"]) if sk else None
    for r in rows:
        r["ratio"] = (sk_best["median"] / r["median"]
                      if sk_best and not r["skipped"] and r["median"] else None)
    table = []
    for r in rows:
        acc = r["err"] is not None and r["err"] <= TARGET_ERR
        table.append({
            "solver": r["solver"] + ("" if r["skipped"] or acc else " (!)"),
            "tol": fmt(r["tol"], "{:.0e}"),
            "fit": fmt(r["median"], "{:.3f}"),
            "rep": "-" if r["skipped"] else str(len(r["times"])),
            "err": fmt(r["err"], "{:.1e}"),
            "passes": fmt(r["median"] / t_pass if r["median"] else None, "{:.1f}"),
            "iters": fmt(r["n_iter"], "{:d}"),
            "m": fmt(r["m"], "{:d}"),
            "deff": fmt(r["deff"], "{:.0f}"),
            "npass": fmt(r["npass"], "{:.1f}"),
            "ratio": fmt(r["ratio"], "{:.2f}x"),
            "note": r["note"],
        })
    columns = [("solver", "solver", "<"), ("tol", "tol", ">"), ("fit", "fit s", ">"),
               ("rep", "rep", ">"), ("err", "rel err", ">"), ("passes", "passes", ">"),
               ("iters", "iters", ">"), ("m", "sketch m", ">"), ("deff", "d_eff est", ">"),
               ("npass", "own passes", ">"), ("ratio", "sk/this", ">"), ("note", "note", "<")]
    ours_pcg = ours["pcg"]
    ok_pcg = ours_pcg["err"] is not None and ours_pcg["err"] <= TARGET_ERR
    ratio = sk_best["median"] / ours_pcg["median"] if sk_best and ok_pcg else None
    notes.append(f"exact solution: {ref_desc}")
    notes.append(f"d_eff exact = {fmt(deff_exact, '{:.1f}', 'n/a')} (nominal {spec['deff']}); "
                 f"one pass = {1e3 * t_pass:.1f} ms; peak RSS so far {peak_rss_gb():.1f} GB")
    if sk_best:
        notes.append(f"sklearn's fastest accurate solver: {sk_best['solver']} "
                     f"{sk_best['median']:.3f} s")
    m_ok = ours_pcg["m"] is not None and ours_pcg["m"] < d and (
        deff_exact is None or ours_pcg["m"] <= 32 * deff_exact)
    target = spec["target"]
    met = ratio is not None and ratio >= target
    notes.append(f"target{' (set for the full size; indicative only with --quick)' if args.quick else ''}: "
                 f"SketchedRidge(pcg) >= {target}x sklearn's fastest -> "
                 f"{fmt(ratio, '{:.2f}x')} {'MET' if met else 'MISSED'}; final sketch size "
                 f"{ours_pcg['m']} vs d_eff {fmt(deff_exact or spec['deff'], '{:.0f}')}, "
                 f"d={d}: {'ok' if m_ok else 'NOT ok'}")
    if not ref_ok:
        notes.append("WARNING: the exact solution is not certified to 1e-10")
    print()
    print_table(columns, table, title=f"[{name}] n={n:,} d={d:,} "
                f"{'dense' if dense else 'sparse'} alpha={alpha:.4g}, target error "
                f"{TARGET_ERR:g}, 1 thread", notes=notes)

    if args.diagnose:
        diagnose(X, y, alpha, ours_pcg["tol"] or 1e-8, t_pass)

    del X, y, ref
    gc.collect()
    return dict(ratio=ratio, accuracy_ok=bool(ok_pcg and ref_ok), met=met, m_ok=m_ok)


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


def diagnose(X, y, alpha, tol, t_pass):
    """Where SketchedRidge(pcg)'s time goes: its verbose log and timings of the pieces
    (uses private skconvex APIs; skipped when they changed)."""
    print(f"   --- diagnosis: SketchedRidge(pcg, tol={tol:.0e}, verbose=1)")
    t, est = timed(fit_ours, X, y, alpha, "pcg", tol, verbose=1)
    print(f"   fit {t:.3f} s = {t / t_pass:.1f} passes; n_iter {est.n_iter_}, m "
          f"{est.sketch_size_}, own passes {est.n_passes_}")
    try:
        from skconvex.problems import RidgeProblem
        from skconvex.solvers._normal import NormalSystem
        from skconvex.solvers._sketch_precond import make_preconditioner
    except ImportError as exc:  # pragma: no cover
        print(f"   (pieces not timed: {exc})")
        return
    rng = np.random.RandomState(0)
    t_prob, problem = timed(lambda: RidgeProblem(X, y, alpha, fit_intercept=True))
    t_rhs, _ = timed(lambda: problem.rhs)
    system = NormalSystem(problem)
    Z = rng.standard_normal((system.shape[1], 1))
    t_hess = median_time(lambda: system.hess(Z), repeats=3)
    print(f"   RidgeProblem {t_prob:.3f} s, rhs {t_rhs:.3f} s, one hess {t_hess:.3f} s "
          f"({t_hess / t_pass:.2f} passes)")
    m = 512
    while True:
        m_eff = min(m, system.shape[0])
        t_b, pre = timed(make_preconditioner, system.M, m_eff, system.alpha, kind="sjlt",
                         nnz_per_row=None, rng=rng)
        t_s = median_time(lambda: pre.solve(Z), repeats=3)
        print(f"   m={m_eff:6d}: sketch+factor {t_b:.3f} s ({t_b / t_pass:.2f} passes), "
              f"precond apply {1e3 * t_s:.1f} ms, "
              f"{'Woodbury' if getattr(pre, 'woodbury', False) else 'Cholesky'}")
        del pre
        if m_eff >= est.sketch_size_ or m_eff >= system.shape[0]:
            break
        m *= 2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 60 s)")
    parser.add_argument("--problems", default="R1,R2,R3,R4",
                        help="comma-separated subset of R1,R2,R3,R4")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed fits per solver (default 3, 2 with --quick; 1 when a fit "
                             "takes > 30 s)")
    parser.add_argument("--cap", type=float, default=None,
                        help="seconds one fit may take (peers estimated to need more are "
                             "skipped; iteration caps of sparse_cg/lsqr/sag derive from it). "
                             "Default 300 (full), 4 (--quick)")
    parser.add_argument("--slow-cap", type=float, default=None,
                        help="svd, sag and saga run only when their estimated fit time is "
                             "below this (seconds). Default: --cap (full), 1 (--quick)")
    parser.add_argument("--no-sag", action="store_true", help="skip sag/saga")
    parser.add_argument("--diagnose", action="store_true",
                        help="after each problem, time the pieces of SketchedRidge(pcg)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every run of the tolerance searches")
    args = parser.parse_args(argv)
    if args.cap is None:
        args.cap = 4.0 if args.quick else 300.0
    if args.slow_cap is None:
        args.slow_cap = 1.0 if args.quick else args.cap
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    names = [p.strip().upper() for p in args.problems.split(",") if p.strip()]
    unknown = [p for p in names if p not in PROBLEMS]
    if unknown:
        parser.error(f"unknown problem(s) {unknown}; choose from {sorted(PROBLEMS)}")

    t_start = time.perf_counter()
    results = {}
    import sklearn.linear_model  # noqa: F401  (load every library before limiting threads)

    import skconvex  # noqa: F401

    with single_thread():
        t_w, _ = timed(warm_up)  # loads numba's threading layer, compiles/loads kernels
    with single_thread():  # entered again: also limits what the warm-up loaded
        gflops = gemm_gflops()
        machine_header(
            f"bench_ridge{' --quick' if args.quick else ''}: SketchedRidge vs sklearn Ridge "
            f"(problems {','.join(names)})",
            extra=[f"measured DGEMM rate {gflops:.0f} GFlop/s (1 thread); target relative coef "
                   f"error {TARGET_ERR:g}; tol grid {TOL_GRID[0]:g}..{TOL_GRID[-1]:g}; "
                   f"per-fit cap {args.cap:.3g} s (svd/sag/saga: {args.slow_cap:.3g} s); "
                   f"{args.repeats} repeats (1 if > 30 s)"])
        print(f"# warm-up (numba compile / cache load) {t_w:.1f} s", flush=True)
        for name in names:
            t_p = time.perf_counter()
            results[name] = run_problem(name, args, gflops)
            results[name]["wall"] = time.perf_counter() - t_p

    print("Summary (SketchedRidge(pcg) vs scikit-learn's fastest accurate solver):")
    for name, r in results.items():
        print(f"  {name}: {fmt(r['ratio'], '{:.2f}x')} (target {PROBLEMS[name]['target']}x: "
              f"{'met' if r['met'] else 'MISSED'}); sketch size "
              f"{'ok' if r['m_ok'] else 'NOT ok'}; accuracy "
              f"{'ok' if r['accuracy_ok'] else 'NOT ok'}; benchmark wall time {r['wall']:.0f} s")
    print(f"  total {time.perf_counter() - t_start:.0f} s, peak RSS {peak_rss_gb():.1f} GB; "
          f"at the end: {load_report()}")
    ratios = [r["ratio"] for r in results.values()]
    ratio = min(ratios) if ratios and all(r is not None for r in ratios) else None
    accuracy_ok = all(r["accuracy_ok"] for r in results.values())
    print(result_line("bench_ridge", ratio, accuracy_ok), flush=True)


if __name__ == "__main__":
    main()
