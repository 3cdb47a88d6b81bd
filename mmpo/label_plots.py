"""Plots of a preference set: margins, p_chosen and pairs per prompt, by source.

Each plot is a PNG for people and a CSV of the same histogram (all sources
together) that ``dvc plots show`` renders. Matplotlib runs with the ``Agg``
backend, so no display is needed.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mmpo.files import write_bytes, write_text

logger = logging.getLogger(__name__)

BINS = 20


def _histogram_frame(values: np.ndarray, edges: np.ndarray, column: str, counted: str) -> pd.DataFrame:
    counts, _ = np.histogram(values, bins=edges)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return pd.DataFrame({column: np.round(centres, 6), counted: counts})


def _edges(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """Return BINS + 1 bin edges from ``low`` (default: the minimum) to ``high`` (default: the maximum)."""
    if low is None:
        low = float(np.min(values)) if len(values) else 0.0
    if high is None:
        high = float(np.max(values)) if len(values) else 1.0
    if high <= low:
        high = low + 1.0
    return np.linspace(low, high, BINS + 1)


def _figure_png(
    frame: pd.DataFrame, column: str, by_source: dict[str, np.ndarray], edges, title: str
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4), dpi=100)
    for source, values in sorted(by_source.items()):
        axes.hist(values, bins=edges, alpha=0.6, label=f"{source} ({len(values)})")
    axes.set_xlabel(column)
    axes.set_ylabel("prompts" if column == "pairs_per_prompt" else "pairs")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if by_source:
        axes.legend(title="source (count)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    pyplot.close(figure)
    return buffer.getvalue()


def write_plots(table: pa.Table, folder: Path) -> list[Path]:
    """Write PNG and CSV histograms of margin, p_chosen and pairs per prompt; return the paths.

    Pairs without a margin (pairwise judgments) are left out of the margin
    histogram only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    frame = table.select(["prompt_id", "margin", "p_chosen", "source"]).to_pandas()
    per_prompt = frame.groupby(["source", "prompt_id"]).size().rename("pairs_per_prompt").reset_index()
    specs = [
        ("margin", frame.dropna(subset=["margin"]), None, None, "Margin per pair"),
        ("p_chosen", frame, 0.5, 1.0, "Soft target p_chosen per pair"),
        ("pairs_per_prompt", per_prompt, 0.5, None, "Pairs per prompt"),
    ]
    written = []
    for column, data, low, high, title in specs:
        values = data[column].to_numpy(np.float64)
        edges = _edges(values, low, None if high is None else high)
        if column == "pairs_per_prompt":
            edges = np.arange(0.5, (values.max() if len(values) else 1) + 1.5)
        by_source = {s: g[column].to_numpy(np.float64) for s, g in data.groupby("source")}
        csv_path, png_path = folder / f"{column}.csv", folder / f"{column}.png"
        counted = "prompts" if column == "pairs_per_prompt" else "pairs"
        write_text(_histogram_frame(values, edges, column, counted).to_csv(index=False), csv_path)
        write_bytes(_figure_png(data, column, by_source, edges, title), png_path)
        written += [csv_path, png_path]
    logger.info("label: wrote %d plot files to %s", len(written), folder)
    return written
