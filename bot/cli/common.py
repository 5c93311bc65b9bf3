"""Shared pieces of the `klub` command line."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bot.config import Config, ConfigError, default_config_path, load_config


class CliError(Exception):
    """A user mistake on the command line: printed as one line, exit code 2, no traceback."""


def config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if getattr(args, "config", None) else default_config_path()


def load(args: argparse.Namespace) -> Config:
    try:
        return load_config(config_path(args))
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def redact(url: str) -> str:
    """Database URLs may carry a password: never print it."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
