"""What a rate spike says: the label of each class, its summary line, the error rate's
runbook."""

from __future__ import annotations

from detector.model import RunbookJSON

__all__ = ["ERROR_RATE", "ERROR_RATE_RUNBOOK", "LABELS", "spike_summary"]

ERROR_RATE = "error_rate"
LABELS = {ERROR_RATE: "Error", "version_conflict": "Version-conflict",
          "lock_timeout": "Lock-timeout", "deadlock": "Deadlock",
          "rate_limited": "HTTP 418/429", "task_leak": "Task-leak",
          "dependency_down": "Dependency-failure", "auth_failure": "Auth-failure",
          "schema_mismatch": "Schema-mismatch", "tenancy_violation": "Tenancy-violation",
          "resource_exhaustion": "Resource-exhaustion", "server_error": "HTTP 5xx",
          "startup_failure": "Startup-failure", "upstream_timeout": "Upstream-timeout",
          "stream_disconnect": "Stream-disconnect", "unhandled_exception": "Exception"}
ERROR_RATE_RUNBOOK: RunbookJSON = {
    "title": "More errors than usual",
    "steps": ["Look at the samples and at the signature incidents open for the same service: "
              "they usually name the cause.",
              "Check what changed when the rate rose: a deploy (`git log --oneline -10`), a "
              "dependency, traffic.",
              "If it started with a deploy, roll back; if a dependency is failing, follow its "
              "runbook."]}


def spike_summary(cls: str, service: str, rate: float, baseline: float, ratio: float,
                  span: float | None) -> str:
    """``Lock-timeout rate in worker-sync: 3.1/min over the last 30 min, baseline 1/min
    (3×)``; ``span`` (seconds) when a window longer than the learning window judged it."""
    label = LABELS.get(cls, cls.replace("_", " ").capitalize())
    usual = (f"baseline {baseline:.2g}/min ({ratio:.0f}×)" if baseline >= 0.01
             else "baseline under 0.01/min")
    over = f" over the last {_span(span)}" if span is not None else ""
    return f"{label} rate in {service}: {rate:.3g}/min{over}, {usual}"

def _span(seconds: float) -> str:
    minutes = seconds / 60
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"
