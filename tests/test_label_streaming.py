"""The label stage's batch-by-batch passes: scan, moving write window and full-row-group writer."""

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_label_options import comparison, response

from mmpo import tables
from mmpo.errors import InputError
from mmpo.files import ROW_GROUP_SIZE, ParquetChunkWriter, write_parquet
from mmpo.label import run_label
from mmpo.label_scan import scan_responses, texts_at
from mmpo.label_votes import scan_comparisons
from mmpo.label_write import preference_chunks
from mmpo.pairs import PairIndex, candidate_pairs
from mmpo.parallel import ordered_map, prefetch
from mmpo.params import LabelParams
from mmpo.text import text_fingerprints


def write_responses(path, rows):
    pq.write_table(pa.Table.from_pylist(rows, schema=tables.RESPONSES), path)
    return path


def test_candidate_pairs_match_brute_force():
    rng = np.random.default_rng(3)
    for size in (0, 1, 2, 7, 60, 400):
        groups = rng.integers(0, max(1, size // 4), size).astype(str).astype(object)
        first, second = candidate_pairs(groups)
        expected = [(a, b) for a, b in itertools.combinations(range(size), 2) if groups[a] == groups[b]]
        assert list(zip(first.tolist(), second.tolist(), strict=True)) == expected


def test_scan_keeps_scored_rows_only(tmp_path, monkeypatch):
    rows = [response("p1", "a", 3.0), response("p1", "b", None), response("p2", "c", 5.0)]
    path = write_responses(tmp_path / "r.parquet", rows)
    monkeypatch.setattr("mmpo.label_scan.BATCH_ROWS", 2)
    scan = scan_responses(path)
    assert scan.total == 3
    assert scan.unscored == 1
    assert scan.rows.tolist() == [0, 2]
    assert scan.light.column("prompt_id").to_pylist() == ["p1", "p2"]
    assert scan.light.num_rows == len(scan.fingerprints)


def test_scan_prompt_key_from_first_row(tmp_path, monkeypatch):
    # Row 3 repeats prompt_id p1 with another text in the next batch; the first row's text wins.
    rows = [
        response("p1", "a", 3.0, prompt="Hello   world"),
        response("p2", "b", 4.0, prompt="Other"),
        response("p2", "c", 5.0, prompt="Other"),
        response("p1", "d", 6.0, prompt="changed"),
    ]
    path = write_responses(tmp_path / "r.parquet", rows)
    monkeypatch.setattr("mmpo.label_scan.BATCH_ROWS", 3)
    keys = scan_responses(path).prompt_keys.tolist()
    assert keys == ["user\x1fHello world", "user\x1fOther", "user\x1fOther", "user\x1fHello world"]


def test_scan_comparisons_across_batches(tmp_path, monkeypatch):
    rows = comparison_rows() + [
        comparison("v3", "same  text", "same text", 0.9, 3.0),  # identical after normalisation
        comparison("v3", "i", "j", 0.5, None),  # a tie, and no votes
    ]
    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=tables.COMPARISONS), path)
    monkeypatch.setattr("mmpo.label_scan.BATCH_ROWS", 2)
    scan = scan_comparisons(path, keep_ties=False, tie_tolerance=1e-9, label_smoothing=0.0)
    assert scan.total == 6
    assert scan.counts.identical == 1
    assert scan.counts.ties_dropped == 1
    assert scan.summary.column("p_chosen").to_pylist() == pytest.approx([0.9, 0.7, 0.6, 0.8])
    assert scan.prompt_keys.tolist() == ["user\x1fquestion v1"] * 3 + ["user\x1fquestion v2"]
    assert scan.evidence.prompt_ids.tolist() == ["v1", "v1", "v1", "v2", "v3"]
    expected = text_fingerprints(pa.array(["a", "c", "e", "g", "same text"]))
    assert scan.evidence.fingerprint_a.tolist() == expected.tolist()


def test_scan_missing_column_is_named(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(pa.table({"prompt_id": ["p"], "score": [1.0]}), path)
    with pytest.raises(InputError, match="response.*ingest stage"):
        scan_responses(path)


def test_texts_at_across_batches(tmp_path, monkeypatch):
    rows = [response("p", f"text {i}", float(i)) for i in range(7)]
    path = write_responses(tmp_path / "r.parquet", rows)
    monkeypatch.setattr("mmpo.label_scan.BATCH_ROWS", 3)
    assert texts_at(path, np.array([6, 0, 3, 3])) == {0: "text 0", 3: "text 3", 6: "text 6"}


def test_ordered_map_keeps_order():
    assert list(ordered_map(lambda x: x * x, iter(range(50)), workers=3)) == [x * x for x in range(50)]


def window_pairs(rows):
    first, second = candidate_pairs(np.array([r["prompt_id"] for r in rows], dtype=object))
    return first, second, PairIndex(second, first, (second - first).astype(float), np.zeros(len(first), bool))


def test_prefetch_yields_in_order():
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_prefetch_raises_producer_error():
    def items():
        yield 1
        raise ValueError("bad batch")

    seen = []
    with pytest.raises(ValueError, match="bad batch"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [1]


def test_prefetch_stops_when_consumer_stops():
    produced = []

    def items():
        for number in range(1000):
            produced.append(number)
            yield number

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    stream.close()  # joins the producer, which must not block on the full queue
    assert len(produced) < 10


def test_window_yields_every_pair_in_order(tmp_path, caplog):
    rows = [response(f"p{i % 3}", f"t{i}", float(i)) for i in range(12)]  # prompts interleaved
    path = write_responses(tmp_path / "r.parquet", rows)
    first, second, pairs = window_pairs(rows)
    ones = np.ones(len(first))
    chunks = list(preference_chunks(path, pairs, ones, ones, batch_rows=2))
    assert "Sort the input by prompt" in caplog.text
    assert len(chunks) > 1
    assert [c[0].start for c in chunks] == [0] + [c[0].stop for c in chunks[:-1]]
    table = pa.concat_tables([c[1] for c in chunks])
    chosen = [m[0]["content"] for m in table.column("chosen").to_pylist()]
    assert chosen == [f"t{b}" for b in second.tolist()]
    assert table.column("margin").to_pylist() == (second - first).astype(float).tolist()


def test_window_stays_small_for_grouped_rows(tmp_path, caplog):
    rows = [response(f"p{i // 3}", f"t{i}", float(i)) for i in range(30)]  # prompts together
    path = write_responses(tmp_path / "r.parquet", rows)
    first, second, pairs = window_pairs(rows)
    ones = np.ones(len(first))
    table = pa.concat_tables(t for _, t in preference_chunks(path, pairs, ones, ones, batch_rows=1))
    assert table.num_rows == 30
    assert "Sort the input by prompt" not in caplog.text


def test_window_rejects_shorter_file(tmp_path):
    path = write_responses(tmp_path / "r.parquet", [response("p", "a", 1.0), response("p", "b", 2.0)])
    pairs = PairIndex(np.array([1, 5]), np.array([0, 4]), np.ones(2), np.zeros(2, bool))
    with pytest.raises(RuntimeError, match="changed while the label stage ran"):
        list(preference_chunks(path, pairs, np.ones(2), np.ones(2)))


def test_chunk_writer_full_row_groups(tmp_path):
    table = pa.table({"x": np.arange(3 * ROW_GROUP_SIZE + 5)})
    writer = ParquetChunkWriter(tmp_path / "chunks.parquet", table.schema, {"k": 1})
    for start, size in ((0, 7), (7, ROW_GROUP_SIZE), (7 + ROW_GROUP_SIZE, 3 * ROW_GROUP_SIZE)):
        writer.write(table.slice(start, size))
    assert writer.close() == table.num_rows
    metadata = pq.ParquetFile(tmp_path / "chunks.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [ROW_GROUP_SIZE] * 3 + [5]
    write_parquet(table, tmp_path / "whole.parquet", {"k": 1})
    assert (tmp_path / "chunks.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()


def test_chunk_writer_abort_keeps_old_file(tmp_path):
    path = tmp_path / "set.parquet"
    path.write_bytes(b"previous")
    writer = ParquetChunkWriter(path, pa.schema([("x", pa.int64())]), {})
    writer.write(pa.table({"x": [1, 2]}))
    writer.abort()
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.parquet"]


def test_identical_texts_found_across_batches(tmp_path, monkeypatch):
    # Rows 0 and 2 read the same after whitespace normalisation and sit in different batches.
    rows = [response("p", "same  text", 9.0), response("p", "other", 5.0), response("p", "same text\n", 1.0)]
    path = write_responses(tmp_path / "r.parquet", rows)
    monkeypatch.setattr("mmpo.label_scan.BATCH_ROWS", 1)
    params = LabelParams.from_mapping({"test_fraction": 0.0})
    metrics = run_label(params, path, tmp_path / "out/train.parquet", tmp_path / "out/test.parquet")
    assert metrics["identical_pairs_dropped"] == 1
    assert metrics["pairs"] == 2


def comparison_rows():
    return [
        comparison("v1", "a", "b", 0.9, 10.0),
        comparison("v1", "c", "d", 0.3, 10.0),  # p_chosen 0.7
        comparison("v1", "e", "f", 0.6, 10.0),
        comparison("v2", "g", "h", 0.2, 10.0),  # p_chosen 0.8
    ]


def test_comparison_pairs_capped_by_share(tmp_path):
    path = write_responses(tmp_path / "r.parquet", [response("p", "x", 2.0), response("p", "y", 1.0)])
    comparisons = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(comparison_rows(), schema=tables.COMPARISONS), comparisons)
    values = {"test_fraction": 0.0, "max_pairs_per_prompt": 2, "cap_order": "margin"}
    params = LabelParams.from_mapping(values)
    out = tmp_path / "out"
    metrics = run_label(params, path, out / "train.parquet", out / "test.parquet", comparisons)
    table = pq.read_table(out / "train.parquet")
    votes = table.filter(pa.compute.is_null(table.column("margin")))
    assert votes.column("p_chosen").to_pylist() == pytest.approx([0.9, 0.7, 0.8])  # v1 loses its 0.6
    assert metrics["capped_pairs"] == 1
    assert metrics["candidate_pairs"] == 1 + 4
    assert metrics["pairs"] == 1 + 3


def test_comparison_pairs_capped_at_random(tmp_path):
    path = write_responses(tmp_path / "r.parquet", [response("p", "x", 2.0), response("p", "y", 1.0)])
    comparisons = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(comparison_rows(), schema=tables.COMPARISONS), comparisons)
    values = {"test_fraction": 0.0, "max_pairs_per_prompt": 1, "cap_order": "random", "seed": 4}
    kept = []
    for folder in ("a", "b"):
        out = tmp_path / folder
        metrics = run_label(
            LabelParams.from_mapping(values), path, out / "train.parquet", out / "test.parquet", comparisons
        )
        kept.append((out / "train.parquet").read_bytes())
        assert metrics["capped_pairs"] == 2
    assert kept[0] == kept[1]
    table = pq.read_table(tmp_path / "a/train.parquet")
    assert table.column("prompt_id").to_pylist().count("v1") == 1
    assert table.column("prompt_id").to_pylist().count("v2") == 1
