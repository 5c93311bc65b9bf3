"""A tutorial written in a form (the dashboard), checked by the same loader as `klub faq check`.

One file per tutorial in the office's own layer (the last folder of `faq.bases`): saving the same
question again rewrites its file, so a second click never makes a second tutorial. The file's first line
names the question it came from; that is how it is found again.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.faq.loader import Base, Entry, inspect_base

MARK = "# Tutoriel écrit dans le tableau de bord depuis la question n°{number}."
_MARK = re.compile(r"^# Tutoriel écrit dans le tableau de bord depuis la question n°(\d+)\.")
_LINK = re.compile(r"^(?P<title>.*?)\s*(?:\||—|-)?\s*(?P<url>https?://\S+)\s*$")
_STEP_NUMBER = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*")


@dataclass
class Draft:
    """What the form holds (each list one item per line), and what the loader said about it."""

    id: str = ""
    theme: str = ""
    question: str = ""
    alternatives: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def data(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "id": self.id,
            "question": self.question,
            "answer": "".join(f"{i}. {s}\n" for i, s in enumerate(self.steps, 1)),
        }
        if self.alternatives:
            entry["alternatives"] = self.alternatives
        if self.links:
            entry["links"] = [{"title": t or u, "url": u} for t, u in self.links]
        if self.tags:
            entry["tags"] = self.tags
        return {"theme": self.theme, "entries": [entry]}


def lines(text: str, limit: int = 30) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()][:limit]


def parse_links(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """« Titre | https://… » per line (or just the address); a line without an address is a problem."""
    found, bad = [], []
    for line in lines(text, 10):
        m = _LINK.match(line)
        if m is None:
            bad.append(line)
        else:
            found.append((m.group("title").strip(" |—-"), m.group("url")))
    return found, bad


def steps_of(text: str) -> list[str]:
    """Steps one per line; numbers or bullets typed by habit are dropped (the file numbers them)."""
    return [_STEP_NUMBER.sub("", s) for s in lines(text)]


def _dump(header: str, data: dict[str, object]) -> str:
    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return header + "\n" + yaml.dump(data, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=110)


def find(layer: Path, number: int) -> Path | None:
    """The file already written for question `number`, if any."""
    if not layer.is_dir():
        return None
    for path in sorted(layer.glob("*.yml")):
        with path.open(encoding="utf-8") as fh:
            m = _MARK.match(fh.readline())
        if m and int(m.group(1)) == number:
            return path
    return None


def written(layer: Path) -> list[tuple[int, Path]]:
    """Every tutorial the dashboard wrote in this layer: (question number, file)."""
    out = []
    for path in sorted(layer.glob("*.yml")) if layer.is_dir() else []:
        with path.open(encoding="utf-8") as fh:
            m = _MARK.match(fh.readline())
        if m:
            out.append((int(m.group(1)), path))
    return out


def check(draft: Draft, base: Base, own: Path | None) -> Entry | None:
    """Run the loader on the would-be file; the entry, or None with `draft.problems` filled in French."""
    if not draft.steps:
        draft.problems.append("Écrivez au moins une étape.")
    other = base.get(draft.id)
    if other is not None and (own is None or Path(other.source).resolve() != own.resolve()):
        draft.problems.append(f"L'identifiant « {draft.id} » est déjà celui d'un autre tutoriel ({other.question}).")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tutoriel.yml"
        path.write_text(_dump("", draft.data()), encoding="utf-8")
        report = inspect_base([path])
    # The loader names the temporary file and the entry: keep only what the field is about.
    draft.problems += [p.split(" : ", 1)[-1] if str(path) in p else p for p in report.errors]
    if draft.problems or report.base is None:
        return None
    return report.base.entries[0]


def save(draft: Draft, layer: Path, number: int, own: Path | None) -> tuple[Path, bool]:
    """Write (or rewrite) the question's file atomically; (path, created)."""
    layer.mkdir(parents=True, exist_ok=True)
    path = own or _free_name(layer, draft.id)
    text = _dump(MARK.format(number=number), draft.data())
    fd, tmp = tempfile.mkstemp(dir=layer, prefix=".tutoriel-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)  # a reader (the bot reloading) sees the old file or the new one, never half
    return path, own is None


def _free_name(layer: Path, slug: str) -> Path:
    path, n = layer / f"{slug}.yml", 2
    while path.exists():
        path, n = layer / f"{slug}-{n}.yml", n + 1
    return path
