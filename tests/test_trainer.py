"""The Trainer-based training loop: losses, accumulation, checkpoints, bad params."""

import pytest
import torch
from conftest import write_jsonl
from safetensors.torch import load_file

from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.params import IngestParams, LabelParams, ParamsError, TrainParams
from mmpo.training import CHECKPOINTS, run_train

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
