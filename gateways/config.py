"""The gateway's configuration file (TOML), decoded with msgspec: secrets per provider,
the body size limit and the user's rules file. Relative paths are read from the
directory of the configuration file. A provider without a secret accepts unsigned
requests (the gateway logs a warning for each such endpoint at start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

Seconds = Annotated[int, msgspec.Meta(ge=1)]


class _Section(msgspec.Struct, forbid_unknown_fields=True):
    pass


class SesConfig(_Section):
    trust: str | None = None             # PEM file or directory of the trusted SNS signing certificates
    topic_arns: list[str] = []           # if set, only these topics are accepted
    confirm_subscriptions: bool = False  # fetch a verified SubscribeURL on an sns.*.amazonaws.com host
    window_seconds: Seconds = 3600       # a signed Timestamp further from the gateway's clock is refused (SNS retries for up to an hour)


class SendGridConfig(_Section):
    public_key: str | None = None        # the Signed Event Webhook verification key (base64 DER or PEM)
    window_seconds: Seconds = 300        # a signed timestamp further from the gateway's clock is refused


class MailgunConfig(_Section):
    signing_key: str | None = None       # the HTTP webhook signing key
    window_seconds: Seconds = 300        # a signed timestamp further from the gateway's clock is refused
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] = 250_000  # tokens remembered within the window, per gateway process


class PostmarkConfig(_Section):
    username: str | None = None          # HTTP Basic credentials in the webhook URL
    password: str | None = None
    header_name: str | None = None       # and/or a custom header set on the webhook
    header_value: str | None = None


class TwilioConfig(_Section):
    auth_token: str | None = None
    url: str | None = None               # the status callback URL exactly as configured at Twilio


class SmppConfig(_Section):
    token: str | None = None             # `Authorization: Bearer <token>` required at /sms/receipts when set
    err_codes: str = "gsm_map"           # the rules table a receipt's `err:` is read in (gsm_map, vonage, sinch, ...)
    timezone: str = "UTC"                # the SMSC's time zone, of `submit date` and `done date`


class SinchConfig(_Section):
    secret: str | None = None            # the callback signing secret (HMAC)
    window_seconds: Seconds = 300        # a signed timestamp further from the gateway's clock is refused
    username: str | None = None          # and/or HTTP Basic credentials in the callback URL
    password: str | None = None


class VonageConfig(_Section):
    signature_secret: str | None = None  # signed webhooks: the account's signature secret
    signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = "md5hash"
    window_seconds: Seconds = 300        # a signed `timestamp` further from the gateway's clock is refused


class InfobipConfig(_Section):
    username: str | None = None          # HTTP Basic credentials set on the webhook
    password: str | None = None
    header_name: str | None = None       # and/or a header with a secret value
    header_value: str | None = None


class TokenConfig(_Section):
    token: str | None = None             # `Authorization: Bearer <token>` required when set


class GatewayConfig(_Section):
    max_body_bytes: int = 1024 * 1024
    rules: str | None = None             # a rules file whose rules are tried before the shipped ones
    ses: SesConfig = msgspec.field(default_factory=SesConfig)
    sendgrid: SendGridConfig = msgspec.field(default_factory=SendGridConfig)
    mailgun: MailgunConfig = msgspec.field(default_factory=MailgunConfig)
    postmark: PostmarkConfig = msgspec.field(default_factory=PostmarkConfig)
    twilio: TwilioConfig = msgspec.field(default_factory=TwilioConfig)
    smpp: SmppConfig = msgspec.field(default_factory=SmppConfig)
    sinch: SinchConfig = msgspec.field(default_factory=SinchConfig)
    vonage: VonageConfig = msgspec.field(default_factory=VonageConfig)
    infobip: InfobipConfig = msgspec.field(default_factory=InfobipConfig)
    canonical: TokenConfig = msgspec.field(default_factory=TokenConfig)
    mail: TokenConfig = msgspec.field(default_factory=TokenConfig)


def load(path: str | Path | None) -> GatewayConfig:
    if path is None:
        return GatewayConfig()
    path = Path(path)
    try:
        config = msgspec.toml.decode(path.read_bytes(), type=GatewayConfig)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if config.max_body_bytes < 1024:
        raise ValueError(f"{path}: max_body_bytes must be at least 1024")
    if (config.postmark.username is None) != (config.postmark.password is None):
        raise ValueError(f"{path}: [postmark] needs both username and password")
    if (config.postmark.header_name is None) != (config.postmark.header_value is None):
        raise ValueError(f"{path}: [postmark] needs both header_name and header_value")
    for name in ("sinch", "infobip"):
        section = getattr(config, name)
        if (section.username is None) != (section.password is None):
            raise ValueError(f"{path}: [{name}] needs both username and password")
    if (config.infobip.header_name is None) != (config.infobip.header_value is None):
        raise ValueError(f"{path}: [infobip] needs both header_name and header_value")
    try:
        ZoneInfo(config.smpp.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{path}: [smpp] timezone {config.smpp.timezone!r} is not an IANA time zone") from None
    base = path.parent
    if config.rules is not None:
        config.rules = str(base / config.rules)
    if config.ses.trust is not None:
        config.ses.trust = str(base / config.ses.trust)
    return config
