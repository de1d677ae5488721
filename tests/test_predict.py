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
                        lambda table, kind, *rest: calls.append(("text", len(table))) or real_text(table, kind, *rest))
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


def _config_without_pipeline_check(tmp_path, n=2):
    import yaml

    cfg_path = make_project(tmp_path, n=n)
    raw = yaml.safe_load(cfg_path.read_text())
    raw["pipeline_check"] = False
    cfg_path.write_text(yaml.safe_dump(raw))
    return cfg_path


def test_predict_output_of_the_demo_model_says_pipeline_check(tmp_path, capsys):
    from emologits.report.stamp import PIPELINE_CHECK_STAMP

    demo = make_project(tmp_path / "demo", n=1)
    real = _config_without_pipeline_check(tmp_path / "real", n=1)
    for cfg_path, expected in ((demo, True), (real, False)):
        wav = cfg_path.parent.parent / "audio" / "u000.wav"
        assert cli_main(["predict", str(wav), "--config", str(cfg_path), "--format", "json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["pipeline_check"] is expected
        assert result["note"] == (PIPELINE_CHECK_STAMP if expected else None)
        assert cli_main(["predict", str(wav), "--config", str(cfg_path), "--format", "table"]) == 0
        table = capsys.readouterr().out
        assert ("PIPELINE CHECK" in table.splitlines()[0]) is expected and ("PIPELINE CHECK" in table) is expected


def test_predict_with_the_demo_back_end_says_pipeline_check_whatever_the_config(tmp_path):
    class DemoLike(FakeBackend):
        def provenance(self):
            return {"backend": "tiny-demo", "pipeline_check": True}

    cfg = load_config(_config_without_pipeline_check(tmp_path, n=1))
    result = predict_files(cfg, [tmp_path / "audio" / "u000.wav"], backend=DemoLike())[0]
    assert result["pipeline_check"] is True and result["note"].startswith("PIPELINE CHECK")


def test_predict_table_one_row_per_file_in_percent(tmp_path, capsys):
    cfg_path = make_project(tmp_path, n=2)
    (tmp_path / "broken.wav").write_bytes(b"nope")
    files = [str(tmp_path / "audio" / "u000.wav"), str(tmp_path / "audio" / "u001.wav"), str(tmp_path / "broken.wav")]
    assert cli_main(["predict", *files, "--config", str(cfg_path), "--format", "json"]) == 1
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert cli_main(["predict", *files, "--config", str(cfg_path), "--format", "table"]) == 1
    captured = capsys.readouterr()
    assert "see the note column" in captured.err
    lines = captured.out.splitlines()
    assert lines[0].startswith("*** PIPELINE CHECK") and "prompt: ambiguous" in lines
    header = next(i for i, line in enumerate(lines) if "text level (%)" in line)
    assert "token level, ratio (%)" in lines[header]
    assert lines[header + 1].split()[:6] == ["file", "status", "anger", "happiness", "sadness", "neutral"]
    rows = lines[header + 2:]
    assert len(rows) == 3 and [row.split()[0] for row in rows] == files
    for row, r in zip(rows[:2], results):
        cells = row.split()
        assert cells[1] == "ok"
        assert cells[2:6] == [f"{100 * r['text_level']['probs'][e]:.1f}" for e in EMOTIONS]
        assert cells[6:10] == ["-"] * 4 and "token: nonpositive_logit" in row  # ratio undefined here
    assert rows[2].split()[1:10] == ["failed"] + ["-"] * 8 and "failed: unreadable" in rows[2]


def test_predict_table_shows_the_configured_token_normalisation(tmp_path, capsys):
    import yaml

    cfg_path = make_project(tmp_path, n=1)
    raw = yaml.safe_load(cfg_path.read_text())
    raw["evaluation"] = {"token_normalize": "softmax"}
    cfg_path.write_text(yaml.safe_dump(raw))
    wav = str(tmp_path / "audio" / "u000.wav")
    assert cli_main(["predict", wav, "--config", str(cfg_path), "--format", "json"]) == 0
    probs = json.loads(capsys.readouterr().out)["token_level_softmax"]["probs"]
    assert cli_main(["predict", wav, "--config", str(cfg_path), "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "token level, softmax (%)" in out
    row = next(line for line in out.splitlines() if line.startswith(wav))
    assert row.split()[6:10] == [f"{100 * probs[e]:.1f}" for e in EMOTIONS]


def test_predict_default_format_is_a_table_on_a_terminal_and_json_otherwise(tmp_path, capsys, monkeypatch):
    import sys

    cfg_path = make_project(tmp_path, n=1)
    args = ["predict", str(tmp_path / "audio" / "u000.wav"), "--config", str(cfg_path)]
    assert cli_main(args) == 0
    json.loads(capsys.readouterr().out)  # not a terminal: JSON lines
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "text level (%)" in out and not out.lstrip().startswith("{")


def test_predict_missing_or_bad_paths_fail_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import emologits.sfm

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not load when a file is missing")

    monkeypatch.setattr(emologits.sfm, "load_backend", no_model)
    cfg_path = make_project(tmp_path, n=1)
    good, missing = str(tmp_path / "audio" / "u000.wav"), str(tmp_path / "audio" / "nope.wav")
    assert cli_main(["predict", good, missing, "--config", str(cfg_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"error: no such file: {missing}" in captured.err
    assert "System error" not in captured.err
    assert cli_main(["predict", str(tmp_path / "audio"), "--config", str(cfg_path)]) == 2
    assert f"not a file (a directory): {tmp_path / 'audio'}" in capsys.readouterr().err
    from emologits.errors import DataError
    with pytest.raises(DataError, match="no such file: .*nope.wav"):
        predict_files(load_config(cfg_path), [missing])
