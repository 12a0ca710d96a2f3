"""A job's schedule: a 5-field cron expression or `@every <n><unit>` (ms, s, m, h, d), in a
time zone. Interval ticks are counted from the Unix epoch, so every server computes the same
ticks. No Django imports: settings.py validates schedules with schedule_parse."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EVERY = re.compile(r"@every\s+(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT = {"ms": timedelta(milliseconds=1), "s": timedelta(seconds=1), "m": timedelta(minutes=1)}
_UNIT |= {"h": timedelta(hours=1), "d": timedelta(days=1)}
PERIOD_TICKS = 8  # a cron schedule's period: its longest gap among this many ticks (a weekend)


@dataclass(frozen=True)
class Schedule:
    text: str
    zone: ZoneInfo
    every: timedelta | None = None  # an interval schedule; None for a cron expression

    def latest(self, now: datetime) -> datetime:
        """The last tick at or before `now` (UTC)."""
        if self.every is not None:
            return EPOCH + self.every * ((now - EPOCH) // self.every)
        after = croniter(self.text, now.astimezone(self.zone)).get_next(datetime)
        return croniter(self.text, after).get_prev(datetime).astimezone(UTC)

    def next(self, now: datetime) -> datetime:
        """The first tick after `now` (UTC)."""
        if self.every is not None:
            return self.latest(now) + self.every
        return croniter(self.text, now.astimezone(self.zone)).get_next(datetime).astimezone(UTC)

    def period(self, now: datetime) -> timedelta:
        """The longest time between two ticks from `now` on."""
        if self.every is not None:
            return self.every
        ticks = croniter(self.text, now.astimezone(self.zone))
        times = [ticks.get_next(datetime) for _ in range(PERIOD_TICKS + 1)]
        return max(b - a for a, b in zip(times, times[1:], strict=False))


def schedule_parse(text: str, *, zone: str = "UTC") -> Schedule | None:
    """The schedule `text` means, or None for an empty one (off). Raises ValueError saying
    what is wrong with the text or the zone."""
    text = " ".join(text.split())
    if not text:
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None
    if text.startswith("@every"):
        match = _EVERY.fullmatch(text)
        if not match:
            raise ValueError(f"{text!r} is not an interval like '@every 5s' or '@every 15m'")
        every = float(match[1]) * _UNIT[match[2]]
        if every < timedelta(milliseconds=100):
            raise ValueError(f"{text!r} is shorter than 100 ms")
        return Schedule(text=text, zone=tz, every=every)
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ValueError(f"{text!r} is not a 5-field cron expression like '*/15 * * * *'")
    return Schedule(text=text, zone=tz)
