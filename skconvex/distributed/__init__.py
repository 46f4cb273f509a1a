"""Straggler-resilient coded computation and scale-out on Dask.

Coded matrix-vector products (polar codes by computational polarization, MDS codes and the
uncoded baseline, one interface) and their execution on a ``dask.distributed`` cluster. Dask
is an optional dependency (``pip install "skconvex[dask]"``): everything here except
:class:`DaskCodedMatVec` works without it.
"""

from skconvex.distributed._coded import (
    MDSCodedMatVec,
    PolarCodedMatVec,
    UncodedMatVec,
    UndecodableError,
    polarize_cdf,
)
from skconvex.distributed._dask import DaskCodedMatVec
from skconvex.distributed._fit import dask_config
from skconvex.distributed._delays import ExponentialDelay, ParetoDelay, ShiftedExponentialDelay

__all__ = [
    "DaskCodedMatVec",
    "ExponentialDelay",
    "MDSCodedMatVec",
    "ParetoDelay",
    "PolarCodedMatVec",
    "ShiftedExponentialDelay",
    "UncodedMatVec",
    "UndecodableError",
    "dask_config",
    "polarize_cdf",
]
