"""Label likelihood (pure part): continuations, score combination, record tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emologits.extract.likelihood import answer_continuations, likelihood_distributions, score_columns

LOGPROBS = {
    "anger": [np.array([-1.0, -0.5])],  # sum -1.5, mean -0.75
    "happiness": [np.array([-2.0])],  # -2
    "sadness": [np.array([-0.5, -0.5, -0.5])],  # sum -1.5, mean -0.5
    "neutral": [np.array([-3.0])],  # -3
}


def softmax(values):
    e = [math.exp(v) for v in values]
    return [x / sum(e) for x in e]


def test_answer_continuations_per_prompt_kind():
    assert answer_continuations("distribution") == {
        "anger": ["Anger"], "happiness": ["Happiness"], "sadness": ["Sadness"], "neutral": ["Neutral"]}
    assert answer_continuations("single")["anger"] == ["Angry"]
    custom = {"anger": ["Anger", "Angry"], "happiness": ["Happy"], "sadness": ["Sad"], "neutral": ["Neutral"]}
    assert answer_continuations("single", custom) == custom
    with pytest.raises(ValueError, match="prompt_kind"):
        answer_continuations("ambiguous")
    with pytest.raises(ValueError, match="exactly the classes"):
        answer_continuations("single", {"anger": ["Anger"]})
    for bad in ("Anger", [], ["Anger", ""], [" "]):  # a bare string, no form, an empty form
        with pytest.raises(ValueError, match="non-empty list of non-empty strings"):
            answer_continuations("single", {**custom, "anger": bad})


PROBS = ["p_anger", "p_happiness", "p_sadness", "p_neutral"]


def distribution(token_logprobs, length_normalize=False):
    """One utterance through the production path: score_columns -> record -> likelihood_distributions."""
    record = pd.DataFrame([{"utt_id": "u", "status": "ok", "error": None, **score_columns(token_logprobs)}])
    out = likelihood_distributions(record, length_normalize=length_normalize)
    return out.loc[0, PROBS].tolist(), out.loc[0, "reason"]


def test_sum_then_softmax():
    phi, reason = distribution(LOGPROBS)
    assert reason is None and phi == pytest.approx(softmax([-1.5, -2.0, -1.5, -3.0]))


def test_length_normalised():
    phi, _ = distribution(LOGPROBS, length_normalize=True)
    assert phi == pytest.approx(softmax([-0.75, -2.0, -0.5, -3.0]))


def test_surface_forms_combine_by_logsumexp():
    two = {**LOGPROBS, "anger": [np.array([-1.0, -0.5]), np.array([-2.0])]}
    phi, _ = distribution(two)
    anger = math.log(math.exp(-1.5) + math.exp(-2.0))
    assert phi == pytest.approx(softmax([anger, -2.0, -1.5, -3.0]))
    # length normalisation is per continuation: (-1.5 / 2, -2.0 / 1)
    phi, _ = distribution(two, length_normalize=True)
    anger = math.log(math.exp(-0.75) + math.exp(-2.0))
    assert phi == pytest.approx(softmax([anger, -2.0, -0.5, -3.0]))


def test_zero_probability_nan_and_missing_scores():
    phi, reason = distribution({**LOGPROBS, "neutral": [np.array([-np.inf])]})
    assert reason is None and phi[3] == 0.0 and sum(phi) == pytest.approx(1.0)
    assert distribution({**LOGPROBS, "sadness": [np.array([np.nan])]})[1] == "nonfinite_score"
    every_zero = {e: [np.array([-np.inf])] for e in LOGPROBS}
    assert distribution(every_zero)[1] == "nonfinite_score"
    assert distribution({**LOGPROBS, "sadness": []})[1] == "malformed_record"  # a class with no continuation


def test_score_columns_and_record_table(tmp_path):
    cols = score_columns(LOGPROBS)
    assert cols["logprob_anger"] == [-1.5] and cols["n_tokens_sadness"] == [3]
    rows = [
        {"utt_id": "a", "status": "ok", "error": None, **cols},
        {"utt_id": "b", "status": "failed", "error": "audio_empty", **{k: [] for k in cols}},
        {"utt_id": "c", "status": "ok", "error": None, **cols, "logprob_sadness": [float("nan")]},
        {"utt_id": "d", "status": "ok", "error": None, **cols, "n_tokens_neutral": [1, 2]},
    ]
    path = tmp_path / "lik.parquet"
    pd.DataFrame(rows).to_parquet(path)
    records = pd.read_parquet(path)
    out = likelihood_distributions(records)
    assert out["reason"].tolist() == [None, "inference_failed:audio_empty", "nonfinite_score", None]
    assert out.loc[0, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].tolist() == \
        pytest.approx(softmax([-1.5, -2.0, -1.5, -3.0]))
    normed = likelihood_distributions(records, length_normalize=True)
    assert normed.loc[0, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].tolist() == \
        pytest.approx(softmax([-0.75, -2.0, -0.5, -3.0]))
    assert normed["reason"].tolist()[3] == "malformed_record"  # 2 token counts for 1 continuation


def test_scalar_columns_are_accepted():
    records = pd.DataFrame([{"utt_id": "a", "status": "ok", "error": None, "logprob_anger": -1.5,
                             "logprob_happiness": -2.0, "logprob_sadness": -1.5, "logprob_neutral": -3.0,
                             "n_tokens_anger": 2, "n_tokens_happiness": 1, "n_tokens_sadness": 3,
                             "n_tokens_neutral": 1}])
    out = likelihood_distributions(records, length_normalize=True)
    assert out.loc[0, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].tolist() == \
        pytest.approx(softmax([-0.75, -2.0, -0.5, -3.0]))
    with pytest.raises(ValueError, match="lack columns"):
        likelihood_distributions(records.drop(columns=["logprob_anger"]))
