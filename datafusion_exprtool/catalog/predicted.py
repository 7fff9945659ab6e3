"""Catalog entries for the failures ``check`` predicts from damaged bytes (check.damage, proto.semantics).

They come after every serialization entry in the catalog, so that an existing, more specific reading of the
same text wins (a top-level empty blob stays ``empty-blob``, an empty top-level logical plan node stays
``wrong-message-type``).
"""

from __future__ import annotations

from datafusion_exprtool.catalog.entry import CatalogEntry

PREDICTED: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        id="pickle-truncated",
        title="Pickled Expr cut short",
        layer="pickle",
        stage="unpickle",
        ties_to="blob",
        patterns=(r"(?:UnpicklingError|EOFError): (?P<detail>pickle data was truncated|Ran out of input)",),
        cause="`pickle.loads` stopped before the pickle's STOP opcode ({detail}): the `pickle.dumps(expr)` bytes "
        "were truncated between sender and receiver.",
        fix="Ship the exact bytes (binary-safe channel, no size limit: `len()` must match on both sides); "
        "re-create the blob with `pickle.dumps(expr)` on the sender. `exprtool check BLOB` shows where it stops.",
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="pickle-corrupt",
        title="Pickled Expr corrupted",
        layer="pickle",
        stage="unpickle",
        ties_to="blob",
        patterns=(r"UnpicklingError: (?P<detail>[^\n]+)",),
        cause="`pickle.loads` met bytes no pickle has ({detail}): the `pickle.dumps(expr)` output was altered in "
        "transit (text decoding, a patched byte) or is not a pickle at all.",
        fix="Re-create it with `pickle.dumps(expr)` and ship raw bytes; `exprtool inspect BLOB` shows where it "
        "breaks.",
        datafusion_text="{detail}",
        confidence="likely",
    ),
    CatalogEntry(
        id="table-rows-corrupt",
        title="Rows inside a physical plan corrupted",
        layer="arrow-ipc",
        stage="decode",
        ties_to="rows",
        # the kinds of error arrow-rs's IPC reader raises for damaged rows (every one-bit flip of a memory
        # table's bytes that datafusion 55 refuses reads as one of them); a cast, a division or an overflow
        # while the query runs is the data's (catalog/values.py)
        patterns=(
            r"DataFusion error: Arrow error: (?P<detail>(?:Invalid argument|Parser|Ipc|Io|Schema) error: [^\n]+)",
        ),
        cause="Arrow refused data while the plan was decoded ({detail}): the rows a physical plan carries (a memory "
        "table's Arrow IPC partitions) were altered in transit.",
        fix="Re-create the plan (`df.execution_plan().to_bytes()`) and ship raw bytes; `exprtool check BLOB` "
        "validates every partition and names the damaged one. If the error came after the plan decoded, while "
        "the query ran, it is not this: `exprtool eval BLOB DATA --find-rows` replays it and names the rows.",
        datafusion_text="Arrow error: {detail}",
        confidence="likely",
    ),
    CatalogEntry(
        id="literal-value-corrupt",
        title="Nested literal value corrupted",
        layer="arrow-ipc",
        stage="decode",
        ties_to="literal",
        patterns=(
            r"Error IPC message while deserializing nested ScalarValue: (?P<detail>[^\n]+)",
            r"Decoding nested ScalarValue value[^\n]*?(?P<detail>ArrowError\([^\n]+)",
            r"(?:PanicException: |Rust panic: |panicked[^\n]*\n)?(?P<detail>the offset of the new Buffer cannot "
            r"exceed the existing length[^\n]*)",
        ),
        cause="The Arrow IPC bytes of a nested literal (a list, struct or map value) were altered in transit "
        "({detail}). datafusion reads them with arrow-rs, which refuses them or panics slicing a buffer.",
        fix="Re-create the expression on the sender and ship raw bytes (no text conversion); `exprtool check BLOB` "
        "names the literal and its byte offset.",
        datafusion_text="Error IPC message while deserializing nested ScalarValue: … / Decoding nested ScalarValue value … / "
        "the offset of the new Buffer cannot exceed the existing length: …",
        confidence="likely",
    ),
    CatalogEntry(
        id="empty-plan-node",
        title="Plan node with nothing set",
        layer="protobuf",
        stage="decode",
        ties_to="node",
        patterns=(
            r"Unsupported (?P<plan>physical|logical) plan '(?P<node>(?:Physical|Logical)PlanNode) \{ "
            r"(?P<oneof>\w+): None \}'",
        ),
        cause="A {node} inside the plan has no node type set ({oneof}: None): prost reads it, datafusion's "
        "from_proto refuses it. The blob was altered in transit or written by another datafusion version.",
        fix="Re-create the plan on the sender and ship raw bytes; `exprtool check BLOB` names the empty node and "
        "its byte offset.",
        datafusion_text="Unsupported {plan} plan '{node} {{ {oneof}: None }}'",
    ),
    CatalogEntry(
        id="missing-required-field",
        title="Node lacks a field datafusion requires",
        layer="protobuf",
        stage="decode",
        ties_to="node",
        patterns=(
            r"(?P<detail>Missing required field (?!in protobuf)(?P<field>[\w.]+))",
            r"(?P<detail>Unexpected empty physical expression|missing window frame during deserialization|"
            r"Invalid schema while deserializing nested ScalarValue)",
        ),
        cause="A nested node lacks a field datafusion requires ({detail}): prost reads the blob, datafusion's "
        "from_proto refuses it. The blob was altered in transit (a flipped bit, a text conversion) or "
        "written by another datafusion version.",
        fix="Re-create the blob on the sender and ship raw bytes; `exprtool check BLOB` names the node and its "
        "byte offset.",
        datafusion_text="{detail}",
    ),
    CatalogEntry(
        id="scan-column-unresolved",
        title="Scan projection past the schema the plan carries",
        layer="protobuf",
        stage="decode",
        ties_to="node",
        patterns=(
            r"Column index (?P<index>\d+) out of bounds for projected expressions of length (?P<length>\d+)",
        ),
        cause="A physical file scan projects column {index}, but the schema the plan carries has {length} columns: "
        "datafusion 55 serializes a scan's virtual column (`file_row_index()`, `__datafusion_file_row_index`) "
        "without it in the scan's schema, and its own decoder refuses the plan it wrote.",
        fix="Ship the logical plan (`LogicalPlan.to_bytes()`) and plan it on the worker, or leave file_row_index() out "
        "of a physical plan that travels; `exprtool check BLOB` names the scan and its byte offset.",
        datafusion_text="Internal error: Column index {index} out of bounds for projected expressions of length "
        "{length}.",
    ),
    CatalogEntry(
        id="unknown-binary-operator",
        title="Binary expression with an unknown operator",
        layer="protobuf",
        stage="decode",
        ties_to="node",
        patterns=(
            r"Unsupported binary operator '\"(?P<operator>[^\"\n]*)\"'",
            r"Unsupported binary operator '(?P<operator>[^\n]*)",
        ),
        cause="A binary expression names operator '{operator}', which this datafusion does not have: the operator "
        "name was altered in transit, or the sender's datafusion has an operator this one lacks.",
        fix="Re-create the blob on the sender and ship raw bytes; if it is intact, run the same datafusion "
        "version on both sides (`exprtool check --env`).",
        datafusion_text="Unsupported binary operator '\"{operator}\"'",
    ),
    CatalogEntry(
        id="binary-operands",
        title="Binary expression with fewer than two operands",
        layer="protobuf",
        stage="decode",
        ties_to="node",
        patterns=(r"A binary expression must always have at least 2 operands",),
        cause="A binary expression in the blob has fewer than two operands: datafusion never writes one, so the "
        "blob was altered in transit or built by hand.",
        fix="Re-create the blob on the sender and ship raw bytes; `exprtool check BLOB` names the node's offset.",
        datafusion_text="A binary expression must always have at least 2 operands",
    ),
    CatalogEntry(
        id="enum-out-of-range",
        title="Enum value datafusion does not know",
        layer="protobuf",
        stage="decode",
        ties_to="node",
        patterns=(
            r"(?P<detail>Unknown i32 value for (?P<enum>\w+) enum: (?P<value>-?\d+))",
            r"(?P<detail>Received an? (?P<node>\w+) message with unknown (?P<enum>\w+) (?P<value>-?\d+))",
        ),
        cause="A {enum} field holds {value}, which datafusion 55 does not define: the blob was altered in transit "
        "or written by a newer datafusion.",
        fix="Re-create the blob on the sender and ship raw bytes; if it is intact, run the same datafusion "
        "version on both sides (`exprtool check --env`).",
        datafusion_text="{detail}",
    ),
)
