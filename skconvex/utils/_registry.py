"""The registry of public estimators (what ``skconvex compare``, the docs and the common tests
iterate over)."""

import importlib
import inspect
import pkgutil

from sklearn.base import ClassifierMixin, RegressorMixin, TransformerMixin

_SKIP = {"tests", "cli", "utils", "solvers", "problems", "sketching", "datasets"}


def all_estimators(type_filter=None):
    """Every public skconvex estimator, as sorted ``(name, class)`` pairs.

    Parameters
    ----------
    type_filter : {"classifier", "regressor", "transformer"} or None
        Keep only estimators of that kind.

    Returns
    -------
    list of (str, type)
    """
    import skconvex
    from skconvex.base import ConvexEstimator

    found = {}
    for info in pkgutil.walk_packages(skconvex.__path__, prefix="skconvex."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:-1]) or parts[1] in _SKIP:
            continue
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, ConvexEstimator) and not name.startswith("_")
                    and obj.__module__.startswith("skconvex.")
                    and not inspect.isabstract(obj)):
                found[name] = obj
    kinds = {"classifier": ClassifierMixin, "regressor": RegressorMixin,
             "transformer": TransformerMixin}
    if type_filter is not None:
        if type_filter not in kinds:
            raise ValueError(f"type_filter must be one of {sorted(kinds)} or None, "
                             f"got {type_filter!r}")
        found = {k: v for k, v in found.items() if issubclass(v, kinds[type_filter])}
    return sorted(found.items())
