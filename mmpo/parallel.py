"""Background threads for batch work: an ordered parallel map and a read-ahead iterator.

Both pay off because Arrow's readers, kernels and writers release the GIL.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import queue
import threading
from typing import Callable, Iterable, Iterator


def ordered_map(function: Callable, items: Iterable, workers: int | None = None) -> Iterator:
    """Yield ``function(item)`` for each item in order, computing up to ``workers`` at once in threads.

    At most twice ``workers`` items are read ahead, so a lazy ``items`` is
    never read whole. Arrow and pandas kernels release the GIL, so batches
    are processed in parallel on several cores.
    """
    workers = workers or os.cpu_count() or 1
    pending: collections.deque = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def prefetch(items: Iterable, depth: int = 2) -> Iterator:
    """Yield the items of ``items``, which a background thread computes up to ``depth`` ahead.

    Reading and assembling the next batch then overlaps with writing the
    current one, since Arrow's readers, kernels and writers release the GIL.
    An exception raised while computing an item is raised here, in order.
    """
    done = object()
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        results.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            results.put((done, None))
        except BaseException as error:  # handed to the consumer, which raises it
            results.put((done, error))

    thread = threading.Thread(target=produce, name="mmpo-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()
