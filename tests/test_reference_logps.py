"""Precomputed reference log-probs: same loss as on the fly, stale keys rejected."""

import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, write_jsonl
from safetensors.torch import load_file
from test_trainer import SMALL

from mmpo import reference_logps
from mmpo.encoding import collate, encode_pairs
from mmpo.files import read_metadata
from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.losses import mmpo_loss
from mmpo.params import IngestParams, LabelParams, TrainParams
from mmpo.scoring import pair_logits
from mmpo.training import prepare_models, run_train


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    rows = [
        {"prompt_id": f"p{i}", "prompt": f"q{i}", "response": text, "score": score}
        for i in range(6)
        for text, score in (("good answer", 8), ("bad", 3))
    ]
    source = write_jsonl(tmp / "in.jsonl", rows)
    run_ingest(IngestParams.from_mapping({"path": str(source)}), tmp / "r.parquet", tmp / "q.parquet")
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.0}),
        tmp / "r.parquet",
        tmp / "train.parquet",
        tmp / "t.parquet",
    )
    params = TrainParams.from_mapping(SMALL)
    (tmp / "params.yaml").write_text(
        "train:\n  max_length: 64\n  max_prompt_length: 24\n  tiny: {layers: 1, hidden: 16, heads: 1}\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmpo.cli",
            "reference",
            "--params",
            str(tmp / "params.yaml"),
            "--train",
            str(tmp / "train.parquet"),
            "--out",
            str(tmp / "train_ref.parquet"),
            "--metrics",
            str(tmp / "m.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return tmp, params


def test_reference_columns_and_key_written(sets):
    tmp, params = sets
    table = pq.read_table(tmp / "train_ref.parquet")
    assert table.column("reference_chosen_logp").type == "double"
    assert table.column("reference_chosen_logp").null_count == 0
    assert read_metadata(tmp / "train_ref.parquet")["reference_logps"] == reference_logps.reference_key(
        params
    )


def test_precomputed_loss_equals_online(sets):
    tmp, params = sets
    tokenizer, model, reference = prepare_models(params)
    rows = pq.read_table(tmp / "train_ref.parquet").to_pylist()
    pairs, _ = encode_pairs(tokenizer, rows, params.max_length, params.max_prompt_length, False)
    with_columns = collate(pairs, tokenizer.pad_token_id)
    online = {k: v for k, v in with_columns.items() if not k.startswith("reference_")}
    assert "reference_chosen" in with_columns
    with torch.no_grad():
        z_stored = pair_logits("dpo", model, None, with_columns, params.beta)
        z_online = pair_logits("dpo", model, reference, online, params.beta)
    torch.testing.assert_close(z_stored, z_online, atol=1e-5, rtol=0)
    loss_stored = mmpo_loss(z_stored, with_columns["p_chosen"]).mean()
    loss_online = mmpo_loss(z_online, online["p_chosen"]).mean()
    assert abs(loss_stored.item() - loss_online.item()) < 1e-5


def test_training_with_stored_logps_matches_online(sets, tmp_path):
    tmp, _ = sets
    values = {**SMALL, "max_steps": 2, "batch_size": 4, "learning_rate": 0.01}
    run_train(TrainParams.from_mapping(values), tmp / "train.parquet", tmp_path / "a", tmp_path / "a.csv")
    run_train(TrainParams.from_mapping(values), tmp / "train_ref.parquet", tmp_path / "b", tmp_path / "b.csv")
    online, stored = (
        load_file(tmp_path / "a" / "model.safetensors"),
        load_file(tmp_path / "b" / "model.safetensors"),
    )
    for name in online:
        torch.testing.assert_close(online[name], stored[name], atol=1e-4, rtol=0)
    assert (tmp_path / "b" / "reference" / "config.json").is_file()


def test_stale_reference_key_rejected(sets, tmp_path):
    tmp, _ = sets
    params = TrainParams.from_mapping({**SMALL, "max_length": 80})
    with pytest.raises(reference_logps.StaleReferenceError, match="were computed for .*'max_length': 64"):
        run_train(params, tmp / "train_ref.parquet", tmp_path / "m", tmp_path / "l.csv")
