"""``detector silence add|list|expire``: silences, as Alertmanager's.

They are written to the state directory's SQLite database (the outbox's), whether the
daemon runs or not; a running daemon picks a change up within a second. The same through
the HTTP API: ``GET/POST/DELETE /api/silences``.
"""

from __future__ import annotations

import getpass
import sys
import time
from typing import TextIO

from detector.commands import duration_option
from detector.config import Config
from detector.errors import UserError
from detector.humanize import plural, short_span
from detector.notify.outbox import FILE_NAME, Outbox
from detector.notify.silences import Silence, SilenceStore, plan_silence

__all__ = ["silence_add", "silence_expire", "silence_list"]


def _store(config: Config) -> tuple[Outbox, SilenceStore]:
    outbox = Outbox.in_state_dir(config.state.dir)
    return outbox, SilenceStore(outbox.db)




def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def silence_add(config: Config, *, classes: list[str], services: list[str],
                patterns: list[str], duration: str | None, until: str | None,
                comment: str, author: str | None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    now = time.time()
    seconds = None if duration is None else duration_option(duration, "silence add: --for")
    ends = None
    if until is not None:
        import datetime as dt

        try:
            moment = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(f"silence add: --until must be a date and time like "
                            f"2026-12-01T18:00 (UTC unless it says); got {until!r}") from None
        ends = (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
    try:
        match, starts, finish = plan_silence(classes=classes, services=services,
                                             patterns=patterns, duration=seconds, ends=ends,
                                             now=now)
    except ValueError as exc:
        raise UserError(f"silence add: {exc}") from None
    outbox, store = _store(config)
    with outbox:
        silence = store.add(match, starts=starts, ends=finish, comment=comment,
                            author=author or _user(), now=now)
    out.write(f"{silence.id}  silences {match.describe()} until {_when(finish)} "
              f"({short_span(finish - now)})\n")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def silence_list(config: Config, *, expired: bool = False, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not (config.state.dir / FILE_NAME).exists():
        out.write("No silences.\n")
        return 0
    now = time.time()
    outbox, store = _store(config)
    with outbox:
        silences = store.listing(now, expired=expired)
    if not silences:
        out.write("No silences.\n" if expired else "No active or pending silences.\n")
        return 0
    out.write(f"{'ID':8}  {'STATE':8} {'ENDS':20} {'LEFT':>6}  {'AUTHOR':12} MATCHES / COMMENT\n")
    for silence in silences:
        out.write(_row(silence, now))
    out.write(f"\n{plural(len(silences), 'silence')}\n")
    return 0


def _row(silence: Silence, now: float) -> str:
    state = silence.state(now)
    left = short_span(silence.ends - now) if state != "expired" else "-"
    line = (f"{silence.id:8}  {state:8} {_when(silence.ends):20} {left:>6}  "
            f"{silence.author[:12]:12} {silence.match.describe()}")
    if silence.comment:
        line += f"\n{'':8}  {'':8} {'':20} {'':>6}  {'':12} “{silence.comment[:100]}”"
    return line + "\n"


def silence_expire(config: Config, ids: list[str], *, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if not (config.state.dir / FILE_NAME).exists():
        raise UserError(f"no silences in {config.state.dir} (is -c the daemon's config?)")
    outbox, store = _store(config)
    missing = []
    with outbox:
        for silence_id in ids:
            found = store.expire(silence_id)
            if found is None:
                missing.append(silence_id)
            else:
                out.write(f"{found.id}  expired ({found.match.describe()}); an open incident "
                          "it held back is sent within seconds\n")
    if missing:
        raise UserError(f"silence expire: no current silence {', '.join(missing)} "
                        "(see detector silence list)")
    return 0
