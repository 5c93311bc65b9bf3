"""The role ladder, checked in one place (`allows`)."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    GUEST = 0  # not on the roster (or revoked)
    PROVIDER = 1  # a trained prestataire
    STAFF = 2  # office staff
    ANT = 3  # animateur numérique de territoire
    ADMIN = 4  # deployment administrator / territory coordinator

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.strip().upper()]
        except KeyError as exc:
            raise ValueError(value) from exc

    @property
    def key(self) -> str:
        return self.name.lower()


ROLE_NAMES = tuple(r.key for r in Role if r is not Role.GUEST)


def allows(have: Role, need: Role) -> bool:
    return have >= need
