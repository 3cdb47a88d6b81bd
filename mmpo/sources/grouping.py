"""Grouping of consecutive input records that belong to one prompt."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from mmpo.sources.base import Rejected


def consecutive_groups(
    records: Iterator[tuple[str, Any]], key: Callable[[Any], Any]
) -> Iterator[list[tuple[str, Any]]]:
    """Yield runs of ``(origin, record)`` with equal ``key(record)``.

    A ``Rejected`` record, or one whose key is None, is yielded alone. Only
    consecutive records are grouped, so memory stays at one group.
    """
    run: list[tuple[str, Any]] = []
    run_key: Any = None
    for origin, record in records:
        record_key = None if isinstance(record, Rejected) else key(record)
        if run and (record_key is None or record_key != run_key):
            yield run
            run = []
        if record_key is None:
            yield [(origin, record)]
            continue
        run.append((origin, record))
        run_key = record_key
    if run:
        yield run
