"""The one way in: every event bounceback puts on the inbound topic (a published log, the
gateway's webhooks, an imported bounce list, the operator API, the send-out planner's
events) is checked, normalised, routed to the partition that owns it and sent here."""
