"""absl command lines run as installed console scripts (``whispersign-evaluate`` ...).

Every command parses its flags with absl: most on absl's global flags through ``run_absl``;
``extract`` and ``prepare`` on flags of their own (``parse_own_flags``), because their ``main``
is also called as a function, many times in one process.

absl's ``--help`` prints ``__main__``'s docstring and the flags of the module named
``sys.argv[0]``, then exits 1. Under a console script ``__main__`` is pip's stub and
``sys.argv[0]`` its path, so the help would list no flag; ``run_absl`` shows the command's
module docstring and flags instead, and exits 0 after help. Every command ends an expected
failure (``errors.EXPECTED_ERRORS``) in one line (``one_line_errors``).
"""

from __future__ import annotations

import logging as std_logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from absl import app, flags

from whispersign_jax.cli.flag_names import warn_absl_old_names
from whispersign_jax.errors import one_line, one_line_errors

BAD_FLAGS_STATUS = 2  # a flag or its value is wrong: like argparse and absl's app.run

HELP_FLAGS = ("help", "helpshort", "helpfull", "helpxml", "?")


def asks_for_help(argv: Sequence[str]) -> bool:
    """``--help`` (or another of absl's help flags) before any ``--``."""
    for arg in argv[1:]:
        if arg == "--":
            return False
        if arg.startswith("-") and arg.lstrip("-").split("=", 1)[0] in HELP_FLAGS:
            return True
    return False


class QuietLibraries(std_logging.Filter):
    """Drops the INFO chatter of checkpointing internals and JAX's probe for a TPU ("Unable
    to initialize backend 'tpu'"); warnings and errors still show."""

    NOISY = ("/orbax/", "/tensorstore/", "/jax/_src/xla_bridge.py")

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or not any(
            part in record.pathname for part in self.NOISY
        )


def quiet_libraries() -> None:
    """Every absl command's log without the libraries' INFO chatter (``QuietLibraries``);
    ``--verbosity=1`` shows everything."""
    from absl import logging

    if logging.get_verbosity() < logging.DEBUG:
        logging.get_absl_handler().addFilter(QuietLibraries())


def run_absl(main: Callable[[list[str]], object]) -> None:
    """``app.run(main)``, with the help of ``main``'s module (its docstring and key flags)."""
    module = sys.modules[main.__module__]
    for flag in flags.FLAGS.get_key_flags_for_module(module):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    script = sys.modules["__main__"]
    if not script.__doc__:
        script.__doc__ = module.__doc__
    started = False

    def started_main(argv: list[str]) -> object:
        nonlocal started
        started = True
        warn_absl_old_names()
        quiet_libraries()
        try:
            return one_line_errors(main)(argv)
        except app.UsageError as error:  # absl would print the whole help above it
            usage_error(f"{one_line(error)} (--help lists the flags)")

    try:
        app.run(started_main, flags_parser=parse_global_flags)
    except SystemExit as exit_:
        if not started and exit_.code == 1 and asks_for_help(sys.argv):
            raise SystemExit(0) from None  # help was asked for and given: not an error
        raise
    except (AttributeError, KeyError) as error:
        if started:
            raise
        # ml_collections, parsing --config.a.b=v: the config has no field of that name.
        while error.args and isinstance(error.args[0], (AttributeError, KeyError)):
            error = error.args[0]  # AttributeError(KeyError("'name'\nDid you mean ..."))
        text = one_line(error.args[0] if error.args else error)
        raise SystemExit(
            f"error: the config has no field {text} (set by a --config.… flag): check its "
            "spelling against the config file, which lists every field."
        ) from None


def parse_global_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing for ``app.run``, with a wrong flag ending the command in one line,
    exit status 2 (absl's own prints "FATAL Flags parsing error" and a hint, status 1)."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        usage_error(f"{one_line(error)} (--help lists the flags)")


def usage_error(message: str) -> NoReturn:
    """Ends the command: ``error: message`` on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(BAD_FLAGS_STATUS)


def parse_own_flags(
    define: Callable[[flags.FlagValues], None], argv: Sequence[str] | None, doc: str
) -> flags.FlagValues:
    """Flags defined by ``define`` on a ``FlagValues`` of their own, parsed from ``argv``
    (default: the command line). ``--help`` prints ``doc`` and the flags and exits 0; a wrong
    flag exits 2 with one line naming it; an old flag name warns (``flag_names``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    values = flags.FlagValues()
    define(values)
    if asks_for_help(["", *argv]):
        listing = values.get_help(include_special_flags=False).splitlines()
        listing = [line for line in listing if line.startswith(" ")]  # not the module names
        print("\n".join([doc.strip(), "", "flags:", *listing]))
        raise SystemExit(0)
    try:
        rest = values(["", *argv])
    except flags.Error as error:
        usage_error(one_line(error))
    if rest[1:]:
        usage_error(f"unexpected arguments {rest[1:]}; every setting is a --flag (see --help)")
    warn_absl_old_names(values)
    return values
