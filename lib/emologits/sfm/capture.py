"""Single-pass logit capture shared by every back-end (paper sec. 3.4.2; issue #4 "Capture").

During one ``generate`` call, keep at each generated step only the raw logits of the tracked ids
(gathered on the device) and the step's full-vocabulary log-sum-exp. Never J x V.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from emologits.sfm.base import GenerationRecord, GenerationSettings


def generate_with_capture(model: Any, generate_inputs: Mapping[str, Any], tracked_ids: Sequence[int],
                          settings: GenerationSettings, *, eos_token_ids: Sequence[int],
                          decode: Callable[[list[int]], str],
                          logits_module: Any = None) -> list[GenerationRecord]:
    """Run ``model.generate(**generate_inputs, **settings.generate_kwargs())`` once and return one
    record per batch row. ``logits_module`` is the module whose forward output carries ``.logits``
    (default: ``model``). Per row, J stops at and includes the first eos token."""
    raise NotImplementedError  # implemented in issue #4


def score_continuations(model: Any, prefix_inputs: Mapping[str, Any],
                        continuation_ids: Sequence[Sequence[int]]) -> list[Any]:
    """Per-token log-probs of each continuation after one shared prefix pass (KV cache reused)."""
    raise NotImplementedError  # implemented in issue #4
