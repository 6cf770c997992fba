"""Recurrence rules: parsing and validation (pure functions, no models).

Presets (`daily`, `weekdays`, `weekly`, `monthly`, `yearly`) and RFC 5545 RRULEs, with or without
the `RRULE:` prefix. `validate_rule` returns the normalised RRULE text or raises `RuleError`
naming the part that is wrong; `parse_rule` gives the parsed `Rule`; `describe_rule` a short
English description. Expansion in a time zone lives in `recurrence_rules.occurrences`.

Explicit RRULEs follow RFC 5545 strictly (`BYMONTHDAY=31` skips shorter months). The `monthly`
preset on day 29-31 means "that day, or the month's last day when shorter", written in RFC form
as `FREQ=MONTHLY;BYMONTHDAY=28,…,D;BYSETPOS=-1`; `yearly` on 29 February likewise falls back to
28 February in common years.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo

from dateutil import rrule as du

PRESETS = {
    "daily": "FREQ=DAILY",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
    "yearly": "FREQ=YEARLY",
}
MAX_RULE_LENGTH = 500
MAX_INTERVAL = 1000
MAX_YEARLY_INTERVAL = 100
MAX_COUNT = 10000

FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
UNSUPPORTED_FREQUENCIES = ("MINUTELY", "SECONDLY")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_NAMES = dict(zip(WEEKDAYS, calendar.day_name, strict=True))
# The order of parts in a normalised rule.
PART_ORDER = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
    "BYSETPOS",
    "WKST",
)
# (low, high, zero allowed, negatives allowed) for the numeric list parts (RFC 5545 3.3.10).
NUMBER_LISTS = {
    "BYSECOND": (0, 59, True, False),
    "BYMINUTE": (0, 59, True, False),
    "BYHOUR": (0, 23, True, False),
    "BYMONTHDAY": (1, 31, False, True),
    "BYYEARDAY": (1, 366, False, True),
    "BYWEEKNO": (1, 53, False, True),
    "BYMONTH": (1, 12, False, False),
    "BYSETPOS": (1, 366, False, True),
}
KNOWN_ELSEWHERE = {
    "RSCALE": "RSCALE (RFC 7529 calendars) is not supported: rules use the Gregorian calendar.",
    "SKIP": "SKIP (RFC 7529) is not supported.",
    "BYEASTER": "BYEASTER is not part of RFC 5545 and is not supported.",
    "DTSTART": "DTSTART is not a rule part: the task's due_at is the series start.",
}
_BYDAY = re.compile(r"^([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
_INTEGER = re.compile(r"^[+-]?\d{1,6}$")
# Any leap year: the largest day of each month.
_MONTH_DAYS = {month: calendar.monthrange(2000, month)[1] for month in range(1, 13)}


class RuleError(ValueError):
    """The rule is invalid; the message says which part and why."""


@dataclass(frozen=True)
class Until:
    """The inclusive end of a series: a date (the whole local day), a local time, or a UTC instant."""

    text: str
    value: date | datetime  # date; naive datetime (local wall clock); or aware datetime (UTC)

    @property
    def is_date(self) -> bool:
        return not isinstance(self.value, datetime)

    @property
    def is_utc(self) -> bool:
        return isinstance(self.value, datetime) and self.value.tzinfo is not None


@dataclass(frozen=True)
class Rule:
    """A parsed, validated RRULE. Lists are sorted and free of duplicates."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: Until | None = None
    bymonth: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byday: tuple[tuple[int | None, str], ...] = ()  # (ordinal or None, "MO")
    byhour: tuple[int, ...] = ()
    byminute: tuple[int, ...] = ()
    bysecond: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: str | None = None

    @property
    def ends(self) -> bool:
        """The rule itself bounds the series (COUNT or UNTIL)."""
        return self.count is not None or self.until is not None

    def without_end(self) -> Rule:
        return replace(self, count=None, until=None)

    def to_text(self) -> str:
        """The normalised RRULE text, without the `RRULE:` prefix."""
        values: dict[str, str] = {"FREQ": self.freq}
        if self.interval != 1:
            values["INTERVAL"] = str(self.interval)
        if self.count is not None:
            values["COUNT"] = str(self.count)
        if self.until is not None:
            values["UNTIL"] = self.until.text
        for name in NUMBER_LISTS:
            numbers = getattr(self, name.lower())
            if numbers:
                values[name] = ",".join(str(n) for n in numbers)
        if self.byday:
            values["BYDAY"] = ",".join(f"{'' if n is None else n}{day}" for n, day in self.byday)
        if self.wkst:
            values["WKST"] = self.wkst
        return ";".join(f"{name}={values[name]}" for name in PART_ORDER if name in values)

    def to_rrule(self, dtstart: datetime) -> du.rrule:
        """The dateutil rule from naive local `dtstart`, without COUNT and UNTIL (the expansion
        in `recurrence_rules.occurrences` applies those, counting `dtstart` as the first instance).
        Raises `RuleError` when dateutil finds a BY… part unreachable."""
        weekday = {code: getattr(du, code) for code in WEEKDAYS}
        try:
            return du.rrule(
                getattr(du, self.freq),
                dtstart=dtstart,
                interval=self.interval,
                wkst=weekday[self.wkst] if self.wkst else None,
                bymonth=self.bymonth or None,
                byweekno=self.byweekno or None,
                byyearday=self.byyearday or None,
                bymonthday=self.bymonthday or None,
                byweekday=[weekday[day] if n is None else weekday[day](n) for n, day in self.byday] or None,
                byhour=self.byhour or None,
                byminute=self.byminute or None,
                bysecond=self.bysecond or None,
                bysetpos=self.bysetpos or None,
                cache=False,
            )
        except ValueError as exc:
            raise RuleError(
                f"BYHOUR/BYMINUTE/BYSECOND can never be reached with FREQ={self.freq};INTERVAL={self.interval}."
            ) from exc


# --- Parsing -----------------------------------------------------------------------------------


def normalize_rule(text: str) -> str:
    """Upper-cased rule text without the `RRULE:` prefix, or the preset's RRULE (not validated)."""
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
    return rule.upper().replace(" ", "")


def _int(name: str, value: str, low: int, high: int) -> int:
    if not _INTEGER.match(value) or not low <= int(value) <= high:
        raise RuleError(f"{name} must be a whole number from {low} to {high}, not {value!r}.")
    return int(value)


def _number_list(name: str, value: str) -> tuple[int, ...]:
    low, high, zero, negative = NUMBER_LISTS[name]
    numbers = set()
    for item in value.split(","):
        if not _INTEGER.match(item):
            raise RuleError(f"{name}: {item!r} is not a whole number.")
        number = int(item)
        if not (low <= abs(number) <= high if negative else low <= number <= high) or (number == 0 and not zero):
            span = f"{low} to {high}" + (f" or -{high} to -{low}" if negative else "")
            if name == "BYSECOND" and number == 60:
                raise RuleError("BYSECOND=60 (a leap second) is not supported.")
            raise RuleError(f"{name}: {number} is out of range ({span}).")
        numbers.add(number)
    # Chronological reading order: 1, 15, then -2, -1 (counted from the end).
    return tuple(sorted(numbers, key=lambda n: (n < 0, n)))


def _weekday(name: str, value: str) -> str:
    if value not in WEEKDAYS:
        raise RuleError(f"{name}: {value!r} is not a weekday (use {', '.join(WEEKDAYS)}).")
    return value


def _byday(value: str) -> tuple[tuple[int | None, str], ...]:
    days = set()
    for item in value.split(","):
        match = _BYDAY.match(item)
        if not match:
            raise RuleError(
                f"BYDAY: {item!r} is not a weekday (use {', '.join(WEEKDAYS)}, optionally with an ordinal "
                "such as 2MO or -1FR)."
            )
        sign, digits, day = match.groups()
        ordinal = None
        if digits is not None:
            ordinal = int(digits) * (-1 if sign == "-" else 1)
            if not 1 <= abs(ordinal) <= 53:
                raise RuleError(f"BYDAY: the ordinal in {item!r} must be from 1 to 53 or -53 to -1.")
        elif sign:
            raise RuleError(f"BYDAY: {item!r} has a sign but no ordinal number.")
        days.add((ordinal, day))
    return tuple(sorted(days, key=lambda d: (WEEKDAYS.index(d[1]), d[0] is not None, d[0] or 0)))


def _until(value: str) -> Until:
    match = _UNTIL.match(value)
    if not match:
        raise RuleError(f"UNTIL must be a date (20261231) or a date-time (20261231T235959 or …Z), not {value!r}.")
    year, month, day, hour, minute, second, zulu = match.groups()
    try:
        if hour is None:
            return Until(value, date(int(year), int(month), int(day)))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError as exc:
        raise RuleError(f"UNTIL: {value!r} is not a real date or time ({exc}).") from exc
    return Until(value, moment.replace(tzinfo=UTC) if zulu else moment)


def _split(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep or not name:
            raise RuleError(f"{part!r} is not a NAME=VALUE part.")
        if name in KNOWN_ELSEWHERE:
            raise RuleError(KNOWN_ELSEWHERE[name])
        if name not in PART_ORDER:
            raise RuleError(f"Unknown rule part {name!r}; the parts are {', '.join(PART_ORDER)}.")
        if name in parts:
            raise RuleError(f"{name} is given more than once.")
        if not value:
            raise RuleError(f"{name} has no value.")
        parts[name] = value
    return parts


def _check_combinations(rule: Rule) -> None:
    """The RFC 5545 constraints between parts (3.3.10), and impossible month/day pairs."""
    freq = rule.freq
    if rule.count is not None and rule.until is not None:
        raise RuleError("COUNT and UNTIL cannot both be given: use one of them to end the series.")
    if any(n is not None for n, _ in rule.byday):
        if freq not in ("MONTHLY", "YEARLY"):
            raise RuleError(f"BYDAY: an ordinal such as 2MO needs FREQ=MONTHLY or FREQ=YEARLY, not FREQ={freq}.")
        if freq == "YEARLY" and rule.byweekno:
            raise RuleError("BYDAY: an ordinal such as 2MO cannot be combined with BYWEEKNO.")
        if freq == "MONTHLY" and any(abs(n) > 5 for n, _ in rule.byday if n is not None):
            raise RuleError("BYDAY: with FREQ=MONTHLY the ordinal must be from 1 to 5 or -5 to -1.")
    if rule.bymonthday and freq == "WEEKLY":
        raise RuleError("BYMONTHDAY cannot be used with FREQ=WEEKLY.")
    if rule.byyearday and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        raise RuleError(f"BYYEARDAY cannot be used with FREQ={freq}.")
    if rule.byweekno and freq != "YEARLY":
        raise RuleError(f"BYWEEKNO can only be used with FREQ=YEARLY, not FREQ={freq}.")
    if rule.bysetpos and not any(
        getattr(rule, name.lower()) for name in PART_ORDER if name.startswith("BY") and name != "BYSETPOS"
    ):
        raise RuleError("BYSETPOS needs another BY… part (such as BYDAY or BYMONTHDAY) to choose from.")
    if rule.bymonthday and rule.bymonth:
        longest = max(_MONTH_DAYS[month] for month in rule.bymonth)
        if all(abs(day) > longest for day in rule.bymonthday):
            days = ",".join(map(str, rule.bymonthday))
            months = ",".join(map(str, rule.bymonth))
            raise RuleError(f"BYMONTHDAY={days} never occurs in BYMONTH={months}.")


def parse_rule(text: str) -> Rule:
    """The `Rule` for an RRULE or preset name (presets without their dtstart refinement)."""
    parts = _split(normalize_rule(text))
    if "FREQ" not in parts:
        raise RuleError("The rule needs FREQ (e.g. FREQ=WEEKLY) or a preset: " + ", ".join(PRESETS) + ".")
    freq = parts["FREQ"]
    if freq in UNSUPPORTED_FREQUENCIES:
        raise RuleError(f"FREQ={freq} is not supported: the shortest period is HOURLY.")
    if freq not in FREQUENCIES:
        raise RuleError(f"FREQ must be one of {', '.join(FREQUENCIES)}, not {freq!r}.")
    # Yearly periods of more than a century would outrun the 400-year emptiness probe.
    max_interval = MAX_YEARLY_INTERVAL if freq == "YEARLY" else MAX_INTERVAL
    rule = Rule(
        freq=freq,
        interval=_int("INTERVAL", parts["INTERVAL"], 1, max_interval) if "INTERVAL" in parts else 1,
        count=_int("COUNT", parts["COUNT"], 1, MAX_COUNT) if "COUNT" in parts else None,
        until=_until(parts["UNTIL"]) if "UNTIL" in parts else None,
        byday=_byday(parts["BYDAY"]) if "BYDAY" in parts else (),
        wkst=_weekday("WKST", parts["WKST"]) if "WKST" in parts else None,
        **{name.lower(): _number_list(name, parts[name]) for name in NUMBER_LISTS if name in parts},
    )
    _check_combinations(rule)
    return rule


# --- Validation --------------------------------------------------------------------------------


def _local(dtstart: datetime, timezone_name: str | None) -> datetime:
    """`dtstart` as naive local wall-clock time in `timezone_name` (or its own zone)."""
    if dtstart.tzinfo is None:
        return dtstart
    zone: tzinfo | None = None
    if timezone_name:
        try:
            zone = ZoneInfo(timezone_name)
        except (ValueError, KeyError):
            zone = None  # the caller validates the time zone and reports it on its own field
    return (dtstart.astimezone(zone) if zone else dtstart).replace(tzinfo=None)


def preset_rule(name: str, *, dtstart: datetime | None = None, timezone_name: str | None = None) -> str:
    """The RRULE of preset `name`, refined for month ends when the start date is known."""
    rule = PRESETS[name]
    if dtstart is None:
        return rule
    local = _local(dtstart, timezone_name)
    if name == "monthly" and local.day >= 29:
        return f"FREQ=MONTHLY;BYMONTHDAY={','.join(str(d) for d in range(28, local.day + 1))};BYSETPOS=-1"
    if name == "yearly" and (local.month, local.day) == (2, 29):
        return "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1"
    return rule


def _shifted_towards_maxyear(moment: datetime) -> datetime:
    """`moment` moved by whole 400-year Gregorian cycles (same weekdays, same leap years) to the
    last four centuries before year 9999, where dateutil gives up searching."""
    cycles = (9599 - moment.year) // 400
    return moment.replace(year=moment.year + 400 * cycles) if cycles > 0 else moment


def _check_not_empty(rule: Rule, dtstart: datetime) -> None:
    """A rule that never yields an instance after its start makes dateutil scan to year 9999
    (seconds of CPU). Probing from a 400-year-equivalent start bounds that scan and finds any
    rule whose BY… parts and INTERVAL exclude each other for this start."""
    probe_start = _shifted_towards_maxyear(dtstart)
    try:
        found = rule.to_rrule(probe_start).after(probe_start)
    except OverflowError:  # dateutil stepping past year 9999
        found = None
    if found is None:
        raise RuleError(
            "The rule never produces an occurrence after the first one: its BYMONTH, BYWEEKNO, BYYEARDAY, "
            "BYMONTHDAY, BYDAY and INTERVAL parts exclude each other for this start."
        )


def validate_rule(text: str, *, dtstart: datetime | None = None, timezone_name: str | None = None) -> str:
    """The normalised RRULE for `text` (an RRULE or preset), or `RuleError` naming the wrong part.

    With `dtstart` (the first due time; naive local, or aware and then read in `timezone_name` or
    its own zone) presets are refined for month ends and the rule is checked to produce
    occurrences from that start.
    """
    name = (text or "").strip().lower()
    if name in PRESETS:
        return preset_rule(name, dtstart=dtstart, timezone_name=timezone_name)
    rule = parse_rule(text)
    local = _local(dtstart, timezone_name) if dtstart is not None else datetime(2001, 1, 1, 9, 0)
    _check_not_empty(rule, local.replace(microsecond=0))
    return rule.to_text()


# --- Description -------------------------------------------------------------------------------

_UNITS = {"YEARLY": "year", "MONTHLY": "month", "WEEKLY": "week", "DAILY": "day", "HOURLY": "hour"}
_ORDINAL_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _suffixed(number: int) -> str:
    """1 → 1st, 22 → 22nd, 13 → 13th."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _ordinal(number: int) -> str:
    """1 → first, 23 → 23rd, -1 → last, -2 → second-to-last."""
    if number == -1:
        return "last"
    word = _ORDINAL_WORDS.get(abs(number)) or _suffixed(abs(number))
    return word if number > 0 else f"{word}-to-last"


def _day_of_month(number: int) -> str:
    """15 → 15th, -1 → last day, -2 → second-to-last day."""
    return _suffixed(number) if number > 0 else f"{_ordinal(number)} day"


def _days(rule: Rule) -> str:
    plain = [day for n, day in rule.byday if n is None]
    phrases = []
    if plain == list(WEEKDAYS[:5]):
        phrases.append("weekdays")
    elif plain == list(WEEKDAYS[5:]):
        phrases.append("weekends")
    else:
        phrases.extend(WEEKDAY_NAMES[day] for day in plain)
    phrases.extend(f"the {_ordinal(n)} {WEEKDAY_NAMES[day]}" for n, day in rule.byday if n is not None)
    return _join(phrases)


def _month_end_clamp(rule: Rule) -> int | None:
    """D when the rule is the preset form "day D, or the month's last day when shorter"."""
    days = rule.bymonthday
    if (
        rule.bysetpos == (-1,)
        and len(days) >= 2
        and days[0] == 28
        and list(days) == list(range(28, days[-1] + 1))
        and not (rule.byday or rule.byyearday or rule.byweekno or rule.byhour or rule.byminute or rule.bysecond)
    ):
        return days[-1]
    return None


def _times(rule: Rule) -> str:
    if rule.byhour and rule.byminute and len(rule.byhour) * len(rule.byminute) <= 6:
        return "at " + _join([f"{h:02d}:{m:02d}" for h in rule.byhour for m in rule.byminute])
    phrases = []
    if rule.byhour:
        phrases.append(f"in hour{'s' if len(rule.byhour) > 1 else ''} {_join([str(h) for h in rule.byhour])}")
    if rule.byminute:
        phrases.append(f"at minute{'s' if len(rule.byminute) > 1 else ''} {_join([str(m) for m in rule.byminute])}")
    if rule.bysecond:
        phrases.append(f"at second{'s' if len(rule.bysecond) > 1 else ''} {_join([str(s) for s in rule.bysecond])}")
    return " ".join(phrases)


def _until_text(until: Until) -> str:
    value = until.value
    day = f"{value.day} {calendar.month_name[value.month]} {value.year}"
    if until.is_date:
        return day
    assert isinstance(value, datetime)
    return f"{day} at {value:%H:%M}" + (" UTC" if until.is_utc else "")


def _describe(rule: Rule) -> str:
    unit = _UNITS[rule.freq]
    every_weekday = (
        rule.interval == 1
        and rule.freq in ("WEEKLY", "DAILY")
        and rule.byday == tuple((None, day) for day in WEEKDAYS[:5])
    )
    if every_weekday:
        text = "every weekday"
    else:
        text = f"every {unit}" if rule.interval == 1 else f"every {rule.interval} {unit}s"
    clamp = _month_end_clamp(rule)
    months = _join([calendar.month_name[month] for month in rule.bymonth]) if rule.bymonth else ""
    if clamp is not None:
        where = f"the {_day_of_month(clamp)}" + (f" of {months}" if months else "")
        text += f" on {where}, or the month's last day when shorter"
        months = ""  # said already
    else:
        if rule.bymonthday:
            text += " on the " + _join([_day_of_month(day) for day in rule.bymonthday])
        if rule.byday and not every_weekday:
            text += (" and" if rule.bymonthday else "") + " on " + _days(rule)
        if rule.byyearday:
            days = [f"day {day}" if day > 0 else f"the {_day_of_month(day)}" for day in rule.byyearday]
            text += " on " + _join(days) + " of the year"
    if rule.byweekno:
        text += " in week " + _join([str(week) if week > 0 else f"the {_ordinal(week)}" for week in rule.byweekno])
    if months:
        text += " in " + months
    times = _times(rule)
    if times:
        text += " " + times
    if rule.bysetpos and clamp is None:
        text += f", only the {_join([_ordinal(pos) for pos in rule.bysetpos])} of each {unit}"
    if rule.wkst and rule.wkst != "MO" and (rule.byweekno or (rule.freq == "WEEKLY" and rule.interval > 1)):
        text += f" (weeks start on {WEEKDAY_NAMES[rule.wkst]})"
    if rule.count is not None:
        text += ", once" if rule.count == 1 else f", {rule.count} times"
    if rule.until is not None:
        text += f", until {_until_text(rule.until)}"
    return text


def describe_rule(rule: str) -> str:
    """A short English description ("every 2 weeks on Tuesday and Thursday, 8 times").

    Never raises: a rule that does not parse (an old row) is described by its own text.
    """
    try:
        return _describe(parse_rule(rule))
    except RuleError:
        return (rule or "").strip()


__all__ = [
    "PRESETS",
    "Rule",
    "RuleError",
    "Until",
    "describe_rule",
    "normalize_rule",
    "parse_rule",
    "preset_rule",
    "validate_rule",
]
