"""Running nogil numba kernels on threads (one place for the package's kernels)."""

import threading


def run_tasks(kernel, args, bounds):
    """Run ``kernel(*args, lo, hi)`` for consecutive (lo, hi) in ``bounds`` (a sorted list
    of split points), the first range on the calling thread, the others on threads.

    The kernels are ``nogil`` numba functions writing disjoint parts of the output.
    """
    ranges = [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    if len(ranges) <= 1:
        for lo, hi in ranges:
            kernel(*args, lo, hi)
        return
    errors = []

    def target(lo, hi):
        try:
            kernel(*args, lo, hi)
        except BaseException as exc:  # pragma: no cover - kernels do not raise
            errors.append(exc)

    threads = [threading.Thread(target=target, args=r) for r in ranges[1:]]
    for t in threads:
        t.start()
    target(*ranges[0])
    for t in threads:
        t.join()
    if errors:  # pragma: no cover
        raise errors[0]
