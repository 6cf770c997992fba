"""Expansion in a time zone, DST, month ends, leap days, COUNT/UNTIL and both modes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurrence_rules.occurrences import (
    COMPLETION,
    SCHEDULE,
    UnknownTimezone,
    expand,
    localize,
    next_occurrence,
    occurrences_after,
    preview,
)
from recurrence_rules.rules import validate_rule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")


def first(rule: str, start: datetime, zone: str, n: int) -> list[datetime]:
    return list(islice(expand(rule, dtstart=start, timezone_name=zone), n))


def iso(moments: list[datetime]) -> list[str]:
    return [moment.isoformat() for moment in moments]


# --- DST: wall-clock time is kept; gaps and overlaps as RFC 5545 3.3.5 says ------------------------


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Berlin springs forward on 29 March 2026 (02:00 → 03:00), falls back on 25 October.
        (
            "Europe/Berlin",
            datetime(2026, 3, 28, 9, tzinfo=BERLIN),
            ["2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00", "2026-03-30T09:00:00+02:00"],
        ),
        (
            "Europe/Berlin",
            datetime(2026, 10, 24, 9, tzinfo=BERLIN),
            ["2026-10-24T09:00:00+02:00", "2026-10-25T09:00:00+01:00", "2026-10-26T09:00:00+01:00"],
        ),
        # New York: 8 March and 1 November 2026.
        (
            "America/New_York",
            datetime(2026, 3, 7, 9, tzinfo=NEW_YORK),
            ["2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"],
        ),
        (
            "America/New_York",
            datetime(2026, 10, 31, 9, tzinfo=NEW_YORK),
            ["2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00"],
        ),
        # Sydney (southern hemisphere): back on 5 April 2026, forward on 4 October 2026.
        (
            "Australia/Sydney",
            datetime(2026, 4, 4, 9, tzinfo=SYDNEY),
            ["2026-04-04T09:00:00+11:00", "2026-04-05T09:00:00+10:00", "2026-04-06T09:00:00+10:00"],
        ),
        (
            "Australia/Sydney",
            datetime(2026, 10, 3, 9, tzinfo=SYDNEY),
            ["2026-10-03T09:00:00+10:00", "2026-10-04T09:00:00+11:00", "2026-10-05T09:00:00+11:00"],
        ),
    ],
)
def test_daily_rules_keep_the_local_time_across_dst_changes(zone: str, start: datetime, expected: list[str]) -> None:
    assert iso(first("FREQ=DAILY", start, zone, 3)) == expected


@pytest.mark.parametrize(
    ("zone", "start", "gap_day", "expected"),
    [
        # 02:30 does not exist on these days: it is read with the offset before the gap, i.e. 03:30.
        ("Europe/Berlin", datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN), 1, "2026-03-29T03:30:00+02:00"),
        ("America/New_York", datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK), 1, "2026-03-08T03:30:00-04:00"),
        ("Australia/Sydney", datetime(2026, 10, 3, 2, 30, tzinfo=SYDNEY), 1, "2026-10-04T03:30:00+11:00"),
    ],
)
def test_a_local_time_in_the_spring_forward_gap_takes_the_offset_before_the_gap(
    zone: str, start: datetime, gap_day: int, expected: str
) -> None:
    moments = first("FREQ=DAILY", start, zone, 3)
    assert moments[gap_day].isoformat() == expected
    # ...and the day after, the series is back at its own wall-clock time.
    assert moments[gap_day + 1].time() == start.time()


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # 02:30 exists twice on these days: the first one (still summer time) is meant.
        ("Europe/Berlin", datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN), "2026-10-25T02:30:00+02:00"),
        ("America/New_York", datetime(2026, 10, 31, 1, 30, tzinfo=NEW_YORK), "2026-11-01T01:30:00-04:00"),
        ("Australia/Sydney", datetime(2026, 4, 4, 2, 30, tzinfo=SYDNEY), "2026-04-05T02:30:00+11:00"),
    ],
)
def test_a_repeated_local_time_in_the_fall_back_overlap_means_its_first_occurrence(
    zone: str, start: datetime, expected: str
) -> None:
    assert first("FREQ=DAILY", start, zone, 2)[1].isoformat() == expected


def test_hourly_rules_across_a_gap_never_repeat_an_instant() -> None:
    moments = first("FREQ=HOURLY;BYMINUTE=0,30", datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN), "Europe/Berlin", 6)
    instants = [moment.astimezone(UTC) for moment in moments]
    assert instants == sorted(set(instants))
    assert iso(moments)[:4] == [
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:00 (gap) → 03:00
        "2026-03-29T03:30:00+02:00",
    ]


def test_localize_resolves_gap_and_overlap() -> None:
    assert localize(datetime(2026, 3, 29, 2, 30), BERLIN).isoformat() == "2026-03-29T03:30:00+02:00"
    assert localize(datetime(2026, 10, 25, 2, 30), BERLIN).isoformat() == "2026-10-25T02:30:00+02:00"


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney"]),
    start_day=st.integers(0, 365),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
)
def test_daily_series_are_at_the_same_wall_clock_time_except_in_gaps(
    zone: str, start_day: int, hour: int, minute: int
) -> None:
    tz = ZoneInfo(zone)
    start = localize(datetime(2026, 1, 1, hour, minute) + timedelta(days=start_day), tz)
    moments = first("FREQ=DAILY", start, zone, 40)
    for previous, moment in pairwise(moments):
        assert moment > previous
        assert moment.date() == previous.date() + timedelta(days=1)
        wall = datetime.combine(moment.date(), start.time())
        if localize(wall, tz).replace(tzinfo=None) == wall:  # the wall time exists that day
            assert moment.time() == start.time()


# --- month ends, leap days ---------------------------------------------------------------------------


def test_explicit_bymonthday_31_skips_shorter_months() -> None:
    moments = first("FREQ=MONTHLY;BYMONTHDAY=31", datetime(2026, 1, 31, 9, tzinfo=BERLIN), "Europe/Berlin", 4)
    assert [m.date().isoformat() for m in moments] == ["2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31"]


def test_explicit_monthly_from_the_31st_skips_shorter_months() -> None:
    moments = first("FREQ=MONTHLY", datetime(2026, 1, 31, 9, tzinfo=UTC), "UTC", 3)
    assert [m.date().isoformat() for m in moments] == ["2026-01-31", "2026-03-31", "2026-05-31"]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (31, ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]),
        (30, ["2026-01-30", "2026-02-28", "2026-03-30", "2026-04-30", "2026-05-30"]),
        (29, ["2026-01-29", "2026-02-28", "2026-03-29", "2026-04-29", "2026-05-29"]),
    ],
)
def test_monthly_preset_on_a_late_day_takes_the_last_day_of_shorter_months(day: int, expected: list[str]) -> None:
    start = datetime(2026, 1, day, 9, tzinfo=BERLIN)
    rule = validate_rule("monthly", dtstart=start, timezone_name="Europe/Berlin")
    assert [m.date().isoformat() for m in first(rule, start, "Europe/Berlin", 5)] == expected
    assert all(m.time().hour == 9 for m in first(rule, start, "Europe/Berlin", 5))


def test_monthly_preset_on_the_29th_keeps_29_february_in_leap_years() -> None:
    start = datetime(2028, 1, 29, 9, tzinfo=UTC)
    rule = validate_rule("monthly", dtstart=start)
    assert [m.date().isoformat() for m in first(rule, start, "UTC", 3)] == ["2028-01-29", "2028-02-29", "2028-03-29"]


def test_last_day_of_month_rule() -> None:
    moments = first("FREQ=MONTHLY;BYMONTHDAY=-1", datetime(2028, 1, 31, 9, tzinfo=UTC), "UTC", 3)
    assert [m.date().isoformat() for m in moments] == ["2028-01-31", "2028-02-29", "2028-03-31"]


def test_explicit_yearly_leap_day_occurs_only_in_leap_years() -> None:
    moments = first("FREQ=YEARLY", datetime(2024, 2, 29, 9, tzinfo=UTC), "UTC", 3)
    assert [m.date().isoformat() for m in moments] == ["2024-02-29", "2028-02-29", "2032-02-29"]


def test_yearly_preset_on_a_leap_day_falls_back_to_28_february() -> None:
    start = datetime(2024, 2, 29, 9, tzinfo=UTC)
    rule = validate_rule("yearly", dtstart=start)
    moments = first(rule, start, "UTC", 5)
    assert [m.date().isoformat() for m in moments] == [
        "2024-02-29",
        "2025-02-28",
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]


# --- the other rule parts expand as RFC 5545 says ---------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "start", "expected_dates"),
    [
        ("FREQ=WEEKLY;BYDAY=TU,TH", datetime(2026, 1, 6, 9), ["2026-01-06", "2026-01-08", "2026-01-13"]),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", datetime(2026, 1, 5, 9), ["2026-01-05", "2026-01-19", "2026-02-02"]),
        ("weekdays", datetime(2026, 1, 9, 9), ["2026-01-09", "2026-01-12", "2026-01-13"]),
        ("FREQ=MONTHLY;BYDAY=-1FR", datetime(2026, 1, 30, 9), ["2026-01-30", "2026-02-27", "2026-03-27"]),
        ("FREQ=MONTHLY;BYDAY=2TU", datetime(2026, 1, 13, 9), ["2026-01-13", "2026-02-10", "2026-03-10"]),
        ("FREQ=MONTHLY;BYMONTHDAY=-2", datetime(2026, 1, 30, 9), ["2026-01-30", "2026-02-27", "2026-03-30"]),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", datetime(2026, 1, 30, 9), ["2026-01-30", "2026-02-27"]),
        ("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", datetime(2026, 3, 29, 9), ["2026-03-29", "2027-03-28"]),
        ("FREQ=YEARLY;BYYEARDAY=100", datetime(2026, 4, 10, 9), ["2026-04-10", "2027-04-10", "2028-04-09"]),
        ("FREQ=YEARLY;BYYEARDAY=-1", datetime(2026, 12, 31, 9), ["2026-12-31", "2027-12-31"]),
        ("FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO", datetime(2025, 12, 29, 9), ["2025-12-29", "2027-01-04"]),
        ("FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=1", datetime(2026, 1, 1, 9), ["2026-01-01", "2026-07-01", "2027-01-01"]),
        ("FREQ=DAILY;BYMONTH=2", datetime(2026, 2, 27, 9), ["2026-02-27", "2026-02-28", "2027-02-01"]),
        # WKST changes which days an every-other-week rule picks (RFC 5545's own example).
        ("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO", datetime(1997, 8, 5, 9), ["1997-08-05", "1997-08-10"]),
        ("FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU", datetime(1997, 8, 5, 9), ["1997-08-05", "1997-08-17"]),
    ],
)
def test_rule_parts_expand_as_specified(rule: str, start: datetime, expected_dates: list[str]) -> None:
    moments = first(rule, start.replace(tzinfo=UTC), "UTC", len(expected_dates))
    assert [m.date().isoformat() for m in moments] == expected_dates


def test_byhour_byminute_bysecond_set_the_times() -> None:
    moments = first(
        "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=30;BYSECOND=15", datetime(2026, 1, 5, 9, 30, 15, tzinfo=UTC), "UTC", 3
    )
    assert iso(moments) == ["2026-01-05T09:30:15+00:00", "2026-01-05T17:30:15+00:00", "2026-01-06T09:30:15+00:00"]


def test_the_start_counts_as_the_first_instance_even_off_rule() -> None:
    # A Wednesday start for a Monday rule: the start itself, then Mondays; COUNT includes the start.
    moments = first("FREQ=WEEKLY;BYDAY=MO;COUNT=3", datetime(2026, 1, 7, 9, tzinfo=UTC), "UTC", 10)
    assert [m.date().isoformat() for m in moments] == ["2026-01-07", "2026-01-12", "2026-01-19"]


# --- COUNT and UNTIL --------------------------------------------------------------------------------------


def test_count_limits_the_series() -> None:
    assert len(first("FREQ=DAILY;COUNT=3", datetime(2026, 1, 1, 9, tzinfo=UTC), "UTC", 10)) == 3
    assert len(first("FREQ=DAILY;COUNT=1", datetime(2026, 1, 1, 9, tzinfo=UTC), "UTC", 10)) == 1


@pytest.mark.parametrize(
    ("until", "last"),
    [
        ("20260105", "2026-01-05T09:00:00+01:00"),  # a date: the whole local day
        ("20260105T090000", "2026-01-05T09:00:00+01:00"),  # local, inclusive
        ("20260105T085959", "2026-01-04T09:00:00+01:00"),
        ("20260105T080000Z", "2026-01-05T09:00:00+01:00"),  # UTC, inclusive (08:00Z = 09:00 Berlin)
        ("20260105T075959Z", "2026-01-04T09:00:00+01:00"),
    ],
)
def test_until_is_inclusive_in_utc_or_local_time(until: str, last: str) -> None:
    moments = first(f"FREQ=DAILY;UNTIL={until}", datetime(2026, 1, 1, 9, tzinfo=BERLIN), "Europe/Berlin", 10)
    assert moments[-1].isoformat() == last


def test_expansion_stops_at_the_end_of_the_calendar() -> None:
    moments = first("FREQ=HOURLY", datetime(9999, 12, 31, 20, tzinfo=UTC), "Etc/GMT-1", 10)
    assert 1 <= len(moments) < 10


def test_until_before_the_start_leaves_only_the_start() -> None:
    moments = first("FREQ=DAILY;UNTIL=20250101", datetime(2026, 1, 1, 9, tzinfo=UTC), "UTC", 10)
    assert len(moments) == 1


# --- next occurrence: schedule mode ----------------------------------------------------------------------


def _next(rule: str, *, start: datetime, due: datetime, completed: datetime, mode: str = SCHEDULE, number=None):
    return next_occurrence(
        rule=rule,
        timezone_name=str(start.tzinfo),
        dtstart=start,
        mode=mode,
        due_at=due,
        completed_at=completed,
        occurrence_number=number,
    )


def test_schedule_mode_next_is_the_following_instance() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=BERLIN)  # Monday
    result = _next("FREQ=WEEKLY;BYDAY=MO,TH", start=start, due=start, completed=start - timedelta(hours=1))
    assert result.due_at.isoformat() == "2026-01-08T09:00:00+01:00"


def test_schedule_mode_overdue_completion_creates_no_past_occurrence() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    completed = datetime(2026, 1, 20, 12, tzinfo=BERLIN)  # two weeks late, at noon
    result = _next("FREQ=DAILY", start=start, due=start, completed=completed)
    assert result.due_at.isoformat() == "2026-01-21T09:00:00+01:00"


def test_schedule_mode_completion_before_todays_time_still_moves_past_the_completed_due() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    due = datetime(2026, 1, 10, 9, tzinfo=BERLIN)
    result = _next("FREQ=DAILY", start=start, due=due, completed=datetime(2026, 1, 8, 7, tzinfo=BERLIN))
    assert result.due_at.isoformat() == "2026-01-11T09:00:00+01:00"


def test_schedule_mode_keeps_the_series_phase_from_its_start() -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)  # every other Monday from 5 January
    result = _next("FREQ=WEEKLY;INTERVAL=2", start=start, due=start, completed=datetime(2026, 1, 13, tzinfo=UTC))
    assert result.due_at.date().isoformat() == "2026-01-19"


def test_schedule_mode_after_a_dst_gap_returns_to_the_series_time() -> None:
    start = datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN)
    gap_day = datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN)  # the occurrence shifted by the gap
    result = _next("FREQ=DAILY", start=start, due=gap_day, completed=gap_day)
    assert result.due_at.isoformat() == "2026-03-30T02:30:00+02:00"


def test_schedule_mode_count_ends_the_series_and_says_so() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    third = datetime(2026, 1, 3, 9, tzinfo=UTC)
    assert _next("FREQ=DAILY;COUNT=3", start=start, due=start, completed=start).due_at == start + timedelta(days=1)
    ended = _next("FREQ=DAILY;COUNT=3", start=start, due=third, completed=third)
    assert (ended.due_at, ended.end_reason) == (None, "count")


def test_schedule_mode_count_counts_instances_skipped_by_a_late_completion() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    ended = _next("FREQ=DAILY;COUNT=3", start=start, due=start, completed=datetime(2026, 1, 5, tzinfo=UTC))
    assert ended.end_reason == "count"


def test_schedule_mode_until_ends_the_series() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    last = datetime(2026, 1, 2, 9, tzinfo=UTC)
    assert _next("FREQ=DAILY;UNTIL=20260102", start=start, due=start, completed=start).due_at == last
    assert _next("FREQ=DAILY;UNTIL=20260102", start=start, due=last, completed=last).end_reason == "until"


# --- next occurrence: completion mode -----------------------------------------------------------------------


def test_completion_mode_restarts_at_the_completion_date_with_the_original_time() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=BERLIN)
    completed = datetime(2026, 1, 10, 18, 45, tzinfo=BERLIN)
    result = _next("FREQ=DAILY;INTERVAL=3", start=start, due=start, completed=completed, mode=COMPLETION)
    assert result.due_at.isoformat() == "2026-01-13T09:00:00+01:00"


def test_completion_mode_completed_early_counts_from_the_completion() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    due = datetime(2026, 1, 10, 9, tzinfo=UTC)
    result = _next("FREQ=WEEKLY", start=start, due=due, completed=datetime(2026, 1, 6, 8, tzinfo=UTC), mode=COMPLETION)
    assert result.due_at.isoformat() == "2026-01-13T09:00:00+00:00"


def test_completion_mode_uses_the_completion_date_in_the_tasks_zone() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=SYDNEY)
    completed = datetime(2026, 1, 9, 14, tzinfo=UTC)  # already 10 January, 01:00, in Sydney
    result = _next("FREQ=DAILY", start=start, due=start, completed=completed, mode=COMPLETION)
    assert result.due_at.isoformat() == "2026-01-11T09:00:00+11:00"


def test_completion_mode_keeps_the_local_time_across_dst() -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=NEW_YORK)
    completed = datetime(2026, 3, 6, 20, tzinfo=NEW_YORK)
    result = _next("FREQ=DAILY;INTERVAL=2", start=start, due=start, completed=completed, mode=COMPLETION)
    assert result.due_at.isoformat() == "2026-03-08T09:00:00-04:00"


def test_completion_mode_monthly_from_the_31st_does_not_skip_short_months() -> None:
    start = datetime(2026, 1, 31, 9, tzinfo=UTC)
    result = _next("FREQ=MONTHLY", start=start, due=start, completed=start, mode=COMPLETION)
    assert result.due_at.date().isoformat() == "2026-02-28"


def test_completion_mode_count_and_until_end_the_series() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert _next("FREQ=DAILY;COUNT=3", start=start, due=start, completed=start, mode=COMPLETION, number=3).due_at
    ended = _next("FREQ=DAILY;COUNT=3", start=start, due=start, completed=start, mode=COMPLETION, number=4)
    assert ended.end_reason == "count"
    late = datetime(2026, 2, 1, tzinfo=UTC)
    ended = _next("FREQ=DAILY;UNTIL=20260115", start=start, due=start, completed=late, mode=COMPLETION)
    assert ended.end_reason == "until"


# --- preview and occurrences after --------------------------------------------------------------------------


def test_preview_starts_with_due_at_and_describes_the_rule() -> None:
    result = preview(
        rule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH;COUNT=8",
        due_at=datetime(2026, 1, 6, 8, tzinfo=UTC),
        timezone_name="Europe/Berlin",
        count=20,
    )
    assert result.occurrences[0].isoformat() == "2026-01-06T09:00:00+01:00"
    assert len(result.occurrences) == 8
    assert result.text == "every 2 weeks on Tuesday and Thursday, 8 times"
    assert result.ends is True


def test_preview_of_an_endless_rule_returns_count_occurrences() -> None:
    result = preview(rule="daily", due_at=datetime(2026, 1, 1, 9, tzinfo=UTC), timezone_name="UTC", count=100)
    assert len(result.occurrences) == 100
    assert result.ends is False


def test_preview_in_completion_mode_assumes_completion_on_time() -> None:
    result = preview(
        rule="FREQ=DAILY;INTERVAL=2;COUNT=3",
        due_at=datetime(2026, 1, 1, 9, tzinfo=UTC),
        timezone_name="UTC",
        count=5,
        mode=COMPLETION,
    )
    assert [m.date().isoformat() for m in result.occurrences] == ["2026-01-01", "2026-01-03", "2026-01-05"]


def test_preview_rejects_an_unknown_zone_and_a_bad_count() -> None:
    with pytest.raises(UnknownTimezone):
        preview(rule="daily", due_at=datetime(2026, 1, 1, tzinfo=UTC), timezone_name="Mars/Olympus", count=3)
    with pytest.raises(ValueError, match="count"):
        preview(rule="daily", due_at=datetime(2026, 1, 1, tzinfo=UTC), timezone_name="UTC", count=101)


def test_occurrences_after_a_task_are_strictly_after_it() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    after = datetime(2026, 1, 3, 9, tzinfo=UTC)
    result = occurrences_after(rule="FREQ=DAILY;COUNT=5", timezone_name="UTC", dtstart=start, after=after, count=10)
    assert [m.date().isoformat() for m in result] == ["2026-01-04", "2026-01-05"]


@settings(max_examples=50, deadline=None)
@given(
    rule=st.sampled_from(
        ["daily", "weekdays", "weekly", "FREQ=MONTHLY;BYDAY=-1FR", "FREQ=HOURLY;INTERVAL=5", "FREQ=YEARLY;BYMONTH=3"]
    ),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"]),
    days_late=st.integers(0, 400),
    hours=st.integers(0, 23),
)
def test_schedule_mode_next_is_always_after_due_and_completion_and_an_instance(
    rule: str, zone: str, days_late: int, hours: int
) -> None:
    start = localize(datetime(2026, 1, 30, 9), ZoneInfo(zone))
    normalised = validate_rule(rule, dtstart=start, timezone_name=zone)
    completed = start + timedelta(days=days_late, hours=hours)
    result = next_occurrence(
        rule=normalised, timezone_name=zone, dtstart=start, mode=SCHEDULE, due_at=start, completed_at=completed
    )
    assert result.due_at > completed
    instances = expand(normalised, dtstart=start, timezone_name=zone)
    earlier = [m for m in islice(instances, 5000) if completed < m <= result.due_at]
    assert earlier == [result.due_at]  # it is an instance, and the first one after the completion
