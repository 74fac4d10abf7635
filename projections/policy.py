"""The tunable numbers of RULES.md, with the product's defaults."""

from __future__ import annotations

from datetime import timedelta

import msgspec

# RULES.md §7: a horizon shorter than the deferral deadline would forget a message before
# its deadline could fire
MIN_LATENESS_HORIZON = timedelta(hours=72)


class Policy(msgspec.Struct, frozen=True):
    soft_bounce_limit: int = 10
    deferral_timeout: timedelta = timedelta(hours=72)
    sms_validity: timedelta = timedelta(hours=48)
    default_region: str = "SE"
    # RULES.md §7: a report more than this before the clock is too late; what lies further
    # behind is forgotten
    lateness_horizon: timedelta = timedelta(days=30)
    # off only in tests, to show that forgetting changes no output
    forgetting: bool = True

    def __post_init__(self) -> None:
        least = max(MIN_LATENESS_HORIZON, self.deferral_timeout, self.sms_validity)
        if self.lateness_horizon < least:
            raise ValueError(f"the lateness horizon must be at least {_hours(least)} (a deadline must fire "
                             f"before its message is forgotten), not {_hours(self.lateness_horizon)}")


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:g} h"
