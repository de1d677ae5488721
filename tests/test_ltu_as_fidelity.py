"""ltu-as: what the release does that the back-end must reproduce (transcripts, tokenizer, TLTR
attention, answer text, manifest transcripts).

Transcript rules run on a tiny Whisper whose logits are scripted: the encoder returns a marker (the
window's first feature value) and the decoder's logits follow a per-window script, so every rule of
whisper-at ``transcribe`` (timestamps, temperature fallback on the text's compression ratio and on
the average log-prob, the no-speech skip, 224 tokens per window, 30-s windows over the whole clip)
is exercised through transformers' own ``generate`` options.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from types import MethodType

import numpy as np
import pytest
import torch
from transformers.modeling_outputs import BaseModelOutput

from emologits.errors import ConfigError, DataError
from emologits.sfm.base import GenerationSettings
from emologits.sfm.ltu_as import (LtuAsBackend, load_llama_tokenizer, release_answer_text, release_transcribe,
                                  text_compression_ratio, use_release_fallback_rule)
from emologits.sfm.ltu_as_modules import BlockAttention
from test_ltu_as import (EOT, LANG_EN, NO_SPEECH, PREV_SOT, SOT, TIMESTAMP_BEGIN, TRANSCRIBE, WHISPER_VOCAB,
                         audio, tiny_whisper, whisper_text)

LOW, HIGH = -30.0, 20.0


def ts(seconds: float) -> int:
    return TIMESTAMP_BEGIN + round(seconds / 0.02)


@dataclass
class Attempt:
    """One decoding of a window: the tokens it emits (then EOS), and how sure the model is."""
    tokens: list[int]
    sure: bool = True


@dataclass
class Window:
    attempts: list[Attempt]
    no_speech: bool = False  # <|nospeech|> probability ~0.88 at SOT (else ~0)
    starts: int = 0  # decodings begun so far (the fallback count)
    prefixes: list[list[int]] = field(default_factory=list)


def scripted_whisper(windows: dict[int, Window]):
    """Tiny Whisper whose encoder output is the window's marker and whose logits follow ``windows``
    (no KV cache, so every forward sees the whole decoder prefix)."""
    model = tiny_whisper()
    d_model = model.config.d_model

    def encode(self, input_features, **kw):
        marker = input_features[:, 0, 0].float()
        return BaseModelOutput(last_hidden_state=marker[:, None, None].expand(-1, 1500, d_model).contiguous())

    model.model.encoder.forward = MethodType(encode, model.model.encoder)
    real_forward = model.forward

    def step_logits(window: Window, prefix: list[int], generating: bool) -> torch.Tensor:
        logits = torch.full((WHISPER_VOCAB,), LOW)
        if prefix[-1] == SOT:  # language / no-speech position
            logits[LANG_EN] = 10.0
            if window.no_speech:
                logits[NO_SPEECH] = 12.0
            return logits
        if TRANSCRIBE not in prefix:  # the language position (and a prompt's): not read
            return logits
        start = len(prefix) - 1 - prefix[::-1].index(TRANSCRIBE)
        done = prefix[start + 1:]
        if not done and generating:
            window.starts += 1
            window.prefixes.append(prefix)
        attempt = window.attempts[min(window.starts, len(window.attempts)) - 1]
        target = attempt.tokens[len(done)] if len(done) < len(attempt.tokens) else EOT
        if attempt.sure:
            logits[target] = HIGH
        else:  # the target leads all text tokens by 0.2: average log-prob about -3.7
            logits[:50] = -0.2
            logits[EOT] = -0.2
            logits[target] = 0.0
        return logits

    def forward(self, *args, decoder_input_ids=None, encoder_outputs=None, input_features=None, **kw):
        out = real_forward(*args, decoder_input_ids=decoder_input_ids, encoder_outputs=encoder_outputs,
                           input_features=input_features, **kw)
        hidden = (encoder_outputs[0] if encoder_outputs is not None
                  else self.model.encoder(input_features).last_hidden_state)
        rows = []
        for b in range(decoder_input_ids.shape[0]):
            window = windows[int(round(float(hidden[b, 0, 0])))]
            ids = decoder_input_ids[b].tolist()
            rows.append(torch.stack([step_logits(window, ids[:t + 1], generating=encoder_outputs is not None
                                                 and t == len(ids) - 1) for t in range(len(ids))]))
        out.logits = torch.stack(rows)
        return out

    model.forward = MethodType(forward, model)
    use_release_fallback_rule(model, whisper_text)
    return model


class MarkerFeatures:
    """A feature extractor stand-in: log-mel frames whose value is the 30-s window index."""
    n_samples = 480000

    def __init__(self, frames: int, first: int = 0):
        self.frames, self.first = frames, first

    def __call__(self, clip, **kw):
        feats = torch.zeros(1, 80, self.frames if self.frames > 3000 else 3000)
        for k in range(0, self.frames, 3000):
            feats[..., k:] = self.first + k // 3000
        return {"input_features": feats}


def transcribe(windows: dict[int, Window], seconds: float = 5.0, first: int = 0, **kw) -> str:
    model = scripted_whisper(windows)
    frames = int(seconds * 100)
    clip = np.zeros(frames * 160, dtype=np.float32)
    return release_transcribe(model, MarkerFeatures(frames, first), clip, whisper_text, use_cache=False, **kw)


HELLO = [7, 4, 11, 11, 14]  # "hello"
WORLD = [22, 14, 17, 11, 3]  # "world"


def speech(text: list[int], end: float = 2.0) -> list[int]:
    return [ts(0.0), *text, ts(end)]


# --- 1. transcripts: whisper-at transcribe's rules --------------------------------------------------

def test_timestamps_are_decoded_and_dropped_from_the_text():
    window = Window([Attempt(speech(HELLO))])
    assert transcribe({0: window}) == "hello"
    assert window.starts == 1
    assert window.prefixes[0] == [SOT, LANG_EN, TRANSCRIBE]  # language detected, no <|notimestamps|>


def test_compression_ratio_of_the_text_triggers_fallback():
    """The repeated text compresses by > 2.4 (openai-whisper's measure on the text's bytes; its token
    ids alone, 12 two-byte ids, would not): decoded again at temperature 0.2."""
    repeated = [3] * 10
    assert text_compression_ratio(whisper_text(repeated)) <= 2.4 < text_compression_ratio(whisper_text(repeated * 3))
    window = Window([Attempt(speech(repeated * 3)), Attempt(speech(HELLO))])
    assert transcribe({0: window}) == "hello"
    assert window.starts == 2


def test_low_average_logprob_triggers_fallback_and_keeps_the_last_try():
    window = Window([Attempt(speech(WORLD), sure=False), Attempt(speech(HELLO))])
    assert transcribe({0: window}) == "hello" and window.starts == 2
    # every temperature fails (too repetitive): the last (t = 1.0) decoding is kept
    failing = Window([Attempt(speech([3] * 30))] * 5 + [Attempt(speech([4] * 30))])
    assert transcribe({0: failing}) == "e" * 30 and failing.starts == 6


def test_no_speech_with_low_logprob_gives_empty_text_and_no_fallback():
    silent = Window([Attempt(speech([24, 0, 1, 2, 3]), sure=False), Attempt(speech(HELLO))], no_speech=True)
    assert transcribe({0: silent}) == ""  # the prompt then takes its no-input form
    assert silent.starts == 1
    # a confident decoding is kept despite the no-speech probability…
    sure = Window([Attempt(speech(HELLO))], no_speech=True)
    assert transcribe({0: sure}) == "hello"
    # …and "silence" stops the fallback (openai-whisper), even for too repetitive text
    repeated = Window([Attempt(speech([3] * 30)), Attempt(speech(HELLO))], no_speech=True)
    assert transcribe({0: repeated}) == "d" * 30 and repeated.starts == 1


def test_at_most_224_tokens_per_window():
    rng = random.Random(0)
    endless = [ts(0.0)] + [rng.randrange(50) for _ in range(400)]
    window = Window([Attempt(endless)])
    assert len(transcribe({0: window})) == 223  # 224 tokens: <|0.00|> + 223 text tokens
    assert window.starts == 1
    assert len(transcribe({0: Window([Attempt(endless)])}, max_new_tokens=128)) == 127


def test_the_whole_clip_is_transcribed_in_30_s_windows_conditioned_on_the_previous_text():
    windows = {0: Window([Attempt([ts(0.0), *HELLO, ts(30.0)])]),
               1: Window([Attempt([ts(0.0), *WORLD, ts(30.0)])]),
               2: Window([Attempt(speech([0, 1, 2]))])}
    assert transcribe(windows, seconds=70.0) == "helloworldabc"
    assert [w.starts for w in windows.values()] == [1, 1, 1]
    second = windows[1].prefixes[0]
    assert second[0] == PREV_SOT and second[-3:] == [SOT, LANG_EN, TRANSCRIBE]
    assert HELLO == [t for t in second if t < 50]  # the first window's text is the prompt


def test_backend_transcribes_clip_by_clip_so_a_silent_clip_stays_empty():
    """transformers' batched fallback writes skip flags at the shrunken batch's positions; clip by
    clip, the silent clip next to one that falls back stays empty."""
    from transformers import WhisperFeatureExtractor
    fe = WhisperFeatureExtractor()
    clips = [np.zeros(16000, dtype=np.float32), audio(31, 1.0)]
    marks = [float(fe(c, sampling_rate=16000, return_tensors="pt")["input_features"][0, 0, 0]) for c in clips]
    windows = {0: Window([Attempt(speech([24, 0, 1, 2, 3]), sure=False)], no_speech=True),
               1: Window([Attempt(speech(WORLD), sure=False), Attempt(speech(HELLO))])}

    class Marked:  # the real features, first value replaced by the clip's marker
        n_samples = fe.n_samples

        def __call__(self, clip, **kw):
            feats = fe(clip, **kw)["input_features"].clone()
            feats[0, 0, 0] = min(range(2), key=lambda i: abs(marks[i] - float(feats[0, 0, 0])))
            return {"input_features": feats}

    assert marks[0] != marks[1]
    model = scripted_whisper(windows)
    ltu = LtuAsBackend.__new__(LtuAsBackend)
    ltu.transcript_mode, ltu._transcripts, ltu.sampling_rate = "whisper", {}, 16000
    ltu.asr_model, ltu.asr_feature_extractor, ltu.asr_decode, ltu.asr_max_new_tokens = model, Marked(), whisper_text, 224
    import emologits.sfm.ltu_as as ltu_module
    real = ltu_module.release_transcribe
    ltu_module.release_transcribe = lambda *a, **kw: real(*a, use_cache=False, **kw)
    try:
        assert ltu.transcribe(clips) == ["", "hello"]
    finally:
        ltu_module.release_transcribe = real


# --- 2./3. tokenizer ---------------------------------------------------------------------------------

@pytest.fixture
def llama_folders(tmp_path):
    from conftest import LLAMA_TOKENIZER
    model_file = LLAMA_TOKENIZER / "tokenizer.model"
    if not model_file.exists():
        pytest.skip(f"needs {model_file} (real tokenizer in ../shared; absent on this machine)")
    configs = {"llama": '{"tokenizer_class": "LlamaTokenizer"}',
               # the decapoda-research / early Vicuna folders' config (transformers 5.x: RecursionError)
               "old_name": '{"bos_token": "", "eos_token": "", "model_max_length": 1e30, '
                           '"tokenizer_class": "LLaMATokenizer", "unk_token": ""}'}
    folders = {}
    for name, config in configs.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "tokenizer.model").symlink_to(model_file)
        (folder / "tokenizer_config.json").write_text(config)
        (folder / "special_tokens_map.json").write_text("{}")
        folders[name] = folder
    return model_file, folders


def random_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    pieces = list("ab.,?!'Zé👍\n\t") + [" ", "  ", "   ", "    ", "Okay", "Yeah.", "\u3000", "\u00a0", "ﬁ", "1"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))) for _ in range(n)]


def test_tokenizer_encodes_as_sentencepiece_for_every_folder_config(llama_folders):
    import sentencepiece as spm
    from transformers import AutoTokenizer
    model_file, folders = llama_folders
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    texts = ["Yeah.  Okay.", "  leading", "x\n\n  y", "trailing  "] + random_texts(1500)
    # what transformers itself does with these folders (why the loader ignores their config)
    auto = AutoTokenizer.from_pretrained(str(folders["llama"]))
    assert auto.encode("Yeah.  Okay.", add_special_tokens=False) != sp.encode("Yeah.  Okay.")
    with pytest.raises(RecursionError):
        AutoTokenizer.from_pretrained(str(folders["old_name"]))
    for folder in folders.values():
        tok = load_llama_tokenizer(folder)
        assert tok.convert_ids_to_tokens(tok.encode("Yeah.  Okay.", add_special_tokens=False)) == [
            "▁Yeah", ".", "▁", "▁Okay", "."]
        bad = [t for t in texts if tok.encode(t, add_special_tokens=False) != sp.encode(t)]
        assert bad == []
        assert (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (1, 2, 0)


def test_tokenizer_folder_without_sentencepiece_model_fails_naming_the_file(tmp_path):
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "LLaMATokenizer"}')
    with pytest.raises(ConfigError, match=r"model.options.llama: .* has no tokenizer.model"):
        load_llama_tokenizer(tmp_path)
    (tmp_path / "tokenizer.model").write_bytes(b"not a sentencepiece model")
    with pytest.raises(ConfigError, match=r"cannot read .*tokenizer.model as a SentencePiece model"):
        load_llama_tokenizer(tmp_path)


def test_backend_prompt_ids_equal_sentencepiece_with_double_spaces(llama_folders):
    import sentencepiece as spm
    from test_ltu_as import build_model
    from transformers import WhisperFeatureExtractor
    model_file, folders = llama_folders
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    ltu = LtuAsBackend(build_model(), load_llama_tokenizer(folders["llama"]), WhisperFeatureExtractor(),
                       transcript="none")
    from emologits.sfm.ltu_as_modules import build_prompt
    transcript = "Yeah.  Okay.   I  mean it."
    assert ltu.prompt_ids("Q?", transcript) == [1] + sp.encode(build_prompt("Q?", transcript))


# --- 4. TLTR attention numerics -----------------------------------------------------------------

def test_tltr_attention_scales_q_and_k_before_the_product_without_fp16_overflow():
    """q.k over 64 dims of magnitude 40 is 102,400 (> fp16's 65,504); scaled by 64^-1/4 each, it is
    12,800, so the fp16 attention stays finite and equals the float64 result."""
    torch.manual_seed(0)
    attn = BlockAttention(64, 1)
    with torch.no_grad():
        for lin in (attn.query, attn.key, attn.value, attn.out):
            lin.weight.copy_(torch.eye(64))
            if lin.bias is not None:
                lin.bias.zero_()
    x = torch.full((1, 3, 64), 40.0)
    x[0, 1] *= -1
    ref = attn.double()(x.double())
    out = attn.half()(x.half())
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), ref, atol=0.05, rtol=1e-3)


# --- 5. answer text -----------------------------------------------------------------------------

def test_answer_text_cuts_the_last_four_characters_without_eos_as_the_release():
    decode = lambda ids: "".join(chr(96 + i) for i in ids)  # noqa: E731  1 -> 'a'
    assert release_answer_text([8, 9, 2], lambda ids: decode([i for i in ids if i != 2])) == "hi"
    assert release_answer_text([19, 1, 4, 14, 5, 19, 19], decode) == "sad"  # "sadness" hit the limit
    assert release_answer_text([1, 2], decode) == "a" and release_answer_text([], decode) == ""


def test_generated_text_is_the_release_answer(backend_no_asr):
    """generate's text: the decoded answer when it ends with EOS, minus 4 characters when it stops
    at max_new_tokens (the tiny model never emits EOS)."""
    clip = audio(3, 2.0)
    rec = backend_no_asr.generate([clip], "Describe.", [100], GenerationSettings(max_new_tokens=6),
                                  transcripts=["fine"])[0]
    ids = rec.generated_token_ids.tolist()
    assert 2 not in ids and len(ids) == 6
    full = backend_no_asr.tokenizer.decode(ids, skip_special_tokens=True)
    assert rec.text == full[:-4].strip() and rec.text != full.strip()


@pytest.fixture
def backend_no_asr(llama_tokenizer):
    from test_ltu_as import build_model
    from transformers import WhisperFeatureExtractor
    return LtuAsBackend(build_model(), llama_tokenizer, WhisperFeatureExtractor(), transcript="manifest")


# --- 6. manifest transcripts --------------------------------------------------------------------

def test_manifest_transcripts_are_used_and_required(backend_no_asr):
    ltu = backend_no_asr
    assert ltu.manifest_transcript_column == "transcript"
    assert ltu.provenance()["transcript"] == "manifest"
    assert ltu.provenance()["transcript_column"] == "transcript"
    clips = [audio(1, 1.0), audio(2, 1.5)]
    settings = GenerationSettings(max_new_tokens=2)
    with pytest.raises(DataError, match="'transcript' column as transcripts="):
        ltu.generate(clips, "Q?", [100], settings)
    given = ltu.model_inputs(clips, "Q?", [" Excuse me. ", float("nan")])
    expected = ltu.model_inputs(clips, "Q?", ["Excuse me.", ""])
    assert torch.equal(given["input_ids"], expected["input_ids"])
    assert ltu.prompt_ids("Q?", "") == [1] + ltu.tokenizer.encode("### Instruction:\nQ?\n\n### Response:\n",
                                                                  add_special_tokens=False)
    assert len(ltu.generate(clips, "Q?", [100], settings, transcripts=["Excuse me.", ""])) == 2



def test_the_runner_passes_manifest_transcripts_and_requires_the_column(backend_no_asr, tmp_path, monkeypatch):
    """``transcript: manifest`` through ``run_inference``: each utterance's manifest transcript reaches
    the back-end (same records as calling it directly), and a manifest without the column is refused."""
    import pandas as pd

    from emologits.config import load_config
    from emologits.errors import DataError as RunDataError
    from emologits.inference import load_records, run_inference
    from emologits.prompts import get_prompt
    from emologits.verbalizer import tracked_token_ids
    from fake_backend import make_project

    cfg = load_config(make_project(tmp_path, n=3, batch_size=2, generation={"max_new_tokens": 3}))
    manifest = pd.read_parquet(cfg.run_dir / "manifest.parquet")
    with pytest.raises(RunDataError, match=r"reads the manifest column\(s\) \['transcript'\]"):
        run_inference(cfg, "ambiguous", backend=backend_no_asr, manifest=manifest, progress=False)
    seen = []
    original = backend_no_asr.generate
    monkeypatch.setattr(backend_no_asr, "generate", lambda *a, transcripts=None, **k: (
        seen.extend(transcripts), original(*a, transcripts=transcripts, **k))[1])
    manifest["transcript"] = ["Excuse me.", None, "Fine."]
    run_inference(cfg, "ambiguous", backend=backend_no_asr, manifest=manifest, progress=False)
    assert seen == ["Excuse me.", None, "Fine."]
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert info["model"]["transcript"] == "manifest" and (records["status"] == "ok").all()
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), "ambiguous")
    tracked = tracked_token_ids(backend_no_asr.tokenizer)
    from emologits.audio import load_audio
    clip, _ = load_audio(tmp_path / "audio" / "u002.wav", backend_no_asr.sampling_rate, None)
    [direct] = original([clip], prompt.text, tracked, GenerationSettings(max_new_tokens=3), transcripts=["Fine."])
    assert records.iloc[2]["text"] == direct.text
    assert records.iloc[2]["generated_token_ids"].tolist() == direct.generated_token_ids.tolist()
