"""Gateway adapters: provider webhooks and bounce mail in, canonical contract events out.

One module per provider (ses/sns, sendgrid, mailgun, postmark, twilio, canonical), bounce
mail (mail.py), the classification rules (classify.py and rules.toml) and the gateway's
configuration. Adapters do no I/O; the HTTP service is bounceback/gateway.py.
"""
