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
            days.update(range(first, last + 1) if first <= last else [])
        h1, m1, h2, m2 = (int(g) for g in match.groups()[1:])
        return cls(frozenset(days), time(h1, m1), time(h2, m2), ZoneInfo(zone))

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def describe(self) -> str:
        days = sorted(self.days)
        if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            when = f"{DAY_NAMES[days[0]]} to {DAY_NAMES[days[-1]]}"
        else:
            when = ", ".join(DAY_NAMES[d] for d in days)
        return f"{when}, {self.opens:%H:%M} to {self.closes:%H:%M}"
