"""The command line's argument parser: argparse's, which also names the closest option to a misspelt one."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import Any


class MerautoParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` (and, through ``add_subparsers``, every sub-command's) that refuses an
    unknown option naming the closest known one of the same command: ``--budjet`` -> ``--budget``."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> tuple[Any, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        unknown = [arg.split("=", 1)[0] for arg in extras if arg.startswith("-")]
        if unknown:  # merauto never takes unknown arguments: say so here, where this command's options are known
            self.error(f"unrecognized arguments: {' '.join(extras)}\n  fix: {self.suggest(unknown)}")
        return parsed, extras

    def suggest(self, unknown: list[str]) -> str:
        """What to pass instead of the ``unknown`` options: the closest option of this command, or its help."""
        known = [option for action in self._actions for option in action.option_strings if option.startswith("--")]
        close = [match for option in unknown for match in difflib.get_close_matches(option, known, n=1, cutoff=0.6)]
        if close:
            return f"did you mean {' or '.join(dict.fromkeys(close))}?"
        return f"see {self.prog} --help for the options"
