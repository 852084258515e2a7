"""One generation at a time, in arrival order, with a bounded wait.

One model sits in memory and generates one reply at a time (`Model` holds a lock), so requests
wait in a FIFO line run by one worker thread. The line is bounded: a request beyond it is
refused at once (the app answers 503 + Retry-After) instead of hanging a client for minutes.
A cancelled job (its client went away, or the server is stopping) leaves the line at once, or,
if it is running, stops after the current token via `Model.stop`.

Hand-written because `queue.Queue` cannot drop a waiting item, and a lock is not FIFO.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..engine import Model

END = object()  # the last item a job emits after its events (or after an exception)


class QueueFullError(Exception):
    """The line is full; try again later."""


class QueueClosedError(Exception):
    """The server is stopping."""


class Job:
    """A request's generation. `emit` gets each engine event, an exception, then END, from the
    worker thread; it must not block."""

    def __init__(self, prompt: Any, raw: bool, sampling: dict[str, Any],
                 emit: Callable[[Any], None]):
        self.prompt, self.raw, self.sampling, self.emit = prompt, raw, sampling, emit
        self.cancelled = threading.Event()


class GenerationQueue:
    """Runs jobs on `model` one at a time; at most `max_waiting` wait behind the running one."""

    def __init__(self, model: Model, max_waiting: int):
        self.model, self.max_waiting = model, max_waiting
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._closed = False
        self._finished = {"completed": 0, "cancelled": 0}
        self._cond = threading.Condition()
        self._worker = threading.Thread(target=self._work, name="vibe-local-generation",
                                        daemon=True)
        self._worker.start()

    def submit(self, job: Job) -> None:
        """Put `job` in line. Raises QueueFullError or QueueClosedError."""
        with self._cond:
            if self._closed:
                raise QueueClosedError("the server is shutting down")
            if self._running is not None and len(self._waiting) >= self.max_waiting:
                raise QueueFullError(f"{len(self._waiting)} requests are already waiting")
            self._waiting.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """Drop a waiting job, or stop a running one after its current token. Idempotent."""
        with self._cond:
            job.cancelled.set()
            if job in self._waiting:
                self._waiting.remove(job)
                job.emit(END)
            elif self._running is job:
                self.model.stop()

    def stop_early(self, job: Job) -> None:
        """Stop a running job after its current token but let it finish normally (its Done
        event, with the statistics, still comes): for a stop string found in the reply."""
        with self._cond:
            if self._running is job:
                self.model.stop()

    def close(self) -> None:
        """Refuse new jobs, cancel every job in line and the running one."""
        with self._cond:
            self._closed = True
            for job in self._waiting:
                job.cancelled.set()
                job.emit(QueueClosedError("the server is shutting down"))
                job.emit(END)
            self._waiting.clear()
            if self._running is not None:
                self._running.cancelled.set()
                self.model.stop()
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        self._worker.join(timeout)

    def counts(self) -> dict[str, int]:
        """For /health: running (0 or 1), waiting, the bound, and how past jobs ended."""
        with self._cond:
            return {"running": int(self._running is not None), "waiting": len(self._waiting),
                    "max_waiting": self.max_waiting, **self._finished}

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed and not self._waiting:
                    return
                job = self._running = self._waiting.popleft()
            try:
                self._run(job)
            finally:
                with self._cond:
                    self._running = None
                    self._finished["cancelled" if job.cancelled.is_set() else "completed"] += 1

    def _run(self, job: Job) -> None:
        try:
            with contextlib.closing(self.model.stream(job.prompt, raw=job.raw,
                                                      **job.sampling)) as events:
                for event in events:
                    job.emit(event)
                    if job.cancelled.is_set():
                        break  # closing the stream releases the model at once
        except Exception as exc:  # noqa: BLE001 - handed to the request, which answers with it
            job.emit(exc)
        finally:
            job.emit(END)
