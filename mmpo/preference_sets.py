"""Reading preference sets with the checks every consumer needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REQUIRED_COLUMNS = ("prompt", "chosen", "rejected", "p_chosen")


class PreferenceSetError(ValueError):
    """A preference set is missing, empty, lacks a column or holds invalid targets."""


def read_preference_set(path: str | Path, consumer: str, allow_empty: bool = False) -> pa.Table:
    """Read a preference-set Parquet file and validate what training and evaluation use.

    Args:
        path: a file written by the label stage (or any file in its schema).
        consumer: name of the reading stage, used in messages.
        allow_empty: accept a file with no rows (evaluation reports null metrics).

    Raises:
        PreferenceSetError: the file is missing, has no rows, lacks a required
            column, or has a p_chosen that is null, NaN or outside [0, 1].
    """
    path = Path(path)
    fix = "the label stage writes it: run `dvc repro label` or `mmpo label`"
    if not path.is_file():
        raise PreferenceSetError(f"{path}: preference set not found ({consumer} stage); {fix}")
    table = pq.read_table(path)

    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise PreferenceSetError(
            f"{path}: column(s) {missing} missing, needed by the {consumer} stage; {fix} with these columns"
        )
    if table.num_rows == 0 and not allow_empty:
        raise PreferenceSetError(
            f"{path}: no pairs to use in the {consumer} stage; check the label stage's metrics"
        )

    p_chosen = table.column("p_chosen").to_numpy(zero_copy_only=False).astype(np.float64)
    invalid = np.flatnonzero(~((p_chosen >= 0.0) & (p_chosen <= 1.0)))  # NaN compares false
    if len(invalid):
        row = int(invalid[0])
        raise PreferenceSetError(
            f"{path}: column p_chosen has {len(invalid)} value(s) that are null, NaN or outside [0, 1] "
            f"(first at row {row + 1}: {p_chosen[row]!r}); the label stage writes valid targets, "
            "so regenerate the file or fix the producing step"
        )
    return table
