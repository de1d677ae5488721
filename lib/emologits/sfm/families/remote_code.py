"""Audio LLMs that are not in transformers: their code ships with the checkpoint (``trust_remote_code``).
Refused unless ``model.trust_remote_code: true`` is set; then the generic ``hf-audio`` path is tried
through the auto classes with the checkpoint's own code. Untested here (no offline classes): their
processors and chat formats differ from transformers' conventions and may need a back-end of their own.
"""
from __future__ import annotations

from emologits.sfm.hf_audio import HfAudioBackend


class _RemoteCodeBackend(HfAudioBackend):
    needs_remote_code = True
    auto_classes = ("AutoModelForCausalLM", "AutoModel")


class KimiAudioBackend(_RemoteCodeBackend):
    name = "kimi-audio"
    family = "Kimi-Audio"
    default_model = "moonshotai/Kimi-Audio-7B-Instruct"


class StepAudioBackend(_RemoteCodeBackend):
    name = "step-audio"
    family = "Step-Audio"
    default_model = "stepfun-ai/Step-Audio-2-mini"


class MiniCPMOBackend(_RemoteCodeBackend):
    name = "minicpm-o"
    family = "MiniCPM-o"
    default_model = "openbmb/MiniCPM-o-2_6"
