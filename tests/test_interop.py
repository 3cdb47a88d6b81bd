"""Preference sets read by other libraries: pandas, polars, DuckDB, datasets and TRL.

Each round trip reads our Parquet file with the library, writes it back with
the same library, and compares values and types with the original.
"""

import math

import datasets
import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

from mmpo import tables
from mmpo.label import run_label
from mmpo.models import build_byte_tokenizer, build_tiny_model
from mmpo.params import LabelParams, TinyModelParams


def response(prompt_id, text, score, std=None, model="m1"):
    return {
        "prompt_id": prompt_id,
        "group_id": prompt_id,
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Question {prompt_id}: café, 東京?"},
        ],
        "response": text,
        "score": score,
        "score_std": std,
        "num_scores": 1 if std is None else 2,
        "aspects": [],
        "judge": "gpt-4",
        "source": "uf",
        "model": model,
        "origin": f"in.jsonl:{prompt_id}",
    }


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    """A train split of 12 pairs with margin 4 each; one model name is null."""
    folder = tmp_path_factory.mktemp("interop")
    rows = []
    for i in range(12):
        rows.append(response(f"p{i}", f"A good answer to {i}.", 9.0, std=0.5))
        rows.append(response(f"p{i}", f"A weak answer to {i}.", 5.0, model=None if i == 0 else "m2"))
    pq.write_table(pa.Table.from_pylist(rows, schema=tables.RESPONSES), folder / "responses.parquet")
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.0, "gamma": 0.5}),
        folder / "responses.parquet",
        folder / "train.parquet",
        folder / "test.parquet",
    )
    return folder / "train.parquet"


def original(path):
    return pq.read_table(path).replace_schema_metadata(None)


def test_interop_pandas_arrow_backend_exact(train_file, tmp_path):
    frame = pd.read_parquet(train_file, dtype_backend="pyarrow")
    frame.to_parquet(tmp_path / "back.parquet", index=False)
    back = original(tmp_path / "back.parquet")
    assert back.schema.equals(original(train_file).schema)
    assert back.equals(original(train_file))


def test_interop_pandas_arrow_backend_lists(train_file):
    frame = pd.read_parquet(train_file, dtype_backend="pyarrow")
    chosen = frame["chosen"].iloc[0]
    assert type(chosen) is list
    assert type(chosen[0]) is dict
    assert chosen[0]["role"] == "assistant"
    assert type(frame["prompt"].iloc[0]) is list


def test_interop_pandas_default_values(train_file, tmp_path):
    frame = pd.read_parquet(train_file)
    assert frame["p_chosen"].dtype == "float64"
    assert frame["p_chosen"].tolist() == pytest.approx([1.0 / (1.0 + math.exp(-2.0))] * 12, rel=1e-15)
    frame.to_parquet(tmp_path / "back.parquet", index=False)
    back = original(tmp_path / "back.parquet").cast(tables.PREFERENCES)
    assert back.equals(original(train_file))


def test_interop_polars_round_trip(train_file, tmp_path):
    frame = pl.read_parquet(train_file)
    row = frame.row(0, named=True)
    assert isinstance(row["prompt"], list)
    assert row["prompt"][1] == {"role": "user", "content": "Question p0: café, 東京?"}
    assert frame.schema["p_chosen"] == pl.Float64
    assert row["model_rejected"] is None
    frame.write_parquet(tmp_path / "back.parquet")
    # Polars writes large_string and large_list; the values are unchanged.
    back = original(tmp_path / "back.parquet")
    assert back.schema.field("prompt").type == pa.large_list(
        pa.struct([("role", pa.large_string()), ("content", pa.large_string())])
    )
    assert back.cast(tables.PREFERENCES).equals(original(train_file))


def test_interop_duckdb_round_trip(train_file, tmp_path):
    connection = duckdb.connect()
    result = connection.sql(f"SELECT * FROM read_parquet('{train_file}')").to_arrow_table()
    assert result.schema.equals(original(train_file).schema)
    assert result.equals(original(train_file))
    connection.execute(
        f"COPY (SELECT * FROM read_parquet('{train_file}')) TO '{tmp_path / 'back.parquet'}' (FORMAT parquet)"
    )
    back = original(tmp_path / "back.parquet")
    assert [f.type for f in back.schema] == [f.type for f in tables.PREFERENCES]
    assert back.cast(tables.PREFERENCES).equals(original(train_file))
    mean = connection.execute(f"SELECT avg(p_chosen) FROM read_parquet('{train_file}')").fetchone()[0]
    assert mean == pytest.approx(1.0 / (1.0 + math.exp(-2.0)), rel=1e-15)


def test_interop_datasets_round_trip(train_file, tmp_path):
    dataset = datasets.load_dataset(
        "parquet", data_files=str(train_file), split="train", cache_dir=str(tmp_path / "cache")
    )
    row = dataset[0]
    assert isinstance(row["chosen"], list)
    assert isinstance(row["chosen"][0], dict)
    assert row["chosen"][0]["role"] == "assistant"
    dataset.to_parquet(tmp_path / "back.parquet")
    back = original(tmp_path / "back.parquet")
    assert back.schema.equals(original(train_file).schema)
    assert back.equals(original(train_file))


def trl_dataset(train_file, tmp_path):
    return datasets.load_dataset(
        "parquet", data_files=str(train_file), split="train", cache_dir=str(tmp_path / "cache")
    )


def test_interop_trl_dpo_two_steps(train_file, tmp_path):
    tokenizer = build_byte_tokenizer()
    policy = build_tiny_model("dpo", tokenizer, TinyModelParams(), 256, 0)
    reference = build_tiny_model("dpo", tokenizer, TinyModelParams(), 256, 0)
    config = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=256,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
    )
    trainer = DPOTrainer(
        model=policy,
        ref_model=reference,
        args=config,
        train_dataset=trl_dataset(train_file, tmp_path),
        processing_class=tokenizer,
    )
    result = trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert result.global_step == 2
    # The policy equals the reference at step 1, so the DPO loss is -log sigmoid(0) = ln 2.
    assert losses[0] == pytest.approx(math.log(2.0), abs=1e-4)
    assert math.isfinite(losses[1])


def test_interop_trl_reward_uses_margin(train_file, tmp_path):
    tokenizer = build_byte_tokenizer()
    model = build_tiny_model("reward", tokenizer, TinyModelParams(), 256, 0)
    config = RewardConfig(
        output_dir=str(tmp_path / "reward"),
        max_steps=2,
        per_device_train_batch_size=2,
        max_length=256,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
    )
    trainer = RewardTrainer(
        model=model, args=config, train_dataset=trl_dataset(train_file, tmp_path), processing_class=tokenizer
    )
    result = trainer.train()
    first = next(entry for entry in trainer.state.log_history if "loss" in entry)
    assert result.global_step == 2
    # Every margin is 4 and the untrained head's reward gap is small, so the
    # loss -log sigmoid(gap - margin) is near softplus(4) = 4.018, far above ln 2.
    assert abs(first["margin"]) < 0.5
    assert first["loss"] == pytest.approx(math.log1p(math.exp(4.0 - first["margin"])), abs=0.5)
