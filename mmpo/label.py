"""Label: responses -> pairs -> margins -> soft targets -> train/test preference sets."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mmpo import __version__, tables
from mmpo.files import ParquetChunkWriter, fingerprint, read_metadata
from mmpo.gamma import fit_gamma, gamma_for_mean, gamma_per_pair, vote_margins
from mmpo.label_plots import write_plots
from mmpo.label_report import label_metrics, write_card
from mmpo.label_scan import ResponseScan, scan_responses, texts_at
from mmpo.label_votes import VoteEvidence, VoteScan, comparison_chunks, empty_summary, scan_comparisons
from mmpo.label_write import pair_targets, preference_chunks
from mmpo.margins import margin_values
from mmpo.pairs import PairCounts, PairIndex, build_pairs, column_codes, filter_pairs
from mmpo.parallel import prefetch
from mmpo.params import LabelParams, params_to_dict
from mmpo.splits import assign_test_by_code, assign_test_stratified
from mmpo.strategies import cap_per_group
from mmpo.text import text_fingerprints
from mmpo.weights import pair_weights

logger = logging.getLogger(__name__)


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
    evidence: VoteEvidence | None,
    fingerprints: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return gamma per pair, float64 (N,), and a record of how it was chosen.

    ``auto`` fits gamma on ``evidence``, the comparisons with votes, matched
    to scored responses by prompt_id and the ``text_fingerprints`` of the
    texts. ``fingerprints`` (R,) are those of ``responses``, computed from its
    ``response`` column when None.

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
        fit = _fit_from_votes(responses, values, evidence, fingerprints)
        gamma = np.full(len(pairs.margin), fit.gamma)
        record.update(value=fit.gamma, fit=dataclasses.asdict(fit))
    return gamma, record


def _fit_from_votes(
    responses: pa.Table, values: np.ndarray, evidence: VoteEvidence | None, fingerprints: np.ndarray | None
):
    if evidence is None:
        raise ValueError(
            "label.gamma_mode auto: no comparisons table was found; it needs pairwise votes on "
            "scored responses. Use gamma_mode fixed or target_mean, or ingest the votes"
        )
    if fingerprints is None:
        fingerprints = text_fingerprints(responses.column("response"))
    compared = pa.array(sorted(set(evidence.prompt_ids.tolist())), pa.string())
    rows = np.flatnonzero(
        pc.is_in(responses.column("prompt_id"), value_set=compared).to_numpy(zero_copy_only=False)
    )
    prompt_ids = responses.column("prompt_id").take(pa.array(rows)).to_pylist()
    key: dict[tuple[str, int], float] = {}
    for prompt_id, text_hash, value in zip(
        prompt_ids, fingerprints[rows].tolist(), values[rows].tolist(), strict=True
    ):
        key.setdefault((prompt_id, text_hash), value)
    margin, share, votes = vote_margins(key, evidence)
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
    scan: ResponseScan,
    pairs: PairIndex,
    votes: VoteScan | None,
    vote_keep: np.ndarray,
    summary,
) -> np.ndarray:
    """Return a bool mask over the summary rows (scored pairs, then votes), True for the test split.

    Split keys are codes per response (``ResponseScan.key_codes``) taken at
    each pair's chosen row, so no prompt text is copied per pair. The keys
    of responses and of comparisons are unified first, so one prompt text
    gets one split in both.
    """
    key_texts = [scan.key_texts] if votes is None else [scan.key_texts, votes.key_texts]
    unified, distinct = pd.factorize(np.concatenate(key_texts))
    codes = unified[scan.key_codes[pairs.chosen]]
    if votes is not None:
        codes = np.concatenate([codes, unified[len(scan.key_texts) + votes.key_codes[vote_keep]]])
    distinct = np.asarray(distinct, dtype=object)
    if params.stratify_by_source:
        sources = summary.column("source").to_numpy(zero_copy_only=False)
        return assign_test_stratified(distinct[codes], sources, params.test_fraction, params.seed)
    return assign_test_by_code(codes, distinct, params.test_fraction, params.seed)


def _summary_table(
    responses: pa.Table, pairs: PairIndex, p_chosen: np.ndarray, weights: np.ndarray, votes: pa.Table
) -> pa.Table:
    """Return the columns that metrics and plots read, one row per pair, without the texts.

    The scored pairs come first, then ``votes``, the summary rows of the
    comparison pairs.
    """
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
    return pa.concat_tables([table, votes.select(table.column_names).cast(table.schema)])


def _vote_summary(votes: VoteScan | None, keep: np.ndarray) -> pa.Table:
    if votes is None:
        return empty_summary()
    return votes.summary.filter(pa.array(keep, pa.bool_()))


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


def cap_comparisons(params: LabelParams, votes: VoteScan | None) -> tuple[np.ndarray, PairCounts]:
    """Return a bool mask (M,) of the comparison pairs kept by the per-prompt cap, and their counts.

    The cap applies to these pairs on their own, apart from the pairs of
    scored responses, because their strength is a vote share and not a
    score margin. ``cap_order: margin`` keeps the largest p_chosen.
    """
    if votes is None:
        return np.zeros(0, dtype=bool), PairCounts(0, 0, 0, 0, 0, 0)
    p_chosen = votes.summary.column("p_chosen").to_numpy(zero_copy_only=False)
    prompt_codes = column_codes(votes.summary.column("prompt_id"))
    within_cap = cap_per_group(
        prompt_codes, p_chosen, params.max_pairs_per_prompt, params.cap_order, params.seed
    )
    capped = int((~within_cap).sum())
    return within_cap, dataclasses.replace(votes.counts, capped=capped, pairs=votes.counts.pairs - capped)


def _texts_reader(responses_path: Path, scan: ResponseScan):
    """Return a ``texts_of`` for ``build_pairs`` that reads rows of ``scan.light`` from the file."""

    def texts_of(rows: np.ndarray) -> dict[int, str]:
        texts = texts_at(responses_path, scan.rows[rows])
        return {int(row): texts[int(scan.rows[row])] for row in rows}

    return texts_of


def _write_splits(
    params: LabelParams,
    responses_path: Path,
    comparisons_path: Path | None,
    scan: ResponseScan,
    pairs: PairIndex,
    gamma: np.ndarray,
    weights: np.ndarray,
    is_test: np.ndarray,
    vote_keep: np.ndarray,
    writers: dict[str, ParquetChunkWriter],
) -> None:
    """Write every pair to its split: scored pairs first, in pair order, then the comparison pairs."""
    in_file = PairIndex(scan.rows[pairs.chosen], scan.rows[pairs.rejected], pairs.margin, pairs.is_tie)
    for positions, table in prefetch(preference_chunks(responses_path, in_file, gamma, weights)):
        _route(table, is_test[positions], writers)
    if comparisons_path is None:
        return

    start = len(pairs.margin)
    chunks = comparison_chunks(
        comparisons_path, params.keep_ties, params.tie_tolerance, params.label_smoothing, vote_keep
    )
    for table in prefetch(chunks):
        _route(table, is_test[start : start + table.num_rows], writers)
        start += table.num_rows


def _route(table: pa.Table, is_test: np.ndarray, writers: dict[str, ParquetChunkWriter]) -> None:
    test = pa.array(is_test, pa.bool_())
    writers["train"].write(table.filter(pc.invert(test)))
    writers["test"].write(table.filter(test))


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
    if comparisons_path is not None and not Path(comparisons_path).is_file():
        comparisons_path = None
    votes = None
    if comparisons_path is not None:
        votes = scan_comparisons(
            Path(comparisons_path), params.keep_ties, params.tie_tolerance, params.label_smoothing
        )
    scan = scan_responses(Path(responses_path))
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

    evidence = None if votes is None else votes.evidence
    gamma, gamma_record = resolve_gamma(params, responses, values, pairs, evidence, scan.fingerprints)
    gamma_record["score_scale"] = _score_scale(params, responses)
    std = responses.column("score_std").to_numpy(zero_copy_only=False).astype(np.float64)
    weights = pair_weights(params.weight, std[pairs.chosen], std[pairs.rejected])
    vote_keep, vote_counts = cap_comparisons(params, votes)
    counts = counts + vote_counts

    vote_summary = _vote_summary(votes, vote_keep)
    summary = _summary_table(responses, pairs, pair_targets(pairs, gamma), weights, vote_summary)
    is_test = _test_mask(params, scan, pairs, votes, vote_keep, summary)
    splits = {"train": summary.filter(pa.array(~is_test)), "test": summary.filter(pa.array(is_test))}
    comparison_rows = 0 if votes is None else votes.total
    metrics = label_metrics(responses.num_rows, scan.unscored, comparison_rows, counts, summary, splits)
    metrics["gamma"] = gamma_record

    metadata = _metadata(params, metrics, responses_path, comparisons_path)
    paths = {"train": Path(train_path), "test": Path(test_path)}
    writers: dict[str, ParquetChunkWriter] = {}
    try:
        for name, path in paths.items():
            writers[name] = ParquetChunkWriter(path, tables.PREFERENCES, {**metadata, "split": name})
        _write_splits(
            params,
            Path(responses_path),
            comparisons_path,
            scan,
            pairs,
            gamma,
            weights,
            is_test,
            vote_keep,
            writers,
        )
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
