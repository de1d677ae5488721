"""tiny-demo: answers in the paper's format, tokenizer and processor built in code, seeded training
(quick mode), the cache stamp, and the back-end on top of the qwen2-audio code path."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from emologits.errors import ConfigError
from emologits.sfm import backend_class, load_backend
from emologits.sfm import tiny_demo_train as td
from emologits.sfm.base import GenerationSettings

torch.set_num_threads(1)
QUICK = {"n_train": 24, "steps": 3, "batch_size": 4, "vocab_size": 400}
#: The four classes, each once, from the largest share down.
DISTRIBUTION = re.compile(r"^(?:(?:Happiness|Neutral|Sadness|Anger): \d+%, ){3}(?:Happiness|Neutral|Sadness|Anger): \d+%$")


@pytest.mark.parametrize("dist, expected", [
    ([2 / 3, 1 / 3, 0, 0], [65, 35, 0, 0]),
    ([1 / 3, 1 / 3, 1 / 3, 0], [35, 35, 30, 0]),  # tie on the remainder: EMOTIONS order
    ([0.5, 0.25, 0.25, 0], [50, 25, 25, 0]),
    ([0, 0, 0, 1], [0, 0, 0, 100]),
    ([0.11, 0.22, 0.33, 0.34], [10, 20, 35, 35]),
])
def test_percentages_are_multiples_of_5_summing_to_100(dist, expected):
    assert td.percentages_multiple_of_5(dist) == expected


def test_answers_in_the_papers_format():
    # EMOTIONS order in; out the paper's words and format (sec. 3.4.1), the largest share first, ties
    # in the paper's "Happiness, Neutral, Sadness, Anger" order
    assert td.distribution_answer([0.65, 0, 0.35, 0]) == "Anger: 65%, Sadness: 35%, Happiness: 0%, Neutral: 0%"
    assert td.distribution_answer([0, 0, 0, 1]) == "Neutral: 100%, Happiness: 0%, Sadness: 0%, Anger: 0%"
    assert td.distribution_answer([0.25] * 4) == "Happiness: 25%, Neutral: 25%, Sadness: 25%, Anger: 25%"
    assert DISTRIBUTION.match(td.distribution_answer([0.1, 0.2, 0.3, 0.4]))
    for i in range(20):  # every class once, the shares from the largest down (first word: a majority class)
        dist = np.random.default_rng(i).dirichlet(np.ones(4))
        answer = td.distribution_answer(dist)
        shares = [int(x) for x in re.findall(r"(\d+)%", answer)]
        assert DISTRIBUTION.match(answer) and shares == sorted(td.percentages_multiple_of_5(dist), reverse=True)
    assert [td.single_answer(e) for e in ("anger", "happiness", "sadness", "neutral")] == \
        ["Angry", "Happiness", "Sadness", "Neutral"]


def test_tokenizer_and_processor_built_in_code():
    texts = [td.distribution_answer(np.random.default_rng(i).dirichlet(np.ones(4))) for i in range(50)]
    tok = td.train_tokenizer(texts + ["Angry", "Happiness", "Sadness", "Neutral"] * 20, 300)
    for special in td.SPECIAL_TOKENS:
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>" and tok.padding_side == "left"
    assert tok.tokenize("Anger: 65%")[-4:] == ["Ġ", "6", "5", "%"]  # digits one by one (as Qwen2)
    assert tok.decode(tok(texts[0] + "<|im_end|>")["input_ids"], skip_special_tokens=True) == texts[0]
    processor = td.build_processor(tok)
    fe = processor.feature_extractor
    assert fe.n_samples == td.WINDOW_S * 16000 and fe.nb_max_frames == 2 * td.WINDOW_S * 50
    # the training-time expansion of <|AUDIO|> equals the processor's own
    from emologits.sfm.qwen2_audio import chat_text
    chat = chat_text(processor, "Say it.")
    audio = np.random.default_rng(0).normal(0, 0.1, 27_000).astype(np.float32)
    feats, mask = td.audio_features(processor, [audio])
    mine = td._encode_example(processor, chat, "Angry", int(mask.sum()))
    theirs = processor(text=[chat + "Angry<|im_end|>"], audio=[audio], sampling_rate=16000, return_tensors="pt")
    assert mine["input_ids"].tolist() == theirs["input_ids"][0].tolist()
    torch.testing.assert_close(feats, theirs["input_features"])
    n_label = len(tok("Angry<|im_end|>", add_special_tokens=False)["input_ids"])
    assert (mine["labels"] != -100).sum() == n_label and mine["labels"][-1] == tok.eos_token_id


def test_token_level_target_follows_the_ground_truth():
    """The token-level term's target: positive (eq. 2's ratio is defined), its softmax the smoothed
    ground truth, and its order the ground truth's."""
    gt = np.array([0.0, 2 / 3, 1 / 3, 0.0])
    target = td.token_level_target(gt)
    assert (target > 0).all()
    smoothed = (20 * gt + 1) / 24
    np.testing.assert_allclose(np.exp(target) / np.exp(target).sum(), smoothed / smoothed.sum())
    assert list(np.argsort(-target)[:2]) == [1, 2] and target[0] == target[3]


def test_class_logit_matrix_is_eq1_over_the_runners_tracked_ids():
    """Training reads the class values exactly as extraction does: the runner's tracked ids, and eq. 1
    (emologits.extract.token.distribution_from_logits) as a (T, 4) matrix."""
    from emologits.extract.token import distribution_from_logits
    from emologits.inference.methods import token_ids_for
    texts = [td.distribution_answer(np.random.default_rng(i).dirichlet(np.ones(4))) for i in range(50)]
    tok = td.train_tokenizer(texts + ["Angry", "Happiness", "Sadness", "Neutral"] * 20, 300)
    class_ids, tracked_ids = token_ids_for(tok)
    tracked, matrix = td.class_logit_matrix(tok)
    assert tracked == tracked_ids and matrix.shape == (len(tracked), 4)
    logits = torch.randn(6, len(tracked), dtype=torch.float64)
    z = (logits @ matrix.double()).mean(0)
    want = distribution_from_logits(logits.numpy(), class_ids, normalize="softmax", token_ids=tracked)
    np.testing.assert_allclose(torch.softmax(z, 0).numpy(), [want[e] for e in td.EMOTIONS], rtol=1e-6)


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-demo-project")
    path = td.train_tiny_demo(root / ".cache" / "tiny-demo", td.TinyDemoSettings(**QUICK), progress=False)
    return root, path


def test_quick_training_writes_model_processor_and_stamp(quick_model):
    root, path = quick_model
    stamp = json.loads((path / td.STAMP_FILE).read_text())
    assert stamp["settings"] == {**td.TinyDemoSettings().__dict__, **QUICK}
    assert stamp["pipeline_check"] is True and stamp["versions"]["transformers"]
    assert stamp["settings"]["corpus_seed"] != 0  # the demo corpus uses seed 0: never trained on
    assert td.stamp_matches(path, td.TinyDemoSettings(**QUICK))
    assert not td.stamp_matches(path, td.TinyDemoSettings(**{**QUICK, "seed": 1}))
    assert {"config.json", "model.safetensors", "tokenizer.json", td.STAMP_FILE} <= {p.name for p in path.iterdir()}


def test_training_is_seeded(quick_model, tmp_path):
    from safetensors.torch import load_file
    _, path = quick_model
    again = td.train_tiny_demo(tmp_path / "again", td.TinyDemoSettings(**QUICK), progress=False)
    a, b = load_file(path / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (path / "tokenizer.json").read_text() == (again / "tokenizer.json").read_text()


def test_backend_loads_cache_without_training(quick_model, monkeypatch):
    root, path = quick_model
    monkeypatch.setattr(td, "train_tiny_demo", lambda *a, **k: pytest.fail("retrained a matching cache"))
    # model.options.seed is the tiny-demo's training seed (a TinyDemoSettings field; 0 = the default)
    backend = load_backend({"backend": "tiny-demo", "name_or_path": ".cache/tiny-demo",
                            "options": {**QUICK, "seed": 0}}, project_root=root)
    assert type(backend) is backend_class("tiny-demo")
    prov = backend.provenance()
    assert prov["pipeline_check"] is True and prov["tiny_demo_stamp"]["settings"]["steps"] == 3
    assert prov["name_or_path"] == str(path) and prov["dtype"] == "float32"
    assert backend.max_audio_seconds == td.WINDOW_S
    audios = [np.random.default_rng(i).normal(0, 0.05, 16000 + 3000 * i).astype(np.float32) for i in range(3)]
    tracked = backend.tokenizer("Angry Happiness", add_special_tokens=False)["input_ids"]
    records = backend.generate(audios, "Say it.", tracked, GenerationSettings.from_config({"max_new_tokens": 5}))
    assert len(records) == 3 and all(r.tracked_logits.shape == (len(r.generated_token_ids), len(tracked))
                                     for r in records)
    scores = backend.score(audios[0], "Say it.", ["Angry", "Neutral"])
    assert [len(s) for s in scores] == [len(backend.tokenizer(w, add_special_tokens=False)["input_ids"])
                                        for w in ("Angry", "Neutral")]
    assert all((s <= 0).all() for s in scores)


def test_batched_label_likelihood_equals_per_utterance_scores(quick_model, tmp_path):
    """score_batch (inherited from qwen2-audio) = score per utterance, and the runner's likelihood
    records (one score_batch call per batch) hold exactly those per-utterance scores."""
    import soundfile as sf
    from emologits.audio import load_audio
    from emologits.extract.likelihood import answer_continuations
    from emologits.inference import likelihood_batch
    from emologits.prompts import Prompt
    root, _ = quick_model
    backend = load_backend({"backend": "tiny-demo", "name_or_path": ".cache/tiny-demo", "options": QUICK},
                           project_root=root)
    continuations = answer_continuations("distribution")
    texts = [t for forms in continuations.values() for t in forms]
    assert max(len(backend.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts) > 1  # 2 passes
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"u{i}.wav")
        sf.write(str(paths[i]), np.random.default_rng(i).normal(0, 0.05, 12000 + 7000 * i).astype(np.float32), 16000)
    audios = [load_audio(p, backend.sampling_rate)[0] for p in paths]
    batched = backend.score_batch(audios, "Say it.", texts)
    singles = [backend.score(a, "Say it.", texts) for a in audios]
    for row, single in zip(batched, singles):
        assert [len(s) for s in row] == [len(s) for s in single]
        for a, b in zip(single, row):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)
    prompt = Prompt(id="p", kind="distribution", text="Say it.")
    records = likelihood_batch(backend, ["u0", "u1", "u2"], [str(p) for p in paths], prompt, continuations)
    for rec, single in zip(records, singles):
        assert rec["status"] == "ok"
        for cls, forms in continuations.items():
            assert rec[f"n_tokens_{cls}"] == [len(single[texts.index(f)]) for f in forms]
            np.testing.assert_allclose(rec[f"logprob_{cls}"], [single[texts.index(f)].sum() for f in forms],
                                       rtol=0, atol=1e-4)


def test_stamp_mismatch_retrains(quick_model, monkeypatch):
    root, path = quick_model
    calls = []
    monkeypatch.setattr(td, "train_tiny_demo", lambda out, settings, **kw: calls.append(settings) or out)
    td.ensure_tiny_demo(path, td.TinyDemoSettings(**{**QUICK, "steps": 4}), progress=False)
    assert calls == [td.TinyDemoSettings(**{**QUICK, "steps": 4})]


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model\.options\.stepz: unknown key \(did you mean 'steps'\?\)"):
        td.TinyDemoSettings.from_options({"stepz": 3})


@pytest.mark.slow
def test_default_tiny_demo_answers_parse_on_held_out_utterances():
    """The cached default model (trained on corpus seed 1000) answers >= 90 % of the demo corpus's
    (seed 0) utterances in the paper's format."""
    import soundfile as sf
    from conftest import PROJECT_ROOT
    from emologits.data import prepare_manifest
    from emologits.prompts import load_prompts
    backend = load_backend({"backend": "tiny-demo", "options": {"seed": 0}}, project_root=PROJECT_ROOT)
    manifest = prepare_manifest("synthetic", PROJECT_ROOT / ".cache" / "data" / "synthetic_iemocap",
                                options={"n_utterances": 240, "seed": 0}).iloc[:48]
    audios = [sf.read(p, dtype="float32")[0] for p in manifest["audio_path"]]
    prompts = load_prompts(PROJECT_ROOT / "prompts" / "prompts.yaml")
    settings = GenerationSettings.from_config({"max_new_tokens": 40})
    for pid, pattern in (("ambiguous", DISTRIBUTION), ("single", re.compile(r"^(Happiness|Sadness|Neutral|Angry)$"))):
        texts = [r.text.strip() for i in range(0, len(audios), 8)
                 for r in backend.generate(audios[i:i + 8], prompts[pid].text, [0], settings)]
        assert np.mean([bool(pattern.match(t)) for t in texts]) >= 0.9, texts[:5]
