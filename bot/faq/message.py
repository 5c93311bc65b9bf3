"""What kind of message this is before any tutorial is looked for: chatter or a question, French or English,
and, in a message of several sentences, which sentences carry the question.

Greetings, thanks and small talk are recognised by their words (``data/smalltalk.yml``): a message made only
of such words, of the vocabulary's stop/noise/light words and of emojis is chatter. So is a question about
Klub itself (« tu es une IA ? », « qui t'a créé ? »): addressed to « tu », with no « je / mon » and no word but
those of ``about_me``. The matcher never answers chatter with a tutorial; the chat gives it a short friendly
line instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.faq.normalize import Normalizer, fold, split_words

SMALLTALK = Path(__file__).parent / "data" / "smalltalk.yml"
SMS = Path(__file__).parent / "data" / "sms.yml"

CHATTER = "chatter"
THANKS = "thanks"
GREETING = "greeting"
QUESTION = "question"

_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")
MIN_CONTENT = 2  # a question sentence with no more meaningful words than this keeps earlier ones as context


@dataclass(frozen=True)
class SmallTalk:
    words: frozenset[str]
    phrases: tuple[str, ...]
    english: frozenset[str]
    french: frozenset[str]
    thanks: frozenset[str]
    greetings: frozenset[str]
    question_words: frozenset[str]
    framing: tuple[tuple[str, ...], ...] = ()
    about_me: frozenset[str] = frozenset()
    second_person: frozenset[str] = frozenset()
    first_person: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def smalltalk() -> SmallTalk:
    data: Any = yaml.safe_load(SMALLTALK.read_text(encoding="utf-8"))

    def words(key: str) -> frozenset[str]:
        return frozenset(fold(str(w)) for w in data[key])

    return SmallTalk(
        words("words"),
        tuple(str(p) for p in data["phrases"]),
        words("english"),
        words("french"),
        words("thanks"),
        words("greetings"),
        words("question_words"),
        tuple(tuple(split_words(fold(str(p)))) for p in data.get("framing") or ()),
        words("about_me"),
        words("second_person"),
        words("first_person"),
    )


@dataclass(frozen=True)
class Reading:
    kind: str  # QUESTION, or GREETING / THANKS / CHATTER: not a question for the base
    english: bool
    focus: str  # the text to match: the question sentence(s) of a long message, else the whole message

    @property
    def is_question(self) -> bool:
        return self.kind == QUESTION


def is_english(text: str) -> bool:
    st = smalltalk()
    raw = split_words(fold(text))
    en = sum(w in st.english for w in raw)
    fr = sum(w in st.french for w in raw)
    return (en >= 2 and en > fr) or (en >= 1 and fr == 0 and len(raw) <= 3 and en == len(raw))


def _kind(text: str, norm: Normalizer) -> str:
    """QUESTION unless every meaningful word of the text is a word of small talk."""
    st = smalltalk()
    raw = split_words(fold(text))
    content = [w for w in norm.words(text) if w not in st.words]
    if content and not _about_me(text, content, norm):
        return QUESTION
    if any(w in st.thanks for w in raw):
        return THANKS
    if any(w in st.greetings for w in raw):
        return GREETING
    return CHATTER


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _about_me(text: str, content: list[str], norm: Normalizer) -> bool:
    """« Tu es une IA ? », « qui t'a programmé ? »: the bot is asked about itself, not about a topic.

    The pronouns are read on the raw tokens (« t'a » elides « te »); a first person (« tu peux créer ma
    page ? ») makes it a request, and any word outside ``about_me`` a topic."""
    st = smalltalk()
    tokens = set(_TOKEN.findall(fold(text)))
    if not tokens & st.second_person or tokens & st.first_person:
        return False
    return all(w in _about_me_words(norm) for w in content)


@lru_cache(maxsize=4)
def _about_me_words(norm: Normalizer) -> frozenset[str]:
    """``about_me`` as typed and as the normaliser reads it (synonyms applied): computed once, not per message."""
    st = smalltalk()
    return st.about_me | {w for word in st.about_me for w in norm.words(word)}


@lru_cache(maxsize=1)
def _respellings() -> dict[str, str]:
    data: Any = yaml.safe_load(SMS.read_text(encoding="utf-8"))
    table = data.get("respell") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{SMS.name} : il manque la table « respell »")
    for key, value in table.items():
        if not isinstance(key, str) or not isinstance(value, str) or not value.strip() or " " in key.strip():
            raise ValueError(f"{SMS.name}, respell.{key} : attendu un mot et son orthographe courante")
    # Lower case, accents kept: « mé » is SMS for « mes », « me » is French.
    return {key.strip().lower(): value for key, value in table.items()}


# A whole word: not next to an apostrophe or a hyphen (« c'est », « c-est » are no SMS « c »).
_WORD_AT = re.compile(r"(?<![\w'’-])([^\W\d_]+)(?![\w'’-])", re.UNICODE)


def respell(text: str) -> str:
    """« cmt je fé pr mettre mé foto » -> « comment je fais pour mettre mes foto » (``data/sms.yml``)."""
    table = _respellings()

    def standard(match: re.Match[str]) -> str:
        word = match.group(1)
        return table.get(word.lower(), word)

    return _WORD_AT.sub(standard, text)


def _asks(sentence: str) -> bool:
    words = split_words(fold(sentence))
    return "?" in sentence or bool(words and words[0] in smalltalk().question_words)


# Question words that open the question proper: what comes before them may be framing only.
_OPENERS = frozenset({"comment", "pourquoi", "combien", "quel", "quelle", "quels", "quelles", "quand", "how", "what",
                      "why", "which"})


def unframe(sentence: str, norm: Normalizer) -> str:
    """The sentence from its question word on, when all before it is framing: « Bonjour, alors voilà, je voudrais
    savoir s'il vous plaît comment… » is matched as « comment… ». The framing words are unknown to most bases and
    dilute the question; the model's few tokens are better spent on the question itself."""
    tokens = sentence.split()
    folded = [split_words(fold(t)) for t in tokens]
    flat = [p for parts in folded for p in parts]
    for opening in smalltalk().framing:
        if tuple(flat[: len(opening)]) == opening:
            seen, cut = 0, 0
            while cut < len(tokens) and seen < len(opening):
                seen += len(folded[cut])
                cut += 1
            rest = " ".join(tokens[cut:])
            if seen == len(opening) and norm.stems(rest, keep_light=False):
                return rest
    for index, token in enumerate(tokens):
        if any(p in _OPENERS for p in folded[index]):
            rest = " ".join(tokens[index:])
            return rest if index >= 2 and norm.stems(rest, keep_light=False) else sentence
        if norm.expendable(token) == 0:
            return sentence
    return sentence


def read(text: str, norm: Normalizer) -> Reading:
    text = respell(text.strip())
    english = is_english(text)
    kind = _kind(text, norm)
    if kind != QUESTION:
        return Reading(kind, english, text)
    sentences = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    # Greetings, thanks and signatures around the question say nothing about it.
    useful = [unframe(s, norm) for s in sentences if _kind(s, norm) == QUESTION]
    if len(useful) <= 1:
        return Reading(QUESTION, english, useful[0] if useful else text)
    asking = [i for i, s in enumerate(useful) if _asks(s)]
    if not asking:
        return Reading(QUESTION, english, " ".join(useful))
    keep: set[int] = set()
    for i in asking:
        keep.add(i)
        # "Que dois-je faire ?" needs the sentences before it: walk back until the question has substance.
        content = len(norm.stems(useful[i], keep_light=False))
        j = i - 1
        while content <= MIN_CONTENT and j >= 0:
            keep.add(j)
            content += len(norm.stems(useful[j], keep_light=False))
            j -= 1
    return Reading(QUESTION, english, " ".join(useful[i] for i in sorted(keep)))
