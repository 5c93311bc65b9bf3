"""Shared pieces of the `klub` command line."""

from __future__ import annotations

import argparse
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


def check_output(target: str) -> Path:
    """Refuse an output path that cannot be written, before any work or audit entry is done."""
    path = Path(target)
    if path.is_dir():
        raise CliError(f"{path} : c'est un dossier, attendu un nom de fichier (-o dossier/fichier.csv)")
    if not path.parent.is_dir():
        raise CliError(f"{path} : le dossier {path.parent} n'existe pas")
    return path


def write_output(target: str, data: bytes) -> Path:
    path = check_output(target)
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"{path} : écriture impossible ({exc.strerror or exc})") from exc
    return path


def check_web_secret(config: Config) -> None:
    """Before anything starts: the dashboard's signing secret is required behind https, and long enough."""
    from bot.web.auth import SecretError, secret_from

    try:
        secret_from(config.web)
    except SecretError as exc:
        raise CliError(str(exc)) from exc
