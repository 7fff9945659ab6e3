"""layers/cloudpickle/names: the committed receiver-name table (what check consults instead of importing
cloudpickle, datafusion and pyarrow) stays in step with the installed packages, and the lookups it serves
import nothing."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys

import pytest
from support.repo import load_tool

from datafusion_exprtool.layers.cloudpickle import names as receiver_names
from datafusion_exprtool.layers.cloudpickle.receiver import (
    arity_error,
    attribute_error,
    installed_version,
    module_error,
)
from datafusion_exprtool.layers.pickle.values import Global


def _tool():
    return load_tool("gen_receiver_names")


def _installed_differs() -> list[str]:
    return [d for d, v in receiver_names.VERSIONS.items() if importlib.metadata.version(d) != v]


def test_committed_table_is_the_generator_output_for_the_installed_packages() -> None:
    for dist in receiver_names.VERSIONS:
        assert installed_version(dist) == importlib.metadata.version(dist)  # the cheap reading is right
    if _installed_differs():  # another release installed: the table is not used (next test), only stale
        assert attribute_error("cloudpickle.cloudpickle", "_lake_empty_cell", 4) is None
        pytest.skip(f"installed {_installed_differs()} differ from the table: run tools/gen_receiver_names.py")
    tool = _tool()
    assert tool.render(*tool.collect(), tool.module_tree()) == tool.TARGET.read_text()


def test_lookups_agree_with_the_real_modules() -> None:
    import cloudpickle.cloudpickle as cp

    if _installed_differs():
        pytest.skip("the table describes other releases than the installed ones")

    assert attribute_error("cloudpickle.cloudpickle", "_make_function", 4) is None
    assert attribute_error("datafusion.user_defined", "ScalarUDF", 4) is None
    assert not hasattr(cp, "_lake_empty_cell")
    said = attribute_error("cloudpickle.cloudpickle", "_lake_empty_cell", 4)
    assert said == "Can't get attribute '_lake_empty_cell' on <module 'cloudpickle.cloudpickle'"
    assert attribute_error("some.module.a.blob.names", "anything", 4) is None  # not tabled: no verdict
    with pytest.raises(TypeError) as exc:
        cp._make_function(1, 2, 3, 4, 5, 6)
    assert str(exc.value) == arity_error(Global("cloudpickle.cloudpickle", "_make_function", 0), 6)


def test_missing_modules_agree_with_the_import_system() -> None:
    """A global's module the receiver's package lacks: the text a fresh interpreter's import gives, or None
    where it imports (every tabled module does)."""
    if _installed_differs():
        pytest.skip("the table describes other releases than the installed ones")
    names = ["datafusion.uwer_defined", "datafusion.user_defined.x", "pyarrow.lib.x", "pyarrow.nope.deeper",
             "datafusion._internal.expr", "datafusion.functions", "pyarrow.parquet.core", "cloudpickle.nothing"]  # fmt: skip
    code = (
        "import importlib, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        out[name] = None\n"
        "    except ModuleNotFoundError as exc:\n"
        "        out[name] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    real = json.loads(subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True,
                                     check=True).stdout)  # fmt: skip
    assert {n: module_error(n) for n in names} == real
    assert sum(text is not None for text in real.values()) >= 5
    assert module_error("some_other_package.uwer_defined") is None  # not tabled: no verdict


def test_lookups_import_nothing() -> None:
    code = (
        "import sys\n"
        "from datafusion_exprtool.layers.cloudpickle.receiver import attribute_error\n"
        "attribute_error('cloudpickle.cloudpickle', '_lake_empty_cell', 4)\n"
        "attribute_error('pyarrow.lib', 'nothing_here', 4)\n"
        "print(sorted({'cloudpickle', 'datafusion', 'pyarrow', 'importlib.metadata'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
