"""Label: responses -> pairs -> soft targets -> train/test preference sets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmpo import __version__, tables
from mmpo.files import fingerprint, read_metadata, write_parquet
from mmpo.pairs import PairIndex, build_pairs
from mmpo.params import LabelParams, params_to_dict
from mmpo.splits import assign_test
from mmpo.targets import soft_targets

logger = logging.getLogger(__name__)


def assistant_turns(texts: pa.Array) -> pa.Array:
    """Wrap each response string as a one-message list ``[{role: assistant, content}]``."""
    count = len(texts)
    roles = pa.array(["assistant"] * count, pa.string())
    messages = pa.StructArray.from_arrays([roles, texts.cast(pa.string())], fields=list(tables.MESSAGE))
    return pa.ListArray.from_arrays(pa.array(np.arange(count + 1, dtype=np.int32)), messages)


def preference_table(responses: pa.Table, pairs: PairIndex, gamma: float) -> pa.Table:
    """Assemble the preference-set table for ``pairs`` in the ``PREFERENCES`` schema."""
    chosen = pa.array(pairs.chosen)
    rejected = pa.array(pairs.rejected)
    p_chosen = soft_targets(pairs.margin, gamma)
    p_chosen[pairs.is_tie] = 0.5  # a kept tie is a coin flip whatever the tolerance allowed

    def take(name: str, rows: pa.Array) -> pa.Array:
        return responses.column(name).take(rows).combine_chunks()

    columns = {
        "prompt_id": take("prompt_id", chosen),
        "prompt": take("prompt", chosen),
        "chosen": assistant_turns(take("response", chosen)),
        "rejected": assistant_turns(take("response", rejected)),
        "score_chosen": take("score", chosen),
        "score_rejected": take("score", rejected),
        "margin": pa.array(pairs.margin, pa.float64()),
        "p_chosen": pa.array(p_chosen, pa.float64()),
        "source": take("source", chosen),
        "judge": take("judge", chosen),
        "model_chosen": take("model", chosen),
        "model_rejected": take("model", rejected),
    }
    return pa.table(columns, schema=tables.PREFERENCES)


def _summary(p_chosen: np.ndarray) -> dict[str, float | None]:
    if len(p_chosen) == 0:
        return {"mean": None, "p10": None, "p50": None, "p90": None}
    quantiles = np.quantile(p_chosen, [0.1, 0.5, 0.9])
    return {
        "mean": float(p_chosen.mean()),
        "p10": float(quantiles[0]),
        "p50": float(quantiles[1]),
        "p90": float(quantiles[2]),
    }


def run_label(params: LabelParams, responses_path: Path, train_path: Path, test_path: Path) -> dict[str, Any]:
    """Build the preference sets from the responses table and write both splits.

    Returns:
        metrics: pair accounting (candidates = pairs + identical + ties dropped),
        pairs and prompts per split, and p_chosen summaries.
    """
    logger.info("label: %s", params)
    responses = pq.read_table(responses_path, schema=tables.RESPONSES)
    pairs, counts = build_pairs(responses, params.keep_ties, params.tie_tolerance)
    table = preference_table(responses, pairs, params.gamma)
    is_test = assign_test(
        table.column("prompt_id").to_numpy(zero_copy_only=False), params.test_fraction, params.seed
    )
    splits = {"train": table.filter(pa.array(~is_test)), "test": table.filter(pa.array(is_test))}

    metrics: dict[str, Any] = {
        "responses": responses.num_rows,
        "candidate_pairs": counts.candidates,
        "identical_pairs_dropped": counts.identical,
        "ties_dropped": counts.ties_dropped,
        "ties_kept": counts.ties_kept,
        "pairs": counts.pairs,
        "single_response_groups": counts.single_response_groups,
        "score_min": float(np.min(table.column("score_rejected"))) if table.num_rows else None,
        "score_max": float(np.max(table.column("score_chosen"))) if table.num_rows else None,
    }
    for name, split in splits.items():
        metrics[f"{name}_pairs"] = split.num_rows
        metrics[f"{name}_prompts"] = len(set(split.column("prompt_id").to_pylist()))
        metrics[f"{name}_p_chosen"] = _summary(split.column("p_chosen").to_numpy())

    metadata = {
        "stage": "label",
        "params": params_to_dict(params),
        "input_fingerprint": fingerprint(responses_path),
        "ingest": read_metadata(responses_path),
        "counts": metrics,
        "mmpo_version": __version__,
    }
    for name, path in (("train", train_path), ("test", test_path)):
        write_parquet(splits[name], path, {**metadata, "split": name})

    _log_counts(metrics)
    return metrics


def _log_counts(metrics: dict[str, Any]) -> None:
    logger.info(
        "label: %d candidate pairs -> %d pairs (%d train, %d test)",
        metrics["candidate_pairs"],
        metrics["pairs"],
        metrics["train_pairs"],
        metrics["test_pairs"],
    )
    if metrics["identical_pairs_dropped"]:
        logger.warning("label: dropped %d pairs with identical texts", metrics["identical_pairs_dropped"])
    if metrics["ties_dropped"]:
        logger.warning("label: dropped %d tied pairs (label.keep_ties: false)", metrics["ties_dropped"])
    if metrics["single_response_groups"]:
        logger.warning(
            "label: %d prompt(s) have one response and give no pair", metrics["single_response_groups"]
        )
    for name in ("train", "test"):
        if metrics[f"{name}_pairs"] == 0:
            logger.warning("label: the %s split is empty; check label.test_fraction", name)
