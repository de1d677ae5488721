"""ltu-as back-end on a tiny instance with the release's module structure.

Tiny Whisper (transformers' WhisperConfig) + tiny LLaMA (LlamaConfig, the real 32k vocabulary) +
the same TLTR / projection / LoRA (peft) wiring; checkpoints written in the ORIGINAL's key layout.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from emologits.errors import ConfigError
from emologits.sfm.base import GenerationSettings
from emologits.sfm.ltu_as import LtuAsBackend, finish_model_dtype, read_checkpoint
from emologits.sfm.ltu_as_modules import (LORA_SETTINGS, LtuAsModel, TimeLayerTransformer, build_prompt,
                                          clean_transcript, load_release_checkpoint, map_checkpoint_keys,
                                          pool_time, whisper_block_states)

N_LLM_LAYERS = 2
# The release checkpoint's keys (PeftModel names filtered by 'lora' or 'audio'), written out for the
# tiny model's two LLaMA layers. The real file has the same names for 32 layers.
ORIGINAL_AUDIO_KEYS = [
    "base_model.model.model.audio_encoder.time_tr.attn.query.weight",
    "base_model.model.model.audio_encoder.time_tr.attn.query.bias",
    "base_model.model.model.audio_encoder.time_tr.attn.key.weight",
    "base_model.model.model.audio_encoder.time_tr.attn.value.weight",
    "base_model.model.model.audio_encoder.time_tr.attn.value.bias",
    "base_model.model.model.audio_encoder.time_tr.attn.out.weight",
    "base_model.model.model.audio_encoder.time_tr.attn.out.bias",
    "base_model.model.model.audio_encoder.time_tr.attn_ln.weight",
    "base_model.model.model.audio_encoder.time_tr.attn_ln.bias",
    "base_model.model.model.audio_encoder.time_tr.mlp.0.weight",
    "base_model.model.model.audio_encoder.time_tr.mlp.0.bias",
    "base_model.model.model.audio_encoder.time_tr.mlp.2.weight",
    "base_model.model.model.audio_encoder.time_tr.mlp.2.bias",
    "base_model.model.model.audio_encoder.time_tr.mlp_ln.weight",
    "base_model.model.model.audio_encoder.time_tr.mlp_ln.bias",
    "base_model.model.model.audio_encoder.layer_tr.attn.query.weight",
    "base_model.model.model.audio_encoder.layer_tr.attn.query.bias",
    "base_model.model.model.audio_encoder.layer_tr.attn.key.weight",
    "base_model.model.model.audio_encoder.layer_tr.attn.value.weight",
    "base_model.model.model.audio_encoder.layer_tr.attn.value.bias",
    "base_model.model.model.audio_encoder.layer_tr.attn.out.weight",
    "base_model.model.model.audio_encoder.layer_tr.attn.out.bias",
    "base_model.model.model.audio_encoder.layer_tr.attn_ln.weight",
    "base_model.model.model.audio_encoder.layer_tr.attn_ln.bias",
    "base_model.model.model.audio_encoder.layer_tr.mlp.0.weight",
    "base_model.model.model.audio_encoder.layer_tr.mlp.0.bias",
    "base_model.model.model.audio_encoder.layer_tr.mlp.2.weight",
    "base_model.model.model.audio_encoder.layer_tr.mlp.2.bias",
    "base_model.model.model.audio_encoder.layer_tr.mlp_ln.weight",
    "base_model.model.model.audio_encoder.layer_tr.mlp_ln.bias",
    "base_model.model.model.audio_proj.1.weight",
    "base_model.model.model.audio_proj.1.bias",
]
ORIGINAL_LORA_KEYS = [
    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight",
    "base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight",
    "base_model.model.model.layers.0.self_attn.v_proj.lora_A.default.weight",
    "base_model.model.model.layers.0.self_attn.v_proj.lora_B.default.weight",
    "base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight",
    "base_model.model.model.layers.1.self_attn.q_proj.lora_B.default.weight",
    "base_model.model.model.layers.1.self_attn.v_proj.lora_A.default.weight",
    "base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight",
]
ORIGINAL_KEYS = ORIGINAL_AUDIO_KEYS + ORIGINAL_LORA_KEYS


# Tiny Whisper vocabulary laid out as the real one: text tokens, then the special tokens, then the
# 1,501 timestamps <|0.00|>..<|30.00|> (0.02 s steps).
N_TEXT, EOT, SOT, LANG_EN, LANG_DE, TRANSLATE, TRANSCRIBE, PREV_SOT, NO_SPEECH, NO_TIMESTAMPS = range(50, 60)
TIMESTAMP_BEGIN = NO_TIMESTAMPS + 1
WHISPER_VOCAB = TIMESTAMP_BEGIN + 1501


def whisper_text(ids) -> str:
    """The tiny Whisper's 'tokenizer': text ids 0..49 -> letters; special and timestamp ids dropped."""
    return "".join(chr(97 + i % 26) for i in ids if i < N_TEXT)


def tiny_whisper():
    """A tiny multilingual Whisper whose generation config carries what timestamp decoding, language
    detection, conditioning and the no-speech rule need (as the released generation configs do)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    cfg = WhisperConfig(vocab_size=WHISPER_VOCAB, num_mel_bins=80, d_model=64, encoder_layers=4,
                        encoder_attention_heads=4, decoder_layers=2, decoder_attention_heads=4, encoder_ffn_dim=128,
                        decoder_ffn_dim=128, max_source_positions=1500, max_target_positions=448,
                        pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT, decoder_start_token_id=SOT,
                        begin_suppress_tokens=None, suppress_tokens=None)
    model = WhisperForConditionalGeneration(cfg).eval()
    gen = model.generation_config
    gen.decoder_start_token_id, gen.eos_token_id, gen.pad_token_id = SOT, EOT, EOT
    gen.no_timestamps_token_id, gen.prev_sot_token_id, gen.max_initial_timestamp_index = NO_TIMESTAMPS, PREV_SOT, 50
    gen.is_multilingual = True
    gen.lang_to_id = {"<|en|>": LANG_EN, "<|de|>": LANG_DE}
    gen.task_to_id = {"translate": TRANSLATE, "transcribe": TRANSCRIBE}
    gen.suppress_tokens = gen.begin_suppress_tokens = gen.forced_decoder_ids = None
    return model


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=N_LLM_LAYERS,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                      pad_token_id=0, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    return LlamaForCausalLM(cfg).eval()


def original_checkpoint(seed: int = 1) -> dict[str, torch.Tensor]:
    """Random values under the original's key names, shaped like the tiny model's parameters."""
    net = build_model(seed=0)
    params = dict(net.named_parameters())
    mapping, unmappable = map_checkpoint_keys(ORIGINAL_KEYS)
    assert not unmappable
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(params[mapping[k]].shape, generator=gen) * 0.2 for k in ORIGINAL_KEYS}


def build_model_and_whisper(seed: int = 0):
    """The tiny LtuAsModel and the Whisper encoder-decoder whose encoder it uses (the ASR model)."""
    from peft import LoraConfig, get_peft_model
    torch.manual_seed(seed)
    whisper = tiny_whisper()
    llm = get_peft_model(tiny_llama(), LoraConfig(**LORA_SETTINGS))
    return LtuAsModel(whisper.model.encoder, llm), whisper


def build_model(seed: int = 0) -> LtuAsModel:
    return build_model_and_whisper(seed)[0]


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "ltuas_tiny.bin"
    torch.save(original_checkpoint(), path)
    return path


@pytest.fixture(scope="module")
def backend(llama_tokenizer, checkpoint_file):
    net, asr = build_model_and_whisper()
    load_release_checkpoint(net, read_checkpoint(checkpoint_file), checkpoint_file)
    net = finish_model_dtype(net, torch.float32)
    from transformers import WhisperFeatureExtractor
    return LtuAsBackend(net, llama_tokenizer, WhisperFeatureExtractor(), asr_model=asr,
                        asr_decode=whisper_text, asr_max_new_tokens=6)


def audio(seed: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


# --- key mapping / strict loading ---------------------------------------------------------------

def test_original_keys_map_onto_exactly_the_checkpoint_held_parameters():
    net = build_model()
    mapping, unmappable = map_checkpoint_keys(ORIGINAL_KEYS)
    assert unmappable == []
    assert mapping["base_model.model.model.audio_proj.1.weight"] == "audio_proj.1.weight"
    assert mapping["base_model.model.model.audio_encoder.layer_tr.mlp.2.bias"] == "audio_encoder.layer_tr.mlp.2.bias"
    assert (mapping["base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight"]
            == "llm.base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight")
    held = {n for n, _ in net.named_parameters() if n.startswith(("audio_encoder.", "audio_proj.")) or ".lora_" in n}
    assert set(mapping.values()) == held
    assert len(held) == 30 + 2 + 4 * N_LLM_LAYERS
    # other peft versions drop the adapter name: same target
    alt, _ = map_checkpoint_keys(["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"])
    assert list(alt.values()) == ["llm.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"]


def test_checkpoint_loads_back_strictly_with_values_in_place(checkpoint_file):
    state = read_checkpoint(checkpoint_file)
    net = build_model()
    load_release_checkpoint(net, state, checkpoint_file)
    params = dict(net.named_parameters())
    mapping, _ = map_checkpoint_keys(list(state))
    for original, ours in mapping.items():
        assert torch.equal(params[ours].detach(), state[original]), original
    # LoRA B is zero at init: after loading it is not, so the adapters are active
    assert params["llm.base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight"].abs().sum() > 0


@pytest.mark.parametrize("corruption, message", [
    ("extra", "unexpected key(s): base_model.model.model.audio_encoder.extra_tr.weight"),
    ("missing", "missing key(s) (ours): audio_encoder.time_tr.attn.key.weight"),
    ("foreign", "unexpected key(s): base_model.model.lm_head.weight"),
    ("shape", "shape mismatch(es): base_model.model.model.audio_proj.1.bias"),
])
def test_corrupted_checkpoint_fails_naming_file_and_keys(tmp_path, corruption, message):
    state = original_checkpoint()
    if corruption == "extra":
        state["base_model.model.model.audio_encoder.extra_tr.weight"] = torch.zeros(3)
    elif corruption == "missing":
        del state["base_model.model.model.audio_encoder.time_tr.attn.key.weight"]
    elif corruption == "foreign":
        state["base_model.model.lm_head.weight"] = torch.zeros(3)
    else:
        state["base_model.model.model.audio_proj.1.bias"] = torch.zeros(7)
    path = tmp_path / "bad.bin"
    torch.save(state, path)
    with pytest.raises(ConfigError) as err:
        load_release_checkpoint(build_model(), read_checkpoint(path), path)
    assert str(path) in str(err.value) and message in str(err.value)


# --- audio branch -------------------------------------------------------------------------------

def test_block_states_are_every_layer_output_before_final_norm():
    encoder = tiny_whisper().model.encoder
    mel = torch.randn(1, 80, 3000)
    with torch.no_grad():
        ours = whisper_block_states(encoder, mel)
        ref = encoder(mel, output_hidden_states=True)
    assert ours.shape == (1, 4, 1500, 64)
    # transformers 5.x: hidden_states = (embeddings, block 1..n-1 outputs, final output AFTER the
    # final layer norm); the release wants block n's output before that norm, which we return.
    hidden = ref.hidden_states
    assert len(hidden) == 5
    for i in range(3):
        torch.testing.assert_close(ours[:, i], hidden[i + 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(encoder.layer_norm(ours[:, 3]), hidden[4], atol=1e-5, rtol=1e-5)
    assert (ours[:, 3] - hidden[4]).abs().max() > 0.1
    torch.testing.assert_close(encoder.layer_norm(ours[:, -1]), ref.last_hidden_state, atol=1e-5, rtol=1e-5)
    # a 1,000-frame window (the release's 10 s) gives 500 frames, positions 0..499
    with torch.no_grad():
        assert whisper_block_states(encoder, mel[..., :1000]).shape == (1, 4, 500, 64)


def test_pool_time_and_tltr_shapes_and_structure():
    states = torch.randn(2, 4, 500, 64)
    pooled = pool_time(states)
    assert pooled.shape == (2, 4, 25, 64)
    torch.testing.assert_close(pooled[1, 2, 3], states[1, 2, 60:80].mean(dim=0))
    torch.manual_seed(0)
    tltr = TimeLayerTransformer(64).eval()
    with torch.no_grad():
        out = tltr(pooled)
        # layers have no positional code: permuting them leaves the result unchanged…
        torch.testing.assert_close(tltr(pooled[:, [3, 1, 0, 2]]), out, atol=1e-5, rtol=1e-5)
        # …while the batch rows are independent
        torch.testing.assert_close(tltr(pooled[1:]), out[1:], atol=1e-5, rtol=1e-5)
    assert out.shape == (2, 25, 64)
    assert tltr.time_tr.attn.heads == 1 and tltr.layer_tr.attn.heads == 8


def test_log_mel_window_is_1000_frames_zero_padded(backend):
    short = backend.log_mel(audio(0, 3.0))
    assert short.shape == (80, 1000)
    assert torch.all(short[:, 300:] == 0) and short[:, :300].abs().sum() > 0
    long = backend.log_mel(audio(0, 14.0))
    assert long.shape == (80, 1000) and long[:, 999].abs().sum() > 0


# --- prompt, placement, masks -------------------------------------------------------------------

def test_prompt_template_and_ids_match_sentencepiece(backend, llama_tokenizer):
    import sentencepiece as spm
    from conftest import LLAMA_TOKENIZER
    text = build_prompt("Predict the emotion.", "i am fine")
    assert text == "### Instruction:\nPredict the emotion.\n\n### Input:\ni am fine\n\n### Response:\n"
    assert build_prompt("Q?", "") == "### Instruction:\nQ?\n\n### Response:\n"
    sp = spm.SentencePieceProcessor(model_file=str(LLAMA_TOKENIZER / "tokenizer.model"))
    ids = backend.prompt_ids("Predict the emotion.", "i am fine")
    assert ids == [1] + sp.encode(text) and ids[-1] == 13 and 2 not in ids


def test_audio_before_text_left_padding_and_masks(backend):
    clips = [audio(1, 2.0), audio(2, 5.0)]
    transcripts = ["hi", "a much longer transcript of several words"]
    inputs = backend.model_inputs(clips, "Describe.", transcripts)
    ids = [backend.prompt_ids("Describe.", t) for t in transcripts]
    width = 25 + max(map(len, ids))
    assert inputs["inputs_embeds"].shape == (2, width, 32)
    emb = backend.model.llm.get_input_embeddings()
    audio_emb = backend.audio_embeddings(clips)
    for row, row_ids in enumerate(ids):
        start = width - 25 - len(row_ids)
        mask = inputs["attention_mask"][row]
        assert mask[:start].sum() == 0 and bool(mask[start:].all())
        torch.testing.assert_close(inputs["inputs_embeds"][row, start:start + 25], audio_emb[row])
        torch.testing.assert_close(inputs["inputs_embeds"][row, start + 25:], emb(torch.tensor(row_ids)))
        assert inputs["input_ids"][row, start + 25:].tolist() == row_ids
        assert inputs["input_ids"][row, start + 25].item() == 1  # BOS right after the audio
        assert bool((inputs["input_ids"][row, :start + 25] == 0).all())
    assert not torch.allclose(audio_emb[0], audio_emb[1])


# --- generation, capture, scoring ---------------------------------------------------------------

def test_generate_batch_matches_single_and_capture_matches_forward(backend, llama_tokenizer):
    tracked = llama_tokenizer("Anger Happiness Sadness Neutral", add_special_tokens=False)["input_ids"]
    settings = GenerationSettings(max_new_tokens=5)
    clips = [audio(3, 2.0), audio(4, 6.0), audio(5, 1.0)]
    batch = backend.generate(clips, "Describe the emotion.", tracked, settings)
    assert len(batch) == 3
    for clip, rec in zip(clips, batch):
        single = backend.generate([clip], "Describe the emotion.", tracked, settings)[0]
        assert single.generated_token_ids.tolist() == rec.generated_token_ids.tolist()
        np.testing.assert_allclose(single.tracked_logits, rec.tracked_logits, atol=1e-4)
        assert rec.tracked_logits.shape == (len(rec.generated_token_ids), len(tracked))
    # first step's capture = a plain forward over [audio][prompt] at the last position
    inputs = backend.model_inputs(clips[:1], "Describe the emotion.")
    with torch.no_grad():
        logits = backend.model.llm(inputs_embeds=inputs["inputs_embeds"],
                                   attention_mask=inputs["attention_mask"]).logits[0, -1]
    np.testing.assert_allclose(batch[0].tracked_logits[0], logits[tracked].numpy(), atol=1e-4)
    np.testing.assert_allclose(batch[0].logsumexp[0], torch.logsumexp(logits, -1).item(), atol=1e-4)
    assert batch[0].generated_token_ids[0] == int(logits.argmax())


def test_transcripts_come_from_the_release_decoding_and_are_cached(backend, monkeypatch):
    """Each clip goes through release_transcribe (one clip per call), cleaned; cached by content."""
    import emologits.sfm.ltu_as as ltu
    clips = [audio(21, 2.0), audio(22, 1.0), audio(23, 1.5)]  # used by no other test
    calls = []
    real = ltu.release_transcribe
    monkeypatch.setattr(ltu, "release_transcribe", lambda *a, **kw: calls.append(a[2].size) or real(*a, **kw))
    first = backend.transcribe(clips[:2])
    assert calls == [clips[0].size, clips[1].size]
    expected = real(backend.asr_model, backend.asr_feature_extractor, clips[0], whisper_text, max_new_tokens=6,
                    seed=int(__import__("hashlib").sha1(clips[0].tobytes()).hexdigest()[:8], 16))
    assert first[0] == clean_transcript(expected)
    again = backend.transcribe([clips[1], clips[2], clips[0]])
    assert len(calls) == 3  # only the new clip reached Whisper
    assert again[0] == first[1] and again[2] == first[0]
    assert backend.transcribe(clips) == [first[0], first[1], again[1]] and len(calls) == 3


def test_continuation_ids_are_the_in_context_tokens(backend, llama_tokenizer):
    text = build_prompt("Which emotion?", "")
    ids = backend.continuation_ids(text, "Anger")
    # after the template's final newline "Anger" has no leading '▁' (unlike tokenizing it alone)
    assert llama_tokenizer.convert_ids_to_tokens(ids) == ["Ang", "er"]
    assert ids != llama_tokenizer("Anger", add_special_tokens=False)["input_ids"]


def test_transcript_cleaning_matches_release():
    assert clean_transcript(" Hello there. Thanks for watching!") == "Hello there. "
    assert clean_transcript("THANK YOU FOR WATCHING. ok") == " ok"
    assert clean_transcript("tHaNkS for watching") == "tHaNkS for watching"  # only the release's casings


def test_score_equals_log_softmax_of_a_full_forward(backend):
    clip = audio(7, 2.0)
    scores = backend.score(clip, "Which emotion?", ["Anger", "Neutral"])
    transcript = backend.transcribe([clip])[0]
    text = build_prompt("Which emotion?", transcript)
    for cont, got in zip(["Anger", "Neutral"], scores):
        ids = backend.continuation_ids(text, cont)
        assert len(got) == len(ids)
        inputs = backend.model_inputs([clip], "Which emotion?", [transcript])
        full_ids = backend.prompt_ids("Which emotion?", transcript) + ids
        emb = backend.model.llm.get_input_embeddings()(torch.tensor([full_ids]))
        embeds = torch.cat([inputs["inputs_embeds"][:, :25], emb], dim=1)
        with torch.no_grad():
            logp = torch.log_softmax(backend.model.llm(inputs_embeds=embeds).logits[0].float(), -1)
        start = 25 + len(full_ids) - len(ids) - 1
        expect = [logp[start + i, t].item() for i, t in enumerate(ids)]
        np.testing.assert_allclose(got, expect, atol=1e-4)


def test_score_batch_equals_per_utterance_score(backend):
    """Left-padded prefixes of different lengths, one pass for every utterance x continuation:
    each utterance's own scores (float32, atol 1e-4); Whisper transcripts by default."""
    clips = [audio(9, 1.0), audio(10, 4.0), audio(11, 2.5)]
    conts = ["Anger", "Neutral", "Happiness", "Sad"]
    transcripts = ["hi", "a much longer transcript of several words", "so so"]
    batched = backend.score_batch(clips, "Which emotion?", conts, transcripts=transcripts)
    for clip, transcript, row in zip(clips, transcripts, batched):
        text = build_prompt("Which emotion?", transcript)
        assert [len(s) for s in row] == [len(backend.continuation_ids(text, c)) for c in conts]
        alone = backend.score_batch([clip], "Which emotion?", conts, transcripts=[transcript])[0]
        for a, b in zip(alone, row):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)
    assert any(len(s) > 1 for s in batched[0])
    whisper = backend.score_batch(clips[:2], "Which emotion?", conts)
    for clip, row in zip(clips[:2], whisper):
        for a, b in zip(backend.score(clip, "Which emotion?", conts), row):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)


def test_checkpoint_generation_defaults_are_dropped_and_recorded(llama_tokenizer, checkpoint_file):
    """Decoding defaults shipped in the LLaMA's generation config never reach generate (as for
    qwen2-audio): dropped, listed in the provenance; special ids are the release's."""
    net = build_model()
    load_release_checkpoint(net, read_checkpoint(checkpoint_file), checkpoint_file)
    net = finish_model_dtype(net, torch.float32)
    shipped = net.llm.get_base_model().generation_config
    shipped.repetition_penalty, shipped.do_sample, shipped.temperature = 5.0, True, 0.7
    from transformers import WhisperFeatureExtractor
    ltu = LtuAsBackend(net, llama_tokenizer, WhisperFeatureExtractor(), transcript="none")
    assert ltu.provenance()["ignored_checkpoint_generation_defaults"] == {
        "repetition_penalty": 5.0, "do_sample": True, "temperature": 0.7}
    config = ltu.llama.generation_config
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (0, 1, 2)
    assert config.repetition_penalty in (None, 1.0) and not config.do_sample
    clip = audio(3, 2.0)
    greedy = ltu.generate([clip], "Describe the emotion.", [100], GenerationSettings(max_new_tokens=8))[0]
    penalised = ltu.generate([clip], "Describe the emotion.", [100],
                             GenerationSettings(max_new_tokens=8, repetition_penalty=5.0))[0]
    # the tiny model repeats tokens greedily; the shipped penalty would have changed that
    assert len(set(greedy.generated_token_ids.tolist())) < len(greedy.generated_token_ids)
    assert greedy.generated_token_ids.tolist() != penalised.generated_token_ids.tolist()


# --- config -------------------------------------------------------------------------------------

def test_paper_config_loads_and_names_the_three_weights():
    from conftest import PROJECT_ROOT
    from emologits.config import load_config
    from emologits.sfm import backend_class
    cfg = load_config(PROJECT_ROOT / "configs" / "paper_iemocap_ltu_as.yaml")
    assert cfg.run == "paper_iemocap_ltu_as" and cfg.data["dataset"] == "iemocap"
    assert cfg.model["backend"] == "ltu-as" and backend_class("ltu-as") is LtuAsBackend
    assert {"whisper", "whisper_asr", "llama", "checkpoint"} <= set(cfg.model["options"])
    assert cfg.generation["preset"] == "ltu_as_release" and cfg.prompts["ids"] == ["ambiguous", "single"]


def test_from_config_fails_clearly_on_placeholder_paths(tmp_path):
    with pytest.raises(ConfigError, match="model.options.whisper"):
        LtuAsBackend.from_config({"backend": "ltu-as", "options": {"whisper": str(tmp_path / "nope"),
                                                                   "llama": str(tmp_path), "checkpoint": "x"}})
    with pytest.raises(ConfigError, match=r"model\.options\.wisper: unknown key \(did you mean 'whisper'\?\)"):
        LtuAsBackend.from_config({"backend": "ltu-as", "options": {"wisper": "x"}})


def test_a_seed_in_model_options_points_to_generation_seed():
    with pytest.raises(ConfigError, match=r"model\.options\.seed: unknown key: .*use generation\.seed"):
        LtuAsBackend.from_config({"backend": "ltu-as", "options": {"seed": 0}})


def test_whisper_folder_without_tokenizer_files_is_a_config_error(tmp_path):
    """transformers builds a 1-token tokenizer from a folder without tokenizer files (every
    transcript would decode empty): refused, naming the option and the folder."""
    import json
    from tokenizers import pre_tokenizers
    from transformers import WhisperFeatureExtractor
    whisper_dir, llama_dir, checkpoint = tmp_path / "whisper", tmp_path / "llama", tmp_path / "ckpt.bin"
    tiny_whisper().save_pretrained(whisper_dir)
    WhisperFeatureExtractor().save_pretrained(whisper_dir)
    llama_dir.mkdir()
    checkpoint.write_bytes(b"")
    config = {"backend": "ltu-as", "dtype": "float32", "device": "cpu",
              "options": {"whisper": str(whisper_dir), "llama": str(llama_dir), "checkpoint": str(checkpoint)}}
    with pytest.raises(ConfigError, match="model.options.whisper_asr: .* has no usable Whisper tokenizer") as err:
        LtuAsBackend.from_config(config)
    assert str(whisper_dir) in str(err.value)
    # with a (byte-level, 257-token) tokenizer the check passes and loading goes on to the LLaMA folder
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    (whisper_dir / "vocab.json").write_text(json.dumps({**vocab, "<|endoftext|>": len(vocab)}))
    (whisper_dir / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(ConfigError, match="model.options.llama: .* has no tokenizer.model"):
        LtuAsBackend.from_config(config)


def test_from_config_loads_local_dirs_and_checkpoint_end_to_end(tmp_path, checkpoint_file, backend):
    """Fresh load from local directories (as a user's config names them) gives the same model."""
    import shutil
    from conftest import LLAMA_TOKENIZER
    from transformers import WhisperFeatureExtractor
    torch.manual_seed(0)  # the same base weights as build_model(seed=0) used by `backend`
    whisper, llama = tiny_whisper(), tiny_llama()
    whisper_dir, llama_dir = tmp_path / "whisper", tmp_path / "llama"
    whisper.save_pretrained(whisper_dir)
    WhisperFeatureExtractor().save_pretrained(whisper_dir)
    llama.save_pretrained(llama_dir)
    shutil.copy(LLAMA_TOKENIZER / "tokenizer.model", llama_dir / "tokenizer.model")
    loaded = LtuAsBackend.from_config({"backend": "ltu-as", "dtype": "float32", "device": "cpu", "options": {
        "whisper": str(whisper_dir), "llama": str(llama_dir), "checkpoint": str(checkpoint_file),
        "transcript": "none"}})
    assert loaded.provenance()["checkpoint"] == str(checkpoint_file)
    assert len(loaded.provenance()["checkpoint_sha256"]) == 64
    clip = audio(8, 2.0)
    a = loaded.generate([clip], "Describe.", [100, 200], GenerationSettings(max_new_tokens=3), transcripts=["x"])
    b = backend.generate([clip], "Describe.", [100, 200], GenerationSettings(max_new_tokens=3), transcripts=["x"])
    assert a[0].generated_token_ids.tolist() == b[0].generated_token_ids.tolist()
    np.testing.assert_allclose(a[0].tracked_logits, b[0].tracked_logits, atol=1e-5)
