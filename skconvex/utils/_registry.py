"""The registry of public estimators (what ``skconvex compare``, the docs and the common tests
iterate over)."""

import importlib
import inspect
import pkgutil

from sklearn.base import ClassifierMixin, RegressorMixin, TransformerMixin

_SKIP = {"tests", "cli", "utils", "solvers", "problems", "sketching", "datasets"}


def all_estimators(type_filter=None):
    """Every public skconvex estimator, as sorted ``(name, class)`` pairs.

    Public means exported in the ``__all__`` of a public subpackage (``skconvex.linear_model``,
    ``skconvex.neural_network``, ...): what users import is what the registry, the docs, the
    common checks and ``skconvex compare`` cover.

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

    kinds = {"classifier": ClassifierMixin, "regressor": RegressorMixin,
             "transformer": TransformerMixin}
    if type_filter is not None and type_filter not in kinds:
        raise ValueError(f"type_filter must be one of {sorted(kinds)} or None, "
                         f"got {type_filter!r}")
    found = {}
    for info in pkgutil.iter_modules(skconvex.__path__, prefix="skconvex."):
        short = info.name.split(".")[1]
        if not info.ispkg or short.startswith("_") or short in _SKIP:
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (inspect.isclass(obj) and issubclass(obj, ConvexEstimator)
                    and not inspect.isabstract(obj)):
                found[name] = obj
    if type_filter is not None:
        found = {k: v for k, v in found.items() if issubclass(v, kinds[type_filter])}
    return sorted(found.items())
