"""``--engine ray``: the same tasks on Ray core actors, one per worker, recycled after every job.

Each actor's ``__init__`` installs the worker context (the documented ``set_worker_ctx`` pattern) and keeps a
faulthandler log; ``hello`` says what it runs, so a version mismatch is refused before any work; ``load``
decodes once. Results come back as Arrow record batches through Ray's object store (zero-copy on the
driver); shuffled buckets stay in the object store between the map and the reduce actors.

Ray 2.60 pitfalls handled here:
* token auth: an explicit ``--address`` hangs ~21 s, then fails, unless ``RAY_AUTH_MODE=token``; it is set when
  a token is at hand, and connecting is bounded (``EXPRTOOL_RAY_CONNECT_TIMEOUT``) after a TCP probe;
* ``log_to_driver=False``: an actor's prints would land on the driver's stdout (``--format csv``);
* modules the blob names by reference reach actors only through a ``runtime_env`` (``--ray-working-dir``,
  ``--ray-py-module``);
* an actor that cannot be placed waits forever: the cluster's CPUs are checked, and placing is bounded
  (``EXPRTOOL_RAY_SCHEDULE_TIMEOUT``);
* ``RayTaskError`` carries the worker's exception (``cause``): classified as eval classifies it;
  ``ActorDiedError`` names no signal: the actor's faulthandler log gives the signal and the UDF's frame;
* a throwaway local cluster (no ``--address``) is started with ``address="local"`` (``ray.init()`` would join
  whatever cluster runs on the machine) and listens on loopback only.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import socket
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.isolation import ctx_failure
from datafusion_exprtool.actions.eval.runner import EvalJob
from datafusion_exprtool.actions.scale.options import ScaleOptions
from datafusion_exprtool.actions.scale.plan import AHEAD, Unit, pick_worker
from datafusion_exprtool.actions.scale.worker import ScaleWorker, versions
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.context import WorkerSpec
from datafusion_exprtool.sandbox.crash import death
from datafusion_exprtool.sandbox.failure import EvalError, EvalFailure, fail

#: faulthandler's first line -> the signal (multiprocessing's negative exit code), for ``death``
_FATAL = {"Segmentation fault": -11, "Aborted": -6, "Bus error": -7, "Floating point exception": -8,
          "Illegal instruction": -4}  # fmt: skip


class EvalActor:
    """The actor class (made remote at run time: this module imports without Ray)."""

    def __init__(self, spec: WorkerSpec):
        self.fault_path = os.path.join(tempfile.gettempdir(), f"exprtool-actor-{os.getpid()}.fault")
        self._fault = open(self.fault_path, "w")  # noqa: SIM115 - open as long as the actor lives
        faulthandler.enable(file=self._fault, all_threads=True)
        self.failure: EvalFailure | None = None
        try:
            self.worker = ScaleWorker(spec)
        except BaseException as exc:  # noqa: BLE001 - reported by hello(), before any work
            self.failure = ctx_failure(exc)

    def hello(self) -> dict[str, Any]:
        return {**versions(), "fault": self.fault_path, "failure": self.failure}

    def load(self, job: EvalJob, columns: list[str] | None, keys: list[str], buckets: int) -> tuple[float, Any]:
        return self.worker.load(job, columns, keys, buckets)

    def run(self, index: int, unit: Unit | None) -> list[Any] | int:
        """The unit's batches, or (``-o DIR/``) the rows of the part it wrote."""
        if self.worker.parts:
            return self.worker.write_part(index, unit)
        return list(self.worker.run(unit))

    def map(self, unit: Unit) -> tuple[Any, ...]:
        """(rows, then the batches of each bucket): the first is small, so the driver checks it cheaply."""
        parts: list[list[Any]] = [[] for _ in range(self.worker.buckets)]
        rows = 0
        for bucket, part in self.worker.map(unit):
            parts[bucket].append(part)
            rows += part.num_rows
        return (rows, *parts)

    def reduce(self, index: int, *parts: list[Any]) -> list[Any] | int:
        import pyarrow as pa

        batches = [b for part in parts for b in part]
        table = pa.Table.from_batches(batches) if batches else self.worker.empty()
        if self.worker.parts:
            return self.worker.write_part(index, source=lambda ctx: ctx.from_arrow(table))
        return list(self.worker.reduce(lambda ctx: ctx.from_arrow(table)))


def import_ray(local: bool = False) -> Any:
    """Ray, imported here only. ``local``: a throwaway cluster is coming, to be kept on loopback, which Ray
    reads from its environment when it is first imported (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, its switch
    for single-host clusters: otherwise Ray replaces 127.0.0.1 by the machine's outward address)."""
    if local and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise fail(
            "input", "--engine ray needs Ray installed", exit_code=ExitCode.USAGE,
            hint="pip install 'datafusion-exprtool[ray]'",
        ) from None  # fmt: skip
    return ray


def _token_at_hand() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return True
    return os.path.isfile(os.path.expanduser("~/.ray/auth_token"))


def connect(ray: Any, opts: ScaleOptions, workers: int, runtime_env: dict[str, Any]) -> bool:
    """Join ``--address`` or start a throwaway local cluster; True when this call started Ray.

    ``runtime_env`` goes to ``ray.init``: Ray uploads local directories and modules for a job only."""
    if ray.is_initialized():  # the caller's own session (the library in a Ray driver): use it, keep it
        if runtime_env:
            raise fail(
                "connect", "--ray-working-dir / --ray-py-module need exprtool to start the Ray job, and this "
                "process is already connected to Ray", exit_code=ExitCode.USAGE,
                hint="pass them to your own ray.init(runtime_env={'working_dir': ..., 'py_modules': [...]})",
            )  # fmt: skip
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if runtime_env:
        kwargs["runtime_env"] = runtime_env
    if opts.address is None:
        ray.init(address="local", num_cpus=max(workers, os.cpu_count() or 1), include_dashboard=False, **kwargs)
        return True
    address = opts.address
    if address != "auto":
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or address, int(port or 6379)), timeout=min(5.0, opts.connect_timeout)).close()
        except (OSError, ValueError) as exc:
            raise fail(
                "connect", f"cannot reach the Ray cluster at {address}: {exc}", exit_code=ExitCode.EVAL_FAILED,
                hint="start one with `ray start --head`, or pass the head node's GCS address (host:6379)",
            ) from None  # fmt: skip
        if "RAY_AUTH_MODE" not in os.environ and _token_at_hand():
            os.environ["RAY_AUTH_MODE"] = "token"  # Ray 2.60 asks for it with an explicit address
    error: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=init, name="exprtool-ray-connect", daemon=True)
    thread.start()
    thread.join(opts.connect_timeout)
    if thread.is_alive() or error:
        why = f"no answer within {opts.connect_timeout:g} s" if thread.is_alive() else " ".join(str(error[0]).split())
        raise fail(
            "connect", f"cannot connect to the Ray cluster at {address}: {why}", exit_code=ExitCode.EVAL_FAILED,
            hint="a cluster with token auth needs its token (RAY_AUTH_TOKEN or ~/.ray/auth_token) and "
            "RAY_AUTH_MODE=token; EXPRTOOL_RAY_CONNECT_TIMEOUT sets the wait",
        )  # fmt: skip
    return True


def _cluster_cpus(ray: Any, wanted: int, patience: float) -> int:
    """The cluster's CPUs, waited for a little while fewer than ``wanted`` (nodes still registering)."""
    import time

    deadline = time.monotonic() + patience
    while True:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus >= wanted or time.monotonic() > deadline:
            return cpus
        time.sleep(0.2)


class RayPool:
    """Ray actors behind the driver's four calls: hello, load, results, close."""

    def __init__(self, requested: int | None, spec: WorkerSpec, opts: ScaleOptions):
        self.ray = import_ray(local=opts.address is None)
        self.requested, self.spec, self.opts = requested, spec, opts
        self.size = requested or 0
        self.actors: list[Any] = []
        self.faults: dict[Any, str] = {}
        self.started = False
        self.functions: dict[str, str] = {}
        self.parts: list[list[Any]] = []
        self.buckets = 1

    def runtime_env(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        if self.opts.ray_working_dir:
            env["working_dir"] = os.path.abspath(self.opts.ray_working_dir)
        if self.opts.ray_py_modules:
            env["py_modules"] = [os.path.abspath(p) for p in self.opts.ray_py_modules]
        return env

    def hello(self) -> list[dict[str, str]]:
        ray = self.ray
        self.started = connect(ray, self.opts, self.requested or 1, self.runtime_env())
        cpus = _cluster_cpus(ray, self.requested or 1, min(10.0, self.opts.schedule_timeout))
        self.size = self.requested or cpus or 1
        if cpus < self.size:
            raise fail(
                "schedule", f"the Ray cluster has {cpus} CPU(s); {self.size} actors need one each",
                hint="lower --workers, or add nodes", exit_code=ExitCode.USAGE,
            )  # fmt: skip
        actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(EvalActor)
        self.actors = [actor_class.remote(self.spec) for _ in range(self.size)]
        refs = [actor.hello.remote() for actor in self.actors]
        _ready, waiting = ray.wait(refs, num_returns=len(refs), timeout=self.opts.schedule_timeout)
        if waiting:
            free = ray.available_resources().get("CPU", 0)
            raise fail(
                "schedule", f"{len(waiting)} of {self.size} Ray actors were not placed within "
                f"{self.opts.schedule_timeout:g} s ({free:g} CPU(s) free)",
                hint="the cluster is busy, or a runtime environment is still being set up: lower --workers, or "
                "set EXPRTOOL_RAY_SCHEDULE_TIMEOUT", exit_code=ExitCode.EVAL_FAILED,
            )  # fmt: skip
        out = []
        for actor, ref in zip(self.actors, refs, strict=True):
            said = self._get(ref, "worker-ctx", actor)
            if said["failure"] is not None:
                raise EvalError(said["failure"])
            self.faults[actor] = said["fault"]
            out.append(said)
        return out

    def load(self, job: EvalJob, columns: list[str] | None, keys: list[str], buckets: int) -> tuple[float, Any]:
        self.functions, self.buckets = job.python_functions, buckets
        self.parts = [[] for _ in range(buckets)]
        shared = self.ray.put(job)
        refs = [actor.load.remote(shared, columns, keys, buckets) for actor in self.actors]
        stage = "unpickle" if job.container == "pickle" else "decode"
        said = [self._get(ref, stage, actor) for actor, ref in zip(self.actors, refs, strict=True)]
        return max(took for took, _schema in said), said[0][1]

    def _submit(self, actor: Any, index: int, task: tuple[Any, ...]) -> Any:
        if task[0] == "run":
            return actor.run.remote(index, task[1])
        if task[0] == "map":
            refs = actor.map.options(num_returns=self.buckets + 1).remote(task[1])
            for bucket in range(self.buckets):
                self.parts[bucket].append(refs[bucket + 1])
            return refs[0]
        parts, self.parts[task[1]] = self.parts[task[1]], []  # Ray holds them until the reduce ends
        return actor.reduce.remote(index, *parts)

    def results(self, tasks: list[tuple[Any, ...]]) -> Iterator[tuple[str, int, Any]]:
        ray = self.ray
        pending = deque(range(len(tasks)))
        held: list[list[int]] = [[] for _ in self.actors]  # the tasks each actor runs or has queued
        flying: dict[Any, tuple[int, int]] = {}
        landed: dict[int, tuple[Any, Any]] = {}
        current = 0
        while current < len(tasks):
            while pending and pending[0] < current + AHEAD * len(self.actors):
                which = pick_worker([[tasks[i] for i in mine] for mine in held], tasks[pending[0]])
                if which is None:
                    break
                index = pending.popleft()
                held[which].append(index)
                flying[self._submit(self.actors[which], index, tasks[index])] = (which, index)
            if current in landed:
                actor, ref = landed.pop(current)
                value = self._get(ref, "execute", actor)
                if isinstance(value, int):  # a map task's rows, or a part written (-o DIR/)
                    yield ("done", current, value)
                else:
                    for batch in value:
                        yield ("batch", current, batch)
                    yield ("done", current, sum(b.num_rows for b in value))
                current += 1
                continue
            ready, _ = ray.wait(list(flying), num_returns=1)
            for ref in ready:
                which, index = flying.pop(ref)
                landed[index] = (self.actors[which], ref)
                held[which].remove(index)

    def _get(self, ref: Any, stage: str, actor: Any) -> Any:
        """``ray.get`` with Ray's failures turned into eval's."""
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as exc:
            raise EvalError(classify(exc.cause, stage, self.functions)) from None
        except (exceptions.ActorDiedError, exceptions.ActorUnavailableError) as exc:
            raise EvalError(self._died(actor, stage, exc)) from None

    def _died(self, actor: Any, stage: str, exc: BaseException) -> EvalFailure:
        """An actor that vanished: its faulthandler log names the signal and the UDF's frame."""
        path = self.faults.get(actor)
        text = ""
        if path and os.path.isfile(path):
            with open(path, errors="replace") as fh:
                text = fh.read()
        first = text.strip().splitlines()[0] if text.strip() else ""
        code = next((c for name, c in _FATAL.items() if name in first), None)
        if not text:
            said = " ".join(str(exc).split())[:300]
            where = f" (its fault log on that node: {path})" if path else ""
            return EvalFailure(stage=stage, message=f"a Ray actor died: {said}{where}",
                               hint="a segfault or abort in native code, or the node ran out of memory")  # fmt: skip
        failure = death(code if code is not None else 1, stage, text, self.functions)
        failure.message = failure.message.replace("the worker", "the Ray actor", 1)
        return failure

    def close(self) -> None:
        for actor in self.actors:  # recycled after every job: an actor's memory grows from job to job
            try:
                self.ray.kill(actor)
            except Exception:  # noqa: BLE001 - already dead
                pass
        for path in self.faults.values():
            try:
                os.unlink(path)
            except OSError:
                pass
        self.actors = []
        if self.started:
            self.ray.shutdown()
