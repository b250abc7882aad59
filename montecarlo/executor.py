"""Where replications run: a local pool of forked processes (the default), or a Dask cluster.

Both executors take the same thing: a module-level function ``fn``, an iterator of task tuples (the
first item names the task's kind, e.g. its check id) and ``take``, which receives each result. Both
keep a bounded number of tasks in flight, so memory does not grow with the number of tasks, and
neither decides what a result is: a task's result depends only on its tuple, so the caller, which
files each result under its task, gets the same bytes whoever ran it and in whatever order.

- :class:`LocalPool` forks ``jobs`` workers that inherit the caller's state (built checks, tables),
  ignore Ctrl-C/SIGTERM/SIGHUP (the parent stops them) and die with the parent.
- :class:`DaskExecutor` (``dask.distributed``, an optional extra) sends batches of consecutive
  tasks of one kind, sized from measured run times to take about :data:`TARGET_SECONDS`; a worker
  that dies mid-run has its batches rerun elsewhere by the scheduler. Tasks must carry everything
  they need (``portable``): a Dask worker has not inherited anything. Dask is imported only here,
  and only when a Dask executor is asked for.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pickle
import signal
import struct
import sys
import time

WINDOW = 3  # tasks in flight per worker: enough to keep every worker busy, bounded whatever the samples
#: What stops a run; blocked while forking, ignored by workers (their parent stops them).
STOP_SIGNALS = frozenset(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

TARGET_SECONDS = 1.5  # a Dask batch's aimed run time: well above the per-task overhead, well below 5 s
MAX_BATCH = 4096  # tasks per Dask batch, whatever their measured cost
CONNECT_TIMEOUT = 5.0  # seconds to reach a scheduler
WORKER_TIMEOUT = 10.0  # seconds for a reached scheduler to have a worker


class SchedulerError(Exception):
    """Dask cannot be used as asked (not installed, unreachable, no workers, lost mid-run): one line."""


def die_with_parent(parent_pid: int) -> None:
    """Make this (forked) process die when its parent does: Linux kills it (``PR_SET_PDEATHSIG``,
    SIGKILL) the moment the parent exits, however it exits; elsewhere a watchdog thread notices.
    Exits at once if the parent is already gone (it died before the request took effect)."""
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if not armed:
        import threading

        def watch():
            while os.getppid() == parent_pid:
                time.sleep(0.2)
            os._exit(1)

        threading.Thread(target=watch, name="initvar-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:
        os._exit(1)


#: True when the caller loaded NumPy with one BLAS thread by the environment (the command line does:
#: ``initvar.process.single_threaded_blas``): the forked workers inherit that, and skip threadpoolctl's
#: inspection of every loaded library (a sixth of a one-check run's pool start).
BLAS_PINNED = False


def _one_blas_thread():
    """One BLAS thread in this process from now on (the floating-point reduction order, and so every byte of the
    results, must not depend on the number of workers), as a context that restores the previous count when it
    is used as one."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


def _one_blas_thread_here():
    """A context in which this process computes with one BLAS thread, as the workers do (with one job: a result
    must not depend on the number of them): nothing to do when NumPy was loaded with one (BLAS_PINNED)."""
    return contextlib.nullcontext() if BLAS_PINNED else _one_blas_thread()


def _init_worker(parent_pid: int):
    # Workers leave Ctrl-C, SIGTERM and SIGHUP to the parent, which stops them itself.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    die_with_parent(parent_pid)
    if not BLAS_PINNED:
        _one_blas_thread()


class WorkerDied(RuntimeError):
    """A local worker process ended while it held tasks (killed from outside, or out of memory)."""


_HEADER = struct.Struct("<Q")  # the byte length of each pickled message on a worker's pipes


def _read_exact(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``, or None at end of file before the first byte (a closed pipe)."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            if left == size:
                return None
            raise EOFError("a message cut short")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int):
    """The next pickled message on ``fd``, or None when the writer has closed it."""
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    if body is None:
        raise EOFError("a message cut short")
    return pickle.loads(body)


def _pack(message) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _failure(exc: BaseException):
    """A worker's exception as it can be sent: the exception itself, with the worker's traceback as a note
    (or, when it cannot be pickled, a RuntimeError that names it)."""
    import traceback

    text = "".join(traceback.format_exception(exc))
    try:
        exc.add_note(f"(raised in a worker process)\n{text}")
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"a worker process failed:\n{text}")


def _serve(fn, tasks_in: int, results_out: int, parent_pid: int) -> None:
    """A forked worker's life: ``fn`` on each task read from ``tasks_in``, each result (or exception) written to
    ``results_out``, until the parent closes ``tasks_in``. Never returns: the parent's exit handlers, buffers and
    finalizers are not the worker's to run."""
    code = 0
    try:
        _init_worker(parent_pid)
        while (task := _receive(tasks_in)) is not None:
            try:
                reply = (True, fn(task))
            except BaseException as exc:  # noqa: BLE001 -- handed to the parent, which raises it
                reply = (False, _failure(exc))
            try:
                data = _pack(reply)
            except Exception as exc:  # a result that cannot be pickled
                data = _pack((False, _failure(exc)))
            _write(results_out, data)
    except BaseException:  # noqa: BLE001 -- a broken pipe: the parent is gone or stopping this worker
        code = 1
    finally:
        os._exit(code)


class _Worker:
    """The parent's end of one forked worker: its pid, the pipe its tasks go down, the pipe its results come
    up, and how many of its tasks are in flight."""

    def __init__(self, pid: int, tasks_out: int, results_in: int):
        self.pid, self.tasks_out, self.results_in, self.pending = pid, tasks_out, results_in, 0
        self.status = None

    def close(self) -> None:
        for fd in (self.tasks_out, self.results_in):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.tasks_out = self.results_in = -1

    def reap(self, *, kill: bool, patience: float = 0.0) -> None:
        """Wait for the worker's end (its status in ``status``); ``kill``: kill it first; ``patience``: seconds to
        let it end by itself before it is killed."""
        if self.status is not None:
            return
        deadline = time.monotonic() + patience
        with contextlib.suppress(ChildProcessError, OSError):
            while not kill and time.monotonic() < deadline:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self.status = status
                    return
                time.sleep(0.01)
            if kill or patience:
                os.kill(self.pid, signal.SIGKILL)
            self.status = os.waitpid(self.pid, 0)[1]


def _fork_workers(fn, jobs: int) -> list[_Worker]:
    """Fork ``jobs`` workers serving ``fn``. Each closes every pipe end that is not its own, so that a
    worker sees the end of its tasks when the parent closes their pipe, whoever else was forked after it."""
    parent = os.getpid()
    for stream in (sys.stdout, sys.stderr):  # what the parent printed is not printed again by a worker
        with contextlib.suppress(Exception):
            stream.flush()
    workers: list[_Worker] = []
    try:
        for _ in range(jobs):
            tasks_in, tasks_out = os.pipe()
            results_in, results_out = os.pipe()
            try:
                pid = os.fork()
            except BaseException:
                for fd in (tasks_in, tasks_out, results_in, results_out):
                    os.close(fd)
                raise
            if pid == 0:  # the worker
                try:
                    for fd in (tasks_out, results_in, *(f for w in workers for f in (w.tasks_out, w.results_in))):
                        os.close(fd)
                finally:
                    _serve(fn, tasks_in, results_out, parent)
            os.close(tasks_in)
            os.close(results_out)
            workers.append(_Worker(pid, tasks_out, results_in))
    except BaseException:
        _stop_workers(workers, kill=True)
        raise
    return workers


def _stop_workers(workers, *, kill: bool) -> None:
    """Close the pipes to ``workers`` (which then exit) and wait for them; ``kill``: kill them first (they hold
    no output)."""
    for worker in workers:
        if kill:
            worker.reap(kill=True)
        worker.close()
    for worker in workers:
        worker.reap(kill=False)


def _describe_exit(status) -> str:
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"was killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"was killed by signal {sig}"
    if status is not None and os.WIFEXITED(status):
        return f"exited with status {os.WEXITSTATUS(status)}"
    return "ended"


def _run_pool(fn, tasks, jobs: int, take) -> None:
    """Run ``fn`` on each of ``tasks`` (an iterator) on ``jobs`` forked workers, at most ``WINDOW`` in flight
    per worker, handing each result to ``take``; on any interruption kill the workers and re-raise.

    The workers are plain forks talking pickles over pipes: ``fn`` and what it refers to are inherited, not
    sent, and nothing beyond the standard library's core is imported (a one-check run spends less time
    starting its workers than ``multiprocessing`` would take to import). This process only hands out tasks and
    collects results, so that it notices a worker's end or a Ctrl-C at once: computing tasks here too made a
    one-check run 5% faster, but a dead worker then went unnoticed, and a Ctrl-C unanswered, until this
    process's own task returned (37 s for a sweep task; 1.5 s for one NumPy call on a loaded machine)."""
    import select

    tasks = iter(tasks)
    workers: list[_Worker] = []
    # Ctrl-C or SIGTERM arriving while a worker is forked would be inherited as a pending Python signal and
    # run the parent's handler inside the child: block them until the workers exist and have ignored them.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        try:
            workers = _fork_workers(fn, jobs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        ready = select.poll()  # select.poll itself: `selectors` costs a millisecond to import and adds nothing
        by_fd = {}
        for worker in workers:
            ready.register(worker.results_in, select.POLLIN)
            by_fd[worker.results_in] = worker
        in_flight, exhausted = 0, False
        while True:
            # top up: each new task to the worker with the fewest in flight (round robin at the start)
            while not exhausted and in_flight < WINDOW * len(workers):
                task = next(tasks, _END)
                if task is _END:
                    exhausted = True
                    break
                worker = min(workers, key=lambda w: w.pending)
                try:
                    _write(worker.tasks_out, _pack(task))
                except BrokenPipeError:
                    _lost(worker)
                worker.pending += 1
                in_flight += 1
            if not in_flight:
                break
            for fd, _ in ready.poll():
                worker = by_fd[fd]
                try:
                    message = _receive(worker.results_in)
                except EOFError:  # it died while writing a result
                    message = None
                if message is None:
                    _lost(worker)
                worker.pending -= 1
                in_flight -= 1
                ok, value = message
                if not ok:
                    raise value
                take(value)
    except BaseException:
        _stop_workers(workers, kill=True)
        raise
    _stop_workers(workers, kill=False)


_END = object()


def _lost(worker: _Worker) -> None:
    """Raise :class:`WorkerDied` for ``worker``, whose pipe closed while it held tasks (so it has ended, or is
    ending: a worker that has not ended within a second is killed rather than waited for)."""
    worker.reap(kill=False, patience=1.0)
    killed = (
        worker.status is not None and os.WIFSIGNALED(worker.status) and os.WTERMSIG(worker.status) == signal.SIGKILL
    )
    hint = " (the system may have run out of memory)" if killed else ""
    raise WorkerDied(f"a worker process {_describe_exit(worker.status)} during the run{hint}")


class LocalPool:
    """``jobs`` forked worker processes on this machine (one task at a time in this process when
    ``jobs`` is 1 or there is a single task). The default; needs nothing beyond the standard library."""

    portable = False  # forked workers inherit the caller's state: tasks may refer to it by name

    def __init__(self, jobs: int = 1):
        self.jobs = max(1, int(jobs))

    def run(self, fn, tasks, ntasks: int, take, *, prepare=None) -> None:
        """``take(fn(task))`` for each of the ``ntasks`` tasks; ``prepare()`` first when workers are
        forked (what it builds, they inherit)."""
        if self.jobs > 1 and ntasks > 1:
            if prepare is not None:
                prepare()
            _run_pool(fn, tasks, min(self.jobs, ntasks), take)
        else:
            with _one_blas_thread_here():
                for task in tasks:
                    take(fn(task))


class WorkerMismatch(RuntimeError):
    """A worker whose sources or libraries differ from the client's (its fingerprint, see :func:`connect`)."""


def _run_batch(fn, tasks, expected=None):
    """On a Dask worker: ``fn`` on each task of a batch, with the batch's run time. ``expected``:
    ``(fingerprint function, the client's value)``, checked once per worker process, so that a worker that
    joined after the run started (and was not asked at connect time) cannot compute a batch with other
    sources or library versions."""
    global _BLAS_SET, _CHECKED
    if expected is not None and _CHECKED != expected[1]:
        fingerprint, mine = expected
        if fingerprint() != mine:
            try:
                from distributed import get_worker

                where = get_worker().address
            except Exception:
                where = "a worker"
            raise WorkerMismatch(where)
        _CHECKED = mine
    if not _BLAS_SET:
        _one_blas_thread()
        _BLAS_SET = True
    start = time.perf_counter()
    results = [fn(task) for task in tasks]
    return results, time.perf_counter() - start


_BLAS_SET = False
_CHECKED = None  # the fingerprint this worker process was found to have


class DaskExecutor:
    """Tasks run on a Dask cluster, in batches of consecutive tasks of one kind sized from measured
    run times (:data:`TARGET_SECONDS`), at most :data:`WINDOW` batches per worker thread in flight.

    Use as a context manager (or call :meth:`close`): a cluster started here (``local-cluster:N``)
    is stopped with it. Build one with :func:`connect`.
    """

    portable = True  # a worker shares nothing with this process: tasks carry what they need

    def __init__(self, client, cluster=None, address: str = "", expected=None):
        self.client = client
        self.cluster = cluster
        self.address = address
        self.expected = expected  # (fingerprint function, this machine's value): every batch checks it
        self.seconds = {}  # measured run time of one task, by kind

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(fast=exc[0] is not None)

    def slots(self) -> int:
        """Worker threads on the cluster now (at least 1)."""
        workers = self.client.scheduler_info().get("workers", {})
        return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def _batches(self, tasks):
        """Consecutive tasks of one kind, as many as take about TARGET_SECONDS by the last measure
        (a kind not measured yet goes one task at a time until its first batch comes back)."""
        tasks = iter(tasks)
        task = next(tasks, None)
        while task is not None:
            batch = [task]
            per_task = self.seconds.get(task[0])
            size = 1 if per_task is None else max(1, min(MAX_BATCH, int(TARGET_SECONDS / max(per_task, 1e-6))))
            task = next(tasks, None)
            while task is not None and len(batch) < size and task[0] == batch[0][0]:
                batch.append(task)
                task = next(tasks, None)
            yield batch

    def run(self, fn, tasks, ntasks: int, take, *, prepare=None) -> None:
        """``take(fn(task))`` for each task, the work done on the cluster (``prepare`` is not needed)."""
        from distributed import wait

        limit = WINDOW * self.slots()
        batches = self._batches(tasks)
        pending = {}
        try:
            while True:
                for batch in itertools.islice(batches, max(0, limit - len(pending))):
                    future = self.client.submit(_run_batch, fn, batch, self.expected, pure=False)
                    pending[future] = (batch[0][0], len(batch))
                if not pending:
                    break
                done = wait(list(pending), return_when="FIRST_COMPLETED").done
                for future in done:
                    kind, size = pending.pop(future)
                    results, seconds = self._result(future)
                    self.seconds[kind] = seconds / size
                    for result in results:
                        take(result)
        except BaseException:
            self._cancel(list(pending))
            raise

    def _result(self, future):
        from distributed import KilledWorker

        try:
            return future.result()
        except WorkerMismatch as exc:
            raise SchedulerError(
                f"the Dask worker at {exc} runs other initvar sources or library versions than this machine "
                "(results would not be byte-identical): install the same ones there"
            ) from None
        except KilledWorker as exc:
            raise SchedulerError(f"the Dask cluster lost a task with every worker that ran it ({exc})") from None
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"lost the Dask scheduler at {self.address} ({exc})") from None
        except Exception as exc:
            from concurrent.futures import CancelledError

            if isinstance(exc, CancelledError) or type(exc).__name__ == "FutureCancelledError":
                raise SchedulerError(f"the Dask scheduler at {self.address} dropped the run's tasks") from None
            raise

    def _cancel(self, futures) -> None:
        if not futures:
            return
        try:
            self.client.cancel(futures, force=True)
        except Exception:  # the scheduler may be gone: nothing left to cancel
            pass

    def close(self, fast: bool = False) -> None:
        """Disconnect; stop the cluster if it was started here (``fast``: kill its processes, and say nothing of
        the connections that breaks: a local cluster's close gives Dask's loggers back their INFO level, and
        they would report each one with a traceback after the run's own line)."""
        if fast:
            import logging

            for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]:
                logging.getLogger(name).setLevel(logging.CRITICAL)
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        try:
            self.client.close(timeout=1 if fast else 10)
        except Exception:
            pass
        if self.cluster is not None:
            if fast:
                _kill_local_workers(self.cluster)
            try:
                self.cluster.close(timeout=1 if fast else 10)
            except Exception:
                pass


def _kill_local_workers(cluster) -> None:
    """Kill a local cluster's worker processes at once (an interrupted run has nothing to save)."""
    for worker in list(getattr(cluster, "workers", {}).values()):
        process = getattr(getattr(worker, "process", None), "process", None)  # Nanny -> WorkerProcess -> AsyncProcess
        pid = getattr(process, "pid", None)
        if pid:
            for target in _descendants(pid) + [pid]:
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass


def _descendants(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            children = [int(x) for x in handle.read().split()]
    except OSError:
        return []
    return [d for child in children for d in _descendants(child) + [child]]


LOCAL_CLUSTER = "local-cluster:"
ADDRESS_SCHEMES = ("tcp://", "tls://")


def parse_scheduler(text: str):
    """``("local", N)`` for ``local-cluster:N``, ``("address", text)`` for ``tcp://HOST:PORT`` (or
    ``tls://``); ValueError with the reason otherwise. Imports nothing."""
    if text.startswith(LOCAL_CLUSTER):
        count = text[len(LOCAL_CLUSTER) :]
        if not (count.isascii() and count.isdigit()) or not 1 <= int(count) <= 1024:
            raise ValueError(f"expected local-cluster:N with N a number of workers from 1 to 1024, got {text!r}")
        return "local", int(count)
    if text.startswith(ADDRESS_SCHEMES):
        rest = text.split("://", 1)[1]
        host, _, port = rest.rpartition(":")
        if host and port.isascii() and port.isdigit() and 0 < int(port) < 65536 and "/" not in rest:
            return "address", text
    raise ValueError(f"expected tcp://HOST:PORT (a Dask scheduler) or local-cluster:N, got {text!r}")


def _reason(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


INSTALL_HINT = "pip install 'initvar[dask]' (in a checkout: pip install -e '.[dask]')"


@contextlib.contextmanager
def _stop_signals_deferred():
    """While a local Dask cluster starts: Ctrl-C, SIGTERM or SIGHUP is noted (the list it yields becomes
    non-empty) and acted on once the cluster exists, so that it is closed like any other. Raised in the
    middle of its start, the KeyboardInterrupt would leave a half-started cluster that Dask's own exit
    handler fails to close, with a traceback. A second signal stops at once. Outside the main thread,
    where handlers cannot be set, nothing is deferred."""
    import threading

    stopped = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def note(signum, frame):
        if stopped:
            raise KeyboardInterrupt
        stopped.append(signum)

    # a signal ignored on purpose (nohup) stays ignored; one whose handler Python did not set is left alone
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    previous = {sig: handler for sig, handler in previous.items() if handler not in (signal.SIG_IGN, None)}
    for sig in previous:
        signal.signal(sig, note)
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def connect(spec: str, *, timeout: float = CONNECT_TIMEOUT, fingerprint=None) -> DaskExecutor:
    """A :class:`DaskExecutor` on ``spec`` (see :func:`parse_scheduler`): a new local cluster of N
    worker processes (one thread each), or the scheduler at an address, reached within ``timeout``
    seconds and with at least one worker. ``fingerprint`` (a module-level function of no arguments)
    must give on every worker what it gives here: the workers run the same sources and libraries.
    Raises :class:`SchedulerError` (one line) when it cannot."""
    kind, value = parse_scheduler(spec)
    try:
        import distributed
    except ImportError:
        raise SchedulerError(f"Dask is not installed: {INSTALL_HINT}") from None
    import logging

    if kind == "local":
        import dask.config

        # Dask's statistical profiler samples every task's stack every 10 ms: measured here, it costs
        # the replications a tenth of their CPU time. Not needed (workers of this cluster only).
        with _stop_signals_deferred() as stopped, dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = distributed.LocalCluster(
                n_workers=value,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            executor = DaskExecutor(distributed.Client(cluster), cluster, cluster.scheduler_address)
        if stopped:
            executor.close(fast=True)
            raise KeyboardInterrupt
        return executor
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # one line of ours, not the client's retry log
    try:
        client = distributed.Client(value, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {value} within {timeout:g} s ({_reason(exc)})"
        ) from None
    except Exception as exc:  # something answered, but not as a Dask scheduler does
        raise SchedulerError(f"{value} did not answer as a Dask scheduler ({_reason(exc)})") from None
    finally:
        quiet.setLevel(level)
    executor = DaskExecutor(client, None, value, None if fingerprint is None else (fingerprint, fingerprint()))
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except (OSError, TimeoutError):
            raise SchedulerError(
                f"the Dask scheduler at {value} has no worker after {WORKER_TIMEOUT:g} s (start one: dask worker {value})"
            ) from None
        if fingerprint is not None:
            mine = executor.expected[1]
            try:
                theirs = client.run(fingerprint, on_error="ignore")  # a worker dying now is not an answer
            except Exception as exc:
                raise SchedulerError(f"the Dask workers at {value} did not answer ({_reason(exc)})") from None
            differ = sorted(addr for addr, key in theirs.items() if key != mine)
            if differ:
                raise SchedulerError(
                    f"the Dask worker at {differ[0]} runs other initvar sources or library versions than this "
                    "machine (results would not be byte-identical): install the same ones there"
                )
    except BaseException:
        executor.close(fast=True)
        raise
    return executor
