"""Model-seconds per utterance of every inference method, as ratios to the generate pass.

    python bench/method_cost.py [--config configs/demo.yaml] [--n 16] [--repeats 3] [--warmup 1]

On ``tiny-demo``, per prompt (``ambiguous``, ``single``), each registered method's
``Method.run_batch`` (what the runner calls; the config's batch size, ``pipeline.sampling`` and
``pipeline.contextual``) over ``n`` synthetic voices given as arrays (no file reading):

* ``generate``: text + emotion-token logits (the text and token levels, paper sec. 3.4);
* ``likelihood``: the class answers' log-probs;
* ``sampling``: N answers per utterance (one generate call on N copies of each utterance);
* ``contextual``: the content-free inputs of contextual calibration, a fixed cost per prompt, given
  per prompt and as its share of one utterance for a corpus of ``--corpus`` utterances (150: the demo).

``ratio_<method>`` = its seconds per utterance / generate's (contextual: per prompt, the fixed cost
divided by ``--corpus``). Warm-up, interleaved repeats, medians. Last output line: one JSON object.
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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--corpus", type=int, default=150, help="utterances the contextual cost is shared by")
    args = parser.parse_args(argv)

    from emologits.inference import METHODS
    from emologits.prompts import get_prompt

    cfg, backend = load_demo_backend(args.config)
    batch = int(cfg.model.get("batch_size") or 8)
    audios = synthetic_audios(args.n)
    ids = [f"b{i:03d}" for i in range(args.n)]
    result: dict = {"n": args.n, "batch_size": batch, "sampling_n": cfg.pipeline["sampling"]["n"]}
    for prompt_id in ("ambiguous", "single"):
        prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id)
        methods = {name: METHODS.get(name).from_config(cfg, backend, prompt, None)
                   for name in ("generate", "likelihood", "sampling", "contextual")}

        def over_corpus(method):
            return lambda: [method.run_batch(ids[i:i + batch], audios[i:i + batch], "truncate", {})
                            for i in range(0, args.n, batch)]

        contextual = methods.pop("contextual")
        own = contextual.own_inputs()
        fns = {name: over_corpus(m) for name, m in methods.items()}
        fns["contextual"] = lambda m=contextual, own=own: m.run_batch(own, [None] * len(own), "truncate", {})
        times = median_times(fns, repeats=args.repeats, warmup=args.warmup)
        per_utt = {name: times[name] / args.n for name in methods}
        row = {f"{name}_s_per_utt": round(v, 5) for name, v in per_utt.items()}
        row["contextual_s_per_prompt"] = round(times["contextual"], 4)
        row["contextual_inputs"] = len(own)
        for name in ("likelihood", "sampling"):
            row[f"ratio_{name}"] = round(per_utt[name] / per_utt["generate"], 2)
        row["ratio_contextual"] = round(times["contextual"] / args.corpus / per_utt["generate"], 3)
        print(f"{prompt_id}: " + ", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        result[prompt_id] = row
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
