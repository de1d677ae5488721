"""Contextual calibration (Zhao et al. 2021): the ``contextual`` method's content-free records on the
fake back-end (inputs, record shape, resume) and the correction against hand-computed values."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emologits.config import load_config
from emologits.extract.contextual import (NO_CONTENT_FREE, content_free_distribution, contextual_correction,
                                          contextual_likelihood_distributions, contextual_token_distributions)
from emologits.extract.likelihood import likelihood_class_scores, likelihood_distributions
from emologits.extract.token import token_class_scores
from emologits.inference import METHODS, load_records, run_configured, run_inference
from emologits.inference.contextual import ContextualMethod, content_free_audio, content_free_ids
from emologits.pipeline import inference_failures
from emologits.prompts import get_prompt
from fake_backend import FakeBackend, canonical, make_project

PAPER4 = ("anger", "happiness", "sadness", "neutral")
P = [f"p_{c}" for c in PAPER4]


def _run(cfg, prompt="ambiguous", method="contextual", **kw):
    return run_inference(cfg, prompt, method=method, progress=False, **kw)


def test_content_free_inputs_are_silence_and_seeded_low_level_noise():
    assert content_free_ids(2) == ["silence", "noise-0", "noise-1"] and content_free_ids(0) == ["silence"]
    silence = content_free_audio("silence", 16000, seconds=0.5, noise_rms=1e-3, seed=0)
    assert silence.dtype == np.float32 and silence.shape == (8000,) and not silence.any()
    noise = content_free_audio("noise-1", 16000, seconds=2.0, noise_rms=1e-3, seed=0)
    assert noise.shape == (32000,) and abs(float(np.sqrt(np.mean(noise.astype(float) ** 2))) - 1e-3) < 5e-5
    np.testing.assert_array_equal(noise, content_free_audio("noise-1", 16000, seconds=2.0, noise_rms=1e-3, seed=0))
    assert not np.array_equal(noise, content_free_audio("noise-0", 16000, seconds=2.0, noise_rms=1e-3, seed=0))
    assert not np.array_equal(noise, content_free_audio("noise-1", 16000, seconds=2.0, noise_rms=1e-3, seed=1))
    short = content_free_audio("noise-0", 16000, seconds=60.0, noise_rms=1e-3, seed=0, max_seconds=30.0)
    assert short.shape == (480000,)  # never longer than the model's window
    with pytest.raises(ValueError, match="unknown content-free input 'music'"):
        content_free_audio("music", 16000, seconds=1.0, noise_rms=1e-3, seed=0)


def test_one_record_per_content_free_input_with_both_kinds_of_scores(tmp_path):
    cfg = load_config(make_project(tmp_path, n=5), overrides={"pipeline": {"contextual": {"seconds": 0.25}}})
    assert METHODS.get("contextual") is ContextualMethod
    out = _run(cfg)
    assert out == cfg.run_dir / "contextual" / "ambiguous"
    cf, info = load_records(cfg.run_dir, "ambiguous", method="contextual")  # not filtered by the manifest
    assert cf["utt_id"].tolist() == ["noise-0", "noise-1", "silence"] and (cf["status"] == "ok").all()
    assert info["own_inputs"] == ["silence", "noise-0", "noise-1"] and info["summary"]["complete"]
    assert info["contextual"] == {"seconds": 0.25, "noise_rms": 1e-3, "noise_draws": 2, "seed": 0}
    for col in ("text", "generated_token_ids", "tracked_logits", "logsumexp", "seconds",
                *(f"logprob_{c}" for c in PAPER4), *(f"n_tokens_{c}" for c in PAPER4)):
        assert col in cf.columns, col
    assert (cf["seconds"] >= 0).all() and cf["audio_seconds"].tolist() == [0.25] * 3
    assert info["continuations"] and info["tracked_ids"] and info["class_token_ids"]
    # exactly what the back-end gives for the silent input
    backend = FakeBackend()
    method = ContextualMethod.from_config(cfg, backend, get_prompt(cfg.resolve(cfg.prompts["file"]), "ambiguous"), None)
    [expected] = backend.generate([method.audio("silence")], method.prompt.text, method.tracked_ids, method.settings)
    row = cf.set_index("utt_id").loc["silence"]
    assert row["text"] == expected.text
    np.testing.assert_array_equal(np.stack(row["tracked_logits"]), expected.tracked_logits)
    scores = backend.score(method.audio("silence"), method.prompt.text, method.continuations["anger"])
    assert list(row["logprob_anger"]) == pytest.approx([float(np.sum(s, dtype=np.float64)) for s in scores])


def test_resume_computes_nothing_and_a_lost_part_is_recomputed_identically(tmp_path):
    cfg = load_config(make_project(tmp_path, n=3))
    _run(cfg, prompt="single")
    first, _ = load_records(cfg.run_dir, "single", method="contextual")
    backend = FakeBackend()
    _run(cfg, prompt="single", backend=backend)
    assert backend.batch_sizes == []
    out = cfg.run_dir / "contextual" / "single"
    for part in out.glob("part-*.parquet"):
        part.unlink()
    _run(cfg, prompt="single", backend=backend)
    again, _ = load_records(cfg.run_dir, "single", method="contextual")
    assert canonical(again) == canonical(first) and backend.batch_sizes == [3]
    # --limit does not apply to content-free inputs
    limited = load_config(make_project(tmp_path / "b", n=6))
    _run(limited, limit=2)
    assert len(load_records(limited.run_dir, "ambiguous", method="contextual")[0]) == 3


def test_notebook_02_runs_it_and_the_failure_gate_ignores_its_inputs(tmp_path):
    cfg = load_config(make_project(tmp_path, n=2), overrides={"pipeline": {"methods": ["generate", "contextual"]}})
    table = run_configured(cfg, backend=FakeBackend(), progress=False)
    assert table["method"].tolist() == ["generate", "contextual"] * 2
    assert table.loc[table["method"] == "contextual", "ok"].tolist() == [3, 3]
    failures = {f["label"]: f for f in inference_failures(cfg.run_dir)}
    assert failures["contextual ambiguous"]["n_failed"] == 0
    assert failures["contextual ambiguous"]["n_expected"] == failures["contextual ambiguous"]["n_done"] == 3
    assert failures["inference ambiguous"]["n_expected"] == 2
    info = json.loads((cfg.run_dir / "contextual" / "single" / "run.json").read_text())
    assert info["method"] == "contextual" and info["prompt"]["kind"] == "single"


# ---- the correction ---------------------------------------------------------------------------

def _scores(rows, ids=None, valid=None):
    ids = ids or [f"u{i}" for i in range(len(rows))]
    valid = valid or [True] * len(rows)
    frame = pd.DataFrame({"utt_id": ids, **{f"s_{c}": [r[i] for r in rows] for i, c in enumerate(PAPER4)},
                          "valid": valid, "reason": [None if v else "inference_failed:model_error" for v in valid]})
    return frame


def test_softmax_correction_matches_hand_computed_values():
    # softmax of log p is p: utterance p = (.4, .3, .2, .1); content-free (.5, .25, .125, .125) and
    # (.3, .25, .225, .225), mean (.4, .25, .175, .175); p / p_cf = (1, 1.2, 8/7, 4/7), sum 27.4/7
    utt = _scores([np.log([0.4, 0.3, 0.2, 0.1])])
    cf = _scores([np.log([0.5, 0.25, 0.125, 0.125]), np.log([0.3, 0.25, 0.225, 0.225])], ids=["silence", "noise-0"])
    np.testing.assert_allclose(content_free_distribution(cf), [0.4, 0.25, 0.175, 0.175])
    out = contextual_correction(utt, cf)
    np.testing.assert_allclose(out.loc[0, P].to_numpy(dtype=float), np.array([7, 8.4, 8, 4]) / 27.4)
    assert list(out.columns) == ["utt_id", *P, "valid", "reason"] and out["valid"].tolist() == [True]
    # only the silent input: p_cf = (.5, .25, .125, .125); p / p_cf = (.8, 1.2, 1.6, .8), sum 4.4
    only = contextual_correction(utt, cf, inputs=["silence"])
    np.testing.assert_allclose(only.loc[0, P].to_numpy(dtype=float), np.array([0.8, 1.2, 1.6, 0.8]) / 4.4)
    # a uniform content-free distribution changes nothing
    same = contextual_correction(utt, _scores([[1.0, 1.0, 1.0, 1.0]], ids=["silence"]))
    np.testing.assert_allclose(same.loc[0, P].to_numpy(dtype=float), [0.4, 0.3, 0.2, 0.1])


def test_ratio_correction_and_invalid_rows():
    # eq. 2 as printed: z / sum z. Utterance z = (4, 3, 2, 1) -> (.4, .3, .2, .1); content-free
    # z = (2, 2, 1, 1) -> (1/3, 1/3, 1/6, 1/6); the negative one is left out of the mean.
    utt = _scores([[4.0, 3.0, 2.0, 1.0], [1.0, -1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], valid=[True, True, False])
    cf = _scores([[2.0, 2.0, 1.0, 1.0], [-1.0, 2.0, 1.0, 1.0]], ids=["silence", "noise-0"])
    out = contextual_correction(utt, cf, normalize="ratio")
    # p / p_cf = (1.2, 0.9, 1.2, 0.6), sum 3.9
    np.testing.assert_allclose(out.loc[0, P].to_numpy(dtype=float), np.array([1.2, 0.9, 1.2, 0.6]) / 3.9)
    assert out["valid"].tolist() == [True, False, False]
    assert out["reason"].tolist() == [None, "nonpositive_logit", "inference_failed:model_error"]
    # no usable content-free input: every row says so
    none = contextual_correction(utt, cf.iloc[1:], normalize="ratio")
    assert none["reason"].tolist() == [NO_CONTENT_FREE, NO_CONTENT_FREE, "inference_failed:model_error"]
    with pytest.raises(ValueError, match="no content-free input"):
        contextual_correction(utt, cf, inputs=["noise-7"])
    with pytest.raises(ValueError, match="differ from the utterances'"):
        contextual_correction(utt, cf.rename(columns={"s_anger": "s_fear"}))


def test_token_and_likelihood_wrappers_on_fake_runs(tmp_path):
    cfg = load_config(make_project(tmp_path, n=4))
    for method in ("generate", "likelihood", "contextual"):
        _run(cfg, method=method)
    gen, info = load_records(cfg.run_dir, "ambiguous")
    lik, _ = load_records(cfg.run_dir, "ambiguous", method="likelihood")
    cf, cf_info = load_records(cfg.run_dir, "ambiguous", method="contextual")
    assert cf_info["tracked_ids"] == info["tracked_ids"] and cf_info["class_token_ids"] == info["class_token_ids"]
    tracked, class_ids = info["tracked_ids"], info["class_token_ids"]
    token = contextual_token_distributions(gen, cf, tracked, class_ids, normalize="softmax")
    # by hand from the class logits
    z = token_class_scores(gen, tracked, class_ids)[[f"s_{c}" for c in PAPER4]].to_numpy()
    zc = token_class_scores(cf, tracked, class_ids)[[f"s_{c}" for c in PAPER4]].to_numpy()

    def softmax(a):
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    q = softmax(z) / softmax(zc).mean(axis=0)
    np.testing.assert_allclose(token[P].to_numpy(), q / q.sum(axis=1, keepdims=True))
    assert token["utt_id"].tolist() == gen["utt_id"].tolist()
    like = contextual_likelihood_distributions(lik, cf)
    p = likelihood_distributions(lik)[P].to_numpy()
    pc = np.exp(likelihood_class_scores(cf)[[f"s_{c}" for c in PAPER4]].to_numpy()).mean(axis=0)
    np.testing.assert_allclose(like[P].to_numpy(), (p / pc) / (p / pc).sum(axis=1, keepdims=True))
    assert not np.allclose(like[P].to_numpy(), p)  # the correction does something here
