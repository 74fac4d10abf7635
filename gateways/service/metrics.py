"""Prometheus metrics of the gateway (served at its GET /metrics): what it published, what
it dead-lettered, what it refused, and the bounce mail it read, by kind and by what a
mail was skipped as. Each gateway has its own registry."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.published = Counter("bounceback_gateway_published_events", "Events published to the inbound topic",
                                 ["route"], registry=r)
        self.dead_letters = Counter("bounceback_gateway_dead_letters",
                                    "Events or items of accepted requests sent to the dead-letter topic", ["route"],
                                    registry=r)
        self.refused = Counter("bounceback_gateway_refused_requests", "Requests refused as a whole", ["route", "status"],
                               registry=r)
        self.mail = Counter("bounceback_gateway_mail", "Bounce mails read, by kind (dsn, arf, bounce, auto-reply)",
                            ["kind"], registry=r)
        self.mail_skipped = Counter("bounceback_gateway_mail_skipped",
                                    "Mails that give no event by design, by what they were skipped as", ["skipped_as"],
                                    registry=r)
        self.mail_recipients_skipped = Counter("bounceback_gateway_mail_recipients_skipped",
                                               "Recipients of bounce mails that give no event (not an address)",
                                               registry=r)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
