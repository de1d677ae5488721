"""Token level (paper eq. 1-2, Figure 3 ablation) on hand-computed logit tensors."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from emologits.extract import ExtractionError, invalid_report
from emologits.extract.token import distribution_from_logits, emotion_word_steps, token_distributions

# Vocabulary of 9; anger = "An"+"ger" (ids 1, 2), happiness = 3 pieces (3, 4, 5), sadness = 6, neutral = 7.
CLASS_IDS = {"anger": [[1, 2]], "happiness": [[3, 4, 5]], "sadness": [[6]], "neutral": [[7]]}
FULL = np.array([
    [0.0, 4.0, 2.0, 1.0, 2.0, 3.0, 5.0, 6.0, 10.0],  # step 0
    [0.0, 2.0, 4.0, 3.0, 2.0, 1.0, 1.0, 2.0, 2.0],  # step 1
])
# eq. 1 per step: anger (3, 3), happiness (2, 2), sadness (5, 1), neutral (6, 2); mean over steps:
# z = (3, 2, 3, 4), sum 12.
TRACKED = [1, 2, 3, 4, 5, 6, 7, 8]


def gathered(full, ids=TRACKED):
    return full[:, ids]


def test_eq1_eq2_all_steps():
    phi = distribution_from_logits(FULL, CLASS_IDS)
    assert list(phi) == ["anger", "happiness", "sadness", "neutral"]
    assert phi == pytest.approx({"anger": 3 / 12, "happiness": 2 / 12, "sadness": 3 / 12, "neutral": 4 / 12})


def test_chosen_steps():
    # step 0 only: z = (3, 2, 5, 6), sum 16
    phi = distribution_from_logits(FULL, CLASS_IDS, steps=[0])
    assert phi == pytest.approx({"anger": 3 / 16, "happiness": 2 / 16, "sadness": 5 / 16, "neutral": 6 / 16})


def test_several_surface_forms_average_with_equal_weight():
    ids = {**CLASS_IDS, "anger": [[1, 2], [8]]}
    # anger: step 0 (3 + 10) / 2 = 6.5, step 1 (3 + 2) / 2 = 2.5 -> 4.5; z = (4.5, 2, 3, 4), sum 13.5
    phi = distribution_from_logits(FULL, ids)
    assert phi["anger"] == pytest.approx(4.5 / 13.5)
    assert phi["neutral"] == pytest.approx(4 / 13.5)


def test_softmax_alternative():
    phi = distribution_from_logits(FULL, CLASS_IDS, normalize="softmax")
    denom = 2 * math.exp(-1) + math.exp(-2) + 1
    assert phi == pytest.approx({"anger": math.exp(-1) / denom, "happiness": math.exp(-2) / denom,
                                 "sadness": math.exp(-1) / denom, "neutral": 1 / denom})


def test_full_and_gathered_forms_agree():
    for steps in (None, [1], [0, 1]):
        for normalize in ("ratio", "softmax"):
            a = distribution_from_logits(FULL, CLASS_IDS, steps=steps, normalize=normalize)
            b = distribution_from_logits(gathered(FULL), CLASS_IDS, steps=steps, normalize=normalize,
                                         token_ids=TRACKED)
            assert a == b
    # column order of the gathered form does not matter
    shuffled = [8, 3, 1, 7, 2, 6, 5, 4]
    assert distribution_from_logits(gathered(FULL, shuffled), CLASS_IDS, token_ids=shuffled) == \
        pytest.approx(distribution_from_logits(FULL, CLASS_IDS))


def test_nonpositive_class_logit_is_flagged_for_ratio_only():
    z = FULL.copy()
    z[:, 6] = [-1.0, 0.5]  # sadness mean = -0.25
    with pytest.raises(ExtractionError) as info:
        distribution_from_logits(z, CLASS_IDS)
    assert info.value.reason == "nonpositive_logit"
    z[:, 6] = [-1.0, 1.0]  # exactly zero is also not a valid eq. 2 input
    with pytest.raises(ExtractionError, match="positive"):
        distribution_from_logits(z, CLASS_IDS)
    phi = distribution_from_logits(z, CLASS_IDS, normalize="softmax")
    assert sum(phi.values()) == pytest.approx(1.0) and phi["sadness"] > 0


def test_empty_steps_and_nonfinite():
    with pytest.raises(ExtractionError) as info:
        distribution_from_logits(FULL, CLASS_IDS, steps=[])
    assert info.value.reason == "empty_steps"
    with pytest.raises(ExtractionError) as info:
        distribution_from_logits(np.empty((0, 9)), CLASS_IDS)
    assert info.value.reason == "empty_steps"
    z = FULL.copy()
    z[0, 7] = np.nan
    with pytest.raises(ExtractionError) as info:
        distribution_from_logits(z, CLASS_IDS, normalize="softmax")
    assert info.value.reason == "nonfinite_logit"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="not among the tracked"):
        distribution_from_logits(gathered(FULL)[:, :5], CLASS_IDS, token_ids=TRACKED[:5])
    with pytest.raises(ValueError, match="columns"):
        distribution_from_logits(gathered(FULL), CLASS_IDS, token_ids=TRACKED[:3])
    with pytest.raises(ValueError, match="outside"):
        distribution_from_logits(FULL, CLASS_IDS, steps=[2])
    with pytest.raises(ValueError, match="normalize"):
        distribution_from_logits(FULL, CLASS_IDS, normalize="l1")
    with pytest.raises(ValueError, match="2-D"):
        distribution_from_logits(FULL[0], CLASS_IDS)


def test_emotion_word_steps_contiguous_full_matches_only():
    # 1 2 = "An ger" (anger), 9 = "%", 3 4 5 = happiness, 1 alone (no "ger" after it), 6 = sadness
    generated = [1, 2, 9, 3, 4, 5, 9, 1, 9, 6, 0]
    assert emotion_word_steps(generated, CLASS_IDS) == [0, 1, 3, 4, 5, 9]
    assert emotion_word_steps([3, 4, 9, 5], CLASS_IDS) == []  # an incomplete word is not a word
    assert emotion_word_steps([], CLASS_IDS) == []
    # overlapping forms: both "1 2" and "2" cover step 1 once
    assert emotion_word_steps([1, 2], {**CLASS_IDS, "neutral": [[2]]}) == [0, 1]


def records_frame():
    emotion_steps_full = np.array([
        [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],  # generated 1 ("An")
        [0.0, 3.0, 3.0, 2.0, 2.0, 2.0, 1.0, 4.0, 0.0],  # generated 2 ("ger")
        [0.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 1.0, 0.0],  # generated 9 ("%"), not an emotion word
    ])
    rows = [
        {"utt_id": "u1", "status": "ok", "error": None, "generated_token_ids": [5, 9],
         "tracked_logits": gathered(FULL).tolist(), "logsumexp": [11.0, 5.0]},
        {"utt_id": "u2", "status": "failed", "error": "audio_unreadable", "generated_token_ids": [],
         "tracked_logits": [], "logsumexp": []},
        {"utt_id": "u3", "status": "ok", "error": None, "generated_token_ids": [],
         "tracked_logits": [], "logsumexp": []},
        {"utt_id": "u4", "status": "ok", "error": None, "generated_token_ids": [1, 2, 9],
         "tracked_logits": gathered(emotion_steps_full).tolist(), "logsumexp": [3.0, 5.0, 10.0]},
    ]
    return pd.DataFrame(rows)


def test_token_distributions_all_steps_and_reasons(tmp_path):
    path = tmp_path / "part.parquet"
    records_frame().to_parquet(path)  # what the runner writes and the notebooks read back
    records = pd.read_parquet(path)
    out = token_distributions(records, TRACKED, CLASS_IDS)
    assert list(out.columns) == ["utt_id", "p_anger", "p_happiness", "p_sadness", "p_neutral", "valid", "reason"]
    assert out["valid"].tolist() == [True, False, False, True]
    assert out["reason"].tolist() == [None, "inference_failed:audio_unreadable", "empty_steps", None]
    assert out.loc[0, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].tolist() == \
        pytest.approx([3 / 12, 2 / 12, 3 / 12, 4 / 12])
    assert out.loc[1, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].isna().all()
    # u4 all steps: anger (1, 3, 9) -> 13/3; happiness (1, 2, 9) -> 4; sadness (1, 1, 9) -> 11/3;
    # neutral (1, 4, 1) -> 2; sum 14
    assert out.loc[3, "p_anger"] == pytest.approx((13 / 3) / 14)
    assert out.loc[3, "p_neutral"] == pytest.approx(2 / 14)


def test_token_distributions_emotion_steps_only():
    records = records_frame()
    out = token_distributions(records, TRACKED, CLASS_IDS, steps="emotion")
    # u1 generated [5, 9]: no complete emotion word
    assert out["reason"].tolist() == ["no_emotion_word_steps", "inference_failed:audio_unreadable",
                                      "empty_steps", None]
    # u4 steps 0-1 only: anger (1, 3) -> 2; happiness (1, 2) -> 1.5; sadness (1, 1) -> 1; neutral (1, 4) -> 2.5
    assert out.loc[3, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].tolist() == \
        pytest.approx([2 / 7, 1.5 / 7, 1 / 7, 2.5 / 7])
    report = invalid_report(out).set_index("reason")
    assert report.loc["total", "count"] == 4 and report.loc["total_invalid", "count"] == 3
    assert report.loc["no_emotion_word_steps", "rate"] == pytest.approx(0.25)


def test_token_distributions_nonpositive_and_malformed():
    records = records_frame().iloc[[0]].copy()
    bad = gathered(FULL)
    bad[:, TRACKED.index(7)] = [-5.0, -1.0]
    records.at[0, "tracked_logits"] = bad.tolist()
    assert token_distributions(records, TRACKED, CLASS_IDS)["reason"].tolist() == ["nonpositive_logit"]
    soft = token_distributions(records, TRACKED, CLASS_IDS, normalize="softmax")
    assert soft["valid"].tolist() == [True]
    records.at[0, "generated_token_ids"] = [5, 9, 9]  # 3 ids but 2 logit rows
    assert token_distributions(records, TRACKED, CLASS_IDS)["reason"].tolist() == ["malformed_record"]
    with pytest.raises(ValueError, match="steps"):
        token_distributions(records, TRACKED, CLASS_IDS, steps="percent")


def test_any_number_of_classes_from_class_ids():
    """N-agnostic (eq. 1-2 over N classes): the classes are the keys of class_ids, in their order;
    the table has their p_<class> columns."""
    six = {"neutral": [[7]], "fear": [[8]], "anger": [[1, 2]], "happiness": [[3, 4, 5]], "sadness": [[6]],
           "disgust": [[1], [6]]}
    # z: neutral 4, fear (10 + 2) / 2 = 6, anger 3, happiness 2, sadness 3, disgust ((4+2)/2 + (5+1)/2) / 2 = 3
    phi = distribution_from_logits(FULL, six)
    assert list(phi) == list(six)
    assert list(phi.values()) == pytest.approx([4 / 21, 6 / 21, 3 / 21, 2 / 21, 3 / 21, 3 / 21])
    out = token_distributions(records_frame(), TRACKED, six)
    assert list(out.columns) == ["utt_id", *(f"p_{c}" for c in six), "valid", "reason"]
    assert out.loc[0, [f"p_{c}" for c in six]].tolist() == pytest.approx(list(phi.values()))
    assert out["reason"].tolist() == [None, "inference_failed:audio_unreadable", "empty_steps", None]
    emotion = token_distributions(records_frame(), TRACKED, six, steps="emotion")
    # u4 generated 1 2 9: "1 2" (anger) and "1" (disgust) cover steps 0-1, over all six classes' words
    assert emotion["reason"].tolist() == ["no_emotion_word_steps", "inference_failed:audio_unreadable",
                                          "empty_steps", None]
    two = {"anger": [[1, 2]], "neutral": [[7]]}
    assert distribution_from_logits(FULL, two) == pytest.approx({"anger": 3 / 7, "neutral": 4 / 7})
    with pytest.raises(ValueError, match="at least two distinct classes"):
        distribution_from_logits(FULL, {"anger": [[1, 2]]})
    with pytest.raises(ValueError, match="at least two distinct classes"):
        token_distributions(records_frame(), TRACKED, {"anger": [[1, 2]]})


def test_paper4_order_of_class_ids_is_the_table_order():
    reordered = {c: CLASS_IDS[c] for c in ("neutral", "sadness", "happiness", "anger")}
    out = token_distributions(records_frame(), TRACKED, reordered)
    assert list(out.columns)[1:5] == ["p_neutral", "p_sadness", "p_happiness", "p_anger"]
    paper = token_distributions(records_frame(), TRACKED, CLASS_IDS)
    pd.testing.assert_frame_equal(out[paper.columns], paper, check_exact=False, rtol=1e-12)
