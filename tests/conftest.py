"""Shared test fixtures. Real test data is read from ../shared (never copied into the repo)."""
from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
IEMOCAP_LABELS = SHARED / "data" / "iemocap-labels"
CREMAD = SHARED / "data" / "crema-d"
LLAMA_TOKENIZER = SHARED / "tokenizers" / "llama"
QWEN2_TOKENIZER = SHARED / "tokenizers" / "qwen2"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (real test data in ../shared; absent on this machine)")
    return path


@pytest.fixture
def iemocap_labels_root() -> Path:
    return _need(IEMOCAP_LABELS)


@pytest.fixture
def cremad_root() -> Path:
    return _need(CREMAD / "tabulatedVotes.csv").parent


@pytest.fixture(scope="session")
def llama_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(_need(LLAMA_TOKENIZER / "tokenizer.model").parent))


@pytest.fixture(scope="session")
def qwen2_tokenizer():
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(_need(QWEN2_TOKENIZER / "vocab.json").parent))
