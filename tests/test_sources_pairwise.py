"""Adapters of pairwise judgments (arena votes, HH-RLHF, PKU, AlpacaEval, generic) on small files."""

import json

import pandas as pd
import pytest
from conftest import write_jsonl
from ingest_helpers import assert_balanced, reasons_by_origin, run_tables

from mmpo.errors import InputError
from mmpo.params import IngestParams, ParamsError


def arena_row(prompt, response_a, response_b, winner, **extra):
    flags = {"winner_model_a": 0, "winner_model_b": 0, "winner_tie": 0}
    flags.update({f"winner_{winner}": 1} if winner else {})
    row = {
        "id": 1,
        "model_a": "ma",
        "model_b": "mb",
        "prompt": json.dumps(prompt),
        "response_a": json.dumps(response_a),
        "response_b": json.dumps(response_b),
        **flags,
    }
    return {**row, **extra}


def test_chatbot_arena_votes(tmp_path):
    rows = [
        arena_row(["Hi"], ["Hello"], ["Hey"], "model_a"),
        arena_row(["Hi"], ["Hello"], ["Hey"], "model_b"),
        arena_row(["Hi"], ["Hello"], ["Hey"], "tie"),
        arena_row(["Hi", "More"], ["Same", "A2"], ["Same", "B2"], "model_a"),
        arena_row(["Hi", "More"], ["One", "A2"], ["Two", "B2"], "model_a"),
        arena_row(["Hi"], [None], ["Hey"], "model_b"),
        arena_row(["Hi"], ["Hello"], ["Hey"], None),
        {**arena_row(["Hi"], ["Hello"], ["Hey"], "tie"), "prompt": "not json ["},
    ]
    path = write_jsonl(tmp_path / "arena.jsonl", rows)
    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "chatbot_arena", "path": str(path)})

    assert [c["p_a"] for c in comparisons] == [1.0, 0.0, 0.5, 1.0]
    assert all(c["votes"] == 1.0 for c in comparisons)
    assert comparisons[3]["prompt"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Same"},
        {"role": "user", "content": "More"},
    ]
    assert comparisons[3]["response_a"] == "A2"
    assert comparisons[0]["model_a"] == "ma"
    assert reasons_by_origin(quarantine) == {
        "5": "diverging_turns",
        "6": "non_text",
        "7": "invalid_label",
        "8": "invalid_row",
    }
    assert_balanced(metrics)


def write_arena_hard_texts(root, question_ids, models):
    write_jsonl(
        root / "question.jsonl",
        [{"question_id": q, "turns": [{"content": f"question {q}"}]} for q in question_ids],
    )
    for model in models:
        answers = [
            {
                "question_id": q,
                "model_id": model,
                "choices": [{"index": 0, "turns": [{"content": f"{model} on {q}"}]}],
            }
            for q in question_ids
        ]
        write_jsonl(root / "model_answer" / f"{model}.jsonl", answers)


def test_arena_hard_vote_share(tmp_path):
    battles = [
        {"question_id": 1, "model_a": "x", "model_b": "y", "winner": "model_a"},
        {"question_id": 1, "model_a": "x", "model_b": "y", "winner": "model_b"},
        {"question_id": 1, "model_a": "x", "model_b": "y", "winner": "tie"},
        {"question_id": 1, "model_a": "x", "model_b": "y", "winner": "model_a"},
        {"question_id": 2, "model_a": "x", "model_b": "y", "winner": "model_b"},
        {"question_id": 2, "model_a": "x", "model_b": "y", "winner": "maybe"},
        {"question_id": 3, "model_a": "x", "model_b": "y", "winner": "model_a"},
    ]
    path = write_jsonl(tmp_path / "battles.jsonl", battles)
    write_arena_hard_texts(tmp_path / "texts", ["1", "2"], ["x", "y"])
    values = {
        "source": "arena_hard",
        "path": str(path),
        "arena_hard": {
            "questions": str(tmp_path / "texts" / "question.jsonl"),
            "answers": str(tmp_path / "texts" / "model_answer"),
        },
    }
    metrics, _, comparisons, quarantine = run_tables(tmp_path, values)

    assert [(c["prompt_id"], c["p_a"], c["votes"]) for c in comparisons] == [
        ("1", 2.5 / 4, 4.0),
        ("2", 0.0, 1.0),
    ]
    assert comparisons[0]["response_b"] == "y on 1"
    assert comparisons[0]["prompt"] == [{"role": "user", "content": "question 1"}]
    assert reasons_by_origin(quarantine) == {"6": "invalid_label", "7": "missing_text"}
    assert metrics["merged_duplicates"] == 3
    assert_balanced(metrics)


def test_arena_hard_needs_texts(tmp_path):
    path = write_jsonl(
        tmp_path / "battles.jsonl", [{"question_id": 1, "model_a": "x", "model_b": "y", "winner": "tie"}]
    )
    with pytest.raises(
        InputError, match=r"ingest.arena_hard.questions = None: not found; battles contain no texts"
    ):
        run_tables(tmp_path, {"source": "arena_hard", "path": str(path)})


def hh(*turns):
    return "".join(f"\n\n{role}: {text}" for role, text in turns)


def test_hh_rlhf_transcripts(tmp_path):
    rows = [
        {
            "chosen": hh(("Human", "Hi"), ("Assistant", "Hello!")),
            "rejected": hh(("Human", "Hi"), ("Assistant", "Go away.")),
        },
        {
            "chosen": hh(
                ("Human", "Hi"), ("Assistant", "Hey"), ("Human", "Joke?"), ("Assistant", "Knock knock.")
            ),
            "rejected": hh(("Human", "Hi"), ("Assistant", "Hey"), ("Human", "Joke?"), ("Assistant", "No.")),
        },
        {
            "chosen": hh(("Human", "Hi"), ("Assistant", "Yes")),
            "rejected": hh(("Human", "Hello"), ("Assistant", "No")),
        },
        {
            "chosen": hh(("Human", "Hi"), ("Assistant", "Sure, here")),
            "rejected": hh(("Human", "Hi"), ("Assistant", "Sure")),
        },
        {"chosen": "Hi there", "rejected": hh(("Human", "Hi"), ("Assistant", "No"))},
        {
            "chosen": hh(("Human", "Hi"), ("Assistant", " ")),
            "rejected": hh(("Human", "Hi"), ("Assistant", "No")),
        },
    ]
    path = write_jsonl(tmp_path / "hh.jsonl", rows)
    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "hh_rlhf", "path": str(path)})

    assert [(c["response_a"], c["response_b"], c["p_a"]) for c in comparisons] == [
        ("Hello!", "Go away.", 1.0),
        ("Knock knock.", "No.", 1.0),
    ]
    assert comparisons[1]["prompt"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hey"},
        {"role": "user", "content": "Joke?"},
    ]
    assert reasons_by_origin(quarantine) == {
        "3": "diverging_prompts",
        "4": "prefix_completion",
        "5": "invalid_transcript",
        "6": "empty_text",
    }
    assert_balanced(metrics)


PKU = [
    {
        "prompt": "P",
        "response_0": "r0",
        "response_1": "r1",
        "response_0_source": "s0",
        "response_1_source": "s1",
        "better_response_id": 0,
        "safer_response_id": 1,
    },
    {"prompt": "P", "response_0": "r0", "response_1": "r1", "better_response_id": 2, "safer_response_id": 0},
]


@pytest.mark.parametrize(
    ("preference", "p_a", "bad_row"), [("better", [1.0], "2"), ("safer", [0.0, 1.0], None)]
)
def test_pku_saferlhf_preference(tmp_path, preference, p_a, bad_row):
    path = write_jsonl(tmp_path / "pku.jsonl", PKU)
    values = {"source": "pku_saferlhf", "path": str(path), "pku_saferlhf": {"preference": preference}}
    metrics, _, comparisons, quarantine = run_tables(tmp_path, values)
    assert [c["p_a"] for c in comparisons] == p_a
    assert comparisons[0]["model_a"] == "s0"
    assert reasons_by_origin(quarantine) == ({bad_row: "invalid_label"} if bad_row else {})
    assert_balanced(metrics)


def test_alpaca_eval_preferences(tmp_path):
    def row(preference, **extra):
        base = {
            "instruction": "I",
            "output_1": "o1",
            "output_2": "o2",
            "generator_1": "g1",
            "generator_2": "g2",
            "annotator": "judge-a",
            "preference": preference,
        }
        return {**base, **extra}

    rows = [row(1), row(2.0), row("1.25"), row(0.0), row(None), row(2.5), row("bad"), row(1, output_2=True)]
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(rows))
    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "alpaca_eval", "path": str(path)})

    assert [(c["p_a"], c["votes"]) for c in comparisons] == [(1.0, 1.0), (0.0, 1.0), (0.75, None)]
    assert comparisons[0]["judge"] == "judge-a"
    assert comparisons[0]["model_b"] == "g2"
    assert reasons_by_origin(quarantine) == {
        "4": "undecided_preference",
        "5": "undecided_preference",
        "6": "score_out_of_range",
        "7": "non_numeric_score",
        "8": "non_text",
    }
    assert_balanced(metrics)


def test_comparisons_label_codes(tmp_path):
    frame = pd.DataFrame(
        {
            "question": ["q", "q", "q", "q"],
            "a": ["x", "x", "x", "x"],
            "b": ["y", "y", "y", "y"],
            "winner": ["0", "1", "2", "7"],
        }
    )
    path = tmp_path / "pairs.csv"
    frame.to_csv(path, index=False)
    values = {
        "source": "comparisons",
        "path": str(path),
        "fields": {"prompt": "question", "response_a": "a", "response_b": "b", "label": "winner"},
        "comparisons": {"label_a": 1, "label_b": 2, "label_tie": 0},
    }
    metrics, _, comparisons, quarantine = run_tables(tmp_path, values)
    assert [c["p_a"] for c in comparisons] == [0.5, 1.0, 0.0]
    assert reasons_by_origin(quarantine) == {"5": "invalid_label"}
    assert "code '7' in field 'winner'" in quarantine[0]["detail"]
    assert_balanced(metrics)


def test_comparisons_annotator_vote_share(tmp_path):
    rows = [
        {
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "response_a": "x",
            "response_b": "y",
            "r1": "A",
            "r2": "B",
            "r3": "tie",
            "r4": None,
        },
        {"prompt": "Hi", "response_a": "x", "response_b": "y", "r1": "A", "r2": "A", "r3": "A", "r4": "A"},
        {"prompt": "Hi", "response_a": "x", "response_b": "y", "r1": "A", "r2": "C", "r3": "A", "r4": "A"},
        {"prompt": "Hi", "response_a": "x", "response_b": "y", "r1": None, "r2": "", "r3": None, "r4": None},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    values = {
        "source": "comparisons",
        "path": str(path),
        "judge": "crowd",
        "comparisons": {
            "target": "annotators",
            "label_a": "A",
            "label_b": "B",
            "label_tie": "tie",
            "annotator_fields": ["r1", "r2", "r3", "r4"],
        },
    }
    metrics, _, comparisons, quarantine = run_tables(tmp_path, values)
    assert [(c["p_a"], c["votes"]) for c in comparisons] == [(1.5 / 3, 3.0), (1.0, 4.0)]
    assert comparisons[0]["prompt"][0] == {"role": "system", "content": "Be brief."}
    assert comparisons[0]["response_a"] == "x"
    assert comparisons[0]["judge"] == "crowd"
    assert reasons_by_origin(quarantine) == {"3": "invalid_label", "4": "invalid_label"}
    assert_balanced(metrics)


def test_comparisons_soft_p_a(tmp_path):
    rows = [
        {
            "prompt": "Hi",
            "response_a": "x",
            "response_b": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "y"}],
            "p_a": 0.8,
        },
        {"prompt": "Hi", "response_a": "x", "response_b": "y", "p_a": 1.2},
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    values = {"source": "comparisons", "path": str(path), "comparisons": {"target": "p_a"}}
    metrics, _, comparisons, quarantine = run_tables(tmp_path, values)
    assert [(c["p_a"], c["votes"], c["response_b"]) for c in comparisons] == [(0.8, None, "y")]
    assert reasons_by_origin(quarantine) == {"2": "invalid_label"}
    assert_balanced(metrics)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"source": "comparisons"}, "target 'label' needs label_a and label_b codes"),
        ({"comparisons": {"label_a": [1, 2], "label_b": 2}}, r"codes \['2'\] are declared for two outcomes"),
        ({"comparisons": {"label_a": True}}, "expected codes"),
        ({"comparisons": {"annotator_fields": "r1"}}, "expected a list of column names"),
        (
            {"source": "comparisons", "comparisons": {"target": "annotators", "label_a": 1, "label_b": 2}},
            "target annotators needs at least one column",
        ),
        ({"ultrafeedback": {"score": "aspects_weighted"}}, "needs weights per aspect"),
        ({"ultrafeedback": {"weights": {"style": 1}}}, r"\['style'\] are not among"),
        ({"ultrafeedback": {"weights": {"honesty": 0}}}, "the weights sum to 0"),
        ({"ultrafeedback": {"weights": ["honesty"]}}, "expected a mapping of name -> weight"),
        ({"helpsteer": {"attribute": "style"}}, "is not one of"),
        ({"helpsteer": "helpfulness"}, "helpsteer: expected a mapping"),
        ({"pku_saferlhf": {"preference": "kinder"}}, "is not one of"),
        ({"arena_hard": {"questions": 3}}, "expected a string or null"),
        ({"score_range": [5, 1]}, "low 5.0 is above high 1.0"),
        ({"score_range": 3}, r"expected \[low, high\]"),
        ({"max_text_length": 0}, "below the minimum 1"),
        ({"reparse_ratings": "yes"}, "expected true or false"),
        ({"helpsteer": {"colour": 1}}, r"unknown key\(s\) \['colour'\]"),
    ],
)
def test_ingest_source_options_invalid(values, message):
    with pytest.raises(ParamsError, match=message):
        IngestParams.from_mapping(values)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.json", b'[{"prompt": "x",', "not a valid JSON array"),
        ("bad.jsonl", b'{"prompt": "\xff\xfe"}\n', "not UTF-8 text"),
        ("bad.parquet", b"not parquet at all", "cannot be read as .parquet"),
        ("bad.txt", b"x", "unsupported file type '.txt'"),
    ],
)
def test_unreadable_file_stops_ingest(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=f"{path}: {message}"):
        run_tables(tmp_path, {"source": "pku_saferlhf", "path": str(path)})


def test_unknown_source_rejected():
    with pytest.raises(ParamsError, match="'ultra_feedback' is not one of"):
        IngestParams.from_mapping({"source": "ultra_feedback"})


def test_mixed_row_schemas_read_row_by_row(tmp_path):
    rows = [
        {"prompt": "P", "response_0": "a", "response_1": "b", "better_response_id": 0},
        {"prompt": "P", "response_0": "c", "response_1": "d", "better_response_id": 1.0, "extra": {"k": [1]}},
        {"prompt": ["not", "text"], "response_0": "e", "response_1": "f", "better_response_id": 1},
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    metrics, _, comparisons, quarantine = run_tables(tmp_path, {"source": "pku_saferlhf", "path": str(path)})
    assert [c["p_a"] for c in comparisons] == [1.0, 0.0]
    assert reasons_by_origin(quarantine) == {"3": "non_text"}
    assert_balanced(metrics)


def test_comparisons_local_hf_dataset(tmp_path):
    folder = tmp_path / "hub_copy"
    folder.mkdir()
    rows = [{"prompt": "Hi", "response_a": "x", "response_b": "y", "label": "B"}]
    pd.DataFrame(rows).to_parquet(folder / "train.parquet")
    values = {
        "source": "comparisons",
        "hf_dataset": str(folder),
        "hf_split": "train",
        "comparisons": {"label_a": "A", "label_b": "B"},
    }
    metrics, _, comparisons, _ = run_tables(tmp_path, values)
    assert [c["p_a"] for c in comparisons] == [0.0]
    assert comparisons[0]["origin"] == f"{folder}[train]:1"
    assert_balanced(metrics)
