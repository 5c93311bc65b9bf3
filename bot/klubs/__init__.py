"""Klub sessions beyond creation and registration (those live in `bot.clubs`): changes to a planned
session and what follows from them — seats freed, questions carried over, people withdrawn."""
