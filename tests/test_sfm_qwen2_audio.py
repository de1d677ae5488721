"""qwen2-audio back-end on a tiny RANDOM instance of the real class, with the real Qwen2 tokenizer
(../shared) plus the audio special tokens, saved to disk and loaded through from_config."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emologits.sfm import backend_class, load_backend
from emologits.sfm.base import GenerationSettings

torch.set_num_threads(1)
AUDIO_TOKENS = ["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
PROMPT = "Predict the emotion of the audio from the choices [Happiness, Sadness, Neutral, Angry]."


@pytest.fixture(scope="module")
def tiny_checkpoint(qwen2_tokenizer, tmp_path_factory):
    from transformers import (Qwen2AudioConfig, Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor,
                              WhisperFeatureExtractor)
    tokenizer = qwen2_tokenizer
    tokenizer.add_special_tokens({"additional_special_tokens": AUDIO_TOKENS}, replace_extra_special_tokens=False)
    audio_id = tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    # A 2 s window keeps the test fast: 200 mel frames = 2 * max_source_positions.
    fe = WhisperFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, chunk_length=2, n_fft=400)
    config = Qwen2AudioConfig(
        audio_config={"d_model": 16, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
                      "num_mel_bins": 16, "max_source_positions": 100},
        text_config={"model_type": "qwen2", "vocab_size": len(tokenizer), "hidden_size": 32,
                     "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "max_position_embeddings": 512},
        audio_token_index=audio_id)
    torch.manual_seed(0)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.repetition_penalty = 1.3  # a shipped default the back-end must drop
    out = tmp_path_factory.mktemp("tiny-qwen2-audio")
    model.save_pretrained(out)
    Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tokenizer).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def backend(tiny_checkpoint):
    return load_backend({"backend": "qwen2-audio", "name_or_path": str(tiny_checkpoint), "dtype": "float32",
                         "device": "auto"}, project_root=None)


def _audios(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, int(16000 * s)).astype(np.float32) for s in np.linspace(0.4, 1.9, n)]


def test_registry_and_provenance(backend, tiny_checkpoint):
    from emologits.sfm.qwen2_audio import Qwen2AudioBackend
    assert backend_class("qwen2-audio") is Qwen2AudioBackend and isinstance(backend, Qwen2AudioBackend)
    prov = backend.provenance()
    assert prov["name_or_path"] == str(tiny_checkpoint.resolve())
    assert prov["dtype"] == "float32" and prov["device"] == "cpu"
    assert prov["ignored_checkpoint_generation_defaults"] == {"repetition_penalty": 1.3}
    assert prov["transformers"] and backend.max_audio_seconds == 2.0
    assert backend.tokenizer.padding_side == "left"


def test_chat_template_holds_audio_placeholder_then_prompt(backend):
    text = backend.chat_text(PROMPT)
    assert f"Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n{PROMPT}<|im_end|>" in text
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    inputs = backend.model_inputs(_audios(2), PROMPT)
    audio_id = backend.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    # one placeholder per pooled frame: 0.4 s = 40 frames -> 10, 1.9 s = 190 frames -> 47; left padded
    assert (inputs["input_ids"] == audio_id).sum(1).tolist() == [10, 47]
    assert inputs["attention_mask"][0, 0] == 0 and inputs["attention_mask"][:, -1].tolist() == [1, 1]


def test_generate_records_and_capture(backend):
    tracked = backend.tokenizer(" Happiness Sadness", add_special_tokens=False)["input_ids"]
    settings = GenerationSettings.from_config({"max_new_tokens": 6})
    records = backend.generate(_audios(2), PROMPT, tracked, settings)
    inputs = backend.model_inputs(_audios(2), PROMPT)
    with torch.no_grad():
        ref = backend.model.generate(**inputs, max_new_tokens=6, do_sample=False, return_dict_in_generate=True,
                                     output_logits=True)
    for row, rec in enumerate(records):
        gen = ref.sequences[row, inputs["input_ids"].shape[1]:].tolist()
        # the record runs up to and including the first eos, or all max_new_tokens steps without one
        eos_at = [j for j, t in enumerate(gen) if t in backend.eos_token_ids]
        assert len(rec.generated_token_ids) == (eos_at[0] + 1 if eos_at else 6)
        assert rec.generated_token_ids.tolist() == gen[:len(rec.generated_token_ids)]
        raw = torch.stack(ref.logits, 1)[row, :len(gen)]
        np.testing.assert_array_equal(rec.tracked_logits, raw[:len(rec.generated_token_ids)][:, tracked].numpy())
        assert rec.text == backend.tokenizer.decode(rec.generated_token_ids, skip_special_tokens=True)


def test_batch_of_8_equals_batch_of_1(backend):
    """Same tokens; tracked logits and log-sum-exp within atol 1e-4 (float32, CPU)."""
    audios = _audios(8, seed=3)
    tracked = list(range(0, 151000, 997))
    settings = GenerationSettings.from_config({"max_new_tokens": 8})
    batched = backend.generate(audios, PROMPT, tracked, settings)
    for audio, rec in zip(audios, batched):
        (single,) = backend.generate([audio], PROMPT, tracked, settings)
        assert rec.generated_token_ids.tolist() == single.generated_token_ids.tolist()
        np.testing.assert_allclose(rec.tracked_logits, single.tracked_logits, rtol=0, atol=1e-4)
        np.testing.assert_allclose(rec.logsumexp, single.logsumexp, rtol=0, atol=1e-4)
    # different audio gives different logits (the LLM sees the audio)
    assert not np.allclose(batched[0].tracked_logits[0], batched[7].tracked_logits[0])


def test_score_equals_full_forward(backend):
    audio = _audios(1, seed=5)[0]
    conts = ["Happiness", "Neutral", "Angry"]
    scores = backend.score(audio, PROMPT, conts)
    prefix = backend.model_inputs([audio], PROMPT)
    for cont, got in zip(conts, scores):
        ids = backend.tokenizer(cont, add_special_tokens=False)["input_ids"]
        assert len(got) == len(ids)
        full = dict(prefix)
        full["input_ids"] = torch.cat([prefix["input_ids"], torch.tensor([ids])], 1)
        full["attention_mask"] = torch.ones_like(full["input_ids"])
        with torch.no_grad():
            logp = torch.log_softmax(backend.model(**full).logits[0].float(), -1)
        n = prefix["input_ids"].shape[1]
        expected = logp[torch.arange(n - 1, n - 1 + len(ids)), torch.tensor(ids)].numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


def test_missing_checkpoint_is_a_config_error(tmp_path):
    from emologits.errors import ConfigError
    with pytest.raises(ConfigError, match="cannot load"):
        load_backend({"backend": "qwen2-audio", "name_or_path": str(tmp_path / "nope"), "device": "cpu"})


def test_a_seed_in_model_options_points_to_generation_seed(tmp_path):
    from emologits.errors import ConfigError
    with pytest.raises(ConfigError, match=r"model\.options\.seed: unknown key: .*use generation\.seed"):
        load_backend({"backend": "qwen2-audio", "name_or_path": str(tmp_path), "device": "cpu",
                      "options": {"seed": 0}})


def test_score_batch_equals_per_utterance_score(backend):
    """One left-padded prefix pass + one pass for every utterance x multi-token continuation gives
    each utterance's own scores (float32, atol 1e-4)."""
    audios = _audios(4, seed=6)  # 0.4-1.9 s: different amounts of left padding
    conts = ["Anger", "Happiness", "Sadness", "Neutral", "Angry"]
    lengths = [len(backend.tokenizer(c, add_special_tokens=False)["input_ids"]) for c in conts]
    assert max(lengths) > 1 and min(lengths) == 1  # both passes are exercised
    batched = backend.score_batch(audios, PROMPT, conts)
    assert len(batched) == 4
    for audio, row in zip(audios, batched):
        single = backend.score(audio, PROMPT, conts)
        assert [len(s) for s in row] == lengths
        for a, b in zip(single, row):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)
    assert not np.allclose(batched[0][0], batched[3][0])  # the scores depend on the audio


def test_checkpoint_generation_defaults_are_dropped_however_the_backend_is_built(tiny_checkpoint):
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration
    from emologits.sfm.qwen2_audio import Qwen2AudioBackend
    model = Qwen2AudioForConditionalGeneration.from_pretrained(tiny_checkpoint)
    assert model.generation_config.repetition_penalty == 1.3
    direct = Qwen2AudioBackend(model, AutoProcessor.from_pretrained(tiny_checkpoint), name_or_path="x",
                               revision=None, device="cpu")
    assert direct.provenance()["ignored_checkpoint_generation_defaults"] == {"repetition_penalty": 1.3}
    assert model.generation_config.repetition_penalty in (None, 1.0)
    assert model.generation_config.eos_token_id == direct.tokenizer.convert_tokens_to_ids("<|im_end|>")
