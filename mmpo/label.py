"""Label: responses -> pairs -> soft targets -> train/test preference sets."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mmpo import __version__, tables
from mmpo.comparisons import comparison_preferences
from mmpo.files import fingerprint, read_metadata, write_parquet
from mmpo.pairs import PairCounts, PairIndex, build_pairs
from mmpo.params import LabelParams, params_to_dict
from mmpo.splits import assign_test
from mmpo.targets import soft_targets

logger = logging.getLogger(__name__)


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
        "chosen": tables.assistant_messages(take("response", chosen)),
        "rejected": tables.assistant_messages(take("response", rejected)),
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


def _read_comparisons(path: Path | None) -> pa.Table | None:
    if path is None or not Path(path).is_file():
        return None
    return pq.read_table(path, schema=tables.COMPARISONS)


def _add_counts(first: PairCounts, second: PairCounts) -> PairCounts:
    return PairCounts(
        *(a + b for a, b in zip(dataclasses.astuple(first), dataclasses.astuple(second), strict=True))
    )


def run_label(
    params: LabelParams,
    responses_path: Path,
    train_path: Path,
    test_path: Path,
    comparisons_path: Path | None = None,
) -> dict[str, Any]:
    """Build the preference sets from the responses table and write both splits.

    Pairs of scored responses come first, then pairs from the comparisons
    table (pairwise judgments), read from ``comparisons_path`` when that
    file exists.

    Returns:
        metrics: pair accounting (candidates = pairs + identical + ties dropped),
        pairs and prompts per split, and p_chosen summaries.
    """
    logger.info("label: %s", params)
    responses = pq.read_table(responses_path, schema=tables.RESPONSES)
    unscored = responses.num_rows - pc.count(responses.column("score")).as_py()
    if unscored:
        logger.warning(
            "label: %d response(s) in %s have no score and are left out; score them with the judge stage",
            unscored,
            responses_path,
        )
        responses = responses.filter(pc.is_valid(responses.column("score")))
    pairs, counts = build_pairs(responses, params.keep_ties, params.tie_tolerance)
    table = preference_table(responses, pairs, params.gamma)
    comparisons = _read_comparisons(comparisons_path)
    if comparisons is not None:
        from_votes, vote_counts = comparison_preferences(comparisons, params.keep_ties, params.tie_tolerance)
        table = pa.concat_tables([table, from_votes])
        counts = _add_counts(counts, vote_counts)
    is_test = assign_test(
        table.column("prompt_id").to_numpy(zero_copy_only=False), params.test_fraction, params.seed
    )
    splits = {"train": table.filter(pa.array(~is_test)), "test": table.filter(pa.array(is_test))}

    metrics: dict[str, Any] = {
        "responses": responses.num_rows,
        "unscored_responses": unscored,
        "comparisons": 0 if comparisons is None else comparisons.num_rows,
        "candidate_pairs": counts.candidates,
        "identical_pairs_dropped": counts.identical,
        "ties_dropped": counts.ties_dropped,
        "ties_kept": counts.ties_kept,
        "pairs": counts.pairs,
        "single_response_groups": counts.single_response_groups,
        "score_min": pc.min(table.column("score_rejected")).as_py(),
        "score_max": pc.max(table.column("score_chosen")).as_py(),
    }
    for name, split in splits.items():
        metrics[f"{name}_pairs"] = split.num_rows
        metrics[f"{name}_prompts"] = len(set(split.column("prompt_id").to_pylist()))
        metrics[f"{name}_p_chosen"] = _summary(split.column("p_chosen").to_numpy())

    metadata = {
        "stage": "label",
        "params": params_to_dict(params),
        "input_fingerprint": fingerprint(responses_path),
        "comparisons_fingerprint": None if comparisons is None else fingerprint(comparisons_path),
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
