"""`python -m emologits predict`: one JSON line per file with text and both distribution levels."""
from __future__ import annotations

import json

import numpy as np
import pytest

from emologits.cli import main as cli_main
from emologits.config import load_config
from emologits.emotions import EMOTIONS
from emologits.extract.text import parse_distribution
from emologits.extract.token import distribution_from_logits
from emologits.inference import load_records, run_inference
from emologits.predict import predict_files
from emologits.verbalizer import class_token_ids
from fake_backend import FakeBackend, make_project, write_tone


def test_predict_prints_one_json_line_per_file(tmp_path, capsys):
    cfg_path = make_project(tmp_path, n=3)
    files = [tmp_path / "audio" / f"u00{i}.wav" for i in range(3)]
    assert cli_main(["predict", *map(str, files), "--config", str(cfg_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    results = [json.loads(line) for line in lines]
    assert [r["file"] for r in results] == [str(f) for f in files]
    for r in results:
        assert r["status"] == "ok" and r["prompt"] == "ambiguous" and "%" in r["text"]
        assert r["text_level"]["probs"] == pytest.approx(parse_distribution(r["text"]).probs)
        for key in ("token_level", "token_level_softmax"):
            probs = r[key]["probs"] or {}
            assert r[key]["reason"] is not None or sum(probs.values()) == pytest.approx(1.0)
        assert set(r["token_level_softmax"]["probs"]) == set(EMOTIONS)


def test_predict_matches_the_runner_records(tmp_path):
    """Same per-batch code as `infer`: the token-level distribution equals eq. 1-2 on the run's record."""
    cfg = load_config(make_project(tmp_path, n=4))
    run_inference(cfg, "ambiguous", progress=False)
    records, info = load_records(cfg.run_dir, "ambiguous")
    results = predict_files(cfg, [tmp_path / "audio" / "u002.wav"], "ambiguous", backend=FakeBackend())
    rec = records.iloc[2]
    assert results[0]["text"] == rec["text"]
    expected = distribution_from_logits(np.stack(rec["tracked_logits"]), class_token_ids(FakeBackend().tokenizer),
                                        normalize="softmax", token_ids=info["tracked_ids"])
    assert results[0]["token_level_softmax"]["probs"] == pytest.approx(expected)


def test_predict_single_prompt_and_odd_files(tmp_path, capsys):
    cfg_path = make_project(tmp_path, n=1)
    write_tone(tmp_path / "stereo44k.wav", sr=44100, channels=2)
    (tmp_path / "broken.wav").write_bytes(b"nope")
    code = cli_main(["predict", str(tmp_path / "stereo44k.wav"), str(tmp_path / "broken.wav"),
                     "--config", str(cfg_path), "--prompt", "single"])
    captured = capsys.readouterr()
    assert code == 1 and "1 of 2 file(s) failed" in captured.err
    ok, bad = (json.loads(line) for line in captured.out.strip().splitlines())
    assert ok["status"] == "ok" and ok["text"] in {"Happiness", "Sadness", "Neutral", "Angry"}
    assert sorted(ok["text_level"]["probs"].values()) == [0.0, 0.0, 0.0, 1.0]
    assert bad["status"] == "failed" and bad["error"] == "unreadable"
    assert bad["text_level"]["probs"] is None and bad["text_level"]["reason"] == "inference_failed:unreadable"


def test_predict_unknown_prompt_is_a_user_error(tmp_path, capsys):
    cfg_path = make_project(tmp_path, n=1)
    assert cli_main(["predict", str(tmp_path / "audio" / "u000.wav"), "--config", str(cfg_path),
                     "--prompt", "nope"]) == 2
    assert "no prompt 'nope'" in capsys.readouterr().err


def test_predict_computes_each_distribution_level_once_per_batch(tmp_path, monkeypatch):
    import emologits.extract.text as text_mod
    import emologits.extract.token as token_mod

    calls = []
    real_text, real_token = text_mod.text_distributions, token_mod.token_distributions
    monkeypatch.setattr(text_mod, "text_distributions",
                        lambda table, kind: calls.append(("text", len(table))) or real_text(table, kind))
    monkeypatch.setattr(token_mod, "token_distributions",
                        lambda table, *a, **kw: calls.append((kw["normalize"], len(table))) or real_token(table, *a, **kw))
    cfg = load_config(make_project(tmp_path, n=5, batch_size=4))
    files = [tmp_path / "audio" / f"u00{i}.wav" for i in range(5)]
    results = predict_files(cfg, files, "ambiguous", backend=FakeBackend())
    assert calls == [("text", 4), ("ratio", 4), ("softmax", 4), ("text", 1), ("ratio", 1), ("softmax", 1)]
    assert [r["file"] for r in results] == [str(f) for f in files]
    # each file's distributions are its own: the per-file result equals a one-file call
    alone = predict_files(cfg, [files[3]], "ambiguous", backend=FakeBackend())[0]
    assert results[3] == alone
