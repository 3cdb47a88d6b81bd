"""Pair building: ordering, ties, identical texts, and the counts."""

import numpy as np
import pyarrow as pa

from mmpo import tables
from mmpo.pairs import build_pairs, candidate_pairs
from mmpo.text import text_fingerprints


def responses_table(rows):
    """rows: (group_id, response, score)."""
    return pa.Table.from_pylist(
        [
            {
                "prompt_id": g,
                "group_id": g,
                "prompt": [{"role": "user", "content": "q"}],
                "response": text,
                "score": score,
                "aspects": [],
                "judge": "j",
                "source": "s",
                "model": None,
                "origin": f"f:{i}",
            }
            for i, (g, text, score) in enumerate(rows)
        ],
        schema=tables.RESPONSES,
    )


def test_candidate_pairs_within_groups_only():
    first, second = candidate_pairs(np.array(["a", "b", "a", "a", "b"], dtype=object))
    assert list(zip(first, second, strict=True)) == [(0, 2), (0, 3), (1, 4), (2, 3)]


def test_pairs_ordered_by_score():
    table = responses_table([("a", "low", 2.0), ("a", "high", 9.0), ("a", "mid", 5.0)])
    pairs, counts = build_pairs(table, keep_ties=False, tie_tolerance=1e-9)
    assert list(zip(pairs.chosen, pairs.rejected, strict=True)) == [(1, 0), (2, 0), (1, 2)]
    assert list(pairs.margin) == [7.0, 3.0, 4.0]
    assert counts.candidates == 3
    assert counts.pairs == 3


def test_ties_dropped_and_counted():
    # 7.0 vs 7.000000001 is float noise: a tie under the default tolerance.
    table = responses_table([("a", "x", 7.0), ("a", "y", 7.000000001), ("a", "z", 3.0)])
    pairs, counts = build_pairs(table, keep_ties=False, tie_tolerance=1e-8)
    assert counts.ties_dropped == 1
    assert counts.pairs == 2
    assert counts.candidates == counts.pairs + counts.ties_dropped + counts.identical


def test_ties_kept_with_zero_margin():
    table = responses_table([("a", "x", 7.0), ("a", "y", 7.0)])
    pairs, counts = build_pairs(table, keep_ties=True, tie_tolerance=1e-9)
    assert counts.ties_kept == 1
    assert counts.ties_dropped == 0
    assert list(pairs.margin) == [0.0]
    assert list(pairs.is_tie) == [True]


def test_identical_texts_dropped_after_normalisation():
    # NFC: "é" precomposed vs "e" + combining accent; whitespace runs collapse.
    table = responses_table(
        [("a", "caf\u00e9  ok", 9.0), ("a", " cafe\u0301 ok\n", 2.0), ("a", "other", 5.0)]
    )
    pairs, counts = build_pairs(table, keep_ties=False, tie_tolerance=1e-9)
    assert counts.identical == 1
    assert counts.pairs == 2
    assert (0, 1) not in list(zip(pairs.chosen, pairs.rejected, strict=True))


def test_identical_tie_counts_once_as_identical():
    table = responses_table([("a", "same", 5.0), ("a", "same", 5.0)])
    _, counts = build_pairs(table, keep_ties=False, tie_tolerance=1e-9)
    assert counts.identical == 1
    assert counts.ties_dropped == 0


def test_single_response_group_counted():
    table = responses_table([("a", "x", 1.0), ("b", "y", 2.0), ("b", "z", 3.0)])
    _, counts = build_pairs(table, keep_ties=False, tie_tolerance=1e-9)
    assert counts.single_response_groups == 1
    assert counts.candidates == 1


def test_pairs_hash_collision_keeps_pair(monkeypatch):
    # Every text gets the same hash, so only the exact comparison tells them apart.
    monkeypatch.setattr("mmpo.pairs.text_fingerprints", lambda texts: np.zeros(len(texts), dtype=np.uint64))
    table = responses_table([("a", "one", 2.0), ("a", "two", 9.0), ("a", " two\u00a0", 5.0)])
    _, counts = build_pairs(table, keep_ties=False, tie_tolerance=1e-9)
    assert counts.identical == 1
    assert counts.pairs == 2


def test_text_fingerprints_match_canonical_equality():
    texts = pa.chunked_array([["a  b", "a b", "Cafe\u0301"], ["Café", "other"]])
    hashes = text_fingerprints(texts, chunk_rows=2)
    assert hashes[0] == hashes[1]
    assert hashes[2] == hashes[3]
    assert hashes[0] != hashes[4]
    assert hashes.dtype == np.uint64
