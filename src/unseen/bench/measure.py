"""Wall time and peak resident memory of one step of a benchmark.

Memory is the growth of the process's resident set size (RSS) above its
value when the step starts, sampled every few milliseconds by a background
thread from ``/proc/self/statm``. RSS covers every allocator (numpy, torch's
C++ tensors, native libraries), which ``tracemalloc`` would miss. The cost:
memory that earlier steps freed and this step reuses is not counted again,
so the figure is a lower bound. Where ``/proc`` is missing it is ``nan``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SAMPLE_SECONDS = 0.005
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_bytes() -> int | None:
    """Return this process's resident set size in bytes, or None without ``/proc``."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Measurement:
    """Filled in when the ``measure`` block ends."""

    seconds: float = float("nan")
    peak_rss_growth_mb: float = float("nan")


@contextmanager
def measure() -> Iterator[Measurement]:
    """Time the block and record how far RSS rose above its starting value."""
    result = Measurement()
    start_rss = current_rss_bytes()
    peak = [start_rss or 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(SAMPLE_SECONDS):
            rss = current_rss_bytes()
            if rss is not None and rss > peak[0]:
                peak[0] = rss

    sampler = threading.Thread(target=sample, daemon=True)
    if start_rss is not None:
        sampler.start()
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - started
        if start_rss is not None:
            stop.set()
            sampler.join()
            final = current_rss_bytes() or 0
            result.peak_rss_growth_mb = (max(peak[0], final) - start_rss) / 2**20
