"""The one error of the Klub domain: a refused action, ready for the catalog."""

from __future__ import annotations


class ClubError(ValueError):
    """A refused action; `key` names the catalog message, `kwargs` its arguments."""

    def __init__(self, key: str, **kwargs: object) -> None:
        super().__init__(key)
        self.key = key
        self.kwargs = kwargs
