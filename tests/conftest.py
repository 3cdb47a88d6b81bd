"""Shared fixtures: paths, small input files, and the public data samples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Folder of public data samples beside the repository; skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("the public data samples (../shared/data) are not present")
    return SHARED_DATA


def write_jsonl(path: Path, rows: list) -> Path:
    """Write ``rows`` as JSON lines (strings are written as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        for row in rows:
            stream.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@pytest.fixture
def chat_server():
    """Start ``FakeChatServer(script)`` on 127.0.0.1 with a free port; stopped after the test."""
    from mmpo.judge.fake_server import FakeChatServer

    servers = []

    def start(script):
        server = FakeChatServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def api_key(monkeypatch):
    """Set a test API key in ``OPENAI_API_KEY``."""
    from judge_helpers import API_KEY

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    return API_KEY
