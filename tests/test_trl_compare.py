"""The tokens/s benchmark against TRL's DPOTrainer, at a size that runs in seconds."""

import importlib.util

import pytest
from conftest import REPO

pytest.importorskip("trl")


@pytest.fixture(scope="module")
def trl_compare():
    spec = importlib.util.spec_from_file_location("trl_compare", REPO / "benchmarks" / "trl_compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trl_compare_counts_same_tokens(trl_compare, tmp_path):
    """mmpo and TRL see the same sequences, so they count the same real tokens per step."""
    sizes = ["--steps", "2", "--warmup", "1", "--batch-size", "2", "--max-length", "128"]
    args = trl_compare.parse_args([*sizes, "--workdir", str(tmp_path)])
    trl_compare.write_preference_set(args)
    results = {}
    for run in ("mmpo", "trl"):
        args.child = run
        results[run] = trl_compare.run_child(args)
    assert results["mmpo"]["steps"] == results["trl"]["steps"] == 2
    assert results["mmpo"]["tokens"] == results["trl"]["tokens"]
    assert results["mmpo"]["tokens"] > 0
