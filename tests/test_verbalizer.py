"""Verbalizer: surface forms -> word-initial subword ids, with both real tokenizers (paper sec. 3.4.2)."""
from __future__ import annotations

import pytest

from emologits.emotions import EMOTIONS, PAPER4, get_emotion_set
from emologits.extract.token import emotion_word_steps
from emologits.verbalizer import DEFAULT_SURFACE_FORMS, class_token_ids, tracked_token_ids, word_token_ids

PAPER_RESPONSE = "Happiness: 0%, Neutral: 0%, Sadness: 35%, Anger: 65%"


def pieces(tok, per_class):
    return {e: [tok.convert_ids_to_tokens(ids) for ids in forms] for e, forms in per_class.items()}


class CharTokenizer:
    """Offline stand-in: one id per character, a space merged into the next character (BPE-like)."""

    def encode(self, text, add_special_tokens=False):
        ids, i = [], 0
        while i < len(text):
            if text[i] == " " and i + 1 < len(text):
                ids.append(1000 + ord(text[i + 1]))
                i += 2
            else:
                ids.append(ord(text[i]))
                i += 1
        return ids

    def decode(self, ids):
        return "".join(" " + chr(i - 1000) if i >= 1000 else chr(i) for i in ids)


def test_default_surface_forms_cover_the_classes_and_angry():
    assert list(DEFAULT_SURFACE_FORMS) == list(EMOTIONS)
    assert DEFAULT_SURFACE_FORMS["anger"] == ("Anger", "Angry")
    assert DEFAULT_SURFACE_FORMS["neutral"] == ("Neutral",)
    assert DEFAULT_SURFACE_FORMS == PAPER4.surface_forms()  # one source: emotion_sets/paper4.yaml


def test_char_tokenizer_start_and_after_space_variants():
    tok = CharTokenizer()
    assert word_token_ids(tok, "Sad", "start") == [ord("S"), ord("a"), ord("d")]
    assert word_token_ids(tok, "Sad", "after_space") == [1000 + ord("S"), ord("a"), ord("d")]
    per_class = class_token_ids(tok, {"anger": ["Ax"], "happiness": ["H"], "sadness": ["S"], "neutral": ["N"]})
    assert per_class["anger"] == [[ord("A"), ord("x")], [1000 + ord("A"), ord("x")]]
    assert list(per_class) == list(EMOTIONS)
    assert tracked_token_ids(tok, {"anger": ["Ax"], "happiness": ["H"], "sadness": ["S"], "neutral": ["N"]}) == \
        sorted({ord(c) for c in "AxHSN"} | {1000 + ord(c) for c in "AHSN"})


def test_bad_surface_forms_are_rejected():
    tok = CharTokenizer()
    for too_few in ({"anger": ["Anger"]}, {}):
        with pytest.raises(ValueError, match="at least two classes"):
            class_token_ids(tok, too_few)
    with pytest.raises(ValueError, match="class names must be non-empty strings"):
        class_token_ids(tok, {"anger": ["Anger"], "": ["N"]})
    for bad in ("Anger", [], ["Anger", ""]):
        with pytest.raises(ValueError, match="non-empty list of non-empty strings"):
            class_token_ids(tok, {"anger": bad, "happiness": ["H"], "sadness": ["S"], "neutral": ["N"]})
    with pytest.raises(ValueError, match="unknown position"):
        word_token_ids(tok, "Anger", "middle")


def test_llama_pieces_match_the_paper(llama_tokenizer):
    got = pieces(llama_tokenizer, class_token_ids(llama_tokenizer))
    # SentencePiece: a response's first word follows the template's newline, with no "▁"
    # ("Ang er", as LTU-AS writes it); later words follow ", " and carry "▁".
    assert got == {
        "anger": [["Ang", "er"], ["▁An", "ger"], ["An", "gry"], ["▁An", "gry"]],
        "happiness": [["H", "app", "iness"], ["▁H", "app", "iness"]],  # paper: "h" "app" "iness"
        "sadness": [["S", "ad", "ness"], ["▁Sad", "ness"]],
        "neutral": [["Ne", "ut", "ral"], ["▁Ne", "ut", "ral"]],  # paper: "ne" "ut" "ral"
    }
    ids = tracked_token_ids(llama_tokenizer)
    assert ids == [261, 328, 329, 379, 530, 914, 932, 1705, 2264, 2448, 2744, 3335, 8139, 9928, 14793, 21772,
                   29903, 29950]
    # the first word of a real LTU-AS answer is captured: its pieces are tracked
    answer = llama_tokenizer.encode("### Response:\nNeutral: 60%, Anger: 40%", add_special_tokens=False)
    assert set(answer[answer.index(llama_tokenizer.convert_tokens_to_ids("Ne")):][:3]) <= set(ids)
    assert 29871 not in ids  # SentencePiece's stray "▁" of a bare " Anger" is not a surface piece


def test_qwen2_pieces_start_and_after_space(qwen2_tokenizer):
    got = pieces(qwen2_tokenizer, class_token_ids(qwen2_tokenizer))
    assert got == {
        "anger": [["Ang", "er"], ["ĠAng", "er"], ["Ang", "ry"], ["ĠAngry"]],
        "happiness": [["H", "appiness"], ["ĠHappiness"]],
        "sadness": [["Sad", "ness"], ["ĠSad", "ness"]],
        "neutral": [["Neutral"], ["ĠNeutral"]],
    }
    assert tracked_token_ids(qwen2_tokenizer) == [39, 261, 884, 2090, 7416, 10743, 30681, 58694, 59665, 66291,
                                                  77818, 78144, 86907]


@pytest.mark.parametrize("fixture", ["llama_tokenizer", "qwen2_tokenizer"])
def test_every_word_of_the_paper_response_is_found(fixture, request):
    tok = request.getfixturevalue(fixture)
    # as generated after LTU-AS's answer prefix: the first word follows the newline (no "▁" for LLaMA)
    context = tok.encode("### Response:\n", add_special_tokens=False)
    generated = tok.encode("### Response:\n" + PAPER_RESPONSE, add_special_tokens=False)
    assert generated[: len(context)] == context
    generated = generated[len(context):]
    steps = emotion_word_steps(generated, class_token_ids(tok))
    words = tok.decode([generated[j] for j in steps]).replace(" ", "")
    assert words == "HappinessNeutralSadnessAnger"


def _bpe_tokenizer():
    """A byte-level BPE trained on a few answer lines (the kind of tokenizer the tiny demo trains)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    corpus = ["Happiness", "Anger", "Sadness", "Neutral", "Response:", "Sadness: 35%, Anger, Neutral"] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    return tok


def test_bare_space_piece_belongs_to_the_separator():
    """A BPE that learned "Happiness" only at line starts encodes " Happiness" as "Ġ" "Happiness" (as
    the tiny demo's tokenizer does); the bare "Ġ" is the separator's, not part of the word (eq. 1)."""
    tok = _bpe_tokenizer()
    happiness = tok.token_to_id("Happiness")
    assert tok.encode("Sadness: 35%, Happiness").tokens[-2:] == ["Ġ", "Happiness"]  # the bare-space case
    assert word_token_ids(tok, "Happiness", "after_space") == [happiness]
    assert word_token_ids(tok, "Happiness", "start") == [happiness]
    per_class = class_token_ids(tok)
    assert per_class["happiness"] == [[happiness]]  # one entry: both positions give the same id
    # a word whose space did merge keeps it; unseen "Angry" ("Ġ" "An" "g" "r" "y") loses only the bare "Ġ"
    assert [[tok.id_to_token(i) for i in ids] for ids in per_class["anger"]] == \
        [["Anger"], ["ĠAnger"], ["An", "g", "r", "y"]]
    assert tok.token_to_id("Ġ") not in tracked_token_ids(tok)


def test_raw_tokenizers_encoding_objects_are_accepted():
    class Encoding:
        def __init__(self, ids):
            self.ids = ids

    class RawTokenizer(CharTokenizer):  # like tokenizers.Tokenizer: encode returns an Encoding
        def encode(self, text, add_special_tokens=False):
            return Encoding(super().encode(text, add_special_tokens))

    assert word_token_ids(RawTokenizer(), "Sad", "after_space") == [1000 + ord("S"), ord("a"), ord("d")]


def test_any_emotion_set_keeps_its_class_order():
    """N-agnostic: any mapping of >= 2 classes, in its own order (not paper4's)."""
    tok = CharTokenizer()
    forms = {"neutral": ["N"], "fear": ["F", "Fearful"], "anger": ["A"]}
    per_class = class_token_ids(tok, forms)
    assert list(per_class) == ["neutral", "fear", "anger"]
    assert per_class["fear"][0] == [ord("F")] and len(per_class["fear"]) == 4  # 2 forms x 2 positions
    assert class_token_ids(tok, {"calm": ["C"], "tense": ["T"]}) == \
        {"calm": [[ord("C")], [1000 + ord("C")]], "tense": [[ord("T")], [1000 + ord("T")]]}


@pytest.mark.parametrize("set_name", ["paper4", "cremad6", "msp8"])
def test_an_emotion_set_gives_its_surface_forms_ids(set_name):
    tok = CharTokenizer()
    emotion_set = get_emotion_set(set_name)
    per_class = class_token_ids(tok, emotion_set)
    assert per_class == class_token_ids(tok, emotion_set.surface_forms())
    assert list(per_class) == list(emotion_set.names)
    for name, entries in per_class.items():  # one start and one after-space entry per surface form
        words = emotion_set.surface_forms()[name]
        assert entries == [ids for w in words for ids in ([ord(c) for c in w], [1000 + ord(w[0])]
                                                          + [ord(c) for c in w[1:]])]
    assert class_token_ids(tok, PAPER4) == class_token_ids(tok)  # the default is paper4


@pytest.mark.parametrize("set_name", ["cremad6", "msp8"])
def test_bpe_ids_of_larger_sets_decode_to_their_words(set_name):
    tok = _bpe_tokenizer()
    emotion_set = get_emotion_set(set_name)
    per_class = class_token_ids(tok, emotion_set)
    assert list(per_class) == list(emotion_set.names)
    for name, entries in per_class.items():
        decoded = {tok.decode(ids).strip() for ids in entries}
        assert decoded == set(emotion_set.surface_forms()[name])
    # the paper4 classes' ids are the same inside a larger set
    paper4 = class_token_ids(tok)
    assert {c: per_class[c] for c in paper4} == paper4


@pytest.mark.parametrize("fixture", ["llama_tokenizer", "qwen2_tokenizer"])
@pytest.mark.parametrize("set_name", ["cremad6", "msp8"])
def test_real_tokenizers_find_every_word_of_a_larger_set(fixture, set_name, request):
    """On the real tokenizers, each class of cremad6 / msp8 gets ids that decode to its surface forms
    in both positions, and a response naming every class in the paper's format is covered word by
    word (Figure 3's emotion steps)."""
    tok = request.getfixturevalue(fixture)
    emotion_set = get_emotion_set(set_name)
    per_class = class_token_ids(tok, emotion_set)
    assert list(per_class) == list(emotion_set.names)
    for name, entries in per_class.items():
        assert {tok.decode(ids).strip() for ids in entries} == set(emotion_set.surface_forms()[name])
    paper4 = class_token_ids(tok)
    assert {c: per_class[c] for c in paper4} == paper4  # paper4's classes keep their ids
    assert set(tracked_token_ids(tok)) < set(tracked_token_ids(tok, emotion_set))
    first = [forms[0] for forms in emotion_set.surface_forms().values()]
    response = ", ".join(f"{w}: {100 // len(first)}%" for w in first)
    context = tok.encode("### Response:\n", add_special_tokens=False)
    generated = tok.encode("### Response:\n" + response, add_special_tokens=False)[len(context):]
    steps = emotion_word_steps(generated, per_class)
    assert tok.decode([generated[j] for j in steps]).replace(" ", "") == "".join(first)
