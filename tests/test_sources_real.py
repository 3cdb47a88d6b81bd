"""Adapters on the public data samples, checked against values recomputed from the raw files.

Skipped when ../shared/data is absent. Expected counts and values come from
plain JSON parsing here, not from the library's code paths.
"""

import json
import re
import unicodedata
from collections import Counter, defaultdict

import numpy as np
import pyarrow.parquet as pq
import pytest
from ingest_helpers import assert_balanced, run_tables
from test_sources_pairwise import write_arena_hard_texts

from mmpo.label import run_label
from mmpo.params import LabelParams


def normalised(text):
    return " ".join(unicodedata.normalize("NFC", text).split())


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_helpsteer_real_sample(shared_data, tmp_path):
    path = shared_data / "helpsteer" / "nvidia_HelpSteer_sample.jsonl"
    raw = read_jsonl(path)
    groups = defaultdict(list)
    for row in raw:
        groups[(row["prompt"], normalised(row["response"]))].append(float(row["helpfulness"]))

    metrics, responses, _, quarantine = run_tables(tmp_path, {"source": "helpsteer", "path": str(path)})
    assert len(raw) == 500
    assert len(responses) == len(groups)
    assert metrics["merged_duplicates"] == len(raw) - len(groups)
    assert quarantine == []
    assert len({r["prompt_id"] for r in responses}) == len({row["prompt"] for row in raw})
    for row in responses[:50]:
        expected = groups[(row["prompt"][0]["content"], normalised(row["response"]))]
        assert row["score"] == pytest.approx(np.mean(expected))
        assert row["num_scores"] == len(expected)
    assert_balanced(metrics)


def test_stack_exchange_real_sample(shared_data, tmp_path):
    path = shared_data / "stack_exchange_prefs" / "stack_exchange_preferences_sample.jsonl"
    raw = read_jsonl(path)
    expected = defaultdict(list)
    for row in raw:
        expected[row["question"]] += [float(a["pm_score"]) for a in row["answers"]]

    metrics, responses, _, _ = run_tables(tmp_path, {"source": "stack_exchange", "path": str(path)})
    scores = defaultdict(list)
    for row in responses:
        scores[row["prompt"][0]["content"]].append(row["score"])
    assert {key: sorted(values) for key, values in scores.items()} == {
        k: sorted(v) for k, v in expected.items()
    }
    assert len({r["prompt_id"] for r in responses}) == len(expected)
    assert metrics["accounting"]["input"] == sum(len(row["answers"]) for row in raw) == 1589
    assert_balanced(metrics)


def test_chatbot_arena_real_sample(shared_data, tmp_path):
    path = shared_data / "chatbot_arena_55k" / "lmsys_arena_human_preference_55k_sample.jsonl"
    raw = read_jsonl(path)
    single = [row for row in raw if len(json.loads(row["prompt"])) == 1]
    outcomes = Counter()
    for row in single:
        if row["winner_model_a"]:
            outcomes[1.0] += 1
        elif row["winner_model_b"]:
            outcomes[0.0] += 1
        else:
            outcomes[0.5] += 1

    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "chatbot_arena", "path": str(path)})
    assert len(comparisons) == len(single)
    assert Counter(c["p_a"] for c in comparisons) == outcomes
    assert Counter(q["reason"] for q in quarantine) == {"diverging_turns": len(raw) - len(single)}
    assert comparisons[0]["response_a"] == json.loads(single[0]["response_a"])[0]
    assert_balanced(metrics)


def test_arena_hard_real_sample(shared_data, tmp_path):
    path = shared_data / "arena_hard_battles" / "arena_hard_battles.jsonl"
    raw = read_jsonl(path)
    votes = defaultdict(list)
    for row in raw:
        value = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}[row["winner"]]
        votes[(str(row["question_id"]), row["model_b"])].append(value)
    models = sorted({row["model_a"] for row in raw} | {row["model_b"] for row in raw})
    write_arena_hard_texts(tmp_path / "texts", sorted({q for q, _ in votes}), models)

    values = {
        "source": "arena_hard",
        "path": str(path),
        "arena_hard": {
            "questions": str(tmp_path / "texts" / "question.jsonl"),
            "answers": str(tmp_path / "texts" / "model_answer"),
        },
    }
    metrics, _, comparisons, quarantine = run_tables(tmp_path, values)
    assert len(comparisons) == len(votes) == 480
    assert metrics["merged_duplicates"] == len(raw) - len(votes)
    assert quarantine == []
    assert sum(1 for v in votes.values() if len(set(v)) > 1) == 94
    soft = [c for c in comparisons if c["p_a"] not in (0.0, 1.0)]
    assert len(soft) == sum(1 for v in votes.values() if np.mean(v) not in (0.0, 1.0))
    for row in comparisons:
        expected = votes[(row["prompt_id"], row["model_b"])]
        assert row["p_a"] == pytest.approx(np.mean(expected))
        assert row["votes"] == len(expected)
    assert_balanced(metrics)


def last_turn_split(transcript):
    index = transcript.rindex("\n\nAssistant:")
    return transcript[:index], transcript[index + len("\n\nAssistant:") :].strip()


def test_hh_rlhf_real_sample(shared_data, tmp_path):
    path = shared_data / "hh_rlhf" / "harmless_base_test.jsonl"
    raw = read_jsonl(path)
    diverging = [
        i + 1
        for i, r in enumerate(raw)
        if last_turn_split(r["chosen"])[0] != last_turn_split(r["rejected"])[0]
    ]

    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "hh_rlhf", "path": str(path)})
    reasons = Counter(q["reason"] for q in quarantine)
    assert reasons["diverging_prompts"] == len(diverging) == 5
    assert len(comparisons) + len(quarantine) == len(raw) == 2312
    first = raw[0]
    assert comparisons[0]["response_a"].strip() == last_turn_split(first["chosen"])[1]
    assert comparisons[0]["prompt"][0]["role"] == "user"
    assert comparisons[0]["prompt"][-1]["role"] == "user"
    assert all(c["p_a"] == 1.0 for c in comparisons)
    assert_balanced(metrics)


@pytest.mark.parametrize("preference", ["better", "safer"])
def test_pku_saferlhf_real_sample(shared_data, tmp_path, preference):
    path = shared_data / "pku_saferlhf" / "PKU-SafeRLHF_sample.jsonl"
    raw = read_jsonl(path)
    values = {"source": "pku_saferlhf", "path": str(path), "pku_saferlhf": {"preference": preference}}
    metrics, _, comparisons, _ = run_tables(tmp_path, values)

    expected = [1.0 if row[f"{preference}_response_id"] == 0 else 0.0 for row in raw]
    assert [c["p_a"] for c in comparisons] == expected
    assert comparisons[0]["response_a"] == raw[0]["response_0"]
    assert_balanced(metrics)


def test_pku_saferlhf_label_stage(shared_data, tmp_path):
    path = shared_data / "pku_saferlhf" / "PKU-SafeRLHF_sample.jsonl"
    raw = read_jsonl(path)
    run_tables(tmp_path, {"source": "pku_saferlhf", "path": str(path)})
    out = tmp_path / "out"
    metrics = run_label(
        LabelParams.from_mapping({}),
        out / "r.parquet",
        out / "train.parquet",
        out / "test.parquet",
        out / "c.parquet",
    )
    pairs = pq.read_table(out / "train.parquet").to_pylist() + pq.read_table(out / "test.parquet").to_pylist()
    identical = sum(1 for row in raw if normalised(row["response_0"]) == normalised(row["response_1"]))
    assert metrics["pairs"] == len(pairs) == len(raw) - identical
    chosen = {(row["prompt"], row[f"response_{row['better_response_id']}"]) for row in raw}
    for pair in pairs:
        assert (pair["prompt"][0]["content"], pair["chosen"][0]["content"]) in chosen
        assert pair["p_chosen"] == 1.0
        assert pair["margin"] is None


@pytest.mark.parametrize(
    ("name", "undecided"),
    [("weighted_alpaca_eval_gpt4_turbo__claude-2.1.json", 0), ("alpaca_eval_gpt4__claude-2.json", 2)],
)
def test_alpaca_eval_real_sample(shared_data, tmp_path, name, undecided):
    path = shared_data / "alpaca_eval" / name
    raw = json.loads(path.read_text(encoding="utf-8"))
    decided = [row for row in raw if row["preference"] not in (None, 0, 0.0, "0", "0.0")]

    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "alpaca_eval", "path": str(path)})
    assert len(quarantine) == undecided == len(raw) - len(decided)
    assert [c["p_a"] for c in comparisons] == pytest.approx([2.0 - float(r["preference"]) for r in decided])
    assert comparisons[0]["model_b"] == decided[0]["generator_2"]
    assert_balanced(metrics)


def test_mtbench_reparse_real_sample(shared_data, tmp_path):
    root = shared_data / "arena_bench_v1"
    nulls = [
        json.loads(line)
        for path in sorted((root / "model_judgment").glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if json.loads(line).get("score") is None
    ]
    recoverable = [row for row in nulls if re.search(r"\[\[\d+(\.\d+)?\]\]", row["judgment"])]

    values = {"source": "mtbench", "path": str(root), "reparse_ratings": True, "judge": "gpt-4"}
    metrics, responses, _, quarantine = run_tables(tmp_path, values)
    assert metrics["notes"]["reparsed_ratings"] == len(recoverable) == 1
    assert len(quarantine) == len(nulls) - len(recoverable)
    recovered = [
        r
        for r in responses
        if r["prompt_id"] == recoverable[0]["question_id"] and r["model"] == recoverable[0]["model"]
    ]
    assert [r["score"] for r in recovered] == [9.5]
