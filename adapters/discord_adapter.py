"""Discord, through discord.py 2: slash commands, mentions, DMs and buttons in; replies, outbox messages
and role changes out.

The adapter converts and renders; it decides nothing. What to answer is `Core.handle`'s call; who is
let in is the gate's (a `GateReply` naming Discord groups: the adapter grants the role configured for
each group); who is removed comes from the outbox (`MemberAction`: the adapter removes the roles).

Delivery rules for the outbox: discord.py already waits out 429s and retries 5xx answers; a failure
that certainly did not reach Discord (refused connection, 4xx, 5xx) is reported "failed", one that may
have reached it (timeout, dropped connection, a message half sent) "uncertain". Either way it is never
sent again: an outbox message is acknowledged once, after Discord accepted it.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp

with warnings.catch_warnings():
    # discord.py imports audioop for voice (deprecated in 3.11, gone in 3.13); Klub has no voice.
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord
from discord import app_commands

from adapters.base import Adapter, AdapterSetupError
from adapters.render import split_message, to_plain
from bot.bootstrap import App
from bot.commands import Command
from bot.config import DiscordConfig, GroupConfig
from bot.i18n import pick_language, t
from bot.messages import ChatRef, GateReply, Incoming, MemberAction, OutMessage, Reply, UserRef

log = logging.getLogger(__name__)

PLATFORM = "discord"
MAX_MESSAGE = 2000  # characters
MAX_CUSTOM_ID = 100  # characters
MAX_DESCRIPTION = 100  # slash command and option descriptions
MAX_LABEL = 80  # button labels
VERIFY = "verifier"  # Discord's own way in: /verifier CODE, the same as Telegram's /start CODE
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")  # what we accept as a slash command name
_TAG = re.compile(r'<a href="([^"]*)">|</a>|</?(?:b|i|u|s|code|pre)>')
_MARK = {"b": "**", "i": "*", "u": "__", "s": "~~", "code": "`", "pre": "```"}
_NOT_SENT = (aiohttp.ClientConnectorError,)  # the request never left this machine


class DiscordSetupError(AdapterSetupError):
    """The adapter cannot start: a clear French line (never containing the token)."""


class DeliveryUncertain(Exception):
    """The message may have reached Discord (or part of it did): sending again could duplicate it."""


def read_token(cfg: DiscordConfig, env: Mapping[str, str]) -> str:
    token = env.get(cfg.token_env, "").strip()
    if not token:
        raise DiscordSetupError(f"la variable d'environnement {cfg.token_env} (jeton du bot Discord) n'est pas définie")
    return token


# -- rendering ----------------------------------------------------------------------------------------


def _text(raw: str) -> str:
    """A run of the core's escaped text as Discord Markdown: literal, nobody pinged."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(html.unescape(raw)))


def render(text: str) -> str:
    """The core's HTML subset as Discord Markdown; user text cannot inject formatting or mentions."""
    out: list[str] = []
    pos = 0
    in_code = False
    link: str | None = None  # the target of the <a> being rendered
    title: list[str] = []
    for m in _TAG.finditer(text):
        chunk = text[pos : m.start()]
        pos = m.end()
        piece = html.unescape(chunk).replace("`", "ˋ") if in_code else _text(chunk)
        (title if link is not None else out).append(piece)
        tag = m.group(0)
        if m.group(1) is not None:  # <a href="...">
            link, title = html.unescape(m.group(1)), []
            continue
        if tag == "</a>":
            if link is not None:
                label = "".join(title)
                if not label.strip() or discord.utils.remove_markdown(label) == link:
                    out.append(f"<{link}>")
                else:
                    out.append(f"[{label.replace(']', '')}](<{link}>)")
            link = None
            continue
        name = tag.strip("</>")
        if name in ("code", "pre"):
            in_code = not tag.startswith("</")
        mark = _MARK[name]
        if name == "pre":
            mark = "```\n" if not tag.startswith("</") else "\n```"
        (title if link is not None else out).append(mark)
    tail = text[pos:]
    out.append(html.unescape(tail) if in_code else _text(tail))
    return "".join(out).strip()


def split(text: str) -> list[str]:
    return [part for part in split_message(text, MAX_MESSAGE) if part.strip()]


def label(text: str) -> str:
    plain = to_plain(text).strip() or "…"
    return plain if len(plain) <= MAX_LABEL else plain[: MAX_LABEL - 1] + "…"


def description(text: str) -> str:
    plain = " ".join(to_plain(text).split()) or "…"
    return plain if len(plain) <= MAX_DESCRIPTION else plain[: MAX_DESCRIPTION - 1] + "…"


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


# -- slash command names and localisations --------------------------------------------------------------


class _Translator(app_commands.Translator):
    """Localised names and descriptions come with each string (locale_str extras: {"en": ...})."""

    async def translate(
        self, string: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        lang = pick_language(locale.value)
        if lang == "fr" and not locale.value.startswith("fr"):
            return None
        value = string.extras.get(lang)
        return str(value) if value else None


def _localised(fr: str, en: str | None) -> app_commands.locale_str:
    return app_commands.locale_str(fr, en=en) if en and en != fr else app_commands.locale_str(fr)


def slash_name(cmd: Command) -> str | None:
    name = cmd.name.lower()
    return name if _NAME.match(name) else None


def english_name(cmd: Command) -> str | None:
    for alias in cmd.aliases:
        if _NAME.match(alias.lower()) and alias.isascii():
            return alias.lower()
    return None


# -- the adapter --------------------------------------------------------------------------------------


class DiscordAdapter(Adapter):
    name: ClassVar[str] = PLATFORM

    def __init__(self, app: App, *, env: Mapping[str, str] | None = None, guild_ready_timeout: float = 2.0) -> None:
        self.app = app
        self.cfg = app.config.adapters.discord
        self._token = read_token(self.cfg, dict(os.environ) if env is None else env)
        self.guild_ready_timeout = guild_ready_timeout
        self.client: discord.Client | None = None
        self.tree: app_commands.CommandTree[discord.Client] | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._sender_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def _build(self) -> discord.Client:
        intents = discord.Intents.default()  # no message_content: mentions and DMs still carry text
        intents.message_content = False
        client = discord.Client(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=self.guild_ready_timeout,
        )
        tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
        for command in self.slash_commands():
            tree.add_command(command)
        client.setup_hook = self._setup_hook  # type: ignore[method-assign]
        client.event(self.on_message)
        client.event(self.on_interaction)
        self.tree = tree
        return client

    async def _setup_hook(self) -> None:
        """After login, before the gateway: publish the slash commands to each configured server."""
        assert self.tree is not None
        await self.tree.set_translator(_Translator())
        if not self.cfg.guild_ids:
            # No server listed: global commands (they also work in DMs, but take a while to appear).
            try:
                await self.tree.sync()
            except discord.HTTPException as exc:
                log.warning("Discord : commandes globales non publiées : %s", exc)
        for guild_id in self.cfg.guild_ids:
            guild = discord.Object(int(guild_id))
            self.tree.copy_global_to(guild=guild)
            try:
                synced = await self.tree.sync(guild=guild)
            except discord.HTTPException as exc:
                log.warning("Discord : commandes non publiées sur le serveur %s : %s", guild_id, exc)
            else:
                log.info("Discord : %d commandes publiées sur le serveur %s", len(synced), guild_id)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        client = self._build()
        try:
            await client.login(self._token)
        except discord.LoginFailure as exc:
            await client.close()
            raise DiscordSetupError(f"jeton refusé par Discord (vérifiez {self.cfg.token_env})") from exc
        except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
            await client.close()
            raise DiscordSetupError(f"connexion à l'API Discord impossible ({type(exc).__name__})") from exc
        except BaseException:
            await client.close()
            raise
        self.client = client
        self._connect_task = asyncio.create_task(self._connect(client), name="discord-gateway")
        if not self._listening:
            self.app.outbox.listen(self._on_outbox)
            self._listening = True
        self._closing = False
        self._sender_task = asyncio.create_task(self._send_outbox(), name="discord-outbox")
        self._wake.set()  # whatever was queued before we started
        log.info("Discord : %s connecté", client.user)

    async def _connect(self, client: discord.Client) -> None:
        try:
            await client.connect(reconnect=True)
        except asyncio.CancelledError:
            raise
        except Exception:
            if not client.is_closed():
                log.exception("Discord : connexion à la passerelle perdue")

    async def wait_until_ready(self, timeout: float = 10) -> None:
        assert self.client is not None
        await asyncio.wait_for(self.client.wait_until_ready(), timeout)

    async def stop(self) -> None:
        self._closing = True
        if self._sender_task is not None:
            self._wake.set()
            try:
                # Let the message being sent finish: cancelling mid-request could duplicate it later.
                await asyncio.wait_for(self._sender_task, timeout=30)
            except TimeoutError:
                log.warning("Discord : envoi de la file interrompu à l'arrêt")
            self._sender_task = None
        client, self.client = self.client, None
        if client is not None:
            await client.close()
        task, self._connect_task = self._connect_task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()

    @property
    def bot(self) -> discord.Client:
        assert self.client is not None, "adaptateur Discord non démarré"
        return self.client

    # -- slash commands -------------------------------------------------------------------------------

    def slash_commands(self) -> list[app_commands.Command[Any, Any, None]]:
        """One slash command per menu command of the core, plus /verifier; French names, English
        localisations; everything after the name travels in the optional "arguments" option."""
        out: list[app_commands.Command[Any, Any, None]] = []
        seen: set[str] = set()
        for cmd in self.app.core.table.all():
            name = slash_name(cmd)
            if not cmd.menu or name is None or name in seen:
                continue
            seen.add(name)
            desc_fr = description(t("fr", cmd.description_key))
            desc_en = description(t("en", cmd.description_key))
            out.append(self._slash(name, english_name(cmd), desc_fr, desc_en))
        if VERIFY not in seen and self.app.core.table.find(VERIFY) is None:
            out.append(
                self._slash(
                    VERIFY,
                    "verify",
                    description(t("fr", "discord.cmd_verifier")),
                    description(t("en", "discord.cmd_verifier")),
                    core_name="start",
                )
            )
        return out

    def _slash(
        self, name: str, en_name: str | None, desc_fr: str, desc_en: str, *, core_name: str | None = None
    ) -> app_commands.Command[Any, Any, None]:
        target = core_name or name

        async def callback(interaction: discord.Interaction, arguments: str | None = None) -> None:
            await self.on_slash(interaction, target, arguments or "")

        app_commands.describe(
            arguments=_localised(description(t("fr", "discord.arguments")), description(t("en", "discord.arguments")))
        )(callback)
        return app_commands.Command(
            name=_localised(name, en_name), description=_localised(desc_fr, desc_en), callback=callback
        )

    # -- events in ------------------------------------------------------------------------------------

    def _chat(self, channel_id: int | None, guild_id: int | None, user_id: int, title: str = "") -> ChatRef:
        if guild_id is None or channel_id is None:
            return ChatRef(PLATFORM, str(user_id), private=True)  # a DM: the chat is the person
        return ChatRef(PLATFORM, str(channel_id), title=title)

    def _user(self, user: discord.abc.User, locale: discord.Locale | None = None) -> UserRef:
        language = locale.value if locale else None
        return UserRef(PLATFORM, str(user.id), display_name=user.display_name, language=language)

    async def on_slash(self, interaction: discord.Interaction, name: str, arguments: str) -> None:
        text = f"/{name} {arguments.strip()}".strip()
        incoming = Incoming(
            chat=self._chat(interaction.channel_id, interaction.guild_id, interaction.user.id),
            user=self._user(interaction.user, interaction.locale),
            text=text,
            message_id=str(interaction.id),
        )
        await self._answer_interaction(interaction, incoming)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button presses (application commands go through the command tree)."""
        if interaction.type != discord.InteractionType.component or interaction.data is None:
            return
        custom_id = str(interaction.data.get("custom_id", ""))
        if not custom_id:
            return
        incoming = Incoming(
            chat=self._chat(interaction.channel_id, interaction.guild_id, interaction.user.id),
            user=self._user(interaction.user, interaction.locale),
            text=custom_id,
            via_button=True,
            message_id=str(interaction.id),
        )
        await self._answer_interaction(interaction, incoming)

    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if message.author.bot or me is None or message.author.id == me.id:
            return
        private = message.guild is None
        mentioned = any(u.id == me.id for u in message.mentions)
        if not (private or mentioned):
            return  # without the message_content intent, nothing else carries text anyway
        text = re.sub(rf"<@!?{me.id}>", "", message.content)
        text = re.sub(r"[ \t]{2,}", " ", text).strip()
        title = getattr(message.channel, "name", "") or ""
        incoming = Incoming(
            chat=self._chat(message.channel.id, message.guild.id if message.guild else None, message.author.id, title),
            user=self._user(message.author),
            text=text,
            mentions_bot=True,
            message_id=str(message.id),
        )
        replies = self.app.core.handle(incoming)
        for reply in replies:
            await self._grant(reply, incoming.user.user_id)
            try:
                if reply.private and not private:
                    try:
                        await self.deliver(ChatRef(PLATFORM, incoming.user.user_id, private=True), reply)
                    except discord.Forbidden:
                        lang = pick_language(incoming.user.language, self.app.config.language)
                        await self.deliver(incoming.chat, Reply(t(lang, "discord.private_failed")), reference=message)
                else:
                    await self.deliver(incoming.chat, reply, reference=None if private else message)
            except (discord.HTTPException, aiohttp.ClientError, DeliveryUncertain, OSError) as exc:
                log.error("réponse non envoyée dans %s : %s", incoming.chat.chat_id, exc)
            self._log_unconfigured(reply, incoming)

    async def _answer_interaction(self, interaction: discord.Interaction, incoming: Incoming) -> None:
        replies = self.app.core.handle(incoming)
        if not replies:
            lang = pick_language(incoming.user.language, self.app.config.language)
            replies = [Reply(t(lang, "discord.no_reply"), private=True)]
        first = True
        for reply in replies:
            await self._grant(reply, incoming.user.user_id)
            ephemeral = reply.private and not incoming.chat.private
            parts = split(render(reply.text)) or ["…"]
            view = make_view(reply)
            for n, part in enumerate(parts):
                extra: dict[str, Any] = {"view": view} if view is not None and n == len(parts) - 1 else {}
                try:
                    if first and not interaction.response.is_done():
                        await interaction.response.send_message(
                            part, ephemeral=ephemeral, allowed_mentions=discord.AllowedMentions.none(), **extra
                        )
                    else:
                        await interaction.followup.send(
                            part, ephemeral=ephemeral, allowed_mentions=discord.AllowedMentions.none(), **extra
                        )
                except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                    log.error("réponse à l'interaction %s non envoyée : %s", interaction.id, exc)
                    return
                first = False
            self._log_unconfigured(reply, incoming)

    def _log_unconfigured(self, reply: Reply, incoming: Incoming) -> None:
        if reply.leave_chat and not incoming.chat.private:
            # The one place an operator learns a channel's id: say it in the log (the bot stays).
            log.info(
                "Discord : salon non configuré %s (« %s ») ; ajoutez ce chat_id à la configuration",
                incoming.chat.chat_id,
                incoming.chat.title,
            )

    # -- roles ----------------------------------------------------------------------------------------

    def _groups(self) -> list[tuple[str, GroupConfig]]:
        return [(office.id, g) for office in self.app.config.offices for g in office.groups if g.platform == PLATFORM]

    def _group(self, chat_id: str) -> tuple[str, GroupConfig] | None:
        return next(((o, g) for o, g in self._groups() if g.chat_id == chat_id), None)

    async def _grant(self, reply: Reply, user_id: str) -> None:
        """The core let the person into Discord groups: give them the role that opens each channel."""
        if not isinstance(reply, GateReply):
            return
        for link in reply.join_links:
            if link.platform != PLATFORM:
                continue
            found = self._group(link.chat_id)
            if found is None or not found[1].role_id or not found[1].guild_id:
                log.error("Discord : pas de guild_id/role_id configuré pour le salon %s", link.chat_id)
                continue
            group = found[1]
            assert group.guild_id is not None and group.role_id is not None
            try:
                await self.bot.http.add_role(int(group.guild_id), int(user_id), int(group.role_id), reason="Klub")
            except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
                log.error(
                    "Discord : rôle %s non attribué à %s (le rôle du bot est-il au-dessus ?) : %s",
                    group.role_id,
                    user_id,
                    exc,
                )

    async def execute(self, action: MemberAction) -> None:
        """Removal: take away the roles of the office's Discord groups; the person stays on the server
        and gets access back with a new invitation."""
        if action.action != "remove":
            raise ValueError(f"action inconnue : {action.action}")
        found = self._group(action.chat_id)
        if found is None:
            raise ValueError(f"salon Discord {action.chat_id} absent de la configuration")
        office_id, group = found
        roles = {
            (g.guild_id, g.role_id)
            for o, g in self._groups()
            if o == office_id and g.guild_id == group.guild_id and g.guild_id and g.role_id
        }
        for guild_id, role_id in sorted((str(a), str(b)) for a, b in roles):
            try:
                await self.bot.http.remove_role(int(guild_id), int(action.user_id), int(role_id), reason="Klub")
            except discord.NotFound:
                log.info("Discord : %s n'est plus sur le serveur %s", action.user_id, guild_id)

    # -- messages out ---------------------------------------------------------------------------------

    async def send(self, chat: ChatRef, reply: Reply) -> None:
        await self.deliver(chat, reply)

    async def _channel(self, chat: ChatRef) -> discord.abc.Messageable:
        if chat.private:
            return await self.bot.create_dm(discord.Object(int(chat.chat_id)))
        return self.bot.get_partial_messageable(int(chat.chat_id))

    async def deliver(self, chat: ChatRef, reply: Reply, *, reference: discord.Message | None = None) -> None:
        """Render and send one reply (split under 2,000 characters; buttons on the last part).
        Raises DeliveryUncertain when the message may be on Discord, wholly or in part."""
        parts = split(render(reply.text))
        if not parts:
            return
        channel = await self._channel(chat)
        view = make_view(reply)
        for n, part in enumerate(parts):
            extra: dict[str, Any] = {}
            if view is not None and n == len(parts) - 1:
                extra["view"] = view
            if reference is not None and n == 0:
                extra["reference"] = reference.to_reference(fail_if_not_exists=False)
                extra["mention_author"] = False
            try:
                await channel.send(part, allowed_mentions=discord.AllowedMentions.none(), **extra)
            except (discord.HTTPException, *_NOT_SENT):
                if n > 0:
                    raise DeliveryUncertain(f"message coupé après {n} partie(s) dans {chat.chat_id}") from None
                raise
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise DeliveryUncertain(f"envoi dans {chat.chat_id} : {type(exc).__name__}") from exc

    # -- the outbox -----------------------------------------------------------------------------------

    def _on_outbox(self, platform: str) -> None:
        # May be called from another thread (a scheduler): wake the sender through the loop.
        if platform != PLATFORM or self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _send_outbox(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush_outbox()
            if self._closing:
                return

    async def flush_outbox(self) -> tuple[int, int]:
        """Send what the outbox holds for Discord; returns (sent, failed)."""
        sent = failed = 0
        for message in self.app.outbox.drain(PLATFORM):
            if await self._deliver_out(message):
                sent += 1
            else:
                failed += 1
        return sent, failed

    async def _deliver_out(self, message: OutMessage) -> bool:
        action = MemberAction.from_out(message)
        try:
            if action is not None:
                await self.execute(action)
            else:
                await self.deliver(message.chat, message.reply)
        except DeliveryUncertain as exc:
            log.warning("envoi incertain, non répété (jamais deux fois) : %s", exc)
            self.app.outbox.fail(message, "uncertain")
            return False
        except Exception as exc:
            log.error("message de la file non envoyé dans %s : %s", message.chat.chat_id, exc)
            self.app.outbox.fail(message, "failed")
            return False
        try:
            self.app.outbox.ack(message)
        except Exception:
            log.exception("accusé d'envoi en échec pour %s", message.chat.chat_id)
        return True


__all__ = [
    "DeliveryUncertain",
    "DiscordAdapter",
    "DiscordSetupError",
    "make_view",
    "read_token",
    "render",
    "split",
]
