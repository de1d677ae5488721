"""The five recipes of docs/architecture.md, each with a unit defined outside the package: a data set,
an emotion set, a back-end, a metric and a table, run together end to end (prepare -> infer ->
distributions -> evaluation -> table) without touching a file of the package."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml

from emologits.artifacts import DistributionKey
from emologits.cli import main as cli_main
from fake_backend import PROJECT_ROOT, write_tone

EXTENSION = '''
"""One user module: a data set, a back-end, a metric and a table for emologits."""
import csv
import json
from pathlib import Path

import numpy as np

from emologits.artifacts import DistributionKey
from emologits.data import DatasetSpec, finish_manifest
from emologits.metrics import Convention, Metric
from emologits.report.spec import MetricTable, Row
from fake_backend import FakeBackend


def _prepare(root, *, selection, labels_only, options, emotion_set):
    rows, missing = [], []
    with open(Path(root) / "votes.csv", newline="") as fh:
        for rec in csv.DictReader(fh):
            votes = rec["votes"].split(";")
            wav = Path(root).resolve() / f"{rec['clip']}.wav"
            rows.append({"utt_id": rec["clip"], "dataset": "my-corpus", "audio_path": str(wav),
                         "counts": [votes.count(c) for c in emotion_set.names], "annotations": json.dumps(votes),
                         "selection": selection, "speaker": rec["speaker"]})
    rows = [r for r in rows if sum(r["counts"])]
    return finish_manifest(rows, missing, labels_only=labels_only, source=root, rule="all",
                           emotion_set=emotion_set), {"all": len(rows)}


SPEC = DatasetSpec(name="my-corpus", description="a lab's own corpus: votes.csv + <clip>.wav", prepare=_prepare,
                   label_classes=("anger", "happiness", "sadness", "neutral"), selection_rules={"all": "every clip"},
                   default_selection="all", root_marker="votes.csv", root_help="folder holding votes.csv")


class MyBackend(FakeBackend):
    """A back-end of one's own (here: the tests' deterministic fake model)."""
    name = "mine"


def _top_class_gap(truth, pred):
    return np.abs(truth.max(axis=1) - pred.max(axis=1))


TOP_GAP = Metric("top_gap", "TopGap ↓", higher_is_better=False, inputs="distributions",
                 conventions=(Convention("paper", _top_class_gap),), description="|max truth - max pred|")

MY_TABLE = MetricTable("my_table", "Text vs token level on my corpus", "04_token_extraction",
                       ("my_extension:TOP_GAP", "kl"),
                       rows=(Row("Text", "Ours", DistributionKey("text", "ambiguous_any")),
                             Row("Token", "Ours", DistributionKey("token", "ambiguous_any", "all", "softmax"))))
'''

EMOTION_SET = {
    "name": "tri", "description": "three classes of a lab's own scheme",
    "classes": {"anger": {"surface_forms": ["Anger", "Angry"], "words": ["anger", "angry"]},
                "happiness": {"surface_forms": ["Happiness"], "words": ["happiness", "happy"]},
                "neutral": {"surface_forms": ["Neutral"], "words": ["neutral"]}},
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "my_extension.py").write_text(textwrap.dedent(EXTENSION))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_extension", None)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    votes = ["anger;anger;neutral", "happiness;neutral", "neutral;neutral;sadness", "anger;happiness", "sadness"]
    lines = ["clip,speaker,votes"] + [f"c{i},s{i % 2},{v}" for i, v in enumerate(votes)]
    (corpus / "votes.csv").write_text("\n".join(lines) + "\n")
    for i in range(len(votes)):
        write_tone(corpus / f"c{i}.wav", seconds=0.2 + 0.05 * i, freq=250.0 + 40 * i)
    (tmp_path / "tri.yaml").write_text(yaml.safe_dump(EMOTION_SET, sort_keys=False))
    (tmp_path / "configs").mkdir()
    config = {"run": "mine", "data": {"dataset": "my_extension:SPEC", "root": "corpus", "emotion_set": "tri.yaml"},
              "model": {"backend": "my_extension:MyBackend", "device": "cpu", "batch_size": 2},
              "prompts": {"file": str(PROJECT_ROOT / "prompts" / "prompts.yaml"), "ids": ["ambiguous_any", "single_any"]},
              "evaluation": {"bootstrap": 50, "token_normalize": "softmax"}}
    path = tmp_path / "configs" / "mine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_five_recipes_end_to_end(project, capsys):
    from emologits.config import load_config
    from emologits.data import read_manifest
    from emologits.inference import run_configured
    from emologits.notebook import Session
    from emologits.report import build_artefact, build_distributions, distribution_keys

    root = project.parent.parent
    out = root / "runs" / "mine" / "manifest.parquet"
    # data set + emotion set: `prepare` with both named from outside the package
    assert cli_main(["prepare", "--dataset", "my_extension:SPEC", "--root", str(root / "corpus"),
                     "--emotion-set", str(root / "tri.yaml"), "--out", str(out)]) == 0
    manifest = read_manifest(out, emotion_set=str(root / "tri.yaml"))
    assert [c for c in manifest.columns if c.startswith("gt_")] == ["gt_anger", "gt_happiness", "gt_neutral"]
    assert manifest["utt_id"].tolist() == ["c0", "c1", "c2", "c3"]  # c4 has no vote in the set
    np.testing.assert_allclose(manifest.loc[0, ["gt_anger", "gt_happiness", "gt_neutral"]].astype(float),
                               [2 / 3, 0, 1 / 3])
    # back-end: inference with the user's class, both methods, prompts rendered for the set
    cfg = load_config(project)
    summary = run_configured(cfg, progress=False)
    assert set(summary["method"]) == {"generate", "likelihood"} and (summary["failed"] == 0).all()
    session = Session.from_config(cfg)
    for notebook in ("03_text_extraction", "04_token_extraction"):
        build_distributions(session, distribution_keys(session, notebook))
    text = session.distributions(DistributionKey("text", "ambiguous_any"))
    assert [c for c in text.columns if c.startswith("p_")] == ["p_anger", "p_happiness", "p_neutral"]
    # metric + table: a table spec naming the user's metric, built from the user's module
    built = build_artefact("my_extension:MY_TABLE", session)
    table = pd.read_csv(root / "figures" / "mine" / "my_table.csv", comment="#")
    assert list(table["method"]) == ["Text", "Token"] and len(built.paths) >= 3
    assert {"top_gap", "kl"} <= {c.split("_ci")[0] for c in table.columns}
    assert table["n"].tolist() == [4, 4]
