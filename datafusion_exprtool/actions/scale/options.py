"""What the caller asked of a scaled replay: how many workers, on which engine, and Ray's connection."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.failure import fail

ENGINES = ("local", "ray")
#: how long connecting to a Ray cluster may take before exprtool gives up, in seconds
RAY_CONNECT_TIMEOUT = float(os.environ.get("EXPRTOOL_RAY_CONNECT_TIMEOUT", "30"))
#: how long Ray may take to place every actor (a cluster with too few free CPUs never does), in seconds
RAY_SCHEDULE_TIMEOUT = float(os.environ.get("EXPRTOOL_RAY_SCHEDULE_TIMEOUT", "60"))


@dataclass
class ScaleOptions:
    """``--workers`` (None: 1 locally, every CPU of the cluster on Ray), ``--engine``, ``--address`` and the
    Ray runtime environment that carries the modules a blob names by reference to the actors."""

    workers: int | None = None
    engine: str = "local"
    address: str | None = None
    ray_working_dir: str | None = None
    ray_py_modules: list[str] = field(default_factory=list)
    connect_timeout: float = RAY_CONNECT_TIMEOUT
    schedule_timeout: float = RAY_SCHEDULE_TIMEOUT

    @property
    def scaled(self) -> bool:
        """False for the plain one-worker replay (``--workers 1`` on the local engine)."""
        return self.engine == "ray" or local_workers(self.workers) > 1

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        if self.engine not in ENGINES:
            raise fail("input", f"--engine {self.engine!r}", hint="one of: local, ray", exit_code=ExitCode.USAGE)
        if self.engine != "ray" and (self.address or self.ray_working_dir or self.ray_py_modules):
            raise fail(
                "input",
                "--address, --ray-working-dir and --ray-py-module apply to --engine ray",
                exit_code=ExitCode.USAGE,
            )
        for path in [*(p for p in [self.ray_working_dir] if p), *self.ray_py_modules]:
            if not os.path.exists(path):
                raise fail("input", f"no such file or directory: {path}", file=path, exit_code=ExitCode.USAGE)


def parse_workers(text: str | None) -> int | None:
    """``--workers N`` or ``auto`` (this machine's CPU count; on Ray: the cluster's); None when not given."""
    if text is None:
        return None
    if text.strip().lower() == "auto":
        return 0  # resolved by the engine: os.cpu_count() locally, the cluster's CPUs on Ray
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise fail(
            "input", f"--workers {text!r} is not a positive number or 'auto'", exit_code=ExitCode.USAGE
        )
    return value


def local_workers(requested: int | None) -> int:
    """The number of local worker processes: ``auto`` (0) is the CPU count."""
    if requested == 0:
        return os.cpu_count() or 1
    return requested or 1
