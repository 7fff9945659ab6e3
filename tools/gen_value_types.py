"""Generate datafusion_exprtool/layers/pickle/value_types.py: what ordinary values need called when they unpickle.

The safety verdict judges what a stream *does*: every call a stream makes while it is decoded must be one of
the shapes datafusion and cloudpickle write. Besides cloudpickle's own reconstructors, ordinary values a UDF
captures rebuild themselves by calling something (``decimal.Decimal('1.5')``, ``zoneinfo.ZoneInfo._unpickle``,
``copyreg._reconstructor(cls, object, None)`` + BUILD…). Rather than a hand-typed allowlist, this tool pickles
a catalogue of ordinary objects — stdlib value types, pyarrow and datafusion values, by-value classes of every
common metaclass — with the installed Python, cloudpickle, pyarrow and datafusion, walks each stream with
exprtool's static pickle machine (nothing is loaded), and records the call targets they use. A test keeps the
table in step with the installed versions.

    python tools/gen_value_types.py            # rewrites datafusion_exprtool/layers/pickle/value_types.py
    python tools/gen_value_types.py --check    # exit 1 if the committed table is stale
"""

# ruff: noqa: UP006, UP007, UP045  (the catalogue pickles typing.List & co. on purpose)
from __future__ import annotations

import importlib
import importlib.metadata
import pickle
import platform
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generated import write_or_check  # noqa: E402

from datafusion_exprtool.layers.pickle.values import Call, Global, NewObj  # noqa: E402
from datafusion_exprtool.layers.pickle.vm import run  # noqa: E402

TARGET = Path(__file__).resolve().parent.parent / "datafusion_exprtool" / "layers" / "pickle" / "value_types.py"
DISTRIBUTIONS = ("cloudpickle", "datafusion", "pyarrow")
CLOUDPICKLE = ("cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast")

#: classes defined in a module shipped by value, as user code in ``__main__`` or a notebook is
BY_VALUE_SOURCE = '''
import abc, collections, dataclasses, enum, typing
import pyarrow as pa
from datafusion import Accumulator
from datafusion.user_defined import WindowEvaluator

class Color(enum.Enum):
    RED = 1
class Level(enum.IntEnum):
    LOW = 1
class Perm(enum.Flag):
    R = 1
    W = 2
class Tag(str, enum.Enum):
    A = "a"
Point = collections.namedtuple("Point", "x y")
class Pair(typing.NamedTuple):
    a: int
    b: str = ""
class Row(typing.TypedDict):
    a: int
@dataclasses.dataclass
class Conf:
    scale: float = 1.0
    tags: list = dataclasses.field(default_factory=list)
@dataclasses.dataclass(frozen=True)
class Frozen:
    k: int = 0
class Base(abc.ABC):
    @abc.abstractmethod
    def f(self): ...
class Impl(Base):
    def f(self):
        return 1
class Proto(typing.Protocol):
    def g(self) -> int: ...
class Plain:
    def __init__(self):
        self.v = 1
    def __call__(self, x):
        return x
class Described:
    @property
    def p(self):
        return 1
    @p.setter
    def p(self, v): ...
    @staticmethod
    def s(): return 1
    @classmethod
    def c(cls): return cls
class Slots:
    __slots__ = ("a",)
    def __init__(self):
        self.a = 1
class Sum(Accumulator):
    def __init__(self):
        self.s = 0
    def update(self, v): ...
    def merge(self, s): ...
    def state(self): return [pa.scalar(self.s)]
    def evaluate(self): return pa.scalar(self.s)
class Ones(WindowEvaluator):
    def evaluate_all(self, values, num_rows): return pa.array([1] * num_rows)
class Ext(pa.ExtensionType):
    def __init__(self):
        super().__init__(pa.int64(), "exprtool.ext")
    def __arrow_ext_serialize__(self): return b""
    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type, serialized): return cls()
T = typing.TypeVar("T")
'''


def catalogue() -> list[Any]:
    """Ordinary values a UDF captures."""
    import array
    import collections
    import datetime
    import decimal
    import fractions
    import functools
    import http
    import ipaddress
    import logging
    import operator
    import pathlib
    import random
    import re
    import string
    import types
    import typing
    import uuid
    import zoneinfo

    import pyarrow as pa
    from datafusion import col, lit

    values: list[Any] = [
        decimal.Decimal("1.5"), decimal.Context(prec=5), fractions.Fraction(1, 3), complex(1, 2),
        datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.time(1, 2),
        datetime.timedelta(days=1), datetime.timezone(datetime.timedelta(hours=2)), datetime.timezone.utc,
        datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc), zoneinfo.ZoneInfo("UTC"),
        uuid.UUID(int=1), ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Network("10.0.0.0/8"),
        ipaddress.IPv6Address("::1"), ipaddress.IPv6Network("::/64"), ipaddress.IPv4Interface("10.0.0.1/8"),
        pathlib.PurePosixPath("/a/b"), pathlib.PureWindowsPath("c:/a"), random.Random(1),
        array.array("i", [1, 2]), array.array("d", [1.0]), re.compile(r"a+\d"), re.compile(b"x", re.I),
        collections.OrderedDict(a=1), collections.defaultdict(list, a=[1]), collections.deque([1, 2], maxlen=5),
        collections.Counter("abca"), collections.ChainMap({"a": 1}), types.SimpleNamespace(a=1),
        slice(1, 5, 2), range(1, 9, 2), bytearray(b"xy"), {1, 2}, frozenset({3}), b"bytes", "text", 1.5, 10**30,
        http.HTTPStatus.OK, operator.itemgetter(1), operator.itemgetter("a", "b"), operator.attrgetter("a.b"),
        functools.partial(max, 1, key=abs), logging.getLogger("exprtool.value"), string.Template("$a"),
        typing.List[int], typing.Optional[str], typing.Dict[str, typing.Any], typing.Callable[[int], str],
        typing.Union[int, str], typing.Tuple[int, ...], typing.Literal["a"], list[int], dict[str, int],
        int | None, typing.Any, type(None), NotImplemented, Ellipsis, max, len, str.upper, dict.get, {}.get,
        "".join, memoryview(b"ab").tobytes(),
        pa.int64(), pa.string(), pa.timestamp("ms", tz="UTC"), pa.decimal128(5, 2), pa.list_(pa.int64()),
        pa.struct([("a", pa.int32())]), pa.dictionary(pa.int8(), pa.string()), pa.map_(pa.string(), pa.int64()),
        pa.field("a", pa.int64(), metadata={"k": "v"}), pa.schema([("a", pa.int64())]), pa.scalar(1),
        pa.scalar("x"), pa.scalar([1, 2]), pa.array([1, 2]), pa.array(["a", None]), pa.py_buffer(b"xy"),
        pa.chunked_array([[1], [2]]), pa.table({"a": [1]}), pa.record_batch({"a": [1]}),
        col("a"), col("a") + lit(1),
    ]  # fmt: skip
    for optional in ("numpy", "pandas"):
        try:
            mod = importlib.import_module(optional)
        except ImportError:
            continue
        if optional == "numpy":
            values += [mod.array([1, 2]), mod.float64(1.5), mod.dtype("int32"), mod.int64(3), mod.arange(3.0)]
        else:
            values += [mod.DataFrame({"a": [1]}), mod.Series([1.0]), mod.Timestamp("2024-01-01"),
                       mod.Timedelta("1D"), mod.Categorical(["a"]), mod.Index([1])]  # fmt: skip
    return values


def by_value_values() -> list[Any]:
    """Instances and classes of a module cloudpickle ships by value (as user code in ``__main__``)."""
    import cloudpickle

    folder = Path(tempfile.mkdtemp(prefix="exprtool-values-"))
    (folder / "exprtool_user_values.py").write_text(textwrap.dedent(BY_VALUE_SOURCE))
    sys.path.insert(0, str(folder))
    mod = importlib.import_module("exprtool_user_values")
    cloudpickle.register_pickle_by_value(mod)
    return [
        mod.Color.RED, mod.Level.LOW, mod.Perm.R | mod.Perm.W, mod.Tag.A, mod.Point(1, 2), mod.Pair(1),
        mod.Row(a=1), mod.Conf(), mod.Frozen(), mod.Impl(), mod.Proto, mod.Plain(), mod.Slots(), mod.Sum(),
        mod.Described(), mod.Described,
        mod.Ones(), mod.Ext(), mod.T, typing_generic(mod),
    ]  # fmt: skip


def typing_generic(mod: Any) -> Any:

    return list[mod.T]


def _dotted(g: Global) -> str:
    module = "builtins" if g.module == "__builtin__" else g.module
    return f"{module}.{g.name}"


def collect() -> tuple[dict[str, str], set[str], set[str], set[str]]:
    """(versions, call targets, classes created without a call, metaclasses of by-value classes)."""
    import cloudpickle

    versions = {d: importlib.metadata.version(d) for d in DISTRIBUTIONS}
    versions["python"] = ".".join(platform.python_version_tuple()[:2])
    calls: set[str] = set()
    classes: set[str] = set()
    metaclasses: set[str] = set()
    streams = [cloudpickle.dumps(v, protocol=5) for v in by_value_values()]
    for value in catalogue():
        streams.append(cloudpickle.dumps(value, protocol=5))
        for protocol in (2, 4, 5):
            try:
                streams.append(pickle.dumps(value, protocol=protocol))
            except (pickle.PicklingError, TypeError, AttributeError):
                pass  # only cloudpickle can ship it (a local class, a lambda)
    for data in streams:
        result = run(data)
        for node in result.calls:
            target = node.func if isinstance(node, Call) else node.cls
            if not isinstance(target, Global):
                owner = _getattr_owner(target)
                if owner is not None:
                    calls.add(owner)
                continue
            name = _dotted(target)
            if target.module in CLOUDPICKLE:
                if target.name == "_make_skeleton_class" and isinstance(node.args, tuple) and node.args:
                    meta = node.args[0]
                    if isinstance(meta, Global):
                        metaclasses.add(_dotted(meta))
                continue
            if name == "copyreg._reconstructor" and isinstance(node.args, tuple) and len(node.args) == 3:
                for part in node.args[:2]:
                    if isinstance(part, Global):
                        classes.add(_dotted(part))
                continue
            if name in ("builtins.getattr", "copyreg.__newobj__", "copyreg.__newobj_ex__"):
                if name != "builtins.getattr" and isinstance(node.args, tuple) and node.args:
                    if isinstance(node.args[0], Global):
                        classes.add(_dotted(node.args[0]))
                continue
            (classes if isinstance(node, NewObj) else calls).add(name)
    return versions, calls, classes, metaclasses


def _getattr_owner(target: Any) -> str | None:
    """``getattr(Global, 'name')`` called: the dotted name it reaches."""
    if (
        isinstance(target, Call)
        and isinstance(target.func, Global)
        and _dotted(target.func) == "builtins.getattr"
        and isinstance(target.args, tuple)
        and len(target.args) == 2
        and isinstance(target.args[0], Global)
        and isinstance(target.args[1], str)
    ):
        return f"{_dotted(target.args[0])}.{target.args[1]}"
    return None


def render(versions: dict[str, str], calls: set[str], classes: set[str], metaclasses: set[str]) -> str:
    def block(name: str, doc: str, items: set[str]) -> str:
        body = textwrap.fill(" ".join(sorted(items)), 104, initial_indent="    ", subsequent_indent="    ")
        return f'#: {doc}\n{name}: frozenset[str] = frozenset(\n    """\n{body}\n    """.split()\n)\n'

    head = (
        '"""What ordinary values call while they unpickle, with the installed Python '
        f"{versions['python']}, cloudpickle {versions['cloudpickle']},\ndatafusion {versions['datafusion']} "
        f"and pyarrow {versions['pyarrow']}.\n\nGenerated by tools/gen_value_types.py; do not edit. "
        "Read by layers/pickle/safety.py: a call outside these\n(and outside cloudpickle's and datafusion's "
        'own shapes) makes a stream suspicious.\n"""\n\nfrom __future__ import annotations\n\n'
    )
    return (
        head
        + f"VERSIONS: dict[str, str] = {dict(sorted(versions.items()))!r}\n\n"
        + block("VALUE_CALLS", "callables ordinary values call to rebuild (REDUCE targets)", calls)
        + "\n"
        + block("VALUE_CLASSES", "classes ordinary values are created from without a call (NEWOBJ, copyreg)", classes)
        + "\n"
        + block("METACLASSES", "metaclasses of by-value classes (``_make_skeleton_class``'s first argument)", metaclasses)
    )


def main(argv: list[str]) -> int:
    return write_or_check(TARGET, render(*collect()), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
