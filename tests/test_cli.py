"""The mmpo command and the stage modules as a user runs them."""

import json
import subprocess
import sys

import pytest
import yaml
from conftest import REPO


def run_mmpo(*args, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "mmpo.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_top_level_help_lists_stages():
    result = run_mmpo("--help")
    assert result.returncode == 0
    for stage in ("ingest", "label", "train", "evaluate"):
        assert stage in result.stdout


@pytest.mark.parametrize("stage", ["ingest", "label", "train", "evaluate"])
def test_stage_help_states_reads_writes_params(stage):
    result = run_mmpo(stage, "--help")
    assert result.returncode == 0
    for heading in ("Reads:", "Writes:", "Params:", "--params", "--set"):
        assert heading in result.stdout
    assert f"{stage}." in result.stdout.split("Params:")[1]


def test_stage_module_help_matches_cli():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.label", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "label.gamma" in result.stdout


def test_invalid_param_exits_2_with_message(tmp_path):
    result = run_mmpo("label", "--set", "label.gamma=-1", "--responses", str(tmp_path / "absent.parquet"))
    assert result.returncode == 2
    assert "label.gamma: -1 is outside" in result.stderr


def test_missing_input_exits_2_with_message(tmp_path):
    result = run_mmpo(
        "ingest",
        "--set",
        f"ingest.path={tmp_path / 'absent.jsonl'}",
        "--responses",
        str(tmp_path / "r.parquet"),
        "--quarantine",
        str(tmp_path / "q.parquet"),
        "--metrics",
        str(tmp_path / "m.json"),
    )
    assert result.returncode == 2
    assert "absent.jsonl: input not found; set ingest.path" in result.stderr


def test_cli_runs_ingest_on_sample(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"ingest": {"path": str(REPO / "data/sample/responses.jsonl")}}))
    result = run_mmpo(
        "ingest",
        "--params",
        str(params),
        "--responses",
        str(tmp_path / "r.parquet"),
        "--quarantine",
        str(tmp_path / "q.parquet"),
        "--metrics",
        str(tmp_path / "m.json"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["read"]["rows"] == 238
    assert metrics["responses"] == 236
    assert metrics["quarantined_by_reason"] == {"non_numeric_score": 1, "null_score": 1}
