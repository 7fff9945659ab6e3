"""Field tables of the plan nodes the fact sheet names but does not tabulate, second batch (read by
gen_proto_tables.py beside its own ``PLAN_NODE_MESSAGES``): the joins datafusion plans besides HashJoinExec
(SortMergeJoinExec, SymmetricHashJoinExec; NestedLoopJoinExec is in the fact sheet), AsyncFuncExec,
BufferExec, ScalarSubqueryExec with its physical ``scalar_subquery`` expression, and the logical DDL nodes
(CREATE EXTERNAL TABLE / VIEW / SCHEMA / DATABASE, DROP VIEW, PREPARE) with the table constraints they carry.

Source: apache/datafusion datafusion/proto-models/proto/datafusion.proto and
datafusion/proto-common/proto/datafusion_common.proto (a stored copy of the 54 line, the newest reachable: it
already has PhysicalPlanNode arms up to 39 scalar_subquery). Each row was then checked against the installed
datafusion 55 (tests/layers/test_proto_plan_nodes_ddl.py repeats the checks): the number and wire type by
building the node (SortMergeJoinExec: ``prefer_hash_join=false``; BufferExec:
``hash_join_buffering_capacity``; ScalarSubqueryExec: an uncorrelated scalar subquery; the DDL nodes: the
input of ``EXPLAIN <DDL>``) and reading its bytes with no unknown field; the name and oneof by flipping the
field's wire type and reading datafusion's refusal (``<Message>.<field or oneof>``). SymmetricHashJoinExec
and AsyncFuncExec are not planned by datafusion-python 55 (a symmetric join needs unbounded inputs, whose
StreamingTableExec datafusion cannot serialize; an async function needs an async UDF, which the Python API
cannot define): their rows are the .proto's, checked by datafusion decoding them (tests/text).

A map is its entry message on the wire, named as protoc names it (``<Message>.<Field>Entry``: key 1, value 2):
the table options (``CreateExternalTableNode.OptionsEntry``, map<string, string>, read as entries so that
inspect can list each option as clear text) and the columns' DEFAULT expressions
(``CreateExternalTableNode.ColumnDefaultsEntry``, map<string, LogicalExprNode>). The scan reads an entry
whatever its wire type says, as prost does for a map.
"""

from __future__ import annotations

_JOIN_SIDES = {
    1: ("left", "message", "PhysicalPlanNode", False, None),
    2: ("right", "message", "PhysicalPlanNode", False, None),
    3: ("on", "message", "JoinOn", True, None),
    4: ("join_type", "enum", "JoinType", False, None),
}

MORE_PLAN_NODE_MESSAGES: dict[str, dict[int, tuple]] = {
    "SortMergeJoinExecNode": {
        **_JOIN_SIDES,
        5: ("filter", "message", "JoinFilter", False, None),
        6: ("sort_options", "message", "SortExprNode", True, None),
        7: ("null_equality", "enum", "NullEquality", False, None),
    },
    "SymmetricHashJoinExecNode": {
        **_JOIN_SIDES,
        6: ("partition_mode", "enum", "StreamPartitionMode", False, None),
        7: ("null_equality", "enum", "NullEquality", False, None),
        8: ("filter", "message", "JoinFilter", False, None),
        9: ("left_sort_exprs", "message", "PhysicalSortExprNode", True, None),
        10: ("right_sort_exprs", "message", "PhysicalSortExprNode", True, None),
    },
    "AsyncFuncExecNode": {
        1: ("input", "message", "PhysicalPlanNode", False, None),
        2: ("async_exprs", "message", "PhysicalExprNode", True, None),
        3: ("async_expr_names", "string", None, True, None),
    },
    "BufferExecNode": {
        1: ("input", "message", "PhysicalPlanNode", False, None),
        2: ("capacity", "uint64", None, False, None),
    },
    "ScalarSubqueryExecNode": {
        1: ("input", "message", "PhysicalPlanNode", False, None),
        2: ("subqueries", "message", "PhysicalPlanNode", True, None),
    },
    "PhysicalScalarSubqueryExprNode": {
        1: ("data_type", "message", "ArrowType", False, None),
        2: ("nullable", "bool", None, False, None),
        3: ("index", "uint32", None, False, None),
    },
    "CreateExternalTableNode": {
        2: ("location", "string", None, False, None),
        3: ("file_type", "string", None, False, None),
        4: ("schema", "message", "DfSchema", False, None),
        5: ("table_partition_cols", "string", None, True, None),
        6: ("if_not_exists", "bool", None, False, None),
        7: ("definition", "string", None, False, None),
        8: ("options", "message", "CreateExternalTableNode.OptionsEntry", True, None),
        9: ("name", "message", "TableReference", False, None),
        10: ("order_exprs", "message", "SortExprNodeCollection", True, None),
        11: ("unbounded", "bool", None, False, None),
        12: ("constraints", "message", "Constraints", False, None),
        13: ("column_defaults", "message", "CreateExternalTableNode.ColumnDefaultsEntry", True, None),
        14: ("temporary", "bool", None, False, None),
        15: ("or_replace", "bool", None, False, None),
    },
    "CreateExternalTableNode.OptionsEntry": {
        1: ("key", "string", None, False, None),
        2: ("value", "string", None, False, None),
    },
    "CreateExternalTableNode.ColumnDefaultsEntry": {
        1: ("key", "string", None, False, None),
        2: ("value", "message", "LogicalExprNode", False, None),
    },
    "Constraints": {1: ("constraints", "message", "Constraint", True, None)},
    "Constraint": {
        1: ("primary_key", "message", "PrimaryKeyConstraint", False, "constraint_mode"),
        2: ("unique", "message", "UniqueConstraint", False, "constraint_mode"),
    },
    "PrimaryKeyConstraint": {1: ("indices", "uint64", None, True, None)},
    "UniqueConstraint": {1: ("indices", "uint64", None, True, None)},
    "CreateCatalogSchemaNode": {
        1: ("schema_name", "string", None, False, None),
        2: ("if_not_exists", "bool", None, False, None),
        3: ("schema", "message", "DfSchema", False, None),
    },
    "CreateCatalogNode": {
        1: ("catalog_name", "string", None, False, None),
        2: ("if_not_exists", "bool", None, False, None),
        3: ("schema", "message", "DfSchema", False, None),
    },
    "DropViewNode": {
        1: ("name", "message", "TableReference", False, None),
        2: ("if_exists", "bool", None, False, None),
        3: ("schema", "message", "DfSchema", False, None),
    },
    "CreateViewNode": {
        2: ("input", "message", "LogicalPlanNode", False, None),
        3: ("or_replace", "bool", None, False, None),
        4: ("definition", "string", None, False, None),
        5: ("name", "message", "TableReference", False, None),
        6: ("temporary", "bool", None, False, None),
    },
    "PrepareNode": {
        1: ("name", "string", None, False, None),
        2: ("data_types", "message", "ArrowType", True, None),
        3: ("input", "message", "LogicalPlanNode", False, None),
        4: ("fields", "message", "Field", True, None),
    },
}
MORE_PLAN_NODE_ENUMS: dict[str, dict[int, str]] = {
    "StreamPartitionMode": {0: "SINGLE_PARTITION", 1: "PARTITIONED_EXEC"},
}
