"""The `--config FILE` / `--set key=value` options every command that loads a config shares.

    add_config_options(parser)      # adds --config and --set (dest "overrides")
    config = config_from_args(args)  # configs/default.yaml, then --config, then each --set
"""

from __future__ import annotations

import argparse


def add_config_options(parser: argparse.ArgumentParser, example: str = "vad.hangover_ms=500") -> None:
    """Add `--config FILE` (layered over configs/default.yaml) and repeatable `--set KEY=VALUE`."""
    parser.add_argument("--config", help="YAML file layered over configs/default.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override one config value, e.g. --set {example} (repeatable)")


def config_from_args(args: argparse.Namespace):
    """The `Config` the parsed `--config` / `--set` options name (raises `ConfigError` if invalid)."""
    from voice_livemind.config import load_config  # lazy: `--help` does not import yaml and the schema

    return load_config(getattr(args, "config", None), getattr(args, "overrides", None) or [])
