"""The ``sampling`` method on the fake back-end: record shape, seeded determinism, resume, shards,
config keys, and the sampling-based distributions (first n of N samples)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emologits.audio import load_audio
from emologits.config import load_config
from emologits.errors import ConfigError
from emologits.extract.sampling import NO_VALID_SAMPLE, sample_validity, sampling_distributions
from emologits.extract.text import parse_distribution
from emologits.inference import METHODS, load_records, run_configured, run_inference
from emologits.inference.sampling import SamplingMethod, utterance_seed
from emologits.prompts import get_prompt
from fake_backend import FakeBackend, canonical, make_project

PAPER4 = ("anger", "happiness", "sadness", "neutral")


def _cfg(tmp_path, n=6, batch_size=2, sampling=None, **kw):
    cfg = load_config(make_project(tmp_path, n=n, batch_size=batch_size, **kw),
                      overrides={"pipeline": {"sampling": sampling}} if sampling else None)
    return cfg


def _run(cfg, prompt="ambiguous", **kw):
    return run_inference(cfg, prompt, method="sampling", progress=False, **kw)


def test_sampling_is_a_registered_method_with_its_own_folder():
    assert "sampling" in METHODS.names() and METHODS.get("sampling") is SamplingMethod
    assert SamplingMethod.subdir == "sampling"


def test_one_record_per_utterance_with_all_n_texts(tmp_path):
    cfg = _cfg(tmp_path, n=5, sampling={"n": 4})
    out = _run(cfg)
    assert out == cfg.run_dir / "sampling" / "ambiguous"
    records, info = load_records(cfg.run_dir, "ambiguous", method="sampling")
    assert records["utt_id"].tolist() == [f"u{i:03d}" for i in range(5)]
    assert {"utt_id", "status", "error", "texts", "sample_seed", "seconds"} <= set(records.columns)
    assert (records["status"] == "ok").all() and (records["seconds"] >= 0).all()
    assert [len(t) for t in records["texts"]] == [4] * 5
    assert records["sample_seed"].tolist() == [utterance_seed(0, f"u{i:03d}") for i in range(5)]
    assert info["sampling"] == {"n": 4, "temperature": 1.0, "top_p": 1.0, "top_k": None, "seed": 0}
    assert info["generation"]["do_sample"] is True and info["generation"]["temperature"] == 1.0
    assert info["method"] == "sampling" and info["summary"]["complete"]
    # sampled answers differ from each other (the fake back-end draws per seed and row)
    assert all(len(set(t)) > 1 for t in records["texts"])


def test_the_texts_are_the_backends_seeded_draws_on_n_copies(tmp_path):
    cfg = _cfg(tmp_path, n=3, sampling={"n": 3, "seed": 7, "temperature": 0.7})
    _run(cfg, prompt="single")
    records, _ = load_records(cfg.run_dir, "single", method="sampling")
    backend = FakeBackend()
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), "single")
    method = SamplingMethod.from_config(cfg, backend, prompt, None)
    audio, _ = load_audio(tmp_path / "audio" / "u002.wav")
    settings = method.sample_settings.model_copy(update={"seed": utterance_seed(7, "u002")})
    assert settings.temperature == 0.7 and settings.do_sample
    expected = [r.text for r in backend.generate([audio] * 3, prompt.text, method.tracked_ids, settings)]
    assert list(records.iloc[2]["texts"]) == expected
    assert backend.batch_sizes == [3]


def test_seeded_per_utterance_so_batches_shards_and_resume_give_the_same_records(tmp_path):
    whole = _cfg(tmp_path / "a", n=9, batch_size=4)
    _run(whole, part_size=4)
    expected, _ = load_records(whole.run_dir, "ambiguous", method="sampling")
    # another batch size, run in shards, with a block deleted and recomputed
    other = _cfg(tmp_path / "b", n=9, batch_size=1)
    for shard in ("1/2", "0/2"):
        _run(other, part_size=3, shard=shard)
    out = other.run_dir / "sampling" / "ambiguous"
    next(out.glob("part-00001-*.parquet")).unlink()
    backend = FakeBackend()
    _run(other, part_size=3, backend=backend)
    assert backend.batch_sizes == [10] * 3  # only block 1's three utterances, N copies each
    again, info = load_records(other.run_dir, "ambiguous", method="sampling")
    assert canonical(again) == canonical(expected) and info["summary"]["complete"]
    # a different base seed draws different answers
    reseeded = _cfg(tmp_path / "c", n=9, sampling={"seed": 1})
    _run(reseeded)
    changed, _ = load_records(reseeded.run_dir, "ambiguous", method="sampling")
    assert canonical(changed) != canonical(expected)


def test_changed_sampling_settings_refuse_to_mix(tmp_path):
    cfg = _cfg(tmp_path, n=2)
    _run(cfg)
    changed = load_config(cfg.path, overrides={"pipeline": {"sampling": {"n": 3}}})
    with pytest.raises(ConfigError, match="differs in: sampling"):
        _run(changed)


def test_bad_sampling_keys_name_the_dotted_path(tmp_path):
    path = make_project(tmp_path, n=1)
    with pytest.raises(ConfigError, match=r"pipeline\.sampling\.n: .*greater than or equal to 1"):
        load_config(path, overrides={"pipeline": {"sampling": {"n": 0}}})
    with pytest.raises(ConfigError, match=r"pipeline\.sampling\.temprature: unknown key \(did you mean 'temperature'"):
        load_config(path, overrides={"pipeline": {"sampling": {"temprature": 1.0}}})


def test_a_failing_utterance_is_a_failed_record_the_others_are_kept(tmp_path):
    # u001 is 0.21 s at 16 kHz = 3360 samples
    cfg = _cfg(tmp_path, n=3, batch_size=3, options={"fail_if_samples": 3360})
    _run(cfg)
    records, _ = load_records(cfg.run_dir, "ambiguous", method="sampling")
    assert records["status"].tolist() == ["ok", "failed", "ok"]
    assert records.iloc[1]["error"] == "model_error" and records.iloc[1]["seconds"] >= 0
    table = sampling_distributions(records, "distribution")
    assert table["valid"].tolist() == [True, False, True]
    assert table.iloc[1]["reason"] == "inference_failed:model_error"


def test_notebook_02_runs_sampling_when_configured(tmp_path):
    cfg = load_config(make_project(tmp_path, n=2),
                      overrides={"pipeline": {"methods": ["generate", "sampling"], "sampling": {"n": 2}}})
    table = run_configured(cfg, backend=FakeBackend(), progress=False)
    assert table["method"].tolist() == ["generate", "sampling"] * 2
    assert (table["ok"] == 2).all()
    info = json.loads((cfg.run_dir / "sampling" / "single" / "run.json").read_text())
    assert info["prompt"]["kind"] == "single"


def test_method_prompts_narrows_a_method_to_some_prompts(tmp_path):
    """pipeline.method_prompts: sampling over the ambiguous prompt only (where notebook 09 reads it)."""
    cfg = load_config(make_project(tmp_path, n=2),
                      overrides={"pipeline": {"methods": ["generate", "sampling"], "sampling": {"n": 2},
                                              "method_prompts": {"sampling": ["ambiguous"]}}})
    table = run_configured(cfg, backend=FakeBackend(), progress=False)
    assert list(zip(table["prompt"], table["method"])) == [("ambiguous", "generate"), ("ambiguous", "sampling"),
                                                           ("single", "generate")]
    assert not (cfg.run_dir / "sampling" / "single").exists()
    assert cfg.runs("sampling", "ambiguous") and not cfg.runs("sampling", "single") and cfg.runs("generate", "single")


@pytest.mark.parametrize("method_prompts, message", [
    ({"sampling": ["ambiguos"]}, r"pipeline\.method_prompts\.sampling: 'ambiguos' is not in prompts\.ids"),
    ({"likelihood": ["single"]}, r"pipeline\.method_prompts\.likelihood: 'likelihood' is not in pipeline\.methods"),
    ({"sampling": []}, r"pipeline\.method_prompts.*must hold at least 1"),
])
def test_method_prompts_names_methods_and_prompts_of_the_run(tmp_path, method_prompts, message):
    with pytest.raises(ConfigError, match=message):
        load_config(make_project(tmp_path, n=2),
                    overrides={"pipeline": {"methods": ["generate", "sampling"], "method_prompts": method_prompts}})


# ---- distributions from sampled answers ----------------------------------------------------------

def _records(texts_per_utt, status=None):
    return pd.DataFrame({"utt_id": [f"u{i}" for i in range(len(texts_per_utt))],
                         "status": status or ["ok"] * len(texts_per_utt),
                         "error": [None] * len(texts_per_utt), "texts": texts_per_utt})


def test_single_prompt_samples_are_a_vote_and_n_takes_the_first_samples():
    records = _records([["Angry", "Sadness", "Angry", "Neutral", "I cannot tell"],
                        ["no idea", "Happiness", "Happiness"]])
    full = sampling_distributions(records, "single")
    # u0: 4 valid answers (anger twice); u1: 2 valid (happiness twice)
    np.testing.assert_allclose(full[[f"p_{c}" for c in PAPER4]].to_numpy(),
                               [[0.5, 0.0, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0]])
    first3 = sampling_distributions(records, "single", n=3)
    np.testing.assert_allclose(first3.iloc[0][[f"p_{c}" for c in PAPER4]].to_numpy(dtype=float),
                               [2 / 3, 0.0, 1 / 3, 0.0])
    first1 = sampling_distributions(records, "single", n=1)
    assert first1["valid"].tolist() == [True, False] and first1.iloc[1]["reason"] == NO_VALID_SAMPLE
    assert first1.iloc[0]["p_anger"] == 1.0
    assert sample_validity(records, "single", n=3).to_dict("list") == \
        {"utt_id": ["u0", "u1"], "n_samples": [3, 3], "n_valid": [3, 2]}


def test_distribution_prompt_samples_are_averaged_after_parsing():
    a = "Happiness: 10%, Neutral: 20%, Sadness: 30%, Anger: 40%"
    b = "anger 0%, happiness 50%, sadness 0%, neutral 50%"
    records = _records([[a, b, "gibberish"]])
    table = sampling_distributions(records, "distribution")
    pa, pb = parse_distribution(a).probs, parse_distribution(b).probs
    expected = [(pa[c] + pb[c]) / 2 for c in PAPER4]
    np.testing.assert_allclose(table.iloc[0][[f"p_{c}" for c in PAPER4]].to_numpy(dtype=float), expected)
    np.testing.assert_allclose(expected, [0.2, 0.3, 0.15, 0.35])  # by hand
    assert list(table.columns) == ["utt_id", *(f"p_{c}" for c in PAPER4), "valid", "reason"]


def test_sampling_distributions_reject_bad_arguments():
    records = _records([["Angry"]])
    with pytest.raises(ValueError, match="prompt_kind"):
        sampling_distributions(records, "essay")
    with pytest.raises(ValueError, match="n must be >= 1"):
        sampling_distributions(records, "single", n=0)
    with pytest.raises(ValueError, match=r"lack columns \['texts'\]"):
        sampling_distributions(records.drop(columns="texts"), "single")
