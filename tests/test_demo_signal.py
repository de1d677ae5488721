"""Every method of a run carries signal: unweighted accuracy against the majority label above chance.

A demo whose token-level or label-likelihood answers are one class for every utterance (UA 25 % with
four classes) cannot show a broken path (wrong token ids give the same table), so the notebook run of
the demo (tests/test_notebooks.py) checks :func:`methods_at_chance` on its distribution tables: text,
token level (all steps; both eq. 2 normalisations where defined) and label likelihood, for every
prompt. The tests here show the check itself fails on answers at chance.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from emologits import metrics as M
from emologits.artifacts import DistributionKey, write_distributions
from emologits.config import config_from_dict
from emologits.emotions import get_emotion_set
from emologits.notebook import Session

#: The floor every method must reach (chance is 25 % for the demo's four balanced classes).
UA_FLOOR = 0.40


def method_keys(session: Session) -> list[DistributionKey]:
    """Every distribution table of the paper's methods (and label likelihood) for the run's prompts
    (those the run computes: ``pipeline.method_prompts`` may leave a method out for some prompts)."""
    keys = []
    for prompt in session.cfg.prompts["ids"]:
        keys += [DistributionKey("text", prompt),
                 *(DistributionKey("token", prompt, "all", v) for v in ("softmax", "ratio")),
                 DistributionKey("likelihood", prompt)]
    return [k for k in keys if session.configured(k)]


def unweighted_accuracies(session: Session) -> dict[str, tuple[float, int]]:
    """Table name -> (UA against the majority label, utterances it is over)."""
    out = {}
    for key in method_keys(session):
        result = session.evaluate(key, ["ua"])
        out[key.name] = (float(result["ua"].value), int(result.n_label))
    return out


def methods_at_chance(uas: dict[str, tuple[float, int]], floor: float = UA_FLOOR) -> dict[str, float]:
    """The tables whose UA is below ``floor``; a table with no valid distribution (eq. 2's ratio with
    non-positive class logits) is not defined and not counted."""
    return {name: ua for name, (ua, n) in uas.items() if n > 0 and not ua >= floor}


def _session(tmp_path, tables: dict[str, str], n: int = 80) -> Session:
    """A run with a synthetic manifest; ``tables``: table name -> "truth" (predictions following the
    ground truth), "constant" (one class for every utterance) or "invalid" (no valid row)."""
    cfg = config_from_dict({"run": "signal", "evaluation": {"bootstrap": 20}})
    cfg.output_root = tmp_path
    session = Session.from_config(cfg)
    es = get_emotion_set("paper4")
    rng = np.random.default_rng(0)
    votes = np.stack([rng.permutation(np.arange(n) % 4)] * 2 + [rng.integers(0, 4, n)], axis=1)
    truth = np.stack([(votes == k).mean(axis=1) for k in range(4)], axis=1)
    session.manifest = pd.DataFrame(truth, columns=es.gt_columns).assign(
        utt_id=[f"u{i:03d}" for i in range(n)], label=M.argmax_labels(truth, ties="first", classes=es))
    for name, kind in tables.items():
        pred = {"truth": 0.5 * truth + 0.125, "constant": np.tile([0.1, 0.6, 0.2, 0.1], (n, 1)),
                "invalid": np.full((n, 4), 0.25)}[kind]
        table = pd.DataFrame(pred, columns=es.pred_columns).assign(
            utt_id=session.manifest["utt_id"], valid=kind != "invalid", reason=None)
        write_distributions(cfg, name, table)
    return session


def test_a_method_at_chance_is_flagged(tmp_path):
    names = [k.name for k in method_keys(_session(tmp_path / "names", {}))]
    assert len(names) == 8  # 2 prompts x (text, token softmax, token ratio, likelihood)
    tables = dict.fromkeys(names, "truth")
    tables.update({"token__ambiguous__all__softmax": "constant", "token__single__all__ratio": "invalid"})
    uas = unweighted_accuracies(_session(tmp_path / "run", tables))
    assert uas["token__ambiguous__all__softmax"][0] == 0.25 and uas["token__single__all__ratio"][1] == 0
    assert methods_at_chance(uas) == {"token__ambiguous__all__softmax": 0.25}


def test_every_method_following_the_truth_passes(tmp_path):
    names = [k.name for k in method_keys(_session(tmp_path / "names", {}))]
    uas = unweighted_accuracies(_session(tmp_path / "run", dict.fromkeys(names, "truth")))
    assert methods_at_chance(uas) == {} and all(ua > 0.9 for ua, _ in uas.values())
