"""Prompts (paper sec. 3.3, 5.2): the paper's two verbatim for paper4, emotion sets declared, templates
rendered for any set."""
from __future__ import annotations

import pytest

from conftest import PROJECT_ROOT
from emologits.emotions import get_emotion_set
from emologits.errors import ConfigError
from emologits.prompts import Prompt, choice_list, class_list, describe_prompts, get_prompt, load_prompts

PROMPTS = PROJECT_ROOT / "prompts" / "prompts.yaml"
AMBIGUOUS = ("Provide the likelihood (in percentages) that this audio represents each of the following "
             "emotions: anger, happiness, sadness, and neutral. Use logical reasoning to determine the "
             "percentages, but do not include this reasoning in your response.")
SINGLE = ("You are an expert in identifying emotions from speech. Predict the emotion of the audio from "
          "the choices [Happiness, Sadness, Neutral, Angry]. Respond with only one of the emotion labels.")


def test_the_papers_prompts_are_verbatim_fixed_prompts_for_paper4():
    prompts = load_prompts(PROMPTS)
    for pid, text, kind in (("ambiguous", AMBIGUOUS, "distribution"), ("single", SINGLE, "single")):
        prompt = prompts[pid]
        assert (prompt.text, prompt.kind, prompt.emotion_set, prompt.is_template) == (text, kind, "paper4", False)
        assert prompt.source.startswith("paper, sec.")
        # the runner's call (no set: paper4) and an explicit paper4 give the prompt unchanged
        assert get_prompt(PROMPTS, pid) == prompt == get_prompt(PROMPTS, pid, "paper4")
        assert get_prompt(PROMPTS, pid, get_emotion_set("paper4")) == prompt


def test_a_fixed_prompt_refuses_another_emotion_set(tmp_path):
    fixed = tmp_path / "prompts.yaml"
    fixed.write_text(f"single:\n  kind: single\n  text: {SINGLE}\n")
    with pytest.raises(ConfigError, match=r"prompts\.yaml: prompt 'single' asks about emotion set 'paper4', "
                                          r"but the run's emotion set is 'cremad6'.*ambiguous_any"):
        get_prompt(fixed, "single", "cremad6")
    with pytest.raises(ConfigError, match="'msp8'"):
        load_prompts(PROMPTS)["ambiguous"].render("msp8")


def test_the_papers_prompts_over_another_set_become_their_templates():
    """A run over msp8 or cremad6 keeps the ids the tables compare: the paper's wording over the set's classes."""
    for pid, template in (("ambiguous", "ambiguous_any"), ("single", "single_any")):
        for emotion_set in ("msp8", "cremad6"):
            got = get_prompt(PROMPTS, pid, emotion_set)
            want = get_prompt(PROMPTS, template, emotion_set)
            assert (got.id, got.text, got.kind, got.emotion_set) == (pid, want.text, want.kind, emotion_set)
            assert f"other_sets {template!r}" in got.source
    assert "contempt, and neutral" in get_prompt(PROMPTS, "ambiguous", "msp8").text


@pytest.mark.parametrize("entry, message", [
    ("other_sets: nowhere", "other_sets 'nowhere' must be a template prompt"),
    ("other_sets: plain", "other_sets 'plain' must be a template prompt"),
    ("other_sets: [a]", "other_sets must name a template prompt"),
])
def test_other_sets_must_name_a_template_of_the_same_kind(tmp_path, entry, message):
    path = tmp_path / "prompts.yaml"
    path.write_text(f"mine:\n  kind: single\n  {entry}\n  text: Which emotion?\n"
                    "plain:\n  kind: single\n  text: Just this.\n")
    with pytest.raises(ConfigError, match=message):
        load_prompts(path)


def test_class_and_choice_lists_follow_the_papers_style():
    assert class_list() == "anger, happiness, sadness, and neutral"  # the paper's sentence (sec. 3.3)
    assert class_list("cremad6") == "anger, disgust, fear, happiness, neutral, and sadness"
    assert choice_list() == "[Angry, Happiness, Sadness, Neutral]"  # the set's order, not the paper's
    assert choice_list("msp8") == "[Angry, Sadness, Happiness, Surprise, Fear, Disgust, Contempt, Neutral]"


def test_templates_render_for_any_set():
    prompts = load_prompts(PROMPTS)
    for pid in ("ambiguous_any", "single_any"):
        assert prompts[pid].is_template and prompts[pid].emotion_set is None
        assert prompts[pid].source.startswith("ours, not the paper's")
    # for paper4 the ambiguous template is the paper's sentence exactly
    assert get_prompt(PROMPTS, "ambiguous_any").text == AMBIGUOUS
    six = get_prompt(PROMPTS, "ambiguous_any", "cremad6")
    assert six.emotion_set == "cremad6" and not six.is_template and six.kind == "distribution"
    assert "emotions: anger, disgust, fear, happiness, neutral, and sadness. Use logical" in six.text
    single = get_prompt(PROMPTS, "single_any", "msp8")
    assert single.text == SINGLE.replace("[Happiness, Sadness, Neutral, Angry]", choice_list("msp8"))
    assert single.render("msp8") == single  # a rendered prompt is a fixed prompt for its set
    with pytest.raises(ConfigError, match="'msp8'.*'paper4'"):
        single.render("paper4")


def test_a_two_class_set_file_and_a_prompt_declaring_it(tmp_path):
    (tmp_path / "sets").mkdir()
    (tmp_path / "sets" / "calm.yaml").write_text(
        "name: calm_tense\nclasses:\n  calm: {surface_forms: [Calm]}\n  very_tense: {surface_forms: [Tense]}\n")
    prompts = tmp_path / "p.yaml"
    prompts.write_text("mine: {kind: single, emotion_set: sets/calm.yaml, text: 'Calm or tense?'}\n"
                       "any: {kind: distribution, text: 'Rate {classes}; pick from {choices}. Keep {\"a\": 1}.'}\n")
    set_file = tmp_path / "sets" / "calm.yaml"
    mine = get_prompt(prompts, "mine", str(set_file))  # declared relative to the prompts file
    assert mine.emotion_set == "calm_tense" and mine.text == "Calm or tense?"
    with pytest.raises(ConfigError, match="'calm_tense'.*'paper4'"):
        get_prompt(prompts, "mine")
    assert get_prompt(prompts, "any", str(set_file)).text == \
        'Rate calm and very tense; pick from [Calm, Tense]. Keep {"a": 1}.'  # JSON braces stay text
    assert describe_prompts(prompts) == {"mine": "single; calm_tense", "any": "distribution; template, any emotion set"}


@pytest.mark.parametrize("entry, message", [
    ("{kind: single, text: hi, emotion_set: paper5}", r"prompt 'x': emotion_set: unknown emotion set 'paper5' "
                                                      r"\(did you mean 'paper4'\?\)"),
    ("{text: hi, emotion_set: missing.yaml}", "prompt 'x': emotion_set: unknown emotion set"),
    ("{text: hi, emotion_set: 4}", "must be an emotion set name or file"),
    ("{text: 'Rate {classes}', emotion_set: paper4}", r"is a template \(\{classes\}\).*remove its 'emotion_set'"),
    ("{text: 'Rate {clases}'}", r"unknown placeholder\(s\) \['\{clases\}'\]; known: \['\{classes\}', '\{choices\}'\]"),
    ("{text: hi, emotion_sets: paper4}", r"unknown key\(s\) \['emotion_sets'\] \(did you mean 'emotion_set'\?\)"),
    ("{kind: essay, text: hi}", "kind 'essay'"),
    ("{kind: single}", "needs a non-empty 'text'"),
])
def test_bad_prompt_entries_name_the_file_and_the_prompt(tmp_path, entry, message):
    bad = tmp_path / "p.yaml"
    bad.write_text(f"x: {entry}\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: .*" + message):
        load_prompts(bad)


def test_unknown_prompt_id_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"no prompt 'nope'; known: \['ambiguous', 'ambiguous_any', 'ambiguous_p1'"):
        get_prompt(PROMPTS, "nope")


def test_a_prompt_built_in_code_defaults_to_paper4():
    prompt = Prompt(id="p", kind="distribution", text="Anger or not?")
    assert prompt.emotion_set == "paper4" and prompt.render() is prompt


PARAPHRASES = {"ambiguous": ("distribution", "{classes}"), "single": ("single", "{choices}")}


@pytest.mark.parametrize("paper_id", sorted(PARAPHRASES))
def test_four_paraphrases_of_each_paper_prompt_are_ours_and_ask_the_same(paper_id):
    """Prompt ensembles: >= 4 paraphrases per paper prompt, marked as ours, same kind and answer format."""
    prompts = load_prompts(PROMPTS)
    kind, placeholder = PARAPHRASES[paper_id]
    ids = sorted(pid for pid in prompts if pid.startswith(f"{paper_id}_p"))
    assert ids == [f"{paper_id}_p{i}" for i in range(1, 5)]
    texts = {prompts[paper_id].text}
    for pid in ids:
        prompt = prompts[pid]
        assert prompt.kind == kind and prompt.is_template and prompt.text.count(placeholder) == 1
        assert prompt.source.startswith(f"ours, not the paper's: paraphrase {pid[-1]} of the sec.")
        assert f"({paper_id})" in prompt.source
        texts.add(prompt.text)
        paper4 = get_prompt(PROMPTS, pid)
        assert paper4.emotion_set == "paper4" and not paper4.is_template
        filled = class_list() if kind == "distribution" else choice_list()
        assert paper4.text == prompt.text.replace(placeholder, filled)
        six = get_prompt(PROMPTS, pid, "cremad6")
        assert (class_list("cremad6") if kind == "distribution" else choice_list("cremad6")) in six.text
        if kind == "distribution":  # the answer format of sec. 3.3: percentages
            assert "percent" in prompt.text.lower()
        else:  # one label, no percentages
            assert "percent" not in prompt.text.lower() and "label" in prompt.text.lower()
    assert len(texts) == 5  # the paper's prompt and four different paraphrases
