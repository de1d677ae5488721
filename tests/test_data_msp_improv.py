"""MSP-IMPROV loader on a generated ``Evaluation.txt`` in the release's documented layout (no corpus
content): rules, sessions from the speaker, a rater listed twice, missing audio, bad-input messages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emologits.cli import main as cli_main
from emologits.data import prepare_manifest, prepare_with_counts
from emologits.errors import DataError

LABELS = ["Angry", "Happy", "Sad", "Neutral", "Other"]
WORD = {"Angry": "anger", "Happy": "happiness", "Sad": "sadness", "Neutral": "neutral"}


def write_fixture(root: Path, n: int = 30) -> dict:
    """Evaluation.txt + session<N>/S<..>/<type>/MSP-IMPROV-<id>.wav; returns utt_id -> rater labels."""
    lines, truth = [], {}
    for i in range(n):
        session = i % 6 + 1
        gender = "FM"[i % 2]
        ident = f"S{i % 15 + 1:02d}{'AHSN'[i % 4]}-{gender}{session:02d}-{'PRST'[i % 4]}-{'FM'[i % 2]}{gender}{i:02d}"
        labels = [LABELS[(i + k * (i % 3 + 1)) % 5] if i % 4 else LABELS[i % 4] for k in range(3 + i % 4)]
        if i == 7:
            labels = ["Other", "Other", "Sad"]
        consensus = "X" if i % 9 == 4 else "O" if i % 10 == 3 else "AHSN"[i % 4]
        lines.append(f"UTD-IMPROV-{ident}.avi; {consensus}; A:2.5; V:3.0; D:3.0 ; N:4.0;")
        lines += [f"rater{k + i}; {lab}; {'Frustrated, Tired' if k == 1 else ''}; A:3.0; V:2.0; D:3.0; N:4.0;"
                  for k, lab in enumerate(labels)]
        if i == 2:  # the release repeats some rater lines
            lines.append(f"rater{i}; Angry; ; A:3.0; V:2.0; D:3.0; N:4.0;")
        lines.append("")
        utt = f"MSP-IMPROV-{ident}"
        truth[utt] = {"labels": labels, "consensus": consensus, "session": session}
        if i != 11:
            wav = root / f"session{session}" / ident[:4] / ident.split("-")[2] / f"{utt}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            wav.write_bytes(b"RIFF")
    root.mkdir(parents=True, exist_ok=True)
    (root / "Evaluation.txt").write_text("\n".join(lines) + "\n")
    return truth


def test_rules_columns_and_sessions(tmp_path):
    truth = write_fixture(tmp_path / "imp")
    df, counts = prepare_with_counts("msp-improv", tmp_path / "imp", labels_only=True)
    names = ("anger", "happiness", "sadness", "neutral")
    exp = {u: ([sum(WORD.get(lab) == c for lab in t["labels"]) for c in names], t["labels"].count("Other"))
           for u, t in truth.items()}
    assert counts["drop-other"] == sum(sum(v) > 0 for v, _ in exp.values()) == len(df)
    assert counts["exclude-other"] == sum(sum(v) > 0 and o == 0 for v, o in exp.values())
    assert counts["other-minority"] == sum(2 * o < sum(v) + o for v, o in exp.values())
    assert counts["consensus"] == sum(t["consensus"] in "AHSN" and sum(exp[u][0]) > 0 for u, t in truth.items())
    assert counts["exclude-other"] < counts["other-minority"] < counts["drop-other"]
    df = df.set_index("utt_id")
    for utt, row in df.iterrows():
        want = np.array(exp[utt][0], float)
        np.testing.assert_allclose(row[["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]].to_numpy(float),
                                   want / want.sum())
        assert row["session"] == truth[utt]["session"] and row["speaker"][1:] == f"{truth[utt]['session']:02d}"
    assert df["split"].isna().all()  # no official split
    repeated = df.loc[[u for u in df.index if u.endswith("02")][0]]
    assert len(json.loads(repeated["annotations"])) == len(truth[repeated.name]["labels"])  # the copy is dropped
    assert any(len(v) == 2 for a in df["annotations"] for v in json.loads(a).values())  # further labels kept raw
    assert df["audio_path"].isna().sum() == 1


def test_missing_audio_and_repeated_rater_error(tmp_path):
    write_fixture(tmp_path / "imp")
    with pytest.raises(DataError, match="1 of .* selected utterances have no audio"):
        prepare_manifest("msp-improv", tmp_path / "imp")
    with pytest.raises(DataError, match=r"Evaluation\.txt:\d+: rater 'rater2' rated MSP-IMPROV-\S+ twice"):
        prepare_manifest("msp-improv", tmp_path / "imp", labels_only=True, options={"repeated_rater": "error"})


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("; Sad;", "; Sadd;", 1), r"Evaluation\.txt:\d+: rater label 'Sadd' is not one of Angry"),
    (lambda t: t.replace(".avi; A;", ".avi A;", 1), r"Evaluation\.txt:\d+: malformed utterance header"),
    (lambda t: "rater1; Sad; ; A:1.0; V:1.0; D:1.0; N:1.0;\n" + t, r"Evaluation\.txt:1: rater line before any utterance header"),
    (lambda t: t + "something else\n", r"Evaluation\.txt:\d+: malformed line 'something else'"),
    (lambda t: t + t.splitlines()[0] + "\n", r"Evaluation\.txt:\d+: duplicate utterance MSP-IMPROV-\S+ \(first on line 1\)"),
    (lambda t: t + "UTD-IMPROV-S01A-F01-P-FF99.avi; A; A:1.0; V:1.0; D:1.0 ; N:1.0;\n", r"Evaluation\.txt:\d+: utterance MSP-IMPROV-S01A-F01-P-FF99 has no rater line"),
])
def test_bad_evaluation_file(tmp_path, edit, message):
    write_fixture(tmp_path / "imp")
    path = tmp_path / "imp" / "Evaluation.txt"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError, match=message):
        prepare_manifest("msp-improv", tmp_path / "imp", labels_only=True)


def test_root_and_sets(tmp_path, capsys):
    write_fixture(tmp_path / "x" / "imp")
    with pytest.raises(DataError, match="did you mean"):
        prepare_manifest("msp-improv", tmp_path / "x", labels_only=True)
    with pytest.raises(DataError, match="cannot fill emotion set 'msp8'"):
        prepare_manifest("msp-improv", tmp_path / "x" / "imp", emotion_set="msp8")
    assert cli_main(["prepare", "--dataset", "msp-improv", "--root", str(tmp_path / "x" / "imp"), "--labels-only",
                     "--out", str(tmp_path / "m.parquet")]) == 0
    assert "no official split" in capsys.readouterr().out


def test_free_text_nan_values_and_an_audio_folder(tmp_path):
    """Further labels are free text that may hold ";", values may be NaN, and the session folders may
    sit under Audio/ (layouts seen in public parsers of the release)."""
    write_fixture(tmp_path / "imp")
    plain = prepare_manifest("msp-improv", tmp_path / "imp", labels_only=True)
    path = tmp_path / "imp" / "Evaluation.txt"
    text = path.read_text().replace("Frustrated, Tired", "Frustrated; or tired?").replace("D:3.0;", "D:NaN;")
    path.write_text(text.replace("A:2.5;", "A:NaN;", 3))
    (tmp_path / "imp" / "Audio").mkdir()
    for session in sorted((tmp_path / "imp").glob("session*")):
        session.rename(tmp_path / "imp" / "Audio" / session.name)
    moved = prepare_manifest("msp-improv", tmp_path / "imp", labels_only=True)
    gt = ["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]
    np.testing.assert_allclose(moved[gt].to_numpy(float), plain[gt].to_numpy(float))
    assert moved["audio_path"].isna().sum() == 1 and "/Audio/session" in moved["audio_path"].dropna().iloc[0]
    assert any(v[1:] == ["Frustrated; or tired?"] for a in moved["annotations"] for v in json.loads(a).values())


def test_a_session_folder_or_the_file_as_root_points_to_the_folder(tmp_path):
    write_fixture(tmp_path / "imp")
    with pytest.raises(DataError, match=r"session1/Evaluation\.txt: not found .*; did you mean .*imp\?"):
        prepare_manifest("msp-improv", tmp_path / "imp" / "session1", labels_only=True)
    with pytest.raises(DataError, match=r"Evaluation\.txt: a file; --root is the folder holding Evaluation\.txt "
                                        r"\(did you mean .*imp\?\)"):
        prepare_manifest("msp-improv", tmp_path / "imp" / "Evaluation.txt", labels_only=True)
