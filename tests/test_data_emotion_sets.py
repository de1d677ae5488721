"""Loaders map their raw labels into an emotion set (paper sec. 3.1, N classes), refuse a set they
cannot fill, and manifests record their set. paper4 stays exactly as before (the demo pin)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from emologits.cli import main as cli_main
from emologits.data import (MANIFEST_COLUMNS, manifest_columns, prepare_manifest, prepare_with_counts,
                            read_manifest, selection_counts_for, validate_manifest, write_manifest)
from emologits.data.synthetic import write_synthetic_corpus
from emologits.emotions import get_emotion_set
from emologits.errors import DataError

#: The demo manifest's paper4 columns (synthetic, 240 utterances, seed 0, aer-llm; audio paths
#: relative to the root) as CSV, hashed: computed with the loaders before emotion sets existed.
DEMO_PAPER4_SHA256 = "6cf5927f2a0b78b765419f57b3a60978480ab8939001f6261b12be69b90c5665"
PAPER4_COLUMNS = [*MANIFEST_COLUMNS, "annotations", "selection", "session", "dialog", "speaker", "start_s",
                  "end_s", "consensus"]

#: IEMOCAP's real labels over cremad6 (Fear and Disgust join the four; Excited -> happiness), cross-
#: checked by plain line splitting below.
IEMOCAP_CREMAD6_COUNTS = {"aer-llm": 4525, "consensus": 5573, "all-labels": 4478}


def test_demo_manifest_paper4_columns_unchanged(tmp_path):
    root = write_synthetic_corpus(tmp_path / "syn", n_utterances=240, seed=0)
    df = prepare_manifest("synthetic", root)
    assert len(df) == 150 and (df["emotion_set"] == "paper4").all()
    pinned = df[PAPER4_COLUMNS].assign(audio_path=[Path(p).relative_to(root).as_posix() for p in df["audio_path"]])
    text = pinned.to_csv(index=False, float_format="%.17g")
    assert hashlib.sha256(text.encode()).hexdigest() == DEMO_PAPER4_SHA256


def _independent_iemocap_counts(root: Path, classes: set[str]) -> dict[str, int]:
    """Plain line splitting, no code shared with the loader; ``classes`` are the labels in the set."""
    codes = {"Anger": "ang", "Happiness": "hap", "Excited": "exc", "Sadness": "sad", "Neutral": "neu",
             "Fear": "fea", "Disgust": "dis"}
    in_set_codes = {codes[c] for c in classes}
    counts = dict.fromkeys(IEMOCAP_CREMAD6_COUNTS, 0)
    blocks = []
    for path in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        for line in path.read_text().splitlines():
            if line.startswith("["):
                blocks.append((line.split("\t")[2], []))
            elif line.startswith("C-E"):
                blocks[-1][1].append([x.strip() for x in line.split("\t")[1].split(";") if x.strip()])
    for consensus, external in blocks:
        counts["aer-llm"] += all(labels[0] in classes for labels in external)
        counts["consensus"] += consensus in in_set_codes and any(labels[0] in classes for labels in external)
        counts["all-labels"] += all(lab in classes for labels in external for lab in labels)
    return counts


def test_iemocap_cremad6_on_real_labels(iemocap_labels_root):
    six = {"Anger", "Happiness", "Excited", "Sadness", "Neutral", "Fear", "Disgust"}
    assert _independent_iemocap_counts(iemocap_labels_root, six) == IEMOCAP_CREMAD6_COUNTS
    assert selection_counts_for("iemocap", iemocap_labels_root, "cremad6") == IEMOCAP_CREMAD6_COUNTS
    # paper4 is unchanged by the generalisation (4,370 with aer-llm).
    four = six - {"Fear", "Disgust"}
    assert _independent_iemocap_counts(iemocap_labels_root, four) == selection_counts_for(
        "iemocap", iemocap_labels_root) == {"aer-llm": 4370, "consensus": 5531, "all-labels": 4298}
    df = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True, emotion_set="cremad6")
    assert list(df.columns[:11]) == list(manifest_columns("cremad6")) and (df["emotion_set"] == "cremad6").all()
    # Every aer-llm row: the external evaluators' first labels, one count each, in cremad6 order.
    gt_cols = list(get_emotion_set("cremad6").gt_columns)
    word = {"Anger": "anger", "Disgust": "disgust", "Fear": "fear", "Happiness": "happiness",
            "Excited": "happiness", "Neutral": "neutral", "Sadness": "sadness"}
    for _, row in df.sample(200, random_state=0).iterrows():
        firsts = [v[0] for k, v in json.loads(row["annotations"]).items() if k.startswith("C-E")]
        expected = [sum(word[f] == c for f in firsts) / len(firsts) for c in get_emotion_set("cremad6").names]
        np.testing.assert_allclose(row[gt_cols].to_numpy(float), expected)
    assert df["gt_fear"].gt(0).sum() > 0 and df["gt_disgust"].gt(0).sum() > 0


def test_iemocap_refuses_msp8(iemocap_labels_root):
    with pytest.raises(DataError, match=r"dataset 'iemocap' cannot fill emotion set 'msp8': contempt is not "
                                        r"among its classes .*; it can fill: cremad6, paper4"):
        prepare_manifest("iemocap", iemocap_labels_root, labels_only=True, emotion_set="msp8")


def test_cremad6_keeps_all_six_vote_counts(cremad_root):
    df, counts = prepare_with_counts("cremad", cremad_root, labels_only=True, emotion_set="cremad6")
    assert counts == {"drop-other": 7442, "exclude-other": 7442, "other-minority": 7442}
    assert len(df) == 7442 and (df["emotion_set"] == "cremad6").all()
    raw = pd.read_csv(cremad_root / "tabulatedVotes.csv")
    voice = raw[raw.iloc[:, 0].astype(str).str.startswith("1")].set_index("fileName")
    df = df.set_index("utt_id").loc[voice.index]
    votes = voice[["A", "D", "F", "H", "N", "S"]].to_numpy(float)
    gt = df[["gt_anger", "gt_disgust", "gt_fear", "gt_happiness", "gt_neutral", "gt_sadness"]].to_numpy()
    np.testing.assert_allclose(gt, votes / voice[["numResponses"]].to_numpy(float))  # no vote dropped
    assert (df["n_ratings"].to_numpy() == voice["numResponses"].to_numpy()).all()
    # A1 D1 F0 H0 N7 S1: paper4 drops the disgust vote (9 votes); cremad6 keeps it (10).
    np.testing.assert_allclose(df.loc["1001_IEO_SAD_LO", ["gt_disgust", "gt_neutral"]].to_numpy(float), [.1, .7])
    # F9 only: excluded by paper4's drop-other, a fear clip in cremad6.
    assert df.loc["1001_ITH_FEA_XX", "label"] == "fear"


def test_cremad_refuses_msp8_naming_the_missing_classes(cremad_root, tmp_path, capsys):
    rc = cli_main(["prepare", "--dataset", "cremad", "--root", str(cremad_root), "--out", str(tmp_path / "m.parquet"),
                   "--labels-only", "--emotion-set", "msp8"])
    err = capsys.readouterr().err
    assert rc == 2 and "dataset 'cremad' cannot fill emotion set 'msp8': surprise, contempt are not among" in err
    assert not (tmp_path / "m.parquet").exists()


def _votes(root: Path) -> Path:
    root.mkdir()
    (root / "tabulatedVotes.csv").write_text(
        '"","A","D","F","H","N","S","fileName","numResponses"\n'
        '"100001",1,2,0,0,3,0,"1001_DFA_NEU_XX",6\n"100002",0,0,4,0,0,0,"1001_DFA_FEA_XX",4\n')
    return root


def test_cremad6_cli_and_a_set_file(tmp_path, capsys):
    root = _votes(tmp_path / "c")
    out = tmp_path / "m.parquet"
    rc = cli_main(["prepare", "--dataset", "cremad", "--root", str(root), "--out", str(out), "--labels-only",
                   "--emotion-set", "cremad6"])
    text = capsys.readouterr().out
    assert rc == 0 and "emotion set: cremad6 (anger, disgust, fear, happiness, neutral, sadness)" in text
    assert "drop-other            2  <- used" in text and "fear 1" in text
    df = read_manifest(out)
    np.testing.assert_allclose(df[list(get_emotion_set("cremad6").gt_columns)].to_numpy(),
                               [[1 / 6, 2 / 6, 0, 0, 3 / 6, 0], [0, 0, 1, 0, 0, 0]])
    # A user's set file: any subset of CREMA-D's classes can be filled.
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({"name": "two", "classes": {"neutral": {"surface_forms": ["Neutral"]},
                                                               "anger": {"surface_forms": ["Anger"]}}}, sort_keys=False))
    df = prepare_manifest("cremad", root, labels_only=True, emotion_set=str(path))
    assert df["utt_id"].tolist() == ["1001_DFA_NEU_XX"] and (df["emotion_set"] == "two").all()
    np.testing.assert_allclose(df[["gt_neutral", "gt_anger"]].to_numpy(), [[.75, .25]])


def test_manifest_records_and_checks_its_set(tmp_path):
    root = _votes(tmp_path / "c")
    six = prepare_manifest("cremad", root, labels_only=True, emotion_set="cremad6")
    path = write_manifest(six, tmp_path / "six.parquet")
    assert read_manifest(path)["emotion_set"].tolist() == ["cremad6", "cremad6"]
    assert read_manifest(path, emotion_set="cremad6").equals(read_manifest(path))
    with pytest.raises(DataError, match="built over emotion set 'cremad6', not 'paper4'; prepare it again"):
        read_manifest(path, emotion_set="paper4")
    # A manifest written before sets were recorded is paper4's; the column is added on reading.
    four = prepare_manifest("cremad", root, labels_only=True)
    four.drop(columns="emotion_set").to_parquet(tmp_path / "old.parquet", index=False)
    old = read_manifest(tmp_path / "old.parquet")
    assert old["emotion_set"].tolist() == ["paper4"] and old.equals(four)
    # The required columns alone are a manifest too.
    four[list(MANIFEST_COLUMNS)].to_parquet(tmp_path / "minimal.parquet", index=False)
    assert read_manifest(tmp_path / "minimal.parquet")["emotion_set"].tolist() == ["paper4"]
    # The recorded set and the gt_* columns must agree.
    with pytest.raises(DataError, match=r"missing column\(s\) \['gt_disgust', 'gt_fear'\]"):
        validate_manifest(four.assign(emotion_set="cremad6"), "m")
    with pytest.raises(DataError, match=r"column\(s\) \['gt_disgust'\] are not classes of emotion set 'paper4'"):
        validate_manifest(four.assign(gt_disgust=0.0), "m")
    with pytest.raises(DataError, match=r"rows over several emotion sets \['cremad6', 'paper4'\]"):
        validate_manifest(pd.concat([four, four.assign(utt_id="other", emotion_set="cremad6")]), "m")


def test_a_set_file_manifest_needs_its_file_to_be_read(tmp_path, capsys):
    root = _votes(tmp_path / "c")
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({"name": "two", "classes": {"neutral": {"surface_forms": ["Neutral"]},
                                                               "anger": {"surface_forms": ["Anger"]}}}, sort_keys=False))
    out = tmp_path / "two.parquet"
    rc = cli_main(["prepare", "--dataset", "cremad", "--root", str(root), "--out", str(out), "--labels-only",
                   "--emotion-set", str(path)])
    assert rc == 0 and "emotion set: two (neutral, anger)" in capsys.readouterr().out
    with pytest.raises(DataError, match="built over emotion set 'two', which is not a shipped set: name its file"):
        read_manifest(out)
    assert read_manifest(out, emotion_set=str(path))["emotion_set"].tolist() == ["two"]
    with pytest.raises(DataError, match="which is not a shipped set"):
        write_manifest(read_manifest(out, emotion_set=str(path)), tmp_path / "again.parquet")
    write_manifest(read_manifest(out, emotion_set=str(path)), tmp_path / "again.parquet", emotion_set=str(path))


def test_synthetic_fills_paper4_only(tmp_path):
    for name, missing in (("cremad6", "disgust, fear are"), ("msp8", "surprise, fear, disgust, contempt are")):
        with pytest.raises(DataError, match=f"dataset 'synthetic' cannot fill emotion set '{name}': {missing} not "
                                            r"among its classes \(anger, happiness, sadness, neutral\); it can "
                                            "fill: paper4"):
            prepare_manifest("synthetic", tmp_path / "syn", emotion_set=name)
    assert not (tmp_path / "syn").exists()
