"""``[[maintenance]]`` and ``[[runbook]]`` tables, and the matchers they share with silences.

A matcher set names incidents by ``class``, ``service`` and ``pattern``; each is a
glob or a list of globs (``"worker-*"``), every one given must match, and an empty set
matches every incident. A maintenance window is weekly (``days``, ``start`` and
``duration`` or ``end``, in a ``timezone``) or dated (``start`` and ``end`` as dates
and times, in that ``timezone``); incidents it matches while it is on are tracked and
shown but not sent. A runbook table is the user's own runbook for the incidents it
matches (``url`` and/or ``title`` and ``steps``); it wins over the packs'.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detector.config.toml import Table

__all__ = ["DAYS", "MaintenanceConfig", "Matchers", "RunbookConfig", "read_maintenance",
           "read_matchers", "read_runbook"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MATCH_KEYS = ("class", "service", "pattern")


@dataclass(frozen=True)
class Matchers:
    """Globs per incident field; an empty tuple matches anything."""

    classes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.classes or self.services or self.patterns)

    def matches(self, cls: str, service: str, pattern: str | None) -> bool:
        return (_any(self.classes, cls) and _any(self.services, service)
                and _any(self.patterns, pattern or ""))

    def matches_event(self, event: Mapping[str, object]) -> bool:
        pattern = event.get("pattern")
        return self.matches(str(event["class"]), str(event["service"]),
                            pattern if isinstance(pattern, str) else None)

    def describe(self) -> str:
        parts = [f"{key}={','.join(values)}" for key, values in
                 (("class", self.classes), ("service", self.services),
                  ("pattern", self.patterns)) if values]
        return " ".join(parts) or "every incident"

    def as_json(self) -> dict[str, list[str]]:
        return {"class": list(self.classes), "service": list(self.services),
                "pattern": list(self.patterns)}


def _any(globs: tuple[str, ...], value: str) -> bool:
    return not globs or any(fnmatch.fnmatchcase(value, g) for g in globs)


def read_matchers(table: Table) -> Matchers:
    return Matchers(classes=tuple(table.str_list("class")),
                    services=tuple(table.str_list("service")),
                    patterns=tuple(table.str_list("pattern")))


@dataclass(frozen=True)
class MaintenanceConfig:
    name: str
    match: Matchers
    timezone: str = "UTC"
    days: tuple[int, ...] = ()              # weekly: 0 = Monday
    start_time: dt.time | None = None       # weekly: when it starts on each of `days`
    duration: float = 0.0                   # weekly: how long it lasts
    start: dt.datetime | None = None        # dated: aware datetimes
    end: dt.datetime | None = None
    comment: str = ""
    line: int | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def windows(self, after: float, *, weeks: int = 2) -> list[tuple[float, float]]:
        """The windows (epoch start, end) that end after ``after``, soonest first."""
        if self.start is not None and self.end is not None:
            window = (self.start.timestamp(), self.end.timestamp())
            return [window] if window[1] > after else []
        assert self.start_time is not None
        zone = self.zone
        today = dt.datetime.fromtimestamp(after, zone).date()
        found = []
        for offset in range(-8, 7 * weeks + 1):      # a window may have begun days ago
            day = today + dt.timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            begins = dt.datetime.combine(day, self.start_time, tzinfo=zone).timestamp()
            if begins + self.duration > after:
                found.append((begins, begins + self.duration))
        return found

    def active(self, now: float) -> bool:
        return any(start <= now < end for start, end in self.windows(now, weeks=0))

    def next_window(self, now: float) -> tuple[float, float] | None:
        """The window on now, or the next one."""
        windows = self.windows(now)
        return windows[0] if windows else None

    def describe(self) -> str:
        if self.start is not None and self.end is not None:
            return (f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} "
                    f"{self.timezone}")
        assert self.start_time is not None
        days = "day" if len(self.days) == 7 else ",".join(DAYS[d] for d in self.days)
        return f"every {days} {self.start_time:%H:%M} for {_span(self.duration)} {self.timezone}"


def _span(seconds: float) -> str:
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def read_maintenance(table: Table, index: int) -> MaintenanceConfig:
    name = table.text("name", f"maintenance-{index + 1}")
    zone_name = table.text("timezone", "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise table.error("timezone", f"{table.name('timezone')}: unknown time zone "
                                      f"{zone_name!r} (an IANA name such as "
                                      "\"Europe/Lisbon\")") from None
    match = read_matchers(table)
    comment = table.text("comment", "")
    days = table.str_list("days")
    start_text = table.text("start", "")
    end_text = table.text("end", "")
    if not start_text:
        raise table.error(None, f"[[maintenance]] {name!r} needs a start: \"02:00\" with "
                                "days (weekly), or a date and time such as "
                                "\"2026-12-24T22:00\" (dated)")
    if days:
        weekly_days = []
        for day in days:
            if day.lower()[:3] not in DAYS:
                raise table.error("days", f"{table.name('days')} has {day!r}; days are "
                                          f"{', '.join(DAYS)}")
            weekly_days.append(DAYS.index(day.lower()[:3]))
        start_time = _clock(table, "start", start_text)
        if table.has("duration") == bool(end_text):
            raise table.error(None, f"[[maintenance]] {name!r}: give duration or end "
                                    "(one of them)")
        if end_text:
            end_time = _clock(table, "end", end_text)
            duration = ((end_time.hour * 60 + end_time.minute)
                        - (start_time.hour * 60 + start_time.minute)) * 60.0
            if duration <= 0:
                duration += 86400.0              # "22:00" to "02:00": past midnight
        else:
            duration = table.duration("duration", 0.0, minimum=60.0)
        if duration > 7 * 86400:
            raise table.error("duration", f"{table.name('duration')} must be at most 7d")
        config = MaintenanceConfig(name=name, match=match, timezone=zone_name,
                                   days=tuple(sorted(set(weekly_days))), start_time=start_time,
                                   duration=duration, comment=comment, line=table.line())
    else:
        if not end_text:
            raise table.error(None, f"[[maintenance]] {name!r}: a dated window needs an end "
                                    "(or give days for a weekly one)")
        if table.has("duration"):
            raise table.error("duration", f"[[maintenance]] {name!r}: a dated window takes "
                                          "an end, not a duration")
        begins = _moment(table, "start", start_text, zone)
        ends = _moment(table, "end", end_text, zone)
        if ends <= begins:
            raise table.error("end", f"{table.name('end')} must be after its start")
        config = MaintenanceConfig(name=name, match=match, timezone=zone_name, start=begins,
                                   end=ends, comment=comment, line=table.line())
    table.done()
    return config


def _clock(table: Table, key: str, text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise table.error(key, f"{table.name(key)} must be a time of day like \"02:00\"; "
                               f"got {text!r}") from None


def _moment(table: Table, key: str, text: str, zone: ZoneInfo) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise table.error(key, f"{table.name(key)} must be a date and time like "
                               f"\"2026-12-24T22:00\" (weekly windows take days); "
                               f"got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@dataclass(frozen=True)
class RunbookConfig:
    match: Matchers
    title: str = ""
    url: str = ""
    steps: tuple[str, ...] = ()
    line: int | None = None


def read_runbook(table: Table, index: int) -> RunbookConfig:
    match = read_matchers(table)
    if match.empty:
        raise table.error(None, f"[[runbook]] #{index + 1} needs class, service or pattern "
                                "to say which incidents it is for")
    url = table.text("url", "")
    if url and (not url.startswith(("http://", "https://"))
                or any(c.isspace() or not c.isprintable() for c in url)):
        raise table.error("url", f"{table.name('url')} must be an http:// or https:// URL")
    steps = tuple(table.str_list("steps"))
    if not url and not steps:
        raise table.error(None, f"[[runbook]] #{index + 1} needs url, steps or both")
    config = RunbookConfig(match=match, title=table.text("title", ""), url=url, steps=steps,
                           line=table.line())
    table.done()
    return config
