"""IEMOCAP loader: real label files (../shared), hand-checked distributions, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emologits.cli import main as cli_main
from emologits.data import (MANIFEST_COLUMNS, prepare_manifest, prepare_with_counts, read_manifest,
                            selection_counts_for, write_manifest)
from emologits.data.iemocap import SELECTION_RULES, parse_label_file, read_utterances, selection_counts
from emologits.emotions import GT_COLUMNS
from emologits.errors import DataError

#: Counts on the 151 real label files, computed with this loader and cross-checked by
#: ``_independent_counts`` below (and, for aer-llm, by the per-dialog counts the AER-LLM notebook
#: prints: 151/151 dialogs equal, 4,370 in all; the paper reports 4,373).
REAL_COUNTS = {"aer-llm": 4370, "consensus": 5531, "all-labels": 4298}
FOUR = {"Neutral", "Happiness", "Excited", "Anger", "Sadness"}


def _independent_counts(root: Path) -> dict[str, int]:
    """Plain line splitting, no regex and no code shared with the loader."""
    counts = dict.fromkeys(REAL_COUNTS, 0)

    def close(block):
        if block is None:
            return
        consensus, external = block
        firsts = [labels[0] for labels in external]
        counts["aer-llm"] += all(f in FOUR for f in firsts)
        counts["consensus"] += consensus in {"ang", "hap", "exc", "sad", "neu"}
        counts["all-labels"] += all(lab in FOUR for labels in external for lab in labels)

    for path in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        block = None
        for line in path.read_text().splitlines():
            if line.startswith("["):
                close(block)
                block = (line.split("\t")[2], [])
            elif line.startswith("C-E"):
                block[1].append([x.strip() for x in line.split("\t")[1].split(";") if x.strip()])
        close(block)
    return counts


def test_selection_counts_on_real_labels(iemocap_labels_root):
    assert selection_counts(iemocap_labels_root) == REAL_COUNTS
    assert selection_counts_for("iemocap", iemocap_labels_root) == REAL_COUNTS
    assert _independent_counts(iemocap_labels_root) == REAL_COUNTS
    assert set(SELECTION_RULES) == set(REAL_COUNTS)


def test_reads_every_real_utterance(iemocap_labels_root):
    utts = read_utterances(iemocap_labels_root)
    assert len(utts) == 10039
    assert len({u.dialog for u in utts}) == 151
    assert all(len(u.external) == 3 for u in utts)
    # The release's odd lines: 5 self-evaluations with no label ("C-F1:\t;\t()"), kept as [].
    empty = [(u.utt_id, r) for u in utts for r, labels in u.evaluations if not labels]
    assert len(empty) == 5 and ("Ses01M_impro03_F012", "F1") in empty


def test_aer_llm_per_dialog_counts_match_published_run(iemocap_labels_root):
    # Per-dialog "Number of predictions" printed in AER-LLM's IEMOCAP_experiment_sample.ipynb.
    df = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True)
    per_dialog = df["dialog"].value_counts()
    assert per_dialog["Ses01F_impro01"] == 2
    assert per_dialog["Ses01F_impro02"] == 21
    assert per_dialog["Ses01F_impro03"] == 41
    assert per_dialog["Ses02F_script01_3"] == 39
    assert per_dialog["Ses05M_script03_2"] == 27
    # By hand: in Ses01F_impro01 only F000 and F001 have three in-class first labels.
    assert sorted(df.loc[df["dialog"] == "Ses01F_impro01", "utt_id"]) == [
        "Ses01F_impro01_F000", "Ses01F_impro01_F001"]


def _row(df, utt_id):
    row = df.set_index("utt_id").loc[utt_id]
    return row[list(GT_COLUMNS)].to_numpy(float), row["label"], int(row["n_ratings"]), row


def test_hand_checked_distributions(iemocap_labels_root):
    aer = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True)
    cons = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True, selection="consensus")
    every = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True, selection="all-labels")

    # E2/E3/E4 Neutral; the self-evaluation C-F1 (Neutral) is not counted.
    gt, label, n, row = _row(aer, "Ses01F_impro01_F000")
    assert gt.tolist() == [0, 0, 0, 1] and label == "neutral" and n == 3
    assert json.loads(row["annotations"]) == {
        "C-E2": ["Neutral"], "C-E3": ["Neutral"], "C-E4": ["Neutral"], "C-F1": ["Neutral"]}
    assert row["session"] == 1 and row["speaker"] == "Ses01F" and row["consensus"] == "neu"
    assert (row["start_s"], row["end_s"]) == (6.2901, 8.2357)

    # Excited, Excited, Neutral: Excited -> happiness.
    gt, label, n, _ = _row(aer, "Ses01M_impro03_F012")
    np.testing.assert_allclose(gt, [0, 2 / 3, 0, 1 / 3])
    assert label == "happiness" and n == 3

    # First labels Sadness / Anger / Neutral (E1 said "Sadness; Anger"): a three-way tie.
    gt, label, n, _ = _row(aer, "Ses01F_script03_2_M020")
    np.testing.assert_allclose(gt, [1 / 3, 0, 1 / 3, 1 / 3])
    assert label is None and n == 3
    gt, label, n, _ = _row(every, "Ses01F_script03_2_M020")  # all four labels count
    np.testing.assert_allclose(gt, [0.5, 0, 0.25, 0.25])
    assert label == "anger" and n == 4

    # Neutral / Surprise / Neutral, consensus neu: out of aer-llm, in consensus with 2 ratings.
    assert "Ses01F_impro01_F002" not in set(aer["utt_id"])
    gt, label, n, _ = _row(cons, "Ses01F_impro01_F002")
    assert gt.tolist() == [0, 0, 0, 1] and label == "neutral" and n == 2


def test_manifest_shape_labels_only(iemocap_labels_root):
    df = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True)
    assert list(df.columns[: len(MANIFEST_COLUMNS)]) == list(MANIFEST_COLUMNS)
    assert len(df) == REAL_COUNTS["aer-llm"] and df["utt_id"].is_unique
    assert df["audio_path"].isna().all() and (df["dataset"] == "iemocap").all()
    np.testing.assert_allclose(df[list(GT_COLUMNS)].sum(axis=1), 1.0)
    assert (df["n_ratings"] == 3).all()
    assert df["label"].value_counts(dropna=False).to_dict() == {
        "happiness": 2137, "neutral": 968, "sadness": 733, "anger": 385, None: 147}
    # Groups: session 1-5 and the actor (session + F/M of the turn name); IEMOCAP has no official split.
    assert set(df["session"]) == {1, 2, 3, 4, 5} and df["split"].isna().all()
    assert (df["speaker"] == df["utt_id"].str[:5] + df["utt_id"].str.rsplit("_", n=1).str[1].str[0]).all()
    assert df["speaker"].nunique() == 10


# ---------------------------------------------------------------- bad input (tmp corpora)

BLOCK = ("[1.0000 - 2.5000]\t{utt}\tneu\t[2.5000, 2.5000, 2.5000]\n"
         "C-E1:\tNeutral;\t()\nC-E2:\tNeutral; Sadness;\t()\nC-E3:\tAnger; Frustration;\t()\n"
         "C-F1:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  2;\t()\n\n")


def _corpus(root: Path, dialogs: dict[str, list[str]], audio: bool = True) -> Path:
    for dialog, utts in dialogs.items():
        session = int(dialog[3:5])
        label_dir = root / f"Session{session}" / "dialog" / "EmoEvaluation"
        label_dir.mkdir(parents=True, exist_ok=True)
        text = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        text += "".join(BLOCK.format(utt=u) for u in utts)
        (label_dir / f"{dialog}.txt").write_text(text)
        if audio:
            wav_dir = root / f"Session{session}" / "sentences" / "wav" / dialog
            wav_dir.mkdir(parents=True, exist_ok=True)
            for u in utts:
                (wav_dir / f"{u}.wav").write_bytes(b"RIFF")
    return root


def test_tmp_corpus_with_audio(tmp_path):
    root = _corpus(tmp_path / "IEMOCAP_full_release", {"Ses01F_impro01": ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]})
    df = prepare_manifest("iemocap", root)
    assert df["audio_path"].tolist() == [
        str((root / "Session1/sentences/wav/Ses01F_impro01" / f"{u}.wav").resolve())
        for u in ("Ses01F_impro01_F000", "Ses01F_impro01_M000")]
    np.testing.assert_allclose(df[list(GT_COLUMNS)].iloc[0], [1 / 3, 0, 0, 2 / 3])
    assert selection_counts(root) == {"aer-llm": 2, "consensus": 2, "all-labels": 0}


def test_transcripts_come_from_the_release_transcription_files(tmp_path):
    utts = ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]
    root = _corpus(tmp_path / "IEMOCAP_full_release", {"Ses01F_impro01": utts})
    assert prepare_manifest("iemocap", root)["transcript"].isna().all()  # no transcription files: null
    folder = root / "Session1" / "dialog" / "transcriptions"
    folder.mkdir(parents=True)
    (folder / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\nM: [BREATHING]\n"
        "Ses01F_impro01_M000 [007.5712-010.4750]:  Do you have your forms?\n")
    df = prepare_manifest("iemocap", root)
    assert df["transcript"].tolist() == ["Excuse me.", "Do you have your forms?"]


@pytest.mark.parametrize("root_kind", ["absent", "no_sessions", "nested"])
def test_wrong_root(tmp_path, root_kind):
    if root_kind == "absent":
        root, expect = tmp_path / "nope", "not found"
    elif root_kind == "no_sessions":
        root, expect = tmp_path, r"no Session\*/ folders"
    else:
        _corpus(tmp_path / "IEMOCAP_full_release", {"Ses01F_impro01": ["Ses01F_impro01_F000"]})
        root, expect = tmp_path, "did you mean"
    with pytest.raises(DataError, match=expect) as info:
        prepare_manifest("iemocap", root)
    assert str(root) in str(info.value)


@pytest.mark.parametrize("bad_line, where, message", [
    ("[1.0 - 2.0] Ses01F_impro01_F001 neu [2.5, 2.5, 2.5]", 3, "malformed utterance header"),
    ("C-E1: Neutral; ()", 4, "malformed evaluator line"),
    ("C-E1:\tHappy;\t()", 4, "unknown label"),
    ("C-E1:\t;\t()", 4, "external evaluator line without a label"),
    ("garbage", 4, "unexpected line"),
])
def test_malformed_label_file_names_file_and_line(tmp_path, bad_line, where, message):
    root = _corpus(tmp_path, {"Ses01F_impro01": ["Ses01F_impro01_F000"]})
    path = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    lines = path.read_text().splitlines()
    if bad_line.startswith("["):
        lines[2] = bad_line
    else:
        lines[3] = bad_line
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message) as info:
        prepare_manifest("iemocap", root, labels_only=True)
    assert f"{path}:{where}:" in str(info.value)


def test_evaluator_line_before_header(tmp_path):
    path = tmp_path / "Ses01F_impro01.txt"
    path.write_text("% header\n\nC-E1:\tNeutral;\t()\n")
    with pytest.raises(DataError, match=f"{path}:3: evaluator line before any utterance header"):
        parse_label_file(path)


def test_missing_label_file(tmp_path):
    root = _corpus(tmp_path, {"Ses01F_impro01": ["Ses01F_impro01_F000"]})
    (root / "Session1/sentences/wav/Ses01F_impro02").mkdir()
    with pytest.raises(DataError, match=r"Ses01F_impro02\.txt: label file missing"):
        prepare_manifest("iemocap", root)
    (root / "Session1/sentences/wav/Ses01F_impro02").rmdir()
    (root / "Session2").mkdir()
    with pytest.raises(DataError, match="Session2/dialog/EmoEvaluation: no label files"):
        selection_counts(root)


def test_missing_audio_one_error_listing_count_and_first(tmp_path):
    utts = [f"Ses01F_impro01_F{i:03d}" for i in range(8)]
    root = _corpus(tmp_path, {"Ses01F_impro01": utts})
    wav_dir = root / "Session1/sentences/wav/Ses01F_impro01"
    for u in utts[1:8]:
        (wav_dir / f"{u}.wav").unlink()
    with pytest.raises(DataError) as info:
        prepare_manifest("iemocap", root)
    msg = str(info.value)
    assert "7 of 8 selected utterances have no audio" in msg and "--labels-only" in msg
    assert "Ses01F_impro01_F001.wav" in msg and "Ses01F_impro01_F007.wav" not in msg  # first 5 only
    df = prepare_manifest("iemocap", root, labels_only=True)
    assert df["audio_path"].notna().tolist() == [True] + [False] * 7


def test_duplicate_ids(tmp_path):
    root = _corpus(tmp_path, {"Ses01F_impro01": ["Ses01F_impro01_F000"],
                              "Ses01F_impro02": ["Ses01F_impro01_F000"]})
    with pytest.raises(DataError, match="duplicate utterance id Ses01F_impro01_F000") as info:
        prepare_manifest("iemocap", root, labels_only=True)
    assert "Ses01F_impro01.txt:3" in str(info.value) and "Ses01F_impro02.txt:3" in str(info.value)


def test_rule_keeping_nothing(tmp_path):
    root = _corpus(tmp_path, {"Ses01F_impro01": ["Ses01F_impro01_F000"]})
    with pytest.raises(DataError, match="selection rule 'all-labels' keeps no utterance") as info:
        prepare_manifest("iemocap", root, selection="all-labels")
    assert str(root.resolve()) in str(info.value)


def test_prepare_with_counts_parses_the_label_files_once(tmp_path, monkeypatch):
    import emologits.data.iemocap as iemocap
    root = _corpus(tmp_path, {"Ses01F_impro01": ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]})
    calls = []
    monkeypatch.setattr(iemocap, "read_utterances", lambda r: calls.append(r) or read_utterances(r))
    df, counts = prepare_with_counts("iemocap", root, selection="consensus")
    assert len(calls) == 1
    assert counts == {"aer-llm": 2, "consensus": 2, "all-labels": 0}
    pd.testing.assert_frame_equal(df, prepare_manifest("iemocap", root, selection="consensus"))


def test_unknown_rule_and_dataset(tmp_path):
    root = _corpus(tmp_path, {"Ses01F_impro01": ["Ses01F_impro01_F000"]})
    with pytest.raises(DataError, match="unknown IEMOCAP selection rule"):
        prepare_manifest("iemocap", root, selection="majority")
    with pytest.raises(DataError, match="unknown dataset"):
        prepare_manifest("msp", root)
    with pytest.raises(DataError, match=r"data\.options\.seed: unknown key: nothing is accepted"):
        prepare_manifest("iemocap", root, options={"seed": 1})


# ---------------------------------------------------------------- manifest files and CLI

def test_write_read_roundtrip_and_validation(tmp_path):
    root = _corpus(tmp_path / "c", {"Ses01F_impro01": ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]})
    df = prepare_manifest("iemocap", root)
    path = write_manifest(df, tmp_path / "out" / "m.parquet")
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.parquet"]  # no temp file left
    back = read_manifest(path)
    pd.testing.assert_frame_equal(back, df)

    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "absent.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="junk.parquet: not a readable Parquet"):
        read_manifest(tmp_path / "junk.parquet")
    df.drop(columns=["n_ratings"]).to_parquet(tmp_path / "cols.parquet")
    with pytest.raises(DataError, match=r"cols.parquet: not a manifest, missing column\(s\) \['n_ratings'\]"):
        read_manifest(tmp_path / "cols.parquet")
    bad = df.copy()
    bad.loc[0, "gt_anger"] = 0.9
    bad.to_parquet(tmp_path / "gt.parquet")
    with pytest.raises(DataError, match="gt.parquet: 1 row"):
        read_manifest(tmp_path / "gt.parquet")
    pd.concat([df, df.iloc[:1]]).to_parquet(tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="dup.parquet: 1 duplicate utt_id"):
        read_manifest(tmp_path / "dup.parquet")


def test_cli_prepare_labels_only(iemocap_labels_root, tmp_path, capsys):
    out = tmp_path / "m.parquet"
    rc = cli_main(["prepare", "--dataset", "iemocap", "--root", str(iemocap_labels_root),
                   "--out", str(out), "--labels-only", "--selection", "all-labels"])
    text = capsys.readouterr().out
    assert rc == 0
    assert "aer-llm            4370" in text and "all-labels         4298  <- used" in text
    assert "consensus          5531" in text and str(out.resolve()) in text
    assert len(read_manifest(out)) == 4298


def test_cli_error_exit_2(tmp_path, capsys):
    rc = cli_main(["prepare", "--dataset", "iemocap", "--root", str(tmp_path / "x"),
                   "--out", str(tmp_path / "m.parquet")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and "IEMOCAP root not found" in err
    assert not (tmp_path / "m.parquet").exists()
