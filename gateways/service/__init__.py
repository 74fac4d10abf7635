"""The gateway's HTTP service (`bounceback gateway`): the routes in front of the adapters
of gateways/ (app.py; the SMS routes sms.py), each accepted request published and
dead-lettered through the one publisher (batches.py), and its metrics (metrics.py)."""
