"""Command line entry point. Each command lives in its own module and registers itself here.

The error contract (vecdash.errors) is mapped to exit codes here and nowhere else: a UserError
prints one line and exits 2, a PodError one line and exit 1, and so does anything unexpected (a bug):
no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from vecdash import __version__
from vecdash.errors import PodError, UserError
from vecdash.lines import first_line, one_line

# Every module in this package that defines `register(sub, common)` adds its commands; its
# `ORDER` (default 100) places them in --help. No central list to edit when a command is added.
SUPPORT_MODULES = {"context", "output", "console"}


def command_modules() -> list[str]:
    import pkgutil

    import vecdash.cli as pkg

    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in SUPPORT_MODULES]
    mods = [importlib.import_module(f"vecdash.cli.{n}") for n in names]
    mods = [m for m in mods if hasattr(m, "register")]
    return [m.__name__ for m in sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))]


def _common(suppress: bool) -> argparse.ArgumentParser:
    """--config / --read-only accepted before or after the command name."""
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", metavar="FILE", default=default,
                   help="config file (default: $VECDASH_CONFIG, ./vecdash.yaml, ~/.config/vecdash/config.yaml)")
    p.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="open every session read-only (the server refuses writes); overrides the config")
    return p


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


_VALUE_OPTIONS = {"--config", "--refresh"}


def _names_a_command(argv: list[str]) -> bool:
    """Whether argv holds a command word (or asks for help): otherwise it opens the console.

    Lets `vecdash [--config F] [--read-only] [--refresh S]` skip importing every command module
    (numpy, services) before the first frame is painted.
    """
    skip = False
    for tok in argv:
        if skip:
            skip = False
            continue
        if tok in ("-h", "--help", "--version"):
            return True
        if tok in _VALUE_OPTIONS:
            skip = True
            continue
        if not tok.startswith("-"):
            return True
    return False


def build_parser(with_commands: bool = True) -> argparse.ArgumentParser:
    parser = _Parser(prog="vecdash", description="Console for pgvector collections spread over PostgreSQL pods.",
                     parents=[_common(False)])
    parser.add_argument("--version", action="version", version=f"vecdash {__version__}")
    parser.add_argument("--refresh", type=float, metavar="SECONDS", help="auto-refresh interval of the console")
    if not with_commands:
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _common(True)
    for name in command_modules():
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(with_commands=_names_a_command(argv))
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    try:
        if handler is None:
            from vecdash.cli.console import open_console

            return open_console(args)
        result = handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except UserError as exc:
        print(f"vecdash: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except PodError as exc:
        # a pod down, hung or refusing is a state, not a crash: one line, exit 1 (as `status` does)
        print(f"vecdash: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vecdash: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, never a traceback
        print(f"vecdash: error: {unexpected(exc)}", file=sys.stderr)
        return 1


def unexpected(exc: BaseException) -> str:
    """One masked line for an exception no layer classified.

    A server error that escaped its service is still the server's answer (exit 1, like PodError).
    Anything else is a bug in vecdash: exit 1 too, since it cannot be said that nothing ran, and the
    line asks for a report. VECDASH_TRACEBACK=1 shows the traceback instead, for that report.
    """
    import os

    from vecdash.secrets import mask_text

    if os.environ.get("VECDASH_TRACEBACK"):
        import traceback

        traceback.print_exc()
    text = first_line(str(exc))
    module = type(exc).__module__ or ""
    if module.startswith("psycopg"):
        return one_line(mask_text(f"the server refused or failed: {text or type(exc).__name__}"))
    return one_line(mask_text(f"internal error ({type(exc).__name__}: {text[:200]}); this is a bug in vecdash, "
                              "please report it with the command you ran (VECDASH_TRACEBACK=1 shows where)"))
