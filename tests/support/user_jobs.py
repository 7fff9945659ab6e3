"""Source text of the user code the legit corpus is built from (and of the by-value helpers hostile cases use).

``safety_corpus`` writes each source into a throwaway directory, imports it under a unique module name and
registers it with ``cloudpickle.register_pickle_by_value``: cloudpickle then ships everything defined there by
value, exactly as it does for a script's ``__main__``. The receiver never has these modules.
"""

from __future__ import annotations

#: ordinary user code: every function returns a datafusion Expr calling a Python UDF
USER_JOBS = r'''
import abc
import array
import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import ipaddress
import json
import logging
import math
import operator
import pathlib
import random
import re
import string
import types
import typing
import uuid
import zoneinfo
from codecs import decode
from http import HTTPStatus

import pyarrow as pa
import pyarrow.compute as pc
from datafusion import Accumulator, col, udaf, udf, udwf
from datafusion.user_defined import WindowEvaluator

I64 = pa.int64()


def scalar(fn, name, ret=I64, arg=I64, volatility="immutable"):
    return udf(fn, [arg], ret, volatility, name=name)(col("a"))


def each(a, f):
    return pa.array([None if v is None else f(v) for v in a.to_pylist()], type=pa.int64())


def double(a):
    return pc.multiply(a, 2)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Colour(enum.Enum):
    RED = "r"
    BLUE = "b"


class Perm(enum.Flag):
    R = 4
    W = 2


Point = collections.namedtuple("Point", "x y")


class Span(typing.NamedTuple):
    lo: int
    hi: int


@dataclasses.dataclass
class Config:
    factor: int = 2
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class Bounds:
    lo: int
    hi: int

    def clip(self, v: int) -> int:
        return min(max(v, self.lo), self.hi)


class Scaler:
    def __init__(self, k):
        self.k = k

    def __call__(self, a):
        return pc.multiply(a, self.k)


class Shape(abc.ABC):
    @abc.abstractmethod
    def area(self) -> int: ...


class Square(Shape):
    unit = 1

    def __init__(self, side):
        self._side = side

    @property
    def side(self):
        return self._side

    @staticmethod
    def of(v):
        return Square(v)

    @classmethod
    def unit_square(cls):
        return cls(cls.unit)

    def area(self):
        return self._side * self._side


T = typing.TypeVar("T")


class Plugin:
    """A registry base: every subclass registers itself (ordinary __init_subclass__)."""

    registry: typing.ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Plugin.registry[cls.__name__] = cls


class Doubler(Plugin):
    factor = 2


class Positive:
    """A descriptor that learns its name (ordinary __set_name__)."""

    def __set_name__(self, owner, name):
        self.name = "_" + name

    def __get__(self, obj, objtype=None):
        return self if obj is None else getattr(obj, self.name)

    def __set__(self, obj, value):
        setattr(obj, self.name, abs(value))


class Gain:
    level = Positive()

    def __init__(self, level):
        self.level = level

    __class_getitem__ = classmethod(types.GenericAlias)


class Box(typing.Generic[T]):
    def __init__(self, item):
        self.item = item


class Codec(abc.ABC):
    @abc.abstractmethod
    def code(self) -> int: ...


class Plain:
    def code(self) -> int:
        return 1


Codec.register(Plain)


class Tag(enum.Enum):
    A = "a"
    B = "b"


def class_hooks_capture():
    """By-value classes with the implicit hooks real users write: a registry base's __init_subclass__, a
    descriptor's __set_name__, __class_getitem__, a Generic subscripted, an ABC with a registered class, and
    frozen dataclasses hashed as set items and dict keys while the UDF decodes."""
    gain, kinds, spans = Gain(-3), {Bounds(0, 1), Bounds(2, 3)}, {Bounds(0, 5): Tag.A}
    alias, boxed, plugin = Gain[int], Box[int], Plugin.registry["Doubler"]

    def scaled(a):
        assert alias is not None and boxed is not None and isinstance(Plain(), Codec)
        return each(a, lambda v: v * gain.level * plugin.factor + len(kinds) + len(spans))

    return scalar(scaled, "hooked")


def base_scalar():
    return scalar(lambda a: pc.multiply(a, 2), "double_it")


def intenum():
    return scalar(lambda a: each(a, lambda v: int(Level.HIGH) if v > 10 else int(Level.LOW)), "level")


def plain_enum_and_flag():
    colour, perm = Colour.RED, Perm.R | Perm.W
    return scalar(lambda a: each(a, lambda v: v + len(colour.value) + perm.value), "enum_flag")


def namedtuple_capture():
    origin = Point(1, 2)
    return scalar(lambda a: each(a, lambda v: v + origin.x), "shift_x")


def typed_namedtuple():
    span = Span(0, 100)
    return scalar(lambda a: each(a, lambda v: min(max(v, span.lo), span.hi)), "span_clip")


def map_default():
    return scalar(lambda a, _m=map: pa.array(list(_m(lambda v: v, a.to_pylist())), type=I64), "ident_map")


def itemgetter_capture():
    first = operator.itemgetter(0)
    return scalar(lambda a: each(a, lambda v: first((v, 0))), "first")


def codecs_decode():
    return scalar(lambda a: each(a, lambda v: v + len(decode(b"abc", "ascii"))), "decoded_len")


def http_status():
    ok = HTTPStatus.OK
    return scalar(lambda a: each(a, lambda v: v + int(ok)), "plus_ok")


def decimal_context():
    dctx = decimal.Context(prec=6)
    return scalar(lambda a: each(a, lambda v: int(dctx.create_decimal(v))), "dec")


def zoneinfo_capture():
    tz = zoneinfo.ZoneInfo("UTC")
    return scalar(lambda a: each(a, lambda v: datetime.datetime.fromtimestamp(v, tz).year), "year_utc")


def random_capture():
    rng = random.Random(42)
    return scalar(lambda a: each(a, lambda v: v + rng.randint(0, 1)), "jitter", volatility="volatile")


def ipv4_network():
    net = ipaddress.IPv4Network("10.0.0.0/8")
    return scalar(lambda a: each(a, lambda v: int(ipaddress.IPv4Address(v % 2**32) in net)), "in_net")


def array_capture():
    weights = array.array("q", [1, 2, 3])
    return scalar(lambda a: each(a, lambda v: v * weights[v % 3]), "weighted")


def pure_path():
    root = pathlib.PurePosixPath("/data/in")
    return scalar(lambda a: each(a, lambda v: len(str(root / str(v)))), "path_len")


def dataclass_capture():
    cfg = Config(3, 1)
    return scalar(lambda a: each(a, lambda v: v * cfg.factor + cfg.offset), "affine")


def frozen_dataclass():
    bounds = Bounds(0, 10)
    return scalar(lambda a: each(a, bounds.clip), "clip10")


def typing_constructs():
    maybe: typing.Optional[int] = None
    hint = typing.Dict[str, typing.Optional[int]]
    tv = T

    def clip(a: pa.Array, limit: typing.Optional[int] = maybe) -> pa.Array:
        assert hint is not None and tv is not None
        return a if limit is None else pc.min_element_wise(a, limit)

    return scalar(clip, "clip_opt")


def decorated():
    def logged(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            return fn(*args)

        return wrapper

    @logged
    def triple(a: pa.Array) -> pa.Array:
        return pc.multiply(a, 3)

    return scalar(triple, "triple")


def callable_instance():
    return scalar(Scaler(4), "scale4")


def class_with_descriptors():
    sq = Square.unit_square()
    return scalar(lambda a: each(a, lambda v: Square.of(v).area() + sq.side), "square")


def closure_dict():
    table = {"a": 1, "b": 2, "captured-by-value": 3}
    return scalar(lambda a: each(a, lambda v: v + table.get("b", 0)), "lookup")


def closure_set_frozenset():
    allowed, frozen = {1, 2, 3}, frozenset({4, 5})
    return scalar(lambda a: each(a, lambda v: int(v in allowed or v in frozen)), "member")


def closure_bytes():
    salt = b"\x00\x01salt"
    return scalar(lambda a: each(a, lambda v: v + len(salt)), "salted")


def re_pattern():
    digits = re.compile(r"^[0-9]+$")
    return scalar(lambda a: each(a, lambda v: int(bool(digits.match(str(v))))), "is_digits")


def uuid_capture():
    ns = uuid.UUID("12345678-1234-5678-1234-567812345678")
    return scalar(lambda a: each(a, lambda v: uuid.uuid5(ns, str(v)).int % 97), "bucket")


def fraction_capture():
    third = fractions.Fraction(1, 3)
    return scalar(lambda a: each(a, lambda v: int(v * third)), "third")


def datetime_timezone():
    epoch = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2), "CEST"))
    day, when = datetime.date(2024, 6, 1), datetime.time(12, 30)
    return scalar(lambda a: each(a, lambda v: int(epoch.timestamp()) + v + day.day + when.hour), "since")


def pyarrow_objects():
    offsets, bump, schema = pa.array([1, 2, 3]), pa.scalar(5), pa.schema([("a", pa.int64())])
    return scalar(lambda a: pc.add(pc.add(a, bump), offsets[0]) if schema else a, "bumped")


def partial_capture():
    add5 = functools.partial(operator.add, 5)
    return scalar(lambda a: each(a, add5), "add5")


def collections_capture():
    seen = collections.Counter({"x": 1})
    groups = collections.defaultdict(list, {"k": [1]})
    order = collections.OrderedDict(a=1)
    recent = collections.deque([1, 2], maxlen=5)
    return scalar(lambda a: each(a, lambda v: v + seen["x"] + len(groups) + len(order) + len(recent)), "cols")


def logger_capture():
    log = logging.getLogger("job.udf")
    return scalar(lambda a: (log.debug("batch %d", len(a)), a)[1], "logged")


def json_and_math():
    def parse_sqrt(a):
        return pa.array([None if v is None else int(math.sqrt(json.loads(str(v)))) for v in a.to_pylist()])

    return scalar(parse_sqrt, "parse_sqrt")


def nested_closure():
    def make_adder(k):
        def add(a):
            return pc.add(a, k)

        return add

    return scalar(make_adder(7), "add7")


def namespace_complex_slice_range():
    ns = types.SimpleNamespace(k=2, z=complex(1, 2), sl=slice(0, 2), rg=range(3))
    return scalar(lambda a: each(a, lambda v: v * ns.k + ns.sl.stop + len(ns.rg) + int(ns.z.real)), "ns")


def string_template():
    tpl = string.Template("$v")
    return scalar(lambda a: each(a, lambda v: int(tpl.substitute(v=v))), "templated")


def module_function_reference():
    return scalar(double, "double_ref")


class RunningSum(Accumulator):
    def __init__(self):
        self._sum = 0

    def update(self, values):
        self._sum += pc.sum(values).as_py() or 0

    def merge(self, states):
        self._sum += pc.sum(states[0]).as_py() or 0

    def state(self):
        return [pa.scalar(self._sum)]

    def evaluate(self):
        return pa.scalar(self._sum)


class Collect(Accumulator):
    def __init__(self):
        self._items = []

    def update(self, values):
        self._items.extend(v for v in values.to_pylist() if v is not None)

    def merge(self, states):
        for chunk in states[0].to_pylist():
            self._items.extend(chunk or [])

    def state(self):
        return [pa.scalar(self._items, type=pa.list_(I64))]

    def evaluate(self):
        return pa.scalar(len(self._items))


def base_aggregate():
    return udaf(RunningSum, [I64], I64, [I64], "immutable", name="running_sum")(col("a"))


def udaf_list_state():
    return udaf(Collect, [I64], I64, [pa.list_(I64)], "immutable", name="collect_count")(col("a"))


class Ones(WindowEvaluator):
    def evaluate_all(self, values, num_rows):
        return pa.array([1] * num_rows)


class Lagged(WindowEvaluator):
    def __init__(self, k):
        self.k = k

    def evaluate_all(self, values, num_rows):
        vals = values[0].to_pylist()
        return pa.array([vals[i - self.k] if i >= self.k else None for i in range(num_rows)], type=I64)


def base_window():
    return udwf(Ones, [I64], I64, "immutable", name="ones")(col("a"))


def udwf_factory():
    return udwf(lambda: Lagged(2), [I64], I64, "immutable", name="lag2")(col("a"))


def register_all(ctx):
    """The job's UDFs on a session, for SQL plans."""
    ctx.register_udf(udf(lambda a: pc.multiply(a, 2), [I64], I64, "immutable", name="double_it"))
    ctx.register_udf(udf(Scaler(3), [I64], I64, "immutable", name="scale3"))
    ctx.register_udaf(udaf(RunningSum, [I64], I64, [I64], "immutable", name="running_sum"))
    ctx.register_udwf(udwf(Ones, [I64], I64, "immutable", name="ones"))
    return ctx
'''

#: helpers hostile cases ship by value: ordinary-looking cloudpickle functions that touch the canary
HOSTILE_HELPERS = r"""
import types


def opener(path):
    def touch(*args, **kwargs):
        open(path, "w").close()

    return touch


def opening_builtin_type(path):
    def _builtin_type(name):
        open(path, "w").close()
        return type if name == "ClassType" else getattr(types, name)

    return _builtin_type


def opening_metaclass(path):
    def meta(name, bases, namespace):
        open(path, "w").close()
        return type(name, bases, namespace)

    return meta
"""
