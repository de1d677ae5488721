"""Label likelihood (pure part): continuations, score combination, record tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emologits.emotions import EmotionSet, get_emotion_set
from emologits.extract.likelihood import (answer_continuations, likelihood_classes, likelihood_distributions,
                                          score_columns)

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
    assert answer_continuations("single") == answer_continuations("single", "paper4")
    with pytest.raises(ValueError, match="prompt_kind"):
        answer_continuations("ambiguous")


def test_answer_continuations_come_from_the_emotion_set(tmp_path):
    """The set's YAML is the one place the answers are written; any set, in its order."""
    cremad6 = get_emotion_set("cremad6")
    assert answer_continuations("distribution", cremad6) == {
        "anger": ["Anger"], "disgust": ["Disgust"], "fear": ["Fear"], "happiness": ["Happiness"],
        "neutral": ["Neutral"], "sadness": ["Sadness"]}
    assert list(answer_continuations("single", "msp8")) == list(get_emotion_set("msp8").names)
    custom = tmp_path / "two.yaml"
    custom.write_text("name: two\nclasses:\n  calm: {surface_forms: [Calm], answers: {single: [Calm, Relaxed]}}\n"
                      "  tense: {surface_forms: [Tense]}\n")
    assert answer_continuations("single", str(custom)) == {"calm": ["Calm", "Relaxed"], "tense": ["Tense"]}
    assert answer_continuations("distribution", str(custom)) == {"calm": ["Calm"], "tense": ["Tense"]}


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


def test_any_number_of_classes_in_record_order():
    """N-agnostic: the classes are those of the records' logprob_<class> columns, in column order
    (or the emotion set's, when given)."""
    six = {"anger": [np.array([-1.0])], "disgust": [np.array([-2.0])], "fear": [np.array([-3.0])],
           "happiness": [np.array([-1.0, -1.0])], "neutral": [np.array([-0.5])], "sadness": [np.array([-4.0])]}
    records = pd.DataFrame([{"utt_id": "u", "status": "ok", "error": None, **score_columns(six)},
                            {"utt_id": "v", "status": "failed", "error": "oom", **score_columns(six)}])
    assert likelihood_classes(records) == list(six)
    out = likelihood_distributions(records)
    columns = [f"p_{c}" for c in six]
    assert list(out.columns) == ["utt_id", *columns, "valid", "reason"]
    assert out.loc[0, columns].tolist() == pytest.approx(softmax([-1.0, -2.0, -3.0, -2.0, -0.5, -4.0]))
    assert out["reason"].tolist() == [None, "inference_failed:oom"] and out.loc[1, columns].isna().all()
    assert likelihood_distributions(records, "cremad6").equals(out)  # the set's order is the same here
    # the set's order wins over the column order
    reordered = likelihood_distributions(
        records, EmotionSet(name="reversed", classes=tuple(reversed(get_emotion_set("cremad6").classes))))
    assert list(reordered.columns)[1:7] == list(reversed(columns))
    assert reordered.loc[0, "p_fear"] == pytest.approx(out.loc[0, "p_fear"])
    with pytest.raises(ValueError, match=r"lack columns \['logprob_contempt'"):
        likelihood_distributions(records, "msp8")  # msp8's contempt and surprise have no scores
    two = pd.DataFrame([{"utt_id": "u", "status": "ok", "error": None, "logprob_calm": -1.0, "logprob_tense": -1.0}])
    assert likelihood_distributions(two)[["p_calm", "p_tense"]].iloc[0].tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="at least two classes"):
        likelihood_distributions(two.drop(columns=["logprob_tense"]))
