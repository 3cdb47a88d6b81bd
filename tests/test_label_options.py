"""The label stage's options end to end, on hand-built responses and comparisons tables."""

import math

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmpo import tables
from mmpo.files import read_metadata
from mmpo.label import run_label
from mmpo.params import LabelParams


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def response(prompt_id, text, score, *, std=None, judge="j", source="s", prompt=None):
    return {
        "prompt_id": prompt_id,
        "group_id": prompt_id,
        "prompt": [{"role": "user", "content": prompt or f"question {prompt_id}"}],
        "response": text,
        "score": score,
        "score_std": std,
        "num_scores": 1 if std is None else 3,
        "aspects": [],
        "judge": judge,
        "source": source,
        "model": "m",
        "origin": f"in.jsonl:{prompt_id}",
    }


def four_scores(count=6, scores=(9.0, 6.0, 2.0, 1.0), **fields):
    return [
        response(f"p{i}", f"answer {k} to {i}", s, **fields)
        for i in range(count)
        for k, s in enumerate(scores)
    ]


def run(tmp_path, rows, comparisons=None, folder="out", **values):
    responses = tmp_path / "responses.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=tables.RESPONSES), responses)
    comparisons_path = None
    if comparisons is not None:
        comparisons_path = tmp_path / "comparisons.parquet"
        pq.write_table(pa.Table.from_pylist(comparisons, schema=tables.COMPARISONS), comparisons_path)
    values.setdefault("test_fraction", 0.0)
    out = tmp_path / folder
    metrics = run_label(
        LabelParams.from_mapping(values),
        responses,
        out / "train.parquet",
        out / "test.parquet",
        comparisons_path,
        out / "plots",
    )
    frame = pd.concat([pq.read_table(out / f"{n}.parquet").to_pandas() for n in ("train", "test")])
    return metrics, frame, out


def test_label_best_worst_counts(tmp_path):
    metrics, frame, _ = run(tmp_path, four_scores(), pair_strategy="best_worst")
    assert metrics["pairs_not_in_strategy"] == 6 * 5
    assert metrics["candidate_pairs"] == metrics["pairs"] == 6
    assert set(zip(frame["score_chosen"], frame["score_rejected"], strict=True)) == {(9.0, 1.0)}


def test_label_cap_keeps_largest(tmp_path):
    metrics, frame, _ = run(tmp_path, four_scores(), max_pairs_per_prompt=2)
    assert metrics["capped_pairs"] == 6 * 4
    assert metrics["pairs"] == 12
    # Margins of one prompt: 8, 7, 5, 4, 3, 1; the cap keeps 8 and 7.
    assert sorted(frame["margin"].unique().tolist()) == [7.0, 8.0]


def test_label_min_margin_filter(tmp_path):
    metrics, frame, _ = run(tmp_path, four_scores(), min_margin=4.0)
    assert metrics["below_min_margin"] == 6 * 2
    assert frame["margin"].min() == 4.0
    total = metrics["pairs"] + metrics["below_min_margin"] + metrics["capped_pairs"]
    assert total + metrics["ties_dropped"] + metrics["identical_pairs_dropped"] == metrics["candidate_pairs"]


def test_label_target_mean_gamma(tmp_path):
    metrics, frame, out = run(tmp_path, four_scores(), gamma_mode="target_mean", target_mean_p=0.8)
    gamma = metrics["gamma"]["value"]
    expected = [sigmoid(gamma * m) for m in frame["margin"]]
    assert frame["p_chosen"].tolist() == pytest.approx(expected, rel=1e-15)
    assert sum(expected) / len(expected) == pytest.approx(0.8, abs=1e-12)
    assert read_metadata(out / "train.parquet")["gamma"]["target_mean_p"] == 0.8


def test_label_per_source_gamma(tmp_path):
    rows = four_scores(2, source="a") + [
        response(f"q{i}", f"reply {k}", s, source="b") for i in range(2) for k, s in enumerate((5.0, 3.0))
    ]
    metrics, frame, _ = run(tmp_path, rows, gamma_mode="per_source", gamma_per_source={"a": 0.25, "b": 2.0})
    for row in frame.itertuples():
        expected_gamma = 0.25 if row.source == "a" else 2.0
        assert row.gamma == expected_gamma
        assert row.p_chosen == pytest.approx(sigmoid(expected_gamma * row.margin), rel=1e-15)
    assert metrics["gamma"]["value"] == {"a": 0.25, "b": 2.0}


def comparison(prompt_id, a, b, p_a, votes):
    return {
        "prompt_id": prompt_id,
        "prompt": [{"role": "user", "content": f"question {prompt_id}"}],
        "response_a": a,
        "response_b": b,
        "p_a": p_a,
        "votes": votes,
        "judge": "people",
        "source": "votes",
        "model_a": "m",
        "model_b": "m",
        "origin": f"votes.jsonl:{prompt_id}",
    }


def test_label_auto_gamma_fits_votes(tmp_path):
    rows = four_scores(3)
    # Human votes on scored pairs whose shares equal sigmoid(0.4 * score gap).
    votes = [
        comparison("p0", "answer 0 to 0", "answer 2 to 0", sigmoid(0.4 * 7.0), 20.0),
        comparison("p1", "answer 1 to 1", "answer 3 to 1", sigmoid(0.4 * 5.0), 10.0),
        comparison("p2", "answer 2 to 2", " answer  1 to 2", sigmoid(0.4 * -4.0), 30.0),
        comparison("p2", "unscored a", "unscored b", 1.0, 3.0),
    ]
    metrics, frame, _ = run(tmp_path, rows, votes, gamma_mode="auto")
    fit = metrics["gamma"]["fit"]
    assert fit["gamma"] == pytest.approx(0.4, abs=1e-10)
    assert fit["comparisons"] == 3
    assert fit["ci_low"] < 0.4 < fit["ci_high"]
    scored = frame[frame["margin"].notna()]
    assert scored["p_chosen"].tolist() == pytest.approx(
        [sigmoid(0.4 * m) for m in scored["margin"]], rel=1e-9
    )


def test_label_auto_gamma_without_votes_rejected(tmp_path):
    with pytest.raises(ValueError, match="gamma_mode auto: no comparisons table was found"):
        run(tmp_path, four_scores(), gamma_mode="auto")
    unmatched = [comparison("p0", "x", "y", 0.7, 5.0)]
    with pytest.raises(ValueError, match="no comparison with votes matches two scored responses"):
        run(tmp_path, four_scores(), unmatched, gamma_mode="auto")


def test_label_score_agreement_weight(tmp_path):
    rows = [response("p", "a", 8.0, std=1.0), response("p", "b", 4.0, std=2.0), response("p", "c", 2.0)]
    _, frame, _ = run(tmp_path, rows, weight="score_agreement")
    by_pair = {(r.score_chosen, r.score_rejected): r for r in frame.itertuples()}
    assert by_pair[(8.0, 4.0)].weight == 1.0 / (1.0 + 1.0 + 4.0)
    assert by_pair[(8.0, 2.0)].weight == 1.0 / (1.0 + 1.0)
    assert by_pair[(4.0, 2.0)].weight == 1.0 / (1.0 + 4.0)
    assert by_pair[(8.0, 4.0)].score_std_chosen == 1.0
    assert math.isnan(by_pair[(4.0, 2.0)].score_std_rejected)


def test_label_unweighted_is_one(tmp_path):
    _, frame, _ = run(tmp_path, four_scores())
    assert (frame["weight"] == 1.0).all()


def test_label_smoothing_single_vote(tmp_path):
    votes = [
        comparison("v1", "a", "b", 1.0, 1.0),
        comparison("v2", "a", "b", 0.0, None),
        comparison("v3", "a", "b", 1.0, 4.0),
        comparison("v4", "a", "b", 0.75, 4.0),
    ]
    _, frame, _ = run(tmp_path, [], votes, label_smoothing=0.1)
    assert frame.sort_values("prompt_id")["p_chosen"].tolist() == [0.9, 0.9, 1.0, 0.75]


def test_label_stratified_split(tmp_path):
    rows = four_scores(40, source="big") + [
        response(f"s{i}", f"reply {k}", s, source="small")
        for i in range(10)
        for k, s in enumerate((5.0, 3.0))
    ]
    _, _, out = run(tmp_path, rows, test_fraction=0.3, stratify_by_source=True)
    test = pq.read_table(out / "test.parquet").to_pandas()
    prompts = test.groupby("source")["prompt_id"].nunique().to_dict()
    assert prompts == {"big": 12, "small": 3}


def test_label_split_by_normalised_prompt(tmp_path):
    rows = [
        response(
            f"id{i}-{copy}", f"answer {k}", s, prompt=f"Question  {i}" if copy else f"question {i}".title()
        )
        for i in range(30)
        for copy in (0, 1)
        for k, s in enumerate((4.0, 1.0))
    ]
    _, _, out = run(tmp_path, rows, test_fraction=0.5)
    test = pq.read_table(out / "test.parquet").column("prompt").to_pylist()
    train = pq.read_table(out / "train.parquet").column("prompt").to_pylist()
    normalise = lambda prompt: " ".join(prompt[0]["content"].split())  # noqa: E731
    assert {normalise(p) for p in test}
    assert not {normalise(p) for p in test} & {normalise(p) for p in train}


def test_label_zscore_mixes_scales(tmp_path):
    rows = four_scores(2, scores=(9.0, 6.0, 3.0), source="ten") + four_scores(
        2, scores=(4.5, 3.0, 1.5), source="five"
    )
    for row in rows[6:]:
        row["prompt_id"] = row["group_id"] = "f" + row["prompt_id"]
    _, frame, _ = run(tmp_path, rows, margin_function="zscore", normalize_by="source")
    # Scores 9, 6, 3 have mean 6 and population std sqrt(6). Scores 4.5, 3, 1.5
    # have mean 3 and std sqrt(1.5). Both standardise to -3/sqrt(6), 0, 3/sqrt(6).
    step = 3.0 / math.sqrt(6.0)
    for source in ("ten", "five"):
        margins = sorted(frame.loc[frame["source"] == source, "margin"].tolist())
        assert margins == pytest.approx(sorted([step, step, 2 * step] * 2), rel=1e-12)


def test_label_log_ratio_margin(tmp_path):
    rows = [response("p", "a", 9.0), response("p", "b", 0.0)]
    _, frame, _ = run(tmp_path, rows, margin_function="log_ratio", log_ratio_offset=1.0, gamma=1.0)
    assert frame["margin"].tolist() == [pytest.approx(math.log(10.0), rel=1e-15)]
    assert frame["p_chosen"].tolist() == [pytest.approx(10.0 / 11.0, rel=1e-15)]


def test_label_card_loads_with_datasets(tmp_path):
    metrics, _, out = run(tmp_path, four_scores(20), test_fraction=0.3)
    dataset = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert dataset["train"].num_rows == metrics["train_pairs"]
    assert dataset["test"].num_rows == metrics["test_pairs"]
    card = (out / "README.md").read_text()
    assert f"| train | {metrics['train_pairs']} | {metrics['train_prompts']} |" in card


def test_label_plots_written(tmp_path):
    metrics, _, out = run(tmp_path, four_scores())
    for name in ("margin", "p_chosen", "pairs_per_prompt"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    histogram = pd.read_csv(out / "plots" / "p_chosen.csv")
    assert histogram["pairs"].sum() == metrics["pairs"]
    per_prompt = pd.read_csv(out / "plots" / "pairs_per_prompt.csv")
    assert per_prompt.loc[per_prompt["pairs_per_prompt"] == 6.0, "prompts"].tolist() == [6]


def test_label_metadata_gamma_and_scale(tmp_path):
    _, _, out = run(tmp_path, four_scores(), score_scale=[1, 10], gamma=0.3)
    metadata = read_metadata(out / "train.parquet")
    assert metadata["gamma"]["value"] == 0.3
    assert metadata["gamma"]["score_scale"] == {"low": 1.0, "high": 10.0, "declared": True}
    assert metadata["score_field"] == "score"
    assert metadata["mmpo_version"]
    assert metadata["counts"]["pairs"] == 36


def test_label_random_options_byte_identical(tmp_path):
    options = {"pair_strategy": "best_vs_random", "max_pairs_per_prompt": 1, "cap_order": "random"}
    rows = four_scores(30)
    run(tmp_path, rows, folder="first", test_fraction=0.3, **options)
    run(tmp_path, rows, folder="second", test_fraction=0.3, **options)
    for name in ("train.parquet", "test.parquet", "README.md", "plots/p_chosen.png", "plots/margin.csv"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_label_keeps_ties_exactly_half(tmp_path):
    rows = [response("p", "a", 7.0), response("p", "b", 7.000000001), response("p", "c", 2.0)]
    metrics, frame, _ = run(tmp_path, rows, keep_ties=True, tie_tolerance=1e-6)
    assert metrics["ties_kept"] == 1
    tie = frame[frame["margin"] == 0.0]
    assert tie["p_chosen"].tolist() == [0.5]
    assert np.isclose(frame["p_chosen"], 0.5).sum() == 1


@pytest.mark.parametrize("batch_rows", [1, 3, 5])
def test_label_batches_give_same_files(tmp_path, monkeypatch, batch_rows):
    # Batches of 3 or 5 rows split the 4 responses of a prompt across batches.
    votes = [comparison("v1", "a", "b", 0.75, 4.0)]
    rows = four_scores(10) + [response("p3", "late answer to 3", 4.0)]  # a prompt whose rows are apart
    _, whole, first = run(tmp_path, rows, votes, folder="whole", test_fraction=0.3)
    monkeypatch.setattr("mmpo.label_scan.BATCH_ROWS", batch_rows)
    _, batched, second = run(tmp_path, rows, votes, folder="batched", test_fraction=0.3)
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), batched.reset_index(drop=True))
    assert "v1" in batched["prompt_id"].tolist()
    assert (batched["prompt_id"] == "p3").sum() == 10  # 5 responses with distinct scores
    for name in ("train.parquet", "test.parquet"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
