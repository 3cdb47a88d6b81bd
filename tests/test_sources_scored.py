"""Adapters of scored responses (UltraFeedback, HelpSteer, StackExchange/SHP) on small files."""

import csv

import numpy as np
import pytest
from conftest import write_jsonl
from ingest_helpers import assert_balanced, file_metadata, reasons_by_origin, run_tables

from mmpo.text import prompt_hash


def ratings(instruction_following, honesty, truthfulness, helpfulness):
    """Annotations in the openbmb/UltraFeedback layout: ratings stored as strings."""
    values = dict(
        instruction_following=instruction_following,
        honesty=honesty,
        truthfulness=truthfulness,
        helpfulness=helpfulness,
    )
    return {name: {"Rating": rating, "Rationale": "..."} for name, rating in values.items()}


def completion(model, response, overall, annotations):
    return {
        "model": model,
        "principle": "helpfulness",
        "custom_system_prompt": "Be helpful.",
        "response": response,
        "annotations": annotations,
        "fine-grained_score": 0.0,
        "overall_score": overall,
        "critique": "...",
    }


def write_ultrafeedback(path):
    first = {
        "source": "test",
        "instruction": "Name a prime number.",
        "models": ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"],
        "completions": [
            completion("m1", "2", 9.0, ratings("5", "5", "5", "5")),
            completion("m2", "4", 9.5, ratings("1", "2", "2", "1")),
            completion("m3", " 2 ", 7.0, ratings("3", "3", "3", "3")),
            completion("m4", "7", 8.0, ratings("4", "N/A", "4", "4")),
            completion("m5", "", 6.0, ratings("3", "3", "3", "3")),
            completion("m6", "11", "N/A", ratings("3", "3", "3", "3")),
            completion("m7", True, 5.0, ratings("3", "3", "3", "3")),
            completion("m8", "13", 11.0, ratings("2", "2", "2", "2")),
        ],
        "correct_answers": ["2"],
        "incorrect_answers": ["4"],
    }
    # Some exports wrap each aspect's annotation in a one-element list.
    first["completions"][0]["annotations"]["honesty"] = [{"Rating": "5", "Rationale": "..."}]
    second = {"source": "test", "instruction": "Broken row", "completions": None}
    return write_jsonl(path, [first, second])


def test_ultrafeedback_overall_score(tmp_path):
    path = write_ultrafeedback(tmp_path / "uf.jsonl")
    metrics, responses, _, quarantine = run_tables(tmp_path, {"source": "ultrafeedback", "path": str(path)})

    by_model = {r["model"]: r for r in responses}
    assert sorted(by_model) == ["m1", "m2", "m4"]
    assert by_model["m1"]["score"] == 8.0
    assert by_model["m1"]["score_std"] == 1.0
    assert by_model["m1"]["num_scores"] == 2
    assert by_model["m2"]["score"] == 9.5
    assert by_model["m4"]["aspects"] == [
        {"name": "instruction_following", "score": 4.0},
        {"name": "truthfulness", "score": 4.0},
        {"name": "helpfulness", "score": 4.0},
    ]
    assert by_model["m1"]["prompt"] == [{"role": "user", "content": "Name a prime number."}]
    assert by_model["m1"]["judge"] == "gpt-4"
    assert reasons_by_origin(quarantine) == {
        "1#4": "empty_text",
        "1#5": "non_numeric_score",
        "1#6": "non_text",
        "1#7": "score_out_of_range",
        "2": "invalid_row",
    }
    assert metrics["merged_duplicates"] == 1
    assert metrics["notes"] == {"overall_aspect_conflicts": 1}
    assert metrics["accounting"]["input"] == 9
    assert_balanced(metrics)


def test_ultrafeedback_aspect_mean(tmp_path):
    path = write_ultrafeedback(tmp_path / "uf.jsonl")
    values = {"source": "ultrafeedback", "path": str(path), "ultrafeedback": {"score": "aspects_mean"}}
    metrics, responses, _, quarantine = run_tables(tmp_path, values)

    scores = {r["model"]: r["score"] for r in responses}
    assert scores == {"m1": 4.0, "m2": 1.5, "m6": 3.0, "m8": 2.0}
    assert reasons_by_origin(quarantine)["1#3"] == "non_numeric_score"
    assert file_metadata(tmp_path / "out" / "r.parquet")["params"]["ultrafeedback"]["score"] == "aspects_mean"
    assert_balanced(metrics)


def test_ultrafeedback_weighted_aspects(tmp_path):
    path = write_ultrafeedback(tmp_path / "uf.jsonl")
    weights = {"honesty": 1, "helpfulness": 3}
    values = {
        "source": "ultrafeedback",
        "path": str(path),
        "ultrafeedback": {"score": "aspects_weighted", "weights": weights},
    }
    _, responses, _, _ = run_tables(tmp_path, values)
    scores = {r["model"]: r["score"] for r in responses}
    assert scores["m2"] == pytest.approx((1 * 2 + 3 * 1) / 4)
    assert scores["m1"] == pytest.approx((1 * (5 + 3) / 2) * 0.25 + (3 * (5 + 3) / 2) * 0.25)


HELPSTEER = [
    {
        "prompt": "Q1",
        "response": "A",
        "helpfulness": 3,
        "correctness": 4,
        "coherence": 4,
        "complexity": 2,
        "verbosity": 1,
    },
    {
        "prompt": "Q1",
        "response": "B",
        "helpfulness": 1,
        "correctness": 0,
        "coherence": 3,
        "complexity": 1,
        "verbosity": 1,
    },
    {
        "prompt": "Q1",
        "response": "A ",
        "helpfulness": 4,
        "correctness": 2,
        "coherence": 4,
        "complexity": 2,
        "verbosity": 1,
    },
    {
        "prompt": "Q1 ",
        "response": "C",
        "helpfulness": 2,
        "correctness": 2,
        "coherence": 2,
        "complexity": 2,
        "verbosity": 2,
    },
    {
        "prompt": "Q2",
        "response": "D",
        "helpfulness": 5,
        "correctness": 2,
        "coherence": 2,
        "complexity": 2,
        "verbosity": 2,
    },
    {
        "prompt": "Q2",
        "response": "E",
        "helpfulness": None,
        "correctness": 2,
        "coherence": 2,
        "complexity": 2,
        "verbosity": 2,
    },
    {
        "prompt": "Q2",
        "response": "F",
        "helpfulness": "x",
        "correctness": 2,
        "coherence": 2,
        "complexity": 2,
        "verbosity": 2,
    },
    {
        "prompt": "Q2",
        "response": "  ",
        "helpfulness": 1,
        "correctness": 2,
        "coherence": 2,
        "complexity": 2,
        "verbosity": 2,
    },
    {
        "prompt": "Q2",
        "response": "G",
        "helpfulness": 2,
        "correctness": 3,
        "coherence": 2,
        "complexity": 2,
        "verbosity": None,
    },
]


def test_helpsteer_attribute_score(tmp_path):
    path = write_jsonl(tmp_path / "hs.jsonl", HELPSTEER)
    metrics, responses, _, quarantine = run_tables(tmp_path, {"source": "helpsteer", "path": str(path)})

    by_text = {r["response"]: r for r in responses}
    assert sorted(by_text) == ["A", "B", "C", "G"]
    assert by_text["A"]["score"] == 3.5
    assert by_text["A"]["score_std"] == 0.5
    assert by_text["A"]["num_scores"] == 2
    assert by_text["A"]["prompt_id"] != by_text["C"]["prompt_id"]
    assert [a["name"] for a in by_text["G"]["aspects"]] == [
        "helpfulness",
        "correctness",
        "coherence",
        "complexity",
    ]
    assert reasons_by_origin(quarantine) == {
        "5": "score_out_of_range",
        "6": "null_score",
        "7": "non_numeric_score",
        "8": "empty_text",
    }
    assert metrics["merged_duplicates"] == 1
    assert_balanced(metrics)


def test_helpsteer_weighted_attributes(tmp_path):
    path = write_jsonl(tmp_path / "hs.jsonl", HELPSTEER)
    values = {
        "source": "helpsteer",
        "path": str(path),
        "helpsteer": {"weights": {"helpfulness": 1, "correctness": 3}},
    }
    _, responses, _, _ = run_tables(tmp_path, values)
    by_text = {r["response"]: r["score"] for r in responses}
    assert by_text["B"] == pytest.approx((1 * 1 + 3 * 0) / 4)
    assert by_text["G"] == pytest.approx((1 * 2 + 3 * 3) / 4)
    expected_a = np.mean([(3 + 3 * 4) / 4, (4 + 3 * 2) / 4])
    assert by_text["A"] == pytest.approx(expected_a)


def test_helpsteer_csv_empty_cells(tmp_path):
    path = tmp_path / "hs.csv"
    names = ["prompt", "response", "helpfulness", "correctness", "coherence", "complexity", "verbosity"]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(names)
        writer.writerow(["Q", "fine", "3", "3", "3", "3", "3"])
        writer.writerow(["Q", "no rating", "", "3", "3", "3", "3"])
        writer.writerow(["Q", "", "3", "3", "3", "3", "3"])
    metrics, responses, _, quarantine = run_tables(tmp_path, {"source": "helpsteer", "path": str(path)})
    assert [r["score"] for r in responses] == [3.0]
    assert reasons_by_origin(quarantine) == {"3": "null_score", "4": "empty_text"}
    assert_balanced(metrics)


def test_helpsteer_text_too_long(tmp_path):
    path = write_jsonl(tmp_path / "hs.jsonl", HELPSTEER[:2])
    values = {
        "source": "helpsteer",
        "path": str(path),
        "max_text_length": 2,
        "helpsteer": {"attribute": "coherence"},
    }
    _, responses, _, quarantine = run_tables(tmp_path, values)
    assert [r["score"] for r in responses] == [4.0, 3.0]
    long_row = dict(HELPSTEER[0], response="ABC")
    write_jsonl(path, [long_row])
    _, _, _, quarantine = run_tables(tmp_path, values)
    assert [q["reason"] for q in quarantine] == ["text_too_long"]
    assert "max_text_length=2" in quarantine[0]["detail"]


def test_stack_exchange_answers_and_shp(tmp_path):
    rows = [
        {
            "qid": 7,
            "question": "<p>How?</p>",
            "answers": [
                {"answer_id": 1, "text": "<p>Like this</p>", "pm_score": 3},
                {"answer_id": 2, "text": "<p>No idea</p>", "pm_score": "N/A"},
                {"answer_id": 3, "text": "<p>Like  this</p>", "pm_score": -1},
            ],
        },
        {
            "post_id": "p1",
            "history": "Why?",
            "human_ref_A": "x",
            "human_ref_B": "y",
            "score_A": 10,
            "score_B": 3,
        },
        {
            "post_id": "p1",
            "history": "Why?",
            "human_ref_A": "x",
            "human_ref_B": "z",
            "score_A": 10,
            "score_B": 1,
        },
        {"unrelated": 1},
    ]
    path = write_jsonl(tmp_path / "se.jsonl", rows)
    metrics, responses, _, quarantine = run_tables(tmp_path, {"source": "stack_exchange", "path": str(path)})

    by_text = {r["response"]: r for r in responses}
    assert by_text["<p>Like this</p>"]["score"] == 1.0
    assert by_text["<p>Like this</p>"]["score_std"] == 2.0
    assert by_text["<p>Like this</p>"]["prompt_id"] == prompt_hash(
        [{"role": "user", "content": "<p>How?</p>"}]
    )
    assert by_text["x"]["num_scores"] == 2
    assert by_text["x"]["score"] == 10.0
    assert by_text["z"]["prompt_id"] == "p1"
    assert by_text["z"]["prompt"] == [{"role": "user", "content": "Why?"}]
    assert reasons_by_origin(quarantine) == {"1#1": "non_numeric_score", "4": "invalid_row"}
    assert metrics["merged_duplicates"] == 2
    assert metrics["accounting"]["input"] == 8
    assert_balanced(metrics)


def test_mtbench_reparse_rating(tmp_path):
    from test_sources import make_mtbench

    root = tmp_path / "mt"
    make_mtbench(root)
    judgments = [
        {"question_id": "q1", "model": "beta", "judgment": "Draft [[3]], final: [[8.5]]", "score": None},
        {"question_id": "q2", "model": "beta", "judgment": "cut off", "score": None},
        {"question_id": "q2", "model": "beta", "judgment": "too high", "score": 12, "turn": 2},
    ]
    write_jsonl(root / "model_judgment" / "beta.jsonl", judgments)

    metrics, responses, _, quarantine = run_tables(tmp_path, {"source": "mtbench", "path": str(root)})
    assert sorted(q["reason"] for q in quarantine) == [
        "no_judgment",
        "null_score",
        "null_score",
        "score_out_of_range",
    ]
    assert metrics["notes"] == {}

    values = {"source": "mtbench", "path": str(root), "reparse_ratings": True}
    metrics, responses, _, quarantine = run_tables(tmp_path, values)
    beta = [r for r in responses if r["model"] == "beta"]
    assert [r["score"] for r in beta] == [8.5]
    assert sorted(q["reason"] for q in quarantine) == ["no_judgment", "null_score", "score_out_of_range"]
    assert metrics["notes"] == {"reparsed_ratings": 1}


def test_ultrafeedback_output_deterministic(tmp_path):
    path = write_ultrafeedback(tmp_path / "uf.jsonl")
    outputs = []
    for run in ("first", "second"):
        run_tables(tmp_path / run, {"source": "ultrafeedback", "path": str(path)})
        outputs.append([(tmp_path / run / "out" / name).read_bytes() for name in ("r.parquet", "q.parquet")])
    assert outputs[0][0] == outputs[1][0]
    assert outputs[0][1] == outputs[1][1]
