"""Per-pair weights: the weight modes and the train stage's weighted loss."""

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from mmpo.encoding import encode_pairs
from mmpo.losses import weighted_mean
from mmpo.params import TrainParams
from mmpo.training import prepare_models, run_train
from mmpo.weights import pair_weights


def test_pair_weights_agreement_values():
    weights = pair_weights("score_agreement", np.array([0.0, 1.0, np.nan]), np.array([2.0, np.nan, 0.5]))
    assert weights.tolist() == [1.0 / 5.0, 1.0 / 2.0, 1.0 / 1.25]


def test_pair_weights_none_is_one():
    assert pair_weights("none", np.array([3.0]), np.array([4.0])).tolist() == [1.0]


def test_pair_weights_unknown_rejected():
    with pytest.raises(ValueError, match="unknown weight mode 'votes'"):
        pair_weights("votes", np.zeros(1), np.zeros(1))


def test_weighted_mean_hand_values():
    losses = torch.tensor([1.0, 2.0, 4.0])
    assert float(weighted_mean(losses, torch.tensor([1.0, 1.0, 2.0]))) == pytest.approx((1 + 2 + 8) / 4)
    assert float(weighted_mean(losses, torch.ones(3))) == pytest.approx(7 / 3)


def test_weighted_mean_rejects_bad_weights():
    with pytest.raises(ValueError, match=r"weights have shape \(2,\) but losses have \(3,\)"):
        weighted_mean(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="the weights of a batch sum to 0.0"):
        weighted_mean(torch.ones(2), torch.zeros(2))


def rows(weights):
    return [
        {
            "prompt": [{"role": "user", "content": f"question {i}"}],
            "chosen": [{"role": "assistant", "content": f"a careful answer {i}"}],
            "rejected": [{"role": "assistant", "content": f"no {i}"}],
            "p_chosen": 0.8,
            "weight": weight,
        }
        for i, weight in enumerate(weights)
    ]


def first_loss(objective, weights):
    folder = Path(tempfile.mkdtemp())
    pq.write_table(pa.Table.from_pylist(rows(weights)), folder / "train.parquet")
    params = TrainParams.from_mapping(
        {"objective": objective, "max_steps": 1, "batch_size": 2, "max_length": 64, "max_prompt_length": 32}
    )
    return run_train(params, folder / "train.parquet", folder / "model", folder / "log.csv")["loss_first"]


@pytest.mark.parametrize("objective", ["dpo", "reward"])
def test_train_honours_weight(objective):
    # Same seed, same model and batch: only the weights change, so the first
    # step's loss is sum(w_i * L_i) / sum(w_i) of the same per-pair losses L_i.
    first_only = first_loss(objective, [1.0, 0.0])
    second_only = first_loss(objective, [0.0, 1.0])
    weighted = first_loss(objective, [3.0, 1.0])
    assert weighted == pytest.approx((3.0 * first_only + second_only) / 4.0, rel=1e-5)
    assert first_loss(objective, [None, None]) == pytest.approx((first_only + second_only) / 2.0, rel=1e-5)


def test_train_reads_weight_column(tmp_path):
    pq.write_table(pa.Table.from_pylist(rows([0.25, 1.0])), tmp_path / "w.parquet")
    table = pq.read_table(tmp_path / "w.parquet").to_pylist()
    params = TrainParams.from_mapping({"max_length": 64, "max_prompt_length": 32})
    tokenizer, _, _ = prepare_models(params)
    pairs, _ = encode_pairs(tokenizer, table, 64, 32, hard_labels=False)
    assert [p.weight for p in pairs] == [0.25, 1.0]
