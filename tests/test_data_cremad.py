"""CREMA-D loader: real voice-only votes (../shared), hand-checked rows, rules, bad input."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emologits.cli import main as cli_main
from emologits.data import prepare_manifest, prepare_with_counts, read_manifest, selection_counts_for
from emologits.data.cremad import CREMAD_RULES, read_votes, rule_counts
from emologits.emotions import GT_COLUMNS
from emologits.errors import DataError

REAL_COUNTS = {"drop-other": 7396, "exclude-other": 1636, "other-minority": 6134}


def test_rule_counts_real_votes_cross_checked(cremad_root):
    assert len(read_votes(cremad_root)) == 7442
    assert rule_counts(cremad_root) == REAL_COUNTS == selection_counts_for("cremad", cremad_root)
    # Independent: pandas over the raw table.
    raw = pd.read_csv(cremad_root / "tabulatedVotes.csv")
    voice = raw[raw.iloc[:, 0].astype(str).str.startswith("1")]
    other = voice["D"] + voice["F"]
    assert len(voice) == 7442
    assert int((voice[["A", "H", "S", "N"]].sum(axis=1) > 0).sum()) == REAL_COUNTS["drop-other"]
    assert int((other == 0).sum()) == REAL_COUNTS["exclude-other"]
    assert int((2 * other < voice["numResponses"]).sum()) == REAL_COUNTS["other-minority"]
    assert set(CREMAD_RULES) == set(REAL_COUNTS)


def test_hand_checked_rows(cremad_root):
    df = prepare_manifest("cremad", cremad_root, labels_only=True).set_index("utt_id")
    assert len(df) == REAL_COUNTS["drop-other"]
    assert df["audio_path"].isna().all() and (df["dataset"] == "cremad").all()
    np.testing.assert_allclose(df[list(GT_COLUMNS)].sum(axis=1), 1.0)

    # A2 D0 F0 H6 N2 S0
    row = df.loc["1001_IEO_HAP_HI"]
    np.testing.assert_allclose(row[list(GT_COLUMNS)].to_numpy(float), [0.2, 0.6, 0, 0.2])
    assert row["label"] == "happiness" and row["n_ratings"] == 10 and row["speaker"] == "1001"
    assert json.loads(row["annotations"]) == {"A": 2, "D": 0, "F": 0, "H": 6, "N": 2, "S": 0}
    # A1 D1 F0 H0 N7 S1: the disgust vote is dropped, 9 votes remain.
    row = df.loc["1001_IEO_SAD_LO"]
    np.testing.assert_allclose(row[list(GT_COLUMNS)].to_numpy(float), [1 / 9, 0, 1 / 9, 7 / 9])
    assert row["label"] == "neutral" and row["n_ratings"] == 9
    # F9 only: no vote in the four classes -> excluded by drop-other.
    assert "1001_ITH_FEA_XX" not in df.index

    strict = prepare_manifest("cremad", cremad_root, labels_only=True, selection="exclude-other")
    assert "1001_IEO_SAD_LO" not in set(strict["utt_id"]) and "1001_IEO_HAP_HI" in set(strict["utt_id"])
    assert (strict["selection"] == "exclude-other").all()


def test_iemocap_rule_name_rejected_for_cremad(cremad_root):
    with pytest.raises(DataError, match="'aer-llm' is a rule of iemocap, synthetic, not of cremad; cremad rules"):
        prepare_manifest("cremad", cremad_root, selection="aer-llm", labels_only=True)
    with pytest.raises(DataError, match="unknown CREMA-D rule"):
        prepare_manifest("cremad", cremad_root, selection="majority", labels_only=True)


HEADER = '"","A","D","F","H","N","S","fileName","numResponses"\n'


def _votes(tmp_path, rows: list[str], audio: list[str] = ()):
    (tmp_path / "tabulatedVotes.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    if audio:
        (tmp_path / "AudioWAV").mkdir()
        for name in audio:
            (tmp_path / "AudioWAV" / f"{name}.wav").write_bytes(b"RIFF")
    return tmp_path


def test_audio_paths_and_non_voice_rows(tmp_path):
    root = _votes(tmp_path, ['"100001",0,0,0,1,3,0,"1001_DFA_NEU_XX",4',
                             '"200001",4,0,0,0,0,0,"1001_DFA_NEU_XX",4',   # face-only: ignored
                             '"100002",3,0,1,0,0,0,"1001_DFA_ANG_XX",4'],
                  audio=["1001_DFA_NEU_XX", "1001_DFA_ANG_XX"])
    df = prepare_manifest("cremad", root)
    assert df["utt_id"].tolist() == ["1001_DFA_NEU_XX", "1001_DFA_ANG_XX"]
    assert df["audio_path"].tolist() == [str((root / "AudioWAV" / f"{u}.wav").resolve())
                                         for u in df["utt_id"]]
    np.testing.assert_allclose(df[list(GT_COLUMNS)].to_numpy(float), [[0, .25, 0, .75], [1, 0, 0, 0]])


def test_missing_audio(tmp_path):
    root = _votes(tmp_path, [f'"10000{i}",0,0,0,1,3,0,"1001_DFA_NEU_X{i}",4' for i in range(1, 8)],
                  audio=["1001_DFA_NEU_X1"])
    with pytest.raises(DataError, match="6 of 7 selected utterances have no audio") as info:
        prepare_manifest("cremad", root)
    assert "1001_DFA_NEU_X2.wav" in str(info.value) and "1001_DFA_NEU_X7.wav" not in str(info.value)
    assert prepare_manifest("cremad", root, labels_only=True)["audio_path"].notna().sum() == 1


def test_rule_keeping_nothing_and_one_reading_of_the_votes(tmp_path, monkeypatch):
    root = _votes(tmp_path, ['"100001",0,2,1,1,3,0,"1001_DFA_NEU_XX",7'])  # has D/F votes
    with pytest.raises(DataError, match="CREMA-D rule 'exclude-other' keeps no utterance") as info:
        prepare_manifest("cremad", root, selection="exclude-other", labels_only=True)
    assert str(root.resolve()) in str(info.value)
    import emologits.data.cremad as cremad
    calls = []
    monkeypatch.setattr(cremad, "read_votes", lambda r: calls.append(r) or read_votes(r))
    df, counts = prepare_with_counts("cremad", root, labels_only=True)
    assert len(calls) == 1 and df["utt_id"].tolist() == ["1001_DFA_NEU_XX"]
    assert counts == {"drop-other": 1, "exclude-other": 0, "other-minority": 1}


@pytest.mark.parametrize("rows, message", [
    (None, "vote table not found"),
    (['"100001",0,0,0,x,3,0,"1001_DFA_NEU_XX",4'], r"tabulatedVotes.csv:2: non-integer"),
    (['"100001",0,0,0,1,3,0,"1001_DFA_NEU_XX"'], r"tabulatedVotes.csv:2: 8 fields, expected 9"),
    (['"100001",0,0,0,1,3,0,"A",4', '"100002",0,0,0,1,3,0,"A",4'],
     r"tabulatedVotes.csv:3: duplicate voice-only row for A \(first on line 2\)"),
    (['"200001",0,0,0,1,3,0,"A",4'], "no voice-only rows"),
])
def test_bad_vote_tables(tmp_path, rows, message):
    if rows is not None:
        _votes(tmp_path, rows)
    with pytest.raises(DataError, match=message):
        prepare_manifest("cremad", tmp_path, labels_only=True)


def test_missing_column_and_wrong_root(tmp_path):
    (tmp_path / "tabulatedVotes.csv").write_text('"","A","D","F","H","N","fileName"\n')
    with pytest.raises(DataError, match=r"tabulatedVotes.csv:1: missing column\(s\) \['S'\]"):
        prepare_manifest("cremad", tmp_path, labels_only=True)
    with pytest.raises(DataError, match="CREMA-D root not found"):
        prepare_manifest("cremad", tmp_path / "absent", labels_only=True)
    # The vote table itself, or the folder above the release: the message names the folder to pass.
    with pytest.raises(DataError, match=rf"tabulatedVotes\.csv: a file; --root is the folder .*\(did you mean {tmp_path}\?\)"):
        prepare_manifest("cremad", tmp_path / "tabulatedVotes.csv", labels_only=True)
    release = tmp_path / "outer" / "CREMA-D"
    release.mkdir(parents=True)
    (release / "tabulatedVotes.csv").write_text('"","A","D","F","H","N","S","fileName"\n')
    with pytest.raises(DataError, match=rf"vote table not found .*; did you mean {release}\?"):
        prepare_manifest("cremad", tmp_path / "outer", labels_only=True)


def test_cli_cremad(cremad_root, tmp_path, capsys):
    out = tmp_path / "c.parquet"
    rc = cli_main(["prepare", "--dataset", "cremad", "--root", str(cremad_root), "--out", str(out),
                   "--labels-only", "--cremad-rule", "other-minority"])
    text = capsys.readouterr().out
    assert rc == 0 and "other-minority     6134  <- used" in text and "drop-other         7396" in text
    assert len(read_manifest(out)) == 6134
    rc = cli_main(["prepare", "--dataset", "cremad", "--root", str(cremad_root), "--out", str(out),
                   "--selection", "aer-llm"])
    assert rc == 2 and "'aer-llm' is a rule of iemocap, synthetic, not of cremad" in capsys.readouterr().err


def test_cli_cremad6_labels_only_keeps_every_voice_only_clip(cremad_root, tmp_path, capsys):
    """`prepare --dataset cremad --emotion-set cremad6 --labels-only` on the real votes: all 7,442
    voice-only clips, each row its six vote counts over numResponses (checked with pandas), the
    actor as speaker, no session, no split; the counts per rule and per split are printed."""
    out = tmp_path / "c6.parquet"
    assert cli_main(["prepare", "--dataset", "cremad", "--root", str(cremad_root), "--emotion-set", "cremad6",
                     "--labels-only", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for rule in CREMAD_RULES:
        assert f"  {rule:<16}{7442:>7}" in text
    assert "utterances per split: no official split (split null)" in text and "wrote 7442 utterances" in text
    df = read_manifest(out, emotion_set="cremad6").set_index("utt_id")
    raw = pd.read_csv(cremad_root / "tabulatedVotes.csv")
    voice = raw[raw.iloc[:, 0].astype(str).str.startswith("1")].set_index("fileName")
    assert len(df) == len(voice) == 7442 and set(df.index) == set(voice.index)
    voice = voice.loc[df.index]
    gt = ["gt_anger", "gt_disgust", "gt_fear", "gt_happiness", "gt_neutral", "gt_sadness"]
    np.testing.assert_allclose(df[gt].to_numpy(float),
                               voice[list("ADFHNS")].to_numpy(float) / voice[["numResponses"]].to_numpy(float))
    assert (df["n_ratings"] == voice["numResponses"]).all()
    assert (df["speaker"] == [u.split("_")[0] for u in df.index]).all()
    assert df["session"].isna().all() and df["split"].isna().all() and df["dialog"].isna().all()


def test_clip_without_votes_kept_by_no_rule(tmp_path):
    """A clip with no vote has no distribution: every rule leaves it out (exclude-other too)."""
    root = _votes(tmp_path, ['"100001",0,0,0,1,3,0,"1001_DFA_NEU_XX",4',
                             '"100002",0,0,0,0,0,0,"1001_DFA_ANG_XX",0'])
    df, counts = prepare_with_counts("cremad", root, selection="exclude-other", labels_only=True)
    assert df["utt_id"].tolist() == ["1001_DFA_NEU_XX"]
    assert counts == {"drop-other": 1, "exclude-other": 1, "other-minority": 1}
