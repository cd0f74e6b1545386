"""Every public class and exported function documents itself with an
example that runs (issue 11).

The objects checked are found, not listed, so that a new class cannot be
added without an example:

- every public class (name not starting with `_`) defined in any module
  of `keras_music` (`cls.__module__ == module.__name__`);
- every public function that a package `__init__` exports (`__all__`, or
  the public names the `__init__` imports).

For each one the docstring must have an `Example:` section written as a
doctest (`>>>`), and an `Args:` section when the constructor / function
takes arguments. The example then runs under `doctest.DocTestRunner`,
one pytest case per object, so that a failure names the object and the
examples cannot rot.

The examples run with the names of the public API in scope (everything a
package `__init__` exports, e.g. `MAESTBackbone`, `load_audio`), the
globals of the module that defines the object (so a class that no
`__init__` exports is in scope in its own example), and the names every
Keras user has: `np`, `keras` and `tf`. Anything else an example needs,
it imports. Examples run from a temporary working
directory, so that a stray relative path cannot write into the checkout.
"""

import doctest
import importlib
import inspect
import pkgutil
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_music

_SECTION = re.compile(r"^\s*Example:\s*$", re.M)
_ARGS = re.compile(r"^\s*Args:\s*$", re.M)
_FENCE = re.compile(r"^\s*```", re.M)


def _modules():
    yield keras_music
    for info in pkgutil.walk_packages(
        keras_music.__path__, keras_music.__name__ + "."
    ):
        yield importlib.import_module(info.name)


def _exported_names(package):
    names = getattr(package, "__all__", None)
    if names is None:
        names = [n for n in vars(package) if not n.startswith("_")]
    return names


def _public_objects():
    """Qualified name -> (object, defining module), sorted by name."""
    found = {}
    for module in _modules():
        for name, obj in vars(module).items():
            if name.startswith("_"):
                continue
            if inspect.isclass(obj) and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
        if not hasattr(module, "__path__"):
            continue
        for name in _exported_names(module):
            obj = getattr(module, name, None)
            if inspect.isfunction(obj) and obj.__module__.startswith(
                keras_music.__name__
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return dict(sorted(found.items()))


PUBLIC_OBJECTS = _public_objects()


def _takes_arguments(obj):
    if inspect.isclass(obj):
        # An inherited constructor (e.g. a Keras base class) documents
        # its own arguments.
        if "__init__" not in vars(obj):
            return False
        function = obj.__init__
    else:
        function = obj
    parameters = list(inspect.signature(function).parameters.values())
    if inspect.isclass(obj):
        parameters = parameters[1:]  # self
    return any(
        p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters
    )


def _example_section(docstring):
    """The text after `Example:` up to the next section header."""
    match = _SECTION.search(docstring)
    rest = docstring[match.end() :]
    end = re.search(r"^\s*[A-Z][A-Za-z ]*:\s*$", rest, re.M)
    return rest[: end.start()] if end else rest


def _api_names():
    """Every name a package `__init__` exports: the public API."""
    names = {}
    for module in _modules():
        if hasattr(module, "__path__"):
            for name in _exported_names(module):
                names[name] = getattr(module, name)
    return names


API_NAMES = _api_names()


def _globals(obj):
    module = importlib.import_module(obj.__module__)
    return {
        **API_NAMES,
        **vars(module),
        "np": np,
        "keras": keras,
        "tf": tf,
    }


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
    # free_memory=False: the garbage collection it would run costs
    # ~0.6 s per case, most of this test's time.
    keras.backend.clear_session(free_memory=False)


def test_discovery_finds_the_public_api():
    # Guards the discovery itself: if the walk broke, every check below
    # would pass vacuously.
    names = set(PUBLIC_OBJECTS)
    for expected in (
        "keras_music.layers.cqt.CQT",
        "keras_music.data.track.Track",
        "keras_music.models.tagger.Tagger",
        "keras_music.data.audio.load_audio",
        "keras_music.evaluation.metrics.roc_auc",
    ):
        assert expected in names
    # Private helpers and re-exported third-party names are not included.
    assert not [n for n in names if n.rsplit(".", 1)[1].startswith("_")]
    assert all(n.startswith("keras_music.") for n in names)
    assert len(names) > 100


@pytest.mark.parametrize("name", list(PUBLIC_OBJECTS))
def test_docstring_sections(name):
    obj = PUBLIC_OBJECTS[name]
    docstring = inspect.getdoc(obj) or ""
    assert docstring, f"{name} has no docstring."
    assert _SECTION.search(docstring), f"{name} has no `Example:` section."
    if _takes_arguments(obj):
        assert _ARGS.search(docstring), f"{name} has no `Args:` section."
    section = _example_section(docstring)
    assert ">>>" in section, f"{name}'s example is not a doctest (`>>>`)."
    assert not _FENCE.search(section), (
        f"{name}'s example mixes a fenced block with the doctest."
    )


@pytest.mark.parametrize("name", list(PUBLIC_OBJECTS))
def test_docstring_example_runs(name):
    obj = PUBLIC_OBJECTS[name]
    # recurse=False: the object's own docstring, not its methods'.
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(obj, name, globs=_globals(obj))
    examples = sum(len(t.examples) for t in tests)
    assert examples, f"{name} has no doctest example to run."
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
