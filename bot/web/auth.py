"""Login without shared passwords: one-time links sent in private chat, signed session cookies, CSRF tokens.

Nothing here knows about HTTP: the chat command issues links with it, the web app redeems them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session as Db

from bot.config import WebConfig
from bot.roles import Role
from bot.storage.tables import LoginToken, Person, WebSession

LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=12)  # one working day; the person's role is checked again on every request
COOKIE = "klub_session"
WEB_ROLES = (Role.STAFF, Role.ANT, Role.ADMIN)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

LinkProblem = Literal["unknown", "expired", "used", "refused"]


def hash_token(token: str) -> str:
    # Only the hash is stored: a leaked database does not leak working links.
    return hashlib.sha256(token.encode()).hexdigest()


def login_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/login/{token}"


def issue_link(db: Db, person: Person, now: datetime, config: WebConfig) -> str:
    """A fresh single-use link; the person's older unused links stop working (one live link at a time)."""
    db.execute(delete(LoginToken).where(LoginToken.person_id == person.id, LoginToken.used_at.is_(None)))
    db.execute(delete(LoginToken).where(LoginToken.expires_at < now - timedelta(days=30)))
    token = secrets.token_urlsafe(32)
    db.add(LoginToken(token_hash=hash_token(token), person_id=person.id, created_at=now, expires_at=now + LINK_TTL))
    db.flush()
    return login_url(config.base_url, token)


def web_role(person: Person | None) -> Role:
    """The person's role for the dashboard: GUEST when revoked, erased or not office staff."""
    if person is None or not person.active or person.erased_at is not None:
        return Role.GUEST
    try:
        role = Role.parse(person.role)
    except ValueError:
        return Role.GUEST
    return role if role in WEB_ROLES else Role.GUEST


def check_link(db: Db, token: str, now: datetime) -> LoginToken | LinkProblem:
    """Look at a link without using it (the confirmation page)."""
    if not _TOKEN.match(token):
        return "unknown"
    row = db.scalar(select(LoginToken).where(LoginToken.token_hash == hash_token(token)))
    if row is None:
        return "unknown"
    if row.used_at is not None:
        return "used"
    if row.expires_at <= now:
        return "expired"
    if web_role(db.get(Person, row.person_id)) == Role.GUEST:
        return "refused"
    return row


def redeem(db: Db, token: str, now: datetime) -> Person | LinkProblem:
    """Use a link once. The conditional UPDATE makes two simultaneous clicks produce one session, not two."""
    found = check_link(db, token, now)
    if isinstance(found, str):
        return found
    claimed = db.execute(
        update(LoginToken)
        .where(LoginToken.id == found.id, LoginToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return "used"
    person = db.get(Person, found.person_id)
    assert person is not None  # check_link saw it
    return person


# -- the session cookie -------------------------------------------------------------------------------


MIN_SECRET_BYTES = 32


class SecretError(ValueError):
    """The signing secret is missing where it must be set, or too short; the message names the variable."""


def secret_from(config: WebConfig, environ: dict[str, str] | None = None) -> tuple[bytes, bool]:
    """(secret, persistent). Without the variable, a random per-process secret: sessions end at restart.

    Behind https (a real deployment) the variable is required, and any secret must be 32 bytes or more:
    a short one can be guessed offline from a single cookie.
    """
    env = os.environ if environ is None else environ
    value = env.get(config.secret_env, "")
    if value:
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise SecretError(
                f"{config.secret_env} : secret trop court ({len(value.encode())} octets, au moins {MIN_SECRET_BYTES} ;"
                " par exemple : python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        return value.encode(), True
    if config.base_url.lower().startswith("https://"):
        raise SecretError(
            f"{config.secret_env} : variable obligatoire quand web.base_url est en https ({config.base_url}) ;"
            " sans elle, chaque redémarrage déconnecte tout le monde et deux instances ne se reconnaissent pas"
        )
    return secrets.token_bytes(32), False


# -- server-side sessions: the cookie names one, the database says whether it is still open ------------


def start_session(db: Db, person: Person, now: datetime) -> str:
    """Open a session for the person; returns the key for the cookie (only its hash is stored)."""
    db.execute(delete(WebSession).where(WebSession.expires_at < now - timedelta(days=1)))
    key = secrets.token_urlsafe(32)
    db.add(WebSession(key_hash=hash_token(key), person_id=person.id, created_at=now, expires_at=now + SESSION_TTL))
    db.flush()
    return key


def session_open(db: Db, key: object, person_id: int, now: datetime) -> bool:
    if not isinstance(key, str) or not _TOKEN.match(key):
        return False
    row = db.scalar(select(WebSession).where(WebSession.key_hash == hash_token(key)))
    return row is not None and row.person_id == person_id and row.ended_at is None and row.expires_at > now


def end_session(db: Db, key: object, now: datetime) -> None:
    if isinstance(key, str) and _TOKEN.match(key):
        db.execute(
            update(WebSession)
            .where(WebSession.key_hash == hash_token(key), WebSession.ended_at.is_(None))
            .values(ended_at=now)
        )


def end_all_sessions(db: Db, person_id: int, now: datetime) -> int:
    """« Se déconnecter partout »: every open session of the person ends; returns how many there were."""
    done = db.execute(
        update(WebSession)
        .where(WebSession.person_id == person_id, WebSession.ended_at.is_(None), WebSession.expires_at > now)
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(done, "rowcount", 0) or 0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 signed JSON: the cookie can be read by its owner but not altered."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"klub-web-session\x00" + secret).digest()

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def dumps(self, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def loads(self, value: str) -> dict[str, Any] | None:
        payload, _, mac = value.partition(".")
        if not payload or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def new_session(now: datetime, person_id: int | None = None, key: str | None = None) -> dict[str, Any]:
    """A session always carries a CSRF token, even before login (the login form is protected too).
    Signed in, it also carries the key of its row in web_sessions."""
    data: dict[str, Any] = {"p": person_id, "c": secrets.token_urlsafe(24), "e": int((now + SESSION_TTL).timestamp())}
    if key is not None:
        data["s"] = key
    return data


def session_valid(data: dict[str, Any] | None, now: datetime) -> bool:
    if data is None:
        return False
    return isinstance(data.get("c"), str) and isinstance(data.get("e"), int) and data["e"] > now.timestamp()


def csrf_ok(session: dict[str, Any], sent: str | None) -> bool:
    expected = session.get("c")
    if not isinstance(expected, str) or not isinstance(sent, str):
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())  # bytes: a forged token may hold any character
