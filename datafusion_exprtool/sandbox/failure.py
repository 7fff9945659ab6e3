"""One failure of a run: the stage (input, worker-ctx, decode, plan, execute, write, ...), the function concerned,
datafusion's own words, as plain picklable data so an isolated worker can report it to its parent;
``EvalError`` carries one inside a process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datafusion_exprtool.errors import ExitCode


@dataclass
class EvalFailure:
    """One failure of a run: the stage it happened in, the function concerned, datafusion's own words."""

    stage: str  # input, safety, schema, worker-ctx, unpickle, decode, udf-decode, plan, execute, write
    message: str
    function: str | None = None
    hint: str | None = None
    file: str | None = None  # the file concerned (parquet input, worker-ctx module, output) or a UDF location
    exit_code: int = ExitCode.EVAL_FAILED
    details: list[str] = field(default_factory=list)  # extra lines (e.g. the first differing rows)
    catalog_id: str | None = None  # the error catalog's entry for datafusion's text, when it knows it
    # datafusion's own message, verbatim but for an embedded Python traceback (what `exprtool explain` reads)
    original: str | None = None
    debug: list[str] = field(default_factory=list)  # shown with --verbose (a panic's location, backtrace)

    @property
    def cause(self) -> str | None:
        """``"catalog-id: title"`` of the catalog entry, or None."""
        if self.catalog_id is None:
            return None
        from datafusion_exprtool.catalog import CATALOG

        return f"{self.catalog_id}: {CATALOG[self.catalog_id].title}"

    def __str__(self) -> str:
        parts = [f"{self.stage} failed"]
        if self.function:
            parts.append(f" in function '{self.function}'")
        text = "".join(parts) + f": {self.message}"
        if self.file:
            text += f" [{self.file}]"
        if self.hint:
            text += f" (fix: {self.hint})"
        return text


class EvalError(Exception):
    def __init__(self, failure: EvalFailure):
        super().__init__(str(failure))
        self.failure = failure

    def __reduce__(self) -> tuple[type[EvalError], tuple[EvalFailure]]:
        """Pickled with its failure (Ray sends a worker's exception to the driver as a pickle)."""
        return (EvalError, (self.failure,))


def fail(stage: str, message: str, **kw: object) -> EvalError:
    """Shorthand: ``raise fail("schema", "...", hint=...)``."""
    return EvalError(EvalFailure(stage, message, **kw))  # type: ignore[arg-type]

