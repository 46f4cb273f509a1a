"""The one place where solvers report progress (``verbose``)."""

import math
import sys
import time


class ProgressLogger:
    """Per-iteration progress lines for a solver run.

    ``verbose=0`` prints nothing; ``verbose>=1`` prints one line per outer iteration with the
    objective, the duality gap (or the solver's own convergence measure), the step and the
    elapsed time, followed by a bar showing the progress of the convergence measure from its
    first value towards ``tol`` on a log scale. Output goes to ``stream`` (stdout by default).
    """

    def __init__(self, name, verbose=0, *, tol=None, stream=None):
        self.name = name
        self.verbose = int(verbose or 0)
        self.tol = tol
        self.stream = stream if stream is not None else sys.stdout
        self._t0 = time.perf_counter()
        self._first = None
        self._header_done = False

    @property
    def elapsed(self):
        return time.perf_counter() - self._t0

    def _bar(self, measure):
        if self.tol is None or measure is None or not math.isfinite(measure) or measure <= 0:
            return ""
        if self._first is None:
            self._first = measure
        lo, hi = math.log(self.tol), math.log(max(self._first, self.tol * 1.0001))
        frac = min(1.0, max(0.0, (hi - math.log(max(measure, self.tol))) / (hi - lo)))
        n = int(round(20 * frac))
        return f" [{'#' * n}{'.' * (20 - n)}] {100 * frac:3.0f}%"

    def iteration(self, it, *, objective=None, measure=None, gap=None, step=None, **extra):
        """Report one iteration; ``measure`` is the quantity compared with ``tol``."""
        if self.verbose <= 0:
            return
        if not self._header_done:
            print(f"[{self.name}] iter   objective      duality gap     measure        step"
                  "          elapsed",
                  file=self.stream, flush=True)
            self._header_done = True
        fmt = lambda v: "      -     " if v is None else f"{v: .5e}"  # noqa: E731
        extras = "".join(f"  {k}={v}" for k, v in extra.items())
        print(
            f"[{self.name}] {it:4d}  {fmt(objective)}  {fmt(gap)}  {fmt(measure)}  {fmt(step)}"
            f"  {self.elapsed:8.3f}s{self._bar(measure)}{extras}",
            file=self.stream,
            flush=True,
        )

    def message(self, text, level=1):
        if self.verbose >= level:
            print(f"[{self.name}] {text}", file=self.stream, flush=True)
