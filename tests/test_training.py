"""Tiny-model training and evaluation on CPU."""

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import write_jsonl
from test_label import ROWS

from mmpo.encoding import collate, encode_pairs
from mmpo.evaluation import pair_metrics, run_evaluate, run_rewardbench
from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.models import build_byte_tokenizer, build_tiny_model
from mmpo.params import EvaluateParams, IngestParams, LabelParams, TinyModelParams, TrainParams
from mmpo.scoring import pair_logits, response_logps
from mmpo.training import run_train


def test_pair_metrics_hand_values():
    """Three decided pairs and one tie.

    accuracy: z > 0 for 2 of the 3 non-tie pairs.
    cross_entropy: mean of -(p ln s(z) + (1 - p) ln s(-z)) over all four pairs.
    """
    z = np.array([2.0, -1.0, 0.5, 0.0])
    p = np.array([1.0, 0.8, 0.6, 0.5])
    metrics = pair_metrics(z, p)
    sig = 1.0 / (1.0 + np.exp(-z))
    soft = -(p * np.log(sig) + (1 - p) * np.log(1 - sig))
    assert metrics["pairs"] == 4
    assert metrics["ties"] == 1
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["cross_entropy"] == pytest.approx(soft.mean(), abs=1e-15)
    assert metrics["cross_entropy_hard"] == pytest.approx(-np.log(sig[:3]).mean(), abs=1e-15)
    assert metrics["p_predicted_mean"] == pytest.approx(sig.mean(), abs=1e-15)


def test_pair_metrics_empty():
    metrics = pair_metrics(np.zeros(0), np.zeros(0))
    assert metrics["pairs"] == 0
    assert metrics["accuracy"] is None


def _rows(n):
    return [
        {
            "prompt": [{"role": "user", "content": f"q{i}"}],
            "chosen": [{"role": "assistant", "content": "good answer" + "!" * (i % 3)}],
            "rejected": [{"role": "assistant", "content": "bad"}],
            "p_chosen": 0.9,
        }
        for i in range(n)
    ]


def test_reward_read_at_last_real_token_whatever_padding():
    tokenizer = build_byte_tokenizer()
    model = build_tiny_model("reward", tokenizer, TinyModelParams(), 128, seed=0).eval()
    pairs, _ = encode_pairs(tokenizer, _rows(3), 128, 64, hard_labels=False)
    with torch.no_grad():
        together = pair_logits("reward", model, None, collate(pairs, tokenizer.pad_token_id), 0.1)
        alone = torch.cat(
            [pair_logits("reward", model, None, collate([p], tokenizer.pad_token_id), 0.1) for p in pairs]
        )
    assert together.shape == (3,)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_response_logps_masks_prompt_and_padding():
    tokenizer = build_byte_tokenizer()
    model = build_tiny_model("dpo", tokenizer, TinyModelParams(), 128, seed=0).eval()
    pairs, _ = encode_pairs(tokenizer, _rows(2), 128, 64, hard_labels=False)
    batch = collate(pairs, tokenizer.pad_token_id)
    with torch.no_grad():
        got = response_logps(model, batch["input_ids"], batch["attention_mask"], batch["response_mask"])
        ids = torch.tensor([pairs[0].chosen_ids])
        logp = model(input_ids=ids).logits[0].double().log_softmax(-1)
        start = pairs[0].chosen_prompt_length
        expected = sum(logp[t - 1, ids[0, t]].item() for t in range(start, ids.shape[1]))
    assert got.shape == (4,)
    assert got[0].item() == pytest.approx(expected, abs=1e-4)


@pytest.fixture(scope="module")
def preference_sets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sets")
    source = write_jsonl(tmp / "in.jsonl", ROWS)
    run_ingest(IngestParams.from_mapping({"path": str(source)}), tmp / "r.parquet", tmp / "q.parquet")
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.3}),
        tmp / "r.parquet",
        tmp / "train.parquet",
        tmp / "test.parquet",
    )
    return tmp


@pytest.mark.parametrize("objective", ["dpo", "reward"])
def test_train_and_evaluate_tiny(preference_sets, tmp_path, objective):
    params = TrainParams.from_mapping(
        {
            "objective": objective,
            "epochs": 4,
            "batch_size": 4,
            "learning_rate": 0.003,
            "max_length": 96,
            "max_prompt_length": 48,
        }
    )
    metrics = run_train(params, preference_sets / "train.parquet", tmp_path / "model", tmp_path / "log.csv")
    assert metrics["steps"] == 4 * -(-metrics["pairs"] // 4)
    assert metrics["last_epoch_loss"] < metrics["loss_first"]
    assert (tmp_path / "model" / "train_config.json").is_file()
    assert (tmp_path / "model" / "reference").is_dir() == (objective == "dpo")
    assert len((tmp_path / "log.csv").read_text().splitlines()) == metrics["steps"] + 1

    result = run_evaluate(
        EvaluateParams(), tmp_path / "model", preference_sets / "test.parquet", tmp_path / "pred.parquet"
    )
    predictions = pq.read_table(tmp_path / "pred.parquet").to_pandas()
    assert result["pairs"] == len(predictions) == pq.read_metadata(preference_sets / "test.parquet").num_rows
    recomputed = pair_metrics(predictions["z"].to_numpy(), predictions["p_chosen"].to_numpy())
    assert result["cross_entropy"] == pytest.approx(recomputed["cross_entropy"])
    assert result["accuracy"] > 0.5


def test_train_is_deterministic(preference_sets, tmp_path):
    params = TrainParams.from_mapping(
        {"objective": "reward", "epochs": 1, "max_length": 96, "max_prompt_length": 48}
    )
    first = run_train(params, preference_sets / "train.parquet", tmp_path / "a", tmp_path / "a.csv")
    second = run_train(params, preference_sets / "train.parquet", tmp_path / "b", tmp_path / "b.csv")
    assert first == second
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_train_on_empty_split_raises(preference_sets, tmp_path):
    empty = pq.read_table(preference_sets / "train.parquet").slice(0, 0)
    pq.write_table(empty, tmp_path / "empty.parquet")
    with pytest.raises(ValueError, match="no pairs to use in the train stage"):
        run_train(TrainParams(), tmp_path / "empty.parquet", tmp_path / "m", tmp_path / "l.csv")


def test_evaluate_rejects_folder_without_config(tmp_path, preference_sets):
    with pytest.raises(FileNotFoundError, match="train_config.json: not found"):
        run_evaluate(EvaluateParams(), tmp_path, preference_sets / "test.parquet", tmp_path / "p.parquet")


def test_evaluate_writes_calibration_and_plots(preference_sets, tmp_path):
    params = TrainParams.from_mapping(
        {"objective": "reward", "epochs": 1, "max_length": 96, "max_prompt_length": 48}
    )
    run_train(params, preference_sets / "train.parquet", tmp_path / "model", tmp_path / "log.csv")
    result = run_evaluate(
        EvaluateParams(),
        tmp_path / "model",
        preference_sets / "test.parquet",
        tmp_path / "pred.parquet",
        tmp_path / "plots",
    )
    predictions = pq.read_table(tmp_path / "pred.parquet").to_pandas()
    p = predictions["p_predicted"].to_numpy()
    target = predictions["p_chosen"].to_numpy()
    assert result["brier"] == pytest.approx(np.mean((p - target) ** 2))
    assert result["brier_hard"] == pytest.approx(np.mean((p - 1.0) ** 2))
    assert 0.0 <= result["ece"] <= 1.0
    assert (predictions["margin"] > 0).all()
    for name in ("reliability", "accuracy_by_margin", "p_predicted_histogram"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / "plots" / f"{name}.csv").is_file()


def test_rewardbench_file_scored(preference_sets, tmp_path):
    params = TrainParams.from_mapping(
        {"objective": "reward", "epochs": 1, "max_length": 96, "max_prompt_length": 48}
    )
    run_train(params, preference_sets / "train.parquet", tmp_path / "model", tmp_path / "log.csv")
    rows = [
        {"prompt": "q", "chosen": "good", "rejected": "bad", "subset": "math-prm"},
        {
            "prompt": "q",
            "chosen": [{"role": "assistant", "content": "a"}],
            "rejected": "b",
            "subset": "hep-go",
        },
        {"prompt": "q", "chosen": "c", "rejected": "d", "subset": "mine"},
    ]
    path = write_jsonl(tmp_path / "rb.jsonl", rows)
    result = run_rewardbench(EvaluateParams(), tmp_path / "model", path)
    assert set(result["subsets"]) == {"math-prm", "hep-go", "mine"}
    assert result["unweighted_subsets"] == ["mine"]
    assert list(result["sections"]) == ["Reasoning"]
    math, go = result["subsets"]["math-prm"]["accuracy"], result["subsets"]["hep-go"]["accuracy"]
    assert result["sections"]["Reasoning"] == pytest.approx((math * 984 + go * 164) / 1148)


def test_rewardbench_file_missing_column(preference_sets, tmp_path):
    path = write_jsonl(tmp_path / "rb.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"}])
    with pytest.raises(ValueError, match=r"column\(s\) \['subset'\] missing"):
        run_rewardbench(EvaluateParams(), tmp_path / "model", path)


def test_evaluate_rejects_mismatched_tokenizer(preference_sets, tmp_path):
    params = TrainParams.from_mapping(
        {"objective": "reward", "epochs": 1, "max_length": 96, "max_prompt_length": 48}
    )
    run_train(params, preference_sets / "train.parquet", tmp_path / "model", tmp_path / "log.csv")
    tokenizer = build_byte_tokenizer()
    tokenizer.add_tokens([f"<extra{i}>" for i in range(10)])
    tokenizer.save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match=r"the tokenizer has 268 tokens but the model embeds only 258"):
        run_evaluate(
            EvaluateParams(), tmp_path / "model", preference_sets / "test.parquet", tmp_path / "p.parquet"
        )


def test_evaluate_rejects_reward_head_with_two_outputs(preference_sets, tmp_path):
    params = TrainParams.from_mapping(
        {"objective": "reward", "epochs": 1, "max_length": 96, "max_prompt_length": 48}
    )
    run_train(params, preference_sets / "train.parquet", tmp_path / "model", tmp_path / "log.csv")
    model = build_tiny_model("reward", build_byte_tokenizer(), TinyModelParams(), 96, seed=0)
    model.config.num_labels = 2
    model.score = torch.nn.Linear(model.config.n_embd, 2, bias=False)
    model.save_pretrained(tmp_path / "model")
    with pytest.raises(ValueError, match="a reward model needs a head with 1 output, this one has 2"):
        run_evaluate(
            EvaluateParams(), tmp_path / "model", preference_sets / "test.parquet", tmp_path / "p.parquet"
        )
