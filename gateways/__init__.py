"""Gateway adapters: provider webhooks and bounce mail in, canonical contract events out.

One module per provider (ses/sns, sendgrid, mailgun, postmark, twilio, sinch, vonage,
infobip, canonical), SMPP delivery receipts (smpp.py), bounce mail (mail.py), the
classification rules (classify.py and rules.toml; carrier.py for SMS error codes),
per-report batches (batch.py), authentication (webhook_auth.py: credentials, signed
timestamps, Mailgun tokens) and the gateway's configuration. Adapters do no I/O; the HTTP
service is gateways/service/.
"""
