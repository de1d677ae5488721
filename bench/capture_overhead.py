"""Cost of single-pass logit capture.

    python bench/capture_overhead.py [--config configs/demo.yaml] [--n 16] [--repeats 7] [--warmup 2]

Measures, in one run, on ``tiny-demo`` (trained and cached on first use):

(a) ``capture_time_ratio``: time of ``generate_with_capture`` (text + tracked logits + log-sum-exp)
    / time of plain greedy ``model.generate`` + decoding, same inputs, batch 8 — target <= 1.03;
(b) ``bytes_ratio``: bytes kept per utterance (tracked logits J x T + log-sum-exp J, float32)
    / bytes of full-vocabulary logits (J x 150 000 float32) — target <= 1e-4; also given for the
    real Qwen2 tokenizer's tracked ids when ../shared/tokenizers/qwen2 is present;
(c) ``batch8_over_batch1_throughput``: utterances/s at batch 8 / at batch 1 (``backend.generate``).

With CUDA available (and without ``--skip-gpu``) it also builds the real Qwen2-Audio-7B architecture
from its published configuration with random weights in bf16 (timings do not depend on weight values),
forces a fixed number of new tokens, and reports utterances/s, peak GPU memory and the same ratios
under ``"gpu"``. Warm-up rounds, interleaved repeats, medians. The last output line is one JSON object.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_ROOT, emit, load_demo_backend, median_times, synthetic_audios  # noqa: E402

REFERENCE_VOCAB = 150_000


def measure(backend: Any, audios: list[np.ndarray], prompt: str, settings: Any, *, repeats: int,
            warmup: int) -> dict[str, Any]:
    """(a), (b), (c) for one back-end on the given audios (batches of 8)."""
    import torch

    from emologits.sfm.capture import generate_with_capture
    from emologits.verbalizer import tracked_token_ids

    tracked = tracked_token_ids(backend.tokenizer)
    model, tok = backend.model, backend.tokenizer
    batch = audios[:8]
    inputs = backend.model_inputs(batch, prompt)
    n_prompt = int(inputs["input_ids"].shape[1])

    def decode(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=True)

    def with_capture():
        return generate_with_capture(model, inputs, tracked, settings, eos_token_ids=backend.eos_token_ids,
                                     decode=decode)

    def plain():
        with torch.inference_mode():
            out = model.generate(**inputs, **settings.generate_kwargs())
        return tok.batch_decode(out[:, n_prompt:], skip_special_tokens=True)

    # same tokens with and without capture (greedy): the timing compares like with like
    captured, plain_text = with_capture(), plain()
    same_text = [r.text for r in captured] == [t for t in plain_text]
    t = median_times({"capture": with_capture, "plain": plain}, repeats=repeats, warmup=warmup)

    # (b) bytes kept vs full-vocabulary logits, from the records themselves
    steps = sum(len(r.generated_token_ids) for r in captured)
    kept = sum(r.tracked_logits.nbytes + r.logsumexp.nbytes for r in captured)
    vocab = int(model.get_output_embeddings().weight.shape[0])

    # (c) throughput at batch 8 vs batch 1 over all audios, through the back-end interface
    def run(bs: int):
        return lambda: [backend.generate(audios[i:i + bs], prompt, tracked, settings)
                        for i in range(0, len(audios), bs)]

    tb = median_times({"b8": run(8), "b1": run(1)}, repeats=max(3, repeats // 2), warmup=1)
    ups8, ups1 = len(audios) / tb["b8"], len(audios) / tb["b1"]
    return {
        "capture_time_ratio": t["capture"] / t["plain"],
        "bytes_ratio": kept / (steps * REFERENCE_VOCAB * 4),
        "batch8_over_batch1_throughput": ups8 / ups1,
        "seconds_capture_b8": t["capture"], "seconds_plain_b8": t["plain"], "same_text": same_text,
        "n_tracked": len(tracked), "generated_steps_b8": steps, "bytes_kept_per_utt": kept / len(captured),
        "bytes_full_logits_per_utt_at_150k": steps * REFERENCE_VOCAB * 4 / len(captured),
        "bytes_ratio_own_vocab": kept / (steps * vocab * 4), "vocab": vocab,
        "utt_per_s_b8": ups8, "utt_per_s_b1": ups1,
    }


def qwen2_tracked_bytes_ratio() -> dict[str, Any] | None:
    """(T + 1) / 150 000 with T = the tracked ids of the real Qwen2 tokenizer (../shared)."""
    path = PROJECT_ROOT.parent / "shared" / "tokenizers" / "qwen2"
    if not (path / "vocab.json").exists():
        return None
    from transformers import AutoTokenizer

    from emologits.verbalizer import tracked_token_ids

    n = len(tracked_token_ids(AutoTokenizer.from_pretrained(str(path))))
    return {"n_tracked_qwen2": n, "bytes_ratio_qwen2": (n + 1) / REFERENCE_VOCAB}


# -- full size on a GPU ------------------------------------------------------------------------

#: Qwen2-Audio-7B's published configuration (config.json of Qwen/Qwen2-Audio-7B-Instruct).
QWEN2_AUDIO_7B = {
    "audio_config": {"d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
                     "encoder_ffn_dim": 5120, "num_mel_bins": 128, "max_source_positions": 1500},
    "text_config": {"model_type": "qwen2", "vocab_size": 156032, "hidden_size": 4096,
                    "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
                    "num_key_value_heads": 32, "max_position_embeddings": 8192, "rope_theta": 10000.0,
                    "rms_norm_eps": 1e-5, "tie_word_embeddings": False},
    "audio_token_index": 151646,
}


def full_size_gpu(audios: list[np.ndarray], prompt: str, *, new_tokens: int, repeats: int,
                  warmup: int) -> dict[str, Any]:
    """Random-weight Qwen2-Audio-7B in bf16 on CUDA, the real Qwen2 tokenizer, fixed new tokens."""
    import torch
    from transformers import (AutoTokenizer, Qwen2AudioConfig, Qwen2AudioForConditionalGeneration,
                              Qwen2AudioProcessor, WhisperFeatureExtractor)

    from emologits.sfm.base import GenerationSettings
    from emologits.sfm.qwen2_audio import Qwen2AudioBackend

    tok_path = PROJECT_ROOT.parent / "shared" / "tokenizers" / "qwen2"
    tok = AutoTokenizer.from_pretrained(str(tok_path))
    specials = ["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
    tok.add_special_tokens({"additional_special_tokens": [s for s in specials if s not in tok.get_vocab()]})
    processor = Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok)
    config = Qwen2AudioConfig(**{**QWEN2_AUDIO_7B, "audio_token_index": tok.convert_tokens_to_ids("<|AUDIO|>")})
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cuda"):
            model = Qwen2AudioForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    model.generation_config.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tok.pad_token_id or tok.convert_tokens_to_ids("<|endoftext|>")
    backend = Qwen2AudioBackend(model, processor, name_or_path="random-init:Qwen2-Audio-7B", revision=None,
                                device="cuda")
    # a fixed number of new tokens: eos suppressed until new_tokens (same processor in both variants)
    settings = GenerationSettings(max_new_tokens=new_tokens, extra={"min_new_tokens": new_tokens})
    torch.cuda.reset_peak_memory_stats()
    out = measure(backend, audios, prompt, settings, repeats=repeats, warmup=warmup)
    out["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out["new_tokens"] = new_tokens
    out["device"] = torch.cuda.get_device_name()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--prompt", default="ambiguous")
    parser.add_argument("--n", type=int, default=16, help="utterances (a multiple of 8)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--skip-gpu", action="store_true")
    parser.add_argument("--gpu-new-tokens", type=int, default=32)
    args = parser.parse_args(argv)

    import torch

    from emologits.prompts import get_prompt
    from emologits.sfm.base import GenerationSettings

    cfg, backend = load_demo_backend(args.config)
    prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), args.prompt).text
    settings = GenerationSettings.from_config(cfg.generation)
    audios = synthetic_audios(args.n)
    print(f"tiny-demo ({backend.model.device}, torch threads {torch.get_num_threads()}): {args.n} utterances, "
          f"prompt {args.prompt!r}, {settings.max_new_tokens} max new tokens, {args.repeats} repeats", flush=True)
    tiny = measure(backend, audios, prompt, settings, repeats=args.repeats, warmup=args.warmup)
    for k, v in tiny.items():
        print(f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}", flush=True)
    qwen2 = qwen2_tracked_bytes_ratio()
    if qwen2:
        print(f"  real Qwen2 tokenizer: {qwen2['n_tracked_qwen2']} tracked ids -> bytes ratio "
              f"{qwen2['bytes_ratio_qwen2']:.3g}", flush=True)
    if args.skip_gpu or not torch.cuda.is_available():
        gpu: Any = {"skipped": "no CUDA device" if not torch.cuda.is_available() else "--skip-gpu"}
        print(f"full-size Qwen2-Audio-7B (random weights, bf16): skipped ({gpu['skipped']})", flush=True)
    else:
        gpu = full_size_gpu(synthetic_audios(args.n, seed=1), prompt, new_tokens=args.gpu_new_tokens,
                            repeats=args.repeats, warmup=args.warmup)
        for k, v in gpu.items():
            print(f"  gpu {k}: {v:.6g}" if isinstance(v, float) else f"  gpu {k}: {v}", flush=True)
    emit({"capture_time_ratio": round(tiny["capture_time_ratio"], 4),
          "bytes_ratio": float(f"{tiny['bytes_ratio']:.4g}"),
          "batch8_over_batch1_throughput": round(tiny["batch8_over_batch1_throughput"], 3),
          **({"bytes_ratio_qwen2": float(f"{qwen2['bytes_ratio_qwen2']:.4g}")} if qwen2 else {}),
          "gpu": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in gpu.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
