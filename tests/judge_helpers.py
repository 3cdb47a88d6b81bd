"""Helpers of the judge tests: small responses tables and params aimed at a local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from mmpo import tables
from mmpo.files import write_parquet
from mmpo.judge.fake_server import FakeChatServer
from mmpo.params import JudgeParams

API_KEY = "sk-test-do-not-leak-4f9a2c"


def response_row(text: str, prompt: str = "What is 2 + 2?", score: float | None = None, **extra: Any) -> dict:
    """Return one RESPONSES row; prompt_id and group_id are the prompt text."""
    row = {
        "prompt_id": prompt,
        "group_id": prompt,
        "prompt": [{"role": "user", "content": prompt}],
        "response": text,
        "score": score,
        "score_std": None,
        "num_scores": 0 if score is None else 1,
        "aspects": [],
        "judge": None if score is None else "human",
        "source": "test",
        "model": "model-x",
        "origin": f"input.jsonl:{extra.pop('line', 1)}",
    }
    row.update(extra)
    return row


def write_responses(folder: Path, rows: list[dict]) -> dict[str, Path]:
    """Write ``rows`` as the responses table in ``folder`` and return the stage's paths."""
    responses = folder / "responses.parquet"
    write_parquet(pa.Table.from_pylist(rows, schema=tables.RESPONSES), responses, {"stage": "test"})
    return {
        "responses": responses,
        "comparisons": folder / "comparisons.parquet",
        "judged": folder / "judged" / "responses.parquet",
        "judged_comparisons": folder / "judged" / "comparisons.parquet",
        "calls": folder / "judged" / "calls.parquet",
        "failures": folder / "judged" / "failures.parquet",
    }


def judge_params(server: FakeChatServer, **values: Any) -> JudgeParams:
    """Return enabled params aimed at ``server`` with short backoff and timeout, updated by ``values``."""
    mapping = {
        "enabled": True,
        "base_url": server.base_url,
        "models": ["judge-a"],
        "concurrency": 4,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 5.0,
        "max_retries": 3,
        "structured_output": False,
    }
    mapping.update(values)
    return JudgeParams.from_mapping(mapping)
