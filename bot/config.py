"""Load and validate config.yml. A wrong file gives one clear French line per problem, never a traceback."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot import safe_yaml
from bot.roles import ROLE_NAMES
from bot.timefmt import MAX_YEAR, MIN_YEAR

GroupKind = Literal["equipe", "prestataires"]
Platform = Literal["telegram", "discord", "console"]
SLUG = r"^[a-z0-9][a-z0-9_-]*$"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SERIES_START_FORMAT = "%Y-%m-%d %H:%M"


class ConfigError(Exception):
    """Raised with a message ready to print: file, field, what was expected."""


def parse_duration(text: str) -> timedelta:
    """'7d' / '7j' / '2h' / '30min' -> timedelta, bounded (bot.inputs): config and commands alike."""
    from bot import inputs

    try:
        return inputs.parse_duration(text)
    except inputs.InputError as exc:
        if exc.key == "input.bad_duration":
            raise ValueError(f"durée invalide « {text} » (attendu par exemple 7j, 2h ou 30min)") from exc
        raise


def _readable(v: str) -> str:
    """A name people will read (office, territory, person): cleaned like chat text, never blank."""
    from bot import inputs

    v = " ".join(inputs.strip_controls(v).split())
    if inputs.is_blank(v):
        raise ValueError("nom vide (attendu un texte lisible)")
    return v


Name = Annotated[str, AfterValidator(_readable)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = "sqlite:///klub.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError("attendu une URL sqlite:///fichier.db ou postgresql+psycopg://…")
        return v


class TerritoryConfig(_Strict):
    id: str = Field(pattern=SLUG)
    name: Name


class GroupConfig(_Strict):
    platform: Platform
    chat_id: str = Field(min_length=1)  # Telegram chat id or Discord channel id, kept as a string (64-bit)
    kind: GroupKind
    title: str = ""
    guild_id: str | None = None  # Discord: the server the channel belongs to
    role_id: str | None = None  # Discord: the role that opens this channel

    @field_validator("chat_id", "guild_id", "role_id", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class RemindersConfig(_Strict):
    group: list[str] = Field(default_factory=lambda: ["7d", "1d"])  # before the session, in the providers' group
    private: list[str] = Field(default_factory=lambda: ["2h"])  # before the session, to each registered person
    low_attendance: str | None = "3d"  # alert the ANT when under the minimum, this long before
    grace: str = "6h"  # a reminder missed while down is still sent if late by less than this

    @field_validator("group", "private")
    @classmethod
    def _durations(cls, v: list[str]) -> list[str]:
        for item in v:
            parse_duration(item)
        return v

    @field_validator("low_attendance", "grace")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v


class OfficeConfig(_Strict):
    id: str = Field(pattern=SLUG)
    name: Name
    timezone: str = "Europe/Paris"
    territory: str | None = None
    language: Literal["fr", "en"] | None = None
    groups: list[GroupConfig] = Field(default_factory=list)
    reminders: RemindersConfig = Field(default_factory=RemindersConfig)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"fuseau horaire inconnu « {v} » (attendu un nom IANA comme Europe/Paris)") from exc
        return v


class PersonConfig(_Strict):
    id: str = Field(pattern=SLUG)
    name: Name
    office: str
    role: str = "provider"
    business: str = ""
    category: str = ""
    language: Literal["fr", "en"] | None = None
    identities: list[str] = Field(default_factory=list)  # "telegram:123456789", "discord:…"

    @field_validator("role")
    @classmethod
    def _role(cls, v: str) -> str:
        if v not in ROLE_NAMES:
            raise ValueError(f"rôle inconnu « {v} » (attendu : {', '.join(ROLE_NAMES)})")
        return v

    @field_validator("identities")
    @classmethod
    def _identities(cls, v: list[str]) -> list[str]:
        for item in v:
            platform, _, uid = str(item).partition(":")
            if platform not in ("telegram", "discord", "console") or not uid:
                raise ValueError(f"identité « {item} » invalide (attendu telegram:123456789 ou discord:…)")
        return v


class FaqConfig(_Strict):
    bases: list[str] = Field(default_factory=lambda: ["faq"])
    threshold: float | None = Field(default=None, ge=0, le=1)  # None: the engine's calibrated default
    # Unprompted answers in groups need more: the lowest cut where 99 % of the answers on the tuning sets are right.
    group_threshold: float = Field(default=0.94, ge=0, le=1)
    cache_dir: str | None = None  # embeddings of the base; None: $KLUB_FAQ_CACHE or ~/.cache/klub/faq


SHIPPED_QUESTIONNAIRE = Path(__file__).resolve().parent.parent / "diagnostic" / "territoire.yml"


class DiagnosticConfig(_Strict):
    # The territory's questionnaire, then the office's adaptations (same question id: the later file wins).
    # Without a `diagnostic` section: the questionnaire shipped beside the code.
    files: list[str] = Field(default_factory=lambda: [str(SHIPPED_QUESTIONNAIRE)])


class ConsoleConfig(_Strict):
    enabled: bool = True


class TelegramConfig(_Strict):
    enabled: bool = False
    token_env: str = "TELEGRAM_BOT_TOKEN"  # the token itself is only ever read from the environment
    api_base_url: str = "https://api.telegram.org/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret_env: str = "TELEGRAM_WEBHOOK_SECRET"
    bot_username: str | None = None  # for invite deep links printed by the CLI; the running bot asks getMe


class DiscordConfig(_Strict):
    enabled: bool = False
    token_env: str = "DISCORD_BOT_TOKEN"
    guild_ids: list[str] = Field(default_factory=list)
    # Privileged intents (switch them on in the Developer Portal first): members for greeting newcomers
    # and giving roles back on re-join, message_content for reading group messages that do not mention Klub.
    members_intent: bool = False
    message_content_intent: bool = False
    welcome_channels: dict[str, str] = Field(default_factory=dict)  # guild id -> channel greeting newcomers
    events: bool = True  # mirror the sessions as the server's scheduled events
    events_horizon_days: int = Field(default=60, ge=1, le=365)
    events_sync_minutes: int = Field(default=60, ge=1, le=1440)  # the safety net: changes travel as rows
    # Another Discord than discord.com (the tests' fake server): REST root (…/api/v10) and gateway (ws://…).
    api_base_url: str = ""
    gateway_url: str = ""

    @field_validator("guild_ids", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v

    @field_validator("welcome_channels", mode="before")
    @classmethod
    def _ids_as_text(cls, v: Any) -> Any:
        return {str(k): str(x) for k, x in v.items()} if isinstance(v, dict) else v


class ReconnectConfig(_Strict):
    """How long Klub waits before trying an unreachable platform again (seconds): `first`, doubled after
    each failure up to `max`, each wait a little shorter at random so that instances do not knock together."""

    first: float = Field(default=1.0, gt=0, le=60)
    max: float = Field(default=60.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _max_after_first(self) -> ReconnectConfig:
        if self.max < self.first:
            raise ValueError("adapters.reconnect.max doit être au moins adapters.reconnect.first")
        return self


class AdaptersConfig(_Strict):
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    discord: DiscordConfig = Field(default_factory=DiscordConfig)


class WebConfig(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    base_url: str = "http://127.0.0.1:8080"
    secret_env: str = "KLUB_WEB_SECRET"


class SeriesConfig(_Strict):
    """A recurring session declared in the config (the ANT can also create them in chat or with the CLI)."""

    id: str = Field(pattern=SLUG)
    office: str
    title: str = Field(min_length=1)
    kind: Literal["klub", "atelier", "conference"] = "klub"
    rrule: str = Field(min_length=1)  # RFC 5545, e.g. FREQ=MONTHLY;BYDAY=1TH;BYMONTH=10,11,12,1,2,3,4
    start: str  # first occurrence, local time of the office: "2026-10-01 18:30"
    duration: str = "2h"
    location: str = ""
    video_url: str = ""
    capacity: int | None = Field(default=None, ge=1, le=10000)
    min_attendance: int | None = Field(default=None, ge=0, le=10000)
    audience: GroupKind = "prestataires"  # whose group is told and reminded: providers (with staff) or staff only
    until: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$")  # last possible day, local (AAAA-MM-JJ)

    @field_validator("start")
    @classmethod
    def _start(cls, v: str) -> str:
        try:
            when = datetime.strptime(v.strip(), SERIES_START_FORMAT)
        except ValueError:
            raise ValueError(f"date invalide « {v} » (attendu AAAA-MM-JJ HH:MM, ex. 2026-10-01 18:30)") from None
        if not MIN_YEAR <= when.year <= MAX_YEAR:
            raise ValueError(f"date hors limites « {v} » (années {MIN_YEAR} à {MAX_YEAR})")
        return v.strip()

    @field_validator("duration")
    @classmethod
    def _duration(cls, v: str) -> str:
        parse_duration(v)
        return v


class DeliveryConfig(_Strict):
    """The durable outbox and inbox shared by every instance on one database (seconds)."""

    instance: str | None = None  # this instance's stable name (else $KLUB_INSTANCE, else a random one)
    heartbeat: float = Field(default=5.0, gt=0, le=300)  # how often an instance says it is alive
    dead_after: float = Field(default=20.0, gt=0, le=600)  # silent this long: its claims are taken over
    lease: float = Field(default=120.0, gt=0, le=3600)  # a claim by a process without heartbeat expires
    poll: float = Field(default=2.0, gt=0, le=300)  # how often rows written by other instances are looked for
    batch: int = Field(default=20, ge=1, le=1000)  # rows claimed at once

    @model_validator(mode="after")
    def _dead_after_heartbeats(self) -> DeliveryConfig:
        if self.dead_after <= 2 * self.heartbeat:
            raise ValueError("delivery.dead_after doit dépasser deux battements de cœur (delivery.heartbeat)")
        return self


class Config(_Strict):
    language: Literal["fr", "en"] = "fr"
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    territories: list[TerritoryConfig] = Field(default_factory=list)
    offices: list[OfficeConfig] = Field(min_length=1)
    people: list[PersonConfig] = Field(default_factory=list)
    series: list[SeriesConfig] = Field(default_factory=list)
    faq: FaqConfig = Field(default_factory=FaqConfig)
    diagnostic: DiagnosticConfig = Field(default_factory=DiagnosticConfig)
    adapters: AdaptersConfig = Field(default_factory=AdaptersConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)

    @model_validator(mode="after")
    def _references(self) -> Config:
        _unique("territories", [t.id for t in self.territories])
        _unique("offices", [o.id for o in self.offices])
        _unique("people", [p.id for p in self.people])
        _unique("series", [s.id for s in self.series])
        territories = {t.id for t in self.territories}
        offices = {o.id for o in self.offices}
        for i, office in enumerate(self.offices):
            if office.territory is not None and office.territory not in territories:
                raise ValueError(f"offices[{i}].territory : territoire « {office.territory} » non déclaré")
        for i, person in enumerate(self.people):
            if person.office not in offices:
                raise ValueError(f"people[{i}].office : office « {person.office} » non déclaré")
        for i, series in enumerate(self.series):
            if series.office not in offices:
                raise ValueError(f"series[{i}].office : office « {series.office} » non déclaré")
        chats = [(g.platform, g.chat_id) for o in self.offices for g in o.groups]
        _unique("offices[].groups (platform, chat_id)", [f"{p}:{c}" for p, c in chats])
        return self

    def office(self, office_id: str) -> OfficeConfig:
        for office in self.offices:
            if office.id == office_id:
                return office
        raise KeyError(office_id)


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} : identifiant « {item} » en double")
        seen.add(item)


def expand_env(value: Any, env: dict[str, str], path: str = "") -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of the loaded YAML tree."""
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path} : la variable d'environnement {name} n'est pas définie")

        return _ENV.sub(sub, value)
    return value


_MESSAGES = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "champ inconnu",
    "string_pattern_mismatch": "attendu un identifiant en minuscules, chiffres et tirets (ex. ot-val-de-loue)",
    "literal_error": "valeur non autorisée",
    "string_type": "attendu du texte",
    "int_parsing": "attendu un nombre entier",
    "int_type": "attendu un nombre entier",
    "bool_parsing": "attendu true ou false",
    "bool_type": "attendu true ou false",
    "list_type": "attendu une liste",
    "dict_type": "attendu une section (clé: valeur)",
    "model_type": "attendu une section (clé: valeur)",
    "too_short": "la liste ne doit pas être vide",
    "string_too_short": "ne doit pas être vide",
    "string_too_long": "texte trop long",
    "too_long": "trop d'éléments",
}


def _describe(err: Any) -> str:
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    msg = french_message(err)
    return f"{loc} : {msg}" if loc else msg


def french_message(err: Any) -> str:
    """A pydantic validation error in French, for every YAML file an office edits."""
    kind = err["type"]
    if kind == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
    elif kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", "?")).replace(" or ", " ou ")
        msg = f"valeur non autorisée (attendu : {expected})"
    elif kind == "greater_than_equal":
        msg = f"attendu une valeur supérieure ou égale à {err['ctx']['ge']}"
    elif kind == "less_than_equal":
        msg = f"attendu une valeur inférieure ou égale à {err['ctx']['le']}"
    else:
        msg = _MESSAGES.get(kind, err["msg"])
    return msg


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    path = Path(path)
    env = dict(os.environ) if env is None else env
    try:
        raw = safe_yaml.load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} : fichier introuvable") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} : c'est un dossier, attendu un fichier YAML") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} : le fichier doit être encodé en UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{path} : lecture impossible ({exc.strerror or exc})") from exc
    except safe_yaml.YamlError as exc:
        raise ConfigError(f"{path}, {exc}" if exc.line else f"{path} : {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} : attendu une section de configuration (clé: valeur), trouvé {type(raw).__name__}")
    try:
        raw = expand_env(raw, env)
        faq = raw.get("faq")
        if isinstance(faq, dict) and isinstance(faq.get("bases"), list):
            # Tutorial folders are relative to the config file, not to wherever klub was started.
            faq["bases"] = [str(path.parent / b) if isinstance(b, str) else b for b in faq["bases"]]
        diag = raw.get("diagnostic")
        if isinstance(diag, dict):
            files = diag.get("files")
            if isinstance(files, list):
                diag["files"] = [str(path.parent / f) if isinstance(f, str) else f for f in files]
        return Config.model_validate(raw)
    except ConfigError as exc:
        raise ConfigError(f"{path} : {exc}") from exc
    except ValidationError as exc:
        lines = [f"{path} : {_describe(e)}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from exc


def default_config_path() -> Path:
    for candidate in ("config.yml", "config.example.yml"):
        if Path(candidate).exists():
            return Path(candidate)
    return Path("config.yml")
