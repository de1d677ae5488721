"""Synthetic corpus in the real IEMOCAP layout: the offline demo and CI data set.

Every utterance has a latent emotion mix ``w`` over (anger, happiness, sadness, neutral). Three
external evaluators (``C-E`` lines) each draw a first label from ``w`` (happiness written as
``Happiness`` or ``Excited``, as in IEMOCAP), sometimes an out-of-class label instead
(Frustration, Surprise, Other, ...), sometimes a second label; some utterances get a
self-evaluation (``C-F1``/``C-M1``) and every evaluator an ``A-`` attribute line, as in the real
files. The IEMOCAP loader (:mod:`emologits.data.iemocap`) reads the corpus unchanged, so the
selection rules matter here just as on IEMOCAP.

The audio (16 kHz mono, 1-2.5 s) is a harmonic "voice" whose acoustics follow ``w``: anger is
loud, high, variable and fast; happiness high-pitched and bright; sadness low, quiet and slow;
neutral flat and mid. The latent mix is written to ``synthetic_latent.csv`` at the root (known
ground truth) next to ``synthetic_corpus.json`` (generator settings). Same seed, same bytes.
Its classes are the paper's four (the latent mix is over them; Fear, Disgust... are only
out-of-class distractors), so it fills ``paper4`` and no shipped set with more classes.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import soundfile as sf
from pydantic import Field
from tqdm import tqdm

from emologits.atomic import atomic_directory
from emologits.data.iemocap import DEFAULT_SELECTION, SELECTION_RULES, manifest_and_counts, selection_counts
from emologits.data.spec import DatasetSpec
from emologits.emotions import EMOTIONS, PAPER4, EmotionSet
from emologits.errors import DataError
from emologits.schema import StrictModel

#: Bump when the generator's output changes (recorded in synthetic_corpus.json).
GENERATOR_VERSION = 1
SAMPLE_RATE = 16_000
MARKER_FILE = "synthetic_corpus.json"
LATENT_FILE = "synthetic_latent.csv"
UTTERANCES_PER_DIALOG = 24

#: Per-emotion acoustic targets, mixed linearly by the latent mix ``w``:
#: f0 (Hz, female voice; male x0.8), relative f0 variability, RMS level, syllables per second,
#: harmonic roll-off (higher = brighter).
ACOUSTICS: dict[str, dict[str, float]] = {
    "anger": {"f0": 230.0, "f0_var": 0.28, "rms": 0.25, "rate": 6.0, "bright": 0.80},
    "happiness": {"f0": 270.0, "f0_var": 0.20, "rms": 0.15, "rate": 4.5, "bright": 0.75},
    "sadness": {"f0": 140.0, "f0_var": 0.04, "rms": 0.035, "rate": 2.2, "bright": 0.35},
    "neutral": {"f0": 185.0, "f0_var": 0.06, "rms": 0.08, "rate": 3.5, "bright": 0.55},
}

#: Out-of-class labels an evaluator may give instead, with the class each is "near" to.
OTHER_LABELS: dict[str, tuple[str, ...]] = {
    "anger": ("Frustration", "Frustration", "Disgust"),
    "happiness": ("Surprise", "Surprise", "Other"),
    "sadness": ("Frustration", "Fear", "Other"),
    "neutral": ("Frustration", "Other", "Surprise"),
}
CONSENSUS_CODES = {
    "Neutral": "neu", "Happiness": "hap", "Excited": "exc", "Anger": "ang", "Sadness": "sad",
    "Frustration": "fru", "Surprise": "sur", "Fear": "fea", "Disgust": "dis", "Other": "oth",
}
#: Valence, activation, dominance (1-5) per class, for the header and A- lines.
VAD = {"anger": (1.5, 4.2, 4.0), "happiness": (4.3, 3.6, 3.2),
       "sadness": (1.8, 1.8, 1.9), "neutral": (3.0, 2.3, 2.7)}
P_OTHER = 0.15        # an evaluator's first label is out of the four classes
P_SECOND = 0.25       # an evaluator adds a second label
P_SELF = 0.35         # the utterance has a self-evaluation line


def _in_class_label(emotion: str, rng: np.random.Generator) -> str:
    if emotion == "happiness":
        return "Excited" if rng.random() < 0.5 else "Happiness"
    return {"anger": "Anger", "sadness": "Sadness", "neutral": "Neutral"}[emotion]


def _evaluator_labels(w: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One evaluator's labels (first label is the one AER-LLM counts)."""
    emotion = EMOTIONS[rng.choice(4, p=w)]
    if rng.random() < P_OTHER:
        first = str(rng.choice(OTHER_LABELS[emotion]))
    else:
        first = _in_class_label(emotion, rng)
    labels = [first]
    if rng.random() < P_SECOND:
        second = _in_class_label(EMOTIONS[rng.choice(4, p=w)], rng) if rng.random() < 0.6 \
            else str(rng.choice(OTHER_LABELS[emotion]))
        if second != first:
            labels.append(second)
    return labels


def _latent_mix(primary: int, rng: np.random.Generator) -> np.ndarray:
    """A mix concentrated on class ``primary``, with ambiguity from a Dirichlet draw."""
    alpha = np.full(4, 0.35)
    alpha[primary] = 3.0
    return rng.dirichlet(alpha)


def _mixed(w: np.ndarray, key: str) -> float:
    return float(sum(wi * ACOUSTICS[e][key] for wi, e in zip(w, EMOTIONS)))


def synthesize_audio(w: np.ndarray, speaker: str, duration_s: float,
                     rng: np.random.Generator) -> np.ndarray:
    """A harmonic, syllabic "voice" whose pitch, energy, tempo and brightness follow ``w``."""
    n = int(round(duration_s * SAMPLE_RATE))
    t = np.arange(n) / SAMPLE_RATE
    f0 = _mixed(w, "f0") * (0.8 if speaker == "M" else 1.0) * float(np.exp(rng.normal(0, 0.04)))
    f0_var, rms = _mixed(w, "f0_var"), _mixed(w, "rms") * float(np.exp(rng.normal(0, 0.1)))
    rate, bright = _mixed(w, "rate"), _mixed(w, "bright")
    # Syllables: onsets at the speaking rate with jitter; each has its own pitch target.
    n_syl = max(2, int(round(duration_s * rate)))
    bounds = np.sort(rng.uniform(0.05, duration_s - 0.05, size=n_syl - 1))
    edges = np.concatenate([[0.0], bounds, [duration_s]])
    targets = 1.0 + f0_var * rng.normal(0, 1, size=n_syl)
    idx = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_syl - 1)
    contour = np.convolve(targets[idx], np.ones(400) / 400, mode="same")  # smooth the steps
    declination = 1.0 - 0.08 * t / duration_s
    f0_t = np.clip(f0 * contour * declination, 60.0, 500.0)
    phase = 2 * np.pi * np.cumsum(f0_t) / SAMPLE_RATE
    harmonics = np.arange(1, 11)
    amps = bright ** (harmonics - 1)
    wave = (amps[:, None] * np.sin(harmonics[:, None] * phase[None, :])).sum(axis=0)
    # Envelope: a raised-cosine bump per syllable with a short gap between syllables.
    start, length = edges[idx], (edges[idx + 1] - edges[idx])
    pos = (t - start) / np.maximum(length, 1e-3)
    env = np.where((pos > 0.08) & (pos < 0.92), np.sin(np.pi * (pos - 0.08) / 0.84) ** 2, 0.0)
    voiced = wave * env
    voiced *= rms / max(float(np.sqrt(np.mean(voiced ** 2))), 1e-9)
    noise = rng.normal(0, 0.003, size=n)
    return np.clip(voiced + noise, -0.99, 0.99).astype(np.float32)


def _wav_bytes(audio: np.ndarray) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def _dialogs(n_utterances: int) -> list[tuple[int, str, int]]:
    """(session, dialog name, number of utterances), sessions 1-5 in turn."""
    n_dialogs = max(1, -(-n_utterances // UTTERANCES_PER_DIALOG))
    out = []
    for d in range(n_dialogs):
        session = d % 5 + 1
        gender = "F" if (d // 5) % 2 == 0 else "M"
        name = f"Ses{session:02d}{gender}_impro{d // 10 + 1:02d}"
        size = n_utterances // n_dialogs + (1 if d < n_utterances % n_dialogs else 0)
        out.append((session, name, size))
    return out


def _fmt_vad(v: tuple[float, float, float]) -> str:
    return "[" + ", ".join(f"{x:.4f}" for x in v) + "]"


def _write_corpus(root: Path, n_utterances: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    primaries = iter(rng.permutation(np.arange(n_utterances) % 4).tolist())  # balanced classes
    latent_rows = []
    for session, dialog, size in tqdm(_dialogs(n_utterances), desc="synthetic dialogs",
                                      unit="dialog", leave=False, disable=None):
        evaluators = sorted(rng.choice(np.arange(1, 7), size=3, replace=False).tolist())
        blocks = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        wav_dir = root / f"Session{session}" / "sentences" / "wav" / dialog
        wav_dir.mkdir(parents=True, exist_ok=True)
        clock, counters = 2.0 + float(rng.uniform(0, 3)), {"F": 0, "M": 0}
        for i in range(size):
            speaker = "FM"[i % 2]
            utt_id = f"{dialog}_{speaker}{counters[speaker]:03d}"
            counters[speaker] += 1
            w = _latent_mix(next(primaries), rng)
            duration = float(rng.uniform(1.0, 2.5))
            start, end = clock, clock + duration
            clock = end + float(rng.uniform(0.3, 2.0))
            labels = [_evaluator_labels(w, rng) for _ in evaluators]
            firsts = [ls[0] for ls in labels]
            top = max(set(firsts), key=lambda lab: (firsts.count(lab), lab))
            consensus = CONSENSUS_CODES[top] if firsts.count(top) >= 2 else "xxx"
            vad = tuple(float(np.clip(np.dot(w, [VAD[e][k] for e in EMOTIONS])
                                      + rng.normal(0, 0.25), 1, 5)) for k in range(3))
            vad = tuple(round(x * 2) / 2 for x in vad)
            lines = [f"[{start:.4f} - {end:.4f}]\t{utt_id}\t{consensus}\t{_fmt_vad(vad)}"]
            for ev, labs in zip(evaluators, labels):
                lines.append(f"C-E{ev}:\t" + "".join(f"{lab}; " for lab in labs).rstrip() + "\t()")
            has_self = rng.random() < P_SELF
            if has_self:
                lines.append(f"C-{speaker}1:\t" + "".join(
                    f"{lab}; " for lab in _evaluator_labels(w, rng)).rstrip() + "\t()")
            raters = [f"E{ev}" for ev in evaluators] + ([f"{speaker}1"] if has_self else [])
            for rater in raters:
                v, a, d = (int(np.clip(round(x + rng.normal(0, 0.6)), 1, 5)) for x in vad)
                lines.append(f"A-{rater}:\tval {v}; act {a}; dom  {d};\t()")
            blocks.extend(lines + [""])
            audio = synthesize_audio(w, speaker, duration, rng)
            (wav_dir / f"{utt_id}.wav").write_bytes(_wav_bytes(audio))
            latent_rows.append([utt_id] + [f"{x:.6f}" for x in w])
        label_dir = root / f"Session{session}" / "dialog" / "EmoEvaluation"
        label_dir.mkdir(parents=True, exist_ok=True)
        (label_dir / f"{dialog}.txt").write_text("\n".join(blocks) + "\n", encoding="ascii")
    with open(root / LATENT_FILE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["utt_id"] + [f"w_{e}" for e in EMOTIONS])
        writer.writerows(latent_rows)
    marker = {"generator": "emologits.data.synthetic", "version": GENERATOR_VERSION,
              "n_utterances": n_utterances, "seed": seed, "sample_rate": SAMPLE_RATE}
    (root / MARKER_FILE).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")


def read_marker(root: Path) -> dict | None:
    """The generator settings recorded in ``root``, or None when root holds no synthetic corpus."""
    path = Path(root) / MARKER_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable synthetic-corpus marker ({exc})") from exc


def write_synthetic_corpus(out_dir: Path, *, n_utterances: int = 240, seed: int = 0) -> Path:
    """Write a synthetic IEMOCAP-layout corpus to ``out_dir`` and return ``out_dir``.

    Idempotent: when ``out_dir`` already holds a corpus made with the same settings it is
    returned untouched; a different corpus or unrelated files there raise DataError. The corpus
    is built in a temporary sibling folder and moved into place, so a crash leaves nothing half
    written.
    """
    out_dir = Path(out_dir).expanduser().resolve()
    if n_utterances < 1:
        raise DataError(f"synthetic corpus: n_utterances must be >= 1, got {n_utterances}")
    wanted = {"version": GENERATOR_VERSION, "n_utterances": int(n_utterances), "seed": int(seed)}
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DataError(f"{out_dir}: exists and is not a folder")
        marker = read_marker(out_dir)
        if marker is not None:
            have = {k: marker.get(k) for k in wanted}
            if have == wanted:
                return out_dir
            raise DataError(f"{out_dir}: holds a synthetic corpus made with {have}, not {wanted}; "
                            "use another folder or delete this one")
        if any(out_dir.iterdir()):
            raise DataError(f"{out_dir}: folder is not empty and holds no synthetic corpus; "
                            "refusing to write into it")
    if out_dir.exists():
        out_dir.rmdir()  # empty (checked above)
    with atomic_directory(out_dir) as tmp:
        os.chmod(tmp, 0o755)
        _write_corpus(tmp, int(n_utterances), int(seed))
    return out_dir


def ensure_synthetic_corpus(root: Path, *, n_utterances: int | None = None,
                            seed: int | None = None) -> Path:
    """The synthetic corpus in ``root`` (resolved), written there first when ``root`` holds none
    (defaults 240 utterances, seed 0); DataError when the one there was made with other settings.
    ``prepare_manifest("synthetic", root)`` reads it with the unchanged IEMOCAP loader."""
    root = Path(root).expanduser().resolve()
    marker = read_marker(root) if root.is_dir() else None
    if marker is None:
        write_synthetic_corpus(root, n_utterances=240 if n_utterances is None else n_utterances,
                               seed=0 if seed is None else seed)
    else:
        asked = {k: v for k, v in (("n_utterances", n_utterances), ("seed", seed)) if v is not None}
        have = {k: marker.get(k) for k in asked}
        if have != asked:
            raise DataError(f"{root}: holds a synthetic corpus made with {have}, not {asked}; "
                            "use another --root or delete this one")
    return root


class SyntheticOptions(StrictModel):
    """``data.options`` of the synthetic corpus (None: 240 utterances, seed 0, or whatever the
    corpus already in ``data.root`` was made with)."""

    n_utterances: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0)] | None = None


def _prepare(root: Path, *, selection: str, labels_only: bool, options: dict[str, Any],
             emotion_set: EmotionSet) -> tuple[pd.DataFrame, dict[str, int]]:
    root = ensure_synthetic_corpus(root, n_utterances=options.get("n_utterances"), seed=options.get("seed"))
    return manifest_and_counts(root, selection=selection, labels_only=labels_only, emotion_set=emotion_set,
                               dataset="synthetic")


def _counts(root: Path, *, emotion_set: EmotionSet) -> dict[str, int]:
    return selection_counts(root, emotion_set=emotion_set)  # the labels there; nothing generated


SPEC = DatasetSpec(
    name="synthetic",
    description="synthetic IEMOCAP-layout corpus, generated offline (the demo; a pipeline check)",
    prepare=_prepare, counts=_counts, label_classes=PAPER4.names,
    selection_rules=SELECTION_RULES, default_selection=DEFAULT_SELECTION,
    rule_title="IEMOCAP selection rule", options_model=SyntheticOptions, root_marker=None,
    root_help="folder to read, or to generate the corpus into when it holds none",
    source="generated by emologits.data.synthetic (no licence needed)",
)
