"""The tunable numbers of RULES.md, with the product's defaults."""

from __future__ import annotations

from datetime import timedelta

import msgspec


class Policy(msgspec.Struct, frozen=True):
    soft_bounce_limit: int = 10
    deferral_timeout: timedelta = timedelta(hours=72)
    sms_validity: timedelta = timedelta(hours=48)
    default_region: str = "SE"
