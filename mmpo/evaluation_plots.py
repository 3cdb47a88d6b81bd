"""Evaluation figures: PNG files for people and CSV files for ``dvc plots show``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or expected
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

RELIABILITY = "reliability"
MARGIN_ACCURACY = "accuracy_by_margin"
HISTOGRAM = "p_predicted_histogram"


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write dict rows with a header taken from the first row's keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)


def histogram_rows(p_predicted: np.ndarray, bins: int = 20) -> list[dict[str, float | int]]:
    """Return counts of predicted probabilities in ``bins`` equal-width bins over [0, 1]."""
    counts, edges = np.histogram(p_predicted, bins=bins, range=(0.0, 1.0))
    return [
        {"bin_start": float(edges[i]), "bin_end": float(edges[i + 1]), "pairs": int(counts[i])}
        for i in range(bins)
    ]


def plot_reliability(soft: list[dict], hard: list[dict], path: Path) -> None:
    """Draw mean target against mean predicted probability per bin, for both targets."""
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    for rows, label, marker in ((soft, "soft target p_chosen", "o"), (hard, "hard label", "s")):
        axes.plot([r["p_predicted"] for r in rows], [r["target"] for r in rows], marker=marker, label=label)
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability", ylabel="mean target")
    axes.set_title("Reliability (equal-mass bins, both orientations)")
    axes.legend(loc="upper left")
    _save(figure, path)


def plot_margin_accuracy(rows: list[dict], path: Path) -> None:
    """Draw pairwise accuracy per margin bucket, with the pair count on each bar."""
    shown = [r for r in rows if r["pairs"]]
    figure, axes = plt.subplots(figsize=(6, 4))
    bars = axes.bar([r["bucket"] for r in shown], [r["accuracy"] for r in shown], color="tab:blue")
    for bar, row in zip(bars, shown, strict=True):
        axes.annotate(
            f"n={row['pairs']}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
        )
    axes.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    axes.set(ylim=(0, 1.05), xlabel="score margin (chosen - rejected)", ylabel="pairwise accuracy")
    axes.set_title("Accuracy by margin bucket")
    _save(figure, path)


def plot_histogram(rows: list[dict], path: Path) -> None:
    """Draw the histogram of predicted probabilities."""
    figure, axes = plt.subplots(figsize=(6, 4))
    widths = [r["bin_end"] - r["bin_start"] for r in rows]
    axes.bar(
        [r["bin_start"] for r in rows],
        [r["pairs"] for r in rows],
        width=widths,
        align="edge",
        edgecolor="white",
    )
    axes.set(xlim=(0, 1), xlabel="predicted probability that chosen wins", ylabel="pairs")
    axes.set_title("Predicted probabilities on the test split")
    _save(figure, path)


def _save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})  # no version stamp: stable bytes
    plt.close(figure)


def write_evaluation_plots(
    folder: Path, soft: list[dict], hard: list[dict], margin_rows: list[dict], p_predicted: np.ndarray
) -> None:
    """Write the CSV data and PNG figures of one evaluation into ``folder``."""
    histogram = histogram_rows(p_predicted)
    write_csv(
        [{**r, "target_kind": "soft"} for r in soft] + [{**r, "target_kind": "hard"} for r in hard],
        folder / f"{RELIABILITY}.csv",
    )
    write_csv(margin_rows, folder / f"{MARGIN_ACCURACY}.csv")
    write_csv(histogram, folder / f"{HISTOGRAM}.csv")
    plot_reliability(soft, hard, folder / f"{RELIABILITY}.png")
    plot_margin_accuracy(margin_rows, folder / f"{MARGIN_ACCURACY}.png")
    plot_histogram(histogram, folder / f"{HISTOGRAM}.png")
