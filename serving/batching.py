"""Dynamic batching: concurrent requests to one model version are run as one batch.

Requests wait in a FIFO queue. A worker takes the first, adds the requests behind it while they fit
in `max_batch_size` rows (and have the same non-batch shape), waits up to `max_queue_delay_s` after
the first arrived for more, runs the batch in its own thread (the event loop stays free to accept
and parse requests meanwhile), then hands each caller its own rows of the result.

With a delay of 0 a batch holds whatever queued while the previous batch ran: no waiting at low
load, large batches under high load.
"""

import asyncio
import collections
import concurrent.futures
import dataclasses
import logging
import time

import numpy as np

from serving.errors import Unavailable

log = logging.getLogger("deepzoo.serving")


@dataclasses.dataclass
class _Request:
    feeds: dict
    rows: int
    shape_key: tuple
    future: asyncio.Future
    enqueued: float


class DynamicBatcher:
    """Batches `infer(feeds, rows)` calls onto `runtimes` (one worker per entry; entries may repeat)."""

    def __init__(self, runtimes, max_batch_size, max_queue_delay_s, metrics=None, labels=("", "")):
        self.runtimes = list(runtimes)
        self.max_batch_size = int(max_batch_size)
        self.max_queue_delay_s = float(max_queue_delay_s)
        self.metrics = metrics
        self.labels = labels
        if metrics is not None:  # bound once: label lookups cost more than the updates
            self._depth_metric = metrics.child(metrics.queue_depth, *labels)
            self._batch_metric = metrics.child(metrics.batch_size, *labels)
            self._compute_metric = metrics.child(metrics.compute_seconds, *labels)
            self._wait_metric = metrics.child(metrics.queue_wait_seconds, *labels)
        self._queue = collections.deque()
        self._arrived = asyncio.Event()
        self._flushing = False
        self._closed = False
        self._busy = 0
        self._workers = []
        name = "-".join(labels) or "model"
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=len(self.runtimes), thread_name_prefix=f"infer-{name}")

    def start(self):
        self._workers = [asyncio.get_running_loop().create_task(self._work(runtime)) for runtime in self.runtimes]

    @property
    def queued(self):
        return len(self._queue)

    async def infer(self, feeds, rows):
        """Runs `feeds` (name -> array with `rows` rows) in some batch; returns this request's outputs."""
        if self._closed:
            raise Unavailable("The server is shutting down.")
        future = asyncio.get_running_loop().create_future()
        shape_key = tuple((name, array.shape[1:]) for name, array in sorted(feeds.items()))
        self._queue.append(_Request(feeds, rows, shape_key, future, time.monotonic()))
        self._gauge(len(self._queue))
        self._arrived.set()
        return await future

    def flush(self):
        """Stop waiting for batches to fill: shutdown has begun."""
        self._flushing = True
        self._arrived.set()

    async def close(self, timeout=30.0):
        """Finishes queued and running batches (up to `timeout` seconds), then stops the workers."""
        self.flush()
        deadline = time.monotonic() + timeout
        while (self._queue or self._busy) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._closed = True
        self._arrived.set()  # idle workers wake up and see `_closed`
        for worker in self._workers:
            worker.cancel()
        if self._workers:
            await asyncio.wait(self._workers, timeout=5.0)
        while self._queue:
            request = self._queue.popleft()
            if not request.future.done():
                request.future.set_exception(Unavailable("The server shut down before this request ran."))
        self._gauge(0)
        self._executor.shutdown(wait=False)

    # -- worker --------------------------------------------------------------------------------

    async def _work(self, runtime):
        while not self._closed:
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            batch = self._take()
            if not batch:
                continue
            self._busy += 1  # counted from the moment requests leave the queue: close() waits for it
            try:
                rows = await self._fill(batch)
                await self._execute(runtime, batch, rows)
            except asyncio.CancelledError:
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(Unavailable("The server shut down before this request ran."))
                raise
            finally:
                self._busy -= 1

    async def _fill(self, batch):
        """Adds requests to `batch` until it is full or the first request has waited the delay."""
        rows = sum(r.rows for r in batch)
        deadline = batch[0].enqueued + self.max_queue_delay_s
        while rows < self.max_batch_size and not self._flushing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if not self._queue and not await self._arrival(remaining):
                break
            added = self._extend(batch, rows)
            if not added and self._queue:
                break  # the next request does not fit this batch: run what we have
            rows += added
        self._gauge(len(self._queue))
        return rows

    async def _arrival(self, timeout):
        """Whether a request arrives within `timeout` seconds.

        asyncio.wait rather than wait_for: on Python < 3.12 wait_for can swallow a cancellation
        that lands as the wait completes, and close() must be able to stop a worker.
        """
        self._arrived.clear()
        waiter = asyncio.ensure_future(self._arrived.wait())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            return bool(done)
        finally:
            waiter.cancel()

    async def _execute(self, runtime, batch, rows):
        started = time.monotonic()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, _run_batch, runtime, [r.feeds for r in batch], [r.rows for r in batch], self.max_batch_size
            )
        except Exception as exc:  # runtime failure: every caller of this batch gets it
            log.error("batch failed", extra={"model": self.labels[0], "version": self.labels[1], "rows": rows, "error": str(exc)[:300]})
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(exc)
        else:
            for request, result in zip(batch, results):
                if not request.future.done():
                    request.future.set_result(result)
        self._observe(batch, rows, started)

    def _take(self):
        """The first live request and those right behind it that fit."""
        while self._queue:
            first = self._queue.popleft()
            if not first.future.cancelled():
                batch = [first]
                self._extend(batch, first.rows)
                return batch
        return []

    def _extend(self, batch, rows):
        added = 0
        while self._queue:
            candidate = self._queue[0]
            if candidate.future.cancelled():
                self._queue.popleft()
                continue
            if candidate.shape_key != batch[0].shape_key or rows + added + candidate.rows > self.max_batch_size:
                break
            batch.append(self._queue.popleft())
            added += candidate.rows
        return added

    # -- metrics -------------------------------------------------------------------------------

    def _gauge(self, depth):
        if self.metrics is not None:
            self._depth_metric.set(depth)

    def _observe(self, batch, rows, started):
        if self.metrics is None:
            return
        self._batch_metric.observe(rows)
        self._compute_metric.observe(time.monotonic() - started)
        for request in batch:
            self._wait_metric.observe(started - request.enqueued)


def _run_batch(runtime, feeds_list, rows_list, max_batch_size):
    """Runs in a worker thread: concatenate, execute, split back per request.

    A single request larger than `max_batch_size` runs in chunks of `max_batch_size` rows, so no
    execution is ever larger than the configured batch (memory stays bounded).
    """
    if len(feeds_list) == 1:
        feeds = feeds_list[0]
    else:
        feeds = {name: np.concatenate([f[name] for f in feeds_list]) for name in feeds_list[0]}
    total = sum(rows_list)
    if total <= max_batch_size:
        outputs = runtime.run(feeds)
    else:
        chunks = [runtime.run({n: v[i : i + max_batch_size] for n, v in feeds.items()}) for i in range(0, total, max_batch_size)]
        outputs = {name: np.concatenate([c[name] for c in chunks]) for name in chunks[0]}
    for name, value in outputs.items():
        if value.shape[:1] != (total,):
            raise RuntimeError(f"Runtime returned output '{name}' of shape {value.shape} for a batch of {total} rows.")
    if len(feeds_list) == 1:
        return [outputs]
    results, start = [], 0
    for rows in rows_list:
        results.append({name: value[start : start + rows] for name, value in outputs.items()})
        start += rows
    return results
