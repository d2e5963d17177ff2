"""``[[notify]]`` tables: where incident events go, and which ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.config.toml import Table

NOTIFY_TYPES = ("slack", "pagerduty", "alertmanager", "webhook")
SEVERITIES = ("info", "warning", "error", "critical")
KINDS = ("signature", "rate_spike", "new_error")
EVENTS = ("open", "update", "resolve")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True)
class NotifyConfig:
    type: str
    name: str
    url: str
    min_severity: str = "warning"
    kinds: tuple[str, ...] = ()              # empty = every kind
    events: tuple[str, ...] = EVENTS
    classes: tuple[str, ...] = ()            # empty = every class
    exclude_classes: tuple[str, ...] = ()
    services: tuple[str, ...] = ()           # empty = every service (globs allowed)
    exclude_services: tuple[str, ...] = ()
    timeout: float = 10.0
    max_age: float = 86400.0                 # undelivered longer than this → dead letter
    rate_limit: float = 0.0                  # requests per second; 0 = type default
    secret: str | None = None                # webhook: HMAC-SHA256 key
    routing_key: str | None = None           # pagerduty
    headers: dict[str, str] = field(default_factory=dict)
    repeat_interval: float = 300.0           # alertmanager: re-post open alerts this often
    line: int | None = None


def read_notify(table: Table, index: int) -> NotifyConfig:
    if not table.has("type"):
        raise table.error(None, f"[[notify]] #{index + 1} needs a type: "
                                f"one of {', '.join(NOTIFY_TYPES)}")
    kind = table.choice("type", "", NOTIFY_TYPES)
    name = table.text("name", f"{kind}-{index + 1}")
    if kind == "pagerduty":
        url = table.text("url", PAGERDUTY_URL)
        routing_key: str | None = table.required_str("routing_key")
    else:
        url = table.required_str("url")
        routing_key = None
    if not url.startswith(("http://", "https://")):
        raise table.error("url", f"{table.name('url')} must be an http:// or https:// URL")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise table.error("url", f"{table.name('url')} holds a space or a control character "
                                 "(a newline from an environment file?)")
    secret = table.text("secret", None) if kind == "webhook" else None
    config = NotifyConfig(
        type=kind, name=name, url=url,
        min_severity=table.choice("min_severity", "warning", SEVERITIES),
        kinds=_subset(table, "kinds", KINDS),
        events=_subset(table, "events", EVENTS) or EVENTS,
        classes=tuple(table.str_list("classes")),
        exclude_classes=tuple(table.str_list("exclude_classes")),
        services=tuple(table.str_list("services")),
        exclude_services=tuple(table.str_list("exclude_services")),
        timeout=table.duration("timeout", 10.0, minimum=0.1),
        max_age=table.duration("max_age", 86400.0, minimum=1.0),
        rate_limit=table.number("rate_limit", 0.0, minimum=0.0),
        secret=secret or None, routing_key=routing_key,
        headers=table.str_map("headers") if kind == "webhook" else {},
        repeat_interval=(table.duration("repeat_interval", 300.0, minimum=1.0)
                         if kind == "alertmanager" else 300.0),
        line=table.line(),
    )
    table.done()
    return config


def _subset(table: Table, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = table.str_list(key)
    for value in values:
        if value not in allowed:
            raise table.error(key, f"{table.name(key)} has {value!r}; "
                                   f"allowed: {', '.join(allowed)}")
    return tuple(values)
