"""Where notebooks execute: one interface, three executors.

``submit(key, path)`` hands a notebook over; ``ready()`` returns the ``(key, ExecResult)``
pairs finished so far without waiting; ``rest()`` waits for the others. :func:`make_runner`
picks the executor from the settings: this process (``--jobs 1``), ``--jobs`` worker processes,
or Dask tasks (``--cluster``). Only execution runs in workers: the gradebook is written by the
process that grades, the only writer.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

from .config import Settings
from .execute import ExecResult, execute_notebook


def safe_execute(path: str, *args) -> ExecResult:
    """:func:`~autograder.execute.execute_notebook`, never raising: one notebook never stops the run."""
    try:
        return execute_notebook(path, *args)
    except Exception as e:  # noqa: BLE001 - never let one notebook stop the run
        return ExecResult(path, 0.0, f"could not be executed: {type(e).__name__}: {e}")


def _arguments(settings: Settings) -> tuple:
    """What every execution gets besides the notebook's path, from the settings (never from
    the environment)."""
    return (
        settings.cell_timeout,
        settings.notebook_timeout,
        settings.device,
        settings.warm,
        str(settings.workdir) if settings.sandbox else None,
        settings.secret,
    )


class Runner:
    """Executes each notebook at once, in this process (``--jobs 1``)."""

    def __init__(self, settings: Settings):
        self.args = _arguments(settings)
        self.finished: list[tuple] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def start_workers(self) -> None:
        """Start the workers (and their fork servers) now, before the first notebook comes;
        this process grades in place, so it has nothing to start."""

    def submit(self, key, path: str) -> None:
        self.finished.append((key, safe_execute(path, *self.args)))

    def ready(self) -> list[tuple]:
        done, self.finished = self.finished, []
        return done

    def rest(self) -> Iterator[tuple]:
        yield from self.ready()


def _ready_worker(warm: bool) -> None:
    """A new worker process: with warm kernels, its fork server is started at once, while the
    grading process is still preparing the first submissions."""
    if warm:
        from .forkserver import start

        start()


def _nothing() -> None:
    pass


class PoolRunner(Runner):
    """Executes notebooks in ``settings.jobs`` worker processes (started fresh, not forked),
    all started, with their fork servers, when the runner is entered."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.jobs = settings.jobs
        self.warm = settings.warm
        self.pending: dict = {}  # future -> key
        self.pool: cf.Executor | None = None

    def __enter__(self):
        self.pool = cf.ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_ready_worker,
            initargs=(self.warm,),
        )
        return self

    def start_workers(self) -> None:
        assert self.pool is not None, "use the runner in a with block"
        for _ in range(self.jobs):  # the pool starts a worker for each task no idle worker can take
            self.pool.submit(_nothing)

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def _start(self, path: str):
        assert self.pool is not None, "use the runner in a with block"
        return self.pool.submit(safe_execute, path, *self.args)

    def submit(self, key, path: str) -> None:
        self.pending[self._start(path)] = key

    def ready(self) -> list[tuple]:
        return [(self.pending.pop(f), f.result()) for f in [f for f in self.pending if f.done()]]

    def _as_completed(self, futures: list):
        return cf.as_completed(futures)

    def rest(self) -> Iterator[tuple]:
        yield from self.ready()
        for fut in self._as_completed(list(self.pending)):
            yield self.pending.pop(fut), fut.result()


class DaskRunner(PoolRunner):
    """Executes notebooks as Dask tasks: on a local cluster of ``settings.jobs`` worker
    processes (``--cluster local``) or on a running scheduler whose workers see the working
    folder at the same path."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.address = settings.cluster
        self.client = self.cluster = None
        self._n = 0

    def __enter__(self):
        import dask
        from distributed import Client, LocalCluster

        # Workers start the warm fork server as a child process: they must not be daemonic.
        with dask.config.set({"distributed.worker.daemon": False}):
            if self.address == "local":
                self.cluster = LocalCluster(
                    n_workers=max(1, self.jobs), threads_per_worker=1, processes=True, dashboard_address=None
                )
                self.client = Client(self.cluster)
            else:
                self.client = Client(self.address)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def start_workers(self) -> None:
        assert self.client is not None, "use the runner in a with block"
        self.client.run(_ready_worker, self.warm)

    def _start(self, path: str):
        assert self.client is not None, "use the runner in a with block"
        self._n += 1
        return self.client.submit(safe_execute, path, *self.args, pure=False, key=f"grade-{self._n}-{Path(path).name}")

    def _as_completed(self, futures: list):
        from distributed import as_completed

        return as_completed(futures)


def make_runner(settings: Settings) -> Runner:
    """The executor the settings ask for."""
    if settings.cluster:
        return DaskRunner(settings)
    if settings.jobs > 1:
        return PoolRunner(settings)
    return Runner(settings)
