"""Single-pass logit capture shared by every back-end (paper sec. 3.4.2; issue #4 "Capture").

During one ``generate`` call, keep at each generated step only the raw logits of the tracked ids
(gathered on the device) and the step's full-vocabulary log-sum-exp. Never J x V.

How the raw logits are read: a forward hook on the module whose output carries ``.logits`` sees
every forward call's output *before* any logits processor (temperature, top-k/p, repetition
penalty) touches it. It gathers ``logits[:, -1, tracked_ids]`` and ``logsumexp(logits[:, -1])`` in
float32 — the same float32 cast ``generate`` applies to its raw logits. A forward call is not always
a generated step (chunked prefill calls the model several times before the first step; deferred
stop checks run one step too many and undo it), so a tiny logits processor, which ``generate``
calls exactly once per step, *commits* the latest hook capture as that step's; commits beyond the
generated length are dropped.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from emologits.sfm.base import GenerationRecord, GenerationSettings


class _RawLogitCapture(LogitsProcessor):
    """Forward hook (reads raw last-position logits) + pass-through processor (commits per step)."""

    def __init__(self, tracked_ids: Sequence[int]):
        self.tracked = [int(t) for t in tracked_ids]
        self._index: torch.Tensor | None = None
        self._latest: tuple[torch.Tensor, torch.Tensor] | None = None
        self.steps: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(self, module: Any, args: Any, output: Any) -> None:
        logits = output.logits if hasattr(output, "logits") else output[0]
        last = logits[:, -1, :].to(torch.float32)
        if self._index is None or self._index.device != last.device:
            self._index = torch.tensor(self.tracked, dtype=torch.long, device=last.device)
        self._latest = (last.index_select(-1, self._index), torch.logsumexp(last, dim=-1))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._latest is None:
            raise RuntimeError("logit capture: generate called the logits processor before any forward "
                               "output was seen; is logits_module the module that returns .logits?")
        self.steps.append(self._latest)
        self._latest = None
        return scores


def generate_with_capture(model: Any, generate_inputs: Mapping[str, Any], tracked_ids: Sequence[int],
                          settings: GenerationSettings, *, eos_token_ids: Sequence[int],
                          decode: Callable[[list[int]], str],
                          logits_module: Any = None) -> list[GenerationRecord]:
    """Run ``model.generate(**generate_inputs, **settings.generate_kwargs())`` once and return one
    record per batch row. ``logits_module`` is the module whose forward output carries ``.logits``
    (default: ``model``). Per row, J stops at and includes the first eos token.

    ``generate_inputs`` must hold ``input_ids`` (left-padded) or ``inputs_embeds``; when it holds
    ``input_ids`` the generated part of ``sequences`` starts after them. A ``seed`` in ``settings``
    seeds torch right before the call (sampling presets)."""
    capture = _RawLogitCapture(tracked_ids)
    module = model if logits_module is None else logits_module
    handle = module.register_forward_hook(capture.hook)
    kwargs = settings.generate_kwargs()
    user_processors = kwargs.pop("logits_processor", None) or []
    processors = LogitsProcessorList([*user_processors, capture])
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    try:
        with torch.inference_mode():
            out = model.generate(**generate_inputs, **kwargs, logits_processor=processors,
                                 return_dict_in_generate=True)
    finally:
        handle.remove()
    sequences = out.sequences if hasattr(out, "sequences") else out
    input_ids = generate_inputs.get("input_ids")
    # Decoder-only models return prompt + generated; with inputs_embeds only the generated part.
    start = int(input_ids.shape[1]) if input_ids is not None and sequences.shape[1] > input_ids.shape[1] \
        and torch.equal(sequences[:, :input_ids.shape[1]].to(input_ids.device), input_ids) else 0
    generated = sequences[:, start:].cpu().numpy().astype(np.int64)
    n_steps = generated.shape[1]
    if len(capture.steps) < n_steps:
        raise RuntimeError(f"logit capture saw {len(capture.steps)} steps for {n_steps} generated tokens")
    steps = capture.steps[:n_steps]
    n_tracked = len(capture.tracked)
    if n_steps:
        tracked = torch.stack([s[0] for s in steps], dim=1).cpu().numpy()  # (B, J, T)
        lse = torch.stack([s[1] for s in steps], dim=1).cpu().numpy()  # (B, J)
    else:
        tracked = np.zeros((generated.shape[0], 0, n_tracked), np.float32)
        lse = np.zeros((generated.shape[0], 0), np.float32)
    eos = set(int(e) for e in eos_token_ids)
    records = []
    for row in range(generated.shape[0]):
        ids = generated[row]
        hits = [j for j, t in enumerate(ids.tolist()) if t in eos]
        length = hits[0] + 1 if hits else n_steps
        kept = ids[:length].copy()
        records.append(GenerationRecord(
            text=decode(kept.tolist()),
            generated_token_ids=kept,
            tracked_logits=np.ascontiguousarray(tracked[row, :length], dtype=np.float32).reshape(length, n_tracked),
            logsumexp=np.ascontiguousarray(lse[row, :length], dtype=np.float32),
        ))
    return records


def score_continuations(model: Any, prefix_inputs: Mapping[str, Any],
                        continuation_ids: Sequence[Sequence[int]]) -> list[Any]:
    """Per-token log-probs of each continuation after one shared prefix pass (KV cache reused).

    ``prefix_inputs`` is one sequence (batch 1) of model inputs (``input_ids`` or ``inputs_embeds``,
    optional ``attention_mask`` and modality inputs). The prefix runs once; its cache is repeated
    for the continuations, which run together in one right-padded batch. Returns, per continuation,
    a float32 array of ``log p(token_i | prefix, token_<i)`` (length = the continuation's length)."""
    conts = [[int(t) for t in c] for c in continuation_ids]
    if not conts:
        return []
    with torch.inference_mode():
        prefix = model(**prefix_inputs, use_cache=True, return_dict=True)
        first_logprobs = torch.log_softmax(prefix.logits[0, -1].to(torch.float32), dim=-1)
        results: list[np.ndarray] = [np.zeros(0, np.float32) for _ in conts]
        for i, c in enumerate(conts):
            if c:
                results[i] = np.asarray([first_logprobs[c[0]].item()], np.float32)
        longer = [i for i, c in enumerate(conts) if len(c) > 1]
        if not longer:
            return results
        cache = prefix.cache if hasattr(prefix, "cache") else prefix.past_key_values
        past_len = cache.get_seq_length()
        device = prefix.logits.device
        prefix_mask = prefix_inputs.get("attention_mask")
        prefix_mask = (torch.ones(1, past_len, dtype=torch.long, device=device) if prefix_mask is None
                       else prefix_mask.to(device=device, dtype=torch.long))
        n, width = len(longer), max(len(conts[i]) - 1 for i in longer)
        # Feed all but the last token of each continuation; right padding is harmless (causal).
        feed = torch.zeros(n, width, dtype=torch.long, device=device)
        mask = torch.zeros(n, width, dtype=torch.long, device=device)
        for row, i in enumerate(longer):
            toks = conts[i][:-1]
            feed[row, :len(toks)] = torch.tensor(toks, device=device)
            mask[row, :len(toks)] = 1
        cache.batch_repeat_interleave(n)
        start = int(prefix_mask.sum())
        position_ids = (start + torch.arange(width, device=device)).unsqueeze(0).expand(n, width)
        out = model(input_ids=feed, attention_mask=torch.cat([prefix_mask.expand(n, -1), mask], dim=1),
                    position_ids=position_ids, cache=cache, use_cache=True, return_dict=True)
        logprobs = torch.log_softmax(out.logits.to(torch.float32), dim=-1)
        for row, i in enumerate(longer):
            targets = torch.tensor(conts[i][1:], device=device)
            rest = logprobs[row, torch.arange(len(targets), device=device), targets].cpu().numpy()
            results[i] = np.concatenate([results[i], rest.astype(np.float32)])
    return results


#: Generation-config fields a checkpoint may ship that would silently change decoding.
_DECODING_FIELDS = ("do_sample", "temperature", "top_p", "top_k", "min_p", "typical_p",
                    "repetition_penalty", "no_repeat_ngram_size", "num_beams", "length_penalty",
                    "max_new_tokens", "max_length", "min_new_tokens", "min_length")


def reset_generation_defaults(model: Any) -> dict[str, Any]:
    """Replace ``model.generation_config`` by one holding only its special-token ids, so that the
    run's GenerationSettings alone decide decoding (``generate`` fills every unset value from the
    model's own config, e.g. a shipped ``repetition_penalty``). Returns the dropped values."""
    from transformers import GenerationConfig
    old = model.generation_config
    defaults = GenerationConfig()
    dropped = {k: getattr(old, k) for k in _DECODING_FIELDS
               if getattr(old, k, None) is not None and getattr(old, k) != getattr(defaults, k, None)}
    model.generation_config = GenerationConfig(
        eos_token_id=old.eos_token_id, pad_token_id=old.pad_token_id, bos_token_id=old.bos_token_id)
    return dropped
