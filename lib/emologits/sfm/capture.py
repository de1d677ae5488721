"""Single-pass logit capture shared by every back-end (paper sec. 3.4.2).

During one ``generate`` call, keep at each generated step only the raw logits of the tracked ids
(gathered on the device) and the step's full-vocabulary log-sum-exp. Never J x V.

How the raw logits are read: a forward hook on the module whose output carries ``.logits`` sees
every forward call's output *before* any logits processor (temperature, top-k/p, repetition
penalty) touches it. In float32 — the same cast ``generate`` applies to its raw logits — it gathers
``logits[:, -1, tracked_ids]`` and the two maxima that give ``logsumexp(logits[:, -1])`` (see
``_RawLogitCapture.hook``), straight into the pending step's slot of buffers preallocated on the
device (``max_new_tokens + 1`` slots): no per-step allocation, no host synchronisation. A forward
call is not always a generated step (chunked prefill calls the model several times before the
first step; deferred stop checks run one step too many and undo it), so a stopping criterion that
never stops, which ``generate`` calls exactly once per generated step, *commits* the slot (the next
forward writes the next one); commits beyond the generated length are dropped. (A stopping
criterion rather than a pass-through logits processor: ``generate`` inspects every logits
processor's signature at every step, which cost as much as the capture itself.)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from emologits.sfm.base import GenerationRecord, GenerationSettings


class _RawLogitCapture(StoppingCriteria):
    """Forward hook (writes raw last-position captures into the pending step's slot) + a
    never-stopping criterion (commits the slot once per generated step)."""

    def __init__(self, tracked_ids: Sequence[int], capacity: int):
        self.tracked = [int(t) for t in tracked_ids]
        self.capacity = max(int(capacity), 1)
        self.n_committed = 0
        self.pending = False
        self.tracked_logits: torch.Tensor | None = None  # (capacity, B, T) float32, on the device
        self.top_logit: torch.Tensor | None = None  # (capacity, B) float32: max_v logit_v
        self.top_log_softmax: torch.Tensor | None = None  # (capacity, B): max_v log_softmax_v
        self._index: torch.Tensor | None = None
        self._not_done: torch.Tensor | None = None

    def _allocate(self, last: torch.Tensor) -> None:
        """Allocate the slot buffers on ``last``'s device (first call), or double them when a run
        goes past the expected number of steps (committed slots are kept)."""
        batch, device = last.shape[0], last.device
        capacity = self.capacity if self.tracked_logits is None else 2 * self.capacity
        old = (self.tracked_logits, self.top_logit, self.top_log_softmax)
        self.tracked_logits = torch.empty(capacity, batch, len(self.tracked), dtype=torch.float32, device=device)
        self.top_logit = torch.empty(capacity, batch, dtype=torch.float32, device=device)
        self.top_log_softmax = torch.empty(capacity, batch, dtype=torch.float32, device=device)
        if old[0] is not None:
            for new, kept in zip((self.tracked_logits, self.top_logit, self.top_log_softmax), old):
                new[:self.n_committed] = kept[:self.n_committed]
        self.capacity = capacity
        self._index = torch.tensor(self.tracked, dtype=torch.long, device=device)

    def hook(self, module: Any, args: Any, output: Any) -> None:
        logits = output.logits if hasattr(output, "logits") else output[0]
        last = logits.select(1, -1)
        if last.dtype != torch.float32:
            last = last.float()
        slot = self.n_committed
        if self.tracked_logits is None or slot >= self.capacity:
            self._allocate(last)
        torch.index_select(last, 1, self._index, out=self.tracked_logits[slot])
        # log Σ exp(x) = max(x) - max(log_softmax(x)) (the top logit's log-softmax is
        # -log Σ exp(x - max)); the two maxima are kept per step and subtracted once at the end:
        # 3 kernels instead of torch.logsumexp's ~10, same value to float32 rounding. Non-finite
        # logits give NaN (torch.logsumexp: ±inf); the runner flags both.
        torch.amax(last, 1, out=self.top_logit[slot])
        torch.amax(torch.log_softmax(last, 1), 1, out=self.top_log_softmax[slot])
        self.pending = True

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        if not self.pending:
            raise RuntimeError("logit capture: generate finished a step before any forward output was seen; "
                               "is logits_module the module that returns .logits?")
        self.pending = False
        self.n_committed += 1
        if self._not_done is None:
            self._not_done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return self._not_done


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
    kwargs = settings.generate_kwargs()
    capture = _RawLogitCapture(tracked_ids, capacity=int(kwargs.get("max_new_tokens") or 64) + 1)
    module = model if logits_module is None else logits_module
    user_criteria = kwargs.pop("stopping_criteria", None) or []
    criteria = StoppingCriteriaList([*user_criteria, capture])
    handle = module.register_forward_hook(capture.hook)
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    try:
        with torch.inference_mode():
            out = model.generate(**generate_inputs, **kwargs, stopping_criteria=criteria)
    finally:
        handle.remove()
    sequences = out.sequences if hasattr(out, "sequences") else out
    input_ids = generate_inputs.get("input_ids")
    # Decoder-only models return prompt + generated; with inputs_embeds only the generated part.
    start = int(input_ids.shape[1]) if input_ids is not None and sequences.shape[1] > input_ids.shape[1] \
        and torch.equal(sequences[:, :input_ids.shape[1]].to(input_ids.device), input_ids) else 0
    generated = sequences[:, start:].cpu().numpy().astype(np.int64)
    batch, n_steps = generated.shape
    n_tracked = len(capture.tracked)
    if capture.n_committed < n_steps:
        raise RuntimeError(f"logit capture saw {capture.n_committed} steps for {n_steps} generated tokens")
    if n_steps:
        tracked = capture.tracked_logits[:n_steps].transpose(0, 1).cpu().numpy()  # (B, J, T)
        lse = (capture.top_logit[:n_steps] - capture.top_log_softmax[:n_steps]).transpose(0, 1).cpu().numpy()
    else:
        tracked = np.zeros((batch, 0, n_tracked), np.float32)
        lse = np.zeros((batch, 0), np.float32)
    is_eos = np.zeros(generated.shape, dtype=bool)
    for eos in set(int(e) for e in eos_token_ids):
        is_eos |= generated == eos
    lengths = np.where(is_eos.any(axis=1), is_eos.argmax(axis=1) + 1, n_steps)
    records = []
    for row in range(batch):
        length = int(lengths[row])
        kept = generated[row, :length].copy()
        records.append(GenerationRecord(
            text=decode(kept.tolist()),
            generated_token_ids=kept,
            tracked_logits=np.ascontiguousarray(tracked[row, :length], dtype=np.float32).reshape(length, n_tracked),
            logsumexp=np.ascontiguousarray(lse[row, :length], dtype=np.float32),
        ))
    return records


def _left_padded_positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch, as ``generate`` derives them (pads get 1, ignored)."""
    return (mask.cumsum(-1) - 1).masked_fill_(mask == 0, 1)


def score_continuations_batch(model: Any, prefix_inputs: Mapping[str, Any],
                              continuation_ids: Sequence[Sequence[Sequence[int]]]) -> list[list[np.ndarray]]:
    """Per-token log-probs of each row's continuations after one batched prefix pass (KV cache reused).

    ``prefix_inputs`` holds B left-padded sequences of model inputs (``input_ids`` or
    ``inputs_embeds``, optional ``attention_mask`` and modality inputs); ``continuation_ids[b]`` is
    row b's list of continuations (token-id lists). Two forward passes in all:

    1. the prefixes, with position ids from the attention mask (as ``generate``), so each row sees
       exactly the positions of its unpadded sequence; each continuation's first token is scored
       from its row's last-position logits;
    2. every (row, continuation) pair with more than one token, as one batch: the prefix cache is
       gathered to those rows (row b repeated once per such continuation), the continuations are fed
       right-padded (harmless: causal) after the prefix mask, at positions continuing their row's.

    Returns, per row and continuation, a float32 array of ``log p(token_i | prefix, token_<i)``
    (length = the continuation's length; empty continuations give empty arrays)."""
    conts = [[[int(t) for t in c] for c in row] for row in continuation_ids]
    results: list[list[np.ndarray]] = [[np.zeros(0, np.float32) for _ in row] for row in conts]
    pairs = [(b, k) for b, row in enumerate(conts) for k, c in enumerate(row) if c]
    if not pairs:
        return results
    with torch.inference_mode():
        ids = prefix_inputs.get("input_ids")
        ref = ids if ids is not None else prefix_inputs["inputs_embeds"]
        device = ref.device
        batch, length = int(ref.shape[0]), int(ref.shape[1])
        if batch != len(conts):
            raise ValueError(f"{batch} prefix rows for {len(conts)} rows of continuations")
        prefix_mask = prefix_inputs.get("attention_mask")
        prefix_mask = (torch.ones(batch, length, dtype=torch.long, device=device) if prefix_mask is None
                       else prefix_mask.to(device=device, dtype=torch.long))
        prefix = model(**{**prefix_inputs, "attention_mask": prefix_mask},
                       position_ids=_left_padded_positions(prefix_mask), use_cache=True, return_dict=True)
        logits = prefix.logits
        first = torch.log_softmax(logits[:, -1].to(torch.float32), dim=-1)  # (B, V)
        rows = torch.tensor([b for b, _ in pairs], device=first.device)
        heads = torch.tensor([conts[b][k][0] for b, k in pairs], device=first.device)
        first_lp = first[rows, heads].cpu().numpy()
        for (b, k), lp in zip(pairs, first_lp):
            results[b][k] = np.asarray([lp], np.float32)
        longer = [(b, k) for b, k in pairs if len(conts[b][k]) > 1]
        if not longer:
            return results
        cache = prefix.cache if getattr(prefix, "cache", None) is not None else prefix.past_key_values
        device = logits.device
        n, width = len(longer), max(len(conts[b][k]) - 1 for b, k in longer)
        # Feed all but the last token of each continuation; the last tokens are only targets.
        feed = torch.zeros(n, width, dtype=torch.long)
        targets = torch.zeros(n, width, dtype=torch.long)
        mask = torch.zeros(n, width, dtype=torch.long)
        for r, (b, k) in enumerate(longer):
            c = conts[b][k]
            feed[r, :len(c) - 1] = torch.tensor(c[:-1])
            targets[r, :len(c) - 1] = torch.tensor(c[1:])
            mask[r, :len(c) - 1] = 1
        feed, targets, mask = feed.to(device), targets.to(device), mask.to(device)
        gather = torch.tensor([b for b, _ in longer], device=device)
        cache.batch_select_indices(gather)
        row_mask = prefix_mask.to(device)[gather]
        position_ids = row_mask.sum(-1, keepdim=True) + torch.arange(width, device=device)
        out = model(input_ids=feed, attention_mask=torch.cat([row_mask, mask], dim=1), position_ids=position_ids,
                    cache=cache, use_cache=True, return_dict=True)
        cont_logits = out.logits.to(torch.float32)
        rest = (cont_logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
                - torch.logsumexp(cont_logits, dim=-1)).cpu().numpy()
    for r, (b, k) in enumerate(longer):
        results[b][k] = np.concatenate([results[b][k], rest[r, :len(conts[b][k]) - 1].astype(np.float32)])
    return results


def score_continuations(model: Any, prefix_inputs: Mapping[str, Any],
                        continuation_ids: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """:func:`score_continuations_batch` for one prefix (batch 1) and its continuations."""
    return score_continuations_batch(model, prefix_inputs, [continuation_ids])[0]


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
