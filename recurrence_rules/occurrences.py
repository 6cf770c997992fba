"""Occurrences of a recurrence rule in a time zone (pure functions, no models).

Rules are expanded on local wall-clock time in the task's IANA zone with python-dateutil, so
"daily at 09:00 Europe/Berlin" stays 09:00 local across DST changes. A local time that does not
exist (spring-forward gap) is read with the UTC offset before the gap, and one that exists twice
(fall-back) means its first occurrence: RFC 5545 section 3.3.5, which is what `fold=0` does in
`zoneinfo`. Two local times that land on the same instant yield it once.

The series start (`dtstart`, the first due time) is always the first instance, as RFC 5545
counts it, even when it does not match the rule. COUNT includes it; UNTIL is inclusive: a UTC
instant, a local date-time, or a date (the whole local day).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from recurrence_rules.rules import Rule, RuleError, describe_rule, parse_rule

SCHEDULE = "schedule"
COMPLETION = "completion"
MODES = (SCHEDULE, COMPLETION)
MAX_PREVIEW = 100


class UnknownTimezone(ValueError):
    """Not an IANA time zone name."""


def zone_for(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise UnknownTimezone(f"{name!r} is not an IANA time zone (e.g. Europe/Berlin).") from exc


def _rule(rule: Rule | str) -> Rule:
    return rule if isinstance(rule, Rule) else parse_rule(rule)


def localize(local: datetime, zone: ZoneInfo) -> datetime:
    """Naive wall-clock `local` in `zone` as an aware datetime, resolved as RFC 5545 3.3.5 says."""
    # fold=0: a gap time takes the offset before the gap, a repeated time its first instant. The
    # round trip through UTC turns a gap time into the wall-clock time that really exists.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC).astimezone(zone)


def _local_naive(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _within_until(rule: Rule, local: datetime, instant: datetime, zone: ZoneInfo) -> bool:
    until = rule.until
    if until is None:
        return True
    if until.is_date:
        return local.date() <= until.value
    if until.is_utc:
        return instant <= until.value
    assert isinstance(until.value, datetime)
    return instant <= localize(until.value, zone)


def expand(rule: Rule | str, *, dtstart: datetime, timezone_name: str) -> Iterator[datetime]:
    """Every instance of the series starting at aware `dtstart`, in order, as aware datetimes in
    the zone: `dtstart` itself first, then the rule's instances after it, COUNT and UNTIL applied."""
    parsed = _rule(rule)
    zone = zone_for(timezone_name)
    first = dtstart.astimezone(zone)
    yield first
    produced, last = 1, first
    start_local = _local_naive(first, zone).replace(microsecond=0)
    for local in parsed.to_rrule(start_local):
        if parsed.count is not None and produced >= parsed.count:
            return
        try:
            instant = localize(local, zone)
        except OverflowError:  # the end of the calendar (year 9999) in this zone
            return
        if instant <= last:  # dtstart itself, or a gap time folded onto an instant already given
            continue
        if not _within_until(parsed, local, instant, zone):
            return
        yield instant
        produced, last = produced + 1, instant


@dataclass(frozen=True)
class NextOccurrence:
    """The next due time, or None and why the series ended (`count`, `until`, `exhausted`)."""

    due_at: datetime | None
    end_reason: str = ""


def _ended(rule: Rule) -> NextOccurrence:
    reason = "count" if rule.count is not None else "until" if rule.until is not None else "exhausted"
    return NextOccurrence(None, reason)


def _clamped_for_restart(rule: Rule, restart: datetime) -> Rule:
    """In completion mode a bare monthly/yearly rule takes its day from the restart date; RFC
    strictness would then skip shorter months (a restart on the 31st skipping February), so the
    day falls back to the month's last day, as the `monthly` preset does."""
    has_day_parts = rule.bymonthday or rule.byday or rule.byyearday or rule.byweekno or rule.bysetpos
    if has_day_parts or restart.day < 29 or rule.freq not in ("MONTHLY", "YEARLY"):
        return rule
    clamped = replace(rule, bymonthday=tuple(range(28, restart.day + 1)), bysetpos=(-1,))
    if rule.freq == "YEARLY" and not rule.bymonth:
        clamped = replace(clamped, bymonth=(restart.month,))
    return clamped


def next_occurrence(
    *,
    rule: Rule | str,
    timezone_name: str,
    dtstart: datetime,
    mode: str,
    due_at: datetime,
    completed_at: datetime,
    occurrence_number: int | None = None,
) -> NextOccurrence:
    """The due time of the occurrence after the one due at `due_at`, completed at `completed_at`.

    `dtstart` is the series start under the current rule (its local time of day is the series'
    time of day). `schedule`: the first instance of the series strictly after both `due_at` and
    `completed_at`, so completing late creates no past occurrences. `completion`: the rule
    restarts on the completion's local date at the series' time of day; the next occurrence is its
    first instance after the restart and after the completion. COUNT ends a completion-mode series
    by `occurrence_number` (the number the next occurrence would have, the start being 1).
    """
    parsed = _rule(rule)
    if mode == SCHEDULE:
        after = max(due_at, completed_at)
        for instant in expand(parsed, dtstart=dtstart, timezone_name=timezone_name):
            if instant > after:
                return NextOccurrence(instant)
        return _ended(parsed)
    if mode != COMPLETION:
        raise ValueError(f"unknown recurrence mode {mode!r}")
    if parsed.count is not None and occurrence_number is not None and occurrence_number > parsed.count:
        return _ended(parsed)
    zone = zone_for(timezone_name)
    time_of_day: time = _local_naive(dtstart, zone).time().replace(microsecond=0)
    restart_local = datetime.combine(_local_naive(completed_at, zone).date(), time_of_day)
    restarted = replace(_clamped_for_restart(parsed, restart_local), count=None)
    instances = expand(restarted, dtstart=localize(restart_local, zone), timezone_name=timezone_name)
    next(instances)  # the restart point stands for the occurrence just completed
    for instant in instances:
        if instant > completed_at:
            return NextOccurrence(instant)
    return _ended(parsed)


def occurrences_after(
    *,
    rule: Rule | str,
    timezone_name: str,
    dtstart: datetime,
    after: datetime,
    count: int,
    mode: str = SCHEDULE,
    occurrence_number: int = 1,
) -> list[datetime]:
    """Up to `count` due times following the occurrence due at `after`, each assumed completed
    on time (what the series will look like if the user keeps up). `occurrence_number` is the
    number of the occurrence due at `after` (completion-mode COUNT)."""
    parsed = _rule(rule)
    result: list[datetime] = []
    if mode == SCHEDULE:
        for instant in expand(parsed, dtstart=dtstart, timezone_name=timezone_name):
            if len(result) >= count:
                break
            if instant > after:
                result.append(instant)
        return result
    current, number = after, occurrence_number
    while len(result) < count:
        following = next_occurrence(
            rule=parsed,
            timezone_name=timezone_name,
            dtstart=dtstart,
            mode=mode,
            due_at=current,
            completed_at=current,
            occurrence_number=number + 1,
        )
        if following.due_at is None:
            break
        result.append(following.due_at)
        current, number = following.due_at, number + 1
    return result


@dataclass(frozen=True)
class Preview:
    occurrences: list[datetime]
    text: str
    ends: bool


def preview(*, rule: str, due_at: datetime, timezone_name: str, count: int, mode: str = SCHEDULE) -> Preview:
    """The first `count` occurrences of a series starting at `due_at` (the first is `due_at`),
    its description, and whether the series ends (COUNT or UNTIL). `rule` is validated text."""
    if not 1 <= count <= MAX_PREVIEW:
        raise ValueError(f"count must be from 1 to {MAX_PREVIEW}")
    parsed = parse_rule(rule)
    zone = zone_for(timezone_name)
    first = due_at.astimezone(zone)
    rest = occurrences_after(
        rule=parsed, timezone_name=timezone_name, dtstart=first, after=first, count=count - 1, mode=mode
    )
    return Preview(occurrences=[first, *rest], text=describe_rule(rule), ends=parsed.ends)


__all__ = [
    "COMPLETION",
    "MODES",
    "SCHEDULE",
    "NextOccurrence",
    "Preview",
    "RuleError",
    "UnknownTimezone",
    "expand",
    "localize",
    "next_occurrence",
    "occurrences_after",
    "preview",
    "zone_for",
]
