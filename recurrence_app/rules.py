"""Recurrence rules: parsing and validation (pure functions, no models).

Presets (`daily`, `weekdays`, `weekly`, `monthly`, `yearly`) and RFC 5545 RRULEs, with or without
the `RRULE:` prefix. `validate_rule` returns the normalised RRULE text or raises `RuleError`
naming the part that is wrong.
"""

from __future__ import annotations

from datetime import datetime

from dateutil.rrule import rrulestr

PRESETS = {
    "daily": "FREQ=DAILY",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
    "yearly": "FREQ=YEARLY",
}
MAX_RULE_LENGTH = 500


class RuleError(ValueError):
    """The rule is invalid; the message says which part and why."""


def normalize_rule(text: str) -> str:
    rule = (text or "").strip()
    if not rule:
        raise RuleError("The rule is empty.")
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleError(f"The rule is longer than {MAX_RULE_LENGTH} characters.")
    preset = PRESETS.get(rule.lower())
    if preset:
        return preset
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    return rule.upper()


def validate_rule(text: str, *, dtstart: datetime | None = None) -> str:
    """The normalised RRULE for `text`, or `RuleError`."""
    rule = normalize_rule(text)
    if "FREQ=" not in rule:
        raise RuleError("The rule needs FREQ (e.g. FREQ=WEEKLY) or a preset: " + ", ".join(PRESETS) + ".")
    try:
        rrulestr(rule, dtstart=dtstart or datetime(2000, 1, 1), forceset=False)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise RuleError(f"The rule is not a valid RRULE: {exc}") from exc
    return rule


def describe_rule(rule: str) -> str:
    """A short human description of a normalised rule (refined by the recurrence module)."""
    for name, preset in PRESETS.items():
        if rule == preset:
            return {"weekdays": "every weekday"}.get(name, f"every {name.removesuffix('ly').replace('dai', 'day')}")
    return rule
