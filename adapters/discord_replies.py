"""Discord's answers as outbox rows: where each one goes (laid out in the handling's transaction) and how
a row is sent (a mixin of the adapter).

An interaction's answers go through its webhook: the first answer shown with the deferral's visibility
takes the place of « Klub réfléchit… » (or the placeholder is deleted when none matches), the others are
follow-ups, ephemeral or not. Each is a row whose meta says so, with the webhook (application id, token).
When the webhook does not know the interaction (never deferred: the process died first; or older than
15 minutes), Discord answers 404 and nothing was shown: the answer goes to the person in private when it
is for them, to the channel when it is public — a personal answer never goes to the channel. A row whose
token was removed once expired (`bot.tokens`) goes that way without asking the webhook.

Answers to a mention or a DM go to the channel (as a reply to the message) or in private; a private one
the person's settings refuse is replaced by a short line in the channel, as on Telegram.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import aiohttp

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord

from adapters import discord_render
from adapters.discord_intake import Stored
from adapters.outbox_pump import DeliveryUncertain
from bot import discord_events, gate
from bot.discord_events import DiscordRole
from bot.i18n import pick_language, t
from bot.messages import ChatRef, GateReply, Incoming, MemberAction, OutMessage, Reply

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("adapters.discord_adapter")

PLATFORM = "discord"
MAX_MESSAGE = 2000  # characters
MAX_CUSTOM_ID = 100  # characters
MAX_LABEL = 80  # button labels
_NOT_SENT = (aiohttp.ClientConnectorError,)  # the request never left this machine
ORIGINAL = cast(int, "@original")  # the webhook's path for the deferred response (typed as an id)
Layout = Callable[[Incoming, list[Reply]], list[OutMessage]]


def render(text: str) -> str:
    """The core's HTML subset as Discord Markdown; user text cannot inject formatting or mentions."""
    return discord_render.render(text)


def split(text: str) -> list[str]:
    """The core's HTML subset rendered and cut under 2,000 characters (formatting reopened per part)."""
    return discord_render.split(text, MAX_MESSAGE)


def label(text: str) -> str:
    return discord_render.clip(discord_render.plain(text), MAX_LABEL) or "…"


def make_view(reply: Reply) -> discord.ui.View | None:
    """Buttons as a component row; a press comes back as an interaction whose custom_id is the command.

    The view is stopped before it is sent so that discord.py does not keep it in memory: presses are
    handled by `on_interaction`, which also works for buttons sent before a restart.
    """
    items: list[discord.ui.Button[discord.ui.View]] = []
    for r, row in enumerate(reply.buttons[:5]):
        for button in row[:5]:
            if len(button.command) > MAX_CUSTOM_ID:
                log.error("bouton « %s » ignoré : commande de plus de 100 caractères", button.command[:40])
                continue
            items.append(
                discord.ui.Button(
                    label=label(button.label), custom_id=button.command, style=discord.ButtonStyle.secondary, row=r
                )
            )
    if not items:
        return None
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    view.stop()
    return view


# -- layout: in the handling's transaction, no I/O ------------------------------------------------------


def interaction_layout(stored: Stored, default_language: str) -> Layout:
    def lay_out(incoming: Incoming, replies: list[Reply]) -> list[OutMessage]:
        lang = pick_language(incoming.user.language, default_language)
        replies = list(replies) or [Reply(t(lang, "discord.done"), personal=True)]
        user = incoming.user.user_id
        # Ephemeral: seen by the speaker alone. Meaningless (and not needed) in a DM.
        hidden = [stored.in_guild and bool(stored.private or r.private or r.personal or r.leave_chat) for r in replies]
        first = next((n for n, h in enumerate(hidden) if h == stored.hidden), None)
        out: list[OutMessage] = []
        for n, (reply, secret) in enumerate(zip(replies, hidden, strict=True)):
            meta = {
                "via": "interaction",
                "app": stored.application_id,
                "interaction": stored.interaction_id,
                "hidden": "1" if secret else "",
                "lang": lang,
                "title": incoming.chat.title,
                "chat": incoming.chat.chat_id,
            }
            if stored.token:  # gone once expired (`bot.tokens`): then the answer goes the other way
                meta["token"] = stored.token
            if n == first or (first is None and n == 0):
                meta["original"] = "edit" if n == first else "delete"
            if isinstance(reply, GateReply):
                meta["grant_to"] = user
            # Where it goes if the interaction cannot carry it any more: a personal answer in private.
            public = not secret and stored.in_guild and not incoming.chat.private
            where = ChatRef(PLATFORM, stored.channel_id, title=incoming.chat.title) if public else None
            out.append(OutMessage(where or ChatRef(PLATFORM, user, private=True), reply, meta=meta))
        return out

    return lay_out


def message_layout(stored: Stored, default_language: str) -> Layout:
    def lay_out(incoming: Incoming, replies: list[Reply]) -> list[OutMessage]:
        lang = pick_language(incoming.user.language, default_language)
        out: list[OutMessage] = []
        for reply in replies:
            if reply.leave_chat and not incoming.mentions_bot:
                continue  # « this channel is not served » only to someone who addressed Klub
            meta = {"lang": lang, "chat": incoming.chat.chat_id, "title": incoming.chat.title}
            if isinstance(reply, GateReply):
                meta["grant_to"] = incoming.user.user_id
            if reply.private or incoming.chat.private:
                where = ChatRef(PLATFORM, incoming.user.user_id, private=True)
                if not incoming.chat.private:
                    meta["fallback_chat"] = stored.channel_id
            else:
                where = ChatRef(PLATFORM, stored.channel_id or incoming.chat.chat_id, title=incoming.chat.title)
            if not incoming.chat.private and incoming.message_id:
                meta["reply_to"] = incoming.message_id
                meta["reply_channel"] = stored.channel_id
            out.append(OutMessage(where, reply, meta=meta))
        return out

    return lay_out


# -- sending --------------------------------------------------------------------------------------------


class ReplySender:
    """Mixed into `DiscordAdapter`, which provides `app` and `bot`."""

    app: App

    @property
    def bot(self) -> discord.Client:
        raise NotImplementedError

    def render_reply(self, reply: Reply, language: str | None = None) -> list[str]:
        text = reply.text
        if isinstance(reply, GateReply) and reply.invite_code:
            # The code's Discord use: the gate's text explains Telegram's /start.
            lang = pick_language(language, self.app.config.language)
            text += "\n\n" + t(lang, "discord.invite_hint", code=gate.format_code(reply.invite_code))
        return discord_render.split(text, MAX_MESSAGE)

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        await self.deliver(chat, reply)

    async def _channel(self, chat: ChatRef) -> discord.abc.Messageable:
        if chat.private:
            return await self.bot.create_dm(discord.Object(int(chat.chat_id)))
        return self.bot.get_partial_messageable(int(chat.chat_id))

    async def deliver(
        self, chat: ChatRef, reply: Reply, *, reference: discord.MessageReference | None = None, language: str = ""
    ) -> None:
        """Render and send one reply (split under 2,000 characters; buttons on the last part).
        Raises DeliveryUncertain when the message may be on Discord, wholly or in part."""
        parts = self.render_reply(reply, language or None)
        if not parts:
            return
        channel = await self._channel(chat)
        view = make_view(reply)
        for n, part in enumerate(parts):
            extra: dict[str, Any] = {}
            if view is not None and n == len(parts) - 1:
                extra["view"] = view
            if reference is not None and n == 0:
                extra["reference"] = reference
                extra["mention_author"] = False
            try:
                await channel.send(part, allowed_mentions=discord.AllowedMentions.none(), **extra)
            except (discord.HTTPException, *_NOT_SENT):
                if n > 0:
                    raise DeliveryUncertain(f"message coupé après {n} partie(s) dans {chat.chat_id}") from None
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise DeliveryUncertain(f"envoi dans {chat.chat_id} : {type(exc).__name__}") from exc

    async def _send_out(self, message: OutMessage) -> None:
        """One row: an interaction's answer, an answer to a message, or anything else the core decided."""
        meta, reply = message.meta, message.reply
        lang = meta.get("lang", "")
        extra: list[Reply] = []
        if meta.get("grant_to") and await self._grant(reply, meta["grant_to"]):
            extra.append(discord_events.access_failed(self.app, meta["grant_to"], lang or None))
        if reply.leave_chat and meta.get("chat"):
            # The one place an operator learns a channel's id: say it in the log (the bot stays).
            log.info(
                "Discord : salon non configuré %s (« %s ») ; ajoutez ce chat_id à la configuration",
                meta["chat"],
                meta.get("title", ""),
            )
        if meta.get("via") == "interaction":
            await self._send_interaction(message, extra)
            return
        reference = None
        if meta.get("reply_to") and not message.chat.private:
            reference = discord.MessageReference(
                message_id=int(meta["reply_to"]),
                channel_id=int(meta.get("reply_channel") or message.chat.chat_id),
                fail_if_not_exists=False,
            )
        try:
            await self.deliver(message.chat, reply, reference=reference, language=lang)
        except discord.Forbidden:
            fallback = meta.get("fallback_chat")
            if fallback:  # a private answer the person's settings refuse: say so in the channel
                instead = Reply(reply.fallback) if reply.fallback else Reply(t(lang or "fr", "discord.private_failed"))
                back = None
                if meta.get("reply_to"):
                    back = discord.MessageReference(
                        message_id=int(meta["reply_to"]), channel_id=int(fallback), fail_if_not_exists=False
                    )
                try:
                    await self.deliver(ChatRef(PLATFORM, fallback), instead, reference=back, language=lang)
                except (discord.HTTPException, aiohttp.ClientError, DeliveryUncertain, OSError) as exc:
                    log.warning("message non envoyé dans %s : %s", fallback, exc)
            raise
        for more in extra:
            try:
                await self.deliver(message.chat, more, language=lang)
            except (discord.HTTPException, aiohttp.ClientError, DeliveryUncertain, OSError) as exc:
                # The row's own message is out: a failed notice after it must not have the row sent again.
                log.warning("message non envoyé dans %s : %s", message.chat.chat_id, exc)

    async def _send_interaction(self, message: OutMessage, extra: list[Reply]) -> None:
        meta, reply = message.meta, message.reply
        hidden = bool(meta.get("hidden"))
        if not meta.get("token"):  # expired and scrubbed (`bot.tokens`): Discord would refuse it anyway
            await self._deliver_instead(message, extra)
            return
        webhook = discord.Webhook.from_state(
            {"id": int(meta["app"]), "type": 3, "token": meta["token"]},
            self.bot._connection,
        )
        parts: list[tuple[str, discord.ui.View | None]] = []
        for r in [reply, *extra]:
            texts = self.render_reply(r, meta.get("lang") or None) or ["…"]
            view = make_view(r)
            parts += [(text, view if n == len(texts) - 1 else None) for n, text in enumerate(texts)]
        none = discord.AllowedMentions.none()
        for n, (text, view) in enumerate(parts):
            more: dict[str, Any] = {"view": view} if view is not None else {}
            try:
                if n == 0 and meta.get("original") == "edit":
                    await webhook.edit_message(ORIGINAL, content=text, allowed_mentions=none, **more)
                else:
                    if n == 0 and meta.get("original") == "delete":
                        await webhook.delete_message(ORIGINAL)
                    await webhook.send(text, ephemeral=hidden, allowed_mentions=none, **more)
            except discord.NotFound:
                if n > 0:
                    raise DeliveryUncertain(f"réponse coupée après {n} partie(s)") from None
                # The interaction was never acknowledged (or is too old): nothing was shown.
                await self._deliver_instead(message, extra)
                return
            except (discord.HTTPException, *_NOT_SENT):
                if n > 0:
                    raise DeliveryUncertain(f"réponse coupée après {n} partie(s)") from None
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                # The error's name only: its text may hold the webhook's URL, and so the token.
                what = type(exc).__name__
                raise DeliveryUncertain(f"réponse à l'interaction {meta['interaction']} : {what}") from exc

    async def _deliver_instead(self, message: OutMessage, extra: list[Reply]) -> None:
        """The interaction cannot carry its answer (never deferred, or too old): nothing was shown. In
        private for the person's eyes, in the channel when public (the row's chat says which)."""
        log.info("Discord : interaction %s sans suite possible, réponse envoyée à part", message.meta["interaction"])
        lang = message.meta.get("lang", "")
        for r in [message.reply, *extra]:
            await self.deliver(message.chat, r, language=lang)

    # -- roles ----------------------------------------------------------------------------------------

    async def _grant(self, reply: Reply, user_id: str) -> bool:
        """The core let the person into Discord groups: give them the role that opens each channel.
        Returns True when a role could not be given (the person is told what to do)."""
        if not isinstance(reply, GateReply):
            return False
        failed = False
        for link in reply.join_links:
            if link.platform != PLATFORM:
                continue
            role = discord_events.channel_role(self.app, link.chat_id)
            if role is None:
                log.error("Discord : pas de guild_id/role_id configuré pour le salon %s", link.chat_id)
                failed = True
                continue
            failed = not await self._add_role(role, int(user_id)) or failed
        return failed

    async def _add_role(self, role: DiscordRole, user_id: int) -> bool:
        # By id, without fetching the member: no member cache, no members intent needed.
        try:
            await self.bot.http.add_role(int(role.guild_id), user_id, int(role.role_id), reason="Klub : compte relié")
        except discord.NotFound:
            log.info("Discord : %s n'est pas (encore) membre du serveur %s", user_id, role.guild_id)
            return False
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            log.error(
                "Discord : rôle %s non attribué à %s (le rôle du bot est-il au-dessus ?) : %s",
                role.role_id,
                user_id,
                exc,
            )
            return False
        return True

    async def execute(self, action: MemberAction) -> None:
        """Removal: take away the role of the channel; the person stays on the server, without access,
        and gets it back with a new invitation. "add" gives the role (for a future core decision)."""
        role = discord_events.channel_role(self.app, action.chat_id)
        if role is None:
            raise ValueError(f"salon Discord {action.chat_id} sans guild_id/role_id dans la configuration")
        guild_id, user_id, role_id = int(role.guild_id), int(action.user_id), int(role.role_id)
        if action.action == "remove":
            try:
                await self.bot.http.remove_role(guild_id, user_id, role_id, reason="Klub : accès retiré")
            except discord.NotFound:
                log.info("Discord : %s n'est plus sur le serveur %s", action.user_id, guild_id)
        elif action.action == "add":
            await self.bot.http.add_role(guild_id, user_id, role_id, reason="Klub : accès donné")
        else:
            raise ValueError(f"action inconnue : {action.action}")
