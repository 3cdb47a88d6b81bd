"""Source adapters on small files written here, including bad input."""

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import write_jsonl

from mmpo.errors import InputError
from mmpo.ingest import run_ingest
from mmpo.params import IngestParams


def ingest(tmp_path, **values):
    params = IngestParams.from_mapping(values)
    metrics = run_ingest(params, tmp_path / "out" / "r.parquet", tmp_path / "out" / "q.parquet")
    responses = pq.read_table(tmp_path / "out" / "r.parquet").to_pylist()
    quarantine = pq.read_table(tmp_path / "out" / "q.parquet").to_pylist()
    return metrics, responses, quarantine


SCORED = [
    {"prompt_id": "p1", "prompt": "Say hi", "response": "Hi!", "score": 8, "model": "m1", "judge": "me"},
    {"prompt_id": "p1", "prompt": "Say hi", "response": "Go away", "score": "2.5", "model": "m2"},
    {"prompt_id": "p1", "prompt": "Say hi", "response": "Hello", "score": None},
    {"prompt": "Say bye", "response": "Bye", "score": "n/a"},
    {"prompt": "Say bye", "response": "Bye now"},
    {"prompt": "Say bye", "response": "Later", "score": float("inf")},
]


def test_scored_responses_jsonl_with_quarantine(tmp_path):
    lines = [json.dumps(r) for r in SCORED] + ["{not json", ""]
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    metrics, responses, quarantine = ingest(tmp_path, path=str(path), judge="fallback")

    assert [r["score"] for r in responses] == [8.0, 2.5]
    assert responses[0]["judge"] == "me"
    assert responses[1]["judge"] == "fallback"
    assert responses[0]["prompt"] == [{"role": "user", "content": "Say hi"}]
    assert responses[0]["origin"] == f"{path}:1"
    reasons = {q["origin"].rsplit(":", 1)[1]: q["reason"] for q in quarantine}
    assert reasons == {
        "3": "null_score",
        "4": "non_numeric_score",
        "5": "missing_score",
        "6": "non_finite_score",
        "7": "invalid_json",
    }
    assert metrics["read"]["rows"] == 7
    assert metrics["responses"] + metrics["quarantined"] == metrics["read"]["rows"]
    assert json.loads(quarantine[0]["record"])["response"] == "Hello"
    assert "field 'score'" in quarantine[0]["detail"]


def test_prompt_id_hash_ignores_whitespace(tmp_path):
    rows = [
        {"prompt": "Say  bye", "response": "a", "score": 1},
        {"prompt": "Say bye\n", "response": "b", "score": 2},
    ]
    _, responses, _ = ingest(tmp_path, path=str(write_jsonl(tmp_path / "in.jsonl", rows)))
    assert responses[0]["prompt_id"] == responses[1]["prompt_id"]
    assert len(responses[0]["prompt_id"]) == 32


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json"])
def test_scored_responses_other_formats(tmp_path, suffix):
    frame = pd.DataFrame(
        {"prompt": ["q", "q"], "response": ["a", "b"], "score": [3.0, 7.0], "model": ["x", "y"]}
    )
    path = tmp_path / f"in.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    elif suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records")
    metrics, responses, _ = ingest(tmp_path, path=str(path))
    assert [r["score"] for r in responses] == [3.0, 7.0]
    assert [r["model"] for r in responses] == ["x", "y"]
    assert metrics["quarantined"] == 0


def test_field_mapping_with_dotted_path(tmp_path):
    rows = [{"q": "x", "out": {"text": "y", "rating": 4}}]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    fields = {"prompt": "q", "response": "out.text", "score": "out.rating"}
    _, responses, _ = ingest(tmp_path, path=str(path), fields=fields)
    assert responses[0]["response"] == "y"
    assert responses[0]["score"] == 4.0


def test_missing_input_raises(tmp_path):
    with pytest.raises(InputError, match="input not found; set ingest.path"):
        ingest(tmp_path, path=str(tmp_path / "absent.jsonl"))


def test_unsupported_suffix_raises(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("x")
    with pytest.raises(InputError, match="unsupported file type '.txt'"):
        ingest(tmp_path, path=str(path))


def test_failed_ingest_leaves_no_output(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("x")
    with pytest.raises(InputError):
        ingest(tmp_path, path=str(path))
    assert not list((tmp_path / "out").iterdir())


PAIRS = [
    {"prompt": "p1", "chosen": "good", "rejected": "bad", "score_chosen": 8, "score_rejected": 3},
    {
        "chosen": [{"role": "user", "content": "p2"}, {"role": "assistant", "content": "fine"}],
        "rejected": [{"role": "user", "content": "p2"}, {"role": "assistant", "content": "poor"}],
        "score_chosen": 6.5,
        "score_rejected": 6.5,
    },
    {"prompt": "p3", "chosen": "a", "rejected": "b", "score_chosen": None, "score_rejected": 1},
    {
        "chosen": [{"role": "user", "content": "p4"}, {"role": "assistant", "content": "x"}],
        "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "y"}],
        "score_chosen": 2,
        "score_rejected": 1,
    },
    {"prompt": "p5", "chosen": 42, "rejected": "b", "score_chosen": 2, "score_rejected": 1},
]


def test_binarized_pairs_strings_and_messages(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    metrics, responses, quarantine = ingest(tmp_path, source="binarized_pairs", path=str(path), judge="gpt-4")

    assert [r["response"] for r in responses] == ["good", "bad", "fine", "poor"]
    assert responses[0]["group_id"] == responses[1]["group_id"]
    assert responses[0]["group_id"] != responses[2]["group_id"]
    assert responses[2]["prompt"] == [{"role": "user", "content": "p2"}]
    assert [q["reason"] for q in quarantine] == ["null_score", "invalid_prompt", "invalid_chosen"]
    assert metrics["responses"] == 2 * (metrics["read"]["rows"] - metrics["quarantined"])


def test_binarized_pairs_missing_score_field_names_fix(tmp_path):
    rows = [
        {"prompt": "p", "chosen": "a", "rejected": "b", "metadata": {"score_chosen": 2, "score_rejected": 1}}
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    with pytest.raises(InputError, match=r"pairs.jsonl:1: field 'score_chosen'.*metadata\.score_chosen"):
        ingest(tmp_path, source="binarized_pairs", path=str(path))


def test_binarized_pairs_from_local_hf_dataset(tmp_path):
    folder = tmp_path / "hub_copy"
    folder.mkdir()
    pd.DataFrame([PAIRS[0], {**PAIRS[0], "prompt": "q2"}]).to_parquet(folder / "train.parquet")
    _, responses, _ = ingest(tmp_path, source="binarized_pairs", hf_dataset=str(folder), hf_split="train")
    assert len(responses) == 4
    assert responses[0]["origin"] == f"{folder}[train]:1"


def make_mtbench(root):
    """Write a folder with two questions and three models, gamma unjudged.

    Quirks of published folders: file and row model names differ, scores are
    int in one file and float in another, one score is null.
    """
    write_jsonl(
        root / "question.jsonl",
        [
            {"question_id": "q1", "turns": ["What is 2+2?"]},
            {"question_id": "q2", "turns": ["Name a colour.", "Another one?"]},
        ],
    )
    write_jsonl(
        root / "model_answer" / "alpha.jsonl",
        [
            {"question_id": "q1", "model_id": "org/alpha", "choices": [{"index": 0, "turns": ["4"]}]},
            {
                "question_id": "q2",
                "model_id": "org/alpha",
                "choices": [{"index": 0, "turns": ["Red", "Blue"]}],
            },
        ],
    )
    write_jsonl(
        root / "model_answer" / "beta.jsonl",
        [
            {"question_id": "q1", "model_id": "beta", "choices": [{"index": 0, "turns": ["5"]}]},
            {"question_id": "q2", "model_id": "beta", "choices": [{"index": 0, "turns": ["Green", "Pink"]}]},
        ],
    )
    write_jsonl(
        root / "model_answer" / "gamma.jsonl",
        [
            {"question_id": "q1", "model_id": "gamma", "choices": [{"index": 0, "turns": ["four"]}]},
        ],
    )
    write_jsonl(
        root / "model_judgment" / "alpha.jsonl",
        [
            {"question_id": "q1", "model": "alpha", "judgment": "ok [[9]]", "score": 9},
            {"question_id": "q2", "model": "org/alpha", "judgment": "fine", "score": 7, "turn": 1},
            {"question_id": "q2", "model": "org/alpha", "judgment": "fine", "score": 6.0, "turn": 2.0},
        ],
    )
    write_jsonl(
        root / "model_judgment" / "beta.jsonl",
        [
            {
                "question_id": "q1",
                "model": "beta",
                "judgment": "wrong",
                "score": 2.0,
                "judge": ["gpt-4", "single"],
            },
            {"question_id": "q2", "model": "beta", "judgment": "cut off", "score": None},
            {"question_id": "q9", "model": "beta", "judgment": "?", "score": 5},
        ],
    )


def test_mtbench_folder(tmp_path):
    make_mtbench(tmp_path / "mt")
    metrics, responses, quarantine = ingest(
        tmp_path, source="mtbench", path=str(tmp_path / "mt"), judge="judge-x"
    )

    by_key = {(r["prompt_id"], r["model"], len(r["prompt"])): r for r in responses}
    assert by_key[("q1", "org/alpha", 1)]["score"] == 9.0
    assert by_key[("q1", "beta", 1)]["judge"] == "gpt-4"
    assert by_key[("q1", "org/alpha", 1)]["judge"] == "judge-x"
    turn2 = by_key[("q2", "org/alpha", 3)]
    assert turn2["response"] == "Blue"
    assert turn2["prompt"][1] == {"role": "assistant", "content": "Red"}
    assert turn2["group_id"] == "q2:turn2"

    assert sorted(q["reason"] for q in quarantine) == ["no_judgment", "null_score", "unknown_question"]
    assert metrics["read"] == {"answers": 5, "judgments": 6, "questions": 2, "unjudged_answers": 1}
    assert metrics["responses"] + metrics["quarantined"] == 7


def test_mtbench_missing_folder_part(tmp_path):
    (tmp_path / "mt").mkdir()
    with pytest.raises(InputError, match="question.jsonl: not found"):
        ingest(tmp_path, source="mtbench", path=str(tmp_path / "mt"))
