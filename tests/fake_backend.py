"""A deterministic fake SFM back-end for fast runner tests (no model, no weights).

Configs name it ``model.backend: "fake_backend:FakeBackend"`` (tests/ must be on PYTHONPATH).
Every output is a pure function of one utterance's audio samples (never of the batch it is in),
so batch composition, resumption and process count cannot change results. With sampling on
(``settings.do_sample``) a row's text is also a function of ``settings.seed`` and the row's index in
the batch (the sampling method's N copies of one utterance get N draws).

``model.options``: ``sleep_per_batch`` (seconds, to make a run slow enough to kill),
``nan_if_samples`` (audio length in samples whose logits come out NaN),
``max_audio_seconds`` (window; default 30), ``fail_if_samples`` (length whose generate raises),
``drop_last_result`` (generate returns one record fewer than it got audios: a broken user back-end).
"""
from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from emologits.sfm.base import GenerationRecord, GenerationSettings, SFMBackend

_CLASS_WORDS = ("Anger", "Happiness", "Sadness", "Neutral")
_CORPUS = [
    "Happiness: 10%, Neutral: 20%, Sadness: 30%, Anger: 40%",
    "Anger Angry Happiness Happy Sadness Sad Neutral neutral anger happiness sadness",
    "0 1 2 3 4 5 6 7 8 9 % , : . the audio emotion",
]


@lru_cache(maxsize=1)
def fake_tokenizer():
    """A small byte-level BPE tokenizer trained in code (milliseconds), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def _seed(audio: np.ndarray, *extra: str) -> int:
    h = zlib.crc32(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    for e in extra:
        h = zlib.crc32(e.encode(), h)
    return h


class FakeBackend(SFMBackend):
    name = "fake"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.tokenizer = fake_tokenizer()
        self.max_audio_seconds = float(self.options.get("max_audio_seconds", 30.0))
        self.batch_sizes: list[int] = []  # sizes of the batches generate() saw (for tests)

    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> FakeBackend:
        return cls(model.get("options") or {})

    def _text(self, audio: np.ndarray, prompt: str, draw: str = "") -> str:
        rng = np.random.default_rng(_seed(audio, "text", *([draw] if draw else [])))
        if "percent" in prompt.lower():
            cuts = np.sort(rng.integers(0, 21, size=3)) * 5
            a, b, c = (int(x) for x in cuts)
            return f"Happiness: {a}%, Neutral: {b - a}%, Sadness: {c - b}%, Anger: {100 - c}%"
        return ("Happiness", "Sadness", "Neutral", "Angry")[int(rng.integers(0, 4))]

    def generate(self, audios: Sequence[np.ndarray], prompt: str, tracked_ids: Sequence[int],
                 settings: GenerationSettings) -> list[GenerationRecord]:
        self.batch_sizes.append(len(audios))
        time.sleep(float(self.options.get("sleep_per_batch", 0.0)))
        out = []
        for row, audio in enumerate(audios):
            if len(audio) == self.options.get("fail_if_samples"):
                raise RuntimeError("fake model failure")
            text = self._text(audio, prompt, f"{settings.seed}:{row}" if settings.do_sample else "")
            ids = self.tokenizer.encode(text, add_special_tokens=False) + [self.tokenizer.eos_token_id]
            ids = ids[: settings.max_new_tokens]
            rng = np.random.default_rng(_seed(audio, "logits"))
            tracked = rng.normal(0.0, 3.0, size=(len(ids), len(tracked_ids))).astype(np.float32)
            lse = (np.log(np.exp(tracked.astype(np.float64)).sum(axis=1) + 1.0) + 2.0).astype(np.float32)
            if len(audio) == self.options.get("nan_if_samples"):
                tracked[0, 0] = np.nan
            out.append(GenerationRecord(text=self.tokenizer.decode(ids, skip_special_tokens=True),
                                        generated_token_ids=np.asarray(ids, dtype=np.int64),
                                        tracked_logits=tracked, logsumexp=lse))
        return out[:-1] if self.options.get("drop_last_result") else out

    def score(self, audio: np.ndarray, prompt: str, continuations: Sequence[str]) -> list[np.ndarray]:
        out = []
        for cont in continuations:
            ids = self.tokenizer.encode(cont, add_special_tokens=False)
            rng = np.random.default_rng(_seed(audio, prompt, cont))
            out.append(-rng.exponential(1.0, size=len(ids)).astype(np.float32))
        return out

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.name, "name_or_path": "fake", "revision": None, "dtype": "float32",
                "device": "cpu", "options": {k: v for k, v in self.options.items() if k != "sleep_per_batch"}}


# ---------------------------------------------------------------------------------------------
# A throw-away project (config + prompts + manifest + audio) for runner tests
# ---------------------------------------------------------------------------------------------

PROJECT_ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def write_tone(path, seconds: float = 0.3, sr: int = 16000, freq: float = 300.0, channels: int = 1,
               amp: float = 0.3) -> None:
    import soundfile as sf

    t = np.arange(int(round(seconds * sr))) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), np.stack([x] * channels, axis=1) if channels > 1 else x, sr)


def make_project(root, n: int = 12, *, batch_size: int = 4, options: dict | None = None,
                 backend: str = "fake_backend:FakeBackend", run: str = "t", special: dict | None = None,
                 generation: dict | None = None, write_manifest: bool = True):
    """``root/configs/<run>.yaml`` + ``root/audio/*.wav`` + ``root/runs/<run>/manifest.parquet``.

    Utterance i is a tone of 0.2 + 0.01*i s at 300 + 20*i Hz (all distinct, so the fake back-end
    gives each its own outputs). ``special`` maps an index to a callable(path) writing odd audio.
    Returns the config path.
    """
    import pandas as pd
    import yaml
    from pathlib import Path

    root = Path(root)
    (root / "configs").mkdir(parents=True, exist_ok=True)
    (root / "audio").mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        path = root / "audio" / f"u{i:03d}.wav"
        if special and i in special:
            special[i](path)
        else:
            write_tone(path, seconds=0.2 + 0.01 * i, freq=300.0 + 20 * i)
        rows.append({"utt_id": f"u{i:03d}", "dataset": "synthetic", "audio_path": f"audio/u{i:03d}.wav",
                     "label": "neutral", "gt_anger": 0.0, "gt_happiness": 0.0, "gt_sadness": 0.0,
                     "gt_neutral": 1.0, "n_ratings": 3})
    if write_manifest:
        (root / "runs" / run).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_parquet(root / "runs" / run / "manifest.parquet", index=False)
    cfg = {"run": run, "pipeline_check": True,
           "data": {"dataset": "synthetic", "root": "data"},
           "model": {"backend": backend, "name_or_path": None, "device": "cpu", "dtype": "float32",
                     "batch_size": batch_size, "options": dict(options or {})},
           "generation": {"preset": "greedy", **(generation or {})},
           "prompts": {"file": str(PROJECT_ROOT / "prompts" / "prompts.yaml"), "ids": ["ambiguous", "single"]}}
    path = root / "configs" / f"{run}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def canonical(records) -> list[str]:
    """Records as JSON lines without the wall-clock ``seconds`` (for equality across runs)."""
    import json

    def default(o):
        return o.tolist() if hasattr(o, "tolist") else str(o)

    return [json.dumps(r, default=default, sort_keys=True)
            for r in records.drop(columns=["seconds"]).to_dict(orient="records")]
