"""``--workers N`` on this machine: N worker processes started like eval's isolated worker.

Each process is spawned (or forkserver/fork, ``--isolate``) with the import path a fresh Pool worker has,
in an empty working directory, its stderr and faulthandler's dumps in files the driver reads when it dies.
The driver hands out one task at a time to each idle worker and reads every worker's pipe; results come
back as record batches, and the driver yields them in task order (a bounded number of tasks run ahead).
Shuffled rows go through Arrow IPC files in a directory of the driver's, one per map task and bucket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from datafusion_exprtool.actions.eval.failure import classify
from datafusion_exprtool.actions.eval.isolation import ctx_failure
from datafusion_exprtool.actions.eval.runner import EvalJob
from datafusion_exprtool.actions.scale.plan import AHEAD, pick_worker
from datafusion_exprtool.actions.scale.worker import ScaleWorker, versions
from datafusion_exprtool.errors import ExitCode
from datafusion_exprtool.sandbox.context import WorkerSpec
from datafusion_exprtool.sandbox.crash import death, fold, pass_on_stderr
from datafusion_exprtool.sandbox.failure import EvalError, fail
from datafusion_exprtool.sandbox.process import (
    CTX_TIMEOUT,
    ctrl_c_held,
    ctrl_c_released,
    without_main,
    worker_process,
    worker_sys_path,
)


def _bucket_dir(shuffle: str, bucket: int) -> str:
    return os.path.join(shuffle, f"bucket-{bucket}")


def _serve(conn: Any, worker: ScaleWorker, shuffle: str) -> None:
    """The worker's loop: tasks in, batches and a ``done`` out, until ``stop``."""
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            return
        if msg[0] == "load":
            conn.send(("loaded", worker.load(*msg[1:])))
            continue
        _kind, index, task = msg
        rows = 0
        if task[0] == "map":
            import pyarrow as pa

            writers: dict[int, Any] = {}
            try:
                for bucket, part in worker.map(task[1]):
                    if bucket not in writers:
                        path = os.path.join(_bucket_dir(shuffle, bucket), f"part-{index}.arrow")
                        writers[bucket] = pa.ipc.new_file(path, part.schema)
                    writers[bucket].write_batch(part)
                    rows += part.num_rows
            finally:
                for writer in writers.values():
                    writer.close()
        else:
            source = None
            if task[0] == "reduce":
                bucket_dir = _bucket_dir(shuffle, task[1])
                has_parts = any(name.endswith(".arrow") for name in os.listdir(bucket_dir))

                def source(ctx: Any, d: str = bucket_dir, some: bool = has_parts) -> Any:
                    return ctx.read_arrow(d) if some else ctx.from_arrow(worker.empty())

            if worker.parts:
                rows = worker.write_part(index, task[1] if source is None else None, source)
            else:
                for batch in worker.run(task[1]) if source is None else worker.reduce(source):
                    conn.send(("batch", index, batch))
                    rows += batch.num_rows
        conn.send(("done", index, rows))


def _main(
    conn: Any, spec: WorkerSpec, sys_path: list[str], cwd: str, fault_path: str, stderr_path: str, shuffle: str
) -> None:
    """Worker entry point (module level, so that spawn can import it)."""
    with worker_process(sys_path, cwd, fault_path, stderr_path):
        try:
            ctrl_c_released()  # held while it started; from here a Ctrl-C ends it at once (below)
            try:
                worker = ScaleWorker(spec)
            except BaseException as exc:
                conn.send(("failure", ctx_failure(exc)))
                return
            conn.send(("hello", versions()))
            _serve(conn, worker, shuffle)
        except EvalError as exc:
            conn.send(("failure", exc.failure))
        except (EOFError, OSError, KeyboardInterrupt):  # the driver went away or stopped us
            pass
        except BaseException as exc:  # noqa: BLE001 - reported, never re-raised in a worker
            conn.send(("failure", classify(exc, "execute")))
        finally:
            conn.close()


class _Proc:
    """One worker process and the files it leaves for the driver."""

    def __init__(self, mpctx: Any, spec: WorkerSpec, shuffle: str):
        self.conn, child = mpctx.Pipe(duplex=True)
        fd, self.fault_path = tempfile.mkstemp(prefix="exprtool-fault-", suffix=".txt")
        os.close(fd)
        fd, self.stderr_path = tempfile.mkstemp(prefix="exprtool-stderr-", suffix=".txt")
        os.close(fd)
        self.workdir = tempfile.mkdtemp(prefix="exprtool-worker-")
        args = (child, spec, worker_sys_path(), self.workdir, self.fault_path, self.stderr_path, shuffle)
        self.proc = mpctx.Process(target=_main, args=args, name="exprtool-scale-worker", daemon=True)
        with without_main(), ctrl_c_held(mpctx.get_start_method()):
            self.proc.start()
        child.close()
        self.stage = "worker-ctx"
        self.passed_on = False  # its stderr was copied to ours
        self.owed = 1  # answers it owes (its hello, then one per load or task): 0 when it waits for the driver

    def ask(self, msg: tuple[Any, ...]) -> None:
        """Send a load or a task, which it answers with ``loaded`` or its task's ``done``."""
        self.conn.send(msg)
        self.owed += 1

    def pass_on(self) -> list[Any]:
        """Copy what the worker printed to our stderr (once); the Rust panics in it."""
        if self.passed_on:
            return []
        self.passed_on = True
        return pass_on_stderr(self.stderr_path)

    def died(self, functions: dict[str, str]) -> EvalError:
        self.proc.join(5)
        with open(self.fault_path, errors="replace") as fh:
            failure = death(self.proc.exitcode, self.stage, fh.read(), functions)
        fold(failure, self.pass_on())
        return EvalError(failure)

    def recv(self, functions: dict[str, str]) -> Any:
        try:
            msg = self.conn.recv()
        except (EOFError, OSError):
            raise self.died(functions) from None
        if msg[0] == "failure":
            self.proc.join(5)
            fold(msg[1], self.pass_on())
            raise EvalError(msg[1])
        if msg[0] in ("hello", "loaded", "done"):
            self.owed -= 1
        return msg

    def close(self) -> None:
        """Stop it: asked to when it waits for the driver, killed at once when it is still at work (the run
        ended early: --limit reached, the reader left, another worker failed): a worker blocked sending batches
        nobody reads, or inside a long task, never reads the stop (2 s per worker went by before the kill)."""
        if self.owed == 0:
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(("stop",))
            self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()
        self.pass_on()  # what user code printed, as a one-process replay shows it
        for path in (self.fault_path, self.stderr_path):
            with contextlib.suppress(OSError):
                os.unlink(path)
        shutil.rmtree(self.workdir, ignore_errors=True)


class LocalPool:
    """N spawned worker processes behind the driver's four calls: hello, load, results, close."""

    def __init__(self, size: int, spec: WorkerSpec, method: str = "spawn"):
        self.size, self.spec, self.method = size, spec, method
        self.procs: list[_Proc] = []
        self.shuffle = ""
        self.functions: dict[str, str] = {}

    def hello(self) -> list[dict[str, str]]:
        """Start every worker (they build their contexts in parallel); what each runs."""
        import multiprocessing as mp

        mpctx = mp.get_context(self.method)
        self.shuffle = tempfile.mkdtemp(prefix="exprtool-shuffle-")
        self.procs = [_Proc(mpctx, self.spec, self.shuffle) for _ in range(self.size)]
        out = []
        for proc in self.procs:
            if not proc.conn.poll(CTX_TIMEOUT):
                raise fail("worker-ctx", f"{self.spec.factory}() did not return within {CTX_TIMEOUT:g} s",
                           hint="set EXPRTOOL_WORKER_CTX_TIMEOUT to wait longer", exit_code=ExitCode.USAGE)  # fmt: skip
            out.append(proc.recv(self.functions)[1])
        return out

    def load(self, job: EvalJob, columns: list[str] | None, keys: list[str], buckets: int) -> tuple[float, Any]:
        self.functions = job.python_functions
        for bucket in range(buckets if keys else 0):
            os.makedirs(_bucket_dir(self.shuffle, bucket), exist_ok=True)
        for proc in self.procs:
            proc.stage = "unpickle" if job.container == "pickle" else "decode"
            proc.ask(("load", job, columns, keys, buckets))
        said = [proc.recv(self.functions)[1] for proc in self.procs]
        for proc in self.procs:
            proc.stage = "execute"
        return max(took for took, _schema in said), said[0][1]

    def results(self, tasks: list[tuple[Any, ...]]) -> Iterator[tuple[str, int, Any]]:
        """("batch", task, batch) and ("done", task, rows) events, in task order.

        Each worker has up to ``AHEAD`` tasks queued in its pipe (a task of the balanced tail: only when it is
        idle; ``plan.pick_worker``), so it starts the next one without waiting for the driver (busy writing
        the output) to hand it out; the driver keeps the results of tasks ahead of the one it delivers, at
        most ``AHEAD`` x workers of them."""
        from collections import deque
        from multiprocessing.connection import wait

        pending = deque(range(len(tasks)))
        queued: dict[Any, deque[int]] = {proc.conn: deque() for proc in self.procs}
        procs = {proc.conn: proc for proc in self.procs}
        held: dict[int, list[tuple[str, int, Any]]] = {}
        finished: set[int] = set()
        current = 0
        while current < len(tasks):
            while pending and pending[0] < current + AHEAD * self.size:
                conns = list(queued)
                which = pick_worker([[tasks[i] for i in queued[c]] for c in conns], tasks[pending[0]])
                if which is None:
                    break
                conn = conns[which]
                index = pending.popleft()
                procs[conn].ask(("task", index, tasks[index]))
                queued[conn].append(index)
            for conn in wait([c for c, q in queued.items() if q]):
                msg = procs[conn].recv(self.functions)
                index = msg[1]  # a worker answers its tasks in the order it got them
                if msg[0] == "done":
                    finished.add(index)
                    queued[conn].popleft()
                if index == current:
                    yield msg
                else:
                    held.setdefault(index, []).append(msg)
            while current in finished:
                current += 1
                for msg in held.pop(current, []):
                    yield msg

    def close(self) -> None:
        for proc in self.procs:
            proc.close()
        if self.shuffle:
            shutil.rmtree(self.shuffle, ignore_errors=True)
