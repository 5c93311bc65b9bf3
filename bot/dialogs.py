"""Guided dialogues that survive restarts: the state of each one is a ConversationState row.

A flow is a name and a function that takes the next thing the person typed. While a flow is open in a
chat, free text there goes to it first; the flow may hand the text back (None) to the normal route (a
tutorial question typed in the middle of the diagnostic still gets its answer). Buttons are commands, so
`/etape VALUE` feeds the open flow exactly as typing VALUE would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select

from bot.core import Ctx
from bot.messages import Reply
from bot.storage.tables import ConversationState

FlowHandler = Callable[[Ctx, dict[str, Any], str], "list[Reply] | None"]
FreeText = Callable[[Ctx, str], list[Reply]]

MAX_STATE = 4000  # bytes of JSON: a dialogue holds a few answers, never a document


def _key(ctx: Ctx) -> tuple[int, str, str] | None:
    if ctx.person is None:
        return None
    return ctx.person.id, ctx.incoming.chat.platform, ctx.incoming.chat.chat_id


def current(ctx: Ctx) -> ConversationState | None:
    key = _key(ctx)
    if key is None:
        return None
    person_id, platform, chat_id = key
    return ctx.db.scalar(
        select(ConversationState).where(
            ConversationState.person_id == person_id,
            ConversationState.platform == platform,
            ConversationState.chat_id == chat_id,
        )
    )


def data_of(state: ConversationState) -> dict[str, Any]:
    try:
        data = json.loads(state.data)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def save(ctx: Ctx, flow: str, data: dict[str, Any]) -> None:
    """Open the flow in this chat (replacing any other one), or store its new data."""
    key = _key(ctx)
    assert key is not None, "a dialogue needs a roster entry"
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    if len(text) > MAX_STATE:
        raise ValueError("état de dialogue trop grand")
    state = current(ctx)
    if state is None:
        person_id, platform, chat_id = key
        ctx.db.add(
            ConversationState(
                person_id=person_id, platform=platform, chat_id=chat_id, flow=flow, data=text, updated_at=ctx.now
            )
        )
    else:
        state.flow, state.data, state.updated_at = flow, text, ctx.now
    ctx.db.flush()


def end(ctx: Ctx, flow: str | None = None) -> bool:
    """Close the open flow (only `flow`, when given). True if one was closed."""
    state = current(ctx)
    if state is None or (flow is not None and state.flow != flow):
        return False
    ctx.db.delete(state)
    ctx.db.flush()
    return True


def feed(ctx: Ctx, flows: Mapping[str, FlowHandler], text: str) -> list[Reply] | None:
    """Give `text` to the flow open in this chat; None when there is none or it hands the text back."""
    state = current(ctx)
    if state is None:
        return None
    handler = flows.get(state.flow)
    if handler is None:  # a flow this version no longer has: forget it rather than trap the person
        ctx.db.delete(state)
        return None
    return handler(ctx, data_of(state), text)


def router(flows: Mapping[str, FlowHandler], fallback: FreeText) -> FreeText:
    """The free-text handler: the open flow first, then `fallback` (the tutorial base)."""

    def route(ctx: Ctx, text: str) -> list[Reply]:
        replies = feed(ctx, flows, text)
        return fallback(ctx, text) if replies is None else replies

    return route
