"""Cost of single-pass logit capture.

    python bench/capture_overhead.py [--config configs/demo.yaml] [--n 16] [--repeats 11] [--warmup 2]

Measures, in one run, on ``tiny-demo`` (trained and cached on first use):

(a) ``capture_time_ratio``: time of ``generate_with_capture`` (text + tracked logits + log-sum-exp)
    / time of plain greedy ``model.generate`` + decoding, same inputs, batch 8 — target <= 1.03;
(b) ``bytes_ratio``: bytes kept per utterance (tracked logits J x T + log-sum-exp J, float32)
    / bytes of full-vocabulary logits (J x 150 000 float32) — target <= 1e-4; also given for the
    real Qwen2 tokenizer's tracked ids when ../shared/tokenizers/qwen2 is present;
(c) ``batch8_over_batch1_throughput``: utterances/s at batch 8 / at batch 1 (``backend.generate``).

Ratios (a) and (c) are the median over repeats of the two variants' times within one repeat (they
run back to back, interleaved, after warm-up rounds), reported with their spread (min, max) and
interquartile range: one run gives a stable ratio on a shared machine. Full-size models on a GPU:
``bench/full_size.py``. The last output line is one JSON object.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PROJECT_ROOT, emit, interleaved, load_demo_backend, medians, ratio_stats,  # noqa: E402
                     synthetic_audios)

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
    times = interleaved({"capture": with_capture, "plain": plain}, repeats=repeats, warmup=warmup)
    t = medians(times)
    capture_ratio = ratio_stats(times, "capture", "plain")

    # (b) bytes kept vs full-vocabulary logits, from the records themselves
    steps = sum(len(r.generated_token_ids) for r in captured)
    kept = sum(r.tracked_logits.nbytes + r.logsumexp.nbytes for r in captured)
    vocab = int(model.get_output_embeddings().weight.shape[0])

    # (c) throughput at batch 8 vs batch 1 over all audios, through the back-end interface
    def run(bs: int):
        return lambda: [backend.generate(audios[i:i + bs], prompt, tracked, settings)
                        for i in range(0, len(audios), bs)]

    tbs = interleaved({"b8": run(8), "b1": run(1)}, repeats=max(3, repeats // 2), warmup=1)
    tb = medians(tbs)
    ups8, ups1 = len(audios) / tb["b8"], len(audios) / tb["b1"]
    throughput = ratio_stats(tbs, "b1", "b8")  # time at batch 1 / at batch 8 = throughput 8 / 1
    return {
        "capture_time_ratio": capture_ratio["median"],
        "capture_time_ratio_spread": capture_ratio["spread"], "capture_time_ratio_iqr": capture_ratio["iqr"],
        "capture_time_ratio_of_minima": capture_ratio["of_minima"],
        "bytes_ratio": kept / (steps * REFERENCE_VOCAB * 4),
        "batch8_over_batch1_throughput": throughput["median"],
        "batch8_over_batch1_throughput_spread": throughput["spread"],
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--prompt", default="ambiguous")
    parser.add_argument("--n", type=int, default=16, help="utterances (a multiple of 8)")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on shared cores more threads mean more stalls)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

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
    emit({"capture_time_ratio": tiny["capture_time_ratio"],
          "capture_time_ratio_spread": tiny["capture_time_ratio_spread"],
          "capture_time_ratio_iqr": tiny["capture_time_ratio_iqr"],
          "capture_time_ratio_of_minima": tiny["capture_time_ratio_of_minima"], "repeats": args.repeats,
          "bytes_ratio": float(f"{tiny['bytes_ratio']:.4g}"),
          "batch8_over_batch1_throughput": tiny["batch8_over_batch1_throughput"],
          "batch8_over_batch1_throughput_spread": tiny["batch8_over_batch1_throughput_spread"],
          **({"bytes_ratio_qwen2": float(f"{qwen2['bytes_ratio_qwen2']:.4g}")} if qwen2 else {})})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
