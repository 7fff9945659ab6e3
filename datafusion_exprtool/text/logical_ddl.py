"""The logical DDL and PREPARE nodes as ``LogicalPlan.display_indent()`` shows them (datafusion 55's
``DdlStatement::display`` and ``Statement::display``): CreateExternalTable, CreateView, CreateCatalogSchema,
CreateCatalog, DropView and Prepare, the statements ``to_bytes()`` serializes (DropTable, CreateMemoryTable,
DropCatalogSchema and the function statements it refuses).

Names print with Rust's ``{:?}``: a TableReference as its enum (``Bare { table: "v" }``), a schema or catalog
name as a quoted string. A CREATE VIEW shows its query as its child; what else a statement holds (a table's
location, options, column defaults, a view's SQL) is not on its line: ``inspect`` lists the location and the
SQL text as clear text.
"""

from __future__ import annotations

from collections.abc import Callable

from datafusion_exprtool.layers.proto.msg import Msg
from datafusion_exprtool.text.canonical import singles
from datafusion_exprtool.text.engine import Gen, arm, children
from datafusion_exprtool.text.rust_text import rust_debug_str
from datafusion_exprtool.text.scalar import type_gen

#: TableReference arm -> its Rust enum variant and the fields it prints, in order
_TABLE_REFERENCE = {"bare": ("Bare", ("table",)), "partial": ("Partial", ("schema", "table")),
                    "full": ("Full", ("catalog", "schema", "table"))}  # fmt: skip
#: Constraint arm -> the Rust variant ``{:?}`` prints
_CONSTRAINTS = {"primary_key": "PrimaryKey", "unique": "Unique"}


def table_reference_debug(m: object) -> str:
    """``Bare { table: "v" }``: a TableReference as Rust's derived ``{:?}`` prints it."""
    name, value, _n = arm(m) if isinstance(m, Msg) else (None, None, 0)
    if name not in _TABLE_REFERENCE or not isinstance(value, Msg):
        return "?"
    variant, keys = _TABLE_REFERENCE[name]
    d = singles(value)
    parts = ", ".join(f"{k}: {rust_debug_str(d.get(k, ''))}" for k in keys)
    return f"{variant} {{ {parts} }}"


def constraints_text(m: object) -> str:
    """`` constraints=[PrimaryKey([0]), Unique([1, 2])]``, or nothing for no constraint (datafusion's Display)."""
    if not isinstance(m, Msg):
        return ""
    shown = []
    for c in children(m, 1, "Constraint"):
        name, value, _n = arm(c)
        indices = [f.value for f in value.fields() if f.name == "indices"] if isinstance(value, Msg) else []
        shown.append(f"{_CONSTRAINTS.get(name or '', '?')}({indices!r})")
    return f" constraints=[{', '.join(shown)}]" if shown else ""


def create_external_table_line(m: Msg) -> Gen:
    d = singles(m)
    yield f"CreateExternalTable: {table_reference_debug(d.get('name'))}{constraints_text(d.get('constraints'))}"


def create_view_line(m: Msg) -> Gen:
    yield f"CreateView: {table_reference_debug(singles(m).get('name'))}"


def drop_view_line(m: Msg) -> Gen:
    d = singles(m)
    yield f"DropView: {table_reference_debug(d.get('name'))} if not exist:={'true' if d.get('if_exists') else 'false'}"


def _named(label: str, key: str) -> Callable[[Msg], Gen]:
    def line(m: Msg) -> Gen:
        yield f"{label}: {rust_debug_str(singles(m).get(key, ''))}"

    return line


def prepare_line(m: Msg) -> Gen:
    """``Prepare: "p" [Int32, Utf8View]``: the parameters' types, from their fields (datafusion 55 writes both
    fields and types; an older writer only types). A parameter field's metadata (never set by SQL) is left out."""
    yield f"Prepare: {rust_debug_str(singles(m).get('name', ''))} ["
    fields = list(children(m, 4, "Field"))
    types = [singles(f).get("arrow_type") for f in fields] if fields else list(children(m, 2, "ArrowType"))
    for i, t in enumerate(types):
        yield ", " if i else ""
        yield type_gen(t if isinstance(t, Msg) else None)
    yield "]"


#: arm of LogicalPlanNode -> the statement's display line
DDL_LINES: dict[str, Callable[[Msg], Gen]] = {
    "create_external_table": create_external_table_line, "create_view": create_view_line,
    "create_catalog_schema": _named("CreateCatalogSchema", "schema_name"),
    "create_catalog": _named("CreateCatalog", "catalog_name"), "drop_view": drop_view_line, "prepare": prepare_line,
}  # fmt: skip
