"""Run the ingest stage on a test input and read back every table it wrote."""

import json

import pyarrow.parquet as pq

from mmpo.ingest import run_ingest
from mmpo.params import IngestParams


def run_tables(tmp_path, values):
    """Return ``(metrics, responses, comparisons, quarantine)`` of one ingest run."""
    out = tmp_path / "out"
    params = IngestParams.from_mapping(values)
    metrics = run_ingest(params, out / "r.parquet", out / "q.parquet", out / "c.parquet")
    tables = [pq.read_table(out / name).to_pylist() for name in ("r.parquet", "c.parquet", "q.parquet")]
    return (metrics, *tables)


def reasons_by_origin(quarantine):
    """Map the part of each quarantine origin after the file name to its reason."""
    return {row["origin"].split(":", 1)[1]: row["reason"] for row in quarantine}


def assert_balanced(metrics):
    """Check that input units = output rows + quarantined + merged."""
    accounting = metrics["accounting"]
    assert accounting["balanced"], accounting
    assert accounting["input"] == accounting["output"] + accounting["quarantined"] + accounting["merged"]


def file_metadata(path):
    """Return the ``mmpo`` JSON metadata of a Parquet file."""
    return json.loads(pq.read_schema(path).metadata[b"mmpo"])
