"""Stage params: validation, overrides, and that every key is read."""

import dataclasses
import re

import pytest
import yaml
from conftest import REPO

from mmpo.params import (
    STAGE_PARAMS,
    EvaluateParams,
    IngestParams,
    LabelParams,
    ParamsError,
    TrainParams,
    apply_overrides,
    load_stage_params,
    read_params_file,
)


def test_repo_params_file_is_valid():
    for stage in STAGE_PARAMS:
        load_stage_params(stage, REPO / "params.yaml")


def test_unknown_key_rejected():
    with pytest.raises(ParamsError, match=r"label: unknown key\(s\) \['gama'\]"):
        LabelParams.from_mapping({"gama": 1.0})


def test_unknown_stage_rejected(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("labels: {gamma: 1}\n")
    with pytest.raises(ParamsError, match=r"unknown stage key\(s\) \['labels'\]"):
        read_params_file(path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        read_params_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"gamma": 0}, "must be > 0"),
        ({"gamma": -1}, "outside"),
        ({"gamma": "high"}, "expected a number"),
        ({"keep_ties": "yes"}, "expected true or false"),
        ({"test_fraction": 1.0}, "outside"),
        ({"seed": 1.5}, "expected an integer"),
    ],
)
def test_label_params_invalid(values, message):
    with pytest.raises(ParamsError, match=message):
        LabelParams.from_mapping(values)


def test_train_params_invalid():
    with pytest.raises(ParamsError, match="must be below max_length"):
        TrainParams.from_mapping({"max_length": 64, "max_prompt_length": 64})
    with pytest.raises(ParamsError, match="not one of"):
        TrainParams.from_mapping({"objective": "ppo"})
    with pytest.raises(ParamsError, match="multiple of heads"):
        TrainParams.from_mapping({"tiny": {"hidden": 30, "heads": 4}})
    with pytest.raises(ParamsError, match="beta: must be > 0"):
        TrainParams.from_mapping({"beta": 0.0})


def test_ingest_fields_checked_against_source():
    with pytest.raises(ParamsError, match=r"\['score_chosen'\] are not fields of source"):
        IngestParams.from_mapping({"source": "scored_responses", "fields": {"score_chosen": "x"}})
    params = IngestParams.from_mapping({"source": "binarized_pairs", "fields": {"score_chosen": "m.s"}})
    assert params.field_map()["score_chosen"] == "m.s"
    assert params.field_map()["score_rejected"] == "score_rejected"


def test_overrides_parse_yaml_values():
    values = apply_overrides({"label": {"gamma": 0.5}}, ["label.gamma=2", "train.tiny.layers=3"])
    assert values["label"]["gamma"] == 2
    assert values["train"]["tiny"]["layers"] == 3
    with pytest.raises(ParamsError, match="expected KEY=VALUE"):
        apply_overrides({}, ["label.gamma"])


def _yaml_keys(mapping, prefix=""):
    for key, value in mapping.items():
        yield prefix + key
        if isinstance(value, dict) and key != "fields":
            yield from _yaml_keys(value, prefix + key + ".")


def test_every_params_key_is_read_by_code():
    """Each key of params.yaml is a dataclass field, and the code reads that field."""
    values = yaml.safe_load((REPO / "params.yaml").read_text())
    sources = "\n".join(p.read_text() for p in (REPO / "mmpo").rglob("*.py") if p.name != "params.py")
    for stage, section in values.items():
        known = {f.name for f in dataclasses.fields(STAGE_PARAMS[stage])}
        for key in _yaml_keys(section):
            leaf = key.split(".")[-1]
            assert key.split(".")[0] in known, f"{stage}.{key} is not a field"
            if leaf == "tiny":
                continue
            leaf = "field_map" if leaf == "fields" else leaf
            assert re.search(rf"\.{leaf}\b", sources), f"{stage}.{key} is never read"


def test_evaluate_margin_edges_validated():
    with pytest.raises(ParamsError, match=r"must start at 0 and increase"):
        EvaluateParams.from_mapping({"margin_edges": [1, 2]})
    with pytest.raises(ParamsError, match=r"must start at 0 and increase"):
        EvaluateParams.from_mapping({"margin_edges": [0, 2, 2]})
    assert EvaluateParams.from_mapping({"margin_edges": [0, 3]}).margin_edges == (0.0, 3.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"pair_strategy": "pairs"}, r"pair_strategy: 'pairs' is not one of"),
        ({"max_pairs_per_prompt": -1}, "below the minimum 0"),
        ({"cap_order": "small"}, r"cap_order: 'small' is not one of"),
        ({"margin_function": "ratio"}, r"margin_function: 'ratio' is not one of"),
        ({"normalize_by": "model"}, r"normalize_by: 'model' is not one of"),
        ({"log_ratio_offset": -1}, "log_ratio_offset: -1 is outside"),
        ({"min_margin": -0.5}, "min_margin: -0.5 is outside"),
        ({"gamma_mode": "fit"}, r"gamma_mode: 'fit' is not one of"),
        ({"gamma_per_source": [1]}, "gamma_per_source: expected a mapping"),
        ({"gamma_per_source": {"uf": 0}}, r"gamma_per_source.uf: must be > 0"),
        ({"gamma_per_source": {"uf": "x"}}, r"gamma_per_source.uf: expected a number"),
        ({"target_mean_p": 0.5}, "target_mean_p: must lie strictly between 0.5 and 1"),
        ({"target_mean_p": 1.2}, "target_mean_p: 1.2 is outside"),
        ({"score_scale": [1]}, r"score_scale: expected \[low, high\] or null"),
        ({"score_scale": [10, 1]}, "score_scale: low 10.0 must be below high 1.0"),
        ({"label_smoothing": 0.5}, "label_smoothing: 0.5 is outside"),
        ({"weight": "votes"}, r"weight: 'votes' is not one of"),
        ({"stratify_by_source": 1}, "stratify_by_source: expected true or false"),
    ],
)
def test_label_depth_params_invalid(values, message):
    with pytest.raises(ParamsError, match=message):
        LabelParams.from_mapping(values)


def test_label_depth_params_defaults():
    params = LabelParams.from_mapping({"gamma_per_source": {"uf": 1}, "score_scale": [1, 5]})
    assert params.pair_strategy == "all"
    assert params.max_pairs_per_prompt == 0
    assert params.gamma_per_source == {"uf": 1.0}
    assert params.score_scale == [1.0, 5.0]
