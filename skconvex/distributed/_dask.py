"""Coded matrix-vector products executed on a ``dask.distributed`` cluster.

The coded blocks live on the workers (scattered, or encoded there from blocks already in the
cluster's memory). A product submits one task per coded block, collects the results as they
arrive (``distributed.as_completed``), decodes as soon as the code can, and cancels the
tasks still running. Only the futures API of a ``Client`` is used, so the same code runs on a
``LocalCluster`` and against a remote scheduler (``client=Client("tcp://host:8786")``).

Stragglers can be injected: ``delay`` draws an extra runtime for every task, which the task
spends after its product in a thread that has left the worker's pool (``secede``), so one
worker process stands for as many slow machines as it runs tasks.
"""

import time
from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

from skconvex.distributed._coded import PolarCodedMatVec, UndecodableError

_INSTALL = ('install it with pip install "skconvex[dask]" (or pip install '
            '"dask[distributed]")')


def require_distributed(what="this"):
    """Import ``distributed``; a clear ImportError naming the extra when it is missing."""
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised without dask installed
        raise ImportError(f"{what} needs dask.distributed, which is not installed; "
                          f"{_INSTALL}.") from exc
    return distributed


def get_client(client=None):
    """``client`` itself, a new ``Client`` connected to an address string, or the current
    default client."""
    distributed = require_distributed("running on a Dask cluster")
    if client is None:
        try:
            return distributed.get_client()
        except ValueError as exc:
            raise ValueError(
                "no Dask client: pass client=Client(...) (a LocalCluster or a scheduler "
                "address) or create one before running.") from exc
    if isinstance(client, str):
        return distributed.Client(client)
    return client


# -- tasks (run on the workers) --------------------------------------------------------------
def _task_matvec(block, x, delay):
    """``block @ x``, then ``delay`` seconds of injected straggling outside the worker's
    thread pool (so that the worker starts its next task meanwhile)."""
    y = np.asarray(block @ x)
    if delay > 0:
        from distributed import secede

        secede()
        time.sleep(delay)
    return y


def _task_add(a, b):
    return a + b


def _task_combine(coefs, *blocks):
    out = None
    for c, b in zip(coefs, blocks):
        if c == 0:
            continue
        term = b if c == 1 else c * b
        out = term.astype(np.result_type(term, np.float32), copy=True) if out is None \
            else out + term
    return out


def _task_zeros_like(block):
    return np.zeros_like(block)


def encode_futures(client, code, block_futures):
    """Coded blocks as futures, computed on the cluster from data-block futures.

    Polar codes use the butterfly (``(N/2) log2 N`` additions at most, skipping frozen
    zeros); other codes combine the data blocks with the columns of their generator.
    """
    K, N = code.n_blocks_, code.n_workers_
    if len(block_futures) != K:
        raise ValueError(f"the code has {K} data blocks, got {len(block_futures)}.")
    if isinstance(code, PolarCodedMatVec):
        x = [None] * N
        for j, pos in enumerate(code.info_set_):
            x[pos] = block_futures[j]
        h = 1
        while h < N:
            for s in range(0, N, 2 * h):
                for j in range(s, s + h):
                    top, bot = x[j], x[j + h]
                    if bot is None:
                        continue
                    x[j] = bot if top is None else client.submit(_task_add, top, bot,
                                                                 pure=False)
            h *= 2
        return [client.submit(_task_zeros_like, block_futures[0], pure=False)
                if f is None else f for f in x]
    G = code.generator_matrix()
    out = []
    for i in range(N):
        nz = np.flatnonzero(G[:, i])
        if nz.size == 1 and G[nz[0], i] == 1:
            out.append(block_futures[nz[0]])
        elif nz.size == 0:
            out.append(client.submit(_task_zeros_like, block_futures[0], pure=False))
        else:
            out.append(client.submit(_task_combine, G[nz, i].tolist(),
                                     *[block_futures[j] for j in nz], pure=False))
    return out


def _draw_delays(delay, N, rng):
    if delay is None:
        return np.zeros(N)
    if hasattr(delay, "sample"):
        d = np.asarray(delay.sample(N, random_state=rng), dtype=np.float64)
    elif callable(delay):
        d = np.asarray(delay(rng, N), dtype=np.float64)
    else:
        d = np.asarray(delay, dtype=np.float64)
    if d.shape != (N,) or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError(f"delays must be {N} finite non-negative numbers, got {d!r}.")
    return d


def run_coded(client, code, coded_futures, x, *, delays=None, timeout=None):
    """Submit ``coded_futures[i] @ x`` for every worker, decode as soon as possible.

    Returns ``(y, record)``; ``record`` holds ``completion_time`` (seconds from submission
    until the results were decodable), ``decode_time``, ``total_time``, ``n_used`` (results
    received when decodable), ``arrivals`` (seconds, inf for results not waited for),
    ``delays`` and ``failed`` (workers whose task raised: treated as stragglers).
    """
    distributed = require_distributed("run_coded")
    N = code.n_workers_
    delays = np.zeros(N) if delays is None else np.asarray(delays, dtype=np.float64)
    t0 = time.perf_counter()
    futures = [client.submit(_task_matvec, coded_futures[i], x, float(delays[i]),
                             pure=False) for i in range(N)]
    index = {f.key: i for i, f in enumerate(futures)}
    results = [None] * N
    avail = np.zeros(N, dtype=bool)
    arrivals = np.full(N, np.inf)
    failed = []
    decodable = False
    ac = distributed.as_completed(futures, timeout=timeout)
    try:
        for fut in ac:
            i = index[fut.key]
            try:
                res = fut.result()
            except Exception as exc:  # a failed worker is an erasure
                failed.append((i, repr(exc)))
                continue
            arrivals[i] = time.perf_counter() - t0
            results[i] = res
            avail[i] = True
            if avail.sum() >= code.n_blocks_ and code.can_decode(avail):
                decodable = True
                break
    except distributed.TimeoutError as exc:
        client.cancel(futures)
        raise UndecodableError(
            f"timed out after {timeout} s with {int(avail.sum())} of {N} results, which "
            "cannot be decoded.") from exc
    t_ready = time.perf_counter() - t0
    pending = [f for f, a in zip(futures, avail) if not a and not f.done()]
    if pending:
        client.cancel(pending)
    if not decodable:
        msg = f"only {int(avail.sum())} of {N} workers returned a result, which cannot be " \
              "decoded"
        if failed:
            msg += f"; failed tasks: {failed[:3]}"
        raise UndecodableError(msg + ".")
    y = code.decode(results, avail)
    t_done = time.perf_counter() - t0
    record = {"completion_time": t_ready, "decode_time": t_done - t_ready,
              "total_time": t_done, "n_used": int(avail.sum()), "arrivals": arrivals,
              "delays": delays, "failed": failed}
    return y, record


class DaskCodedMatVec:
    """Run a coded mat-vec (:class:`PolarCodedMatVec`, :class:`MDSCodedMatVec` or
    :class:`UncodedMatVec`) on a ``dask.distributed`` cluster.

    Parameters
    ----------
    code : coded mat-vec object
        Designed and fitted (``code.fit(A)``): its coded blocks are scattered to the
        cluster once, at the first product (or by :meth:`scatter`).
    client : distributed.Client, str or None, default=None
        A client, a scheduler address (``"tcp://host:8786"``), or None for the current
        default client.
    delay : delay model, callable, array-like or None, default=None
        Injected straggling (seconds) per task: an object with ``sample(size,
        random_state)`` (e.g. :class:`ShiftedExponentialDelay`), a callable ``(rng, N) ->
        delays``, or a fixed array of N delays. None: no injected delay.
    timeout : float or None, default=None
        Give up (``UndecodableError``) when the results are not decodable after this many
        seconds.
    random_state : int, RandomState instance or None, default=None
        Seed of the injected delays.

    Attributes
    ----------
    last_run_ : dict
        Timing record of the last product (see :func:`run_coded`).

    Examples
    --------
    Straggling injected from a shifted exponential delay model on a local cluster (skipped
    by doctest: it starts worker processes):

    >>> import numpy as np
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> from skconvex.distributed import DaskCodedMatVec, PolarCodedMatVec
    >>> from skconvex.distributed import ShiftedExponentialDelay
    >>> delay = ShiftedExponentialDelay(shift=0.01, rate=50.0)
    >>> A = np.random.default_rng(0).standard_normal((1000, 20))
    >>> code = PolarCodedMatVec(3, 0.5, runtime_cdf=delay).fit(A)
    >>> cluster = LocalCluster(n_workers=2, threads_per_worker=1)  # doctest: +SKIP
    >>> client = Client(cluster)  # doctest: +SKIP
    >>> run = DaskCodedMatVec(code, client, delay=delay, random_state=0)  # doctest: +SKIP
    >>> y = run.matvec(np.ones(20))  # doctest: +SKIP
    >>> bool(np.allclose(y, A.sum(axis=1)))  # doctest: +SKIP
    True
    >>> client.close(); cluster.close()  # doctest: +SKIP
    """

    def __init__(self, code, client=None, *, delay=None, timeout=None, random_state=None):
        require_distributed(type(self).__name__)
        self.code = code
        self.client = client
        self.delay = delay
        self.timeout = timeout
        self.random_state = random_state
        self._rng = check_random_state(random_state)
        self._futures = None
        if timeout is not None and (not isinstance(timeout, Real) or timeout <= 0):
            raise ValueError(f"timeout must be a positive number or None, got {timeout!r}.")

    def scatter(self):
        """Send the coded blocks to the workers (once)."""
        if not hasattr(self.code, "coded_blocks_"):
            raise ValueError(f"{type(self.code).__name__} is not fitted: call fit(A) first.")
        client = get_client(self.client)
        self.client_ = client
        if self._futures is None:
            self._futures = client.scatter(self.code.worker_tasks(), hash=False)
        return self

    def matvec(self, x, delays=None):
        """``A @ x`` decoded from the first sufficient set of results.

        Parameters
        ----------
        x : ndarray of shape (d,) or (d, k)
        delays : array-like of shape (N,), default=None
            Injected delays of this run (overrides the ``delay`` model).
        """
        self.scatter()
        N = self.code.n_workers_
        d = _draw_delays(self.delay, N, self._rng) if delays is None else \
            _draw_delays(delays, N, None)
        y, self.last_run_ = run_coded(self.client_, self.code, self._futures, np.asarray(x),
                                      delays=d, timeout=self.timeout)
        return y

    def close(self):
        """Release the coded blocks held by the cluster."""
        if self._futures is not None:
            self.client_.cancel(self._futures)
            self._futures = None
