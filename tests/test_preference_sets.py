"""Bad preference sets give one clear error naming file, column and stage."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmpo.preference_sets import PreferenceSetError, read_preference_set

MESSAGES = [[{"role": "user", "content": "q"}]]


def write(path, **columns):
    pq.write_table(pa.table(columns), path)
    return path


def base(**extra):
    columns = {"prompt": MESSAGES, "chosen": MESSAGES, "rejected": MESSAGES, "p_chosen": [0.7]}
    columns.update(extra)
    return columns


def test_valid_set_is_read(tmp_path):
    table = read_preference_set(write(tmp_path / "s.parquet", **base()), "train")
    assert table.num_rows == 1


def test_missing_file(tmp_path):
    with pytest.raises(PreferenceSetError, match=r"not found \(train stage\); the label stage writes it"):
        read_preference_set(tmp_path / "absent.parquet", "train")


def test_missing_p_chosen_column(tmp_path):
    columns = base()
    del columns["p_chosen"]
    with pytest.raises(
        PreferenceSetError, match=r"s.parquet: column\(s\) \['p_chosen'\] missing, needed by the train"
    ):
        read_preference_set(write(tmp_path / "s.parquet", **columns), "train")


@pytest.mark.parametrize("value", [float("nan"), 1.5, -0.1, None])
def test_invalid_p_chosen(tmp_path, value):
    path = write(tmp_path / "s.parquet", **base(p_chosen=pa.array([value], pa.float64())))
    with pytest.raises(PreferenceSetError, match=r"column p_chosen has 1 value\(s\) .* \(first at row 1"):
        read_preference_set(path, "evaluate")


def test_empty_set(tmp_path):
    empty = {k: pa.array([], pa.table(base()).column(k).type) for k in base()}
    path = write(tmp_path / "s.parquet", **empty)
    with pytest.raises(PreferenceSetError, match="no pairs to use in the train stage"):
        read_preference_set(path, "train")
    assert read_preference_set(path, "evaluate", allow_empty=True).num_rows == 0
