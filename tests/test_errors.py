"""One clear message instead of a traceback: a device the machine lacks, ``prepare --out`` naming a
folder, a full disk, hub weights without a network. No test here reaches the network: the hub
probe is replaced, or pointed at a local port."""
from __future__ import annotations

import errno
import http.server
import os
import socket
import threading
import time

import pandas as pd
import pytest
import torch

from emologits import cli
from emologits.errors import ConfigError
from emologits.sfm import hub
from emologits.sfm.device import resolve_device


# --- model.device ----------------------------------------------------------------------------------

@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_on_a_machine_without_cuda(no_gpu, device):
    with pytest.raises(ConfigError) as info:
        resolve_device(device)
    assert str(info.value) == (
        f"model.device is '{device}' but this machine has no CUDA GPU (torch {torch.__version__}, "
        f"{'built with CUDA ' + torch.version.cuda if torch.version.cuda else 'built without CUDA'}): "
        "set model.device: cpu or auto")


def test_a_cuda_index_beyond_the_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError) as info:
        resolve_device("cuda:3")
    assert str(info.value) == ("model.device is 'cuda:3' but this machine has 2 CUDA GPUs (cuda:0 to cuda:1): "
                               "use one of those, or set model.device: cpu or auto")


def test_mps_without_mps_and_unknown_devices(no_gpu):
    with pytest.raises(ConfigError, match=r"model\.device is 'mps' but this machine has no MPS .*cpu or auto"):
        resolve_device("mps")
    with pytest.raises(ConfigError, match=r"model\.device 'gpu' is not a device: use auto, cpu, cuda"):
        resolve_device("gpu")
    assert resolve_device("auto") == "cpu" and resolve_device(None) == "cpu" and resolve_device("cpu") == "cpu"


# --- prepare --out ---------------------------------------------------------------------------------

def _prepare(tmp_path, out, capsys):
    root = tmp_path / "synthetic"
    rc = cli.main(["prepare", "--dataset", "synthetic", "--root", str(root), "--out", str(out),
                   "--n-utterances", "8"])
    return rc, capsys.readouterr(), root


def test_prepare_out_naming_a_folder_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "manifests"
    out.mkdir()
    rc, captured, root = _prepare(tmp_path, out, capsys)
    assert rc == 2
    assert captured.err == (f"error: --out {out} is a folder: give the manifest file to write, "
                            f"e.g. --out {out / 'manifest.parquet'}\n")
    assert not root.exists()  # the synthetic corpus was not generated
    assert list(out.iterdir()) == []


def test_prepare_out_through_a_file_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    rc, captured, root = _prepare(tmp_path, tmp_path / "notes.txt" / "m.parquet", capsys)
    assert rc == 2 and "notes.txt is a file, not a folder" in captured.err
    assert not root.exists()


def test_prepare_creates_missing_parent_folders(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "m.parquet"
    rc, captured, _ = _prepare(tmp_path, out, capsys)
    assert rc == 0, captured.err
    assert len(pd.read_parquet(out)) > 0


def test_prepare_on_a_full_disk_is_one_message_and_no_file(tmp_path, capsys, monkeypatch):
    def full(self, path, *args, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    out = tmp_path / "out" / "m.parquet"
    rc, captured, _ = _prepare(tmp_path, out, capsys)
    assert rc == 2
    assert captured.err.startswith(f"error: disk full while writing {out}: nothing was written there")
    assert "Traceback" not in captured.err
    assert list((tmp_path / "out").iterdir()) == []


# --- hub weights without a network -----------------------------------------------------------------

MODEL_ID = "emologits-tests/not-a-real-model"


def _fake_cache(cache, repo_id, revision="main"):
    """The layout huggingface_hub writes: models--org--name/{refs/<rev>, snapshots/<hash>/config.json}."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / revision).write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")


@pytest.fixture
def probe_calls(monkeypatch):
    """Replace the endpoint probe: records calls, answers with the configured failure (None = reachable)."""
    calls: list[str | None] = []
    state = {"failure": "ConnectError: [Errno -2] Name or service not known"}

    def probe(endpoint=None, timeout=hub.PROBE_TIMEOUT_S):
        calls.append(endpoint)
        return state["failure"]
    monkeypatch.setattr(hub, "probe_endpoint", probe)
    return calls, state


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def online(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)


def test_offline_and_not_cached_fails_at_once_without_a_request(tmp_path, offline, probe_calls):
    calls, _ = probe_calls
    with pytest.raises(ConfigError) as info:
        hub.check_hub_reachable(MODEL_ID, None, cache_dir=tmp_path)
    message = str(info.value)
    assert message.startswith(f"offline: model '{MODEL_ID}' is not a local folder and not in the Hugging Face "
                              f"cache ({tmp_path}), and HF_HUB_OFFLINE is set")
    assert message.endswith("put the weights at a local path (model.name_or_path) or set HF_HUB_OFFLINE=0")
    assert calls == []


def test_transformers_offline_counts_too(tmp_path, monkeypatch, probe_calls):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "yes")
    with pytest.raises(ConfigError, match="and TRANSFORMERS_OFFLINE is set"):
        hub.check_hub_reachable(MODEL_ID, "v1", cache_dir=tmp_path)
    assert probe_calls[0] == []


def test_offline_and_cached_passes(tmp_path, offline, probe_calls):
    _fake_cache(tmp_path, MODEL_ID)
    hub.check_hub_reachable(MODEL_ID, None, cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"\(revision 'v2'\) is not a local folder"):
        hub.check_hub_reachable(MODEL_ID, "v2", cache_dir=tmp_path)  # another revision is not cached
    assert probe_calls[0] == []


def test_no_network_fails_at_once(tmp_path, online, probe_calls):
    """One probe (mocked here), then the message: no retries, no download attempt."""
    calls, _ = probe_calls
    with pytest.raises(ConfigError) as info:
        hub.check_hub_reachable(MODEL_ID, None, cache_dir=tmp_path)
    assert str(info.value) == (
        f"offline: cannot reach {hub.hub_endpoint()} (ConnectError: [Errno -2] Name or service not known) and "
        f"model '{MODEL_ID}' is not in the Hugging Face cache ({tmp_path}): put the weights at a local path "
        "(model.name_or_path), or run where the hub is reachable")
    assert calls == [hub.hub_endpoint()]


def test_no_network_but_cached_says_how_to_use_the_cache(tmp_path, online, probe_calls):
    _fake_cache(tmp_path, MODEL_ID)
    with pytest.raises(ConfigError, match=r"is in the Hugging Face cache .*: set HF_HUB_OFFLINE=1 to load it"):
        hub.check_hub_reachable(MODEL_ID, None, cache_dir=tmp_path)


def test_reachable_hub_and_local_paths_pass(tmp_path, online, probe_calls):
    calls, state = probe_calls
    state["failure"] = None
    hub.check_hub_reachable(MODEL_ID, None, cache_dir=tmp_path)
    assert len(calls) == 1
    state["failure"] = "unreachable"
    hub.check_hub_reachable(str(tmp_path), None)  # a local folder: no probe
    assert len(calls) == 1


def test_a_missing_local_path_is_not_taken_for_a_hub_id(tmp_path, online, probe_calls):
    with pytest.raises(ConfigError, match=r"cannot load: no such local folder, and not a hub id"):
        hub.check_hub_reachable(str(tmp_path / "weights" / "qwen"), None)
    assert probe_calls[0] == []


def test_qwen2_audio_load_checks_before_from_pretrained(tmp_path, offline, monkeypatch):
    """The back-end's loader fails with the offline message, not after from_pretrained's retries."""
    import transformers

    from emologits.sfm.qwen2_audio import Qwen2AudioBackend

    def never(*args, **kwargs):
        raise AssertionError("from_pretrained must not be called")
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", never)
    monkeypatch.setattr(hub, "hub_cache_dir", lambda: tmp_path)
    with pytest.raises(ConfigError, match=f"^offline: model '{MODEL_ID}' is not a local folder"):
        Qwen2AudioBackend.load(MODEL_ID, device="cpu")


def test_probe_endpoint_against_local_ports(monkeypatch):
    """The real probe, on 127.0.0.1 only: a listening HTTP server answers, a closed port does not."""
    from huggingface_hub import constants
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # run_tests.sh sets offline mode

    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert hub.probe_endpoint(f"http://127.0.0.1:{server.server_port}", timeout=2) is None
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    started = time.perf_counter()
    failure = hub.probe_endpoint(f"http://127.0.0.1:{closed}", timeout=2)
    assert failure is not None and "ConnectError" in failure
    assert time.perf_counter() - started < 2.6
