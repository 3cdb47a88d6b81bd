"""The Trainer-based training loop: losses, accumulation, checkpoints, bad params."""

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import write_jsonl
from safetensors.torch import load_file

from mmpo import reference_logps
from mmpo.encoding import collate, encode_pairs
from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.models import load_model, load_tokenizer
from mmpo.params import IngestParams, LabelParams, ParamsError, TrainParams
from mmpo.reference_logps import StaleReferenceError
from mmpo.scoring import pair_rewards
from mmpo.training import CHECKPOINTS, REFERENCE_FOLDER, prepare_models, run_train

SMALL = {"max_length": 64, "max_prompt_length": 24, "tiny": {"layers": 1, "hidden": 16, "heads": 1}}


@pytest.fixture(scope="module")
def train_set(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainer")
    rows = [
        {"prompt_id": f"p{i}", "prompt": f"q{i}", "response": text, "score": score}
        for i in range(8)
        for text, score in (("good answer", 8), ("bad", 3), ("meh", 5))
    ]
    source = write_jsonl(tmp / "in.jsonl", rows)
    run_ingest(IngestParams.from_mapping({"path": str(source)}), tmp / "r.parquet", tmp / "q.parquet")
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.0}),
        tmp / "r.parquet",
        tmp / "train.parquet",
        tmp / "t.parquet",
    )
    return tmp / "train.parquet"


def train(train_set, folder, **values):
    params = TrainParams.from_mapping({**SMALL, **values})
    metrics = run_train(params, train_set, folder / "model", folder / "log.csv")
    return metrics, load_file(folder / "model" / "model.safetensors")


@pytest.mark.parametrize("objective", ["reward", "dpo"])
def test_accumulation_split_gives_same_update(train_set, tmp_path, objective):
    """One optimiser step on 8 pairs: one batch of 8 equals two accumulated batches of 4.

    AdamW's first step moves each weight by about lr * g / |g|, so float noise
    in a near-zero gradient can move a weight by a small share of lr: the
    tolerance is 0.1% of lr.
    """
    common = {"objective": objective, "max_steps": 1, "max_grad_norm": 0.0, "learning_rate": 0.01}
    _, whole = train(train_set, tmp_path / "whole", batch_size=8, gradient_accumulation_steps=1, **common)
    _, split = train(train_set, tmp_path / "split", batch_size=4, gradient_accumulation_steps=2, **common)
    _, other = train(train_set, tmp_path / "other", batch_size=8, seed=1, **common)
    for name in whole:
        torch.testing.assert_close(whole[name], split[name], atol=1e-5, rtol=0)
    assert any(not torch.equal(whole[name], other[name]) for name in whole)


@pytest.mark.parametrize(
    ("objective", "loss"),
    [("dpo", "cdpo"), ("dpo", "ipo"), ("dpo", "margin"), ("reward", "hard"), ("reward", "margin")],
)
def test_every_loss_trains(train_set, tmp_path, objective, loss):
    metrics, _ = train(train_set, tmp_path, objective=objective, loss=loss, epochs=1, label_smoothing=0.1)
    assert metrics["steps"] == 3
    assert metrics["loss_first"] > 0


def test_log_has_slash_keys(train_set, tmp_path):
    train(train_set, tmp_path, objective="reward", epochs=1)
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    for key in (
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "targets/p_chosen_mean",
    ):
        assert key in header


def test_checkpoint_and_resume(train_set, tmp_path):
    metrics, _ = train(train_set, tmp_path, objective="reward", epochs=2, save_steps=2)
    assert metrics["steps"] == 6
    assert (tmp_path / "model" / CHECKPOINTS / "checkpoint-6").is_dir()
    first_log = (tmp_path / "log.csv").read_text().splitlines()
    resumed, _ = train(train_set, tmp_path, objective="reward", epochs=3, save_steps=2, resume=True)
    resumed_log = (tmp_path / "log.csv").read_text().splitlines()
    assert resumed["steps"] == 9
    assert resumed_log[:7] == first_log  # steps 1-6 come from the checkpoint, not a new run


def test_ipo_with_reward_objective_rejected():
    with pytest.raises(ParamsError, match="ipo applies to policies only"):
        TrainParams.from_mapping({"objective": "reward", "loss": "ipo"})


def test_lora_trains_adapters_and_saves_merged_model(train_set, tmp_path):
    pytest.importorskip("peft")
    metrics, weights = train(train_set, tmp_path, objective="dpo", epochs=1, lora_rank=4)
    assert metrics["steps"] == 3
    assert not any("lora" in name for name in weights)
    _, base = train(train_set, tmp_path / "base", objective="dpo", max_steps=1, learning_rate=0.0)
    changed = [name for name in base if not torch.equal(base[name], weights[name])]
    assert changed  # merged adapters changed the saved weights


EVAL_WEIGHTS = [0.5, 1.0, 2.0, 3.0, 1.0, 1.0, 0.25]


@pytest.fixture(scope="module")
def eval_set(train_set):
    """Seven pairs of the train split with unequal weights, so batches of 3 differ in size and weight."""
    table = pq.read_table(train_set).slice(0, len(EVAL_WEIGHTS))
    column = table.column_names.index("weight")
    table = table.set_column(column, "weight", pa.array(EVAL_WEIGHTS, pa.float64()))
    path = train_set.parent / "eval.parquet"
    pq.write_table(table, path)
    return path


def train_with_eval(train_set, eval_set, folder, **values):
    params = TrainParams.from_mapping({**SMALL, **values})
    metrics = run_train(params, train_set, folder / "model", folder / "log.csv", eval_set)
    with open(folder / "log.csv", encoding="utf-8", newline="") as stream:
        log = list(csv.DictReader(stream))
    return params, metrics, log


def hand_eval_metrics(params, model_dir, eval_set):
    """Score the eval pairs with the saved model in one batch and average in float64 by hand."""
    tokenizer = load_tokenizer(str(model_dir))
    model = load_model(str(model_dir), params.objective, tokenizer).eval()
    reference = None
    if params.objective == "dpo":
        reference = load_model(str(model_dir / REFERENCE_FOLDER), "dpo", tokenizer).eval()
    rows = pq.read_table(eval_set).to_pylist()
    pairs, _ = encode_pairs(tokenizer, rows, params.max_length, params.max_prompt_length, hard_labels=False)
    with torch.no_grad():
        chosen, rejected = pair_rewards(
            params.objective, model, reference, collate(pairs, tokenizer.pad_token_id), params.beta
        )
    chosen, rejected = chosen.double().numpy(), rejected.double().numpy()
    z = chosen - rejected
    p = np.array([row["p_chosen"] for row in rows])
    weight = np.array(EVAL_WEIGHTS)
    log_sigmoid = -np.logaddexp(0.0, -z)
    log_sigmoid_negative = -np.logaddexp(0.0, z)
    losses = -(p * log_sigmoid + (1.0 - p) * log_sigmoid_negative)
    return {
        "eval/loss": (weight * losses).sum() / weight.sum(),
        "eval/rewards/chosen": chosen.mean(),
        "eval/rewards/rejected": rejected.mean(),
        "eval/rewards/margins": z.mean(),
        "eval/rewards/accuracies": (z > 0).mean(),
        "eval/targets/p_chosen_mean": p.mean(),
        "eval/calibration/abs_error": np.abs(1.0 / (1.0 + np.exp(-z)) - p).mean(),
    }, losses.mean()


@pytest.mark.parametrize("objective", ["dpo", "reward"])
def test_eval_metrics_match_hand_values(train_set, eval_set, tmp_path, objective):
    """Evaluation after the last step, in batches of 3, 3 and 1 pairs, equals one float64 pass by hand."""
    params, metrics, log = train_with_eval(
        train_set, eval_set, tmp_path, objective=objective, epochs=1, batch_size=3, eval_steps=0
    )
    expected, unweighted_loss = hand_eval_metrics(params, tmp_path / "model", eval_set)
    assert metrics["eval/pairs"] == len(EVAL_WEIGHTS)
    assert metrics["eval/step"] == metrics["steps"] == 8
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=2e-5), key
        assert float(log[-1][key]) == pytest.approx(value, abs=2e-5), key
        assert key.removeprefix("eval/") in log[0]
    assert abs(unweighted_loss - expected["eval/loss"]) > 1e-3  # the weights change the loss


@pytest.mark.parametrize(("eval_steps", "evaluated"), [(None, []), (0, [6]), (2, [2, 4, 6]), (4, [4, 6])])
def test_eval_steps_cadence(train_set, eval_set, tmp_path, eval_steps, evaluated):
    _, metrics, log = train_with_eval(
        train_set, eval_set, tmp_path, objective="reward", epochs=2, eval_steps=eval_steps
    )
    assert [int(row["step"]) for row in log if row["eval/loss"]] == evaluated
    assert ("eval/loss" in metrics) == bool(evaluated)


def test_eval_with_stored_reference_logps(train_set, eval_set, tmp_path):
    """Training on stored reference log-probs computes the eval set's and matches an on-the-fly run."""
    params = TrainParams.from_mapping({**SMALL, "objective": "dpo"})
    tokenizer, _, reference = prepare_models(params)
    table = pq.read_table(train_set)
    logps = reference_logps.compute_logps(reference, tokenizer, table.to_pylist(), params, 8, "cpu")
    stored = tmp_path / "train_reference.parquet"
    reference_logps.write_with_reference(table, logps, train_set, stored, params)

    values = {"objective": "dpo", "epochs": 1, "batch_size": 3, "eval_steps": 4}
    _, with_stored, _ = train_with_eval(stored, eval_set, tmp_path / "stored", **values)
    _, on_the_fly, _ = train_with_eval(train_set, eval_set, tmp_path / "fly", **values)
    for key in ("eval/loss", "eval/rewards/margins", "eval/calibration/abs_error"):
        assert with_stored[key] == pytest.approx(on_the_fly[key], abs=1e-5), key

    stale = TrainParams.from_mapping({**SMALL, "objective": "dpo", "max_length": 63})
    eval_stale = tmp_path / "eval_stale.parquet"
    eval_table = pq.read_table(eval_set)
    eval_logps = logps[: eval_table.num_rows]
    reference_logps.write_with_reference(eval_table, eval_logps, eval_set, eval_stale, stale)
    with pytest.raises(StaleReferenceError, match="recompute them"):
        train_with_eval(stored, eval_stale, tmp_path / "stale", **values)
