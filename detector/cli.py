"""Command line: parse arguments, build the app, run it. Nothing else lives here.

Exit status: 0 ok, 1 runtime failure, 2 bad usage, config or input. A user's
mistake is one line on stderr (``file:line: problem``), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from detector import __version__
from detector.config import load_config
from detector.decode.formats import FORMATS
from detector.errors import ConfigError, UserError
from detector.model import Severity
from detector.telemetry.logs import configure as configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detector",
        description="Find known failures, rate spikes and new errors in log streams, "
                    "and deliver them as incidents with runbooks.")
    parser.add_argument("--version", action="version", version=f"detector {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("-c", "--config", type=Path, help="config file (TOML)")

    replay = commands.add_parser(
        "replay", parents=[with_config],
        help="run the pipeline over files (event time, as fast as possible)",
        description="Run the daemon's pipeline over log files: - is stdin, .gz is read "
                    "transparently, globs expand oldest first. Prints incident events.")
    replay.add_argument("paths", nargs="+", metavar="PATH")
    replay.add_argument("--format", choices=FORMATS, default="auto",
                        help="input format (default: auto, per line)")
    replay.add_argument("--output", choices=("text", "jsonl"), default="text",
                        help="text: a table at the end; jsonl: incident events as they happen")
    replay.add_argument("--service", help="service name for every line (overrides the lines)")
    replay.add_argument("--since", metavar="WHEN",
                        help="show incident events from this event time on (ISO-8601, or a "
                             "duration ago such as 24h)")
    replay.add_argument("--until", metavar="WHEN", help="… and before this event time")
    replay.add_argument("--min-severity", choices=[s.value for s in Severity], default="info",
                        help="show incident events of this severity or above")
    replay.add_argument("--class", dest="classes", action="append", default=[],
                        metavar="CLASS", help="show only this class (repeatable)")
    replay.add_argument("--only-service", dest="services", action="append", default=[],
                        metavar="GLOB", help="show only services matching (repeatable)")
    replay.add_argument("--report", metavar="FILE.html", help="write an HTML report")
    replay.add_argument("--notify", action="store_true",
                        help="send incident events to the configured notifiers")
    replay.add_argument("--notify-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="with --notify: wait at most this long for delivery (default 60)")
    replay.add_argument("--engine", choices=("auto", "hyperscan", "regex"), default="auto",
                        help="matching engine (default: hyperscan when available)")
    replay.add_argument("--no-runbooks", action="store_true",
                        help="text output: leave out the runbook steps")

    run = commands.add_parser("run", parents=[with_config],
                              help="the daemon: follow the configured sources")
    run.add_argument("--engine", choices=("auto", "hyperscan", "regex"), default="auto")

    validate = commands.add_parser(
        "validate", parents=[with_config],
        help="check config and pattern packs, run every pattern's examples")
    validate.add_argument("--engine", choices=("auto", "hyperscan", "regex"), default="auto")

    health = commands.add_parser(
        "health", parents=[with_config],
        help="ask the running daemon's /healthz: exit 0 if healthy, 1 if not",
        description="For health checks (a container's HEALTHCHECK): asks the daemon "
                    "configured by -c on its [http] listen address.")
    health.add_argument("--url", help="ask this URL instead (http://HOST:PORT/healthz)")
    health.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS")

    outbox = commands.add_parser("outbox", help="notifications waiting or dead-lettered")
    outbox_commands = outbox.add_subparsers(dest="outbox_command", metavar="ACTION")
    outbox_commands.required = True
    listing = outbox_commands.add_parser("list", parents=[with_config],
                                         help="what waits in the outbox")
    listing.add_argument("--dead", action="store_true", help="only dead letters")
    for action, text in (("retry", "send dead letters again (--pending: and pending "
                                   "items now)"),
                         ("purge", "delete dead letters")):
        sub = outbox_commands.add_parser(action, parents=[with_config], help=text)
        sub.add_argument("ids", nargs="*", type=int, metavar="ID")
        sub.add_argument("--all", action="store_true", dest="all_items",
                         help="every dead letter")
        if action == "retry":
            sub.add_argument("--pending", action="store_true",
                             help="pending items waiting out a backoff: try them now")

    silence = commands.add_parser(
        "silence", help="silences: matching incidents are tracked and shown, not sent",
        description="Silences, as Alertmanager's: incidents whose class, service and pattern "
                    "match (globs) are tracked, counted and shown (marked silenced) but not "
                    "sent; when a silence ends while its incident is open, it is sent then.")
    silence_commands = silence.add_subparsers(dest="silence_command", metavar="ACTION")
    silence_commands.required = True
    adding = silence_commands.add_parser("add", parents=[with_config], help="add a silence")
    adding.add_argument("--class", dest="classes", action="append", default=[],
                        metavar="CLASS", help="incident class (glob; repeat for several)")
    adding.add_argument("--service", dest="services", action="append", default=[],
                        metavar="SERVICE", help="service (glob, e.g. 'worker-*')")
    adding.add_argument("--pattern", dest="patterns", action="append", default=[],
                        metavar="PATTERN", help="pattern id (glob)")
    span = adding.add_mutually_exclusive_group(required=True)
    span.add_argument("--for", dest="duration", metavar="DURATION",
                      help="how long: 30m, 2h, 1d")
    span.add_argument("--until", metavar="TIME", help="until when: 2026-12-01T18:00 (UTC "
                                                      "unless it says)")
    adding.add_argument("--comment", default="", help="why (shown with the silence)")
    adding.add_argument("--author", help="who (default: the user running the command)")
    listing = silence_commands.add_parser("list", parents=[with_config],
                                          help="active and pending silences")
    listing.add_argument("--expired", action="store_true",
                         help="also those that ended in the last week")
    expiring = silence_commands.add_parser("expire", parents=[with_config],
                                           help="end silences now")
    expiring.add_argument("ids", nargs="+", metavar="ID")

    incidents = commands.add_parser("incidents", help="the incident history")
    incident_commands = incidents.add_subparsers(dest="incidents_command", metavar="ACTION")
    incident_commands.required = True
    listing = incident_commands.add_parser("list", parents=[with_config],
                                           help="incidents, most recently seen first")
    listing.add_argument("--state", choices=("open", "resolved", "all"), default="all")
    listing.add_argument("--since", metavar="DURATION",
                         help="seen within this long: 30m, 24h, 7d")
    listing.add_argument("--class", dest="cls", metavar="CLASS")
    listing.add_argument("--service", metavar="SERVICE")
    showing = incident_commands.add_parser("show", parents=[with_config],
                                           help="one incident, samples and runbook included")
    showing.add_argument("id", metavar="ID", help="an incident id (or its start)")

    notify = commands.add_parser("notify", help="notifications")
    notify_commands = notify.add_subparsers(dest="notify_command", metavar="ACTION")
    notify_commands.required = True
    testing = notify_commands.add_parser(
        "test", parents=[with_config],
        help="send a marked test incident through each notifier, print each answer",
        description="Sends a clearly marked sample incident through the outbox to each "
                    "notifier (or the one named by --to) and prints each destination's "
                    "answer. Exit 0 only if every one accepted it.")
    testing.add_argument("--to", metavar="NAME", help="only this notifier")

    patterns = commands.add_parser("patterns", help="list patterns, or test a line")
    pattern_commands = patterns.add_subparsers(dest="patterns_command", metavar="ACTION")
    pattern_commands.required = True
    listing = pattern_commands.add_parser("list", parents=[with_config],
                                          help="list the loaded patterns")
    listing.add_argument("--class", dest="cls", help="only this class")
    tester = pattern_commands.add_parser("test", parents=[with_config],
                                         help="which pattern(s) a line matches")
    tester.add_argument("line", help="a log line (use $'...' for multi-line events)")
    shapes = commands.add_parser(
        "templates", help="the shapes (templates) a log holds, most frequent first",
        description="Each line is one message (a JSON line's message; a plain line without "
                    "its leading time and level), grouped by the new-error template miner.")
    shapes.add_argument("paths", nargs="+", metavar="PATH")
    shapes.add_argument("--output", choices=("text", "jsonl"), default="text")
    shapes.add_argument("--assign", action="store_true",
                        help='one JSON line per input line: {"line": N, "template": ID}')
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(exc.located(), file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"detector: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    config = load_config(getattr(args, "config", None))
    configure_logging(config.log.level, config.log.format)
    if args.command == "replay":
        from detector.replay.filters import EventFilter, parse_when
        from detector.replay.run import ReplayOptions, replay

        only = EventFilter(
            since=parse_when(args.since) if args.since else None,
            until=parse_when(args.until) if args.until else None,
            min_severity=Severity(args.min_severity), classes=tuple(args.classes),
            services=tuple(args.services))
        return replay(config, ReplayOptions(
            paths=args.paths, format=args.format, output=args.output, engine=args.engine,
            service=args.service, report=args.report, notify=args.notify,
            notify_timeout=args.notify_timeout, runbooks=not args.no_runbooks, only=only))
    if args.command == "validate":
        from detector.commands.validate import validate

        return validate(config, engine=args.engine)
    if args.command == "health":
        from detector.commands.health import health

        return health(config, url=args.url, timeout=args.timeout)
    if args.command == "patterns":
        from detector.commands.patterns import patterns_list, patterns_test

        if args.patterns_command == "list":
            return patterns_list(config, cls=args.cls)
        return patterns_test(config, args.line)
    if args.command == "outbox":
        from detector.commands.outbox import outbox_command

        return outbox_command(config, args.outbox_command, getattr(args, "ids", []),
                              all_items=getattr(args, "all_items", False),
                              dead_only=getattr(args, "dead", False),
                              pending=getattr(args, "pending", False))
    if args.command == "silence":
        from detector.commands.silence import silence_add, silence_expire, silence_list

        if args.silence_command == "add":
            return silence_add(config, classes=args.classes, services=args.services,
                               patterns=args.patterns, duration=args.duration,
                               until=args.until, comment=args.comment, author=args.author)
        if args.silence_command == "list":
            return silence_list(config, expired=args.expired)
        return silence_expire(config, args.ids)
    if args.command == "incidents":
        from detector.commands.incidents import incidents_list, incidents_show

        if args.incidents_command == "list":
            return incidents_list(config, state=args.state, since=args.since, cls=args.cls,
                                  service=args.service)
        return incidents_show(config, args.id)
    if args.command == "notify":
        from detector.commands.notify_test import notify_test

        return notify_test(config, to=args.to)
    if args.command == "templates":
        from detector.commands.templates import templates_command

        return templates_command(args.paths, output=args.output, assign=args.assign)
    if args.command == "run":
        from detector.daemon.app import run

        return run(config, engine=args.engine)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
