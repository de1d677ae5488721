"""The data-set registry: shipped specs, dispatch without per-name code, and a data set from a
module outside the package run through ``prepare`` (CLI) and a config."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import yaml

from emologits.cli import main as cli_main
from emologits.config import load_config
from emologits.data import (DATASET_OPTIONS, DATASETS, DatasetSpec, dataset_spec, prepare_manifest,
                            prepare_with_counts, read_manifest, selection_counts_for)
from emologits.errors import ConfigError, DataError

MODULE = "tiny_csv_corpus"

#: A user's corpus in one file: labels.csv (clip, votes as "anger;neutral;..."), clips/<clip>.wav.
CORPUS_MODULE = '''
"""A tiny CSV corpus: labels.csv (clip, votes) and clips/<clip>.wav."""
import csv
import json
from pathlib import Path
from typing import Annotated

from pydantic import Field

from emologits.data import DatasetSpec, finish_manifest
from emologits.schema import StrictModel


class Options(StrictModel):
    min_votes: Annotated[int, Field(ge=1)] = 1


def _drop_outside(votes, names):
    inside = [v for v in votes if v in names]
    return [inside.count(c) for c in names] if inside else None


def _all_in_set(votes, names):
    return _drop_outside(votes, names) if all(v in names for v in votes) else None


RULES = {"drop-outside": _drop_outside, "all-in-set": _all_in_set}


def prepare(root, *, selection, labels_only, options, emotion_set):
    with open(Path(root) / "labels.csv", newline="") as fh:
        clips = [(r["clip"], r["votes"].split(";")) for r in csv.DictReader(fh)]
    clips = [(clip, votes) for clip, votes in clips if len(votes) >= options["min_votes"]]
    counts = {name: sum(rule(v, emotion_set.names) is not None for _, v in clips) for name, rule in RULES.items()}
    rows, missing = [], []
    for clip, votes in clips:
        kept = RULES[selection](votes, emotion_set.names)
        if kept is None:
            continue
        wav = Path(root).resolve() / "clips" / f"{clip}.wav"
        if not wav.is_file():
            missing.append(wav)
        rows.append({"utt_id": clip, "dataset": "tiny-csv", "audio_path": str(wav) if wav.is_file() else None,
                     "counts": kept, "annotations": json.dumps(votes), "selection": selection})
    manifest = finish_manifest(rows, missing, labels_only=labels_only, source=root,
                               rule=f"rule {selection!r}", emotion_set=emotion_set)
    return manifest, counts


SPEC = DatasetSpec(
    name="tiny-csv", description="a tiny CSV corpus", prepare=prepare,
    label_classes=("anger", "happiness", "sadness", "neutral", "fear"),
    selection_rules={"drop-outside": "drop votes outside the set", "all-in-set": "every vote in the set"},
    default_selection="drop-outside", options_model=Options, root_marker="labels.csv",
    root_help="folder holding labels.csv and clips/")

NOT_A_SPEC = {"name": "x"}
'''

LABELS = "clip,votes\nc1,anger;anger;neutral\nc2,fear;sadness\nc3,surprise;neutral;neutral\nc4,happiness\n"


@pytest.fixture
def user_corpus(tmp_path, monkeypatch):
    """The module on sys.path (as a user's package would be) and a corpus root with audio."""
    code = tmp_path / "code"
    code.mkdir()
    (code / f"{MODULE}.py").write_text(textwrap.dedent(CORPUS_MODULE))
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    root = tmp_path / "corpus"
    (root / "clips").mkdir(parents=True)
    (root / "labels.csv").write_text(LABELS)
    for clip in ("c1", "c2", "c3", "c4"):
        (root / "clips" / f"{clip}.wav").write_bytes(b"RIFF")
    yield root
    sys.modules.pop(MODULE, None)


def test_shipped_specs_are_registered_and_options_come_from_them():
    assert DATASETS.names() == ["iemocap", "cremad", "synthetic", "msp-podcast", "msp-improv", "ratings"]
    for name in DATASETS:
        spec = dataset_spec(name)
        assert isinstance(spec, DatasetSpec) and spec.name == name and DATASETS.describe()[name]
        assert spec.default_selection in spec.selection_rules and "paper4" in spec.fillable_sets()
        assert DATASET_OPTIONS[name] is spec.options_model
    assert list(DATASET_OPTIONS) == DATASETS.names()
    assert set(DATASET_OPTIONS["synthetic"].model_fields) == {"n_utterances", "seed"}
    assert dataset_spec("iemocap").root_marker == "Session1"
    assert dataset_spec("cremad").root_marker == "tabulatedVotes.csv"
    assert dataset_spec("synthetic").root_marker is None  # generated into its root


def test_prepare_help_lists_the_registry(capsys):
    with pytest.raises(SystemExit):
        cli_main(["prepare", "--help"])
    text = capsys.readouterr().out
    for name, description in DATASETS.describe().items():
        assert f"  {name}: {description}" in text
    assert "aer-llm" in text and "drop-other" in text and "--emotion-set" in text and "msp8" in text


def test_unknown_dataset_and_wrong_objects(tmp_path, user_corpus):
    with pytest.raises(DataError, match=r"unknown dataset 'iemocab' \(did you mean 'iemocap'\?\)"):
        prepare_manifest("iemocab", tmp_path)
    with pytest.raises(DataError, match=r"dataset 'tiny_csv_corpus:NOT_A_SPEC' is a dict, not an emologits"):
        prepare_manifest(f"{MODULE}:NOT_A_SPEC", user_corpus)
    with pytest.raises(DataError, match="cannot import tiny_csv_corpus:NOPE"):
        prepare_manifest(f"{MODULE}:NOPE", user_corpus)


def test_user_dataset_through_the_cli(user_corpus, tmp_path, capsys):
    out = tmp_path / "m.parquet"
    rc = cli_main(["prepare", "--dataset", f"{MODULE}:SPEC", "--root", str(user_corpus), "--out", str(out),
                   "--option", "min_votes=2"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "tiny-csv at" in text and "emotion set: paper4" in text
    # min_votes=2 drops c4; paper4 drops the fear / surprise votes; all-in-set keeps c1 only.
    assert "drop-outside          3  <- used" in text and "all-in-set            1" in text
    df = read_manifest(out)
    assert df["utt_id"].tolist() == ["c1", "c2", "c3"] and (df["emotion_set"] == "paper4").all()
    np.testing.assert_allclose(df[["gt_anger", "gt_sadness", "gt_neutral"]].to_numpy(),
                               [[2 / 3, 0, 1 / 3], [0, 1, 0], [0, 0, 1]])
    assert df["n_ratings"].tolist() == [3, 1, 2]

    rc = cli_main(["prepare", "--dataset", f"{MODULE}:SPEC", "--root", str(user_corpus), "--out", str(out),
                   "--option", "min_vote=2"])
    assert rc == 2 and "data.options.min_vote: unknown key (did you mean 'min_votes'?)" in capsys.readouterr().err
    rc = cli_main(["prepare", "--dataset", f"{MODULE}:SPEC", "--root", str(user_corpus), "--out", str(out),
                   "--emotion-set", "msp8"])
    err = capsys.readouterr().err
    assert rc == 2 and "dataset 'tiny-csv' cannot fill emotion set 'msp8': surprise, disgust, contempt" in err
    rc = cli_main(["prepare", "--dataset", f"{MODULE}:SPEC", "--root", str(user_corpus), "--out", str(out),
                   "--selection", "aer-llm"])
    err = capsys.readouterr().err
    assert rc == 2 and "'aer-llm' is a rule of iemocap, synthetic, not of tiny-csv" in err


def test_user_dataset_through_a_config(user_corpus, tmp_path):
    project = tmp_path / "project"
    (project / "configs").mkdir(parents=True)
    (project / "sets").mkdir()
    (project / "sets" / "three.yaml").write_text(yaml.safe_dump({
        "name": "three", "classes": {"anger": {"surface_forms": ["Anger"]}, "fear": {"surface_forms": ["Fear"]},
                                     "neutral": {"surface_forms": ["Neutral"]}}}))
    data = {"dataset": f"{MODULE}:SPEC", "root": str(user_corpus), "selection": "all-in-set",
            "emotion_set": "sets/three.yaml", "options": {}}
    path = project / "configs" / "user.yaml"
    path.write_text(yaml.safe_dump({"run": "r", "data": data}))
    cfg = load_config(path)
    assert cfg.data["options"] == {"min_votes": 1}  # defaults filled from the spec's options model
    assert cfg.data["emotion_set"] == str(project / "sets" / "three.yaml")  # relative to the project root
    df, counts = prepare_with_counts(cfg.data["dataset"], cfg.resolve(cfg.data["root"]),
                                     selection=cfg.data["selection"], options=cfg.data["options"],
                                     emotion_set=cfg.data["emotion_set"])
    assert counts == {"drop-outside": 3, "all-in-set": 1}  # c4 (happiness) is outside the set
    assert df["utt_id"].tolist() == ["c1"] and list(df.filter(like="gt_").columns) == [
        "gt_anger", "gt_fear", "gt_neutral"]
    assert (df["emotion_set"] == "three").all()
    assert selection_counts_for(cfg.data["dataset"], user_corpus, cfg.data["emotion_set"]) == counts

    for bad, line in [
        ({"options": {"min_vote": 2}}, "data.options.min_vote: unknown key (did you mean 'min_votes'?)"),
        ({"emotion_set": "msp8"}, "data.emotion_set: dataset 'tiny-csv' cannot fill emotion set 'msp8'"),
        ({"emotion_set": "sets/absent.yaml"}, "data.emotion_set: unknown emotion set"),
        ({"selection": "consensus"}, "data.selection: 'consensus' is a rule of iemocap, synthetic, msp-podcast, "
                                     "msp-improv, not of tiny-csv; tiny-csv rules: ['drop-outside', 'all-in-set']"),
        ({"dataset": f"{MODULE}:NOT_A_SPEC"}, "data.dataset: dataset 'tiny_csv_corpus:NOT_A_SPEC' is a dict"),
    ]:
        path.write_text(yaml.safe_dump({"run": "r", "data": {**data, **bad}}))
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert f"{path}: {line}" in str(info.value)


def test_dispatch_checks_everything_before_reading(tmp_path):
    absent = tmp_path / "absent"
    with pytest.raises(DataError, match="cannot fill emotion set 'cremad6'"):
        prepare_manifest("synthetic", absent, emotion_set="cremad6")
    with pytest.raises(DataError, match="unknown IEMOCAP selection rule 'majority'"):
        prepare_manifest("synthetic", absent, selection="majority")
    with pytest.raises(DataError, match=r"data\.options\.n_utterances: must be greater than or equal to 1"):
        prepare_manifest("synthetic", absent, options={"n_utterances": 0})
    assert not absent.exists()  # nothing generated


def test_run_config_check_reads_the_root_marker_from_the_spec(user_corpus, tmp_path):
    from emologits.pipeline import check_config
    path = tmp_path / "c.yaml"
    for root, expected in ((user_corpus, []), (tmp_path, ["has no labels.csv: is it the right folder for tiny-csv?"]),
                           (tmp_path / "absent", ["does not exist: set it to folder holding labels.csv and clips/"])):
        path.write_text(yaml.safe_dump({"run": "r", "data": {"dataset": f"{MODULE}:SPEC", "root": str(root)}}))
        problems = [p for p in check_config(load_config(path)) if "data." in p]
        assert len(problems) == len(expected) and all(e in p for e, p in zip(expected, problems)), problems
