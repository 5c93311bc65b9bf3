"""Discord's events as the core's messages (`Incoming`): who speaks, where, and what they typed."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import discord

from adapters import discord_commands
from adapters.discord_commands import VERIFY, SlashTable
from bot.commands import CommandTable
from bot.messages import ChatRef, Incoming, UserRef

PLATFORM = "discord"


def chat_of(channel: Any, channel_id: int | None, guild_id: int | None, user_id: int) -> ChatRef:
    if guild_id is None or channel_id is None:
        return ChatRef(PLATFORM, str(user_id), private=True)  # a DM (or a private exchange): the person
    # A thread belongs to the group of the channel it was opened in.
    parent = channel.parent_id if isinstance(channel, discord.Thread) else None
    title = getattr(channel, "name", "") or ""
    return ChatRef(PLATFORM, str(parent or channel_id), title=title)


def user_of(user: discord.abc.User, locale: discord.Locale | None = None) -> UserRef:
    language = locale.value if locale else None
    return UserRef(PLATFORM, str(user.id), display_name=user.display_name, language=language)


def from_interaction(interaction: discord.Interaction, slashes: SlashTable) -> tuple[Incoming | None, bool]:
    """The interaction as the core's message, and whether the exchange is private (/verifier)."""
    data: Mapping[str, Any] = interaction.data or {}
    if interaction.type == discord.InteractionType.component:
        text, private, via_button = str(data.get("custom_id", "")), False, True
    elif interaction.type in (discord.InteractionType.application_command, discord.InteractionType.autocomplete):
        slash = slashes.find(str(data.get("name", "")))
        if slash is None:
            return None, False
        values, _, _ = discord_commands.option_values(data)
        text, private, via_button = slash.text(values), slash.private, False
    else:
        return None, False
    if not text:
        return None, False
    # `private`: the code of /verifier never shows in the channel, and the core sees a private chat.
    channel_id = None if private else interaction.channel_id
    incoming = Incoming(
        chat=chat_of(interaction.channel, channel_id, interaction.guild_id, interaction.user.id),
        user=user_of(interaction.user, interaction.locale),
        text=text,
        mentions_bot=True,
        via_button=via_button,
        message_id=str(interaction.id),
        hides_personal=True,  # an ephemeral answer shows to the speaker alone
        can_leave=False,  # a bot cannot leave one channel of a server
    )
    return incoming, private


def from_message(message: discord.Message, me: int, mentioned: bool, table: CommandTable) -> Incoming:
    """A DM, or a channel message that mentions Klub (or any, with the message-content intent)."""
    private = message.guild is None
    text = re.sub(rf"<@!?{me}>", "", message.content)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    head, _, rest = text.partition(" ")
    if private and head.lower() in (f"/{VERIFY}", "/verify") and table.find(VERIFY) is None:
        text = f"/start {rest}".strip()  # typed in a DM: the same as the slash command
    return Incoming(
        chat=chat_of(
            message.channel, message.channel.id, message.guild.id if message.guild else None, message.author.id
        ),
        user=user_of(message.author),
        text=text,
        mentions_bot=private or mentioned,
        message_id=str(message.id),
        can_leave=False,
    )
