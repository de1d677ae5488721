"""Synthetic corpus: deterministic, real IEMOCAP layout, read by the IEMOCAP loader, acoustics
that follow the emotion mix."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emologits.cli import main as cli_main
from emologits.data import prepare_manifest, read_manifest
from emologits.data.iemocap import KNOWN_LABELS, LABEL_TO_CLASS, read_utterances, selection_counts
from emologits.data.synthetic import LATENT_FILE, SAMPLE_RATE, write_synthetic_corpus
from emologits.emotions import EMOTIONS, GT_COLUMNS
from emologits.errors import DataError

N = 96


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_synthetic_corpus(tmp_path_factory.mktemp("syn") / "IEMOCAP_full_release",
                                  n_utterances=N, seed=0)


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_from_seed(corpus, tmp_path):
    again = write_synthetic_corpus(tmp_path / "again", n_utterances=N, seed=0)
    assert _digest(again) == _digest(corpus)
    other = write_synthetic_corpus(tmp_path / "other", n_utterances=N, seed=1)
    a, b = _digest(corpus), _digest(other)
    assert a.keys() == b.keys() and sum(a[k] != b[k] for k in a) > N


def test_real_layout_and_label_format(corpus):
    label_files = sorted(corpus.glob("Session*/dialog/EmoEvaluation/*.txt"))
    assert len(label_files) == N // 24 and {p.parts[-4] for p in label_files} >= {"Session1", "Session4"}
    header = re.compile(r"^\[\d+\.\d{4} - \d+\.\d{4}\]\t(Ses\d\d[FM]_impro\d\d_[FM]\d{3})\t[a-z]{3}\t"
                        r"\[\d\.\d{4}, \d\.\d{4}, \d\.\d{4}\]$")
    categorical = re.compile(r"^C-[EFM]\d:\t([A-Z][a-z]+; )*[A-Z][a-z]+;\t\(\)$")
    attribute = re.compile(r"^A-[EFM]\d:\tval \d; act \d; dom  \d;\t\(\)$")
    n_headers = n_self = 0
    labels = set()
    for path in label_files:
        lines = path.read_text().split("\n")
        assert lines[0] == "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]" and lines[1] == ""
        for line in lines[2:]:
            assert line == "" or header.match(line) or categorical.match(line) or attribute.match(line), line
            n_headers += bool(header.match(line))
            n_self += line.startswith(("C-F", "C-M"))
            if line.startswith("C-"):
                labels.update(x.strip() for x in line.split("\t")[1].split(";") if x.strip())
    assert n_headers == N and 0 < n_self < N
    assert labels <= KNOWN_LABELS and {"Excited", "Happiness", "Frustration", "Surprise"} <= labels
    wavs = sorted(corpus.glob("Session*/sentences/wav/*/*.wav"))
    assert len(wavs) == N
    for wav in wavs[:10]:
        info = sf.info(wav)
        assert info.samplerate == SAMPLE_RATE and info.channels == 1 and 1.0 <= info.duration <= 2.5


def test_iemocap_loader_reads_it_and_rules_differ(corpus):
    utts = read_utterances(corpus)
    assert len(utts) == N and all(len(u.external) == 3 for u in utts)
    counts = selection_counts(corpus)
    assert counts["all-labels"] < counts["aer-llm"] < N  # out-of-class labels make the rule matter
    df = prepare_manifest("synthetic", corpus)
    assert len(df) == counts["aer-llm"] and (df["dataset"] == "synthetic").all()
    assert all(Path(p).is_file() for p in df["audio_path"])
    # Recompute one utterance's distribution from its raw annotations.
    row = df.iloc[0]
    firsts = [v[0] for k, v in json.loads(row["annotations"]).items() if k.startswith("C-E")]
    expected = [sum(LABEL_TO_CLASS[f] == e for f in firsts) / 3 for e in EMOTIONS]
    np.testing.assert_allclose(row[list(GT_COLUMNS)].to_numpy(float), expected)


def test_labels_follow_latent_mix(corpus):
    latent = pd.read_csv(corpus / LATENT_FILE).set_index("utt_id")
    df = prepare_manifest("synthetic", corpus).set_index("utt_id")
    w = latent.loc[df.index].to_numpy()
    gt = df[list(GT_COLUMNS)].to_numpy()
    assert np.mean(w.argmax(1) == gt.argmax(1)) > 0.7
    assert np.bincount(latent.to_numpy().argmax(1), minlength=4).min() >= N // 4 - 3  # balanced


def _f0_and_rms(path: Path) -> tuple[float, float]:
    x, sr = sf.read(path)
    frame = 640
    f0s = []
    for start in range(0, len(x) - frame, frame):
        seg = x[start:start + frame]
        if np.sqrt(np.mean(seg ** 2)) < 0.02:
            continue
        ac = np.correlate(seg, seg, "full")[frame - 1:]
        lo, hi = sr // 400, sr // 70
        f0s.append(sr / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0s)) if f0s else np.nan, float(np.sqrt(np.mean(x ** 2)))


def test_acoustics_follow_emotion(corpus):
    latent = pd.read_csv(corpus / LATENT_FILE).set_index("utt_id")
    rows = []
    for wav in sorted(corpus.glob("Session*/sentences/wav/*/*.wav")):
        f0, rms = _f0_and_rms(wav)
        rows.append({"primary": EMOTIONS[int(latent.loc[wav.stem].to_numpy().argmax())], "f0": f0, "rms": rms})
    by = pd.DataFrame(rows).groupby("primary").mean()
    rms, f0 = by["rms"], by["f0"]
    assert rms["anger"] > rms["happiness"] > rms["neutral"] > rms["sadness"]
    assert rms["anger"] > 2.5 * rms["sadness"]
    assert min(f0["happiness"], f0["anger"]) > f0["neutral"] > f0["sadness"]


def test_idempotent_and_refuses_foreign_folders(corpus, tmp_path):
    before = _digest(corpus)
    assert write_synthetic_corpus(corpus, n_utterances=N, seed=0) == corpus
    assert _digest(corpus) == before
    with pytest.raises(DataError, match="holds a synthetic corpus made with"):
        write_synthetic_corpus(corpus, n_utterances=N, seed=5)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not empty and holds no synthetic corpus"):
        write_synthetic_corpus(tmp_path / "busy", n_utterances=4)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_prepare_generates_when_absent(tmp_path, capsys):
    root, out = tmp_path / "syn", tmp_path / "m.parquet"
    rc = cli_main(["prepare", "--dataset", "synthetic", "--root", str(root), "--out", str(out),
                   "--n-utterances", "30", "--seed", "3"])
    text = capsys.readouterr().out
    assert rc == 0 and (root / "synthetic_corpus.json").is_file()
    df = read_manifest(out)
    assert re.search(rf"aer-llm +{len(df)}  <- used", text)
    assert len(list(root.glob("Session*/sentences/wav/*/*.wav"))) == 30
    # Reading it again without options works; asking for another seed does not.
    assert len(prepare_manifest("synthetic", root)) == len(df)
    with pytest.raises(DataError, match="holds a synthetic corpus made with"):
        prepare_manifest("synthetic", root, options={"seed": 4})


def test_groups_come_from_the_generator(corpus):
    """speaker/session/dialog are the generator's (``_dialogs``: sessions 1-5 in turn, turns
    alternating F and M); the synthetic corpus has no official split."""
    from emologits.data.synthetic import _dialogs
    dialogs = {name: session for session, name, _ in _dialogs(N)}
    df = prepare_manifest("synthetic", corpus, selection="consensus")
    assert set(df["dialog"]) <= set(dialogs) and len(set(df["dialog"])) == len(dialogs)
    assert (df["session"] == df["dialog"].map(dialogs)).all()
    turn = df["utt_id"].str.rsplit("_", n=1).str[1].str[0]
    assert (df["speaker"] == [f"Ses{s:02d}{g}" for s, g in zip(df["session"], turn)]).all()
    assert set(turn) == {"F", "M"} and df["split"].isna().all()
