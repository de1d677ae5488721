"""The shipped data-set configs (MSP-Podcast, MSP-IMPROV, a ratings file): each loads, its only
problem before a run is the placeholder data.root, and with data.root on a fixture its data section
(data set, rule, options, emotion set) builds a manifest."""
from __future__ import annotations

from pathlib import Path

import pytest
from test_data_msp_improv import write_fixture as write_improv
from test_data_msp_podcast import write_fixture as write_podcast

from emologits.config import load_config
from emologits.data import prepare_with_counts
from emologits.pipeline import check_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _ratings(root: Path) -> Path:
    """A long ratings file in the labels my_corpus.yaml maps (Frustrated: outside the set)."""
    root.mkdir(parents=True)
    rows = ["utt_id,audio_path,rater,label,speaker,session,split"]
    labels = ["Angry", "Happy", "Excited", "Sad", "Neutral", "Frustrated"]
    for i in range(12):
        (root / f"c{i}.wav").write_bytes(b"RIFF")
        rows += [f"c{i},c{i}.wav,r{k},{labels[(i + k * (i % 4)) % 6]},spk{i % 3},{i % 2 + 1},{'train' if i < 8 else 'test'}"
                 for k in range(3)]
    (root / "ratings.csv").write_text("\n".join(rows) + "\n")
    return root / "ratings.csv"


@pytest.mark.parametrize(("name", "dataset", "make"), [
    ("msp_podcast_qwen2_audio", "msp-podcast", lambda p: (write_podcast(p), p)[1]),
    ("msp_improv_qwen2_audio", "msp-improv", lambda p: (write_improv(p), p)[1]),
    ("my_corpus", "ratings", _ratings),
])
def test_data_config_loads_checks_and_prepares(tmp_path, name, dataset, make):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.data["dataset"] == dataset
    problems = check_config(cfg)
    assert len(problems) == 1 and "data.root '/path/to/" in problems[0], problems
    root = make(tmp_path / "corpus")
    cfg = load_config(CONFIGS / f"{name}.yaml", overrides={"data": {"root": str(root)}})
    assert check_config(cfg) == []
    data = cfg.data
    df, counts = prepare_with_counts(data["dataset"], cfg.resolve(data["root"]), selection=data["selection"],
                                     options=data["options"], emotion_set=data["emotion_set"], labels_only=True)
    assert len(df) == counts[data["selection"]] > 0 and (df["emotion_set"] == data["emotion_set"]).all()
    assert df["session"].notna().all() and df["speaker"].notna().any()
