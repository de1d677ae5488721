"""Build and train the ``tiny-demo`` model offline: the real Qwen2-Audio architecture at a
tiny size, a byte-level BPE tokenizer trained in code, a Whisper feature extractor with a 5 s
window, trained for ~1.5 minutes on one CPU thread on a synthetic corpus to answer the paper's two prompts
(sec. 3.3 "ambiguous", sec. 5.2 "single") in the paper's response format.

Every method of the paper (and label likelihood) must see the audio through it: the distribution
answer lists the classes from the largest share down (so its first word, which label likelihood
scores, is the utterance's majority class), and a second loss term pulls the emotion words' logits
averaged over the answer's steps (eq. 1, the token level of sec. 3.4.2) towards the log of the
ground truth (plus a positive offset, so that eq. 2's ratio is defined too).

It is a PIPELINE CHECK: it exercises every later step on real generated text and real logits. Its
numbers are never the paper's.
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from pydantic import create_model

from emologits.atomic import atomic_directory
from emologits.emotions import EMOTIONS, GT_COLUMNS
from emologits.errors import ConfigError
from emologits.sfm.base import BackendOptions, parse_options

#: Bump when the recipe below changes; part of the cache stamp.
TINY_DEMO_VERSION = 2
STAMP_FILE = "tiny_demo_stamp.json"
#: Weight of the optional logit-level term (TinyDemoSettings.logit_level).
LOGIT_LEVEL_WEIGHT = 0.01
#: Token-level target (TinyDemoSettings.token_weight): the class logits averaged over an answer's
#: steps should be TOKEN_TARGET_OFFSET + log((20 * gt + 1) / 24), i.e. the log of the ground truth
#: in 5 % units with one unit of smoothing, shifted to be positive (eq. 2's ratio needs z > 0).
TOKEN_TARGET_OFFSET = 4.0
SAMPLING_RATE = 16000
#: Feature window: 5 s (Qwen2-Audio uses Whisper's 30 s; synthetic clips are 1-2.5 s; longer audio
#: is truncated to the window by the runner); 500 mel frames = 2 x max_source_positions.
WINDOW_S = 5
N_MELS = 32
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>")
#: The paper's answer order for the distribution prompt (sec. 3.4.1 example); the tiny-demo lists the
#: classes from the largest share down, ties in this order.
ANSWER_ORDER = ("happiness", "neutral", "sadness", "anger")
ANSWER_WORDS = {"anger": "Anger", "happiness": "Happiness", "sadness": "Sadness", "neutral": "Neutral"}
#: The single prompt's choice words (sec. 5.2): [Happiness, Sadness, Neutral, Angry].
SINGLE_WORDS = {"anger": "Angry", "happiness": "Happiness", "sadness": "Sadness", "neutral": "Neutral"}
#: Qwen2's pre-tokenizer pattern: digits split one by one (the paper's "6", "5", "%").
_SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


@dataclass(frozen=True)
class TinyDemoSettings:
    """Everything that decides the trained model (recorded in the cache stamp)."""

    seed: int = 0
    corpus_seed: int = 1000  # the demo evaluates on seed 0: never on training data
    n_train: int = 2400
    steps: int = 800
    batch_size: int = 8
    lr: float = 2e-3
    #: Optional target for the mean raw logit at answer steps (None: off). Softmax ignores a common
    #: shift, so this only sets the logits' level (e.g. 10.0 makes eq. 2's ratio valid for the single
    #: prompt); off by default because it slightly slows learning to use the audio.
    logit_level: float | None = None
    #: Weight of the token-level term (0: off): the emotion words' class logits (eq. 1) averaged over
    #: the answer's steps are pulled towards :data:`TOKEN_TARGET_OFFSET` + log of the smoothed ground
    #: truth (mean squared error), so the token level (sec. 3.4.2) follows the audio.
    token_weight: float = 0.1
    vocab_size: int = 512
    threads: int = 1

    @classmethod
    def from_options(cls, options: dict[str, Any] | None) -> TinyDemoSettings:
        """Settings from the config's ``model.options`` (checked against :data:`TinyDemoOptions`)."""
        return cls(**parse_options(TinyDemoOptions, options))


#: The tiny-demo back-end's ``model.options`` schema: the fields, types and defaults of
#: :class:`TinyDemoSettings` (one definition), unknown keys refused.
TinyDemoOptions: type[BackendOptions] = create_model(
    "TinyDemoOptions", __base__=BackendOptions, __doc__="``model.options`` of tiny-demo: the training settings.",
    **{f.name: (hint, f.default) for f in fields(TinyDemoSettings)
       for hint in [get_type_hints(TinyDemoSettings)[f.name]]})


def versions() -> dict[str, str]:
    """Package versions that change the trained bytes (part of the stamp)."""
    return {p: importlib.metadata.version(p) for p in ("torch", "transformers", "tokenizers")}


def expected_stamp(settings: TinyDemoSettings) -> dict[str, Any]:
    return {"tiny_demo_version": TINY_DEMO_VERSION, "settings": asdict(settings), "versions": versions(),
            "window_s": WINDOW_S, "n_mels": N_MELS}


def read_stamp(model_dir: Path) -> dict[str, Any] | None:
    path = Path(model_dir) / STAMP_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stamp_matches(model_dir: Path, settings: TinyDemoSettings) -> bool:
    """True when ``model_dir`` holds a tiny-demo trained with exactly these settings and versions."""
    stamp = read_stamp(model_dir)
    if stamp is None:
        return False
    want = expected_stamp(settings)
    return all(stamp.get(k) == v for k, v in want.items())


# -- answers in the paper's format --------------------------------------------------------------
def percentages_multiple_of_5(dist: Sequence[float]) -> list[int]:
    """A distribution (EMOTIONS order) as integer percentages, multiples of 5 summing to 100
    (largest remainder; ties broken by EMOTIONS order)."""
    units = np.asarray(dist, dtype=float) / max(float(np.sum(dist)), 1e-12) * 20.0
    base = np.floor(units + 1e-9).astype(int)
    order = sorted(range(len(units)), key=lambda i: (-(units[i] - base[i]), i))
    for i in order[: 20 - int(base.sum())]:
        base[i] += 1
    return [int(5 * b) for b in base]


def distribution_answer(dist: Sequence[float]) -> str:
    """E.g. ``Neutral: 60%, Anger: 25%, Happiness: 10%, Sadness: 5%`` (sec. 3.4.1 format), the
    classes from the largest share down (ties in the paper's order, :data:`ANSWER_ORDER`), so the
    answer's first word is the majority class."""
    pct = dict(zip(EMOTIONS, percentages_multiple_of_5(dist)))
    order = sorted(ANSWER_ORDER, key=lambda e: (-pct[e], ANSWER_ORDER.index(e)))
    return ", ".join(f"{ANSWER_WORDS[e]}: {pct[e]}%" for e in order)


def token_level_target(dist: Sequence[float]) -> np.ndarray:
    """The averaged class logits (EMOTIONS order) the token-level term trains towards:
    :data:`TOKEN_TARGET_OFFSET` + log((20 * gt + 1) / 24) (positive; its softmax is the smoothed
    ground truth, its ratio ranks the classes as the ground truth does)."""
    gt = np.asarray(dist, dtype=float) / max(float(np.sum(dist)), 1e-12)
    return TOKEN_TARGET_OFFSET + np.log((20.0 * gt + 1.0) / 24.0)


def class_logit_matrix(tokenizer: Any) -> tuple[list[int], torch.Tensor]:
    """The tracked ids (paper4's emotion words, as the runner captures them) and the (T, 4) matrix
    that turns their logits into eq. 1's class values (mean over a form's pieces, then over forms)."""
    from emologits.inference.methods import token_ids_for

    class_ids, tracked = token_ids_for(tokenizer, None)
    column = {t: i for i, t in enumerate(tracked)}
    matrix = torch.zeros(len(tracked), len(EMOTIONS))
    for c, emotion in enumerate(EMOTIONS):
        forms = class_ids[emotion]
        for ids in forms:
            for t in ids:
                matrix[column[t], c] += 1.0 / (len(forms) * len(ids))
    return tracked, matrix


def single_answer(label: str) -> str:
    """The single prompt's choice word for a majority label (``anger`` -> ``Angry``)."""
    return SINGLE_WORDS[label]


# -- tokenizer, processor, model ----------------------------------------------------------------
def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE (Qwen2-style digit splitting) trained on ``texts``, wrapped for transformers."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=4096, clean_up_tokenization_spaces=False)


def build_processor(tokenizer: Any) -> Any:
    from transformers import Qwen2AudioProcessor, WhisperFeatureExtractor
    fe = WhisperFeatureExtractor(feature_size=N_MELS, sampling_rate=SAMPLING_RATE, hop_length=160,
                                 chunk_length=WINDOW_S, n_fft=400)
    return Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tokenizer)


#: Sizes of the tiny architecture (part of the recipe; TINY_DEMO_VERSION changes with them).
AUDIO_SIZES = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 4, "encoder_ffn_dim": 128}
TEXT_SIZES = {"hidden_size": 96, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2}


def build_model(tokenizer: Any, seed: int) -> Any:
    """Qwen2AudioForConditionalGeneration at a tiny size (randomly initialised from ``seed``)."""
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration
    config = Qwen2AudioConfig(
        audio_config={**AUDIO_SIZES, "num_mel_bins": N_MELS, "max_source_positions": WINDOW_S * 50},
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), **TEXT_SIZES,
                     "max_position_embeddings": 1024, "tie_word_embeddings": False,
                     "bos_token_id": None, "eos_token_id": tokenizer.eos_token_id,
                     "pad_token_id": tokenizer.pad_token_id},
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return model


# -- training data ------------------------------------------------------------------------------
def training_manifest(corpus_root: Path) -> pd.DataFrame:
    """The synthetic corpus's manifest (the data area's loader; gt_* and label columns)."""
    from emologits.data import prepare_manifest
    return prepare_manifest("synthetic", corpus_root)


def _examples(manifest: pd.DataFrame, prompts: dict[str, str]) -> list[tuple[int, str, str]]:
    """(row, prompt text, answer) for every utterance x prompt; the single prompt is skipped where
    the majority label is tied."""
    out = []
    gts = manifest[list(GT_COLUMNS)].to_numpy(float)
    for i, (gt, label) in enumerate(zip(gts, manifest["label"])):
        out.append((i, prompts["ambiguous"], distribution_answer(gt)))
        if isinstance(label, str) and label in SINGLE_WORDS:
            out.append((i, prompts["single"], single_answer(label)))
    return out


def _load_audio(path: str) -> np.ndarray:
    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != SAMPLING_RATE:
        raise ConfigError(f"{path}: synthetic training audio at {sr} Hz, expected {SAMPLING_RATE}")
    return audio.mean(axis=1)


def audio_features(processor: Any, audios: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Whisper log-mel features (padded to the window) and their frame masks, computed once."""
    enc = processor.feature_extractor(list(audios), sampling_rate=SAMPLING_RATE, padding="max_length",
                                      return_attention_mask=True, return_tensors="pt")
    return enc["input_features"], enc["attention_mask"]


def n_audio_tokens(n_frames: int) -> int:
    """Audio placeholders for ``n_frames`` mel frames (conv stride 2, then pooling 2; as the processor)."""
    return (((n_frames - 1) // 2 + 1) - 2) // 2 + 1


def _encode_example(processor: Any, chat: str, answer: str, n_frames: int) -> dict[str, torch.Tensor]:
    """One training sequence's ids (audio placeholder expanded as the processor does) and labels
    only on the answer + <|im_end|>."""
    token = processor.audio_token
    text = chat.replace(token, token * n_audio_tokens(n_frames), 1) + answer + "<|im_end|>"
    ids = torch.tensor(processor.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    n_answer = len(processor.tokenizer(answer + "<|im_end|>", add_special_tokens=False)["input_ids"])
    labels = torch.full_like(ids, -100)
    labels[-n_answer:] = ids[-n_answer:]
    return {"input_ids": ids, "labels": labels}


def _collate(examples: list[dict[str, torch.Tensor]], features: torch.Tensor, frame_mask: torch.Tensor,
             rows: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch (training only; inference is left-padded); ``rows`` index the features."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[row, :n], labels[row, :n], mask[row, :n] = e["input_ids"], e["labels"], 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "input_features": features[list(rows)], "feature_attention_mask": frame_mask[list(rows)]}


@contextlib.contextmanager
def _torch_threads(n: int):
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_tiny_demo(out_dir: str | Path, settings: TinyDemoSettings = TinyDemoSettings(), *,
                    prompts_file: str | Path | None = None, progress: bool = True) -> Path:
    """Train the tiny-demo model with ``settings`` and save model + processor + stamp to ``out_dir``
    (atomic).

    Corpus: ``write_synthetic_corpus(seed=settings.corpus_seed, n_utterances=settings.n_train)`` in a
    temporary folder (removed afterwards). Targets: the paper's two prompts (prompts/prompts.yaml,
    ``ambiguous`` and ``single``), answered from each utterance's ground truth: percentages
    (multiples of 5 summing to 100, the largest share first) and the majority label's choice word;
    with ``token_weight`` > 0 also the token-level term (:func:`token_level_target`). Seeded; CPU only."""
    from emologits.data.synthetic import write_synthetic_corpus
    from emologits.progress import progress_bar
    from emologits.prompts import load_prompts

    out_dir = Path(out_dir).expanduser().resolve()
    prompts_path = Path(prompts_file) if prompts_file else Path(__file__).resolve().parents[3] / "prompts" / "prompts.yaml"
    loaded = load_prompts(prompts_path)
    prompts = {pid: loaded[pid].text for pid in ("ambiguous", "single")}
    started = time.perf_counter()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tiny-demo-corpus-", dir=out_dir.parent) as corpus_tmp, \
            _torch_threads(settings.threads):
        corpus = write_synthetic_corpus(Path(corpus_tmp) / "corpus", n_utterances=settings.n_train,
                                        seed=settings.corpus_seed)
        manifest = training_manifest(corpus).reset_index(drop=True)
        audios = [_load_audio(p) for p in manifest["audio_path"]]
        examples = _examples(manifest, prompts)
        chat_of = {}
        # Tokenizer: trained on exactly the texts the model will read and write.
        system_free = [f"Audio 1: \n{p}" for p in prompts.values()] + ["You are a helpful assistant.", "user", "assistant", "system"]
        tokenizer = train_tokenizer(system_free * 4 + [a for _, _, a in examples], settings.vocab_size)
        processor = build_processor(tokenizer)
        model = build_model(tokenizer, settings.seed)
        from emologits.sfm.qwen2_audio import chat_text
        for p in prompts.values():
            chat_of[p] = chat_text(processor, p)
        features, frame_mask = audio_features(processor, audios)
        n_frames = frame_mask.sum(-1).tolist()
        encoded = [_encode_example(processor, chat_of[p], a, int(n_frames[r])) for r, p, a in examples]
        tracked, to_classes = class_logit_matrix(tokenizer)
        gts = manifest[list(GT_COLUMNS)].to_numpy(float)
        targets = torch.tensor(np.stack([token_level_target(gts[r]) for r, _, _ in examples]), dtype=torch.float32)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.01)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, total_steps=settings.steps,
                                                        pct_start=0.1)
        rng = np.random.default_rng(settings.seed)
        losses = []
        bar = progress_bar(settings.steps, "train tiny-demo", unit="step", enabled=progress)
        for _ in range(settings.steps):
            pick = rng.choice(len(examples), size=min(settings.batch_size, len(examples)), replace=False)
            batch = _collate([encoded[i] for i in pick], features, frame_mask, [examples[i][0] for i in pick],
                             tokenizer.pad_token_id)
            out = model(**batch)
            loss = out.loss
            if settings.logit_level is not None:
                # Softmax ignores a common shift of the logits; this term only sets their level, so
                # that eq. 2's ratio of raw class logits (paper sec. 3.4.2) sees positive values.
                predicting = batch["labels"][:, 1:] != -100
                level = out.logits[:, :-1][predicting].mean()
                loss = loss + LOGIT_LEVEL_WEIGHT * (level - settings.logit_level) ** 2
            if settings.token_weight:
                # eq. 1 per answer step, averaged over the answer's steps (the runner's "all" steps),
                # pulled towards the ground truth's log shares (token_level_target)
                predicting = (batch["labels"][:, 1:] != -100).float()
                per_step = out.logits[:, :-1, tracked] @ to_classes  # (B, L-1, 4)
                mean = (per_step * predicting[..., None]).sum(1) / predicting.sum(1, keepdim=True)
                loss = loss + settings.token_weight * ((mean - targets[pick]) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", refresh=False)
            bar.update(1)
        bar.close()
        model.eval()
        seconds = time.perf_counter() - started
        stamp = {**expected_stamp(settings), "train_seconds": round(seconds, 1),
                 "final_loss": round(float(np.mean(losses[-20:])), 4), "n_examples": len(examples),
                 "pipeline_check": True,
                 "note": "tiny-demo: a pipeline check trained on synthetic data; never the paper's numbers"}
        if out_dir.exists():
            shutil.rmtree(out_dir)  # a stale cache (its stamp did not match)
        with atomic_directory(out_dir) as tmp:
            os.chmod(tmp, 0o755)
            model.save_pretrained(tmp)
            processor.save_pretrained(tmp)
            (tmp / STAMP_FILE).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    return out_dir


def ensure_tiny_demo(out_dir: str | Path, settings: TinyDemoSettings, *, progress: bool = True) -> Path:
    """``out_dir`` holding a tiny-demo trained with ``settings``: loaded from the cache when its
    stamp matches, else trained now (one process at a time: a lock file next to ``out_dir``)."""
    out_dir = Path(out_dir).expanduser().resolve()
    if stamp_matches(out_dir, settings):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(out_dir.parent / f".{out_dir.name}.lock")):
        if not stamp_matches(out_dir, settings):
            train_tiny_demo(out_dir, settings, progress=progress)
    return out_dir
