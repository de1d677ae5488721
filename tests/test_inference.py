"""The inference runner on the fake back-end: records, provenance, failures, resumption, shards."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emologits.audio import load_audio
from emologits.cli import main as cli_main
from emologits.config import load_config
from emologits.errors import ConfigError, DataError
from emologits.artifacts import subset_manifest
from emologits.data import read_manifest
from emologits.inference import (EXIT_SOME_FAILED, EXTRA_COLUMNS, RECORD_COLUMNS, load_records, parse_shard,
                                 run_inference, summarize_parts)
from emologits.prompts import get_prompt
from emologits.sfm.base import GenerationSettings
from emologits.verbalizer import tracked_token_ids
from fake_backend import FakeBackend, canonical, make_project, write_tone


def _run(cfg_path, prompt="ambiguous", **kw):
    cfg = load_config(cfg_path)
    out = run_inference(cfg, prompt, progress=False, **kw)
    return cfg, out


def test_records_have_the_contract_columns_in_manifest_order(tmp_path):
    cfg, out = _run(make_project(tmp_path, n=10, batch_size=4))
    assert out == cfg.run_dir / "inference" / "ambiguous"
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert list(records.columns[:3]) == ["utt_id", "status", "error"]
    assert set(RECORD_COLUMNS) | set(EXTRA_COLUMNS) == set(records.columns)
    assert records["utt_id"].tolist() == [f"u{i:03d}" for i in range(10)]
    assert (records["status"] == "ok").all() and records["error"].isna().all()
    assert info["summary"] == {"n_done": 10, "n_ok": 10, "n_failed": 0, "failures_by_reason": {},
                               "n_expected": 10, "complete": True}


def test_records_hold_exactly_what_the_backend_generated(tmp_path):
    cfg, _ = _run(make_project(tmp_path, n=6, batch_size=4))
    records, info = load_records(cfg.run_dir, "ambiguous")
    backend = FakeBackend()
    tracked = tracked_token_ids(backend.tokenizer)
    assert info["tracked_ids"] == tracked and len(tracked) > 4
    assert info["tracked_tokens"] == backend.tokenizer.convert_ids_to_tokens(tracked)
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), "ambiguous")
    audio, _ = load_audio(tmp_path / "audio" / "u003.wav")
    [expected] = backend.generate([audio], prompt.text, tracked, GenerationSettings.from_config(cfg.generation))
    row = records.iloc[3]
    assert row["text"] == expected.text and "%" in row["text"]
    np.testing.assert_array_equal(np.asarray(row["generated_token_ids"]), expected.generated_token_ids)
    logits = np.stack(row["tracked_logits"])
    assert logits.shape == (len(expected.generated_token_ids), len(tracked))
    np.testing.assert_array_equal(logits, expected.tracked_logits)
    np.testing.assert_array_equal(np.asarray(row["logsumexp"]), expected.logsumexp)
    assert row["seconds"] >= 0 and row["truncated"] == False  # noqa: E712 (numpy bool)


def test_run_json_records_provenance(tmp_path):
    cfg, out = _run(make_project(tmp_path, n=3, generation={"max_new_tokens": 7}), prompt="single")
    info = json.loads((out / "run.json").read_text())
    assert info["prompt"]["id"] == "single" and info["prompt"]["text"].startswith("You are an expert")
    assert info["model"]["backend"] == "fake" and info["model"]["dtype"] == "float32"
    assert info["generation"]["max_new_tokens"] == 7 and info["generation"]["do_sample"] is False
    assert info["packages"]["numpy"] == np.__version__
    assert set(info["git"]) == {"commit", "dirty"}
    assert info["config"]["model"]["backend"] == "fake_backend:FakeBackend"
    assert info["batch_size"] == 4 and info["part_size"] == 16 and info["too_long"] == "truncate"
    assert info["summary"]["complete"] is True


def test_batches_respect_batch_size_and_never_cross_parts(tmp_path):
    cfg = load_config(make_project(tmp_path, n=11, batch_size=3))
    backend = FakeBackend()
    run_inference(cfg, "ambiguous", backend=backend, part_size=6, progress=False)
    assert backend.batch_sizes == [3, 3, 3, 2]  # parts [0,6) and [6,11): 3+3 | 3+2
    parts = sorted((cfg.run_dir / "inference" / "ambiguous").glob("part-*.parquet"))
    assert [len(pd.read_parquet(p)) for p in parts] == [6, 5]


def test_failures_are_recorded_with_reasons_and_counted(tmp_path, capsys):
    special = {
        1: lambda p: p.write_bytes(b"garbage"),
        2: lambda p: sf.write(p, np.zeros(8000, np.float32), 16000),
        3: lambda p: sf.write(p, np.zeros(0, np.float32), 16000),
        4: lambda p: write_tone(p, seconds=0.5, sr=16000),        # 8000 samples -> NaN logits
        5: lambda p: write_tone(p, seconds=0.25, sr=16000),       # 4000 samples -> model raises
    }
    cfg_path = make_project(tmp_path, n=8, batch_size=8, special=special,
                            options={"nan_if_samples": 8000, "fail_if_samples": 4000})
    cfg, out = _run(cfg_path)
    records, info = load_records(cfg.run_dir, "ambiguous")
    by_id = records.set_index("utt_id")
    assert by_id.loc["u001", "error"] == "unreadable"
    assert by_id.loc["u002", "error"] == "silent"
    assert by_id.loc["u003", "error"] == "empty"
    assert by_id.loc["u004", "error"] == "nonfinite_logits"
    assert by_id.loc["u005", "error"] == "model_error" and "fake model failure" in by_id.loc["u005", "error_message"]
    assert (by_id.loc[["u001", "u002", "u003", "u004", "u005"], "status"] == "failed").all()
    assert (by_id.loc[["u000", "u006", "u007"], "status"] == "ok").all()  # the rest of the batch goes on
    assert "u001.wav" in by_id.loc["u001", "error_message"]
    expected = {"empty": 1, "model_error": 1, "nonfinite_logits": 1, "silent": 1, "unreadable": 1}
    assert info["summary"]["failures_by_reason"] == expected
    assert json.loads((out / "run.json").read_text())["summary"]["failures_by_reason"] == expected
    err = capsys.readouterr().err
    assert "3 ok, 5 failed" in err and "unreadable=1" in err and "model_error=1" in err


def test_stereo_and_other_rates_are_converted(tmp_path):
    special = {0: lambda p: write_tone(p, sr=44100, channels=2), 1: lambda p: write_tone(p, sr=8000)}
    cfg, _ = _run(make_project(tmp_path, n=3, special=special))
    records, _ = load_records(cfg.run_dir, "ambiguous")
    assert (records["status"] == "ok").all()


def test_too_long_audio_is_truncated_or_failed(tmp_path):
    special = {1: lambda p: write_tone(p, seconds=2.5)}
    cfg_path = make_project(tmp_path, n=3, special=special, options={"max_audio_seconds": 1.0})
    cfg, _ = _run(cfg_path)
    records, _ = load_records(cfg.run_dir, "ambiguous")
    assert records["truncated"].tolist() == [False, True, False]
    assert records["status"].tolist() == ["ok"] * 3 and records["audio_seconds"][1] == pytest.approx(2.5)
    _run(cfg_path, prompt="single", too_long="fail")
    records, info = load_records(cfg.run_dir, "single")
    assert records["error"].isna().tolist() == [True, False, True] and records["error"][1] == "too_long"
    assert info["summary"]["failures_by_reason"] == {"too_long": 1}


def _part(out, block):
    [path] = out.glob(f"part-{block:05d}-*.parquet")
    return path


def test_rerun_skips_done_parts_and_redoes_missing_or_broken_ones(tmp_path):
    cfg = load_config(make_project(tmp_path, n=12, batch_size=2))
    run_inference(cfg, "ambiguous", part_size=4, progress=False)
    full, _ = load_records(cfg.run_dir, "ambiguous")
    out = cfg.run_dir / "inference" / "ambiguous"
    _part(out, 1).unlink()
    _part(out, 2).write_bytes(b"half a file")
    backend = FakeBackend()
    with pytest.warns(UserWarning, match="unreadable part file"):
        run_inference(cfg, "ambiguous", part_size=4, backend=backend, progress=False)
    assert backend.batch_sizes == [2, 2, 2, 2]  # blocks 1 and 2 only, in whole batches
    with pytest.warns(UserWarning, match="unreadable part file"):
        again, info = load_records(cfg.run_dir, "ambiguous")
    assert canonical(again) == canonical(full) and info["summary"]["complete"]
    backend = FakeBackend()
    with pytest.warns(UserWarning, match="unreadable part file"):
        run_inference(cfg, "ambiguous", part_size=4, backend=backend, progress=False)
    assert backend.batch_sizes == []  # nothing left to do


def test_limit_then_full_run_adds_only_the_missing_utterances(tmp_path):
    cfg = load_config(make_project(tmp_path, n=10, batch_size=2))
    run_inference(cfg, "ambiguous", limit=5, part_size=4, progress=False)
    with pytest.warns(UserWarning, match="only 5 of 10"):
        limited, _ = load_records(cfg.run_dir, "ambiguous")
    chosen = subset_manifest(read_manifest(cfg.run_dir / "manifest.parquet"), 5, seed=0)["utt_id"].tolist()
    assert limited["utt_id"].tolist() == chosen
    backend = FakeBackend()
    run_inference(cfg, "ambiguous", part_size=4, backend=backend, progress=False)
    assert sum(backend.batch_sizes) == 5  # only the five without a record
    full, info = load_records(cfg.run_dir, "ambiguous")
    assert len(full) == 10 and full["utt_id"].is_unique and info["summary"]["complete"]
    kept = full.set_index("utt_id").loc[chosen].reset_index()
    assert canonical(kept) == canonical(limited)  # the earlier records are the same records


def test_a_shorter_limit_never_loses_finished_records(tmp_path, capsys):
    """Full run of 64, then --limit 40 in the same folder: all 64 records stay, nothing is recomputed."""
    cfg_path = make_project(tmp_path, n=64, batch_size=8)
    cfg = load_config(cfg_path)
    run_inference(cfg, "ambiguous", progress=False)  # blocks of 32
    full, _ = load_records(cfg.run_dir, "ambiguous")
    out = cfg.run_dir / "inference" / "ambiguous"
    files_before = sorted(p.name for p in out.glob("part-*.parquet"))
    capsys.readouterr()
    backend = FakeBackend()
    run_inference(cfg, "ambiguous", limit=40, backend=backend, progress=False)
    assert backend.batch_sizes == []
    assert sorted(p.name for p in out.glob("part-*.parquet")) == files_before
    assert "40/40 utterances, 40 ok, 0 failed; complete" in capsys.readouterr().err
    again, info = load_records(cfg.run_dir, "ambiguous")
    assert canonical(again) == canonical(full) and info["summary"]["n_done"] == 64
    assert cli_main(["infer", "--config", str(cfg_path), "--prompt", "ambiguous", "--limit", "40"]) == 0
    assert "40/40 utterances" in capsys.readouterr().err
    assert canonical(load_records(cfg.run_dir, "ambiguous")[0]) == canonical(full)


def test_done_count_never_exceeds_the_total(tmp_path, capsys):
    cfg = load_config(make_project(tmp_path, n=20, batch_size=4))
    run_inference(cfg, "ambiguous", progress=False)
    capsys.readouterr()
    run_inference(cfg, "ambiguous", limit=6, progress=False)
    assert "6/6 utterances" in capsys.readouterr().err
    assert summarize_parts(cfg.run_dir / "inference" / "ambiguous", ["u000", "u001"])["n_done"] == 2


def test_retry_failed_recomputes_only_failed_records(tmp_path, capsys):
    special = {1: lambda p: p.write_bytes(b"garbage"), 6: lambda p: p.write_bytes(b"garbage")}
    cfg_path = make_project(tmp_path, n=8, batch_size=2, special=special)
    cfg = load_config(cfg_path)
    assert cli_main(["infer", "--config", str(cfg_path), "--prompt", "ambiguous"]) == EXIT_SOME_FAILED
    err = capsys.readouterr().err
    assert "2 of 8 utterances failed (unreadable=2)" in err and "u001 [unreadable]" in err and "u006" in err
    before, _ = load_records(cfg.run_dir, "ambiguous")
    backend = FakeBackend()
    run_inference(cfg, "ambiguous", backend=backend, progress=False)
    assert backend.batch_sizes == []  # failed records are records: a plain rerun keeps them
    write_tone(tmp_path / "audio" / "u001.wav", seconds=0.3)  # fix one file
    backend = FakeBackend()
    run_inference(cfg, "ambiguous", backend=backend, retry_failed=True, progress=False)
    assert backend.batch_sizes == [1]  # u006 fails again at loading; only u001 reaches the model
    after, _ = load_records(cfg.run_dir, "ambiguous")
    assert after.set_index("utt_id").loc["u001", "status"] == "ok"
    assert after.set_index("utt_id").loc["u006", "error"] == "unreadable"
    ok = [u for u in before["utt_id"] if u not in ("u001", "u006")]
    pd.testing.assert_frame_equal(before.set_index("utt_id").loc[ok], after.set_index("utt_id").loc[ok])
    assert cli_main(["infer", "--config", str(cfg_path), "--prompt", "ambiguous", "--retry-failed"]) == 3


def test_infer_exits_zero_only_when_every_utterance_succeeded(tmp_path, capsys):
    cfg_path = make_project(tmp_path, n=4)
    assert cli_main(["infer", "--config", str(cfg_path)]) == 0
    assert "failed (" not in capsys.readouterr().err


def test_two_runners_on_one_folder_compute_each_block_once(tmp_path):
    import threading

    cfg = load_config(make_project(tmp_path, n=12, batch_size=2, options={"sleep_per_batch": 0.05}))
    backends = [FakeBackend({"sleep_per_batch": 0.05}) for _ in range(2)]
    threads = [threading.Thread(target=run_inference, args=(cfg, "ambiguous"),
                                kwargs={"backend": b, "part_size": 4, "progress": False}) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(sum(b.batch_sizes) for b in backends) == 12  # no block computed twice
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert records["utt_id"].is_unique and info["summary"]["complete"] and len(records) == 12


def test_shards_merge_to_the_unsharded_result(tmp_path):
    whole = load_config(make_project(tmp_path / "a", n=13, batch_size=2))
    run_inference(whole, "ambiguous", part_size=4, progress=False)
    expected, _ = load_records(whole.run_dir, "ambiguous")
    sharded = load_config(make_project(tmp_path / "b", n=13, batch_size=2))
    run_inference(sharded, "ambiguous", shard="1/3", part_size=4, progress=False)
    with pytest.warns(UserWarning, match="only 4 of 13"):
        partial, info = load_records(sharded.run_dir, "ambiguous")
    assert partial["utt_id"].tolist() == ["u004", "u005", "u006", "u007"] and not info["summary"]["complete"]
    for i in (2, 0):
        run_inference(sharded, "ambiguous", shard=f"{i}/3", part_size=4, progress=False)
    merged, info = load_records(sharded.run_dir, "ambiguous")
    assert canonical(merged) == canonical(expected) and info["summary"]["complete"]


def test_changed_settings_refuse_to_mix_with_existing_parts(tmp_path):
    cfg_path = make_project(tmp_path, n=4)
    _run(cfg_path)
    changed = load_config(cfg_path, overrides={"generation": {"max_new_tokens": 5}})
    with pytest.raises(ConfigError, match="differs in: generation"):
        run_inference(changed, "ambiguous", progress=False)


@pytest.mark.parametrize("text,expected", [(None, (0, 1)), ("0/4", (0, 4)), ("3/4", (3, 4)), ((1, 2), (1, 2))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "0/0"])
def test_parse_shard_rejects(text):
    with pytest.raises(ConfigError, match="shard"):
        parse_shard(text)


def test_missing_manifest_names_the_step_to_run(tmp_path, capsys):
    cfg_path = make_project(tmp_path, n=2, write_manifest=False)
    with pytest.raises(DataError, match="python -m emologits prepare"):
        _run(cfg_path)
    assert cli_main(["infer", "--config", str(cfg_path)]) == 2
    assert "manifest.parquet not found" in capsys.readouterr().err


def test_cli_runs_every_configured_prompt(tmp_path):
    cfg_path = make_project(tmp_path, n=5)
    assert cli_main(["infer", "--config", str(cfg_path), "--limit", "3"]) == 0
    cfg = load_config(cfg_path)
    for pid in ("ambiguous", "single"):
        with pytest.warns(UserWarning, match="only 3 of 5"):
            records, info = load_records(cfg.run_dir, pid)
        assert len(records) == 3 and info["manifest"]["limit"] == 3
    with pytest.warns(UserWarning):
        single, _ = load_records(cfg.run_dir, "single")
    assert set(single["text"]) <= {"Happiness", "Sadness", "Neutral", "Angry"}


def test_load_records_before_any_run_names_the_command(tmp_path):
    cfg = load_config(make_project(tmp_path, n=2))
    with pytest.raises(DataError, match="python -m emologits infer"):
        load_records(cfg.run_dir, "ambiguous")


def test_summarize_parts_counts_what_is_on_disk(tmp_path):
    cfg, out = _run(make_project(tmp_path, n=5, special={0: lambda p: p.write_bytes(b"x")}))
    assert summarize_parts(out)["failures_by_reason"] == {"unreadable": 1}


def test_likelihood_method_writes_score_columns(tmp_path):
    from emologits.extract.likelihood import answer_continuations, likelihood_distributions

    special = {2: lambda p: p.write_bytes(b"x")}
    cfg, out = _run(make_project(tmp_path, n=5, special=special), prompt="single", method="likelihood")
    assert out == cfg.run_dir / "likelihood" / "single"
    records, info = load_records(cfg.run_dir, "single", method="likelihood")
    assert info["continuations"] == answer_continuations("single")
    assert {"logprob_anger", "n_tokens_anger", "logprob_neutral", "n_tokens_neutral", "seconds"} <= set(records.columns)
    backend = FakeBackend()
    audio, _ = load_audio(tmp_path / "audio" / "u001.wav")
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), "single")
    [angry] = backend.score(audio, prompt.text, ["Angry"])
    row = records.iloc[1]
    assert list(row["logprob_anger"]) == pytest.approx([float(angry.astype(np.float64).sum())])
    assert list(row["n_tokens_anger"]) == [len(angry)]
    assert records["error"][2] == "unreadable"
    dist = likelihood_distributions(records)
    assert dist["valid"].tolist() == [True, True, False, True, True]
    assert np.allclose(dist.loc[dist["valid"], ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].sum(axis=1), 1)


def test_manifest_without_audio_path_fails_those_utterances_clearly(tmp_path):
    cfg_path = make_project(tmp_path, n=3)
    cfg = load_config(cfg_path)
    manifest = pd.read_parquet(cfg.run_dir / "manifest.parquet")
    manifest.loc[1, "audio_path"] = None
    run_inference(cfg, "ambiguous", manifest=manifest, progress=False)
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert records["status"].tolist() == ["ok", "failed", "ok"] and records["error"][1] == "no_audio"
    assert info["summary"]["failures_by_reason"] == {"no_audio": 1}


class _BatchScoringFake(FakeBackend):
    """Records the batch sizes score_batch sees; score raises for one audio length."""

    def __init__(self, fail_samples: int | None = None):
        super().__init__()
        self.score_batch_sizes: list[int] = []
        self.fail_samples = fail_samples

    def score(self, audio, prompt, continuations):
        if len(audio) == self.fail_samples:
            raise RuntimeError("fake scoring failure")
        return super().score(audio, prompt, continuations)

    def score_batch(self, audios, prompt, continuations):
        self.score_batch_sizes.append(len(audios))
        return super().score_batch(audios, prompt, continuations)


def test_likelihood_scores_whole_batches_and_isolates_a_failing_utterance(tmp_path):
    cfg_path = make_project(tmp_path, n=10, batch_size=4)
    cfg = load_config(cfg_path)
    fail = int(round((0.2 + 0.01 * 5) * 16000))  # utterance u005's length in samples
    backend = _BatchScoringFake(fail_samples=fail)
    run_inference(cfg, "single", method="likelihood", backend=backend, progress=False)
    # batches of 4, 4, 2; the batch holding u005 raised and was retried one utterance at a time
    assert backend.score_batch_sizes == [4, 4, 1, 1, 1, 1, 2]
    records, _ = load_records(cfg.run_dir, "single", method="likelihood")
    assert records["status"].tolist() == ["ok"] * 5 + ["failed"] + ["ok"] * 4
    assert records["error"][5] == "model_error" and "fake scoring failure" in records["error_message"][5]
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), "single")
    audio, _ = load_audio(tmp_path / "audio" / "u006.wav")
    [angry] = FakeBackend().score(audio, prompt.text, ["Angry"])
    assert list(records["logprob_anger"][6]) == pytest.approx([float(angry.astype(np.float64).sum())])


def test_resume_with_another_too_long_policy_refuses_to_mix(tmp_path):
    cfg_path = make_project(tmp_path, n=4)
    _run(cfg_path)  # too_long="truncate"
    with pytest.raises(ConfigError, match="differs in: too_long"):
        _run(cfg_path, too_long="fail")


@pytest.mark.parametrize("kw,match", [({"limit": 0}, "--limit must be >= 1, got 0"),
                                      ({"limit": -1}, "--limit must be >= 1, got -1"),
                                      ({"too_long": "crop"}, "--too-long 'crop': expected one of")])
def test_run_inference_rejects_bad_limit_and_too_long_policy(tmp_path, kw, match):
    cfg_path = make_project(tmp_path, n=3)
    with pytest.raises(ConfigError, match=match):
        _run(cfg_path, backend=FakeBackend(), **kw)
    assert not (tmp_path / "runs" / "t" / "inference").exists()  # nothing written


@pytest.mark.parametrize("limit", ["-1", "0"])
def test_cli_rejects_a_bad_limit_before_loading_the_model(tmp_path, capsys, monkeypatch, limit):
    import emologits.inference.cli as inference

    def never(*args, **kwargs):
        raise AssertionError("the model must not load before the arguments are checked")

    monkeypatch.setattr(inference, "_load_backend", never)
    cfg_path = make_project(tmp_path, n=3)
    assert cli_main(["infer", "--config", str(cfg_path), "--limit", limit]) == 2
    assert f"--limit must be >= 1, got {limit}" in capsys.readouterr().err


def test_backend_returning_too_few_results_fails_each_utterance_with_a_reason(tmp_path):
    cfg_path = make_project(tmp_path, n=5, batch_size=4, options={"drop_last_result": True})
    cfg, _ = _run(cfg_path)
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert records["utt_id"].tolist() == [f"u{i:03d}" for i in range(5)]  # none silently dropped
    assert records["status"].tolist() == ["failed"] * 5 and set(records["error"]) == {"model_error"}
    assert all("returned 0 result(s) for 1 utterance(s)" in m for m in records["error_message"])
    assert info["summary"]["failures_by_reason"] == {"model_error": 5}


def test_too_few_results_from_a_batch_are_retried_one_at_a_time(tmp_path):
    class ShortBatches(FakeBackend):  # a batch of n gives n - 1 records; a batch of 1 is fine
        def generate(self, audios, prompt, tracked_ids, settings):
            out = super().generate(audios, prompt, tracked_ids, settings)
            return out[:-1] if len(audios) > 1 else out

    cfg = load_config(make_project(tmp_path, n=3, batch_size=3))
    backend = ShortBatches()
    run_inference(cfg, "ambiguous", backend=backend, progress=False)
    assert backend.batch_sizes == [3, 1, 1, 1]
    records, _ = load_records(cfg.run_dir, "ambiguous")
    assert (records["status"] == "ok").all()
    expected = FakeBackend()
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), "ambiguous")
    audio, _ = load_audio(tmp_path / "audio" / "u002.wav")
    [rec] = expected.generate([audio], prompt.text, tracked_token_ids(expected.tokenizer),
                              GenerationSettings.from_config(cfg.generation))
    assert records["text"][2] == rec.text  # each utterance keeps its own record


def test_the_limit_subset_is_nested_seeded_and_in_manifest_order():
    manifest = pd.DataFrame({"utt_id": [f"u{i:03d}" for i in range(50)]})
    small, large = (subset_manifest(manifest, n, seed=3)["utt_id"].tolist() for n in (7, 20))
    assert set(small) <= set(large) and small == sorted(small) and len(large) == 20
    assert subset_manifest(manifest, 7, seed=3)["utt_id"].tolist() == small  # deterministic
    assert subset_manifest(manifest, 7, seed=4)["utt_id"].tolist() != small
    assert len(subset_manifest(manifest, 0)) == 50 and len(subset_manifest(manifest, 99)) == 50
    with pytest.raises(ConfigError, match="limit must be >= 1"):
        subset_manifest(manifest, -3)


def test_a_full_disk_during_inference_is_one_message_and_keeps_every_finished_part(tmp_path, capsys, monkeypatch):
    import errno
    import os

    import pyarrow.parquet as pq

    cfg_path = make_project(tmp_path, n=24, batch_size=2)  # blocks of 8
    cfg = load_config(cfg_path)
    run_inference(cfg, "ambiguous", limit=4, progress=False)
    out = cfg.run_dir / "inference" / "ambiguous"
    before = {p.name: p.read_bytes() for p in out.glob("part-*.parquet")}
    real_write = pq.write_table
    calls = []

    def full_after_one(table, where, *args, **kwargs):
        calls.append(where)
        if len(calls) > 1:
            with open(where, "wb") as fh:
                fh.write(b"PAR1 half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", full_after_one)
    capsys.readouterr()
    assert cli_main(["infer", "--config", str(cfg_path), "--prompt", "ambiguous"]) == 2
    err = capsys.readouterr().err
    assert "disk full while writing" in err and "Traceback" not in err
    after = {p.name: p.read_bytes() for p in out.glob("part-*.parquet")}
    assert all(after[name] == data for name, data in before.items())  # nothing finished is touched
    assert len(after) == len(before) + 1  # the one part written before the disk filled up
    assert not [p for p in out.iterdir() if p.name.startswith(".part-")]  # no temp file left
    monkeypatch.setattr(pq, "write_table", real_write)
    assert cli_main(["infer", "--config", str(cfg_path), "--prompt", "ambiguous"]) == 0  # the rerun finishes
    records, info = load_records(cfg.run_dir, "ambiguous")
    assert info["summary"]["complete"] and len(records) == 24


def test_computing_blocks_reads_none_of_the_parts_this_run_writes(tmp_path, monkeypatch):
    """The per-block re-check under the lock reads only parts written since the plan by others,
    so the run's reads of part files do not grow with the number of blocks done; the end-of-run
    summaries share one read."""
    from emologits.inference import runner, store

    events: list[str] = []
    read, write = store._read, runner.write_part
    monkeypatch.setattr(store, "_read", lambda path, columns: events.append("read") or read(path, columns))
    monkeypatch.setattr(runner, "write_part", lambda *a, **kw: events.append("write") or write(*a, **kw))
    cfg = load_config(make_project(tmp_path, n=12, batch_size=2))
    run_inference(cfg, "ambiguous", part_size=2, backend=FakeBackend(), progress=False)
    last_write = len(events) - 1 - events[::-1].index("write")
    assert events.count("write") == 6 and "read" not in events[:last_write]  # the summaries read after
    assert events[last_write:].count("read") == 6  # each part once, for every summary of the run


def test_load_records_reads_only_the_columns_asked_for(tmp_path):
    cfg = load_config(make_project(tmp_path, n=4))
    run_inference(cfg, "ambiguous", progress=False)
    full, info = load_records(cfg.run_dir, "ambiguous")
    some, some_info = load_records(cfg.run_dir, "ambiguous", columns=["seconds"])
    assert list(some.columns) == ["utt_id", "status", "error", "seconds"] and "tracked_logits" in full.columns
    pd.testing.assert_frame_equal(some, full[list(some.columns)])
    assert some_info["summary"] == info["summary"]
