"""Sessions: local-time recurrence across clock changes, bad input, registrations and waitlist."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import clubs, ics
from bot.bootstrap import App, bootstrap
from bot.clock import ManualClock
from bot.clubs import ClubError, SessionSpec
from bot.config import Config, ConfigError
from bot.storage.tables import AuditLog, Office, Session
from bot.timefmt import TimeInputError, localize, parse_local

from .conftest import paris
from .helpers import plain, say

PARIS = ZoneInfo("Europe/Paris")


def test_recurrence_stays_at_local_time_across_both_clock_changes(app: App) -> None:
    with app.sessions() as db:
        sessions = db.query(Session).filter(Session.series_id.isnot(None)).order_by(Session.starts_at).all()
        local = [s.starts_at.astimezone(PARIS) for s in sessions]
    assert [d.strftime("%m-%d %H:%M") for d in local[:5]] == [
        "12-03 18:30",
        "01-07 18:30",
        "02-04 18:30",
        "03-04 18:30",
        "04-01 18:30",
    ]
    # April is after the spring change: the UTC hour differs, the wall clock does not.
    assert sessions[0].starts_at.hour == 17 and sessions[4].starts_at.hour == 16
    assert all(d.month in (10, 11, 12, 1, 2, 3, 4) for d in local)


def test_french_recurrences() -> None:
    assert clubs.french_rrule("1er jeudi", "octobre-avril") == "FREQ=MONTHLY;BYDAY=1TH;BYMONTH=10,11,12,1,2,3,4"
    assert clubs.french_rrule("dernier mardi") == "FREQ=MONTHLY;BYDAY=-1TU"
    assert clubs.french_rrule("chaque lundi") == "FREQ=WEEKLY;BYDAY=MO"
    with pytest.raises(ClubError):
        clubs.french_rrule("de temps en temps")
    with pytest.raises(ClubError):
        clubs.french_rrule("1er jeudi", "octobre-brumaire")


def test_impossible_and_ambiguous_local_times() -> None:
    with pytest.raises(TimeInputError) as gap:
        parse_local("2027-03-28", "02:30", PARIS)
    assert gap.value.key == "time.nonexistent"
    with pytest.raises(TimeInputError) as overlap:
        parse_local("2026-10-25", "02:30", PARIS)
    assert overlap.value.key == "time.ambiguous"
    with pytest.raises(TimeInputError) as feb:
        parse_local("2027-02-31", "18:30", PARIS)
    assert feb.value.key == "time.impossible_date"
    assert localize(datetime(2026, 10, 25, 18, 30), PARIS).utcoffset() == timedelta(hours=1)


def test_series_at_a_missing_hour_is_refused(app: App) -> None:
    with app.sessions() as db, pytest.raises(TimeInputError):
        clubs.create_series(
            db,
            "ot-trois-vallees",
            SessionSpec("Nuit"),
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
            datetime(2027, 1, 1, 2, 30),
            app.clock.now(),
        )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('/klub titre="X" date=2026-02-31 heure=14h', "n'existe pas dans le calendrier"),
        ('/klub titre="X" date=2026-01-10 heure=14h', "déjà passée"),
        ('/klub titre="X" date=2026-12-10 heure=14h places=0', "Nombre de places invalide"),
        ('/klub titre="X" date=2026-12-10 heure=14h places=100000', "attendu un nombre entre 0 et 500"),
        ('/klub titre="X" date=2026-12-10 heure=14h places=beaucoup', "tapez des chiffres"),
        ('/klub titre="X" date=2026-12-10 heure=14h places=5 min=9', "minimum d'inscrits"),
        ('/klub titre="X" date=2026-12-10 heure=25h', "Je ne comprends pas l'heure"),
        ('/klub titre="X" date=2026-10-25 heure=02h30', "existe deux fois"),
        ('/klub titre="X date=2026-12-10', "guillemet"),
        ('/klub titre="X" date=2026-12-10 heure=14h couleur=bleu', "Option inconnue"),
        ('/klub titre="X" quand="quand il pleut" heure=18h30', "Je ne comprends pas"),
        ("/klub", "Usage"),
    ],
)
def test_bad_session_input_changes_nothing(app: App, command: str, expected: str) -> None:
    with app.sessions() as db:
        before = db.query(Session).count()
    assert expected in plain(say(app, "camille-ant", command, chat="equipe"))
    with app.sessions() as db:
        assert db.query(Session).count() == before


def test_provider_cannot_run_ant_actions(app: App) -> None:
    for command in ("/annuler 1 neige", "/deplacer 1 2026-12-10 18:30", "/klub titre=X", "/annoncer", "/sauter 1"):
        assert "réservée au rôle « animateur numérique »" in plain(say(app, "gite-du-moulin", command))


def test_other_office_sessions_are_invisible(app: App) -> None:
    assert "Je ne trouve pas de séance n°1" in plain(say(app, "ferme-du-plateau", "/inscrire 1"))
    assert "Aucune séance" in plain(say(app, "nadia-ant", "/prochain", chat="equipe", office="ot-haut-plateau"))


def test_register_twice_and_unregister_when_not_registered(app: App) -> None:
    assert "inscrit(e) à « Klub numérique »" in plain(say(app, "gite-du-moulin", "/inscrire"))
    assert "déjà inscrit" in plain(say(app, "gite-du-moulin", "/inscrire"))
    assert "n'étiez pas inscrit" in plain(say(app, "camping-les-pins", "/desinscrire"))
    assert "pas un numéro de séance" in plain(say(app, "camping-les-pins", "/inscrire demain"))


def test_waitlist_promotion_notifies_in_private(app: App, clock: ManualClock) -> None:
    with app.sessions.begin() as db:
        row = clubs.create_one_off(
            db,
            "ot-trois-vallees",
            SessionSpec("Atelier", "atelier", capacity=1),
            paris("2026-12-10 14:00"),
            clock.now(),
        )
        number = row.id
    say(app, "gite-du-moulin", f"/inscrire {number}")
    assert "liste d'attente, position 1" in plain(say(app, "camping-les-pins", f"/inscrire {number}"))
    assert "position 2" in plain(say(app, "canoe-aventure", f"/inscrire {number}"))
    say(app, "gite-du-moulin", f"/desinscrire {number}")
    sent = app.outbox.drain("console")
    assert [m.chat.chat_id for m in sent] == ["camping-les-pins"]
    assert "Une place s'est libérée" in sent[0].reply.text
    with app.sessions() as db:
        assert clubs.count(db, number, "yes") == 1 and clubs.count(db, number, "waitlist") == 1


def test_cancel_tells_group_and_registered_and_is_audited(app: App) -> None:
    say(app, "gite-du-moulin", "/inscrire 1")
    assert "1 inscrit(s) en privé" in plain(say(app, "camille-ant", "/annuler 1 neige", chat="equipe"))
    chats = sorted(m.chat.chat_id for m in app.outbox.drain("console"))
    assert chats == ["gite-du-moulin", "ot-trois-vallees:prestataires"]
    assert "Cette séance est annulée" in plain(say(app, "camille-ant", "/annuler 1 encore", chat="equipe"))
    with app.sessions() as db:
        assert db.query(AuditLog).filter_by(action="session.cancel").count() == 1


def test_ics_has_stable_uids_and_marks_cancellations(app: App) -> None:
    with app.sessions() as db:
        first = ics.build(db, "ot-trois-vallees", app.clock.now())
    say(app, "camille-ant", "/annuler 1 neige", chat="equipe")
    with app.sessions() as db:
        second = ics.build(db, "ot-trois-vallees", app.clock.now())
    uid = b"UID:klub-session-1-ot-trois-vallees@klub.local"
    assert uid in first and uid in second
    event = second.split(uid)[1].split(b"END:VEVENT")[0] + second.split(uid)[0].rsplit(b"BEGIN:VEVENT", 1)[1]
    assert b"STATUS:CANCELLED" in event and b"SEQUENCE:1" in event


def test_config_series_is_seeded_once(app: App) -> None:
    again = bootstrap(
        app.config, clock=app.clock, database_url=str(app.engine.url.render_as_string(False)), migrate=False
    )
    with again.sessions() as db:
        assert db.query(Session).filter(Session.series_id.isnot(None)).count() > 0
        keys = [s.occurrence_key for s in db.query(Session).filter(Session.series_id.isnot(None))]
        assert len(keys) == len(set(keys))
    again.close()


def test_config_series_at_an_impossible_time_is_one_clear_error(config: Config, database_url: str) -> None:
    series = config.series[0].model_copy(update={"start": "2027-03-28 02:30", "rrule": "FREQ=YEARLY"})
    broken = config.model_copy(update={"series": [series]})
    expected = r"series\[0\] \(klub-trois-vallees\) : L'heure 28/03/2027 02:30 n'existe pas"
    with pytest.raises(ConfigError, match=expected):
        bootstrap(broken, clock=ManualClock(paris("2026-11-20 09:00")), database_url=database_url, migrate=False)


def test_staff_only_session_is_announced_to_the_team_and_invisible_to_providers(app: App) -> None:
    reply = plain(
        say(app, "camille-ant", '/klub titre="Point équipe" date=2026-12-01 heure=9h pour=equipe', chat="equipe")
    )
    assert "Réservée à l'équipe" in reply
    number = int(reply.split("n°")[1].split(" ")[0])
    assert "Je ne trouve pas de séance" in plain(say(app, "gite-du-moulin", f"/inscrire {number}"))
    assert "Point équipe" not in plain(say(app, "gite-du-moulin", "/klubs"))
    assert "Point équipe" in plain(say(app, "julien-accueil", "/klubs", chat="equipe"))
    say(app, "camille-ant", f"/annoncer {number}", chat="equipe")
    assert [m.chat.chat_id for m in app.outbox.drain("console")] == ["ot-trois-vallees:equipe"]
    assert "pour » vaut" in plain(
        say(app, "camille-ant", '/klub titre="X" date=2026-12-01 heure=9h pour=tous', chat="equipe")
    )


def test_recurrences_as_the_office_says_them() -> None:
    assert clubs.french_rrule("1er lundi du mois") == "FREQ=MONTHLY;BYDAY=1MO"
    assert clubs.french_rrule("le 2ème jeudi de chaque mois") == "FREQ=MONTHLY;BYDAY=2TH"
    assert clubs.french_rrule("2e jeudi") == "FREQ=MONTHLY;BYDAY=2TH"
    assert clubs.french_rrule("dernier vendredi du mois") == "FREQ=MONTHLY;BYDAY=-1FR"
    with pytest.raises(ClubError):
        clubs.french_rrule("1er lundi du trimestre")


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("1h30", 90), ("1 h 30", 90), ("90 min", 90), ("90min", 90), ("2h", 120), ("2 heures", 120), ("45 minutes", 45)],
)
def test_durations_as_typed(text: str, minutes: int) -> None:
    from bot.config import parse_duration

    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "1h 2h", "30 1h", "2", "1h30x", "une heure"])
def test_durations_that_mean_nothing_are_refused(text: str) -> None:
    from bot.config import parse_duration

    with pytest.raises(ValueError, match="durée invalide"):
        parse_duration(text)


def test_season_in_months_ends_with_that_season() -> None:
    from datetime import date

    from bot.klubs.recurrence import season_end

    assert season_end("octobre-avril", date(2026, 9, 15)) == date(2027, 4, 30)
    assert season_end("octobre-avril", date(2027, 2, 1)) == date(2027, 4, 30)  # already inside it
    assert season_end("octobre-avril", date(2027, 5, 2)) == date(2028, 4, 30)  # the next one
    assert season_end("janvier", date(2026, 9, 1)) == date(2027, 1, 31)
    assert season_end("octobre-decembre", date(2026, 9, 14)) == date(2026, 12, 31)


def test_config_series_can_end(config: Config, database_url: str) -> None:
    series = config.series[0].model_copy(update={"until": "2027-01-31"})
    ending = config.model_copy(update={"series": [series]})
    app = bootstrap(ending, clock=ManualClock(paris("2026-09-20 09:00")), database_url=database_url, migrate=False)
    with app.sessions() as db:
        days = [s.occurrence_key for s in db.query(Session).order_by(Session.starts_at)]
    app.close()
    assert days == ["2026-10-01", "2026-11-05", "2026-12-03", "2027-01-07"]


def test_a_config_series_already_ending_twice_is_one_clear_error(config: Config, database_url: str) -> None:
    series = config.series[0].model_copy(update={"until": "2027-01-31", "rrule": "FREQ=MONTHLY;BYDAY=1TH;COUNT=3"})
    broken = config.model_copy(update={"series": [series]})
    with pytest.raises(ConfigError, match=r"series\[0\] \(klub-trois-vallees\) : Cette règle dit déjà"):
        bootstrap(broken, clock=ManualClock(paris("2026-09-20 09:00")), database_url=database_url, migrate=False)


def test_an_exact_duplicate_is_refused_and_changes_nothing(app: App) -> None:
    create = '/klub titre="Atelier Canva" type=atelier date=2026-12-10 heure=14h'
    assert "Séance programmée" in plain(say(app, "camille-ant", create, chat="equipe"))
    again = plain(say(app, "camille-ant", create.replace("Canva", "canva"), chat="equipe"))
    assert "déjà programmé à cette date et cette heure" in again
    # Another hour, or another title, is another session.
    assert "Séance programmée" in plain(say(app, "camille-ant", create.replace("14h", "16h"), chat="equipe"))
    with app.sessions() as db:
        assert db.query(Session).filter(Session.kind == "atelier").count() == 2


def test_a_series_over_existing_sessions_skips_them_with_a_warning(app: App) -> None:
    # The config's Klub is planned; a second series with the same title and time overlaps it from January.
    reply = plain(
        say(
            app,
            "camille-ant",
            '/klub titre="Klub numérique" quand="1er jeudi" heure=18h30 debut=2027-01-01 fin=2027-06-30',
            chat="equipe",
        )
    )
    assert "4 date(s) existaient déjà" in reply  # January to April; May and June are new
    with app.sessions() as db:
        days = [s.occurrence_key for s in db.query(Session).filter(Session.starts_at >= paris("2027-01-01 00:00"))]
        assert len(days) == len(set(days))


def test_edit_session_promotes_the_waitlist_and_refuses_bad_values(app: App) -> None:
    say(app, "camille-ant", '/klub titre="Atelier" type=atelier date=2026-12-10 heure=14h places=1', chat="equipe")
    with app.sessions() as db:
        number = db.query(Session).filter(Session.kind == "atelier").one().id
    say(app, "gite-du-moulin", f"/inscrire {number}")
    assert "liste d'attente" in plain(say(app, "camping-les-pins", f"/inscrire {number}"))
    for bad, expected in [
        ("places=0", "places"),
        ("lien=ftp://x", "lien"),
        ("salle=2", "Option inconnue"),
        ("", "Usage"),
    ]:
        assert (
            expected.lower()
            in plain(say(app, "camille-ant", f"/modifier-seance {number} {bad}", chat="equipe")).lower()
        )
    assert "réservée au rôle" in plain(say(app, "gite-du-moulin", f"/modifier-seance {number} places=5"))
    out = plain(say(app, "camille-ant", f"/modifier-seance {number} places=2 lieu=Mairie", chat="equipe"))
    assert "Thomas Bernard passe(nt) de la liste d'attente" in out and "Mairie" in out
    with app.sessions() as db:
        session = db.get(Session, number)
        assert session is not None and session.capacity == 2 and session.location == "Mairie"
        assert db.query(AuditLog).filter_by(action="session.edit").count() == 1


def test_group_notices_follow_the_office_language_and_each_person_theirs(app: App) -> None:
    """An office that runs in English gets its group notices in English; a registered person who chose
    French still reads theirs in French."""
    say(app, "gite-du-moulin", "/inscrire 1")
    say(app, "gite-du-moulin", "/langue fr")
    with app.sessions() as db:
        office = db.get(Office, db.get(Session, 1).office_id)  # type: ignore[union-attr]
        assert office is not None
        office.language = "en"
        db.commit()
    app.outbox.drain("console")
    say(app, "camille-ant", "/annuler 1 neige", chat="equipe")
    by_chat = {m.chat.chat_id: m.reply.text for m in app.outbox.drain("console")}
    assert "cancelled" in by_chat["ot-trois-vallees:prestataires"].lower()
    assert "est annulé" in by_chat["gite-du-moulin"]


@pytest.mark.parametrize(
    "rule",
    ["FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", "FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31",
     "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"],
)
def test_a_series_no_day_can_hold_is_refused_by_the_calendar(
    app: App, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dateutil checks its bound only on an occurrence: for these it would walk day by day to year 9999
    # (seconds with the core blocked). The calendar check must answer before any expansion starts.
    from dateutil import rrule as dateutil_rrule

    def no_expansion(self: object) -> None:
        raise AssertionError("expanded a rule no day can satisfy")

    monkeypatch.setattr(dateutil_rrule.rrule, "_iter", no_expansion)
    with app.sessions() as db:
        before = db.query(Session).count()
    reply = plain(say(app, "camille-ant", f'/klub titre="Série" heure=18h30 "rrule={rule}"', chat="equipe"))
    assert "aucune" in reply.lower()
    with app.sessions() as db:
        assert db.query(Session).count() == before
