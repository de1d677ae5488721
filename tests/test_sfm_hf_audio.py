"""hf-audio families on tiny RANDOM instances of their real classes, built offline in code
(``build_tiny`` in each family's file): batched generation equals batch-of-1 generation (same tokens;
tracked logits and log-sum-exp within ATOL, float32 on CPU), captured logits equal
``generate(output_logits=True)`` exactly, label-likelihood scores equal a plain forward within ATOL.
Families whose processor cannot be built offline run with a stand-in processor (their file says
what it does); docs/models.md lists, per family, what is real and what is not."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from emologits.errors import ConfigError
from emologits.sfm import backend_class, load_backend
from emologits.sfm.base import GenerationSettings

torch.set_num_threads(1)
#: float32 on CPU: padded vs unpadded rows differ by reduction order only.
ATOL = 1e-4
PROMPT = "Predict the emotion of the audio from the choices [Happiness, Sadness, Neutral, Angry]."
CONTS = ["Happiness", "Neutral", "Sadness", "Angry"]
#: backend name -> its family module: ``build_tiny(out_dir)`` writes a tiny checkpoint with its real
#: processor, loaded through the config (end to end, AutoProcessor included).
END_TO_END = {
    "audio-flamingo-3": "emologits.sfm.families.audio_flamingo3",
}
#: backend name -> its family module: ``tiny_parts()`` gives the tiny model and a processor built in
#: memory (the real class, or a stand-in where the real one cannot be built offline; README table).
IN_MEMORY = {
    "qwen2.5-omni": "emologits.sfm.families.qwen2_5_omni",
    "qwen3-omni": "emologits.sfm.families.qwen3_omni",
    "voxtral": "emologits.sfm.families.voxtral",
    "gemma-3n": "emologits.sfm.families.gemma3n",
    "phi-4-multimodal": "emologits.sfm.families.phi4_multimodal",
    "granite-speech": "emologits.sfm.families.granite_speech",
}
#: Families whose processor gives every clip the same number of placeholders (no text padding).
FIXED_AUDIO_TOKENS = {"voxtral", "gemma-3n"}
#: Families whose LoRA adapter is injected at load (random and non-zero in the tiny instances).
LORA = {"phi-4-multimodal", "granite-speech"}


def _audios(n, seed=0, longest=1.9):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, int(16000 * s)).astype(np.float32) for s in np.linspace(0.4, longest, n)]


def _build(name, tmp_path_factory, **model):
    if name in END_TO_END:
        path = importlib.import_module(END_TO_END[name]).build_tiny(tmp_path_factory.mktemp(name))
        return load_backend({"backend": name, "name_or_path": str(path), "dtype": "float32", "device": "cpu",
                             **model})
    net, processor = importlib.import_module(IN_MEMORY[name]).tiny_parts()
    if model.get("dtype") == "bfloat16":
        net = net.to(torch.bfloat16)
    return backend_class(name)(net, processor, name_or_path=f"tiny-{name}", revision=None, device="cpu",
                               logits_dtype=model.get("logits_dtype"))


@pytest.fixture(scope="module", params=sorted(END_TO_END) + sorted(IN_MEMORY))
def backend(request, tmp_path_factory):
    name = request.param
    be = _build(name, tmp_path_factory)
    assert type(be) is backend_class(name)
    if name in END_TO_END:  # the generic name reads the family from the checkpoint's model_type
        assert type(load_backend({"backend": "hf-audio", "name_or_path": be.name_or_path, "device": "cpu"})) \
            is type(be)
    return be


def test_left_padded_chat_with_audio(backend):
    text = backend.chat_text(PROMPT)
    assert PROMPT in text
    inputs = backend.model_inputs(_audios(3), PROMPT)
    mask = inputs["attention_mask"]
    if backend.name in FIXED_AUDIO_TOKENS:  # same placeholder count for every clip: nothing to pad
        assert bool(mask.all())
    else:
        assert mask[0, 0] == 0 and bool(mask[:, -1].all())  # shortest clip padded on the left
    assert backend.tokenizer.padding_side == "left"
    prov = backend.provenance()
    assert prov["family"] == backend.family and prov["attn_implementation"] and prov["runtime"]["gpu"] is None


def test_captured_logits_equal_generate_output_logits(backend):
    from emologits.sfm.families.phi4_multimodal import OneClipAtATime
    tracked = sorted(set(backend.tokenizer(" ".join(CONTS), add_special_tokens=False)["input_ids"]))
    settings = GenerationSettings.from_config({"max_new_tokens": 5})
    audios = _audios(2)
    records = backend.generate(audios, PROMPT, tracked, settings)
    # the reference sees the model calls the back-end makes: the batch, or one clip per call
    calls = [[a] for a in audios] if isinstance(backend, OneClipAtATime) else [audios]
    refs = []
    for call in calls:
        inputs = backend.model_inputs(call, PROMPT)
        with torch.no_grad():
            ref = backend.text_model().generate(**inputs, max_new_tokens=5, do_sample=False,
                                                return_dict_in_generate=True, output_logits=True)
        n_in = inputs["input_ids"].shape[1]
        logits = torch.stack(ref.logits, 1)
        refs += [(ref.sequences[row, n_in:].tolist(), logits[row]) for row in range(len(call))]
    for rec, (gen, logits) in zip(records, refs, strict=True):
        n = len(rec.generated_token_ids)
        assert rec.generated_token_ids.tolist() == gen[:n]
        raw = logits[:n].float()
        np.testing.assert_array_equal(rec.tracked_logits, raw[:, tracked].numpy())
        np.testing.assert_allclose(rec.logsumexp, torch.logsumexp(raw, -1).numpy(), rtol=0, atol=1e-5)


def test_batched_generation_equals_batch_of_1(backend):
    audios = _audios(4, seed=3)
    tracked = list(range(0, len(backend.tokenizer), 7))
    settings = GenerationSettings.from_config({"max_new_tokens": 6})
    batched = backend.generate(audios, PROMPT, tracked, settings)
    for audio, rec in zip(audios, batched):
        (single,) = backend.generate([audio], PROMPT, tracked, settings)
        assert rec.generated_token_ids.tolist() == single.generated_token_ids.tolist()
        np.testing.assert_allclose(rec.tracked_logits, single.tracked_logits, rtol=0, atol=ATOL)
        np.testing.assert_allclose(rec.logsumexp, single.logsumexp, rtol=0, atol=ATOL)
    assert not np.allclose(batched[0].tracked_logits[0], batched[3].tracked_logits[0])  # the LLM sees the audio


def test_seeded_sampling_draws_differ_between_copies_and_repeat_with_the_seed(backend):
    """The sampling method's call: N copies of one clip in one call, seeded once. The copies get
    different draws (a back-end that runs clips one by one must not reseed each clip), and the same
    seed gives the same draws."""
    audio = _audios(1, seed=7)[0]
    settings = GenerationSettings.from_config({"max_new_tokens": 8, "do_sample": True, "temperature": 5.0,
                                               "seed": 11})
    draws = [[r.generated_token_ids.tolist() for r in backend.generate([audio] * 4, PROMPT, [0], settings)]
             for _ in range(2)]
    assert draws[0] == draws[1]
    assert len({tuple(d) for d in draws[0]}) > 1, draws[0]


def test_likelihood_equals_plain_forward(backend):
    audios = _audios(3, seed=5)
    scores = backend.score_batch(audios, PROMPT, CONTS)
    for audio, row in zip(audios, scores):
        prefix = backend.model_inputs([audio], PROMPT)
        for cont, got in zip(CONTS, row):
            ids = backend.tokenizer(cont, add_special_tokens=False)["input_ids"]
            full = dict(prefix)
            full["input_ids"] = torch.cat([prefix["input_ids"], torch.tensor([ids])], 1)
            full["attention_mask"] = torch.ones_like(full["input_ids"])
            with torch.no_grad(), backend.scoring_context():
                logp = torch.log_softmax(backend.text_model()(**full).logits[0].float(), -1)
            n = prefix["input_ids"].shape[1]
            expected = logp[torch.arange(n - 1, n - 1 + len(ids)), torch.tensor(ids)].numpy()
            np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


def test_logits_dtype_float32_head(backend, tmp_path_factory):
    """bf16 weights, float32 output projection: the logits come back float32."""
    be = _build(backend.name, tmp_path_factory, dtype="bfloat16", logits_dtype="float32")
    inputs = be.model_inputs(_audios(1), PROMPT)
    with torch.no_grad():
        logits = be.text_model()(**inputs).logits
    assert logits.dtype == torch.float32 and be.text_model().dtype == torch.bfloat16
    assert be.provenance()["logits_dtype"] == "float32"


def test_remote_code_families_are_refused_without_trust_remote_code(tmp_path):
    for name in ("kimi-audio", "step-audio", "minicpm-o"):
        family = backend_class(name).family
        with pytest.raises(ConfigError, match=rf"^model.backend '{name}': {family} is not in transformers; its code "
                                              r"ships with the checkpoint. Set model.trust_remote_code: true"):
            load_backend({"backend": name, "device": "cpu"})
        # with it set, loading goes on (and stops here at the missing folder)
        with pytest.raises(ConfigError, match="no such local folder"):
            load_backend({"backend": name, "device": "cpu", "trust_remote_code": True,
                          "name_or_path": str(tmp_path / "missing")})


def _hf_audio_names():
    from emologits.sfm import BACKENDS
    from emologits.sfm.hf_audio import HfAudioBackend
    return [n for n in BACKENDS.names() if issubclass(BACKENDS.get(n), HfAudioBackend)]


def test_every_family_is_registered_and_tested_offline():
    from emologits.sfm.families import MODEL_TYPES
    names = set(_hf_audio_names())
    assert set(MODEL_TYPES.values()) <= names
    tested = set(END_TO_END) | set(IN_MEMORY) | {"qwen2-audio"}  # qwen2-audio: test_sfm_qwen2_audio.py
    assert set(MODEL_TYPES.values()) <= tested


@pytest.mark.parametrize("name", _hf_audio_names())
def test_beam_search_is_refused_for_every_family(name, tmp_path):
    from emologits.config import load_config
    path = tmp_path / "beams.yaml"
    path.write_text(f"run: r\nmodel: {{backend: {name}, name_or_path: x}}\ngeneration: {{num_beams: 2}}\n")
    with pytest.raises(ConfigError, match=r"generation\.num_beams: not supported: beam search"):
        load_config(path)


@pytest.mark.parametrize("backend", sorted(LORA), indirect=True)
def test_lora_is_on_in_generation_and_scoring(backend):
    """The injected adapter is on after loading and changes the logits; Granite Speech switches it
    on for generation and for every scoring forward even when something left it off."""
    from emologits.sfm.families.granite_speech import lora_layers
    layers = lora_layers(backend.model)
    assert layers and all(not layer.disable_adapters for layer in layers)
    audio = _audios(1)
    inputs = backend.model_inputs(audio, PROMPT)
    head = backend.tokenizer(CONTS[0], add_special_tokens=False)["input_ids"][0]
    tracked = [head, 5, 9]
    settings = GenerationSettings.from_config({"max_new_tokens": 2})

    def first_logp():
        return float(backend.score_batch(audio, PROMPT, CONTS[:1])[0][0][0])

    with torch.no_grad():
        on = backend.text_model()(**inputs).logits[0, -1].float()
    assert first_logp() == pytest.approx(torch.log_softmax(on, -1)[head].item(), abs=ATOL)
    try:
        for layer in layers:
            layer.enable_adapters(False)
        with torch.no_grad():
            off = backend.text_model()(**inputs).logits[0, -1].float()
        assert not torch.allclose(on, off, atol=1e-3)
        if backend.name == "granite-speech":
            assert first_logp() == pytest.approx(torch.log_softmax(on, -1)[head].item(), abs=ATOL)
            (rec,) = backend.generate(audio, PROMPT, tracked, settings)
            np.testing.assert_allclose(rec.tracked_logits[0], on[tracked].numpy(), rtol=0, atol=ATOL)
            assert all(layer.disable_adapters for layer in layers)  # left as they were
    finally:
        for layer in layers:
            layer.enable_adapters(True)


@pytest.mark.parametrize("backend", ["gemma-3n"], indirect=True)
def test_gemma3n_token_type_ids_do_not_change_the_logits(backend):
    """Gemma 3n's processor returns token_type_ids; the continuation pass of the batched likelihood
    leaves them out. That is exact only while the model ignores them (transformers 5.24 does)."""
    be = backend
    inputs = be.model_inputs(_audios(2), PROMPT)
    assert "token_type_ids" in inputs and int(inputs["token_type_ids"].max()) > 0
    without = {k: v for k, v in inputs.items() if k != "token_type_ids"}
    with torch.no_grad():
        torch.testing.assert_close(be.model(**inputs).logits, be.model(**without).logits, rtol=0, atol=0)


def test_unknown_model_type_is_named(tmp_path):
    from transformers import BertConfig
    BertConfig().save_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="model_type 'bert' is not an audio-LLM family"):
        load_backend({"backend": "hf-audio", "name_or_path": str(tmp_path), "device": "cpu"})


def test_every_family_has_an_iemocap_config_naming_only_the_data_root():
    """configs/iemocap_<family>.yaml per hf-audio family: its back-end, a hub id, bfloat16 with a
    30 s window; offline, the only problem named is the placeholder data root."""
    from conftest import PROJECT_ROOT

    from emologits.config import load_config
    from emologits.pipeline import check_config
    from emologits.sfm.families import MODEL_TYPES
    by_backend = {}
    for path in sorted((PROJECT_ROOT / "configs").glob("iemocap_*.yaml")):
        cfg = load_config(path)
        by_backend[cfg.model["backend"]] = (path, cfg)
    for name in MODEL_TYPES.values():
        path, cfg = by_backend[name]
        model = cfg.model
        assert model["name_or_path"] == backend_class(name).default_model, path
        # None: the processor's window (Qwen2-Audio's Whisper window is 30 s)
        assert model["dtype"] == "bfloat16" and model["options"]["max_audio_seconds"] in (None, 30), path
        problems = check_config(cfg)
        assert len(problems) == 1 and "data.root" in problems[0], problems


def test_tiny_floor_checkpoint_is_built_once_and_rebuilt_when_stale(tmp_path):
    import json
    import types

    from emologits.sfm.families.tiny_floor import STAMP_FILE, ensure_tiny_checkpoint
    calls = []

    def build_tiny(out_dir, *, seed):
        calls.append(seed)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "weights").write_text(str(seed))

    module = types.SimpleNamespace(build_tiny=build_tiny)
    path = tmp_path / "floor"
    ensure_tiny_checkpoint(module, path, family="f", seed=1)
    ensure_tiny_checkpoint(module, path, family="f", seed=1)
    assert calls == [1] and (path / "weights").read_text() == "1"
    ensure_tiny_checkpoint(module, path, family="f", seed=2)  # stale stamp: rebuilt in place
    assert calls == [1, 2] and (path / "weights").read_text() == "2"
    assert json.loads((path / STAMP_FILE).read_text())["init_seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["floor"]  # no temporary folder left
