"""Where incident events go: the outbox, its dispatcher, one module per destination,
and the type → class table."""

from __future__ import annotations

from collections.abc import Iterable

from detector.config import NotifyConfig
from detector.notify.alertmanager import AlertmanagerNotifier
from detector.notify.base import Notifier
from detector.notify.pagerduty import PagerDutyNotifier
from detector.notify.slack import SlackNotifier
from detector.notify.webhook import WebhookNotifier

__all__ = ["NOTIFIERS", "Notifier", "build_notifiers"]

# detector.config.notify.NOTIFY_TYPES names the same types; a test holds them (and the
# docs) together.
NOTIFIERS: dict[str, type[Notifier]] = {
    "slack": SlackNotifier, "pagerduty": PagerDutyNotifier,
    "alertmanager": AlertmanagerNotifier, "webhook": WebhookNotifier,
}


def build_notifiers(configs: Iterable[NotifyConfig]) -> list[Notifier]:
    return [NOTIFIERS[c.type](c) for c in configs]
