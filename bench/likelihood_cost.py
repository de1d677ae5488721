"""Model-seconds per utterance: label likelihood vs generation-based token analysis.

    python bench/likelihood_cost.py [--config configs/demo.yaml] [--n 16] [--repeats 5] [--warmup 1]

On ``tiny-demo``, per prompt (``ambiguous``, ``single``), each at batch 1 and at the config's batch
size B (``model.batch_size``, 8 in the demo):

* generation: ``backend.generate`` with capture (what token-level analysis needs);
* likelihood: ``backend.score_batch`` (one left-padded prefix pass for the batch + one pass for
  every utterance x multi-token continuation), as the runner calls it; at batch 1 this is
  ``backend.score``.

Timed twice: ``model_*`` = model-seconds only (processor outputs computed beforehand; the
``generate_with_capture`` / ``score_continuations_batch`` calls), ``e2e_*`` = through the back-end
interface (feature extraction included). ``speedup`` = generation s/utt / likelihood s/utt
(target >= 5 at the same batch size); the headline ``speedup`` is model-seconds, ``ambiguous``
prompt, both at batch B; the other pairings are given too. ``model_prefix_pass_*`` times the
prefix forward alone (audio encoder + LLM over audio + prompt), which both methods need, so
``model_speedup_bound_b<B>`` = generation / prefix pass is the most any likelihood implementation
could reach on this model and machine. Warm-up, interleaved repeats, medians; the headline
``speedup`` is the median over repeats of generation / likelihood timed back to back within one
repeat, with its spread (min, max), so one run gives a stable ratio. Last output line: one JSON object.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PROJECT_ROOT, emit, interleaved, load_demo_backend, medians, ratio_stats,  # noqa: E402
                     synthetic_audios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(PROJECT_ROOT / "configs" / "demo.yaml"))
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on shared cores more threads mean more stalls)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    from emologits.extract.likelihood import answer_continuations
    from emologits.prompts import get_prompt
    from emologits.sfm.base import GenerationSettings
    from emologits.verbalizer import tracked_token_ids

    cfg, backend = load_demo_backend(args.config)
    settings = GenerationSettings.from_config(cfg.generation)
    tracked = tracked_token_ids(backend.tokenizer)
    batch = int(cfg.model.get("batch_size") or 8)
    audios = synthetic_audios(args.n)
    from emologits.sfm.capture import generate_with_capture, score_continuations_batch

    def decode(ids: list[int]) -> str:
        return backend.tokenizer.decode(ids, skip_special_tokens=True)

    def chunks(bs: int) -> list[list]:
        return [audios[i:i + bs] for i in range(0, len(audios), bs)]

    sizes = (1, batch)
    result: dict = {}
    for prompt_id in ("ambiguous", "single"):
        prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id)
        continuations = [c for forms in answer_continuations(prompt.kind).values() for c in forms]
        cont_ids = [backend.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]

        # end to end, through the back-end interface (processor feature extraction included)
        def generate(bs: int):
            return lambda: [backend.generate(a, prompt.text, tracked, settings) for a in chunks(bs)]

        def likelihood(bs: int):
            return lambda: [backend.score_batch(a, prompt.text, continuations) for a in chunks(bs)]

        # model only: processor outputs computed once, outside the timing
        inputs = {bs: [backend.model_inputs(a, prompt.text) for a in chunks(bs)] for bs in sizes}

        def model_generate(bs: int):
            return lambda: [generate_with_capture(backend.model, x, tracked, settings,
                                                  eos_token_ids=backend.eos_token_ids, decode=decode)
                            for x in inputs[bs]]

        def model_likelihood(bs: int):
            return lambda: [score_continuations_batch(backend.model, x, [cont_ids] * int(x["input_ids"].shape[0]))
                            for x in inputs[bs]]

        def model_prefix(bs: int):  # the prefix pass alone: what generation and likelihood share
            def run():
                with torch.inference_mode():
                    return [backend.model(**x, use_cache=True) for x in inputs[bs]]
            return run

        records = [r for rs in generate(batch)() for r in rs]
        mean_steps = sum(len(r.generated_token_ids) for r in records) / len(records)
        fns = {}
        for bs in sizes:
            fns.update({f"gen_b{bs}": generate(bs), f"lik_b{bs}": likelihood(bs),
                        f"model_gen_b{bs}": model_generate(bs), f"model_lik_b{bs}": model_likelihood(bs)})
        fns[f"model_prefix_b{batch}"] = model_prefix(batch)
        times = interleaved(fns, repeats=args.repeats, warmup=args.warmup)
        per = {k: v / len(audios) for k, v in medians(times).items()}
        out: dict = {}
        for kind in ("model", "e2e"):
            pre = "model_" if kind == "model" else ""
            for bs in sizes:
                out[f"{kind}_gen_s_per_utt_b{bs}"] = per[f"{pre}gen_b{bs}"]
                out[f"{kind}_likelihood_s_per_utt_b{bs}"] = per[f"{pre}lik_b{bs}"]
            for g in sizes:
                for lk in sizes:
                    out[f"{kind}_speedup_gen_b{g}_vs_lik_b{lk}"] = per[f"{pre}gen_b{g}"] / per[f"{pre}lik_b{lk}"]
        # likelihood needs at least the prefix pass, so gen / prefix bounds its speed-up
        out[f"model_prefix_pass_s_per_utt_b{batch}"] = per[f"model_prefix_b{batch}"]
        out[f"model_speedup_bound_b{batch}"] = per[f"model_gen_b{batch}"] / per[f"model_prefix_b{batch}"]
        out["mean_generated_steps"] = mean_steps
        # the headline, as paired ratios: generation / likelihood within each repeat (median, spread)
        paired = ratio_stats(times, f"model_gen_b{batch}", f"model_lik_b{batch}")
        out["model_speedup_paired"] = paired["median"]
        out["model_speedup_paired_spread"] = paired["spread"]
        result[prompt_id] = out
        print(f"{prompt_id}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in out.items()), flush=True)
    amb = result["ambiguous"]
    emit({"speedup": amb["model_speedup_paired"], "speedup_spread": amb["model_speedup_paired_spread"],
          "repeats": args.repeats,
          "speedup_vs_gen_b1": round(amb[f"model_speedup_gen_b1_vs_lik_b{batch}"], 2),
          "batch_size": batch,
          **{f"{p}_{k}": (round(v, 4) if isinstance(v, float) else v) for p, r in result.items()
             for k, v in r.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
