"""The tutorial base: loading (``loader``) and question matching (``matcher``). No platform imports."""

from bot.faq.loader import Base, Entry, FaqError, Link, check_base, load_base
from bot.faq.matcher import DEFAULT_THRESHOLD, Candidate, Matcher, MatchResult

__all__ = [
    "DEFAULT_THRESHOLD",
    "Base",
    "Candidate",
    "Entry",
    "FaqError",
    "Link",
    "MatchResult",
    "Matcher",
    "check_base",
    "load_base",
]
