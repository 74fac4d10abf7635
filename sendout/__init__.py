"""The send-out side: a local view of the suppression topic (SuppressionClient) and the
send-out planner (`bounceback plan-sendout`)."""

from sendout.client import ClientStats, NotCaughtUp, SuppressionClient, Verdict

__all__ = ["ClientStats", "NotCaughtUp", "SuppressionClient", "Verdict"]
