"""Amazon SNS HTTP(S) deliveries: the envelope and its signature.

The signing certificate is never fetched from the `SigningCertURL` the message names:
it must be in the configured trust path (a PEM file or a directory of PEM files, e.g.
the SimpleNotificationService-*.pem certificates downloaded once by the operator).
The file whose name matches the URL's last path segment is tried first, then every
other trusted certificate. A certificate outside its validity period is not used.

String to sign (AWS: "Verifying the signatures of Amazon SNS messages"): for
`Notification`, the fields Message, MessageId, Subject (only if present), Timestamp,
TopicArn, Type; for `SubscriptionConfirmation` and `UnsubscribeConfirmation`, Message,
MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type. Each as "Name\\nvalue\\n".
SignatureVersion 1 is RSA PKCS#1 v1.5 with SHA1, version 2 with SHA256. A verified
message whose `Timestamp` is outside the window of the gateway's clock is refused
(SNS retries a delivery with the message as it was first signed, so the window is long).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateways.common import Rejected, bad, decode_json
from gateways.webhook_auth import Window, iso_time


class Envelope(msgspec.Struct, rename={"type_": "Type"}):
    type_: str
    MessageId: str
    TopicArn: str
    Message: str
    Timestamp: str
    SignatureVersion: str | None = None
    Signature: str | None = None
    SigningCertURL: str | None = None
    Subject: str | None = None
    SubscribeURL: str | None = None
    Token: str | None = None
    UnsubscribeURL: str | None = None


_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
KINDS = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")


def string_to_sign(env: Envelope) -> bytes:
    fields = _NOTIFICATION_FIELDS if env.type_ == "Notification" else _CONFIRMATION_FIELDS
    values = {"Message": env.Message, "MessageId": env.MessageId, "Subject": env.Subject,
              "Timestamp": env.Timestamp, "TopicArn": env.TopicArn, "Type": env.type_,
              "SubscribeURL": env.SubscribeURL, "Token": env.Token}
    out = []
    for name in fields:
        value = values[name]
        if value is None:
            if name == "Subject":
                continue
            raise bad(f"SNS {env.type_}: `{name}` is missing")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


class TrustStore:
    """Certificates trusted to sign SNS messages, loaded once from the trust path."""

    def __init__(self, path: str | Path) -> None:
        root = Path(path)
        files = sorted(root.glob("*.pem")) + sorted(root.glob("*.crt")) if root.is_dir() else [root]
        self.certs: list[tuple[str, x509.Certificate]] = []
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise ValueError(f"SNS trust path: cannot read {file}: {exc.strerror or exc}") from None
            try:
                for cert in x509.load_pem_x509_certificates(data):
                    self.certs.append((file.name, cert))
            except ValueError as exc:
                raise ValueError(f"SNS trust path: {file} holds no PEM certificate: {exc}") from None
        if not self.certs:
            raise ValueError(f"SNS trust path {root}: no certificate found (*.pem, *.crt)")

    def candidates(self, cert_url: str | None) -> list[x509.Certificate]:
        name = urlparse(cert_url).path.rsplit("/", 1)[-1] if cert_url else ""
        named = [c for n, c in self.certs if name and n == name]
        return named + [c for n, c in self.certs if not (name and n == name)]


def verify(env: Envelope, trust: TrustStore, now: datetime, window: Window) -> None:
    """Raise Rejected (401 unsigned, 403 bad signature or stale) unless a trusted
    certificate signed it and its Timestamp is within the window."""
    if not env.Signature or not env.SignatureVersion:
        raise Rejected(401, "SNS message is not signed (Signature/SignatureVersion missing)")
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(env.SignatureVersion)
    if algorithm is None:
        raise Rejected(403, f"SNS SignatureVersion {env.SignatureVersion!r} is not 1 or 2")
    try:
        signature = base64.b64decode(env.Signature, validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(403, "SNS Signature is not base64") from None
    data = string_to_sign(env)
    if not any(_signed_by(cert, signature, data, algorithm, now) for cert in trust.candidates(env.SigningCertURL)):
        raise Rejected(403, "SNS signature does not verify with any trusted certificate")
    window.check(iso_time(env.Timestamp, "Timestamp"), now, "SNS Timestamp")


def _signed_by(cert: x509.Certificate, signature: bytes, data: bytes, algorithm, now: datetime) -> bool:
    if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
        return False
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
        return True
    except InvalidSignature:
        return False


def parse(body: bytes) -> Envelope:
    env = decode_json(body, Envelope, "SNS message")
    if env.type_ not in KINDS:
        raise bad(f"SNS message: `Type` {env.type_!r} is not one of {', '.join(KINDS)}")
    return env


# the SNS endpoints, as the AWS SDKs' message validators match a SigningCertURL's host
_SNS_HOST = re.compile(r"sns\.[a-zA-Z0-9-]{3,}\.amazonaws\.com(\.cn)?")


def confirmable(url: str | None) -> bool:
    """A SubscribeURL worth fetching: HTTPS, port 443, on an SNS endpoint of AWS, never elsewhere."""
    if not url:
        return False
    parts = urlparse(url)
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        return False
    return (parts.scheme == "https" and port in (None, 443) and parts.username is None
            and _SNS_HOST.fullmatch(parts.hostname or "") is not None)
