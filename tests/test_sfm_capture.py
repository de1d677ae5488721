"""Single-pass capture: gathered raw logits equal generate(output_logits=True); scoring equals a
naive full-sequence forward."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from emologits.sfm.base import GenerationSettings
from emologits.sfm.capture import generate_with_capture, score_continuations

torch.set_num_threads(1)
VOCAB = 97
TRACKED = [3, 7, 11, 50, 96]


@pytest.fixture(scope="module")
def tiny_lm():
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = Qwen2ForCausalLM(config).eval()
    # Larger logits so that sampling (temperature 0.1) really reshapes the distribution.
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    return model


def _batch():
    torch.manual_seed(1)
    ids = torch.randint(3, VOCAB, (3, 9))
    mask = torch.ones_like(ids)
    ids[1, :3], mask[1, :3] = 0, 0  # left padding
    ids[2, :5], mask[2, :5] = 0, 0
    return {"input_ids": ids, "attention_mask": mask}


def _reference(model, inputs, settings):
    if settings.seed is not None:
        torch.manual_seed(settings.seed)
    out = model.generate(**inputs, **settings.generate_kwargs(), return_dict_in_generate=True,
                         output_logits=True, output_scores=True)
    gen = out.sequences[:, inputs["input_ids"].shape[1]:]
    raw = torch.stack(out.logits, dim=1)  # (B, J, V)
    processed = torch.stack(out.scores, dim=1)
    return gen, raw, processed


@pytest.mark.parametrize("preset", ["greedy", "ltu_as_release"])
def test_captured_values_equal_generate_raw_logits(tiny_lm, preset):
    settings = GenerationSettings.from_config({"preset": preset, "max_new_tokens": 12})
    inputs = _batch()
    gen, raw, processed = _reference(tiny_lm, inputs, settings)
    if preset == "ltu_as_release":  # the processed scores really differ from raw ones here
        assert not torch.allclose(torch.nan_to_num(processed, neginf=0.0), raw)
    records = generate_with_capture(tiny_lm, inputs, TRACKED, settings, eos_token_ids=[],
                                    decode=lambda ids: " ".join(map(str, ids)))
    assert len(records) == 3
    for row, rec in enumerate(records):
        assert rec.generated_token_ids.tolist() == gen[row].tolist()
        assert rec.tracked_logits.shape == (12, len(TRACKED)) and rec.tracked_logits.dtype == np.float32
        np.testing.assert_array_equal(rec.tracked_logits, raw[row][:, TRACKED].numpy())
        np.testing.assert_allclose(rec.logsumexp, torch.logsumexp(raw[row], dim=-1).numpy(), rtol=0, atol=1e-5)
        assert rec.text == " ".join(map(str, gen[row].tolist()))


def test_steps_stop_at_and_include_first_eos(tiny_lm):
    settings = GenerationSettings.from_config({"max_new_tokens": 10})
    inputs = _batch()
    gen, raw, _ = _reference(tiny_lm, inputs, settings)
    eos = int(gen[0, 3])  # pretend the 4th token of row 0 is end-of-sequence
    first = int((gen[0] == eos).nonzero()[0])
    records = generate_with_capture(tiny_lm, inputs, TRACKED, settings, eos_token_ids=[eos], decode=str)
    assert records[0].generated_token_ids.tolist() == gen[0, :first + 1].tolist()
    assert records[0].tracked_logits.shape == (first + 1, len(TRACKED))
    assert records[0].logsumexp.shape == (first + 1,)
    for row in (1, 2):
        hits = (gen[row] == eos).nonzero()
        expected = int(hits[0]) + 1 if len(hits) else 10
        assert len(records[row].generated_token_ids) == expected
        np.testing.assert_array_equal(records[row].tracked_logits, raw[row, :expected][:, TRACKED].numpy())


def test_generation_stopping_at_eos_is_cut_per_row(tiny_lm):
    """When generate itself stops (eos in the generation config), rows that finished earlier
    carry pad tokens afterwards; each record ends at its own first eos."""
    settings = GenerationSettings.from_config({"max_new_tokens": 10})
    inputs = _batch()
    gen, _, _ = _reference(tiny_lm, inputs, settings)
    eos = int(gen[1, 2])
    lm = copy.deepcopy(tiny_lm)  # a checkpoint whose generation config stops at `eos`
    lm.generation_config.eos_token_id = eos
    gen2, raw2, _ = _reference(lm, inputs, settings)
    records = generate_with_capture(lm, inputs, TRACKED, settings, eos_token_ids=[eos], decode=str)
    for row, rec in enumerate(records):
        ids = gen2[row].tolist()
        length = ids.index(eos) + 1 if eos in ids else len(ids)
        assert rec.generated_token_ids.tolist() == ids[:length]
        np.testing.assert_array_equal(rec.tracked_logits, raw2[row, :length][:, TRACKED].numpy())
    assert records[1].generated_token_ids[-1] == eos


def test_score_continuations_equals_full_forward(tiny_lm):
    torch.manual_seed(2)
    prefix = torch.randint(3, VOCAB, (1, 7))
    conts = [[5, 9, 12], [40], [8, 8, 8, 8, 60], []]
    scores = score_continuations(tiny_lm, {"input_ids": prefix, "attention_mask": torch.ones_like(prefix)}, conts)
    assert [len(s) for s in scores] == [3, 1, 5, 0]
    for cont, got in zip(conts, scores):
        if not cont:
            continue
        full = torch.cat([prefix, torch.tensor([cont])], dim=1)
        with torch.no_grad():
            logprobs = torch.log_softmax(tiny_lm(input_ids=full).logits[0].float(), dim=-1)
        positions = torch.arange(prefix.shape[1] - 1, full.shape[1] - 1)
        expected = logprobs[positions, torch.tensor(cont)].numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_score_continuations_batch_equals_each_prefix_alone(tiny_lm):
    """Left-padded prefixes of different lengths, per-row continuation lists (multi-token, one
    token, empty): the batched passes give each row's unpadded, one-prefix scores."""
    from emologits.sfm.capture import score_continuations_batch
    torch.manual_seed(3)
    prefixes = [torch.randint(3, VOCAB, (n,)) for n in (9, 4, 6)]
    conts = [[[5, 9, 12], [40], [8, 8, 8, 8, 60]], [[7, 7], [], [33]], [[90, 1], [40], [2, 3, 4]]]
    width = max(len(p) for p in prefixes)
    ids = torch.zeros(len(prefixes), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(prefixes):
        ids[row, width - len(p):], mask[row, width - len(p):] = p, 1
    batched = score_continuations_batch(tiny_lm, {"input_ids": ids, "attention_mask": mask}, conts)
    assert [[len(s) for s in row] for row in batched] == [[len(c) for c in row] for row in conts]
    for p, row_conts, row_scores in zip(prefixes, conts, batched):
        alone = score_continuations(tiny_lm, {"input_ids": p[None]}, row_conts)
        for a, b in zip(alone, row_scores):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


def test_capture_buffers_grow_past_the_expected_steps():
    """More steps than the preallocated slots (e.g. a user max_length): committed slots survive."""
    from types import SimpleNamespace
    from emologits.sfm.capture import _RawLogitCapture
    capture = _RawLogitCapture([1, 3], capacity=2)
    logits = [torch.randn(2, 1, 5) for _ in range(5)]
    ids = torch.zeros(2, 4, dtype=torch.long)
    for step in logits:
        capture.hook(None, None, SimpleNamespace(logits=step))
        assert capture(ids, None).tolist() == [False, False]  # never stops generation
    assert capture.n_committed == 5 and capture.capacity >= 5
    expected = torch.stack([s[:, -1] for s in logits])  # (J, B, V)
    torch.testing.assert_close(capture.tracked_logits[:5], expected[:, :, [1, 3]], rtol=0, atol=0)
    torch.testing.assert_close(capture.top_logit[:5] - capture.top_log_softmax[:5],
                               torch.logsumexp(expected, dim=-1), rtol=0, atol=1e-6)


def test_a_step_without_a_forward_output_is_an_error():
    from emologits.sfm.capture import _RawLogitCapture
    with pytest.raises(RuntimeError, match="before any forward output"):
        _RawLogitCapture([1], capacity=2)(torch.zeros(1, 3, dtype=torch.long), None)
