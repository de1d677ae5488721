"""One strict, typed configuration: every key of every section (options per back-end and per data
set included) is checked when the config loads, before any model is built; a problem names the
file, the dotted path and, for a typo, the closest known key."""
from __future__ import annotations

import re

import pytest
import yaml

from conftest import PROJECT_ROOT
from emologits.config import config_from_dict, load_config
from emologits.errors import ConfigError
from fake_backend import FakeBackend, make_project

CONFIGS = PROJECT_ROOT / "configs"
BUILT: list[str] = []  # back-ends RecordingBackend built


class RecordingBackend(FakeBackend):
    """The fake back-end, recording each construction (none may happen for a bad config)."""

    @classmethod
    def from_config(cls, model, *, project_root=None):
        BUILT.append("built")
        return super().from_config(model, project_root=project_root)


def _write(tmp_path, text: str, name: str = "typo.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _load_error(tmp_path, text: str, **kw) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, **kw)
    return str(err.value)


@pytest.mark.parametrize("text, line", [
    ("model: {bach_size: 4}", "model.bach_size: unknown key (did you mean 'batch_size'?)"),
    ("evaluation: {bootstap: 50}", "evaluation.bootstap: unknown key (did you mean 'bootstrap'?)"),
    ("evaluation: {token_normalise: ratio}",
     "evaluation.token_normalise: unknown key (did you mean 'token_normalize'?)"),
    ("generation: {max_new_tokns: 2}", "generation.max_new_tokns: unknown key (did you mean 'max_new_tokens'?)"),
    ("data: {dataset: synthetic, options: {n_utterance: 3}}",
     "data.options.n_utterance: unknown key (did you mean 'n_utterances'?)"),
    ("data: {dataset: iemocap, options: {seed: 3}}", "data.options.seed: unknown key: nothing is accepted here"),
    ("model: {backend: tiny-demo, options: {stepz: 3}}", "model.options.stepz: unknown key (did you mean 'steps'?)"),
    ("model: {backend: qwen2-audio, options: {attn_implementaton: sdpa}}",
     "model.options.attn_implementaton: unknown key (did you mean 'attn_implementation'?)"),
    ("model: {backend: ltu-as, options: {wisper: /w}}", "model.options.wisper: unknown key (did you mean 'whisper'?)"),
    ("model: {backend: ltu-as, options: {seed: 0}}",
     "model.options.seed: unknown key: the sampling seed belongs in generation: use generation.seed"),
    ("modle: {backend: tiny-demo}", "modle: unknown key (did you mean 'model'?)"),
    ("pipeline: {max_failed_fraktion: 0.1}",
     "pipeline.max_failed_fraktion: unknown key (did you mean 'max_failed_fraction'?)"),
])
def test_unknown_key_names_file_dotted_path_and_closest_key(tmp_path, text, line):
    message = _load_error(tmp_path, f"run: r\n{text}\n")
    assert message == f"{tmp_path / 'typo.yaml'}: {line}"


@pytest.mark.parametrize("text, line", [
    ("model: {batch_size: -3}", "model.batch_size: must be greater than or equal to 1 (got -3)"),
    ("model: {batch_size: '8'}", "model.batch_size: must be a valid integer (got '8')"),
    ("model: {dtype: fp16}", "model.dtype: must be 'auto', 'float32', 'float16' or 'bfloat16' (got 'fp16')"),
    ("model: {device: gpu}", "model.device: must be auto, cpu, mps, cuda or cuda:<index> (got 'gpu')"),
    ("evaluation: {bootstrap: 0}", "evaluation.bootstrap: must be greater than or equal to 1 (got 0)"),
    ("evaluation: {token_normalize: l1}", "evaluation.token_normalize: must be 'ratio' or 'softmax' (got 'l1')"),
    ("evaluation: {kl: kld}", "evaluation.kl: must be 'paper' or 'textbook' (got 'kld')"),
    ("generation: {top_p: 1.5}", "generation.top_p: must be less than or equal to 1 (got 1.5)"),
    ("generation: {temperature: 0}", "generation.temperature: must be greater than 0 (got 0)"),
    ("generation: {preset: beam}", "generation.preset: must be 'greedy' or 'ltu_as_release' (got 'beam')"),
    ("data: {dataset: msp}", "data.dataset: unknown dataset 'msp'; known: iemocap, cremad, synthetic"),
    ("data: {limit: 0}", "data.limit: must be greater than or equal to 1 (got 0)"),
    ("data: {dataset: cremad, selection: aer-llm}", "data.selection: 'aer-llm' is a rule of iemocap, synthetic, not of cremad; cremad rules"),
    ("data: {dataset: synthetic, options: {n_utterances: 0}}",
     "data.options.n_utterances: must be greater than or equal to 1 (got 0)"),
    ("model: {backend: tiny-demo, options: {steps: many}}", "model.options.steps: must be a valid integer (got 'many')"),
    ("model: {backend: ltu-as, options: {transcript: asr}}", "model.options.transcript: must be 'whisper', "),
    ("model: {backend: qwen-audio}", "model.backend: unknown back-end 'qwen-audio' (did you mean 'qwen2-audio'?)"),
    ("prompts: {ids: []}", "prompts.ids: must hold at least 1 item(s) (got [])"),
    ("prompts: {ids: [ambiguous, 3]}", "prompts.ids[1]: must be a valid string (got 3)"),
    ("pipeline: {max_failed_fraction: 1.5}", "pipeline.max_failed_fraction: must be less than or equal to 1 (got 1.5)"),
    ("pipeline: {methods: [generate, likelihod]}",
     "pipeline.methods: unknown method 'likelihod' (did you mean 'likelihood'?)"),
    ("pipeline: {methods: [likelihood]}", "pipeline.methods: must include 'generate'"),
    ("pipeline_check: 1", "pipeline_check: must be a valid boolean (got 1)"),
    ("data: 3", "data: must be a mapping (got 3)"),
])
def test_wrong_type_or_value_names_dotted_path_and_value(tmp_path, text, line):
    message = _load_error(tmp_path, f"run: r\n{text}\n")
    assert message.startswith(f"{tmp_path / 'typo.yaml'}: {line}")


@pytest.mark.parametrize("key, value, reason", [
    ("num_beams", 2, "beam search keeps several candidate rows per input and reorders them"),
    ("num_return_sequences", 2, "one generation per utterance"),
    ("prompt_lookup_num_tokens", 10, "assisted / prompt-lookup decoding"),
    ("assistant_model", "x", "assisted / prompt-lookup decoding"),
    ("penalty_alpha", 0.6, "contrastive search"),
    ("cache_implementation", "static", "compile and cache settings"),
    ("compile_config", {}, "compile and cache settings"),
])
def test_decoding_the_single_pass_capture_cannot_follow_is_refused_with_a_reason(tmp_path, key, value, reason):
    message = _load_error(tmp_path, yaml.safe_dump({"run": "r", "generation": {key: value}}))
    assert message.startswith(f"{tmp_path / 'typo.yaml'}: generation.{key}: not supported: {reason}")


def test_every_problem_is_listed_in_one_error(tmp_path):
    message = _load_error(tmp_path, "run: r\nmodel: {bach_size: 4, backend: tiny-demo, options: {sed: 1}}\n"
                                    "evaluation: {bootstap: 50, token_normalise: ratio}\n"
                                    "generation: {num_beams: 2}\n")
    lines = message.splitlines()
    assert lines[0] == "5 problems in the configuration:"
    assert all(line.startswith(f"  - {tmp_path / 'typo.yaml'}: ") for line in lines[1:])
    for path in ("model.bach_size", "model.options.sed", "evaluation.bootstap", "evaluation.token_normalise",
                 "generation.num_beams"):
        assert sum(f": {path}: " in line for line in lines) == 1, path


def test_run_is_required_and_usable_as_a_folder_name(tmp_path):
    assert _load_error(tmp_path, "model: {batch_size: 2}\n").endswith("typo.yaml: run: required")
    assert "run: must be a non-empty name usable as a folder name" in _load_error(tmp_path, "run: a/b\n")
    with pytest.raises(ConfigError, match=r"^<config>: run: required$"):
        config_from_dict({})


def test_overrides_are_validated_and_labelled(tmp_path):
    message = _load_error(tmp_path, "run: r\n", overrides={"generation": {"max_new_tokns": 2}})
    assert message == (f"{tmp_path / 'typo.yaml'} (overrides): generation.max_new_tokns: unknown key "
                       "(did you mean 'max_new_tokens'?)")
    cfg = load_config(_write(tmp_path, "run: r\nmodel: {batch_size: 2}\n"), overrides={"model": {"batch_size": 3}})
    assert cfg.model["batch_size"] == 3


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("compare_")),
                         ids=lambda p: p.name)  # compare_*.yaml: comparison configs (tests/test_compare.py)
def test_shipped_configs_load_with_every_default_filled(path):
    from emologits.config import SECTIONS, ConfigSchema
    cfg = load_config(path)
    full = cfg.as_dict()
    assert set(full) == {"run", "pipeline_check", *SECTIONS}
    for section in SECTIONS:
        fields = ConfigSchema.model_fields[section].annotation.model_fields
        assert set(full[section]) == set(fields), section
    # every shipped config computes the paper's rows (and label likelihood); notebook 09's methods are extra
    assert cfg.pipeline["methods"][:2] == ["generate", "likelihood"] and cfg.pipeline["max_failed_fraction"] == 0.05
    assert cfg.evaluation["calibration"]["groups"] == ("speaker" if "cremad" in path.name else "session")
    from emologits.sfm import backend_class
    options_model = backend_class(cfg.model["backend"]).options_model
    assert set(cfg.model["options"]) == set(options_model.model_fields)
    # the filled-in config is itself a valid config that loads to the same thing
    assert config_from_dict(full, path=path).as_dict() == full


def test_defaults_come_from_the_schema(tmp_path):
    cfg = load_config(_write(tmp_path, "run: r\nmodel: {backend: tiny-demo, options: {seed: 3}}\n"
                                       "generation: {preset: ltu_as_release, max_new_tokens: 9}\n"))
    assert cfg.model["batch_size"] == 8 and cfg.model["dtype"] == "auto" and cfg.model["device"] == "auto"
    assert cfg.model["options"]["seed"] == 3 and cfg.model["options"]["steps"] == 800
    assert cfg.generation == {"preset": "ltu_as_release", "max_new_tokens": 9, "do_sample": True,
                              "temperature": 0.1, "top_p": 0.95, "top_k": 500, "repetition_penalty": 1.1,
                              "seed": 0}
    assert cfg.evaluation == {"kl": "paper", "r2": "paper", "ties": "paper", "bootstrap": 1000, "seed": 0,
                              "token_normalize": "ratio", "calibration": {"groups": "session", "l2": 1e-3},
                              "ensemble": {"prompts": ["ambiguous", "ambiguous_p1", "ambiguous_p2", "ambiguous_p3", "ambiguous_p4"]}}
    assert cfg.prompts == {"file": "prompts/prompts.yaml", "ids": ["ambiguous", "single"]}
    assert cfg.data == {"dataset": None, "root": None, "selection": None, "limit": None, "emotion_set": "paper4",
                        "options": {}}
    assert cfg.as_dict()["pipeline"] == {
        "methods": ["generate", "likelihood"], "max_failed_fraction": 0.05,
        "sampling": {"n": 10, "temperature": 1.0, "top_p": 1.0, "top_k": None, "seed": 0},
        "contextual": {"seconds": 2.0, "noise_rms": 1e-3, "noise_draws": 2, "seed": 0}, "method_prompts": {}}


def test_a_user_backend_without_options_model_takes_any_options(tmp_path):
    cfg = load_config(make_project(tmp_path, n=1, options={"sleep_per_batch": 0.1, "anything": [1, 2]}))
    assert cfg.model["options"] == {"sleep_per_batch": 0.1, "anything": [1, 2]}
    assert _load_error(tmp_path, "run: r\nmodel: {backend: 'no_such_module:Cls'}\n").endswith(
        "model.backend: cannot import no_such_module:Cls (No module named 'no_such_module')")


def test_generation_settings_pass_only_known_decoding_settings_to_generate():
    from emologits.sfm.base import GenerationSettings
    with pytest.raises(ConfigError, match=r"^generation\.max_new_tokns: unknown key \(did you mean 'max_new_tokens'\?\)$"):
        GenerationSettings.from_config({"max_new_tokns": 2})
    with pytest.raises(ConfigError, match=r"^generation\.num_beams: not supported: beam search"):
        GenerationSettings.from_config({"num_beams": 2})
    settings = GenerationSettings.from_config({"preset": "ltu_as_release"})
    assert settings.generate_kwargs() == {"max_new_tokens": 64, "do_sample": True, "temperature": 0.1,
                                          "top_p": 0.95, "top_k": 500, "repetition_penalty": 1.1}


def test_backends_check_their_options_with_the_same_schema(tmp_path):
    from emologits.sfm.ltu_as import LtuAsBackend
    from emologits.sfm.qwen2_audio import Qwen2AudioBackend
    from emologits.sfm.tiny_demo import TinyDemoSettings
    with pytest.raises(ConfigError, match=r"^model\.options\.device_mapp: unknown key \(did you mean 'device_map'\?\)$"):
        Qwen2AudioBackend.load(str(tmp_path), device="cpu", options={"device_mapp": "auto"})
    with pytest.raises(ConfigError, match=r"^model\.options\.asr_max_new_tokens: must be greater than or equal to 1"):
        LtuAsBackend.from_config({"backend": "ltu-as", "options": {"asr_max_new_tokens": 0}})
    assert TinyDemoSettings.from_options({"seed": 4}) == TinyDemoSettings(seed=4)


@pytest.mark.parametrize("command", ["infer", "predict"])
def test_cli_refuses_a_bad_config_before_building_the_model(tmp_path, capsys, command):
    from emologits.cli import main as cli_main
    path = make_project(tmp_path, n=2, backend="test_config:RecordingBackend", generation={"max_new_tokns": 2})
    BUILT.clear()
    argv = ["infer", "--config", str(path)] if command == "infer" else \
        ["predict", "--config", str(path), str(tmp_path / "audio" / "u000.wav")]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: generation.max_new_tokns: unknown key (did you mean 'max_new_tokens'?)" in err
    assert BUILT == []
    assert not (tmp_path / "runs" / "t" / "inference").exists()


def test_pipeline_refuses_a_bad_config_before_any_notebook(tmp_path):
    from emologits.pipeline import run_notebooks
    path = make_project(tmp_path, n=2, generation={"num_beams": 2})
    with pytest.raises(ConfigError, match=r"generation\.num_beams: not supported: beam search"):
        run_notebooks(path, output_root=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_notebooks_load_their_config_through_load_config():
    import json
    for notebook in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
                         if c["cell_type"] == "code")
        # directly, or through emologits.notebook.setup (which calls load_config)
        assert "cfg = load_config(config_path" in code or "= setup(config_path" in code, notebook.name
        assert not re.search(r"yaml\.safe_load|read_yaml|config_from_dict", code), notebook.name


def test_model_dtypes_agree_with_the_device_module():
    from emologits.config import DTYPES
    from emologits.sfm.device import DTYPES as TORCH_DTYPES
    assert set(DTYPES) == {"auto", *TORCH_DTYPES}


def _schema_keys() -> list[str]:
    """Every dotted key of the schema, options per back-end and per data set included."""
    from emologits.config import SECTIONS, ConfigSchema
    from emologits.data import DATASET_OPTIONS
    from emologits.sfm import BACKENDS, backend_class
    keys = list(ConfigSchema.model_fields)
    for section in SECTIONS:
        keys += [f"{section}.{k}" for k in ConfigSchema.model_fields[section].annotation.model_fields]
    for name in BACKENDS:
        keys += [f"model.options.{k}" for k in backend_class(name).options_model.model_fields]
    for model in DATASET_OPTIONS.values():
        keys += [f"data.options.{k}" for k in model.model_fields]
    return sorted(set(keys))


def test_docs_list_every_key():
    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    missing = [k for k in _schema_keys() if f"`{k}`" not in doc]
    assert not missing, f"docs/configuration.md does not mention {missing}"
    assert "pydantic" in doc

