"""Generate datafusion_exprtool/layers/cloudpickle/names.py from the installed cloudpickle, datafusion and pyarrow.

`check` predicts what a receiver's unpickler raises on a UDF stream whose globals name something the
receiver's cloudpickle / datafusion / pyarrow lacks ("Can't get attribute ..."), and on a cloudpickle
reconstructor called with the wrong number of arguments. Inspection must not import those packages or
getattr on them with names taken from a blob, so their names and the reconstructors' signatures are
read here, once, as data; a test keeps the table in step with the installed versions.

    python tools/gen_receiver_names.py            # rewrites datafusion_exprtool/layers/cloudpickle/names.py
    python tools/gen_receiver_names.py --check    # exit 1 if the committed table is stale
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

TARGET = Path(__file__).resolve().parent.parent / "datafusion_exprtool" / "layers" / "cloudpickle" / "names.py"
#: the modules cloudpickle UDF streams name (the tool's own dependencies; never a module a blob picks)
MODULES = (
    "cloudpickle",
    "cloudpickle.cloudpickle",
    "cloudpickle.cloudpickle_fast",
    "datafusion",
    "datafusion.user_defined",
    "pyarrow",
    "pyarrow.lib",
)
DISTRIBUTIONS = ("cloudpickle", "datafusion", "pyarrow")
_VARARGS, _VARKEYWORDS = 0x04, 0x08


MODULE_TREE = """
import importlib, json, os, pkgutil, sys
modules, packages = [], []
def walk(name, path):
    packages.append(name)
    for info in pkgutil.iter_modules(path):  # the files on disk: nothing below the top package is imported
        full = name + "." + info.name
        modules.append(full)
        if info.ispkg:
            walk(full, [os.path.join(p, info.name) for p in path])
for dist in %r:
    top = importlib.import_module(dist)
    modules.append(dist)
    walk(dist, list(top.__path__))
    # a package may register modules that have no file of their own (an extension's submodules)
    modules.extend(m for m in list(sys.modules) if m.startswith(dist + "."))
print(json.dumps({"modules": sorted(set(modules)), "packages": sorted(set(packages))}))
"""


def module_tree() -> tuple[dict[str, frozenset[str]], frozenset[str]]:
    """({distribution: every module a fresh interpreter can import from it}, the packages among them): a
    global whose module is not there fails with "No module named …" before any name is looked up."""
    code = MODULE_TREE % (DISTRIBUTIONS,)
    found = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    tree = {d: frozenset(m for m in found["modules"] if m == d or m.startswith(d + ".")) for d in DISTRIBUTIONS}
    return tree, frozenset(found["packages"])


def collect() -> tuple[dict[str, str], dict[str, frozenset[str]], dict[str, tuple[str, tuple[str, ...]]]]:
    """(versions, {module: top-level names}, {reconstructor: (qualname, positional parameter names)}).

    A module with a module-level ``__getattr__`` (cloudpickle_fast forwards to cloudpickle) answers names
    its namespace lacks, so it is left out: no verdict on its names.
    """
    versions = {d: importlib.metadata.version(d) for d in DISTRIBUTIONS}
    names = {m: frozenset(found) for m, found in json.loads(_fresh_namespaces()).items()}
    for module, found in names.items():
        odd = sorted(n for n in found if not n.isidentifier())
        if odd:  # the generated literal splits on whitespace
            raise SystemExit(f"{module}: names that are not identifiers: {odd}")
    cp = importlib.import_module("cloudpickle.cloudpickle")
    signatures: dict[str, tuple[str, tuple[str, ...]]] = {}
    for name, fn in sorted(vars(cp).items()):
        code = getattr(fn, "__code__", None)
        if not isinstance(fn, types.FunctionType) or not name.startswith("_make_") and name != "_function_setstate":
            continue
        if code is None or fn.__defaults__ or fn.__kwdefaults__ or code.co_kwonlyargcount:
            continue
        if code.co_flags & (_VARARGS | _VARKEYWORDS) or code.co_posonlyargcount:
            continue
        signatures[name] = (fn.__qualname__, tuple(code.co_varnames[: code.co_argcount]))
    return versions, names, signatures


NAMESPACES = """
import importlib, json, pkgutil
out = {}
for module in %r:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        continue
    if "__getattr__" in vars(mod):
        continue
    names = set(vars(mod))
    # a package gains an attribute per submodule a process imports: every submodule may be there
    names.update(m.name for m in pkgutil.iter_modules(getattr(mod, "__path__", None) or []))
    out[module] = sorted(names)
print(json.dumps(out))
"""


def _fresh_namespaces() -> str:
    """The namespaces as a fresh interpreter has them after importing MODULES (what other imports add to a
    package varies by process: every submodule is counted instead)."""
    code = NAMESPACES % (MODULES,)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def _names_literal(names: frozenset[str]) -> str:
    body = textwrap.fill(" ".join(sorted(names)), width=100, break_long_words=False, break_on_hyphens=False)
    return 'frozenset(\n        """\n' + textwrap.indent(body, "        ") + '\n        """.split()\n    )'


def render(
    versions: dict[str, str],
    names: dict[str, frozenset[str]],
    signatures: dict[str, tuple[str, tuple[str, ...]]],
    tree: tuple[dict[str, frozenset[str]], frozenset[str]],
) -> str:
    """Source text of layers/cloudpickle/names.py."""
    stamp = ", ".join(f"{d} {v}" for d, v in versions.items())
    parts = [
        f'"""Names the receiver\'s {stamp} define.',
        "",
        "Generated by tools/gen_receiver_names.py; do not edit.",
        "",
        "Top-level names of the modules cloudpickle UDF streams name, and the positional parameters of",
        "cloudpickle's reconstructors: check reads them instead of importing the packages or calling getattr",
        "with names taken from a blob.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        f"VERSIONS: dict[str, str] = {versions!r}",
        "",
        "MODULE_NAMES: dict[str, frozenset[str]] = {",
    ]
    for module, found in names.items():
        parts.append(f"    {module!r}: {_names_literal(found)},")
    parts += ["}", "", "#: reconstructor -> (qualname, positional parameter names): plain signatures only"]
    parts.append("SIGNATURES: dict[str, tuple[str, tuple[str, ...]]] = {")
    for name, (qualname, params) in signatures.items():
        parts.append(f"    {name!r}: ({qualname!r}, {params!r}),")
    parts += ["}", "", "#: distribution -> every module a fresh interpreter can import from it"]
    parts.append("MODULES: dict[str, frozenset[str]] = {")
    modules, packages = tree
    for dist, found in modules.items():
        parts.append(f"    {dist!r}: {_names_literal(found)},")
    parts += ["}", "", "#: the packages among them (a module below a plain module is 'not a package')"]
    parts += [f"PACKAGES: frozenset[str] = {_names_literal(packages).replace(chr(10) + '    ', chr(10))}", ""]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    from generated import write_or_check  # tools/generated.py, beside this script

    return write_or_check(TARGET, render(*collect(), module_tree()), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
