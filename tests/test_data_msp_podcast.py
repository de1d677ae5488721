"""MSP-Podcast loader on a generated fixture in the release's documented layout (no corpus content):
per-rater labels in the three public forms, consensus codes, secondary emotions, Other, a rater who
rated twice, missing audio, official splits, and the bad-input messages."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from emologits.cli import main as cli_main
from emologits.data import prepare_manifest, prepare_with_counts, read_manifest
from emologits.data.msp_podcast import CONSENSUS_CLASSES, PRIMARY_CLASSES
from emologits.emotions import get_emotion_set
from emologits.errors import DataError

PRIMARIES = [*PRIMARY_CLASSES, "Other", "Other-Curious"]
SECONDARY = ["Frustrated", "Annoyed", "Happy", "Concerned", "Sad", "Amused"]
SPLITS = ["Train", "Development", "Test1", "Test2"]


def _ratings(i: int) -> list[tuple[str, str, list[str]]]:
    """Deterministic (worker, primary, secondaries) for utterance i: 5-7 raters."""
    out = []
    for k in range(5 + i % 3):
        primary = PRIMARIES[(i * 3 + k * (1 + i % 4)) % len(PRIMARIES)] if i % 5 else PRIMARIES[i % 8]
        primary = "Other-Bored" if i in (12, 25) else primary  # every rating outside every set
        primary = "Other" if i % 9 == 8 and k < 3 else primary  # most ratings outside
        secondary = [SECONDARY[(i + k) % len(SECONDARY)], SECONDARY[(i + 2 * k) % len(SECONDARY)]][: (i + k) % 3]
        out.append((f"WORKER{(i + 7 * k) % 40:05d}", primary, secondary))
    return out


def write_fixture(root: Path, n: int = 36, form: str = "columns") -> dict:
    """The layout: Labels/labels_consensus.csv + labels_detailed.(csv|json), Audios/*.wav."""
    (root / "Labels").mkdir(parents=True)
    (root / "Audios").mkdir()
    truth = {}
    consensus_rows, detailed = [], []
    for i in range(n):
        name = f"MSP-PODCAST_{1 + i // 6:04d}_{i % 6 + 1:04d}.wav"
        ratings = _ratings(i)
        if i == 4:  # a worker who rated twice: the first rating is kept
            ratings.append((ratings[0][0], "Contempt", []))
        code = "X" if i % 7 == 3 else "O" if i % 11 == 5 else "AHSNUFDC"[i % 8]
        consensus_rows.append({"FileName": name, "EmoClass": code, "EmoAct": "4.0", "EmoVal": "4.0", "EmoDom": "4.0",
                               "SpkrID": "Unknown" if i == 0 else str(100 + i % 9), "Gender": "Female",
                               "Split_Set": SPLITS[i % 4]})
        detailed += [(name, *r) for r in ratings]
        truth[name[:-4]] = {"ratings": ratings[:-1] if i == 4 else ratings, "code": code, "split": SPLITS[i % 4]}
        if i != 9:  # one segment without audio
            (root / "Audios" / name).write_bytes(b"RIFF")
    if form == "json":  # labels_consensus.json as {FileName: {EmoClass, ..., Split_Set}} (release 1.12)
        (root / "Labels" / "labels_consensus.json").write_text(json.dumps(
            {r["FileName"]: {k: v for k, v in r.items() if k != "FileName"} for r in consensus_rows}))
    elif form == "workers":  # older: labels_concensus.json, {FileName: [{EmoClass_Major, ...}]}
        (root / "Labels" / "labels_concensus.json").write_text(json.dumps(
            {r["FileName"]: [{("EmoClass_Major" if k == "EmoClass" else k): v for k, v in r.items() if k != "FileName"}]
             for r in consensus_rows}))
    else:
        with open(root / "Labels" / "labels_consensus.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(consensus_rows[0]))
            writer.writeheader()
            writer.writerows(consensus_rows)
    if form == "columns":
        with open(root / "Labels" / "labels_detailed.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["FileName", "WorkerID", "EmoClass_Major", "EmoClass_Second", "EmoAct", "EmoVal", "EmoDom"])
            writer.writerows([name, w, p, ",".join(s), 4, 4, 4] for name, w, p, s in detailed)
    elif form == "detail":  # v1.11-style; the secondary field empty, absent, or free text with ";"
        with open(root / "Labels" / "labels_detailed.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["FileName", "EmoDetail"])
            for k, (name, w, p, s) in enumerate(detailed):
                tags = ("Other-meh; sort of," if k % 7 == 3 else "") + ",".join(s)  # free text holding ";"
                second = f" {tags};" if tags or k % 2 else ""
                writer.writerow([name, f"{w}; {p};{second} A:4.0; V:3.0; D:5.0;"])
    else:
        data: dict = {}
        for name, w, p, s in detailed:
            labels = {"EmoClass_Major": p, "EmoClass_Second": ",".join(s), "EmoAct": "4", "EmoVal": "4", "EmoDom": "4"}
            if form == "json":  # {FileName: {worker: labels}}
                data.setdefault(name, {}).setdefault(w, labels)
            else:  # "workers": {FileName: {"Workers": [{"Name": worker, **labels}]}}
                workers = data.setdefault(name, {"Workers": []})["Workers"]
                if w not in [x["Name"] for x in workers]:
                    workers.append({"Name": w, **labels})
        (root / "Labels" / "labels_detailed.json").write_text(json.dumps(data))
    return truth


def _expected(truth: dict, names: tuple[str, ...], secondary: bool = False) -> dict[str, list[int]]:
    """Independent: per segment, in-set primary counts (+ in-set secondaries) and the 'other' count."""
    word = {"Angry": "anger", "Sad": "sadness", "Happy": "happiness", "Surprise": "surprise", "Fear": "fear",
            "Disgust": "disgust", "Contempt": "contempt", "Neutral": "neutral"}
    out = {}
    for utt, t in truth.items():
        counts = [sum(word.get(p) == c for _, p, _ in t["ratings"]) for c in names]
        if secondary:
            counts = [n + sum(word.get(tag) == c for _, _, s in t["ratings"] for tag in s) for n, c in zip(counts, names)]
        other = sum(word.get(p) not in names for _, p, _ in t["ratings"])
        out[utt] = counts + [other]
    return out


@pytest.mark.parametrize("form", ["columns", "detail", "json", "workers"])
def test_forms_rules_and_columns(tmp_path, form):
    truth = write_fixture(tmp_path / "msp", form=form)
    es = get_emotion_set("msp8")
    df, counts = prepare_with_counts("msp-podcast", tmp_path / "msp", labels_only=True, emotion_set="msp8")
    exp = _expected(truth, es.names)
    assert counts["drop-other"] == sum(sum(v[:-1]) > 0 for v in exp.values()) == len(df)
    assert counts["exclude-other"] == sum(sum(v[:-1]) > 0 and v[-1] == 0 for v in exp.values())
    assert counts["other-minority"] == sum(2 * v[-1] < sum(v) for v in exp.values())
    assert counts["consensus"] == sum(CONSENSUS_CLASSES[t["code"]] is not None and sum(exp[u][:-1]) > 0
                                      for u, t in truth.items())
    assert 0 < counts["exclude-other"] < counts["other-minority"] < counts["drop-other"] < len(truth)
    df = df.set_index("utt_id")
    for utt, row in df.iterrows():
        want = np.array(exp[utt][:-1], float)
        np.testing.assert_allclose(row[list(es.gt_columns)].to_numpy(float), want / want.sum())
        assert row["split"] == truth[utt]["split"] and row["consensus"] == truth[utt]["code"]
    first = df.loc["MSP-PODCAST_0001_0005"]  # the worker who rated twice: first rating only
    assert len(json.loads(first["annotations"])) == len(truth["MSP-PODCAST_0001_0005"]["ratings"])
    assert df.loc["MSP-PODCAST_0002_0004", "audio_path"] is None  # no audio (labels-only)
    assert df.loc["MSP-PODCAST_0001_0002", "speaker"] == "101" and df.loc["MSP-PODCAST_0003_0002", "session"] == 3
    assert set(df["split"]) == set(SPLITS)
    # Secondary tags are read in every form (an absent or empty field, or free text holding ";", too).
    both = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True, emotion_set="msp8",
                            options={"secondary": True}).set_index("utt_id")
    exp = _expected(truth, es.names, secondary=True)
    for utt, row in both.iterrows():
        want = np.array(exp[utt][:-1], float)
        np.testing.assert_allclose(row[list(es.gt_columns)].to_numpy(float), want / want.sum())
    assert (both["n_ratings"] > df["n_ratings"].reindex(both.index).fillna(0)).any()


def test_paper4_secondary_and_exclusions(tmp_path):
    truth = write_fixture(tmp_path / "msp")
    names = get_emotion_set("paper4").names
    plain = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True).set_index("utt_id")
    with_secondary = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True,
                                      options={"secondary": True}).set_index("utt_id")
    exp = _expected(truth, names, secondary=True)
    changed = 0
    for utt, row in with_secondary.iterrows():
        want = np.array(exp[utt][:-1], float)
        np.testing.assert_allclose(row[["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]].to_numpy(float),
                                   want / want.sum())
        changed += utt in plain.index and plain.loc[utt, "n_ratings"] != row["n_ratings"]
    assert changed > 0 and len(with_secondary) >= len(plain)
    secondaries = [v for a in plain["annotations"] for v in json.loads(a).values() if len(v) > 1]
    assert secondaries  # kept raw
    no_x = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True,
                            options={"exclude_consensus": ["X", "O"]})
    assert not set(no_x["consensus"]) & {"X", "O"} and set(plain["consensus"]) & {"X", "O"}


def test_missing_audio_and_repeated_rater_error(tmp_path):
    write_fixture(tmp_path / "msp")
    with pytest.raises(DataError, match="1 of .* selected utterances have no audio"):
        prepare_manifest("msp-podcast", tmp_path / "msp")
    with pytest.raises(DataError, match=r"labels_detailed\.csv:\d+: worker 'WORKER\d+' rated 'MSP-PODCAST_0001_0005.wav' twice"):
        prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True, options={"repeated_rater": "error"})


def test_other_in_any_spelling_is_other(tmp_path):
    write_fixture(tmp_path / "msp", form="detail")
    path = tmp_path / "msp" / "Labels" / "labels_detailed.csv"
    plain = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)
    text = path.read_text()
    assert text.count("; Other-Curious;") > 2
    path.write_text(text.replace("; Other-Curious;", "; other: curious (a bit);", 1)
                    .replace("; Other-Curious;", "; OTHER (curious);", 1))
    again = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)
    gt = ["gt_anger", "gt_happiness", "gt_sadness", "gt_neutral"]
    np.testing.assert_allclose(again[gt].to_numpy(float), plain[gt].to_numpy(float))
    assert (again["n_ratings"] == plain["n_ratings"]).all()


def test_worker_column_named_otherwise(tmp_path):
    write_fixture(tmp_path / "msp")
    path = tmp_path / "msp" / "Labels" / "labels_detailed.csv"
    plain = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)
    path.write_text(path.read_text().replace("WorkerID", "Annotator_ID", 1))
    again = prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)
    assert again["annotations"].tolist() == plain["annotations"].tolist()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("Angry", "Angri", 1), r"labels_detailed\.csv:\d+: primary emotion 'Angri' is not one of"),
    (lambda t: t + "MSP-PODCAST_9999_0001.wav,W1,Sad,,4,4,4\n", r"labels_detailed\.csv:\d+: 'MSP-PODCAST_9999_0001.wav' has no row in the consensus file"),
    (lambda t: t.replace("EmoClass_Major", "Primary"), r"labels_detailed\.csv:1: unknown layout"),
])
def test_bad_detailed_file(tmp_path, edit, message):
    write_fixture(tmp_path / "msp")
    path = tmp_path / "msp" / "Labels" / "labels_detailed.csv"
    path.write_text(edit(path.read_text()))
    with pytest.raises(DataError, match=message):
        prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)


def test_bad_consensus_and_root(tmp_path):
    write_fixture(tmp_path / "msp")
    path = tmp_path / "msp" / "Labels" / "labels_consensus.csv"
    path.write_text(path.read_text().replace(",X,", ",Q,", 1))
    with pytest.raises(DataError, match=r"labels_consensus\.csv:\d+: column EmoClass: 'Q' is not a consensus code"):
        prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)
    with pytest.raises(DataError, match="no Labels/ folder.*did you mean"):
        prepare_manifest("msp-podcast", tmp_path, labels_only=True)


def test_cli_prints_rules_and_splits(tmp_path, capsys):
    write_fixture(tmp_path / "msp")
    out = tmp_path / "m.parquet"
    assert cli_main(["prepare", "--dataset", "msp-podcast", "--root", str(tmp_path / "msp"), "--out", str(out),
                     "--labels-only", "--emotion-set", "msp8"]) == 0
    text = capsys.readouterr().out
    assert "consensus" in text and "utterances per split: Development" in text and "Test1" in text
    assert (read_manifest(out)["emotion_set"] == "msp8").all()


@pytest.mark.parametrize("sub", ["Labels", "Audios"])
def test_a_subfolder_as_root_points_to_the_release(tmp_path, sub):
    write_fixture(tmp_path / "msp")
    with pytest.raises(DataError, match=rf"msp/{sub}: no Labels/ folder.*; did you mean .*msp\?"):
        prepare_manifest("msp-podcast", tmp_path / "msp" / sub, labels_only=True)


def test_an_older_labels_folder_name_is_named(tmp_path):
    write_fixture(tmp_path / "msp")
    (tmp_path / "msp" / "Labels").rename(tmp_path / "msp" / "labels")
    with pytest.raises(DataError, match=r"no Labels/ folder; .*; it has labels/: rename it \(or link it\) to Labels/"):
        prepare_manifest("msp-podcast", tmp_path / "msp", labels_only=True)
