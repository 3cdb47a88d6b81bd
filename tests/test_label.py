"""The label stage on a small responses file: contract, determinism, accounting."""

import math

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import write_jsonl

from mmpo import tables
from mmpo.files import read_metadata
from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.params import IngestParams, LabelParams

ROWS = [
    {"prompt_id": f"p{i}", "prompt": f"question {i}", "response": text, "score": score}
    for i in range(12)
    for text, score in (("best answer", 9), ("fair answer", 6), ("poor answer", 2), ("also poor", 2))
]


def label(tmp_path, **values):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    responses = tmp_path / "responses.parquet"
    run_ingest(IngestParams.from_mapping({"path": str(source)}), responses, tmp_path / "q.parquet")
    out = tmp_path / values.pop("folder", "pairs")
    metrics = run_label(
        LabelParams.from_mapping(values), responses, out / "train.parquet", out / "test.parquet"
    )
    return metrics, out


def test_label_schema_and_targets(tmp_path):
    metrics, out = label(tmp_path, gamma=0.5, test_fraction=0.3)
    train = pq.read_table(out / "train.parquet")
    test = pq.read_table(out / "test.parquet")
    assert train.schema.remove_metadata() == tables.PREFERENCES
    frame = pd.concat([train.to_pandas(), test.to_pandas()])

    # Each prompt: 4 responses -> 6 candidates, one tie (2 vs 2), 5 pairs.
    assert metrics["candidate_pairs"] == 72
    assert metrics["ties_dropped"] == 12
    assert metrics["pairs"] == len(frame) == 60
    for row in frame.itertuples():
        margin = row.score_chosen - row.score_rejected
        assert row.margin == margin > 0
        assert row.p_chosen == 1.0 / (1.0 + math.exp(-0.5 * margin))
        assert list(row.chosen)[0]["role"] == "assistant"
    assert not set(train.column("prompt_id").to_pylist()) & set(test.column("prompt_id").to_pylist())
    assert metrics["train_pairs"] + metrics["test_pairs"] == 60


def test_label_keep_ties(tmp_path):
    metrics, out = label(tmp_path, keep_ties=True, test_fraction=0.0)
    frame = pq.read_table(out / "train.parquet").to_pandas()
    ties = frame[frame["score_chosen"] == frame["score_rejected"]]
    assert metrics["ties_kept"] == 12
    assert len(ties) == 12
    assert (ties["p_chosen"] == 0.5).all()
    assert (ties["margin"] == 0.0).all()


def test_label_byte_identical_reruns(tmp_path):
    label(tmp_path, folder="first")
    label(tmp_path, folder="second")
    for name in ("train.parquet", "test.parquet"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_label_metadata_records_params(tmp_path):
    _, out = label(tmp_path, gamma=1.5)
    metadata = read_metadata(out / "train.parquet")
    assert metadata["params"]["gamma"] == 1.5
    assert metadata["split"] == "train"
    assert metadata["ingest"]["params"]["source"] == "scored_responses"
    assert metadata["input_fingerprint"].startswith("sha256:")
    assert metadata["counts"]["pairs"] == 60


def test_label_round_trip_datasets(tmp_path):
    _, out = label(tmp_path, test_fraction=0.0)
    dataset = datasets.load_dataset("parquet", data_files=str(out / "train.parquet"), split="train")
    original = pq.read_table(out / "train.parquet")
    assert dataset.num_rows == original.num_rows
    row = dataset[0]
    assert row["chosen"] == original.column("chosen")[0].as_py()
    assert isinstance(row["prompt"], list)
    assert isinstance(row["prompt"][0], dict)
    assert dataset.features["p_chosen"].dtype == "float64"


def write_comparisons(path, rows):
    """rows: (prompt_id, response_a, response_b, p_a)."""
    table = pa.Table.from_pylist(
        [
            {
                "prompt_id": pid,
                "prompt": [{"role": "user", "content": pid}],
                "response_a": a,
                "response_b": b,
                "p_a": p,
                "votes": 4.0,
                "judge": "people",
                "source": "votes",
                "model_a": "ma",
                "model_b": "mb",
                "origin": f"f:{i}",
            }
            for i, (pid, a, b, p) in enumerate(rows)
        ],
        schema=tables.COMPARISONS,
    )
    pq.write_table(table, path)


def test_label_comparisons_become_pairs(tmp_path):
    pq.write_table(tables.RESPONSES.empty_table(), tmp_path / "r.parquet")
    write_comparisons(
        tmp_path / "c.parquet",
        [
            ("p1", "A wins", "B loses", 0.75),
            ("p2", "A loses", "B wins", 0.2),
            ("p3", "x", "y", 0.5),
            ("p4", "same", "same ", 1.0),
        ],
    )
    metrics = run_label(
        LabelParams.from_mapping({"test_fraction": 0.0}),
        tmp_path / "r.parquet",
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
        tmp_path / "c.parquet",
    )
    rows = pq.read_table(tmp_path / "train.parquet").to_pylist()

    assert metrics["comparisons"] == 4
    assert metrics["candidate_pairs"] == 4
    assert metrics["ties_dropped"] == 1
    assert metrics["identical_pairs_dropped"] == 1
    assert [r["chosen"][0]["content"] for r in rows] == ["A wins", "B wins"]
    assert [r["rejected"][0]["content"] for r in rows] == ["B loses", "A loses"]
    assert [r["p_chosen"] for r in rows] == [0.75, 0.8]
    assert [r["model_chosen"] for r in rows] == ["ma", "mb"]
    assert rows[0]["margin"] is None
    assert rows[0]["score_chosen"] is None


def test_label_comparison_tie_kept_at_half(tmp_path):
    pq.write_table(tables.RESPONSES.empty_table(), tmp_path / "r.parquet")
    write_comparisons(tmp_path / "c.parquet", [("p3", "x", "y", 0.5)])
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.0, "keep_ties": True}),
        tmp_path / "r.parquet",
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
        tmp_path / "c.parquet",
    )
    rows = pq.read_table(tmp_path / "train.parquet").to_pylist()
    assert [r["p_chosen"] for r in rows] == [0.5]
    assert rows[0]["chosen"][0]["content"] == "x"


def test_label_leaves_out_unscored_responses(tmp_path):
    rows = [
        {"prompt_id": "p", "prompt": "q", "response": "a", "score": 5},
        {"prompt_id": "p", "prompt": "q", "response": "b", "score": 2},
        {"prompt_id": "p", "prompt": "q", "response": "c"},
        {"prompt_id": "p", "prompt": "q", "response": "d", "score": None},
        {"prompt_id": "p", "prompt": "q", "response": "e", "score": "n/a"},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    params = IngestParams.from_mapping({"path": str(source), "missing_scores": "keep"})
    ingest_metrics = run_ingest(params, tmp_path / "r.parquet", tmp_path / "q.parquet")
    metrics = run_label(
        LabelParams.from_mapping({"test_fraction": 0.0}),
        tmp_path / "r.parquet",
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
    )
    assert ingest_metrics["responses"] == 4
    assert ingest_metrics["quarantined_by_reason"] == {"non_numeric_score": 1}
    assert metrics["unscored_responses"] == 2
    assert metrics["responses"] == 2
    assert metrics["pairs"] == 1
