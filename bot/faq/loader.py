"""Load and validate the tutorial base (``faq/*.yml``, format in DESIGN.md).

Every problem is reported, not only the first, each on one line naming the file, the entry and the field,
so that whoever edits the YAML can fix everything in one pass. Several folders can be layered: a later
folder's entry replaces an earlier one with the same id (an office overrides its territory).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot import safe_yaml

ENTRY_FIELDS = ("id", "question", "alternatives", "answer", "links", "tags")
# Optional fields we know about and accept silently (DESIGN.md welcomes extra fields).
KNOWN_EXTRA_FIELDS = frozenset(
    {"reviewed", "audience", "related", "level", "author", "updated", "notes", "keywords", "see_also", "draft"}
)
TOP_LEVEL_FIELDS = ("theme", "entries")
KNOWN_TOP_LEVEL_EXTRA = frozenset({"description", "owner", "reviewed", "audience", "notes"})
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class Entry:
    id: str
    theme: str
    question: str
    alternatives: tuple[str, ...]
    answer: str
    links: tuple[Link, ...]
    tags: tuple[str, ...]
    source: str  # path of the YAML file the entry comes from


@dataclass(frozen=True)
class Base:
    entries: tuple[Entry, ...]
    warnings: tuple[str, ...] = ()
    _by_id: dict[str, Entry] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {e.id: e for e in self.entries})

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    @property
    def themes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.theme for e in self.entries))

    def __len__(self) -> int:
        return len(self.entries)


class FaqError(Exception):
    """The base could not be loaded; ``str(exc)`` lists every problem, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class Report:
    """Everything one load found: the base (None if any error), errors and warnings."""

    base: Base | None
    errors: list[str]
    warnings: list[str]


# -- YAML ---------------------------------------------------------------------------------------------


_UNREADABLE = object()


def _parse_yaml(path: Path, label: str, errors: list[str]) -> Any:
    """The parsed document, or _UNREADABLE after reporting why."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        errors.append(f"{label} : le fichier n'est pas en UTF-8")
        return _UNREADABLE
    except OSError as exc:
        errors.append(f"{label} : lecture impossible ({exc.strerror or exc})")
        return _UNREADABLE
    try:
        data, duplicates = safe_yaml.parse(text)
    except safe_yaml.YamlError as exc:
        errors.append(f"{label}, {exc}" if exc.line else f"{label} : {exc}")
        return _UNREADABLE
    for key, line in duplicates:
        errors.append(f"{label}, ligne {line} : clé « {key} » en double (la seconde écraserait la première)")
    return data


# -- validation ---------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "vide"
    if isinstance(value, bool):
        return "booléen (oui/non : mettez le texte entre guillemets)"
    if isinstance(value, int | float):
        return "nombre"
    if isinstance(value, str):
        return "texte"
    if isinstance(value, list):
        return "liste"
    if isinstance(value, dict):
        return "bloc clé: valeur"
    return type(value).__name__


def _valid_url(url: str) -> bool:
    if any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and "." in parts.netloc.split(":")[0]


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.75)
    return f" (vouliez-vous dire « {close[0]} » ?)" if close else ""


class _FileChecker:
    """Validates one parsed file; collects entries, errors and warnings."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.entries: list[Entry] = []

    def _where(self, entry: str | None, fld: str | None) -> str:
        parts = [self.label]
        if entry is not None:
            parts.append(f"entrée {entry}")
        if fld is not None:
            parts.append(f"champ « {fld} »")
        return ", ".join(parts)

    def error(self, entry: str | None, fld: str | None, message: str) -> None:
        self.errors.append(f"{self._where(entry, fld)} : {message}")

    def warn(self, entry: str | None, fld: str | None, message: str) -> None:
        self.warnings.append(f"{self._where(entry, fld)} : {message}")

    def _text(self, who: str | None, fld: str, value: Any, *, required: bool) -> str | None:
        if value is None:
            if required:
                self.error(who, fld, "champ obligatoire manquant ou vide")
            return None
        if not isinstance(value, str):
            self.error(who, fld, f"attendu : un texte, trouvé : {_type_name(value)}")
            return None
        if not value.strip():
            self.error(who, fld, "texte vide")
            return None
        return value.strip()

    def _texts(self, who: str, fld: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(who, fld, f"attendu : une liste de textes [..., ...], trouvé : {_type_name(value)}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            text = self._text(who, f"{fld}[{i}]", item, required=True)
            if text is not None:
                out.append(text)
        return tuple(out)

    def _links(self, who: str, value: Any) -> tuple[Link, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(who, "links", f"attendu : une liste de {{title: …, url: …}}, trouvé : {_type_name(value)}")
            return ()
        links: list[Link] = []
        for i, item in enumerate(value):
            fld = f"links[{i}]"
            if not isinstance(item, dict):
                self.error(who, fld, f"attendu : {{title: …, url: …}}, trouvé : {_type_name(item)}")
                continue
            for key in item:
                if key not in ("title", "url"):
                    self.warn(who, f"{fld}.{key}", "champ inconnu, ignoré" + _suggest(str(key), ("title", "url")))
            title = self._text(who, f"{fld}.title", item.get("title"), required=True)
            url = self._text(who, f"{fld}.url", item.get("url"), required=True)
            if url is not None and not _valid_url(url):
                message = f"adresse invalide « {url} » : elle doit commencer par http:// ou https://"
                self.error(who, f"{fld}.url", message)
                url = None
            if title is not None and url is not None:
                links.append(Link(title=title, url=url))
        return tuple(links)

    def check(self, data: Any) -> None:
        if data is None:
            self.error(None, None, "fichier vide")
            return
        if not isinstance(data, dict):
            self.error(None, None, f"attendu : un bloc avec « theme » et « entries », trouvé : {_type_name(data)}")
            return
        for key in data:
            if key not in TOP_LEVEL_FIELDS and key not in KNOWN_TOP_LEVEL_EXTRA:
                self.warn(None, str(key), "champ inconnu, ignoré" + _suggest(str(key), TOP_LEVEL_FIELDS))
        theme = self._text(None, "theme", data.get("theme"), required=True)
        entries = data.get("entries")
        if entries is None:
            self.error(None, "entries", "champ obligatoire manquant ou vide (la liste des tutoriels)")
            return
        if not isinstance(entries, list):
            self.error(None, "entries", f"attendu : une liste d'entrées, trouvé : {_type_name(entries)}")
            return
        if not entries:
            self.warn(None, "entries", "aucune entrée")
        seen: dict[str, int] = {}
        for index, raw in enumerate(entries, start=1):
            self._entry(index, raw, theme or "", seen)

    def _entry(self, index: int, raw: Any, theme: str, seen: dict[str, int]) -> None:
        who = f"n° {index}"
        if not isinstance(raw, dict):
            self.error(who, None, f"attendu : un bloc (id, question, answer…), trouvé : {_type_name(raw)}")
            return
        raw_id = raw.get("id")
        entry_id: str | None = None
        if raw_id is None:
            self.error(who, "id", "champ obligatoire manquant ou vide")
        elif not isinstance(raw_id, str):
            self.error(who, "id", f"attendu : un texte, trouvé : {_type_name(raw_id)}")
        elif not _ID_PATTERN.match(raw_id.strip()):
            self.error(who, "id", f"identifiant « {raw_id} » invalide : lettres, chiffres et tirets, sans espace")
        else:
            entry_id = raw_id.strip()
            who = f"« {entry_id} »"
            if entry_id in seen:
                self.error(who, "id", f"identifiant en double (déjà utilisé par l'entrée n° {seen[entry_id]})")
                entry_id = None  # validate its fields all the same, but keep the first one only
            else:
                seen[entry_id] = index
        for key in raw:
            if key not in ENTRY_FIELDS and key not in KNOWN_EXTRA_FIELDS:
                self.warn(who, str(key), "champ inconnu, ignoré" + _suggest(str(key), ENTRY_FIELDS))
        errors_before = len(self.errors)
        question = self._text(who, "question", raw.get("question"), required=True)
        answer = self._text(who, "answer", raw.get("answer"), required=True)
        alternatives = self._texts(who, "alternatives", raw.get("alternatives"))
        tags = self._texts(who, "tags", raw.get("tags"))
        links = self._links(who, raw.get("links"))
        related = raw.get("related")
        if related is not None and not (isinstance(related, list) and all(isinstance(r, str) for r in related)):
            self.warn(who, "related", f"attendu : une liste d'identifiants, trouvé : {_type_name(related)}")
        if entry_id is None or question is None or answer is None or len(self.errors) > errors_before:
            return
        self.entries.append(
            Entry(
                id=entry_id,
                theme=theme,
                question=question,
                alternatives=alternatives,
                answer=answer,
                links=links,
                tags=tags,
                source=self.label,
            )
        )


# -- folders and layering -----------------------------------------------------------------------------


def _files_of(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    # Only files directly in the folder: faq/drafts/ and other sub-folders are work in progress.
    return sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix in (".yml", ".yaml") and not p.name.startswith(".")
    )


def _related_warnings(entries: Iterable[tuple[Entry, Any]], known: set[str]) -> list[str]:
    out: list[str] = []
    for entry, related in entries:
        for target in related:
            if isinstance(target, str) and target not in known:
                where = f"{entry.source}, entrée « {entry.id} », champ « related »"
                out.append(f"{where} : identifiant inconnu « {target} »")
    return out


def inspect_base(dirs: Sequence[str | Path]) -> Report:
    """Load every folder in order, later folders overriding earlier ones; never raises FaqError."""
    errors: list[str] = []
    warnings: list[str] = []
    merged: dict[str, Entry] = {}
    related: dict[str, Any] = {}
    if isinstance(dirs, str | Path):
        dirs = [dirs]
    if not dirs:
        errors.append("aucun dossier de tutoriels indiqué")
    for folder in dirs:
        path = Path(folder)
        if not path.exists():
            errors.append(f"{path} : dossier introuvable")
            continue
        if not (path.is_dir() or path.suffix in (".yml", ".yaml")):
            errors.append(f"{path} : ni un dossier ni un fichier .yml")
            continue
        in_folder: dict[str, str] = {}
        for file in _files_of(path):
            label = str(file)
            data = _parse_yaml(file, label, errors)
            if data is _UNREADABLE:
                continue
            checker = _FileChecker(label)
            checker.check(data)
            errors.extend(checker.errors)
            warnings.extend(checker.warnings)
            raw_entries = data.get("entries") if isinstance(data, dict) else None
            raw_by_id = {
                r.get("id"): r for r in raw_entries or [] if isinstance(r, dict) and isinstance(r.get("id"), str)
            }
            for entry in checker.entries:
                if entry.id in in_folder:
                    where = f"{label}, entrée « {entry.id} », champ « id »"
                    errors.append(f"{where} : identifiant déjà utilisé dans {in_folder[entry.id]}")
                    continue
                in_folder[entry.id] = label
                merged.pop(entry.id, None)  # re-insert: an override takes the overriding folder's place
                merged[entry.id] = entry
                related[entry.id] = (raw_by_id.get(entry.id) or {}).get("related") or []
    if not errors and not merged and dirs:
        errors.append(f"{', '.join(str(d) for d in dirs)} : aucun tutoriel trouvé (fichiers *.yml)")
    if not errors:
        rel = [(merged[i], r) for i, r in related.items() if i in merged and isinstance(r, list)]
        warnings.extend(_related_warnings(rel, set(merged)))
    base = None if errors else Base(entries=tuple(merged.values()), warnings=tuple(warnings))
    return Report(base=base, errors=errors, warnings=warnings)


def load_base(dirs: Sequence[str | Path]) -> Base:
    """The layered base; raises FaqError listing every problem found."""
    report = inspect_base(dirs)
    if report.base is None:
        raise FaqError(report.errors)
    return report.base


def check_base(dirs: Sequence[str | Path]) -> list[str]:
    """Every problem of the base, [] when it loads cleanly (warnings are not problems)."""
    return inspect_base(dirs).errors
