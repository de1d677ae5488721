"""``--dataset ratings``: long and counts shapes, label maps, the vote rules, bad-input messages, and
a round trip through IEMOCAP's real labels (../shared)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emologits.cli import main as cli_main
from emologits.data import prepare_manifest, prepare_with_counts, read_manifest
from emologits.errors import DataError

LONG = """utt_id,audio_path,rater,label,speaker,session,split
u1,wav/u1.wav,r1,Angry,spk1,1,train
u1,wav/u1.wav,r2,Angry,spk1,1,train
u1,wav/u1.wav,r3,Happy,,,
u2,wav/u2.wav,r1,Sad,spk2,2,test
u2,wav/u2.wav,r2,Bored,spk2,2,test
u3,wav/u3.wav,r1,Neutral,spk1,1,train
u3,wav/u3.wav,r2,Neutral,spk1,1,train
u4,wav/u4.wav,r1,Bored,spk2,2,test
u4,wav/u4.wav,r2,Bored,spk2,2,test
u4,wav/u4.wav,r3,Happy,spk2,2,test
"""
MAP = "Angry: anger\nHappy: happiness\nSad: sadness\nNeutral: neutral\nBored: null\n"


def _corpus(tmp_path: Path, text: str = LONG, name: str = "ratings.csv", audio: bool = True) -> Path:
    root = tmp_path / "corpus"
    (root / "wav").mkdir(parents=True, exist_ok=True)
    if audio:
        for i in range(1, 6):
            (root / "wav" / f"u{i}.wav").write_bytes(b"RIFF")
    (root / name).write_text(text)
    (root / "map.yaml").write_text(MAP)
    return root / name


def test_long_shape_with_label_map(tmp_path):
    path = _corpus(tmp_path)
    df, counts = prepare_with_counts("ratings", path, options={"label_map": "map.yaml"})
    # u1: 2 anger + 1 happiness; u2: sad + 1 other; u3: 2 neutral; u4: 1 happiness + 2 other.
    assert counts == {"drop-other": 4, "exclude-other": 2, "other-minority": 2}  # u2: 1 of 2 is other
    df = df.set_index("utt_id")
    np.testing.assert_allclose(df.loc["u1", ["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]].to_numpy(float),
                               [2 / 3, 1 / 3, 0, 0])
    assert df.loc["u2", "gt_sadness"] == 1.0 and df.loc["u2", "n_ratings"] == 1
    assert json.loads(df.loc["u2", "annotations"]) == {"r1": "Sad", "r2": "Bored"}
    assert df.loc["u1", "speaker"] == "spk1" and df.loc["u1", "session"] == 1 and df.loc["u1", "split"] == "train"
    assert df.loc["u4", "split"] == "test" and Path(df.loc["u4", "audio_path"]).is_file()
    assert (df["dataset"] == "ratings").all() and (df["selection"] == "drop-other").all()
    kept = prepare_manifest("ratings", path, selection="exclude-other", options={"label_map": "map.yaml"})
    assert sorted(kept["utt_id"]) == ["u1", "u3"]


def test_class_names_need_no_map_and_jsonl(tmp_path):
    lines = [{"utt_id": f"u{i}", "audio_path": f"wav/u{i}.wav", "rater": r, "label": lab}
             for i, r, lab in [(1, "a", "anger"), (1, "b", "Anger"), (2, "a", "happiness"),
                               (3, "a", "sadness"), (4, "a", "neutral"), (4, "b", "sadness")]]
    path = _corpus(tmp_path, "\n".join(json.dumps(x) for x in lines) + "\n", name="r.jsonl")
    df = prepare_manifest("ratings", path).set_index("utt_id")
    assert df.loc["u1", "gt_anger"] == 1.0 and df.loc["u4", "gt_neutral"] == 0.5
    assert df["split"].isna().all() and df["session"].isna().all()


def test_counts_shape(tmp_path):
    text = "utt_id,audio_path,A,H,S,N,D,split\nc1,wav/u1.wav,2,0,0,1,0,Train\nc2,wav/u2.wav,0,0,0,0,3,Test1\n"
    path = _corpus(tmp_path, text)
    (path.parent / "m.yaml").write_text("A: anger\nH: happiness\nS: sadness\nN: neutral\nD: null\n")
    df, counts = prepare_with_counts("ratings", path, options={"label_map": "m.yaml"})
    assert counts == {"drop-other": 1, "exclude-other": 1, "other-minority": 1}
    row = df.set_index("utt_id").loc["c1"]
    assert row["gt_anger"] == pytest.approx(2 / 3) and row["n_ratings"] == 3 and row["split"] == "Train"
    assert json.loads(row["annotations"]) == {"A": 2, "H": 0, "S": 0, "N": 1, "D": 0}


BAD = [
    ("utt_id,audio_path,rater,label\nu1,wav/u1.wav,r1,Angri\nu1,wav/u1.wav,r2,Sad\n", {"label_map": "map.yaml"},
     r"ratings\.csv:2: column label: unknown label 'Angri' \(close: 'Angry'"),
    ("utt_id,audio_path,rater,label\nu1,wav/u1.wav,r1,Sad\nu1,wav/u1.wav,r1,Angry\n", {"label_map": "map.yaml"},
     r"ratings\.csv:3: duplicate rating of 'u1' by rater 'r1' \(first on line 2\)"),
    ("utt_id,audio_path,rater,label\nu1,wav/u1.wav,r1,\nu2,wav/u2.wav,r1,Sad\n", {"label_map": "map.yaml"},
     r"ratings\.csv:2: utterance 'u1' has no usable rating \(column label: empty on each of its rows\)"),
    ("utt_id,audio_path,A,S\nu1,wav/u1.wav,2,1\nu2,wav/u2.wav,0,0\n", {"label_map": {"A": "anger", "S": "sadness"}},
     r"ratings\.csv:3: utterance 'u2' has no usable rating \(columns A, S: every count 0\)"),
    ("utt_id,audio_path,rater,label\nu1,wav/nope.wav,r1,Sad\nu2,wav/u2.wav,r1,Angry\nu2,wav/u2.wav,r2,Happy\n"
     "u2,wav/u2.wav,r3,Neutral\n", {"label_map": "map.yaml"},
     r"ratings\.csv:2: column audio_path: .*nope\.wav does not exist"),
    ("utt_id,audio_path,A,S\nu1,wav/u1.wav,2,x\n", {"label_map": {"A": "anger", "S": "sadness"}},
     r"ratings\.csv:2: column 'S': count 'x' is not a number"),
    ("utt_id,audio_path,Angry,Sadd\nu1,wav/u1.wav,2,1\n", {"label_map": "map.yaml"},
     r"ratings\.csv:1: column 'Sadd': unknown label 'Sadd' \(close: 'Sad'"),
    ("utt_id,audio_path,rater\nu1,wav/u1.wav,r1\n", {"shape": "long"}, r"ratings\.csv:1: missing column\(s\) \['label'\]"),
    ("utt_id,audio_path,rater,label\nu1,wav/u1.wav,r1,Sad\n", {"label_map": {"Sad": "sad"}},
     r"label_map: 'Sad' maps to 'sad', not a class of emotion set 'paper4'.*close: 'sadness'"),
]


@pytest.mark.parametrize(("text", "options", "message"), BAD)
def test_bad_input_messages(tmp_path, text, options, message):
    with pytest.raises(DataError, match=message):
        prepare_manifest("ratings", _corpus(tmp_path, text), options=options)


def test_labels_only_and_unknown_as_other(tmp_path):
    text = "utt_id,audio_path,rater,label\nu1,wav/u9.wav,r1,anger\nu1,wav/u9.wav,r2,Weird\n" \
           "u2,,r1,happiness\nu3,,r1,sadness\nu4,,r1,neutral\n"
    path = _corpus(tmp_path, text)
    with pytest.raises(DataError, match="unknown label 'Weird'"):
        prepare_manifest("ratings", path, labels_only=True)
    df = prepare_manifest("ratings", path, labels_only=True, options={"unknown_labels": "other"})
    assert df["audio_path"].isna().all() and df.set_index("utt_id").loc["u1", "n_ratings"] == 1


def test_a_class_nobody_chose_is_refused(tmp_path):
    text = "utt_id,audio_path,rater,label\nu1,wav/u1.wav,r1,anger\nu2,wav/u2.wav,r1,sadness\n"
    with pytest.raises(DataError, match="no rating maps to happiness, neutral"):
        prepare_manifest("ratings", _corpus(tmp_path, text))


def test_cli_label_map_and_split_counts(tmp_path, capsys):
    path = _corpus(tmp_path)
    out = tmp_path / "m.parquet"
    rc = cli_main(["prepare", "--dataset", "ratings", "--root", str(path), "--label-map",
                   str(path.parent / "map.yaml"), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "drop-other" in text and "utterances per split: test 2, train 2" in text
    assert len(read_manifest(out)) == 4


def test_round_trip_of_iemocap_labels(iemocap_labels_root, tmp_path):
    """IEMOCAP's manifest written out as ratings (long and counts) reads back to the same distributions."""
    ref = prepare_manifest("iemocap", iemocap_labels_root, labels_only=True)
    long_rows, count_rows = [], []
    for row in ref.itertuples():
        for rater, labels in json.loads(row.annotations).items():
            if rater.startswith("C-E"):
                long_rows.append({"utt_id": row.utt_id, "audio_path": "", "rater": rater, "label": labels[0],
                                  "speaker": row.speaker, "session": row.session})
        count_rows.append({"utt_id": row.utt_id, "audio_path": "",
                           **{c: round(getattr(row, f"gt_{c}") * row.n_ratings)
                              for c in ("anger", "happiness", "sadness", "neutral")}})
    pd.DataFrame(long_rows).to_csv(tmp_path / "long.csv", index=False)
    pd.DataFrame(count_rows).to_csv(tmp_path / "counts.csv", index=False)
    (tmp_path / "map.yaml").write_text("Anger: anger\nHappiness: happiness\nExcited: happiness\n"
                                       "Sadness: sadness\nNeutral: neutral\n")
    gt = ["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]
    for name, options in (("long.csv", {"label_map": "map.yaml"}), ("counts.csv", {})):
        back = prepare_manifest("ratings", tmp_path / name, labels_only=True, options=options)
        assert len(back) == len(ref) == 4370
        np.testing.assert_allclose(back[gt].to_numpy(float), ref[gt].to_numpy(float))
        assert back["label"].tolist() == ref["label"].tolist()
        assert (back["n_ratings"] == ref["n_ratings"]).all()
    back = prepare_manifest("ratings", tmp_path / "long.csv", labels_only=True, options={"label_map": "map.yaml"})
    assert back["speaker"].tolist() == ref["speaker"].tolist() and back["session"].tolist() == ref["session"].tolist()


def test_every_unknown_label_is_named_with_a_map_to_start_from(tmp_path):
    text = ("utt_id,audio_path,rater,label\nu1,wav/u1.wav,r1,Angry\nu1,wav/u1.wav,r2,Sad\nu2,wav/u2.wav,r1,Happy\n"
            "u2,wav/u2.wav,r2,Happy\nu3,wav/u3.wav,r1,Bored\nu3,wav/u3.wav,r2,neutral\n")
    path = _corpus(tmp_path, text)
    with pytest.raises(DataError) as err:
        prepare_manifest("ratings", path)
    message = str(err.value)
    assert message.startswith(f"{path}:2: column label: unknown label 'Angry' (close: 'anger'); 3 more unknown "
                              "label(s): 'Sad' (line 3, 1 rating), 'Happy' (line 4, 2 ratings), 'Bored' (line 6, "
                              "1 rating); add them to the label map")
    start = message.split("(check each line):\n", 1)[1]
    assert start.splitlines() == ['  "Angry": anger', '  "Sad": sadness', '  "Happy": happiness', '  "Bored": null']
    (path.parent / "start.yaml").write_text(start)
    df = prepare_manifest("ratings", path, options={"label_map": "start.yaml"}).set_index("utt_id")
    assert df.loc["u1", "gt_anger"] == 0.5 and df.loc["u2", "gt_happiness"] == 1.0 and df.loc["u3", "n_ratings"] == 1


@pytest.mark.parametrize(("name", "text"), [
    ("excel.csv", "\ufeffutt_id,audio_path,rater,label\n{rows}"),              # a byte-order mark (Excel's "CSV UTF-8")
    ("semicolons.csv", "utt_id;audio_path;rater;label\n{semi}"),               # a ;-separated spreadsheet export
    ("tabs.tsv", "utt_id\taudio_path\trater\tlabel\n{tabs}"),
    ("bom.jsonl", "\ufeff{jsonl}"),
])
def test_spreadsheet_exports_read_the_same(tmp_path, name, text):
    ratings = [("u1", "anger"), ("u2", "happiness"), ("u3", "sadness"), ("u4", "neutral"), ("u4", "sadness")]
    cells = [(u, f"wav/{u}.wav", f"r{k}", lab) for k, (u, lab) in enumerate(ratings)]
    text = text.format(rows="".join(",".join(c) + "\n" for c in cells),
                       semi="".join(";".join(c) + "\n" for c in cells),
                       tabs="".join("\t".join(c) + "\n" for c in cells),
                       jsonl="".join(json.dumps(dict(zip(("utt_id", "audio_path", "rater", "label"), c))) + "\n"
                                     for c in cells))
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    df = prepare_manifest("ratings", path, labels_only=True).set_index("utt_id")
    assert list(df.index) == ["u1", "u2", "u3", "u4"] and df.loc["u4", "gt_neutral"] == 0.5


def test_a_json_file_is_refused_with_what_to_write(tmp_path):
    path = tmp_path / "ratings.json"
    path.write_text('[{"utt_id": "u1"}]')
    with pytest.raises(DataError, match=r"ratings\.json: a \.json file; write the ratings as JSON Lines \(\.jsonl"):
        prepare_manifest("ratings", path, labels_only=True)


def test_missing_audio_is_one_error_with_the_count_and_the_first_lines(tmp_path):
    rows = "".join(f"u{i},{'' if i == 3 else f'wav/u{i}.wav'},r1,{lab}\n"
                   for i, lab in zip(range(1, 9), ["anger", "happiness", "sadness", "neutral"] * 2))
    path = _corpus(tmp_path, "utt_id,audio_path,rater,label\n" + rows)  # wav/u1..u5.wav exist
    with pytest.raises(DataError) as err:
        prepare_manifest("ratings", path)
    assert str(err.value) == (
        f"{path}:4: column audio_path: empty for 'u3' (4 of the utterances the rule keeps have no audio file; also\n"
        f"  line 7: {path.parent}/wav/u6.wav does not exist\n  line 8: {path.parent}/wav/u7.wav does not exist\n"
        f"  line 9: {path.parent}/wav/u8.wav does not exist\nrelative paths resolve against {path.parent}; "
        "--labels-only builds the ground truth without audio)")
    df = prepare_manifest("ratings", path, labels_only=True)
    assert df["audio_path"].isna().sum() == 4
