"""Questions that offices' bases could not answer: a prior for abstaining on a base nobody tuned on.

Providers of every territory ask the same kinds of things that no tutorial answers: the plumber, the seasonal
worker, the tourist tax of another region, deleting an account when the base only explains how to create it.
``data/unanswerable.yml`` keeps such questions, labelled "no entry" on the bases they were asked about
(written by ``bench/faq_examples.py`` from the tuning sets only). A question that is closer to one of them than
to the best entry of the base is probably one more of them: that is the decision feature ``unanswerable``.

A base never meets its own questions here: a base that shares an entry id with the base a group of questions
was asked on (the shipped ``faq/``, an office layer over it) does not use that group. That is how the decision
was fitted (leave the base out), so the feature means the same on the shipped base as on a new one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

UNANSWERABLE = Path(__file__).parent / "data" / "unanswerable.yml"


class UnanswerableError(ValueError):
    """The data file is malformed (it is written by a script: this is a bug, named precisely)."""


@dataclass(frozen=True)
class Group:
    name: str  # the base the questions were asked on
    ids: frozenset[str]  # that base's entry ids: a base sharing one of them is that base
    questions: tuple[str, ...]


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UnanswerableError(f"{where} doit être une liste de textes non vides")
    return tuple(v.strip() for v in value)


@lru_cache(maxsize=1)
def groups(path: Path = UNANSWERABLE) -> tuple[Group, ...]:
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("bases"), dict):
        raise UnanswerableError(f"{path.name} : il manque la clé « bases »")
    out = []
    for name, body in data["bases"].items():
        if not isinstance(body, dict):
            raise UnanswerableError(f"{path.name} : bases.{name} doit contenir « ids » et « questions »")
        ids = _strings(body.get("ids"), f"{path.name} : bases.{name}.ids")
        questions = _strings(body.get("questions"), f"{path.name} : bases.{name}.questions")
        out.append(Group(str(name), frozenset(ids), questions))
    return tuple(out)


def usable(entry_ids: Iterable[str]) -> tuple[Group, ...]:
    """The groups a base may use: not those asked on this very base (it shares an entry id with them)."""
    ids = frozenset(entry_ids)
    return tuple(g for g in groups() if not g.ids & ids)
