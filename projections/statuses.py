"""RULES.md §2: message statuses, their contact-card labels, and which are final."""

LABELS = {
    "unknown": "Unknown",
    "delivered": "Delivered",
    "opened": "Delivered (Opened)",
    "deferred": "Deferred",
    "soft_bounce": "Soft bounce",
    "hard_bounce": "Hard bounce",
    "undelivered": "Undelivered",
    "validity_expired": "Validity expired",
    "no_status": "No delivery status available",
    "control_group": "Included in a control group",
    "complained": "Marked as spam",
}

FINAL = frozenset(
    (
        "delivered",
        "opened",
        "soft_bounce",
        "hard_bounce",
        "undelivered",
        "validity_expired",
        "no_status",
        "control_group",
        "complained",
    )
)

# Reports that mean the message reached the recipient: they reset the soft-bounce count.
DELIVERIES = frozenset(("delivered", "opened"))

# Reports that count as a soft bounce of the address, per channel (RULES.md §4).
SOFT_BOUNCES = {
    "email": frozenset(("soft_bounce",)),
    "sms": frozenset(("soft_bounce", "undelivered", "validity_expired")),
}

# Non-final statuses: a deferral says more than "sent, no report yet".
PENDING_RANK = {"unknown": 0, "deferred": 1}

BLOCKING_REASONS = frozenset(("hard_bounce", "soft_bounce_limit", "bounce_list"))

# RFC 3463 "delivery time expired": the code a deferral gets when its deadline passes
DEFERRAL_EXPIRED_CODE = "4.4.7"


def address_state(reasons) -> str:
    """RULES.md §4: blocked beats unsubscribed beats active."""
    if not reasons:
        return "active"
    if not BLOCKING_REASONS.isdisjoint(reasons):
        return "blocked"
    return "unsubscribed"
