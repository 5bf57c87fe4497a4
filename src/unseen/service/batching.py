"""Micro-batching: coalesce concurrent single-record requests into one scoring call.

Scoring one record costs nearly as much as scoring dozens, because fixed costs
(encoding, a forward pass, attribution) dominate. ``MicroBatcher`` queues
single records. A worker task takes the first queued record and waits at most
``max_wait_s`` for up to ``max_batch_size - 1`` more. It scores them together
in a worker thread and hands each request its own row of the result. The
detectors score each row independently of the others in its batch, so a
batched record gets the score it would get alone, up to float32 rounding of
the matrix products (relative differences near 1e-7 on the test model).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from unseen.errors import UnseenError

logger = logging.getLogger(__name__)

# Scores a list of converted records with the given options (any hashable
# value); returns one result dict per record, in order.
ScoreRows = Callable[[list[dict[str, Any]], Hashable], list[dict[str, Any]]]


class BatcherStopped(RuntimeError):
    """The batcher stopped (the service is shutting down) before scoring a record."""


@dataclass
class _Item:
    row: dict[str, Any]
    options: Hashable
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Queue single records for one model and score them in batches.

    Parameters
    ----------
    score_rows : callable
        ``score_rows(rows, options)`` returning one result dict per row; it
        runs in ``executor`` so it must be thread-safe. Only records submitted
        with equal options are scored together.
    executor : concurrent.futures.Executor
        Threads that run ``score_rows`` off the event loop.
    max_batch_size : int
        Maximum records scored in one call.
    max_wait_s : float
        Longest time the first record of a batch waits for more, in seconds.
    on_batch : callable, optional
        Called with the size of every batch, for metrics.
    """

    def __init__(
        self,
        score_rows: ScoreRows,
        executor: Executor,
        max_batch_size: int,
        max_wait_s: float,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.score_rows = score_rows
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self._worker: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        """Start the worker task; call from the event loop that will submit records."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="micro-batcher")

    async def stop(self) -> None:
        """Stop the worker; records still queued fail with ``BatcherStopped``."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(BatcherStopped("the service is shutting down"))

    async def submit(self, row: dict[str, Any], options: Hashable) -> dict[str, Any]:
        """Queue one converted record and wait for its result dict."""
        if not self.running:
            raise BatcherStopped("the scoring queue is not running")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(row, options, future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            batch = [item for item in batch if not item.future.done()]
            groups: dict[Hashable, list[_Item]] = {}
            for item in batch:
                groups.setdefault(item.options, []).append(item)
            for options, items in groups.items():
                await self._score(items, options)

    async def _collect(self) -> list[_Item]:
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _score(self, items: list[_Item], options: Hashable) -> None:
        loop = asyncio.get_running_loop()
        rows = [item.row for item in items]
        if self.on_batch is not None:
            self.on_batch(len(rows))
        try:
            results = await loop.run_in_executor(self.executor, self.score_rows, rows, options)
        except UnseenError as exc:
            if len(items) > 1:
                # One record the checks let through broke the batch: score each
                # record alone so only the bad one fails.
                logger.warning(
                    "a batch of %d records failed (%s); rescoring one by one", len(items), exc
                )
                for item in items:
                    await self._score([item], options)
                return
            _fail(items, exc)
            return
        except Exception as exc:  # handed to the waiting request, which logs it with its id
            _fail(items, exc)
            return
        for item, result in zip(items, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)


def _fail(items: list[_Item], exc: BaseException) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(exc)
