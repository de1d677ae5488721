"""Model-seconds per utterance: label likelihood vs generation-based token analysis (issue #5).

    python bench/likelihood_cost.py [--config configs/demo.yaml] [--n 16] [--repeats 5] [--warmup 1]

On ``tiny-demo``, per prompt (``ambiguous``, ``single``):

* generation: ``backend.generate`` with capture (what token-level analysis needs), at batch 1 and at
  the config's batch size, seconds per utterance;
* likelihood: ``backend.score`` (one shared prefix pass + the four classes' continuations batched),
  one call per utterance as the runner does, seconds per utterance.

``speedup`` = generation s/utt / likelihood s/utt (target >= 5); the headline figure is the
``ambiguous`` prompt at batch 1 (the same batching as ``score``); the batched-generation ratio is
given too. Warm-up, interleaved repeats, medians. Last output line: one JSON object.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PROJECT_ROOT, emit, load_demo_backend, median_times, synthetic_audios  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)

    from emologits.extract.likelihood import answer_continuations
    from emologits.prompts import get_prompt
    from emologits.sfm.base import GenerationSettings
    from emologits.verbalizer import tracked_token_ids

    cfg, backend = load_demo_backend(args.config)
    settings = GenerationSettings.from_config(cfg.generation)
    tracked = tracked_token_ids(backend.tokenizer)
    batch = int(cfg.model.get("batch_size") or 8)
    audios = synthetic_audios(args.n)
    result: dict = {}
    for prompt_id in ("ambiguous", "single"):
        prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id)
        continuations = [c for forms in answer_continuations(prompt.kind).values() for c in forms]

        def generate(bs: int):
            return lambda: [backend.generate(audios[i:i + bs], prompt.text, tracked, settings)
                            for i in range(0, len(audios), bs)]

        def likelihood():
            return [backend.score(a, prompt.text, continuations) for a in audios]

        records = [r for rs in generate(batch)() for r in rs]
        mean_steps = sum(len(r.generated_token_ids) for r in records) / len(records)
        t = median_times({"gen_b1": generate(1), f"gen_b{batch}": generate(batch), "likelihood": likelihood},
                         repeats=args.repeats, warmup=args.warmup)
        per = {k: v / len(audios) for k, v in t.items()}
        result[prompt_id] = {
            "gen_s_per_utt_b1": per["gen_b1"], f"gen_s_per_utt_b{batch}": per[f"gen_b{batch}"],
            "likelihood_s_per_utt": per["likelihood"], "mean_generated_steps": mean_steps,
            "speedup_vs_gen_b1": per["gen_b1"] / per["likelihood"],
            f"speedup_vs_gen_b{batch}": per[f"gen_b{batch}"] / per["likelihood"],
        }
        print(f"{prompt_id}: " + ", ".join(f"{k}={v:.4g}" for k, v in result[prompt_id].items()), flush=True)
    emit({"speedup": round(result["ambiguous"]["speedup_vs_gen_b1"], 2),
          **{f"{p}_{k}": round(v, 4) for p, r in result.items() for k, v in r.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
