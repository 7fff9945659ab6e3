"""--format markdown and --summary: valid GitHub-flavoured Markdown (read back with markdown-it, the CommonMark
parser rich installs), Mermaid that Mermaid's own parser accepts, nodes named as datafusion names them (its
``canonical_name()`` of each sub-expression, its ``display_indent()`` line of each plan node), UDF calls marked
by how they travel, the failing node red, big trees cut with a note, and the job summary appended to."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datafusion import Expr, LogicalPlan, SessionContext, col, lit, udaf, udf
from datafusion import functions as F
from datafusion.user_defined import Accumulator
from markdown_it import MarkdownIt
from support import mermaid_parser
from support.blobs import double_it, no_inline_ctx

from datafusion_exprtool.inspection.pipeline import inspect_bytes, inspect_path
from datafusion_exprtool.reports.check.report import check_bytes
from datafusion_exprtool.reports.check.target import Target
from datafusion_exprtool.reports.diff.compare import diff_inspections
from datafusion_exprtool.reports.formats.markdown import (
    check_markdown,
    diff_markdown,
    eval_failure_markdown,
    inspection_markdown,
)
from datafusion_exprtool.sandbox.failure import EvalFailure
from datafusion_exprtool.text.graph import DEFAULT_LIMIT, LABEL_LIMIT, MAX_CHILDREN, build_graph

EXPRTOOL = Path(sys.executable).with_name("exprtool")
ALLOWED_TAGS = {"details", "summary", "sub"}
CELL_SPLIT = re.compile(r"(?<!\\)\|")
NODE = re.compile(r'^  (n\d+(?:_more)?)\["(.*)"\]$')


def mermaid_blocks(md: str) -> list[str]:
    return [t.content.rstrip("\n") for t in MarkdownIt("commonmark").parse(md) if t.type == "fence"
            and t.info == "mermaid"]


def assert_gfm(md: str) -> None:
    """Tables as GFM reads them (every row as many cells as its header), only <details>/<summary>/<sub> HTML,
    each <details> closed, every fence closed."""
    parser = MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(md)
    assert sum(t.type == "table_open" for t in tokens) == sum(line.startswith("|---") or line.startswith("|--")
                                                              for line in md.splitlines())
    width = None
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cells = len(CELL_SPLIT.split(line)) - 2
            width = cells if width is None else width
            assert cells == width, line
        else:
            width = None
    html = [t.content for t in tokens if t.type == "html_block"]
    html += [c.content for t in tokens if t.type == "inline" for c in t.children or [] if c.type == "html_inline"]
    for chunk in html:
        assert set(re.findall(r"</?([a-zA-Z]+)", chunk)) <= ALLOWED_TAGS, chunk
    assert md.count("<details") == md.count("</details>")
    assert not any(t.type == "fence" and not t.markup for t in tokens)


def mermaid_nodes(diagram: str) -> dict[str, str]:
    """node id -> label as Mermaid shows it (entity codes decoded)."""
    out = {}
    for line in diagram.splitlines():
        m = NODE.match(line)
        if m:
            label = m.group(2)
            for code, ch in (("#quot;", '"'), ("#lt;", "<"), ("#gt;", ">"), ("#amp;", "&"), ("#96;", "`"),
                             ("#35;", "#")):
                label = label.replace(code, ch)
            out[m.group(1)] = label
    return out


def in_class(diagram: str, name: str) -> set[str]:
    found: set[str] = set()
    for line in diagram.splitlines():
        m = re.match(rf"^  class (\S+) {name}$", line)
        if m:
            found |= set(m.group(1).split(","))
    return found


# ----------------------------------------------------------------------------------------------------------
# blobs built with datafusion


class Total(Accumulator):
    def __init__(self) -> None:
        self.total = 0

    def update(self, values: pa.Array) -> None:
        self.total += sum(v for v in values.to_pylist() if v is not None)

    def merge(self, states: list[pa.Array]) -> None:
        self.total += sum(v for v in states[0].to_pylist() if v is not None)

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self.total, type=pa.int64())]

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(self.total, type=pa.int64())


def weird_expr() -> Expr:
    """Quotes, #, <, >, &, backticks, pipes, brackets and an arrow in names and literals."""
    return (col('we"ird #col') == lit('q"u#o<t>e&`|[x]{y} --> end')) | F.abs(col("b")).is_null()


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> SessionContext:
    base = tmp_path_factory.mktemp("markdown")
    pq.write_table(pa.table({"a": [1, 2, 3], "b": [4, 5, 6], "s": ["x", "y", "x"]}), base / "t.parquet")
    context = SessionContext()
    context.register_parquet("t", str(base / "t.parquet"))
    context.register_udf(udf(double_it, [pa.int64()], pa.int64(), "immutable", name="double_it"))
    context.register_udaf(udaf(Total, [pa.int64()], pa.int64(), [pa.int64()], "immutable", name="total"))
    return context


PLANS = [
    "select s, total(double_it(a)) as t from t where b > 4 group by s order by t desc",
    "select a from t where a > (select min(b) from t)",
    "select x.a, y.b from t x join t y on x.a = y.a union all select a, b from t",
]


def big_plan_sql() -> str:
    return " union all ".join(f"select a + {i} as v from t where b > {i}" for i in range(30))


# ----------------------------------------------------------------------------------------------------------
# what the nodes say


def datafusion_names(e: Expr) -> list[str]:
    """canonical_name() of ``e`` and of every operand below it, as datafusion's own Expr API walks them."""
    from datafusion.common import RexType

    names, stack = [], [e]
    while stack:
        x = stack.pop()
        names.append(x.canonical_name())
        if x.rex_type() not in (RexType.Reference, RexType.Literal):
            stack.extend(x.rex_call_operands())
    return names


@pytest.mark.parametrize("make", [
    lambda: (col("a") + lit(1)) * F.abs(col("b")),
    lambda: F.coalesce(col("a"), lit(0)) > F.length(F.upper(col("s"))),
    weird_expr,
    lambda: udf(double_it, [pa.int64()], pa.int64(), "immutable", name="double_it")(col("a") * lit(2)),
], ids=["arith", "functions", "weird", "udf"])
def test_expression_nodes_carry_datafusions_canonical_names(make) -> None:  # noqa: ANN001
    e = make()
    graph = build_graph(inspect_bytes(e.to_bytes()).payloads[0].root)
    assert sorted(n.label for n in graph.nodes) == sorted(datafusion_names(e))


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


@pytest.mark.parametrize("deep", ["left", "right"])
def test_deep_expression_labels_are_datafusions_names_cut(deep: str) -> None:
    """Labels of a 300-step chain, rendered deepest first and reusing the texts drawn below them (the 40
    labels of a 25k-deep chain were 40 renderings of the whole chain: 9.5 s): datafusion's own
    canonical_name() of each drawn sub-expression, cut at LABEL_LIMIT, sub-expressions inside parentheses
    (a lower-precedence child) included."""
    from datafusion.common import RexType

    e = col("a")
    for i in range(300):  # datafusion's own recursion (to_bytes, canonical_name) stays within its stack
        step = (col("b") + lit(i)) * lit(2)  # a child of higher precedence: drawn with parentheses around it
        e = (e * step) - lit(i) if deep == "left" else step - (lit(i) * e)
    graph = build_graph(inspect_bytes(e.to_bytes()).payloads[0].root)
    assert len(graph.nodes) == DEFAULT_LIMIT and any(n.label.endswith("…") for n in graph.nodes)
    shallow, stack = [], [(e, 0)]
    while stack:  # datafusion's names down to the depth the diagram can reach
        x, depth = stack.pop()
        shallow.append(_cut(x.canonical_name()))
        if depth < DEFAULT_LIMIT and x.rex_type() not in (RexType.Reference, RexType.Literal):
            stack.extend((child, depth + 1) for child in x.rex_call_operands())
    for node in graph.nodes:
        assert node.label in shallow, node.label


@pytest.mark.parametrize("sql", PLANS)
def test_plan_nodes_carry_datafusions_display_indent_lines(ctx: SessionContext, sql: str) -> None:
    df = ctx.sql(sql)
    for plan in (df.logical_plan(), df.optimized_logical_plan()):
        data = plan.to_bytes()
        decoded = LogicalPlan.from_bytes(ctx, data)  # what a receiver shows (sender-side details dropped)
        lines = [line.strip() for line in decoded.display_indent().splitlines() if line.strip() != "Subquery:"]
        graph = build_graph(inspect_bytes(data).payloads[0].root)
        shown = [n.label for n in graph.nodes]
        assert len(shown) == len(lines)
        for label in shown:
            assert any(label == line or (label.endswith("…") and line.startswith(label[:-1])
                                         and len(label) == LABEL_LIMIT) for line in lines), label


def test_udf_calls_are_marked_by_how_they_travel(ctx: SessionContext) -> None:
    plan = ctx.sql(PLANS[0]).logical_plan()
    insp = inspect_bytes(plan.to_bytes())
    inline = inspection_markdown(insp)
    byname = inspection_markdown(inspect_bytes(plan.to_bytes(no_inline_ctx())))
    (d_inline,) = mermaid_blocks(inline)
    (d_byname,) = mermaid_blocks(byname)
    labels = mermaid_nodes(d_inline)
    marked = {labels[n] for n in in_class(d_inline, "inline")}
    assert marked and all("inline UDF" in m for m in marked)
    assert any("double_it" in m for m in marked) and any("total" in m for m in marked)
    assert {mermaid_nodes(d_byname)[n] for n in in_class(d_byname, "byname")}
    assert not in_class(d_byname, "inline") and "by-name UDF" in d_byname
    modules = sorted({m for f in insp.functions for m in f.imports})  # the UDFs' modules, by reference
    assert modules and "- **import**: " + ", ".join(f"`{m}`" for m in modules) in inline
    (register,) = [line for line in byname.splitlines() if line.startswith("- **register**")]
    assert "`double_it` (scalar)" in register and "`total` (aggregate)" in register


# ----------------------------------------------------------------------------------------------------------
# the documents


def every_fixture_document(fixture_set: tuple[Path, dict]) -> list[tuple[str, str]]:
    blobs, _manifest = fixture_set
    docs = []
    for path in sorted(blobs.iterdir()):
        data = path.read_bytes()
        docs.append((f"inspect {path.name}", inspection_markdown(inspect_path(str(path)))))
        docs.append((f"check {path.name}", check_markdown(check_bytes(data, Target()))))
    return docs


def test_every_fixture_summary_is_gfm_with_one_diagram_per_payload(fixture_set: tuple[Path, dict]) -> None:
    blobs, _manifest = fixture_set
    for path in sorted(blobs.iterdir()):
        insp = inspect_path(str(path))
        md = inspection_markdown(insp)
        assert_gfm(md)
        assert md.startswith("### ") and f"verdict **{insp.safety.verdict}**" in md.splitlines()[0]
        assert len(mermaid_blocks(md)) == min(len(insp.payloads), 3), path.name
        report = check_bytes(path.read_bytes(), Target())
        checked = check_markdown(report)
        assert_gfm(checked)
        assert checked.startswith("### ✅" if not report.findings else "### ") and (
            checked.startswith("### ✅") == (not report.findings)), path.name


def test_a_big_plan_is_cut_with_a_note(ctx: SessionContext) -> None:
    plan = ctx.sql(big_plan_sql()).logical_plan()
    insp = inspect_bytes(plan.to_bytes())
    graph = build_graph(insp.payloads[0].root)
    assert len(graph.nodes) == DEFAULT_LIMIT and graph.hidden > 0
    assert graph.total == len(LogicalPlan.from_bytes(ctx, plan.to_bytes()).display_indent().splitlines())
    md = inspection_markdown(insp)
    (diagram,) = mermaid_blocks(md)
    more = in_class(diagram, "cut")
    assert more and all(n.endswith("_more") for n in more)
    assert f"Cut: {DEFAULT_LIMIT} of {graph.total:,} nodes drawn" in md and f"({graph.hidden:,} in all" in md
    assert sum(1 for line in diagram.splitlines() if NODE.match(line)) == DEFAULT_LIMIT + len(more)


def test_a_wide_expression_draws_its_first_arguments_and_counts_the_rest() -> None:
    n = 5_000
    e = F.in_list(col("a"), [lit(i) for i in range(n)])
    insp = inspect_bytes(e.to_bytes())
    graph = build_graph(insp.payloads[0].root)
    assert [node.label for node in graph.nodes] == [graph.nodes[0].label, "a", *(f"Int64({i})" for i in range(MAX_CHILDREN - 1))]
    assert graph.nodes[0].hidden == n + 1 - MAX_CHILDREN and graph.total is None
    (diagram,) = mermaid_blocks(inspection_markdown(insp))
    assert f'  n0_more["… {n + 1 - MAX_CHILDREN:,} more not drawn"]' in diagram.splitlines()


def test_check_draws_the_failing_node_red(ctx: SessionContext) -> None:
    by_name = ctx.sql(PLANS[0]).logical_plan().to_bytes(no_inline_ctx())
    report = check_bytes(by_name, Target())  # nothing registered: double_it and total fail
    md = check_markdown(report)
    assert_gfm(md)
    (diagram,) = mermaid_blocks(md)
    labels = mermaid_nodes(diagram)
    red = {labels[n] for n in in_class(diagram, "failing")}
    failing_functions = {f.function for f in report.errors}
    assert failing_functions == {"double_it", "total"}
    assert red and all(any(fn in label for fn in failing_functions) for label in red)
    calling = {lbl for lbl in labels.values() if "<br>by-name UDF double_it" in lbl}  # the nodes that call it
    assert calling and calling <= red
    assert "Projection: t.s, total(double_it(t.a)) AS t" in labels.values()  # names the column, calls nothing
    assert "Projection: t.s, total(double_it(t.a)) AS t" not in red
    assert "🟥 where it fails" in md


def test_eval_failure_report_names_stage_cause_and_draws_the_function_red(fixture_set: tuple[Path, dict]) -> None:
    blobs, _manifest = fixture_set
    insp = inspect_path(str(blobs / "udf_module_ref.expr.bin"))
    failure = EvalFailure("decode", "No module named 'exprtool_sender_only_helper'", function="triple",
                          hint="install the module on the worker", catalog_id="module-missing",
                          original="Unable to decode expr: ... ```fenced``` ...")
    md = eval_failure_markdown(failure, "blob.bin", insp)
    assert_gfm(md)
    assert "stage `decode`" in md.splitlines()[0] and "module-missing" in md
    (diagram,) = mermaid_blocks(md)
    assert {mermaid_nodes(diagram)[n].split("<br>")[0] for n in in_class(diagram, "failing")} == {"triple(a)"}
    assert "````text\nUnable to decode expr: ... ```fenced``` ...\n````" in md  # a fence its text cannot close


def test_diff_summary_lists_each_difference_and_draws_both_trees(fixture_set: tuple[Path, dict]) -> None:
    blobs, _manifest = fixture_set
    a, b = (inspect_path(str(blobs / n)) for n in ("udf_scalar_inline.expr.bin", "udf_scalar_byname.expr.bin"))
    result = diff_inspections(a, b)
    md = diff_markdown(result, a, b)
    assert_gfm(md)
    assert f"**{len(result.differences)} differences**" in md.splitlines()[0]
    rows = [line for line in md.splitlines() if line.startswith("| ") and "changed" in line]
    assert any("`functions/double_it/transport`" in r and "`inline`" in r and "`by_name`" in r for r in rows)
    assert len(mermaid_blocks(md)) == 2


# ----------------------------------------------------------------------------------------------------------
# Mermaid's own parser


@pytest.mark.skipif(not mermaid_parser.available(), reason="npm (and node) are not installed")
def test_mermaid_parses_every_diagram(ctx: SessionContext, fixture_set: tuple[Path, dict]) -> None:
    docs = every_fixture_document(fixture_set)
    docs.append(("weird", inspection_markdown(inspect_bytes(weird_expr().to_bytes()))))
    docs.append(("big plan", inspection_markdown(inspect_bytes(ctx.sql(big_plan_sql()).logical_plan().to_bytes()))))
    for sql in PLANS:
        df = ctx.sql(sql)
        for data in (df.logical_plan().to_bytes(), df.logical_plan().to_bytes(no_inline_ctx()),
                     df.execution_plan().to_bytes()):
            docs.append((sql, inspection_markdown(inspect_bytes(data))))
            docs.append((sql, check_markdown(check_bytes(data, Target()))))
    diagrams = [(name, d) for name, md in docs for d in mermaid_blocks(md)]
    broken = "flowchart TD\n  n0[\"unclosed --> n1\n"
    where = mermaid_parser.install()
    results = mermaid_parser.parse([d for _n, d in diagrams] + [broken], where)
    assert not results[-1]["ok"]  # the parser does refuse a broken diagram
    bad = [(name, r["error"]) for (name, _d), r in zip(diagrams, results, strict=False) if not r["ok"]]
    assert not bad, bad[:3]
    assert {r["type"] for r in results[:-1]} == {"flowchart-v2"}
    assert len(diagrams) > 100


# ----------------------------------------------------------------------------------------------------------
# --summary


def run(args: list[str], summary: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"}
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run([str(EXPRTOOL), *args], capture_output=True, text=True, env=env, timeout=300)


def test_summary_appends_each_commands_section_to_the_job_summary(fixture_set: tuple[Path, dict],
                                                                   small_parquet: Path, tmp_path: Path) -> None:
    blobs, _manifest = fixture_set
    summary = tmp_path / "step_summary.md"
    summary.write_text("## an earlier step\n\n", encoding="utf-8")
    ref, inline, byname = (str(blobs / n) for n in ("udf_module_ref.expr.bin", "udf_scalar_inline.expr.bin",
                                                    "udf_scalar_byname.expr.bin"))
    plain = run(["check", ref], None)
    steps = [(["inspect", ref, "--summary"], 0), (["check", ref, "--format", "github", "--summary"], plain.returncode),
             (["diff", inline, byname, "--summary"], 1), (["eval", ref, str(small_parquet), "--summary", "-q"], 4)]
    for args, status in steps:
        done = run(args, summary)
        assert done.returncode == status, (args, done.stderr)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## an earlier step\n\n")
    heads = [line for line in text.splitlines() if line.startswith("### ")]
    assert [h.split()[1:5] for h in heads] == [["🟡", "exprtool", "inspect", f"`{ref}`:"],
                                              ["❌", "exprtool", "check", f"`{ref}`:"],
                                              ["❌", "exprtool", "diff", f"`{inline}`"],
                                              ["❌", "exprtool", "eval", f"`{ref}`:"]]
    assert_gfm(text)
    assert "::error" in run(["check", ref, "--format", "github"], None).stdout  # --summary leaves stdout alone


def test_summary_without_the_variable_writes_nothing_and_says_so(fixture_set: tuple[Path, dict],
                                                                 tmp_path: Path) -> None:
    blobs, _manifest = fixture_set
    done = run(["inspect", str(blobs / "column.expr.bin"), "--summary"], None)
    assert done.returncode == 0
    assert "GITHUB_STEP_SUMMARY is not set" in done.stderr
    assert "Expression" in done.stdout


def test_several_inputs_make_one_document_with_a_section_each(fixture_set: tuple[Path, dict]) -> None:
    """Each section starts as a heading (a blank line ends the previous one's <details> HTML block)."""
    blobs, _manifest = fixture_set
    paths = [str(blobs / n) for n in ("plan_parquet.logical.bin", "udf_closure.expr.bin", "column.expr.bin")]
    done = run(["inspect", *paths, "--format", "markdown"], None)
    assert done.returncode == 0, done.stderr
    assert_gfm(done.stdout)
    tokens = MarkdownIt("commonmark").enable("table").parse(done.stdout)
    h3 = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h3"]
    assert [h.split("`")[1] for h in h3] == paths
