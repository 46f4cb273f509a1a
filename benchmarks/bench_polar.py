"""bench_polar: polar-coded mat-vec (computational polarization) against MDS and uncoded.

Three parts, rate R = K/N = 1/2 throughout:

(1) simulated completion time, N = 16 ... 1024 workers, i.i.d. runtimes from a shifted
    exponential (shift 1, rate 1: the spec's model), an exponential (rate 1) and a Pareto
    (scale 1, shape 1.5: heavy tail). Polar: the largest virtual runtime over the information
    positions; MDS: the K-th order statistic (the finite-N information-theoretic lower bound
    of any scheme giving each worker 1/K of the work); uncoded: the N workers split the work
    (1/N each, half of a coded worker's), with the runtime proportional to the load, so its
    completion is R * max(T). The asymptotic lower bound is F^{-1}(R).
(2) decode time and flop count, N = 16 ... 1024, 64 rows per block: polar SC decoding
    (additions only) against the MDS K x K solve (Gaussian generator), runs made decodable at
    their own completion time.
(3) real execution on a dask.distributed LocalCluster (2 worker processes, 1 thread each)
    with injected delays (shifted exponential: shift 200 ms, rate 5/s; Pareto: scale 200 ms,
    shape 1.5): wall time from submission until the results are decodable, decode time,
    against the completion time the same delays give in simulation. Uncoded runs inject
    R times the delays (half the load per worker).

Targets (issue): at N = 1024, polar completion within 10 % of MDS with >= 100x cheaper
decoding; >= 2x faster than uncoded under heavy-tailed delays.

    python benchmarks/bench_polar.py            # full run (a few minutes)
    python benchmarks/bench_polar.py --quick    # N <= 256, cluster N = 16 only (< 90 s)
"""

import argparse
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    machine_header,
    median_time,
    print_table,
    result_line,
    single_thread,
)

import skconvex  # noqa: E402
from skconvex.distributed import (  # noqa: E402
    ExponentialDelay,
    MDSCodedMatVec,
    ParetoDelay,
    PolarCodedMatVec,
    ShiftedExponentialDelay,
    UncodedMatVec,
)

R = 0.5
DISTS = {
    "shifted-exp(1,1)": ShiftedExponentialDelay(1.0, 1.0),
    "exp(1)": ExponentialDelay(1.0),
    "pareto(1,1.5)": ParetoDelay(1.0, 1.5),
}


def source_report():
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(skconvex.__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %cI"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--",
                                "skconvex/distributed"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):  # pragma: no cover
        return "skconvex source: git n/a"
    return f"skconvex source: git {head} ({'uncommitted changes' if dirty else 'clean'})"


# -- (1) simulation ------------------------------------------------------------------------------
def part_simulation(levels, runs):
    rng = np.random.default_rng(0)
    rows, summary = [], {}
    for name, dist in DISTS.items():
        bound = float(dist.ppf(R))
        for n in levels:
            N = 2 ** n
            polar = PolarCodedMatVec(n, R, runtime_cdf=dist).fit(np.ones((N, 1)))
            K = polar.n_blocks_
            n_runs = runs if N <= 256 else max(200, runs // 4)
            T = dist.sample((n_runs, N), random_state=rng)
            tp = polar.completion_time(T)
            tm = np.sort(T, axis=1)[:, K - 1]
            tu = R * T.max(axis=1)
            r = {"dist": name, "N": N, "runs": n_runs, "polar": f"{tp.mean():.3f}",
                 "mds": f"{tm.mean():.3f}", "uncoded": f"{tu.mean():.3f}",
                 "bound": f"{bound:.3f}", "p/mds": f"{tp.mean() / tm.mean():.3f}",
                 "p/bound": f"{tp.mean() / bound:.3f}",
                 "unc/p": f"{tu.mean() / tp.mean():.2f}",
                 "p>=mds": "yes" if np.all(tp >= tm) else "NO"}
            rows.append(r)
            summary[(name, N)] = {"polar": tp.mean(), "mds": tm.mean(), "uncoded": tu.mean(),
                                  "ok": bool(np.all(tp >= tm))}
            print(f"   {name} N={N}: polar {tp.mean():.3f} MDS {tm.mean():.3f}", flush=True)
    columns = [("dist", "runtimes", "<"), ("N", "N", ">"), ("runs", "runs", ">"),
               ("polar", "polar", ">"), ("mds", "MDS=T(K:N)", ">"),
               ("uncoded", "uncoded", ">"), ("bound", "F^-1(R)", ">"),
               ("p/mds", "polar/MDS", ">"), ("p/bound", "polar/F^-1(R)", ">"),
               ("unc/p", "uncoded/polar", ">"), ("p>=mds", "polar>=MDS every run", ">")]
    print_table(columns, rows, title="(1) mean completion time (simulated, R = 1/2)",
                notes=["uncoded: N workers with 1/N of the work each, runtime proportional "
                       "to the load (R * max T)"])
    return summary


# -- (2) decoding ---------------------------------------------------------------------------------
def part_decode(levels, block_rows=64):
    rng = np.random.default_rng(1)
    dist = DISTS["shifted-exp(1,1)"]
    rows, summary = [], {}
    for n in levels:
        N = 2 ** n
        K = N // 2
        A = rng.standard_normal((K * block_rows, 4))
        x = rng.standard_normal(4)
        exact = A @ x
        polar = PolarCodedMatVec(n, R, runtime_cdf=dist).fit(A)
        mds = MDSCodedMatVec(N, K, random_state=0).fit(A)
        unc = UncodedMatVec(N).fit(np.vstack([A, np.zeros_like(A)]))
        T = dist.sample(N, random_state=rng)
        res = {}
        for name, code in (("polar", polar), ("mds", mds), ("uncoded", unc)):
            results = [b @ x for b in code.coded_blocks_]
            avail = T <= code.completion_time(T)
            y = code.decode(results, avail)
            err = float(np.max(np.abs(y[: exact.size] - exact)))
            t = median_time(lambda c=code, r=results, a=avail: c.decode(r, a),
                            repeats=15 if N < 1024 else 7)
            res[name] = (t, code.decode_flops_, err)
        tp, fp, ep = res["polar"]
        tm, fm, em = res["mds"]
        rows.append({"N": N, "K": K, "polar_ms": f"{tp * 1e3:.3f}", "mds_ms": f"{tm * 1e3:.3f}",
                     "unc_ms": f"{res['uncoded'][0] * 1e3:.3f}",
                     "t_ratio": f"{tm / tp:.1f}", "polar_fl": f"{fp:.3g}",
                     "mds_fl": f"{fm:.3g}", "fl_ratio": f"{fm / max(fp, 1):.0f}",
                     "fl_nlogn": f"{fp / (N * n * block_rows):.2f}",
                     "err": f"{ep:.0e} / {em:.0e}"})
        summary[N] = {"time_ratio": tm / tp, "flop_ratio": fm / max(fp, 1), "err_p": ep,
                      "err_m": em}
    columns = [("N", "N", ">"), ("K", "K", ">"), ("polar_ms", "polar ms", ">"),
               ("mds_ms", "MDS ms", ">"), ("unc_ms", "uncoded ms", ">"),
               ("t_ratio", "MDS/polar time", ">"), ("polar_fl", "polar flops", ">"),
               ("mds_fl", "MDS flops", ">"), ("fl_ratio", "MDS/polar flops", ">"),
               ("fl_nlogn", "polar flops/(N log2N L)", ">"),
               ("err", "max error polar / MDS", ">")]
    print_table(columns, rows, title=f"(2) decoding ({block_rows} rows per block, median time "
                "of code.decode on the results available at the completion time)",
                notes=["MDS flops: 2/3 K^3 (LU) + 2 K^2 L (solves); polar: additions and "
                       "subtractions counted by the decoder"])
    return summary


# -- (3) LocalCluster -------------------------------------------------------------------------------
def part_cluster(levels, reps):
    import distributed

    from skconvex.distributed import DaskCodedMatVec

    dists = {"shifted-exp(200ms,5/s)": ShiftedExponentialDelay(0.2, 5.0),
             "pareto(200ms,1.5)": ParetoDelay(0.2, 1.5)}
    rows, summary = [], {}
    t0 = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.CRITICAL) \
            as cluster, distributed.Client(cluster) as client:
        print(f"   LocalCluster up in {time.perf_counter() - t0:.1f} s", flush=True)
        rng = np.random.default_rng(2)
        for dname, dist in dists.items():
            for n in levels:
                N = 2 ** n
                A = rng.standard_normal((N * 32, 16))
                x = rng.standard_normal(16)
                codes = {"polar": PolarCodedMatVec(n, R, runtime_cdf=dist),
                         "mds": MDSCodedMatVec(N, N // 2, random_state=0),
                         "uncoded": UncodedMatVec(N)}
                runners = {}
                for name, code in codes.items():
                    code.fit(A)
                    runners[name] = DaskCodedMatVec(code, client, timeout=120).scatter()
                    runners[name].matvec(x, delays=np.zeros(N))  # warm-up
                meas = {k: [] for k in codes}
                sim = {k: [] for k in codes}
                dec = {k: [] for k in codes}
                used = {k: [] for k in codes}
                for _ in range(reps):
                    delays = dist.sample(N, random_state=rng)
                    for name, code in codes.items():
                        dl = R * delays if name == "uncoded" else delays
                        y = runners[name].matvec(x, delays=dl)
                        assert np.allclose(y, A @ x, atol=1e-6)
                        rec = runners[name].last_run_
                        meas[name].append(rec["completion_time"])
                        dec[name].append(rec["decode_time"])
                        used[name].append(rec["n_used"])
                        sim[name].append(float(code.completion_time(dl)))
                for name in codes:
                    runners[name].close()
                    rows.append({"dist": dname, "N": N, "scheme": name,
                                 "wall": f"{np.mean(meas[name]):.3f}",
                                 "sim": f"{np.mean(sim[name]):.3f}",
                                 "over": f"{np.mean(meas[name]) - np.mean(sim[name]):+.3f}",
                                 "dec": f"{np.median(dec[name]) * 1e3:.2f}",
                                 "used": f"{np.mean(used[name]):.1f}/{N}"})
                summary[(dname, N)] = {k: np.mean(v) for k, v in meas.items()}
                print(f"   {dname} N={N}: " + ", ".join(
                    f"{k} {np.mean(v):.3f} s" for k, v in meas.items()), flush=True)
    columns = [("dist", "injected delays", "<"), ("N", "N", ">"), ("scheme", "scheme", "<"),
               ("wall", "wall s (until decodable)", ">"), ("sim", "simulated s", ">"),
               ("over", "overhead s", ">"), ("dec", "decode ms (median)", ">"),
               ("used", "results used", ">")]
    print_table(columns, rows, title=f"(3) dask.distributed LocalCluster, 2 processes x 1 "
                f"thread, mean of {reps} runs", notes=[
                    "simulated: completion time of the same injected delays; overhead: "
                    "scheduling, transfers and the products themselves"])
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (< 90 s)")
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--runs", type=int, default=None,
                        help="simulated runs per N (default 2000; 500 with --quick)")
    parser.add_argument("--reps", type=int, default=None,
                        help="cluster runs per N and scheme (default 8; 3 with --quick)")
    args = parser.parse_args(argv)
    runs = args.runs or (500 if args.quick else 2000)
    reps = args.reps or (3 if args.quick else 8)
    levels = [4, 6, 8] if args.quick else [4, 6, 8, 10]
    cluster_levels = [4] if args.quick else [4, 6]
    parts = {p.strip() for p in args.parts.split(",")}
    t_all = time.perf_counter()
    with single_thread():
        machine_header("bench_polar: polar-coded mat-vec vs MDS and uncoded (rate 1/2)",
                       extra=[f"sizes: {'quick' if args.quick else 'full'}", source_report()])
        sim = part_simulation(levels, runs) if "1" in parts else {}
        dec = part_decode(levels) if "2" in parts else {}
    clu = part_cluster(cluster_levels, reps) if "3" in parts else {}
    Nmax = 2 ** levels[-1]
    print(f"Summary ({'quick sizes: targets are set for N = 1024' if args.quick else 'full'}; "
          f"total {time.perf_counter() - t_all:.0f} s):")
    ok = True
    ratio = None
    for name in DISTS:
        s = sim.get((name, Nmax))
        if s:
            ok &= s["ok"]
            r = s["polar"] / s["mds"]
            if name == "shifted-exp(1,1)":
                ratio = r
            print(f"  (1) {name} N={Nmax}: polar/MDS completion = {r:.3f} (target <= 1.10) -> "
                  f"{'MET' if r <= 1.10 else 'MISSED'}; uncoded/polar = "
                  f"{s['uncoded'] / s['polar']:.2f}" + (
                      f" (target >= 2 under heavy tails) -> "
                      f"{'MET' if s['uncoded'] / s['polar'] >= 2 else 'MISSED'}"
                      if name.startswith("pareto") else ""))
    d = dec.get(Nmax)
    if d:
        ok &= d["err_p"] < 1e-8
        print(f"  (2) N={Nmax}: MDS/polar decode flops = {d['flop_ratio']:.0f}, time = "
              f"{d['time_ratio']:.1f} (target >= 100) -> flops "
              f"{'MET' if d['flop_ratio'] >= 100 else 'MISSED'}, time "
              f"{'MET' if d['time_ratio'] >= 100 else 'MISSED'}; max errors polar "
              f"{d['err_p']:.0e}, MDS {d['err_m']:.0e}")
    for (dname, N), s in clu.items():
        print(f"  (3) LocalCluster {dname} N={N}: polar {s['polar']:.3f} s, MDS "
              f"{s['mds']:.3f} s, uncoded {s['uncoded']:.3f} s (uncoded/polar "
              f"{s['uncoded'] / s['polar']:.2f})")
    print(result_line("bench_polar", ratio, ok))


if __name__ == "__main__":
    main()
