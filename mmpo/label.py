"""Label: responses -> pairs -> margins -> soft targets -> train/test preference sets."""

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
from mmpo.files import ParquetChunkWriter, fingerprint, read_metadata
from mmpo.gamma import fit_gamma, gamma_for_mean, gamma_per_pair, vote_margins
from mmpo.label_plots import write_plots
from mmpo.label_report import label_metrics, write_card
from mmpo.label_scan import ResponseScan, scan_responses, texts_at
from mmpo.label_write import pair_targets, preference_chunks
from mmpo.margins import margin_values
from mmpo.pairs import PairCounts, PairIndex, build_pairs, column_codes, filter_pairs
from mmpo.params import LabelParams, params_to_dict
from mmpo.splits import assign_test, assign_test_stratified, prompt_keys
from mmpo.strategies import cap_per_group
from mmpo.text import canonical_text
from mmpo.weights import pair_weights

logger = logging.getLogger(__name__)


def _read_comparisons(path: Path | None) -> pa.Table | None:
    if path is None or not Path(path).is_file():
        return None
    return pq.read_table(path, schema=tables.COMPARISONS)


def _add_counts(first: PairCounts, second: PairCounts) -> PairCounts:
    return PairCounts(
        *(a + b for a, b in zip(dataclasses.astuple(first), dataclasses.astuple(second), strict=True))
    )


def scored_pairs(
    params: LabelParams,
    responses: pa.Table,
    values: np.ndarray,
    fingerprints: np.ndarray | None = None,
    texts_of=None,
) -> tuple[PairIndex, PairCounts]:
    """Pick, order, filter and cap the pairs of scored responses.

    Steps: the pair strategy, identical texts and ties (``build_pairs``), the
    minimum-margin filter (kept ties exempt), then the per-prompt cap. Each
    step's drops are counted, so candidates = pairs + identical + ties dropped
    + below the minimum margin + capped. ``fingerprints`` and ``texts_of``
    go to ``build_pairs`` for a table without the ``response`` column.
    """
    pairs, counts = build_pairs(
        responses,
        params.keep_ties,
        params.tie_tolerance,
        strategy=params.pair_strategy,
        values=values,
        seed=params.seed,
        fingerprints=fingerprints,
        texts_of=texts_of,
    )

    above = pairs.is_tie | (pairs.margin >= params.min_margin)
    pairs = filter_pairs(pairs, above)

    prompt_codes = column_codes(responses.column("prompt_id"))
    capped = cap_per_group(
        prompt_codes[pairs.chosen], pairs.margin, params.max_pairs_per_prompt, params.cap_order, params.seed
    )
    pairs = filter_pairs(pairs, capped)

    below, dropped_by_cap = int((~above).sum()), int((~capped).sum())
    counts = dataclasses.replace(
        counts, below_min_margin=below, capped=dropped_by_cap, pairs=counts.pairs - below - dropped_by_cap
    )
    return pairs, counts


def resolve_gamma(
    params: LabelParams,
    responses: pa.Table,
    values: np.ndarray,
    pairs: PairIndex,
    comparisons: pa.Table | None,
    compared_texts: dict[int, str] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return gamma per pair, float64 (N,), and a record of how it was chosen.

    ``compared_texts`` maps rows of ``responses`` to their canonical texts
    (see ``ResponseScan``); ``auto`` matches comparisons to scored responses
    through it, and reads the ``response`` column when it is None.

    Raises:
        ValueError: ``auto`` finds no comparisons with votes for scored
            pairs, or the fit or the target mean cannot be reached.
    """
    record: dict[str, Any] = {"mode": params.gamma_mode, "margin_function": params.margin_function}
    sources = responses.column("source").to_numpy(zero_copy_only=False)[pairs.chosen]
    if params.gamma_mode == "fixed":
        gamma = np.full(len(pairs.margin), params.gamma)
        record["value"] = params.gamma
    elif params.gamma_mode == "per_source":
        gamma = gamma_per_pair(sources, params.gamma_per_source, params.gamma)
        record["value"] = {source: float(gamma[sources == source][0]) for source in sorted(set(sources))}
    elif params.gamma_mode == "target_mean":
        value = gamma_for_mean(pairs.margin[~pairs.is_tie], params.target_mean_p)
        gamma = np.full(len(pairs.margin), value)
        record.update(value=value, target_mean_p=params.target_mean_p)
    else:
        fit = _fit_from_votes(responses, values, comparisons, compared_texts)
        gamma = np.full(len(pairs.margin), fit.gamma)
        record.update(value=fit.gamma, fit=dataclasses.asdict(fit))
    return gamma, record


def _fit_from_votes(
    responses: pa.Table,
    values: np.ndarray,
    comparisons: pa.Table | None,
    compared_texts: dict[int, str] | None,
):
    if comparisons is None:
        raise ValueError(
            "label.gamma_mode auto: no comparisons table was found; it needs pairwise votes on "
            "scored responses. Use gamma_mode fixed or target_mean, or ingest the votes"
        )
    if compared_texts is None:
        texts = responses.column("response").to_pylist()
        compared_texts = {row: canonical_text(text) for row, text in enumerate(texts)}
    prompt_ids = responses.column("prompt_id")
    key = {}
    for row in sorted(compared_texts):
        key.setdefault((prompt_ids[row].as_py(), compared_texts[row]), float(values[row]))
    margin, share, votes = vote_margins(key, comparisons)
    if len(margin) == 0:
        raise ValueError(
            "label.gamma_mode auto: no comparison with votes matches two scored responses of one "
            "prompt (same prompt_id and text); use gamma_mode fixed or target_mean"
        )
    fit = fit_gamma(margin, share, votes)
    logger.info(
        "label: fitted gamma %.6g (95%% CI %.6g to %.6g, log-likelihood %.6g) on %d comparisons",
        fit.gamma,
        fit.ci_low,
        fit.ci_high,
        fit.log_likelihood,
        fit.comparisons,
    )
    return fit


def _test_mask(
    params: LabelParams,
    response_keys: np.ndarray,
    pairs: PairIndex,
    votes: pa.Table | None,
    summary: pa.Table,
) -> np.ndarray:
    """Return a bool mask over the summary rows (scored pairs, then votes), True for the test split.

    The split key is built per response (``ResponseScan.prompt_keys``) and
    taken at each pair's chosen row, so no prompt text is copied per pair.
    """
    keys = response_keys[pairs.chosen]
    if votes is not None:
        vote_keys = prompt_keys(column_codes(votes.column("prompt_id")), votes.column("prompt"))
        keys = np.concatenate([keys, vote_keys])
    sources = summary.column("source").to_numpy(zero_copy_only=False)
    if params.stratify_by_source:
        return assign_test_stratified(keys, sources, params.test_fraction, params.seed)
    return assign_test(keys, params.test_fraction, params.seed)


def _summary_table(
    responses: pa.Table, pairs: PairIndex, p_chosen: np.ndarray, weights: np.ndarray, votes: pa.Table | None
) -> pa.Table:
    """Return the columns that metrics and plots read, one row per pair, without the texts."""
    chosen, rejected = pa.array(pairs.chosen), pa.array(pairs.rejected)
    table = pa.table(
        {
            "prompt_id": responses.column("prompt_id").take(chosen).combine_chunks(),
            "source": responses.column("source").take(chosen).combine_chunks(),
            "score_chosen": responses.column("score").take(chosen).combine_chunks(),
            "score_rejected": responses.column("score").take(rejected).combine_chunks(),
            "margin": pa.array(pairs.margin, pa.float64()),
            "p_chosen": pa.array(p_chosen, pa.float64()),
            "weight": pa.array(weights, pa.float64()),
        }
    )
    if votes is None:
        return table
    return pa.concat_tables([table, votes.select(table.column_names).cast(table.schema)])


def _score_scale(params: LabelParams, responses: pa.Table) -> dict[str, Any]:
    if params.score_scale is not None:
        return {"low": params.score_scale[0], "high": params.score_scale[1], "declared": True}
    scores = responses.column("score")
    return {"low": pc.min(scores).as_py(), "high": pc.max(scores).as_py(), "declared": False}


def _metadata(
    params: LabelParams, metrics: dict[str, Any], responses_path: Path, comparisons_path: Path | None
) -> dict[str, Any]:
    """Return the file metadata: params, gamma with its scale, input fingerprints, counts, version."""
    return {
        "stage": "label",
        "params": params_to_dict(params),
        "gamma": metrics["gamma"],
        "score_field": "score",
        "input_fingerprint": fingerprint(responses_path),
        "comparisons_fingerprint": None if comparisons_path is None else fingerprint(comparisons_path),
        "ingest": read_metadata(responses_path),
        "counts": metrics,
        "mmpo_version": __version__,
    }


def comparison_pairs(params: LabelParams, comparisons: pa.Table | None) -> tuple[pa.Table | None, PairCounts]:
    """Return the preference rows of the comparisons, capped per prompt, and their counts.

    The per-prompt cap applies to these pairs on their own, apart from the
    pairs of scored responses, because their strength is a vote share and
    not a score margin. ``cap_order: margin`` keeps the largest p_chosen.
    """
    if comparisons is None:
        return None, PairCounts(0, 0, 0, 0, 0, 0)
    votes, counts = comparison_preferences(
        comparisons, params.keep_ties, params.tie_tolerance, params.label_smoothing
    )
    p_chosen = votes.column("p_chosen").to_numpy(zero_copy_only=False)
    prompt_codes = column_codes(votes.column("prompt_id"))
    kept = cap_per_group(prompt_codes, p_chosen, params.max_pairs_per_prompt, params.cap_order, params.seed)
    capped = int((~kept).sum())
    counts = dataclasses.replace(counts, capped=capped, pairs=counts.pairs - capped)
    return votes.filter(pa.array(kept)), counts


def _texts_reader(responses_path: Path, scan: ResponseScan):
    """Return a ``texts_of`` for ``build_pairs`` that reads rows of ``scan.light`` from the file."""

    def texts_of(rows: np.ndarray) -> dict[int, str]:
        texts = texts_at(responses_path, scan.rows[rows])
        return {int(row): texts[int(scan.rows[row])] for row in rows}

    return texts_of


def _write_splits(
    responses_path: Path,
    scan: ResponseScan,
    pairs: PairIndex,
    gamma: np.ndarray,
    weights: np.ndarray,
    is_test: np.ndarray,
    votes: pa.Table | None,
    writers: dict[str, ParquetChunkWriter],
) -> None:
    """Write every pair to its split: scored pairs first, in pair order, then the comparison pairs."""
    in_file = PairIndex(scan.rows[pairs.chosen], scan.rows[pairs.rejected], pairs.margin, pairs.is_tie)
    for positions, table in preference_chunks(responses_path, in_file, gamma, weights):
        test = pa.array(is_test[positions])
        writers["train"].write(table.filter(pc.invert(test)))
        writers["test"].write(table.filter(test))
    if votes is not None:
        test = pa.array(is_test[len(pairs.margin) :])
        writers["train"].write(votes.filter(pc.invert(test)))
        writers["test"].write(votes.filter(test))


def run_label(
    params: LabelParams,
    responses_path: Path,
    train_path: Path,
    test_path: Path,
    comparisons_path: Path | None = None,
    plots_dir: Path | None = None,
) -> dict[str, Any]:
    """Build the preference sets from the responses table and write both splits.

    Pairs of scored responses come first, then pairs from the comparisons
    table (pairwise judgments), read from ``comparisons_path`` when that
    file exists. The responses are read twice, batch by batch: once for
    scores, groups and text fingerprints, which decide the pairs, and once
    for the texts as the sets are written. A dataset card ``README.md`` is
    written beside the train file, and plots into ``plots_dir`` when it is
    given.

    Returns:
        metrics: pair accounting (candidates = pairs + identical + ties
        dropped + below the minimum margin + capped), gamma, pairs and
        prompts per split, and p_chosen summaries.

    Raises:
        InputError: a score cannot go through the margin function, or the
            responses file lacks a column.
        ValueError: gamma cannot be resolved (see ``resolve_gamma``).
    """
    logger.info("label: %s", params)
    comparisons = _read_comparisons(comparisons_path)
    compared_ids = None
    if comparisons is not None and params.gamma_mode == "auto":
        compared_ids = set(comparisons.column("prompt_id").to_pylist())
    scan = scan_responses(Path(responses_path), compared_ids)
    pa.default_memory_pool().release_unused()  # the scan's batches are gone; return their pages
    if scan.unscored:
        logger.warning(
            "label: %d response(s) in %s have no score and are left out; score them with the judge stage",
            scan.unscored,
            responses_path,
        )

    responses = scan.light
    groups = column_codes(responses.column(params.normalize_by))
    scores = responses.column("score").to_numpy(zero_copy_only=False)
    values = margin_values(
        scores, groups, params.margin_function, params.log_ratio_offset, responses.column("origin")
    )
    texts_of = _texts_reader(Path(responses_path), scan)
    pairs, counts = scored_pairs(params, responses, values, scan.fingerprints, texts_of)

    gamma, gamma_record = resolve_gamma(params, responses, values, pairs, comparisons, scan.compared_texts)
    gamma_record["score_scale"] = _score_scale(params, responses)
    std = responses.column("score_std").to_numpy(zero_copy_only=False).astype(np.float64)
    weights = pair_weights(params.weight, std[pairs.chosen], std[pairs.rejected])
    votes, vote_counts = comparison_pairs(params, comparisons)
    counts = _add_counts(counts, vote_counts)

    summary = _summary_table(responses, pairs, pair_targets(pairs, gamma), weights, votes)
    is_test = _test_mask(params, scan.prompt_keys, pairs, votes, summary)
    splits = {"train": summary.filter(pa.array(~is_test)), "test": summary.filter(pa.array(is_test))}
    metrics = label_metrics(responses.num_rows, scan.unscored, comparisons, counts, summary, splits)
    metrics["gamma"] = gamma_record

    metadata = _metadata(params, metrics, responses_path, None if comparisons is None else comparisons_path)
    paths = {"train": Path(train_path), "test": Path(test_path)}
    writers: dict[str, ParquetChunkWriter] = {}
    try:
        for name, path in paths.items():
            writers[name] = ParquetChunkWriter(path, tables.PREFERENCES, {**metadata, "split": name})
        _write_splits(Path(responses_path), scan, pairs, gamma, weights, is_test, votes, writers)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    for writer in writers.values():
        writer.close()
    write_card(paths["train"].parent, paths, metrics, params)
    if plots_dir is not None:
        write_plots(summary, Path(plots_dir))

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
    if metrics["below_min_margin"]:
        logger.info("label: dropped %d pairs below label.min_margin", metrics["below_min_margin"])
    if metrics["capped_pairs"]:
        logger.info("label: dropped %d pairs over label.max_pairs_per_prompt", metrics["capped_pairs"])
    if metrics["single_response_groups"]:
        logger.warning(
            "label: %d prompt(s) have one response and give no pair", metrics["single_response_groups"]
        )
    for name in ("train", "test"):
        if metrics[f"{name}_pairs"] == 0:
            logger.warning("label: the %s split is empty; check label.test_fraction", name)
