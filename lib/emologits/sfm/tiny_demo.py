"""``tiny-demo`` back-end: the real Qwen2-Audio class at a tiny size, trained locally on synthetic data
(:mod:`emologits.sfm.tiny_demo_train`). A PIPELINE CHECK, never the paper's numbers.

Everything after loading is the ``qwen2-audio`` back-end's code (same class, processor, chat
template, capture), so the demo exercises the real path.
"""
from __future__ import annotations

from typing import Any

from emologits.config import resolve_path
from emologits.sfm.qwen2_audio import Qwen2AudioBackend
from emologits.sfm.tiny_demo_train import TinyDemoOptions, TinyDemoSettings, ensure_tiny_demo, read_stamp

DEFAULT_DIR = ".cache/tiny-demo"


class TinyDemoBackend(Qwen2AudioBackend):
    """Tiny trained Qwen2-Audio; trained on first use and cached under ``model.name_or_path``."""

    name = "tiny-demo"
    options_model = TinyDemoOptions

    @classmethod
    def from_config(cls, model: dict[str, Any], *, project_root: Any = None) -> TinyDemoBackend:
        """``model`` section: name_or_path (cache dir; default ``.cache/tiny-demo`` under the
        project root), dtype (default float32), device (default cpu), options: the training
        settings (:class:`TinyDemoSettings`: seed, corpus_seed, n_train, steps, …). A cache whose
        stamp matches the settings and package versions is loaded; otherwise the model is trained
        (about a minute on 2 CPU cores) and cached."""
        settings = TinyDemoSettings.from_options(model.get("options"))
        path = ensure_tiny_demo(resolve_path(model.get("name_or_path") or DEFAULT_DIR, project_root), settings)
        dtype = model.get("dtype")
        backend = cls.load(str(path), dtype="float32" if dtype in (None, "auto") else dtype,
                           device=model.get("device") or "cpu")
        backend.stamp = read_stamp(path)
        return backend

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "pipeline_check": True, "tiny_demo_stamp": getattr(self, "stamp", None)}
