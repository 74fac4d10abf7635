"""Pipeline settings: one place for topic names, partitions, timings and the rules' policy.
The command line fills them in (its options also read BOUNCEBACK_* and KAFKA_BOOTSTRAP)."""

from __future__ import annotations

from dataclasses import dataclass, field

from projections.policy import Policy


@dataclass
class Topics:
    prefix: str = "bounceback"

    @property
    def inbound(self) -> str:  # contract events from gateways, the CRM, the clock
        return f"{self.prefix}.events"

    @property
    def address_commands(self) -> str:  # re-keyed address events and contact links
        return f"{self.prefix}.address-commands"

    @property
    def contact_commands(self) -> str:  # contact events and updates for contact cards
        return f"{self.prefix}.contact-commands"

    @property
    def suppressions(self) -> str:  # compacted, key channel:address, value the address record
        return f"{self.prefix}.suppressions"

    @property
    def contact_status(self) -> str:  # key contact_id, value the contact record
        return f"{self.prefix}.contact-status"

    @property
    def dead_letters(self) -> str:  # original bytes of rejected input, reason in headers
        return f"{self.prefix}.dead-letters"

    @property
    def applied(self) -> str:  # every event as applied, ticks included: what export-log reads
        return f"{self.prefix}.applied"

    def partitioned(self) -> list[str]:
        """Topics that must have the pipeline's partition count (co-partitioned with state)."""
        return [self.inbound, self.address_commands, self.contact_commands, self.applied]


# the faust tables; each has a compacted changelog topic "{app_id}-{table}-changelog"
TABLES = ("addresses", "contacts", "clocks", "trails")


@dataclass
class Settings:
    broker: str = "127.0.0.1:9092"
    partitions: int = 4
    # the consumer group and the changelogs' prefix; by default the topic prefix, so two
    # pipelines with different prefixes share a cluster without meeting
    app_id: str = ""
    topics: Topics = field(default_factory=Topics)
    datadir: str = "bounceback-data"
    web_bind: str = "127.0.0.1"
    web_host: str = "127.0.0.1"  # how other workers reach this one
    web_port: int = 6066
    # seconds between wall-clock ticks; 0 switches the clock off (tests publish their own ticks)
    clock_interval: float = 60.0
    batch_size: int = 2000
    batch_window: float = 0.05
    # seconds between commits; None: 0.1 under exactly-once (an output is visible only once
    # its transaction commits), faust's 2.8 under at-least-once
    commit_interval: float | None = None
    policy: Policy = field(default_factory=Policy)
    # auto: exactly_once where the broker has transactions (Apache Kafka), else at_least_once
    processing_guarantee: str = "auto"
    # the embedded Tansu broker needs two workarounds (see streams/tansu.py)
    tansu: bool = False
    session_timeout: float = 6.0
    # the bearer token of the operator API (unblock, bounce-list upload); None: that API is off
    operator_token: str | None = None
    # a crashed worker starts itself again (streams/worker.py)
    restart_on_crash: bool = True
    # copies of each table partition kept warm by other workers (faust's standby replicas):
    # a takeover skips restoring the changelog, but every worker applies the changelogs of
    # the partitions it stands by for, record by record (docs/pipeline.md, "Standby replicas")
    standby_replicas: int = 0

    def __post_init__(self) -> None:
        if not self.app_id:
            self.app_id = self.topics.prefix

    def changelogs(self) -> list[str]:
        return [f"{self.app_id}-{table}-changelog" for table in TABLES]
