"""Helpers shared by the ``benchmarks/bench_*.py`` scripts (design.md section 7).

- :func:`single_thread`: run every solver, ours and the peers', on one thread (BLAS, OpenMP and
  numba), so that a ratio compares algorithms and not thread pools;
- :func:`time_fit`: median wall time of repeated calls (fewer repeats for long calls);
- :func:`search_loosest`: the loosest tolerance of a grid that reaches a target accuracy;
- :func:`print_table`: a plain-text table with aligned columns;
- :func:`result_line`: the ``RESULT name=... ratio=... accuracy_ok=...`` last line.
"""

import argparse
import contextlib
import math
import os
import platform
import resource
import statistics
import sys
import time
import warnings

import numpy as np


# --------------------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def single_thread():
    """One thread for BLAS/LAPACK, OpenMP and numba inside the block (restored after).

    threadpoolctl limits the libraries loaded when the block starts: every library the fits
    use is loaded first (a benchmark that imported scikit-learn and skconvex inside the block
    ran scipy's OpenBLAS and scikit-learn's OpenMP on two threads)."""
    import scipy.linalg  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.neural_network  # noqa: F401
    from threadpoolctl import threadpool_limits

    import skconvex  # noqa: F401

    try:
        import numba

        old_numba = numba.get_num_threads()
        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover - numba is a dependency of skconvex
        numba, old_numba = None, None
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if numba is not None:
            numba.set_num_threads(old_numba)


def thread_report():
    """One line describing the thread pools as currently limited."""
    from threadpoolctl import threadpool_info

    parts = []
    for info in threadpool_info():
        parts.append(f"{info.get('internal_api')}({info.get('prefix')})={info.get('num_threads')}")
    try:
        import numba

        parts.append(f"numba={numba.get_num_threads()}")
    except ImportError:  # pragma: no cover
        pass
    return ", ".join(parts)


def machine_header(title, extra=()):
    """Print the header of a benchmark: machine, versions, thread pools."""
    import scipy
    import sklearn

    try:
        import skconvex

        skv = skconvex.__version__
    except Exception:  # pragma: no cover
        skv = "?"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:  # pragma: no cover
        pass
    print(f"# {title}")
    print(f"# machine: {cpu}, {os.cpu_count()} cpus; python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
          f"skconvex {skv}")
    print(f"# threads (every solver, ours and the peers'): {thread_report()}")
    print(f"# {load_report()} (other processes on the machine perturb the timings)")
    for line in extra:
        print(f"# {line}")
    sys.stdout.flush()


def load_report():
    """The 1/5/15-minute load averages (how busy the machine is besides this process)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover
        return "load average n/a"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cpus"


def gemm_gflops(size=2000, repeats=3):
    """Measured float64 GEMM rate (GFlop/s) under the current thread limits."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size))
    B = rng.standard_normal((size, size))
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        A @ B
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def peak_rss_gb():
    """Peak resident memory of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


# --------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------


def now():
    return time.perf_counter()


def timed(fn, *args, **kwargs):
    """``(seconds, fn(*args, **kwargs))``; warnings of the call are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        return time.perf_counter() - t0, out


def time_fit(fn, *, repeats=3, long_s=30.0, first=None, check=None):
    """Median wall time of ``fn()`` over ``repeats`` calls (1 call when a call takes > long_s).

    ``first``: an already measured ``(seconds, result)`` of the same call, counted as the first
    repeat. ``check(result)`` is evaluated on every result (e.g. its error) and the list of
    checks is returned.

    Returns ``(median_seconds, times, last_result, checks)``.
    """
    times, checks, result = [], [], None
    if first is not None:
        times.append(first[0])
        result = first[1]
        if check is not None:
            checks.append(check(result))
    while len(times) < repeats and not (times and max(times) > long_s):
        t, result = timed(fn)
        times.append(t)
        if check is not None:
            checks.append(check(result))
    return statistics.median(times), times, result, checks


def median_time(fn, repeats=7):
    """Median of ``repeats`` timings of a short call (e.g. one pass over the data)."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def search_loosest(run, grid, ok, *, start=None, log=None, give_up=None):
    """The loosest tolerance in ``grid`` whose run satisfies ``ok``.

    ``grid`` is sorted from loose to tight; ``run(tol)`` returns ``(seconds, result)``;
    ``ok(result)`` says whether the target accuracy was reached; ``log(tol, seconds, result,
    passed)`` is called for every run. The search starts at ``start`` (default the loosest
    value) and walks looser while runs pass, tighter while they fail, so that it costs about
    two runs when ``start`` is a good guess. Accuracy is monotone in the tolerance for the
    solvers benchmarked here. ``give_up(seconds, result)``, called after a failed run, stops
    the walk towards tighter values (e.g. when the run hit its iteration or time cap: a
    tighter tolerance cannot help).

    Returns ``(tol, (seconds, result), tried)`` for the loosest passing value, or
    ``(None, (seconds, result), tried)`` with the tightest run when no value passes.
    ``tried`` lists ``(tol, seconds, passed)``.
    """
    grid = list(grid)
    i = grid.index(start) if start is not None else 0
    tried, runs = [], {}

    def attempt(j):
        if j not in runs:
            t, res = run(grid[j])
            passed = bool(ok(res))
            runs[j] = (t, res, passed)
            tried.append((grid[j], t, passed))
            if log is not None:
                log(grid[j], t, res, passed)
        return runs[j][2]

    if attempt(i):
        while i > 0 and attempt(i - 1):
            i -= 1
        return grid[i], runs[i][:2], tried
    while i + 1 < len(grid):
        if give_up is not None and give_up(*runs[i][:2]):
            break
        i += 1
        if attempt(i):
            return grid[i], runs[i][:2], tried
    return None, runs[i][:2], tried


# --------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------


def fmt(value, spec="{:.3g}", missing="-"):
    """Format a number (or pass a string through); None/NaN -> ``missing``."""
    if value is None:
        return missing
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return missing
    return spec.format(value)


def print_table(columns, rows, *, title=None, notes=(), file=None):
    """Print ``rows`` (dicts) under ``columns``: a list of ``(key, header, align)`` with
    align ``"<"`` or ``">"``. Cells are printed with ``str`` (format them before)."""
    file = file or sys.stdout
    cells = [[str(r.get(key, "")) for key, _, _ in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h, _) in enumerate(columns)]

    def line(values):
        out = []
        for (_, _, align), w, v in zip(columns, widths, values):
            out.append(v.ljust(w) if align == "<" else v.rjust(w))
        return "  ".join(out).rstrip()

    if title:
        print(title, file=file)
    header = line([h for _, h, _ in columns])
    print(header, file=file)
    print("-" * len(header), file=file)
    for c in cells:
        print(line(c), file=file)
    for n in notes:
        print(f"  {n}", file=file)
    print(file=file, flush=True)


def result_line(name, ratio, accuracy_ok):
    """The last line of every benchmark."""
    r = "nan" if ratio is None or not math.isfinite(ratio) else f"{ratio:.3g}"
    return f"RESULT name={name} ratio={r} accuracy_ok={'true' if accuracy_ok else 'false'}"


def add_cv_option(parser):
    """``--cv K``: choose the compared models' settings by K-fold cross-validation of the
    training set instead of its 80/20 hold-out split (see :func:`selection_folds`)."""
    def fold_count(text):
        k = int(text)
        if k < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1, got {k}")
        return k

    parser.add_argument("--cv", type=fold_count, default=1,
                        help="choose both models' settings by CV-fold cross-validation of the "
                             "training set (mean score over the folds) instead of its 80/20 "
                             "hold-out split (default 1: the hold-out split)")


def selection_folds(y, cv, *, stratify, seed=0):
    """The (fit, validation) index pairs of a training set of labels/targets ``y`` on which the
    compared models' settings are chosen: with ``cv`` = 1 its 80/20 hold-out split, otherwise
    ``cv``-fold cross-validation, shuffled with ``seed`` (both stratified by ``y`` when
    ``stratify``); a setting's score is its mean over the folds. The hold-out split is the
    one ``train_test_split(X, y, test_size=0.2, random_state=seed)`` makes."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    if cv < 1:
        raise ValueError(f"--cv must be >= 1, got {cv}")
    idx = np.arange(len(y))
    strat = y if stratify else None
    if cv == 1:
        return [tuple(train_test_split(idx, test_size=0.2, random_state=seed, stratify=strat))]
    split = (StratifiedKFold if stratify else KFold)(cv, shuffle=True, random_state=seed)
    return list(split.split(idx, strat))
