"""The public surface: every module's ``__all__`` names what it defines, and each is documented.

Modules are discovered with :mod:`pkgutil`; a module (or package) whose name has a part that
starts with an underscore is private and not checked. For each public module:

- it imports, and every name in its ``__all__`` exists;
- every class and function in ``__all__`` has its own docstring (a class's docstring is not
  inherited; the text a dataclass makes up from its fields does not count);
- every class and function the module defines at top level with a public name is in
  ``__all__``; a module that defines none needs no ``__all__`` (an empty package). Route
  handlers registered on a module's ``APIRouter`` are reached through the router (which is
  exported), not by name, and are not required in ``__all__``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest
from fastapi import APIRouter

import pipeline


def public_module_names() -> list[str]:
    """``pipeline`` and every module below it without a private part in its name."""
    names = [info.name for info in pkgutil.walk_packages(pipeline.__path__, "pipeline.")]
    return ["pipeline"] + sorted(
        n for n in names if not any(part.startswith("_") for part in n.split(".")))


MODULES = public_module_names()


def defined_here(module: ModuleType) -> list[str]:
    """Public top-level classes and functions whose home is ``module`` (not imported ones)."""
    return sorted(
        name for name, obj in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__)


def route_handlers(module: ModuleType) -> list[str]:
    """Names of the module's functions that are endpoints of an ``APIRouter`` it defines."""
    endpoints = {id(route.endpoint) for router in vars(module).values()
                 if isinstance(router, APIRouter) for route in router.routes
                 if hasattr(route, "endpoint")}
    return [name for name, obj in vars(module).items() if id(obj) in endpoints]


def own_docstring(obj: object) -> str:
    """The docstring written for ``obj``: a class's own, not a base class's or a dataclass's
    generated signature."""
    doc = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__
    doc = (doc or "").strip()
    if dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""
    return doc


def test_route_handlers_are_found():
    from pipeline.api.routes import health

    assert route_handlers(health) == ["health"]


def test_modules_are_discovered():
    assert {"pipeline", "pipeline.io.readers", "pipeline.io.writers", "pipeline.api.app",
            "pipeline.runner.coordinator", "pipeline.cli"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_documented(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert not defined_here(module), f"{name} defines public names but has no __all__"
        return
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"
    undocumented = [
        n for n in exported
        if (inspect.isclass(obj := getattr(module, n)) or inspect.isfunction(obj))
        and not own_docstring(obj)]
    assert not undocumented, f"{name}: no docstring on {undocumented}"


@pytest.mark.parametrize("name", MODULES)
def test_public_definitions_are_in_all(name):
    module = importlib.import_module(name)
    exported = set(getattr(module, "__all__", ())) | set(route_handlers(module))
    unlisted = [n for n in defined_here(module)
                if n not in exported]
    assert not unlisted, (f"{name} defines public {unlisted} outside __all__: add them to "
                          "__all__ or give them a leading underscore")
