"""Le diagnostic numérique: the questionnaire (data), scoring, runs and plans, campaigns, the observatory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.diagnostic.questionnaire import Questionnaire, QuestionnaireError, load_questionnaire

__all__ = ["Questionnaire", "QuestionnaireError", "campaign_of", "load_questionnaire"]


def campaign_of(now: datetime, zone: ZoneInfo) -> int:
    """A campaign is a calendar year of the office: the observatory compares one year with the next."""
    return now.astimezone(zone).year


def check(paths: Sequence[str], tutorial_ids: set[str] | None) -> list[str]:
    """Every problem of the questionnaire, one line each (empty: it is valid)."""
    try:
        load_questionnaire(paths, tutorial_ids)
    except QuestionnaireError as exc:
        return exc.problems
    return []
