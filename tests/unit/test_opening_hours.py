"""Opening hours (bot.opening_hours): which days and times advisers are online, and how the
assistant words them to a parent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.opening_hours import OpeningHours

LONDON_WINTER = timezone.utc  # in December London is on UTC


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of Monday 30 November 2026 (day 0 = Monday)."""
    return datetime(2026, 11, 30, hour, minute, tzinfo=LONDON_WINTER) + timedelta(days=day)


def test_the_default_week_is_monday_to_friday_nine_to_five():
    hours = OpeningHours.parse("Mon-Fri 09:00-17:00")
    assert hours.days == frozenset(range(5))
    assert hours.describe() == "Monday to Friday, 09:00 to 17:00"
    assert hours.is_open(at(0, 9)) and hours.is_open(at(4, 16, 59))
    assert not hours.is_open(at(0, 8, 59)) and not hours.is_open(at(2, 17))
    assert not hours.is_open(at(5, 12)), "Saturday"


def test_a_range_that_wraps_past_sunday_covers_the_weekend_and_monday():
    hours = OpeningHours.parse("Sat-Mon 09:00-17:00")
    assert hours.days == frozenset({5, 6, 0})
    assert hours.describe() == "Saturday to Monday, 09:00 to 17:00"
    assert hours.is_open(at(5, 10)) and hours.is_open(at(6, 10)) and hours.is_open(at(0, 10))
    assert not hours.is_open(at(1, 10)), "Tuesday"


@pytest.mark.parametrize(
    "text, days, described",
    [
        ("Mon,Wed 10:00-12:00", {0, 2}, "Monday, Wednesday, 10:00 to 12:00"),
        ("sun 9:00-12:30", {6}, "Sunday, 09:00 to 12:30"),
        ("Mon-Sun 08:00-20:00", set(range(7)), "Monday to Sunday, 08:00 to 20:00"),
        ("Fri-Thu 08:00-20:00", set(range(7)), "Monday to Sunday, 08:00 to 20:00"),
        (
            "Monday - Tuesday, Sat 09:00 - 10:00",
            {0, 1, 5},
            "Monday, Tuesday, Saturday, 09:00 to 10:00",
        ),
        ("Thu-Fri, Sat 09:00-10:00", {3, 4, 5}, "Thursday to Saturday, 09:00 to 10:00"),
    ],
)
def test_days_are_read_as_ranges_or_lists_and_described_plainly(text, days, described):
    hours = OpeningHours.parse(text)
    assert hours.days == frozenset(days)
    assert hours.describe() == described


def test_hours_are_read_in_the_services_time_zone():
    hours = OpeningHours.parse("Mon-Fri 09:00-17:00", zone="Europe/London")
    summer_morning = datetime(2026, 6, 1, 8, 30, tzinfo=timezone.utc)  # 09:30 in London (BST)
    assert hours.is_open(summer_morning)


@pytest.mark.parametrize("text", ["", "weekdays", "Mon-Fri", "Mon-Fri 9-5", "Mo-Fr 09:00-17:00"])
def test_hours_not_understood_say_how_to_write_them(text):
    with pytest.raises(ValueError, match="Mon"):
        OpeningHours.parse(text)
