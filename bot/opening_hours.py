"""When advisers work: a live hand-off is offered only inside opening hours.

``SEN_OPENING_HOURS`` is "Mon-Fri 09:00-17:00" by default (days as a range or a comma list,
then a time range) and ``SEN_TIMEZONE`` "Europe/London". Bank holidays are not known: an adviser
who is away marks themself unavailable, which has the same effect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@dataclass(frozen=True)
class OpeningHours:
    days: frozenset[int]
    opens: time
    closes: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, zone: str = "Europe/London") -> OpeningHours:
        match = re.fullmatch(
            r"\s*([a-z,\- ]+?)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text.lower()
        )
        if not match:
            raise ValueError(
                f"Opening hours '{text}' not understood; write them like 'Mon-Fri 09:00-17:00'."
            )
        days: set[int] = set()
        for part in match.group(1).replace(" ", "").split(","):
            ends = part.split("-")
            if any(e[:3] not in DAYS for e in ends) or len(ends) > 2:
                raise ValueError(f"Unknown day in opening hours '{text}': use Mon, Tue, ... Sun.")
            first, last = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
            # A range may wrap past Sunday: "Sat-Mon" is Saturday, Sunday and Monday.
            days.update(
                range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups()[1:])
        return cls(frozenset(days), time(h1, m1), time(h2, m2), ZoneInfo(zone))

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def describe(self) -> str:
        return f"{self._describe_days()}, {self.opens:%H:%M} to {self.closes:%H:%M}"

    def _describe_days(self) -> str:
        """ "Monday to Friday", "Saturday to Monday" (a run that wraps past Sunday), or a list."""
        days = sorted(self.days)
        if len(days) == 7:
            return f"{DAY_NAMES[0]} to {DAY_NAMES[6]}"
        for start in days:  # a run of days in week order, possibly wrapping past Sunday
            run = [(start + i) % 7 for i in range(len(days))]
            if len(days) > 1 and set(run) == self.days:
                return f"{DAY_NAMES[run[0]]} to {DAY_NAMES[run[-1]]}"
        return ", ".join(DAY_NAMES[d] for d in days)
