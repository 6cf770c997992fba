"""Parsing, validation, normalisation and description of recurrence rules (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from recurrence_rules.rules import PRESETS, RuleError, describe_rule, parse_rule, validate_rule

# --- every RFC 5545 part is accepted and normalised -------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("RRULE:FREQ=DAILY", "FREQ=DAILY"),
        ("rrule:freq=weekly;byday=mo,we", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("FREQ=DAILY;INTERVAL=1", "FREQ=DAILY"),
        ("FREQ=DAILY;INTERVAL=3", "FREQ=DAILY;INTERVAL=3"),
        ("FREQ=DAILY;COUNT=5", "FREQ=DAILY;COUNT=5"),
        ("FREQ=DAILY;UNTIL=20261231", "FREQ=DAILY;UNTIL=20261231"),
        ("FREQ=DAILY;UNTIL=20261231T235959", "FREQ=DAILY;UNTIL=20261231T235959"),
        ("FREQ=DAILY;UNTIL=20261231T235959Z", "FREQ=DAILY;UNTIL=20261231T235959Z"),
        ("FREQ=WEEKLY;BYDAY=FR,MO", "FREQ=WEEKLY;BYDAY=MO,FR"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("FREQ=MONTHLY;BYDAY=+2TU", "FREQ=MONTHLY;BYDAY=2TU"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1,15,1", "FREQ=MONTHLY;BYMONTHDAY=1,15,-1"),
        ("FREQ=YEARLY;BYMONTH=7,1", "FREQ=YEARLY;BYMONTH=1,7"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
        ("FREQ=YEARLY;BYYEARDAY=100,-1", "FREQ=YEARLY;BYYEARDAY=100,-1"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO"),
        ("FREQ=WEEKLY;INTERVAL=2;WKST=SU", "FREQ=WEEKLY;INTERVAL=2;WKST=SU"),
        ("FREQ=DAILY;BYHOUR=9,17;BYMINUTE=30;BYSECOND=0", "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=30;BYSECOND=0"),
        ("FREQ=HOURLY;INTERVAL=4", "FREQ=HOURLY;INTERVAL=4"),
        ("WKST=MO;BYDAY=TU;FREQ=WEEKLY;", "FREQ=WEEKLY;BYDAY=TU;WKST=MO"),
        ("FREQ=DAILY;BYDAY=MO,MO", "FREQ=DAILY;BYDAY=MO"),
    ],
)
def test_rule_parts_are_accepted_and_normalised(text: str, normalised: str) -> None:
    assert validate_rule(text) == normalised


def test_validate_rule_keeps_its_original_call_form() -> None:
    assert validate_rule("FREQ=WEEKLY") == "FREQ=WEEKLY"
    assert validate_rule("FREQ=WEEKLY", dtstart=datetime(2026, 1, 5, 9, tzinfo=UTC)) == "FREQ=WEEKLY"


def test_parsed_rule_exposes_every_part() -> None:
    rule = parse_rule(
        "FREQ=YEARLY;INTERVAL=2;COUNT=4;BYMONTH=3;BYMONTHDAY=1;BYDAY=2SU,MO;BYHOUR=8;BYMINUTE=15;BYSECOND=5;"
        "BYSETPOS=1;WKST=SU"
    )
    assert (rule.freq, rule.interval, rule.count, rule.until) == ("YEARLY", 2, 4, None)
    assert rule.bymonth == (3,)
    assert rule.bymonthday == (1,)
    assert rule.byday == ((None, "MO"), (2, "SU"))
    assert (rule.byhour, rule.byminute, rule.bysecond, rule.bysetpos, rule.wkst) == ((8,), (15,), (5,), (1,), "SU")
    assert rule.ends


def test_until_kinds() -> None:
    assert parse_rule("FREQ=DAILY;UNTIL=20261231").until.is_date
    utc = parse_rule("FREQ=DAILY;UNTIL=20261231T230000Z").until
    assert utc.is_utc
    assert utc.value == datetime(2026, 12, 31, 23, tzinfo=UTC)
    local = parse_rule("FREQ=DAILY;UNTIL=20261231T230000").until
    assert not local.is_utc
    assert not local.is_date


# --- presets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_without_a_start_are_their_rrule(name: str) -> None:
    assert validate_rule(name) == PRESETS[name]
    assert validate_rule(name.upper()) == PRESETS[name]


@pytest.mark.parametrize("day", range(1, 29))
def test_monthly_preset_up_to_day_28_is_plain_monthly(day: int) -> None:
    assert validate_rule("monthly", dtstart=datetime(2026, 1, day, 9)) == "FREQ=MONTHLY"


@pytest.mark.parametrize(
    ("day", "rule"),
    [
        (29, "FREQ=MONTHLY;BYMONTHDAY=28,29;BYSETPOS=-1"),
        (30, "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1"),
        (31, "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1"),
    ],
)
def test_monthly_preset_on_days_29_to_31_falls_back_to_the_last_day(day: int, rule: str) -> None:
    assert validate_rule("monthly", dtstart=datetime(2026, 1, day, 9)) == rule


def test_monthly_preset_reads_the_start_day_in_the_tasks_zone() -> None:
    # 09:00 on 31 January in Sydney is still 30 January in UTC.
    start = datetime(2026, 1, 30, 22, tzinfo=UTC)
    assert validate_rule("monthly", dtstart=start, timezone_name="Australia/Sydney").endswith("31;BYSETPOS=-1")
    assert validate_rule("monthly", dtstart=start).endswith("30;BYSETPOS=-1")


def test_yearly_preset_on_a_leap_day_falls_back_to_28_february() -> None:
    assert validate_rule("yearly", dtstart=datetime(2028, 2, 29, 9)) == (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1"
    )
    assert validate_rule("yearly", dtstart=datetime(2028, 2, 28, 9)) == "FREQ=YEARLY"


# --- validation messages name the wrong part ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("BYDAY=MO", "needs FREQ"),
        ("FREQ=FORTNIGHTLY", "FREQ must be one of"),
        ("FREQ=MINUTELY", "FREQ=MINUTELY is not supported"),
        ("FREQ=SECONDLY", "FREQ=SECONDLY is not supported"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given more than once"),
        ("FREQ=DAILY;COLOUR=RED", "Unknown rule part 'COLOUR'"),
        ("FREQ=DAILY;RSCALE=HEBREW", "RSCALE"),
        ("FREQ=DAILY;BYEASTER=0", "BYEASTER"),
        ("FREQ=DAILY;DAILY", "not a NAME=VALUE part"),
        ("FREQ=DAILY;INTERVAL=", "INTERVAL has no value"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1"),
        ("FREQ=DAILY;INTERVAL=two", "INTERVAL must be a whole number"),
        ("FREQ=DAILY;INTERVAL=1001", "INTERVAL must be a whole number from 1 to 1000"),
        ("FREQ=YEARLY;INTERVAL=101", "INTERVAL must be a whole number from 1 to 100"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number from 1"),
        ("FREQ=DAILY;COUNT=-3", "COUNT must be a whole number"),
        ("FREQ=DAILY;UNTIL=tomorrow", "UNTIL must be a date"),
        ("FREQ=DAILY;UNTIL=20260230", "UNTIL: '20260230' is not a real date"),
        ("FREQ=DAILY;UNTIL=20260101T250000Z", "UNTIL: '20260101T250000Z' is not a real date"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20261231", "COUNT and UNTIL cannot both be given"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY: 'XX' is not a weekday"),
        ("FREQ=WEEKLY;BYDAY=MO,", "BYDAY: '' is not a weekday"),
        ("FREQ=MONTHLY;BYDAY=0MO", "BYDAY: the ordinal in '0MO'"),
        ("FREQ=MONTHLY;BYDAY=-MO", "BYDAY: '-MO' has a sign but no ordinal"),
        ("FREQ=WEEKLY;BYDAY=2MO", "BYDAY: an ordinal such as 2MO needs FREQ=MONTHLY or FREQ=YEARLY"),
        ("FREQ=DAILY;BYDAY=-1FR", "needs FREQ=MONTHLY or FREQ=YEARLY, not FREQ=DAILY"),
        ("FREQ=MONTHLY;BYDAY=6MO", "with FREQ=MONTHLY the ordinal must be from 1 to 5"),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=1MO", "cannot be combined with BYWEEKNO"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY: 0 is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY: 32 is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=-32", "BYMONTHDAY: -32 is out of range"),
        ("FREQ=MONTHLY;BYMONTHDAY=1.5", "BYMONTHDAY: '1.5' is not a whole number"),
        ("FREQ=WEEKLY;BYMONTHDAY=1", "BYMONTHDAY cannot be used with FREQ=WEEKLY"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH: 13 is out of range"),
        ("FREQ=YEARLY;BYMONTH=-1", "BYMONTH: -1 is out of range"),
        ("FREQ=YEARLY;BYYEARDAY=367", "BYYEARDAY: 367 is out of range"),
        ("FREQ=MONTHLY;BYYEARDAY=1", "BYYEARDAY cannot be used with FREQ=MONTHLY"),
        ("FREQ=DAILY;BYYEARDAY=1", "BYYEARDAY cannot be used with FREQ=DAILY"),
        ("FREQ=YEARLY;BYWEEKNO=54", "BYWEEKNO: 54 is out of range"),
        ("FREQ=MONTHLY;BYWEEKNO=1", "BYWEEKNO can only be used with FREQ=YEARLY"),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR: 24 is out of range"),
        ("FREQ=DAILY;BYMINUTE=60", "BYMINUTE: 60 is out of range"),
        ("FREQ=DAILY;BYSECOND=60", "BYSECOND=60 (a leap second) is not supported"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS needs another BY"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=0", "BYSETPOS: 0 is out of range"),
        ("FREQ=WEEKLY;WKST=XX", "WKST: 'XX' is not a weekday"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "BYMONTHDAY=30 never occurs in BYMONTH=2"),
        ("FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31,-31", "BYMONTHDAY=31,-31 never occurs in BYMONTH=4,6"),
        ("FREQ=" + "DAILY;" * 100, "longer than 500"),
    ],
)
def test_invalid_rules_are_rejected_naming_the_part(text: str, fragment: str) -> None:
    with pytest.raises(RuleError) as error:
        validate_rule(text)
    assert fragment in str(error.value)


def test_a_rule_that_never_recurs_after_its_start_is_rejected() -> None:
    # Every 7 days from a Monday is never a Tuesday.
    with pytest.raises(RuleError, match="never produces an occurrence"):
        validate_rule("FREQ=DAILY;INTERVAL=7;BYDAY=TU", dtstart=datetime(2026, 1, 5, 9))
    assert validate_rule("FREQ=DAILY;INTERVAL=7;BYDAY=TU", dtstart=datetime(2026, 1, 6, 9))


def test_a_rule_impossible_in_every_year_is_rejected_quickly() -> None:
    started = datetime.now()
    with pytest.raises(RuleError, match="never produces an occurrence"):
        validate_rule("FREQ=HOURLY;BYYEARDAY=60;BYMONTH=1", dtstart=datetime(2026, 1, 5, 9))
    assert (datetime.now() - started).total_seconds() < 3


def test_leap_day_only_rules_are_valid() -> None:
    assert validate_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", dtstart=datetime(2026, 1, 1, 9))


@given(st.text(max_size=80))
def test_arbitrary_text_either_validates_or_raises_rule_error(text: str) -> None:
    try:
        normalised = validate_rule(text)
    except RuleError:
        return  # a clear refusal is fine; any other exception would be a 500 at the API
    assert validate_rule(normalised) == normalised  # normalisation is idempotent
    assert describe_rule(normalised)


_weekday = st.sampled_from(["MO", "TU", "WE", "TH", "FR", "SA", "SU"])


@given(
    freq=st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]),
    interval=st.integers(1, 12),
    days=st.lists(_weekday, min_size=1, max_size=7, unique=True),
    count=st.none() | st.integers(1, 50),
)
def test_normalised_rules_parse_back_to_the_same_rule(
    freq: str, interval: int, days: list[str], count: int | None
) -> None:
    # Every 7th day from a Monday is always a Monday: a rule without MO is rightly refused.
    assume(not (freq == "DAILY" and interval % 7 == 0 and "MO" not in days))
    text = f"FREQ={freq};INTERVAL={interval};BYDAY={','.join(days)}" + (f";COUNT={count}" if count else "")
    normalised = validate_rule(text, dtstart=datetime(2026, 1, 5, 9))
    assert parse_rule(normalised) == parse_rule(text)


# --- descriptions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "text"),
    [
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=8", "every 2 weeks on Tuesday and Thursday, 8 times"),
        ("daily", "every day"),
        ("FREQ=DAILY;INTERVAL=3", "every 3 days"),
        ("weekdays", "every weekday"),
        ("weekly", "every week"),
        ("monthly", "every month"),
        ("yearly", "every year"),
        ("FREQ=HOURLY;INTERVAL=4", "every 4 hours"),
        ("FREQ=WEEKLY;BYDAY=SA,SU", "every week on weekends"),
        ("FREQ=MONTHLY;BYDAY=-1FR", "every month on the last Friday"),
        ("FREQ=MONTHLY;BYDAY=2MO,-2FR", "every month on the second Monday and the second-to-last Friday"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15,-1", "every month on the 1st, 15th and last day"),
        ("FREQ=MONTHLY;BYMONTHDAY=-3", "every month on the third-to-last day"),
        ("FREQ=MONTHLY;BYMONTHDAY=22;COUNT=1", "every month on the 22nd, once"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
            "every month on the 31st, or the month's last day when shorter",
        ),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1",
            "every year on the 29th of February, or the month's last day when shorter",
        ),
        ("FREQ=YEARLY;BYMONTH=3;BYDAY=2SU", "every year on the second Sunday in March"),
        ("FREQ=YEARLY;BYMONTH=1,7", "every year in January and July"),
        ("FREQ=YEARLY;BYYEARDAY=1,-1", "every year on day 1 and the last day of the year"),
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", "every year on Monday in week 20"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "every month on weekdays, only the last of each month"),
        ("FREQ=DAILY;BYHOUR=9,17;BYMINUTE=30", "every day at 09:30 and 17:30"),
        ("FREQ=DAILY;BYHOUR=9", "every day in hour 9"),
        ("FREQ=WEEKLY;INTERVAL=2;WKST=SU;BYDAY=MO", "every 2 weeks on Monday (weeks start on Sunday)"),
        ("FREQ=DAILY;UNTIL=20261231", "every day, until 31 December 2026"),
        ("FREQ=DAILY;UNTIL=20261231T170000", "every day, until 31 December 2026 at 17:00"),
        ("FREQ=DAILY;UNTIL=20261231T170000Z", "every day, until 31 December 2026 at 17:00 UTC"),
    ],
)
def test_descriptions(rule: str, text: str) -> None:
    assert describe_rule(rule) == text


def test_describing_an_unparseable_rule_returns_its_text_instead_of_failing() -> None:
    assert describe_rule("FREQ=SOMETIMES") == "FREQ=SOMETIMES"
    assert describe_rule("") == ""
