"""Command line entry point. Each command lives in its own module, which adds its options with
`register(sub, common)`; COMMANDS below says which module that is, so a run imports only the module
of the command it runs.

The error contract (vecdash.errors) is mapped to exit codes here and nowhere else: a UserError
prints one line and exits 2, a PodError one line and exit 1, and so does anything unexpected (a bug):
no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Coroutine

from vecdash import __version__
from vecdash.errors import PodError, UserError
from vecdash.lines import first_line, one_line

# Every command, in `vecdash --help` order -> the module of vecdash.cli whose `register(sub, common)`
# adds it (with its options and handler). Only the module of the command that runs is imported: a cron
# job running `vecdash status` does not pay for numpy and every service. A new command is one line here
# (tests/test_cli_startup.py checks the table against the modules).
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "status": "status",
    "wire": "wire",
    "unwire": "wire",
    "verify": "wire",
    "doctor": "doctor",
    "collection": "collection",
    "query": "query",
    "browse": "browse",
    "keys": "keys",
    "load": "load",
    "index": "index",
    "recall": "recall",
    "maintain": "maintain",
    "across": "across",
    "activity": "activity",
    "why": "why",
    "replay": "replay",
}


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


def _parser(modules: set[str], probe: bool = False) -> _Parser:
    """The top-level parser; the commands of `modules` are registered by their modules, every other
    command is a bare placeholder (it does not run, so its options are not needed).

    A `probe` parser only finds the command: no help action (a top-level -h/--help is recorded as
    `top_help`) and it is used with parse_known_args, so the placeholders swallow any options.
    """
    parser = _Parser(prog="vecdash", description="Console for pgvector collections spread over PostgreSQL pods.",
                     parents=[_common(False)], add_help=not probe)
    if probe:
        parser.add_argument("-h", "--help", action="store_true", dest="top_help")
    parser.add_argument("--version", action="version", version=f"vecdash {__version__}")
    parser.add_argument("--refresh", type=float, metavar="SECONDS", help="auto-refresh interval of the console")
    parser.add_argument("--record", metavar="FILE",
                        help="append each console refresh to FILE (no secrets); `vecdash replay FILE` shows it")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = _common(True)
    for name, module in COMMANDS.items():
        if module not in modules:
            sub.add_parser(name, add_help=False)
        elif name not in sub.choices:  # a module may register several commands (wire, unwire, verify)
            importlib.import_module(f"vecdash.cli.{module}").register(sub, common)
    return parser


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`, importing only the command modules it needs: the module of the command
    argv names, none when it names none (the console), all for the top-level help or without argv.

    argparse itself finds the command (abbreviated options, `--config=F`, a config file named like a
    command), with a probe parser whose commands are all placeholders.
    """
    every = set(COMMANDS.values())
    if argv is None:
        return _parser(every)
    found, _ = _parser(set(), probe=True).parse_known_args(argv)
    if found.top_help:
        return _parser(every)
    return _parser({COMMANDS[found.command]} if found.command else set())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    try:
        if handler is None:
            from vecdash.cli.console import open_console

            return open_console(args)
        result = handler(args)
        if isinstance(result, Coroutine):
            import asyncio  # here, not at the top: --version and --help do not pay for it

            result = asyncio.run(result)
        return int(result or 0)
    except UserError as exc:
        print(f"vecdash: error: {_shown(exc)}", file=sys.stderr)
        return exc.exit_code
    except PodError as exc:
        # a pod down, hung or refusing is a state, not a crash: one line, exit 1 (as `status` does)
        print(f"vecdash: error: {_shown(exc)}", file=sys.stderr)
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


def _shown(exc: BaseException) -> str:
    """An error as the one line the CLI prints: escaped, and masked once more here (errors mask their
    message when made; this is the last place text leaves vecdash)."""
    from vecdash.secrets import mask_text

    return one_line(mask_text(str(exc)))
