"""Normalisation and matching: the provider's own words find the right tutorial, or nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from bot.faq.lexical import SINGLE_WORD_FACTOR, Lexical
from bot.faq.loader import Base, Entry, load_base
from bot.faq.matcher import DEFAULT_THRESHOLD, Candidate, Matcher, MatchResult
from bot.faq.normalize import DEFAULT_VOCABULARY, Normalizer, Vocabulary, fold, split_words

FIXTURES = Path(__file__).parent / "faq_fixtures"
REAL_FAQ = Path(__file__).resolve().parent.parent / "faq"


@pytest.fixture(scope="module")
def norm() -> Normalizer:
    return Normalizer()


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_base([FIXTURES / "base"]))


def best_id(result: MatchResult) -> str | None:
    return result.best.entry.id if result.best is not None else None


# -- normalisation -----------------------------------------------------------------------------------


def test_fold_removes_case_and_accents() -> None:
    assert fold("Événement À NOËL, crème brûlée") == "evenement a noel, creme brulee"
    assert fold("Œuvre") == "oeuvre"


def test_elisions_and_punctuation() -> None:
    assert split_words(fold("L'hôtel d'Anne, qu'il n'a jamais vu ; j’ai : s'il… c'est")) == [
        "hotel", "anne", "il", "a", "jamais", "vu", "ai", "il", "est"
    ]


def test_emoji_and_symbols_are_dropped(norm: Normalizer) -> None:
    assert norm.words("🙂🎉 page facebook 👍!!!") == ["page", "facebook"]
    assert norm.words("🙂🎉👍") == []


def test_same_stems_with_or_without_accents(norm: Normalizer) -> None:
    assert norm.stems("Créer un événement réservé") == norm.stems("creer un evenement reserve")


def test_plural_and_inflection_share_a_stem(norm: Normalizer) -> None:
    assert norm.stems("photos") == norm.stems("photo")
    assert norm.stems("abonnés") == norm.stems("abonné")


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("fb", "facebook"),
        ("FB", "facebook"),
        ("insta", "instagram"),
        ("ig", "instagram"),
        ("mdp", "mot passe"),
        ("résa", "reservation"),
        ("resa", "reservation"),
        ("siteweb", "site"),
        ("site web", "site"),
        ("site internet", "site"),
        ("GMB", "fiche google"),
        ("google my business", "fiche google"),
        ("Google Business Profile", "fiche google"),
        ("e-mail", "email"),
        ("qrcode", "qr code"),
        ("post", "publication"),
        ("pub", "publicite"),
        ("TA", "tripadvisor"),
        ("wi-fi", "wifi"),
    ],
)
def test_abbreviations_and_synonyms(norm: Normalizer, typed: str, canonical: str) -> None:
    assert norm.words(typed) == canonical.split()


def test_ta_is_tripadvisor_only_in_capitals(norm: Normalizer) -> None:
    assert norm.words("ta page") == ["page"]
    assert "tripadvisor" in norm.words("mes avis sur TA")


def test_politeness_and_greetings_are_noise(norm: Normalizer) -> None:
    assert norm.words("Bonjour, merci stp svp !") == []
    assert norm.words("ok merci beaucoup") == []


def test_hashtag_symbol_means_hashtag(norm: Normalizer) -> None:
    assert norm.words("quels # mettre") == ["hashtag", "mettre"]


def test_synonyms_also_apply_across_stop_words(norm: Normalizer) -> None:
    assert norm.words("le bandeau des cookies") == norm.words("bandeau cookies")


def test_business_types_are_light_context(norm: Normalizer) -> None:
    (hotel,) = norm.stems("hôtel")
    assert norm.stems("camping") == norm.stems("gîte") == norm.stems("chambre d'hôtes") == [hotel]
    assert norm.weight(hotel) < norm.weight(norm.stem("facebook"))


def test_vocabulary_file_holds_only_text() -> None:
    raw = yaml.safe_load(DEFAULT_VOCABULARY.read_text(encoding="utf-8"))

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert isinstance(key, str)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        else:
            assert isinstance(node, str), f"{node!r} n'est pas un texte"

    walk(raw)
    assert Vocabulary.load().synonyms


def test_vocabulary_rejects_yaml_booleans(tmp_path: Path) -> None:
    path = tmp_path / "v.yml"
    path.write_text("stopwords: [le, on]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="guillemets"):
        Vocabulary.load(path)


def test_no_synonym_target_is_itself_a_variant() -> None:
    """Chains (a -> b, b -> c) would make the result depend on the order of the file."""
    vocab = Vocabulary.load()
    chains = [
        (canonical, other)
        for canonical in vocab.synonyms
        for other, variants in vocab.synonyms.items()
        if canonical in variants
    ]
    assert chains == []


# -- matching on a small base ------------------------------------------------------------------------


def test_exact_question_scores_high(matcher: Matcher) -> None:
    result = matcher.match("Comment ouvrir une page Facebook pour mon activité ?")
    assert best_id(result) == "facebook-creer-page"
    assert result.answered
    assert result.best is not None and result.best.score > 0.9


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("ouvrir une page facebok pour mon activite", "facebook-creer-page"),  # typo, no accents
        ("instagarm compte pro stp", "instagram-compte-pro"),  # typo + noise
        ("passer mon insta en compte pro", "instagram-compte-pro"),  # abbreviation
        ("creer une page fb pour mon gite", "facebook-creer-page"),
        ("mdp oubliés tout le temps, quel gestionnaire ?", "mot-de-passe-gestionnaire"),
        ("repondre a un avis sur TA", "tripadvisor-repondre"),
        ("wifi pour les clients", "wifi-invites"),
        ("faire un qrcode pour le menu", "qr-code-menu"),
        ("COMMENT FAIRE MON SITE WEB", "site-creer"),
        ("envoyer une newsletter", "newsletter-envoyer"),
    ],
)
def test_provider_wording_finds_the_tutorial(matcher: Matcher, question: str, expected: str) -> None:
    result = matcher.match(question)
    assert best_id(result) == expected
    assert result.answered


def test_long_message_with_context(matcher: Matcher) -> None:
    message = (
        "Bonjour ! Je suis gérante d'un petit camping au bord du lac depuis trois ans, on a une clientèle "
        "fidèle mais je voudrais toucher plus de monde. Mon neveu m'a dit qu'il fallait être sur les réseaux. "
        "Du coup, comment je fais pour ouvrir une page Facebook pour le camping ? Merci d'avance"
    )
    result = matcher.match(message)
    assert best_id(result) == "facebook-creer-page"
    assert result.answered


@pytest.mark.parametrize(
    "question",
    [
        "bonjour",
        "merci beaucoup !",
        "ok",
        "What time is the train to Paris?",
        "How do I bake a chocolate cake?",
        "comment déclarer mes impôts en ligne",
        "créer un compte tiktok pour mon gîte",
    ],
)
def test_abstains_on_greetings_off_topic_and_english(matcher: Matcher, question: str) -> None:
    result = matcher.match(question)
    assert not result.answered
    assert result.suggestions == ()


def test_close_call_offers_suggestions(matcher: Matcher) -> None:
    result = matcher.match("changer la photo de ma page facebook")
    ids = {c.entry.id for c in result.suggestions}
    assert ids == {"facebook-photo-profil", "facebook-photo-couverture"}
    assert 2 <= len(result.suggestions) <= 3
    assert result.ambiguous


def test_clear_call_has_no_suggestions(matcher: Matcher) -> None:
    result = matcher.match("changer la photo de couverture de ma page facebook")
    assert best_id(result) == "facebook-photo-couverture"
    assert result.suggestions == ()


@pytest.mark.parametrize("text", ["", "   ", "🙂🎉👍", "???", "\n\t", "1234 5678"])
def test_empty_or_meaningless_input(matcher: Matcher, text: str) -> None:
    result = matcher.match(text)
    assert result.query == text
    assert result.candidates == ()
    assert result.best is None
    assert not result.answered
    assert result.suggestions == ()


def test_ten_thousand_characters(matcher: Matcher) -> None:
    text = ("comment ouvrir une page facebook ? " + "blabla du quotidien " * 600)[:10_000]
    result = matcher.match(text)
    assert best_id(result) == "facebook-creer-page"
    huge = "x" * 10_000
    assert not matcher.match(huge).answered


def test_result_shape(matcher: Matcher) -> None:
    result = matcher.match("page facebook")
    assert 0 < len(result.candidates) <= 5
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert all(isinstance(c, Candidate) and isinstance(c.entry, Entry) for c in result.candidates)
    assert result.threshold == DEFAULT_THRESHOLD


def test_threshold_per_call_and_per_matcher() -> None:
    base = load_base([FIXTURES / "base"])
    question = "partager le wifi avec des clients ?"
    best = Matcher(base).match(question).best
    assert best is not None and 0.1 < best.score < 1.0
    strict = Matcher(base, threshold=min(1.0, best.score + 0.0001))
    assert not strict.match(question).answered
    assert strict.match(question, threshold=0.1).answered
    assert strict.match(question, threshold=0.1).threshold == 0.1


def test_empty_base_abstains() -> None:
    assert not Matcher(Base(entries=())).match("page facebook").answered


def test_matching_is_deterministic(matcher: Matcher) -> None:
    first = matcher.match("changer la photo de ma page facebook")
    second = matcher.match("changer la photo de ma page facebook")
    assert first == second


def test_explain_notes_unknown_words(matcher: Matcher) -> None:
    notes = dict(matcher.explain("compte tiktok"))
    assert notes["tiktok"] == "inconnu de la base"
    assert notes["compte"] == "connu"


def test_office_layer_changes_the_answer() -> None:
    layered = Matcher(load_base([FIXTURES / "base", FIXTURES / "office"]))
    result = layered.match("wifi pour les clients")
    assert result.best is not None
    assert result.best.entry.answer.startswith("Version de l'office")


def test_scores_mean_the_same_on_a_bigger_base() -> None:
    """Calibration: padding the base with unrelated tutorials must not move a clear answer much."""
    base = load_base([FIXTURES / "base"])
    filler = tuple(
        Entry(
            id=f"autre-{i}",
            theme="Divers",
            question=f"Comment régler le thermostat numéro {i} de la chaudière du gîte ?",
            alternatives=(),
            answer="Consultez la notice du fabricant.",
            links=(),
            tags=("chauffage",),
            source="autre.yml",
        )
        for i in range(200)
    )
    small = Matcher(base).match("ouvrir une page facebook")
    big = Matcher(Base(entries=base.entries + filler)).match("ouvrir une page facebook")
    assert small.best is not None and big.best is not None
    assert big.best.entry.id == small.best.entry.id
    assert abs(big.best.score - small.best.score) < 0.15


def _entry(entry_id: str, question: str, answer: str) -> Entry:
    return Entry(
        id=entry_id, theme="Divers", question=question, alternatives=(), answer=answer, links=(), tags=(), source="x"
    )


def test_one_shared_word_out_of_several_is_weak_evidence() -> None:
    """An entry sharing one of the question's meaningful words is damped; one sharing two is not."""
    base = Base(
        entries=(
            _entry("wifi", "Partager le wifi avec les clients", "Imprimez le code près de la caisse."),
            _entry("caisse", "Choisir un logiciel de caisse", "Comparez les offres."),
            _entry("avis", "Répondre à un avis Google", "Remerciez le client."),
        )
    )
    matcher = Lexical(base)
    # "caisse" alone leads to the wifi entry: the question has two meaningful words, the entry one.
    features = {matcher.base.entries[i].id: factor for i, _, _, factor in matcher.features("caisse enregistreuse")}
    assert features["wifi"] == SINGLE_WORD_FACTOR
    both = {matcher.base.entries[i].id: factor for i, _, _, factor in matcher.features("logiciel de caisse")}
    assert both["caisse"] == 1.0
    # A question of one meaningful word is not damped; light words ("faire") do not count.
    alone = {matcher.base.entries[i].id: factor for i, _, _, factor in matcher.features("comment faire pour la caisse")}
    assert alone["wifi"] == 1.0 and alone["caisse"] == 1.0


def test_damping_applies_to_the_score() -> None:
    base = Base(entries=(_entry("wifi", "Partager le wifi avec les clients", "Le code est près de la caisse."),))
    matcher = Lexical(base)
    [(_, query, phrase, factor)] = matcher.features("caisse enregistreuse")
    assert factor == SINGLE_WORD_FACTOR
    [(_, value, _)] = matcher.scores("caisse enregistreuse")
    assert value == SINGLE_WORD_FACTOR * Lexical.combine(query, phrase)


def test_no_platform_import() -> None:
    import bot.faq.lexical
    import bot.faq.matcher
    import bot.faq.message
    import bot.faq.semantic

    for module in (bot.faq.matcher, bot.faq.lexical, bot.faq.message, bot.faq.semantic):
        source = Path(module.__file__).read_text(encoding="utf-8")
        assert "telegram" not in source and "discord" not in source


# -- the real base: every question and alternative retrieves its own entry ---------------------------


def _real_phrases() -> list[tuple[str, str]]:
    if not any(REAL_FAQ.glob("*.yml")) and not any(REAL_FAQ.glob("*.yaml")):
        return []
    base = load_base([REAL_FAQ])
    return [(e.id, text) for e in base.entries for text in (e.question, *e.alternatives)]


@pytest.fixture(scope="module")
def real_matcher() -> Matcher | None:
    if not _real_phrases():
        return None
    return Matcher(load_base([REAL_FAQ]))


def test_real_base_is_self_consistent(real_matcher: Matcher | None) -> None:
    """Each entry's own question and alternatives must find that entry first, and be answered."""
    misses = []
    for entry_id, text in _real_phrases():
        assert real_matcher is not None
        result = real_matcher.match(text)
        if best_id(result) != entry_id or not result.answered:
            got = [(c.entry.id, c.score) for c in result.candidates[:3]]
            misses.append(f"{entry_id}: « {text} » -> {got}")
    assert misses == []


def test_matching_stays_fast_enough_for_a_chat(real_matcher: Matcher | None, matcher: Matcher) -> None:
    """Not a benchmark (see bench/faq_bench.py): only a guard against an accidental quadratic blow-up."""
    target = real_matcher or matcher
    start = time.perf_counter()
    for _ in range(20):
        target.match("comment je fais pour mettre des photos de mes chambres sur ma fiche google stp")
    assert time.perf_counter() - start < 20.0
