"""The hostile corpus through Core.handle: 0 internal errors, and refused input changes nothing.

Every line is played twice: by the ANT where the command is allowed (so that the arguments reach the
handler's parsing), and by a speaker × chat taken in turn from every role × chat kind (private, the
office's équipe and prestataires groups, another office's groups), in four parts that run in parallel.
Timing is not asserted here: the slowest line is reported by bench/hostile_bench.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.bootstrap import all_commands
from bot.config import Config

from .conftest import paris
from .hostile_corpus import COMMANDS, corpus
from .world import CHATS, SPEAKERS, World, digest, play

LINES = corpus()
TABLE = {c.name: c for c in all_commands()}
COMBOS = [(s.slug, c.name) for s in SPEAKERS for c in CHATS]
# Played in parts that parallel workers share; line i keeps its speaker × chat, COMBOS[i % len(COMBOS)]
# (PARTS and len(COMBOS) have no common divisor: every part still meets every combination).
PARTS = 4


def first_combo(line: str) -> tuple[str, str]:
    """The ANT of office A, in a chat where the command may be used: parsing is really reached."""
    name = line[1:].split(None, 1)[0].split("@", 1)[0] if line.startswith("/") and len(line) > 1 else ""
    cmd = TABLE.get(name)
    if cmd is None or cmd.where == "private":
        return "camille-ant", "prive"
    return "camille-ant", "A-equipe"


@pytest.fixture
def world(config: Config, database_url: str) -> Iterator[World]:
    w = World(config, database_url, paris("2026-11-20 09:00"))
    yield w
    w.close()


def test_the_corpus_is_large_and_covers_every_command() -> None:
    assert len(LINES) >= 1000
    assert set(COMMANDS) == set(TABLE)
    for name in TABLE:
        assert sum(1 for line in LINES if line.startswith(f"/{name} ")) >= 40, name


@pytest.mark.parametrize("part", range(PARTS))
def test_hostile_corpus(world: World, part: int) -> None:
    failures: list[str] = []
    refused = changed = 0
    seeded = before = digest(world.app)
    lines = [(i, line) for i, line in enumerate(LINES) if i % PARTS == part]
    for i, line in lines:
        for who, chat in (first_combo(line), COMBOS[i % len(COMBOS)]):
            outcome = play(world.app, who, line, chat)
            after = digest(world.app)
            cell = f"{line[:80]!r} by {who} in {chat}"
            if outcome.crashed:
                failures.append(f"internal error: {cell}")
            if outcome.refused:
                refused += 1
                if after != before:
                    failures.append(f"refused but changed: {cell}: {outcome.keys}")
            if after != before:
                changed += 1
                world.reset()
                after = seeded
            before = after
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    # The corpus is hostile: most lines are refused; a few well-formed ones go through.
    assert refused > len(lines) and changed > 0
