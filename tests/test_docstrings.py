"""The Examples sections of the public docstrings run and print what they claim."""

import doctest
import importlib
import pkgutil

import pytest

import skconvex


def _modules():
    names = []
    for info in pkgutil.walk_packages(skconvex.__path__, prefix="skconvex."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module, name, globs={}) if t.examples]
    for test in tests:
        if test.filename is None or not test.name.startswith(name):
            continue  # objects imported from elsewhere are tested in their own module
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
