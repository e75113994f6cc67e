"""Per-node work side by side: one thread per key, the results by key.

A check that waits for something on every node (each node's dataplane converging, each node's
flow moving) would otherwise wait for the nodes one after another: N times the slowest node's
wait on a broken cluster, and the sum of their latencies on a healthy one. The work of each key
is blocking I/O (an exec into a Pod, a watch), so threads are what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as all_done
from typing import Final, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

#: Threads at most, however many keys: a cluster of many nodes is worked through in waves.
MAX_THREADS: Final = 16


def each(work: Callable[[K], R], keys: Sequence[K]) -> dict[K, R]:
    """``{key: work(key)}`` for every key, run side by side; the order of ``keys`` is kept.

    Every key's work runs to its end (each is bounded by its own deadline) before anything is
    raised, so nothing is left running behind the caller; then the exception of the first key
    in ``keys`` that raised one is raised. An interrupt (Ctrl-C) is raised at once, leaving the
    threads to end at their own deadlines.
    """
    if len(keys) <= 1:
        return {key: work(key) for key in keys}
    pool = ThreadPoolExecutor(max_workers=min(len(keys), MAX_THREADS), thread_name_prefix="podnet")
    try:
        futures = [pool.submit(work, key) for key in keys]
        all_done(futures)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=False)
    return {key: future.result() for key, future in zip(keys, futures, strict=True)}
