"""Reports of the label stage beside the data: its metrics and the dataset card."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from mmpo.files import write_text
from mmpo.pairs import PairCounts
from mmpo.params import LabelParams

logger = logging.getLogger(__name__)


def summary(values: np.ndarray) -> dict[str, float | None]:
    """Return the mean and the 10th, 50th and 90th percentiles of ``values`` (None when empty)."""
    if len(values) == 0:
        return {"mean": None, "p10": None, "p50": None, "p90": None}
    quantiles = np.quantile(values, [0.1, 0.5, 0.9])
    return {
        "mean": float(values.mean()),
        "p10": float(quantiles[0]),
        "p50": float(quantiles[1]),
        "p90": float(quantiles[2]),
    }


def label_metrics(
    responses: int,
    unscored: int,
    comparisons: int,
    counts: PairCounts,
    table: pa.Table,
    splits: dict[str, pa.Table],
) -> dict[str, Any]:
    """Return the label stage's metrics: pair accounting, per-split sizes and p_chosen summaries."""
    assert counts.candidates == (
        counts.pairs + counts.identical + counts.ties_dropped + counts.below_min_margin + counts.capped
    ), dataclasses.asdict(counts)
    metrics: dict[str, Any] = {
        "responses": responses,
        "unscored_responses": unscored,
        "comparisons": comparisons,
        "pairs_not_in_strategy": counts.not_in_strategy,
        "candidate_pairs": counts.candidates,
        "identical_pairs_dropped": counts.identical,
        "ties_dropped": counts.ties_dropped,
        "ties_kept": counts.ties_kept,
        "below_min_margin": counts.below_min_margin,
        "capped_pairs": counts.capped,
        "pairs": counts.pairs,
        "single_response_groups": counts.single_response_groups,
        "score_min": pc.min(table.column("score_rejected")).as_py(),
        "score_max": pc.max(table.column("score_chosen")).as_py(),
        "weight_mean": pc.mean(table.column("weight")).as_py(),
    }
    for name, split in splits.items():
        metrics[f"{name}_pairs"] = split.num_rows
        metrics[f"{name}_prompts"] = pc.count_distinct(split.column("prompt_id")).as_py()
        metrics[f"{name}_p_chosen"] = summary(split.column("p_chosen").to_numpy())
    return metrics


def card_text(paths: dict[str, str], metrics: dict[str, Any], params: LabelParams) -> str:
    """Return a dataset card: a YAML header that ``datasets.load_dataset`` reads, then statistics.

    Args:
        paths: split name -> file path relative to the card's folder.
    """
    header = {
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": name, "path": path} for name, path in paths.items()],
            }
        ],
        "tags": ["preference", "mmpo", "dpo", "reward-modeling"],
    }
    gamma = metrics["gamma"]
    scale = gamma["score_scale"]
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        "# Preference set with soft targets",
        "",
        "One row per pair: `prompt`, `chosen`, `rejected` (lists of {role, content}),",
        "the scores, `margin`, and the soft target `p_chosen = sigmoid(gamma * margin)`.",
        "",
        f"- pair strategy: `{params.pair_strategy}`, cap per prompt: {params.max_pairs_per_prompt or 'none'}",
        f"- margin function: `{params.margin_function}`, minimum margin: {params.min_margin}",
        f"- gamma: `{gamma['mode']}`, value {gamma['value']}, "
        f"on scores from {scale['low']} to {scale['high']}"
        + ("" if scale["declared"] else " (observed, not declared)"),
        "",
        "| split | pairs | prompts | mean p_chosen | p10 | p50 | p90 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in paths:
        stats = metrics[f"{name}_p_chosen"]
        cells = ["-" if stats[k] is None else f"{stats[k]:.4f}" for k in ("mean", "p10", "p50", "p90")]
        lines.append(
            f"| {name} | {metrics[f'{name}_pairs']} | {metrics[f'{name}_prompts']} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        f"Candidate pairs {metrics['candidate_pairs']}: {metrics['pairs']} kept, "
        f"{metrics['identical_pairs_dropped']} identical, {metrics['ties_dropped']} ties dropped "
        f"({metrics['ties_kept']} kept at 0.5), {metrics['below_min_margin']} below the minimum margin, "
        f"{metrics['capped_pairs']} over the cap.",
        "",
    ]
    return "\n".join(lines)


def write_card(folder: Path, paths: dict[str, Path], metrics: dict[str, Any], params: LabelParams) -> Path:
    """Write ``README.md`` (the dataset card) into ``folder``; return its path."""
    relative = {}
    for name, path in paths.items():
        try:
            relative[name] = Path(path).resolve().relative_to(folder.resolve()).as_posix()
        except ValueError:
            relative[name] = Path(path).resolve().as_posix()
    card = folder / "README.md"
    write_text(card_text(relative, metrics, params), card)
    return card
