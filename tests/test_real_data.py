"""Ingest and label on the public samples, checked against the raw files.

Skipped when ../shared/data is absent. Expected values are recomputed here
from the raw JSON in float64, without the library's code paths.
"""

import json
import math
import subprocess
import sys
import unicodedata
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
from conftest import REPO

from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.params import IngestParams, LabelParams

GAMMA = 0.7


def normalised(text):
    return " ".join(unicodedata.normalize("NFC", text).split())


def run_both(tmp_path, ingest_values):
    ingest_metrics = run_ingest(
        IngestParams.from_mapping(ingest_values), tmp_path / "r.parquet", tmp_path / "q.parquet"
    )
    label_metrics = run_label(
        LabelParams.from_mapping({"gamma": GAMMA}),
        tmp_path / "r.parquet",
        tmp_path / "train.parquet",
        tmp_path / "test.parquet",
    )
    pairs = (
        pq.read_table(tmp_path / "train.parquet").to_pylist()
        + pq.read_table(tmp_path / "test.parquet").to_pylist()
    )
    return ingest_metrics, label_metrics, pairs


def expected_p(score_chosen, score_rejected):
    return 1.0 / (1.0 + math.exp(-GAMMA * (score_chosen - score_rejected)))


def test_ultrafeedback_binarized(shared_data, tmp_path):
    path = shared_data / "ultrafeedback_binarized" / "train_clean.jsonl"
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ingest_metrics, label_metrics, pairs = run_both(
        tmp_path,
        {
            "source": "binarized_pairs",
            "path": str(path),
            "judge": "gpt-4",
            "fields": {"score_chosen": "metadata.score_chosen", "score_rejected": "metadata.score_rejected"},
        },
    )

    identical = sum(normalised(r["chosen"]) == normalised(r["rejected"]) for r in raw)
    ties = sum(
        r["metadata"]["score_chosen"] == r["metadata"]["score_rejected"]
        and normalised(r["chosen"]) != normalised(r["rejected"])
        for r in raw
    )
    assert ingest_metrics["quarantined"] == 0
    assert label_metrics["identical_pairs_dropped"] == identical == 4
    assert label_metrics["ties_dropped"] == ties
    assert len(pairs) + ties + identical + ingest_metrics["quarantined"] == len(raw) == 1000

    by_texts = {(r["prompt"], r["chosen"], r["rejected"]): r["metadata"] for r in raw}
    for pair in pairs:
        key = (pair["prompt"][0]["content"], pair["chosen"][0]["content"], pair["rejected"][0]["content"])
        scores = by_texts[key]
        assert (
            pair["score_chosen"]
            == scores["score_chosen"]
            > scores["score_rejected"]
            == pair["score_rejected"]
        )
        assert pair["p_chosen"] == pytest.approx(
            expected_p(scores["score_chosen"], scores["score_rejected"]), abs=1e-15
        )
        assert pair["judge"] == "gpt-4"


def read_arena_bench(root):
    """Return answer texts and scores keyed by (question_id, answer model_id)."""
    texts, model_ids = {}, {}
    for file in sorted((root / "model_answer").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts[(row["question_id"], row["model_id"])] = row["choices"][0]["turns"][0]
            model_ids[file.stem] = row["model_id"]
    scores = {}
    for file in sorted((root / "model_judgment").glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            model = row["model"] if (row["question_id"], row["model"]) in texts else model_ids[file.stem]
            scores[(row["question_id"], model)] = row["score"]
    return texts, scores


def test_arena_bench_mtbench_folder(shared_data, tmp_path):
    root = shared_data / "arena_bench_v1"
    texts, scores = read_arena_bench(root)
    ingest_metrics, label_metrics, pairs = run_both(
        tmp_path, {"source": "mtbench", "path": str(root), "judge": "gpt-4"}
    )

    nulls = sum(score is None for score in scores.values())
    assert nulls == 8
    assert ingest_metrics["quarantined_by_reason"] == {"null_score": nulls}
    assert ingest_metrics["responses"] + ingest_metrics["quarantined"] == len(scores) == 1500

    per_question = defaultdict(list)
    for (question, model), score in scores.items():
        if score is not None:
            per_question[question].append((model, float(score)))
    candidates = ties = identical = 0
    for question, rows in per_question.items():
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                candidates += 1
                if normalised(texts[(question, rows[i][0])]) == normalised(texts[(question, rows[j][0])]):
                    identical += 1
                elif rows[i][1] == rows[j][1]:
                    ties += 1
    assert label_metrics["candidate_pairs"] == candidates
    assert label_metrics["identical_pairs_dropped"] == identical
    assert label_metrics["ties_dropped"] == ties
    assert len(pairs) + ties + identical == candidates

    for pair in pairs:
        chosen = float(scores[(pair["prompt_id"], pair["model_chosen"])])
        rejected = float(scores[(pair["prompt_id"], pair["model_rejected"])])
        assert pair["chosen"][0]["content"] == texts[(pair["prompt_id"], pair["model_chosen"])]
        assert pair["score_chosen"] == chosen > rejected == pair["score_rejected"]
        assert pair["p_chosen"] == pytest.approx(expected_p(chosen, rejected), abs=1e-15)


@pytest.mark.slow
def test_full_pipeline_on_ultrafeedback_with_cli(shared_data, tmp_path):
    """The README's command-line route: the repo's params.yaml plus --set overrides."""
    overrides = [
        "ingest.source=binarized_pairs",
        f"ingest.path={shared_data / 'ultrafeedback_binarized' / 'train_clean.jsonl'}",
        "ingest.fields.score_chosen=metadata.score_chosen",
        "ingest.fields.score_rejected=metadata.score_rejected",
        "ingest.judge=gpt-4",
        "train.epochs=1",
    ]
    common = ["--params", str(REPO / "params.yaml")] + [arg for o in overrides for arg in ("--set", o)]
    paths = {
        "ingest": ["--responses", "r.parquet", "--quarantine", "q.parquet", "--metrics", "ingest.json"],
        "label": [
            "--responses",
            "r.parquet",
            "--train",
            "train.parquet",
            "--test",
            "test.parquet",
            "--metrics",
            "label.json",
        ],
        "train": [
            "--train",
            "train.parquet",
            "--model-dir",
            "model",
            "--log",
            "log.csv",
            "--metrics",
            "train.json",
        ],
        "evaluate": [
            "--model-dir",
            "model",
            "--test",
            "test.parquet",
            "--predictions",
            "p.parquet",
            "--metrics",
            "evaluate.json",
        ],
    }
    for stage, args in paths.items():
        result = subprocess.run(
            [sys.executable, "-m", "mmpo.cli", stage, *common, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr

    label = json.loads((tmp_path / "label.json").read_text())
    evaluate = json.loads((tmp_path / "evaluate.json").read_text())
    assert label["pairs"] == 886
    assert evaluate["pairs"] == label["test_pairs"]
    assert math.isfinite(evaluate["cross_entropy"])
