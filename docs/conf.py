"""Sphinx configuration of the skconvex documentation.

Build with ``make -C docs html`` from the repository root (output in ``docs/_build/html``).
The API page is generated at build time from the estimator registry
(:func:`skconvex.utils.all_estimators`) and the ``__all__`` of the public modules, so a new
estimator appears in the documentation without editing any ``.rst`` file. The gallery
(``examples/plot_*.py``) is executed by sphinx-gallery on every build.
"""

import inspect
import re
import sys
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent
REPO_ROOT = DOCS_DIR.parent
# Document the working tree, installed or not.
sys.path.insert(0, str(REPO_ROOT))

import skconvex  # noqa: E402
from skconvex.utils import all_estimators  # noqa: E402

# -- Project information ---------------------------------------------------------------------

project = "skconvex"
author = "The skconvex developers"
copyright = "The skconvex developers (BSD-3-Clause)"
release = skconvex.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration -------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = []
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # included by api.rst, not a page of its own
    "generated/*.rst",
]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"

# The build machines have no network: no intersphinx (it fetches inventories at build time).
intersphinx_mapping = {}

# -- autodoc / autosummary / numpydoc --------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
# Cross-reference the types of parameters only where a target exists (no network, so no
# intersphinx targets for numpy/sklearn types): leave them as text.
numpydoc_xref_param_type = False

# -- sphinx-gallery --------------------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "plot_gallery": "True",  # always execute the examples: that is their test
    "only_warn_on_example_error": False,  # a failing example fails the build
    "image_scrapers": ("matplotlib",),
    "doc_module": ("skconvex",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skconvex": None},
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
}

# -- HTML output -----------------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skconvex {release}"
html_static_path = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}
html_sidebars = {"install": [], "index": []}

# -- API page, generated from the registry ---------------------------------------------------

# Public non-estimator modules documented after the estimators: their ``__all__`` is the list.
_FUNCTION_MODULES = [
    ("skconvex.sketching", "Sketching",
     "Randomized embeddings ``S @ A`` applied without forming ``S``, leverage scores and "
     "the effective dimension that sets how large a sketch must be."),
    ("skconvex.datasets", "Datasets",
     "Synthetic problems with a controlled spectrum (the benchmark problems of the "
     "sketching papers)."),
    ("skconvex.inspection", "Inspection",
     "Certificates of global optimality for trained two-layer ReLU networks "
     "(scikit-learn MLPs and skconvex's networks) and max-margin KKT points."),
    ("skconvex.distributed", "Distributed computation",
     "Straggler-resilient coded matrix-vector products (computational polarization, MDS, "
     "uncoded) on Dask, delay models, and out-of-core fits of ``SketchedRidge`` / "
     "``NewtonLESSLogistic`` on row-chunked dask arrays (see :doc:`scaling_dask`)."),
    ("skconvex.utils", "Utilities", "The estimator registry."),
]


def _public_module(obj):
    """``skconvex.linear_model._ridge`` -> ``skconvex.linear_model`` (drop private parts)."""
    parts = obj.__module__.split(".")
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    return ".".join(public)


def _heading(text, char):
    return f"{text}\n{char * len(text)}\n"


def _summary_line(obj):
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def write_api_rst(path=DOCS_DIR / "generated" / "api_estimators.rst"):
    """Write the API reference body (included by ``api.rst``) from the registry."""
    import importlib

    estimators = all_estimators()
    by_module = {}
    for name, cls in estimators:
        by_module.setdefault(_public_module(cls), []).append((name, cls))

    out = [".. This file is generated by docs/conf.py at build time. Do not edit.\n"]

    out.append(_heading("Estimators", "-"))
    out.append(f"{len(estimators)} public estimator(s), from "
               ":func:`skconvex.utils.all_estimators`. Each is a scikit-learn estimator "
               "(``fit``/``predict``/``score``, ``get_params``/``set_params``, usable in "
               "``Pipeline`` and ``GridSearchCV``).\n")
    out.append(".. autosummary::\n   :nosignatures:\n")
    for module in sorted(by_module):
        for name, _ in by_module[module]:
            out.append(f"   {module}.{name}")
    out.append("")

    for module in sorted(by_module):
        out.append(_heading(f":mod:`{module}`", "~"))
        out.append(f".. module:: {module}\n")
        for name, _ in by_module[module]:
            out.append(f".. autoclass:: {name}\n   :members:\n   :inherited-members:\n"
                       f"   :show-inheritance:\n")
            out.append(f".. minigallery:: {module}.{name} skconvex.{name}\n"
                       f"   :add-heading: Examples using ``{name}``\n   :heading-level: ^\n")
        # the module's other public names (certificates, ProCoGAN, ...)
        registered = {name for name, _ in by_module[module]}
        for n in getattr(importlib.import_module(module), "__all__", []):
            obj = getattr(importlib.import_module(module), n)
            if n in registered:
                continue
            if inspect.isclass(obj):
                out.append(f".. autoclass:: {n}\n   :members:\n")
            elif inspect.isfunction(obj):
                out.append(f".. autofunction:: {n}\n")
        out.append("")

    for modname, title, blurb in _FUNCTION_MODULES:
        module = importlib.import_module(modname)
        names = list(getattr(module, "__all__", []))
        out.append(_heading(f"{title}: :mod:`{modname}`", "-"))
        out.append(f".. module:: {modname}\n")
        out.append(f"{blurb}\n")
        documentable = [n for n in names if inspect.isclass(getattr(module, n))
                        or inspect.isfunction(getattr(module, n))]
        if documentable:
            out.append(".. autosummary::\n   :nosignatures:\n")
            out.extend(f"   {n}" for n in documentable)
            out.append("")
        for n in names:
            obj = getattr(module, n)
            if inspect.isclass(obj):
                out.append(f".. autoclass:: {n}\n   :members:\n")
            elif inspect.isfunction(obj):
                out.append(f".. autofunction:: {n}\n")
            else:
                out.append(f".. data:: {n}\n   :value: {obj!r}\n")
        out.append("")

    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(out)
    # Rewrite only on change, so that an unchanged API does not trigger a full re-read.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


write_api_rst()


_SKLEARN_ROLE = re.compile(r":(?:ref|term|doc):`([^`<]*?)\s*(?:<[^>]*>)?`")


def _strip_sklearn_roles(app, what, name, obj, options, lines):
    """Methods inherited from scikit-learn (``score``, ``get_params``, metadata routing)
    refer to labels of scikit-learn's own documentation, which cannot be resolved without
    intersphinx (no network at build time): keep their text, drop the reference."""
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] != "sklearn":
        return
    lines[:] = [_SKLEARN_ROLE.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _strip_sklearn_roles)
    # api.rst includes the generated file: re-read api.rst whenever it may have changed.
    app.connect("env-get-outdated", lambda app, env, added, changed, removed: ["api"])
