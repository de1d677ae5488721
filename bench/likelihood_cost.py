"""Model-seconds per utterance: label likelihood vs generation-based token analysis (issue #5).

    python bench/likelihood_cost.py [--config configs/demo.yaml] [--n 16] [--repeats 5] [--warmup 1]

On ``tiny-demo``, per prompt (``ambiguous``, ``single``):

* generation: ``backend.generate`` with capture (what token-level analysis needs), at batch 1 and at
  the config's batch size, seconds per utterance;
* likelihood: ``backend.score`` (one shared prefix pass + the four classes' continuations batched),
  one call per utterance as the runner does, seconds per utterance.

Timed twice: ``model_*`` = model-seconds only (processor outputs computed beforehand; the
``generate_with_capture`` / ``score_continuations`` calls), ``e2e_*`` = through the back-end
interface (feature extraction included). ``speedup`` = generation s/utt / likelihood s/utt
(target >= 5); the headline ``speedup`` is model-seconds, ``ambiguous`` prompt, generation at batch 1
(the batching ``score`` uses); batched-generation ratios are given too. Warm-up, interleaved
repeats, medians. Last output line: one JSON object.
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
    from emologits.sfm.capture import generate_with_capture, score_continuations

    def decode(ids: list[int]) -> str:
        return backend.tokenizer.decode(ids, skip_special_tokens=True)

    result: dict = {}
    for prompt_id in ("ambiguous", "single"):
        prompt = get_prompt(cfg.resolve(cfg.prompts["file"]), prompt_id)
        continuations = [c for forms in answer_continuations(prompt.kind).values() for c in forms]
        cont_ids = [backend.tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        # end to end, through the back-end interface (processor feature extraction included)
        def generate(bs: int):
            return lambda: [backend.generate(audios[i:i + bs], prompt.text, tracked, settings)
                            for i in range(0, len(audios), bs)]

        def likelihood():
            return [backend.score(a, prompt.text, continuations) for a in audios]

        # model only: processor outputs computed once, outside the timing
        inputs_b1 = [backend.model_inputs([a], prompt.text) for a in audios]
        inputs_bn = [backend.model_inputs(audios[i:i + batch], prompt.text) for i in range(0, len(audios), batch)]

        def model_generate(inputs):
            return lambda: [generate_with_capture(backend.model, x, tracked, settings,
                                                  eos_token_ids=backend.eos_token_ids, decode=decode)
                            for x in inputs]

        def model_score():
            return [score_continuations(backend.model, x, cont_ids) for x in inputs_b1]

        records = [r for rs in generate(batch)() for r in rs]
        mean_steps = sum(len(r.generated_token_ids) for r in records) / len(records)
        t = median_times({"gen_b1": generate(1), f"gen_b{batch}": generate(batch), "likelihood": likelihood,
                          "model_gen_b1": model_generate(inputs_b1), f"model_gen_b{batch}": model_generate(inputs_bn),
                          "model_likelihood": model_score},
                         repeats=args.repeats, warmup=args.warmup)
        per = {k: v / len(audios) for k, v in t.items()}
        result[prompt_id] = {
            "model_gen_s_per_utt_b1": per["model_gen_b1"],
            f"model_gen_s_per_utt_b{batch}": per[f"model_gen_b{batch}"],
            "model_likelihood_s_per_utt": per["model_likelihood"],
            "model_speedup_vs_gen_b1": per["model_gen_b1"] / per["model_likelihood"],
            f"model_speedup_vs_gen_b{batch}": per[f"model_gen_b{batch}"] / per["model_likelihood"],
            "e2e_gen_s_per_utt_b1": per["gen_b1"], f"e2e_gen_s_per_utt_b{batch}": per[f"gen_b{batch}"],
            "e2e_likelihood_s_per_utt": per["likelihood"],
            "e2e_speedup_vs_gen_b1": per["gen_b1"] / per["likelihood"],
            f"e2e_speedup_vs_gen_b{batch}": per[f"gen_b{batch}"] / per["likelihood"],
            "mean_generated_steps": mean_steps,
        }
        print(f"{prompt_id}: " + ", ".join(f"{k}={v:.4g}" for k, v in result[prompt_id].items()), flush=True)
    emit({"speedup": round(result["ambiguous"]["model_speedup_vs_gen_b1"], 2),
          **{f"{p}_{k}": round(v, 4) for p, r in result.items() for k, v in r.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
