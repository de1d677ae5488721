"""Text level (paper sec. 3.4.1): a table of realistic and hostile model responses."""
from __future__ import annotations

import pandas as pd
import pytest

from emologits.extract.text import (invalid_report, parse_distribution, parse_single_label,
                                    text_distributions)


def P(anger, happiness, sadness, neutral):
    """Expected distribution from (unnormalised) class values."""
    total = anger + happiness + sadness + neutral
    return {"anger": anger / total, "happiness": happiness / total, "sadness": sadness / total,
            "neutral": neutral / total}


# (response, expected probs or None, expected reason, expected notes, in order)
DISTRIBUTION_CASES = [
    # --- the paper's format and close variants
    ("Happiness: 0%, Neutral: 0%, Sadness: 35%, Anger: 65%", P(65, 0, 35, 0), None, ()),
    ("Anger: 65%, Happiness: 0%, Sadness: 35%, Neutral: 0%", P(65, 0, 35, 0), None, ()),
    ("happiness: 10%, neutral: 60%, sadness: 20%, anger: 10%", P(10, 10, 20, 60), None, ()),
    ("HAPPINESS: 25%, NEUTRAL: 25%, SADNESS: 25%, ANGER: 25%", P(1, 1, 1, 1), None, ()),
    ("Happiness: 5 %, Neutral: 70 %, Sadness: 15 %, Anger: 10 %", P(10, 5, 15, 70), None, ()),
    ("Happiness: 5 percent, Neutral: 70 percent, Sadness: 15 percent, Anger: 10 percent",
     P(10, 5, 15, 70), None, ()),
    ("Happiness: 12.5%, Neutral: 62.5%, Sadness: 12.5%, Anger: 12.5%", P(12.5, 12.5, 12.5, 62.5), None, ()),
    ("Happiness: 0.1, Neutral: 0.6, Sadness: 0.2, Anger: 0.1", P(0.1, 0.1, 0.2, 0.6), None, ()),
    ("Happiness: .25, Neutral: .25, Sadness: .25, Anger: .25", P(1, 1, 1, 1), None, ()),
    ("Happiness:0%,Neutral:0%,Sadness:35%,Anger:65%", P(65, 0, 35, 0), None, ()),
    ("Happiness: 0%\nNeutral: 0%\nSadness: 35%\nAnger: 65%", P(65, 0, 35, 0), None, ()),
    # --- markdown, bullets, tables, JSON
    ("- Happiness: 0%\n- Neutral: 10%\n- Sadness: 30%\n- Anger: 60%", P(60, 0, 30, 10), None, ()),
    ("* **Happiness**: 0%\n* **Neutral**: 10%\n* **Sadness**: 30%\n* **Anger**: 60%", P(60, 0, 30, 10), None, ()),
    ("1. Anger: 50%\n2. Sadness: 30%\n3. Neutral: 20%\n4. Happiness: 0%", P(50, 0, 30, 20), None, ()),
    ("| Emotion | Likelihood |\n|---|---|\n| Anger | 65% |\n| Happiness | 0% |\n| Sadness | 35% |"
     "\n| Neutral | 0% |", P(65, 0, 35, 0), None, ()),
    ('{"anger": 0.65, "happiness": 0.0, "sadness": 0.35, "neutral": 0.0}', P(65, 0, 35, 0), None, ()),
    ("```\nAnger: 40%\nHappiness: 10%\nSadness: 10%\nNeutral: 40%\n```", P(40, 10, 10, 40), None, ()),
    ("### Emotion likelihoods\nAnger - 20%\nHappiness - 20%\nSadness - 20%\nNeutral - 40%", P(20, 20, 20, 40), None, ()),
    ("Anger (70%), Happiness (0%), Sadness (10%), Neutral (20%)", P(70, 0, 10, 20), None, ()),
    # --- prose around the answer, other phrasings
    ("Based on the audio, here are the likelihoods:\nHappiness: 0%, Neutral: 20%, Sadness: 50%, Anger: 30%.",
     P(30, 0, 50, 20), None, ()),
    ("Anger is 10%, happiness is 60%, sadness is 5%, and neutral is 25%.", P(10, 60, 5, 25), None, ()),
    ("The likelihood of anger is about 10%, happiness around 60%, sadness roughly 5%, neutral 25%.",
     P(10, 60, 5, 25), None, ()),
    ("65% anger, 35% sadness, 0% happiness, 0% neutral", P(65, 0, 35, 0), None, ()),
    ("I would estimate 70% angry and 30% sad.", P(70, 0, 30, 0), None, ("missing_classes",)),
    ("There is a 50% chance of anger and a 50% chance of neutral.", P(50, 0, 0, 50), None, ("missing_classes",)),
    ("Angry: 65%, Happy: 5%, Sad: 30%, Neutral: 0%", P(65, 5, 30, 0), None, ()),
    ("Anger: 10%, Happiness: 10%, Sadness: 10%, Neutrality: 70%", P(10, 10, 10, 70), None, ()),
    ("Anger: 65% Sadness: 35% Happiness: 0% Neutral: 0% (anger is dominant)", P(65, 0, 35, 0), None, ()),
    ("Anger: 65%, Sadness: 35%, Happiness: 0%, Neutral: 0%. Anger: 65%", P(65, 0, 35, 0), None, ()),
    # --- sums other than 100 are normalised (sec. 3.3)
    ("Happiness: 10%, Neutral: 50%, Sadness: 30%, Anger: 30%", P(30, 10, 30, 50), None, ("sum_not_100",)),
    ("Happiness: 10%, Neutral: 20%, Sadness: 10%, Anger: 10%", P(10, 10, 10, 20), None, ("sum_not_100",)),
    ("Anger: 150%, Sadness: 50%, Happiness: 0%, Neutral: 0%", P(150, 0, 50, 0), None, ("sum_not_100",)),
    ("Anger: 60-70%, Sadness: 30%, Happiness: 0%, Neutral: 0%", P(65, 0, 30, 0), None,
     ("range_midpoint", "sum_not_100")),  # 65 + 30
    ("Anger: 65%, Sadness: 0.35, Happiness: 0%, Neutral: 0%", P(65, 0, 35, 0), None, ("mixed_scale",)),
    # --- missing and extra emotions
    ("Anger: 65%, Sadness: 35%", P(65, 0, 35, 0), None, ("missing_classes",)),
    ("Neutral: 100%", P(0, 0, 0, 1), None, ("missing_classes",)),
    ("Anger: 50%, Happiness: 0%, Sadness: 20%, Neutral: 10%, Fear: 20%", P(50, 0, 20, 10), None,
     ("extra_emotions", "sum_not_100")),
    ("Happiness: 20%, Neutral: 40%, Sadness: 20%, Anger: 10%, Surprise: 5%, Disgust: 5%", P(10, 20, 20, 40), None,
     ("extra_emotions", "sum_not_100")),  # the four classes sum to 90
    ("Confidence: 90%. Anger: 70%, Sadness: 30%, Happiness: 0%, Neutral: 0%", P(70, 0, 30, 0), None, ()),
    # IEMOCAP's own label name "Neutral state" (echoed by models) reads as neutral
    ("{'Frustration': 0.67, 'Neutral state': 0.33}", P(0, 0, 0, 1), None,
     ("extra_emotions", "missing_classes", "sum_not_100")),  # frustration dropped, neutral renormalised
    ("**Neutral state**: 40%, Anger: 60%", P(60, 0, 0, 40), None, ("missing_classes",)),
    ('{"neutral_state": 0.5, "sad": 0.5}', P(0, 0, 0.5, 0.5), None, ("missing_classes",)),
    ("Neutral state: 30%, Neutral: 20%, Sadness: 50%", None, "conflicting_values", ()),  # one class, two values
    # --- invalid outputs (counted, never dropped)
    ("", None, "empty", ()),
    ("   \n\t ", None, "empty", ()),
    (None, None, "empty", ()),
    ("The speaker sounds angry.", None, "no_distribution", ()),
    ("I'm sorry, but I cannot determine emotions from this audio.", None, "no_distribution", ()),
    ("Anger: high, Happiness: low, Sadness: medium, Neutral: low", None, "no_distribution", ()),
    ("Anger: sixty-five percent, Sadness: thirty-five percent", None, "no_distribution", ()),
    ("Fear: 60%, Surprise: 40%", None, "no_distribution", ()),
    ("Happiness: 0%, Neutral: 0%, Sadness: 0%, Anger: 0%", None, "all_zero", ()),
    ("Anger: -10%, Happiness: 50%, Sadness: 30%, Neutral: 30%", None, "negative_value", ()),
    ("Anger: 65%, Sadness: 35%, Happiness: 0%, Neutral: 0%\nAnger: 20%, Sadness: 80%", None,
     "conflicting_values", ()),
    ("Angry: 60%, Anger: 40%, Sadness: 0%, Neutral: 0%", None, "conflicting_values", ()),
    ("Anger: " + "9" * 400 + "%, Sadness: 35%", None, "nonfinite_value", ()),
    ("Anger:" + " " * 40 + "65%, Sadness:\t\t35%", P(65, 0, 35, 0), None, ("missing_classes",)),
]


@pytest.mark.parametrize("text, probs, reason, notes", DISTRIBUTION_CASES)
def test_parse_distribution(text, probs, reason, notes):
    parsed = parse_distribution(text)
    assert parsed.reason == reason
    assert parsed.valid is (reason is None)
    if probs is None:
        assert parsed.probs is None
    else:
        assert list(parsed.probs) == ["anger", "happiness", "sadness", "neutral"]
        assert parsed.probs == pytest.approx(probs)
        assert sum(parsed.probs.values()) == pytest.approx(1.0)
    assert parsed.notes == notes


SINGLE_CASES = [
    ("Angry", "anger", None),
    ("Anger", "anger", None),
    ("Happiness", "happiness", None),
    ("happy", "happiness", None),
    ("Sadness.", "sadness", None),
    ("**Neutral**", "neutral", None),
    ("[Neutral]", "neutral", None),
    ("The emotion is: Sadness", "sadness", None),
    ("Emotion label: Angry\n", "anger", None),
    ("Sad. The speaker's voice is low and slow, not happy at all.", "sadness", None),
    ("Angry: 65%, Sadness: 35%", None, "multiple_labels"),
    ("Neutral.\nReason: the speaker is calm, neither happy nor sad.", "neutral", None),
    ("", None, "empty"),
    (None, None, "empty"),
    ("Fear", None, "other_emotion"),
    ("I cannot tell.", None, "no_label"),
    ("It could be Happiness or Sadness.", None, "multiple_labels"),
    ("[Happiness, Sadness, Neutral, Angry]", None, "multiple_labels"),
    ("Angry!!! The speaker is shouting; definitely not happy.", "anger", None),
    # a class word right after a negation is not a mention of that class
    ("The speaker is not happy; neutral.", "neutral", None),
    ("The speaker isn't angry, just sad.", "sadness", None),
    ("The speaker isn’t angry, just sad.", "sadness", None),
    ("Neither happy nor sad: neutral.", "neutral", None),
    ("Never angry, never sad here. Happiness.", "happiness", None),
    ("No anger at all.", None, "no_label"),
    ("Not happy.", None, "no_label"),
    ("Not fearful, not happy.", None, "no_label"),
    ("Fearful, not happy.", None, "other_emotion"),
    ("The speaker is not very happy.", "happiness", None),  # only the word right before counts
    ("Sad, or maybe not. Happy?", "sadness", None),  # "not" before "." negates nothing; first sentence
    ("Not happy, not angry; sad or neutral.", None, "multiple_labels"),
    ("Neutral state", "neutral", None),
]


@pytest.mark.parametrize("text, label, reason", SINGLE_CASES)
def test_parse_single_label(text, label, reason):
    parsed = parse_single_label(text)
    assert (parsed.label, parsed.reason) == (label, reason)


def test_text_distributions_and_report():
    records = pd.DataFrame([
        {"utt_id": "a", "status": "ok", "error": None, "text": "Happiness: 0%, Neutral: 0%, Sadness: 35%, Anger: 65%"},
        {"utt_id": "b", "status": "ok", "error": None, "text": "I cannot tell."},
        {"utt_id": "c", "status": "failed", "error": "nan_logits", "text": None},
        {"utt_id": "d", "status": "ok", "error": None, "text": "Neutral: 100%"},
    ])
    out = text_distributions(records, "distribution")
    assert list(out.columns) == ["utt_id", "p_anger", "p_happiness", "p_sadness", "p_neutral", "valid", "reason"]
    assert out["utt_id"].tolist() == ["a", "b", "c", "d"]
    assert out["valid"].tolist() == [True, False, False, True]
    assert out["reason"].tolist() == [None, "no_distribution", "inference_failed:nan_logits", None]
    assert out.loc[0, "p_anger"] == pytest.approx(0.65) and out.loc[3, "p_neutral"] == 1.0
    report = invalid_report(out)
    assert report["reason"].tolist() == ["inference_failed:nan_logits", "no_distribution", "total_invalid", "total"]
    assert report["count"].tolist() == [1, 1, 2, 4]
    assert report["rate"].tolist() == pytest.approx([0.25, 0.25, 0.5, 1.0])


def test_text_distributions_single_prompt_is_one_hot():
    records = pd.DataFrame([
        {"utt_id": "a", "status": "ok", "error": None, "text": "Angry"},
        {"utt_id": "b", "status": "ok", "error": None, "text": "Fear"},
    ])
    out = text_distributions(records, "single")
    assert out.loc[0, ["p_anger", "p_happiness", "p_sadness", "p_neutral"]].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert out["reason"].tolist() == [None, "other_emotion"]
    with pytest.raises(ValueError, match="prompt_kind"):
        text_distributions(records, "ambiguous")


def test_empty_records_give_an_empty_typed_table():
    out = text_distributions(pd.DataFrame(columns=["utt_id", "status", "error", "text"]), "distribution")
    assert len(out) == 0 and out["valid"].dtype == bool
    report = invalid_report(out)
    assert report["count"].tolist() == [0, 0]


# --- other emotion sets: the words and classes come from the set (default paper4)
SIX_ANSWER = "Anger: 40%, Disgust: 20%, Fear: 10%, Happiness: 0%, Neutral: 20%, Sadness: 10%"


def test_cremad6_reads_six_classes_paper4_drops_the_extra_ones():
    six = parse_distribution(SIX_ANSWER, "cremad6")
    assert six.valid and six.notes == ()
    assert list(six.probs) == ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
    assert six.probs == pytest.approx({"anger": 0.4, "disgust": 0.2, "fear": 0.1, "happiness": 0.0,
                                       "neutral": 0.2, "sadness": 0.1})
    four = parse_distribution(SIX_ANSWER)  # paper4, as before: disgust and fear are other emotions
    assert four.probs == pytest.approx(P(40, 0, 10, 20)) and four.notes == ("extra_emotions", "sum_not_100")
    assert parse_distribution(SIX_ANSWER, "paper4") == four
    # synonyms of the set ("afraid", "disgusted"); a class it lacks (surprise) is an extra emotion
    words = parse_distribution("afraid 50%, disgusted 30%, surprised 20%", "cremad6")
    assert words.probs == pytest.approx({"anger": 0, "disgust": 0.375, "fear": 0.625, "happiness": 0,
                                         "neutral": 0, "sadness": 0})
    assert words.notes == ("extra_emotions", "missing_classes", "sum_not_100")
    assert parse_distribution("afraid 50%, disgusted 30%, surprised 20%", "msp8").notes == ("missing_classes",)


@pytest.mark.parametrize("text, paper4, cremad6", [
    ("Fear", (None, "other_emotion"), ("fear", None)),
    ("Disgusted. Not angry.", (None, "other_emotion"), ("disgust", None)),
    ("Angry", ("anger", None), ("anger", None)),
    ("Surprised", (None, "other_emotion"), (None, "other_emotion")),
    ("Fear or anger.", ("anger", None), (None, "multiple_labels")),
    ("Contemptuous.", (None, "other_emotion"), (None, "other_emotion")),  # an emotion word of no class
])
def test_single_label_over_the_set(text, paper4, cremad6):
    parsed = parse_single_label(text)
    assert (parsed.label, parsed.reason) == paper4
    parsed = parse_single_label(text, "cremad6")
    assert (parsed.label, parsed.reason) == cremad6


def test_text_distributions_over_an_emotion_set():
    records = pd.DataFrame([
        {"utt_id": "a", "status": "ok", "error": None, "text": SIX_ANSWER},
        {"utt_id": "b", "status": "failed", "error": "oom", "text": None},
        {"utt_id": "c", "status": "ok", "error": None, "text": "Neutral state: 100%"},
    ])
    columns = ["p_anger", "p_disgust", "p_fear", "p_happiness", "p_neutral", "p_sadness"]
    out = text_distributions(records, "distribution", "cremad6")
    assert list(out.columns) == ["utt_id", *columns, "valid", "reason"]
    assert out.loc[0, columns].tolist() == pytest.approx([0.4, 0.2, 0.1, 0.0, 0.2, 0.1])
    assert out["reason"].tolist() == [None, "inference_failed:oom", None] and out.loc[1, columns].isna().all()
    assert out.loc[2, "p_neutral"] == 1.0  # IEMOCAP's "Neutral state" reads as the set's neutral
    single = text_distributions(records.assign(text=["Fear", None, "Sad"]), "single", "msp8")
    assert list(single.columns)[1:9] == [f"p_{c}" for c in ("anger", "sadness", "happiness", "surprise", "fear",
                                                            "disgust", "contempt", "neutral")]
    assert single.loc[0, "p_fear"] == 1.0 and single.loc[2, "p_sadness"] == 1.0
    assert single.loc[0].filter(like="p_").sum() == 1.0


def test_label_phrase_needs_a_neutral_class(tmp_path):
    """"Neutral state" is read as neutral only for a set with a neutral class; without one, neutral
    is an emotion outside the set (dropped, note extra_emotions)."""
    two = tmp_path / "two.yaml"
    two.write_text("name: two\nclasses:\n  anger: {surface_forms: [Anger], words: [anger, angry]}\n"
                   "  sadness: {surface_forms: [Sadness], words: [sadness, sad]}\n")
    parsed = parse_distribution("Neutral state: 50%, Anger: 30%, Sadness: 20%", str(two))
    assert parsed.probs == pytest.approx({"anger": 0.6, "sadness": 0.4})
    assert parsed.notes == ("extra_emotions", "sum_not_100")
    assert parse_single_label("Neutral state", str(two)) == parse_single_label("Neutral", str(two))
    assert parse_single_label("Neutral", str(two)).reason == "other_emotion"
