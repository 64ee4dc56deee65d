"""Relative SOQL date literals (``TODAY``, ``LAST_N_DAYS:7`` ...) as half-open UTC date ranges.

The integration user's time zone is GMT, so days start at 00:00 UTC; weeks start on Sunday
(the ``en_US`` locale default).
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = ["date_range"]


def _month_start(day: date, shift: int) -> date:
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def date_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """Return ``[start, end)`` of a relative date literal.

    Args:
        name: the literal, e.g. ``LAST_N_DAYS`` (upper case).
        n: its ``:n`` argument, if any.
        today: the current UTC date.

    Returns:
        The first day in the range and the first day after it.
    """
    one = timedelta(days=1)
    week_start = today - timedelta(days=(today.weekday() + 1) % 7)
    count = n or 0
    fixed: dict[str, tuple[date, date]] = {
        "YESTERDAY": (today - one, today),
        "TODAY": (today, today + one),
        "TOMORROW": (today + one, today + 2 * one),
        "LAST_WEEK": (week_start - 7 * one, week_start),
        "THIS_WEEK": (week_start, week_start + 7 * one),
        "NEXT_WEEK": (week_start + 7 * one, week_start + 14 * one),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today, 0)),
        "THIS_MONTH": (_month_start(today, 0), _month_start(today, 1)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
        "LAST_N_DAYS": (today - count * one, today + one),
        "NEXT_N_DAYS": (today + one, today + (count + 1) * one),
        "N_DAYS_AGO": (today - count * one, today - (count - 1) * one),
        "LAST_N_WEEKS": (week_start - 7 * count * one, week_start),
        "NEXT_N_WEEKS": (week_start + 7 * one, week_start + 7 * (count + 1) * one),
        "LAST_N_MONTHS": (_month_start(today, -count), _month_start(today, 0)),
        "NEXT_N_MONTHS": (_month_start(today, 1), _month_start(today, count + 1)),
    }
    return fixed[name]
