"""The committed value-reconstructor table (what the safety grammar accepts ordinary captured values to call)
stays in step with the installed Python, cloudpickle, datafusion and pyarrow, and is only ever grown by what
real values pickle to: never by a name that runs code."""

from __future__ import annotations

import importlib.metadata
import platform

import pytest
from support.repo import load_tool

from datafusion_exprtool.layers.pickle import value_types
from datafusion_exprtool.layers.pickle.families import denied


def _differs() -> list[str]:
    installed = {d: importlib.metadata.version(d) for d in ("cloudpickle", "datafusion", "pyarrow")}
    installed["python"] = ".".join(platform.python_version_tuple()[:2])
    return [d for d, v in value_types.VERSIONS.items() if installed.get(d) != v]


def test_committed_table_is_the_generator_output_for_the_installed_packages() -> None:
    if _differs():
        pytest.skip(f"installed {_differs()} differ from the table: run tools/gen_value_types.py")
    tool = load_tool("gen_value_types")
    assert tool.render(*tool.collect()) == tool.TARGET.read_text()


def test_no_value_reconstructor_is_in_a_dangerous_family() -> None:
    every = value_types.VALUE_CALLS | value_types.VALUE_CLASSES | value_types.METACLASSES
    assert every and not [name for name in every if denied(name)]
