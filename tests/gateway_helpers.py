"""Keys, certificates and signing for the gateway tests: made here, never fetched."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from gateways import sns
from ingress.publisher import InboundPublisher
from partitions.routing import Router
from projections.normalise import AddressNormaliser
from schemas.events import encode_event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)  # the gateway's clock in the HTTP tests
NOW_UNIX = str(int(NOW.timestamp()))  # a signed timestamp that is fresh at NOW


@lru_cache(maxsize=None)
def rsa_cert(name: str = "sns.test") -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=30)).not_valid_after(NOW + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sns_envelope(message: str | dict, kind: str = "Notification", key=None, version: str = "2",
                 topic: str = "arn:aws:sns:eu-west-1:123456789012:ses-events", message_id: str = "sns-1",
                 cert_url: str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
                 subject: str | None = None, timestamp: str = "2026-03-01T11:59:58.000Z",
                 subscribe_url: str | None = None) -> dict:
    """An SNS HTTP delivery, signed like SNS signs it (string to sign per the AWS docs)."""
    text = message if isinstance(message, str) else msgspec.json.encode(message).decode()
    env = {"Type": kind, "MessageId": message_id, "TopicArn": topic, "Message": text,
           "Timestamp": timestamp, "SignatureVersion": version, "SigningCertURL": cert_url}
    if subject is not None:
        env["Subject"] = subject
    if kind != "Notification":
        env["Token"] = "2336412f37fb687f5d51e6e2425c464de12884d"
        env["SubscribeURL"] = subscribe_url or ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
                                                f"&TopicArn={topic}&Token=2336412f37fb687f5d51e6e2425c464de12884d")
    key = key or rsa_cert()[0]
    data = sns.string_to_sign(msgspec.json.decode(msgspec.json.encode(env), type=sns.Envelope))
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    env["Signature"] = base64.b64encode(key.sign(data, padding.PKCS1v15(), algorithm)).decode()
    return env


@lru_cache(maxsize=None)
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ec_public_b64(key=None) -> str:
    key = key or ec_key()
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def sendgrid_headers(body: bytes, timestamp: str = NOW_UNIX, key=None) -> dict:
    key = key or ec_key()
    sig = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp}


def mailgun_signature(key: str, timestamp: str = NOW_UNIX, token: str = "a" * 50) -> dict:
    sig = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": sig}


def canon(events) -> list[dict]:
    """Events (or an adapter's Batch of them) as the JSON objects the pipeline reads."""
    return [msgspec.json.decode(encode_event(e)) for e in getattr(events, "events", events)]


def expect(event_id, at, address, message_id, status, channel="email", reason=None, code=None, contact_id=None,
           sendout_id=None) -> dict:
    return {"type": "delivery", "event_id": event_id, "occurred_at": at, "channel": channel, "address": address,
            "message_id": message_id, "status": status, "sendout_id": sendout_id, "contact_id": contact_id,
            "bounce_reason": reason, "bounce_code": code}


def expect_unsubscribe(event_id, at, address, channel="email", contact_id=None, kind="unsubscribe") -> dict:
    return {"type": kind, "event_id": event_id, "occurred_at": at, "channel": channel, "address": address,
            "contact_id": contact_id}


class Collected(InboundPublisher):
    """The gateway's publisher with the broker left out: each event is routed and checked
    as the real one does it, and what it would publish is recorded (the HTTP tests check
    the request handling; tests/test_ingress.py the sending, the end-to-end test a real
    broker)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__(_no_broker, "events", Router(4, AddressNormaliser()), "dead-letters")
        self.batches: list[list] = []
        self.letters: list = []  # dead letters: gateways.service.batches.Letter (raw, reason, source, item)
        self.fail = fail

    async def publish_batch(self, routed, letters) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.batches.append([r.event for r in routed])
        self.letters += letters

    @property
    def events(self) -> list[dict]:
        return [e for batch in self.batches for e in canon(batch)]


async def _no_broker(topic, value, partition, headers):
    raise AssertionError("Collected records what it would publish; it sends nothing")


def request(app_factory, method: str, path: str, **kwargs) -> tuple[int, dict]:
    """One HTTP request to a fresh instance of the gateway's aiohttp app on loopback."""
    from aiohttp.test_utils import TestClient, TestServer

    async def run():
        async with TestClient(TestServer(app_factory(), host="127.0.0.1")) as client:
            response = await client.request(method, path, **kwargs)
            return response.status, await response.json()

    return asyncio.run(run())


def request_text(app_factory, path: str) -> str:
    """GET a text resource (the gateway's /metrics) from an instance of the app; the same
    instance as `request` used only when the factory returns one app each time, so pass
    `gw.app` of one Gateway: its metrics live on the Gateway."""
    from aiohttp.test_utils import TestClient, TestServer

    async def run():
        async with TestClient(TestServer(app_factory(), host="127.0.0.1")) as client:
            response = await client.get(path)
            assert response.status == 200, response.status
            return await response.text()

    return asyncio.run(run())


class Clock:
    """The gateway's clock in a test: set, never slept for."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def raw_request(app_factory, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict]:
    """One POST written byte for byte, for header values that are not UTF-8 (aiohttp's
    client will not send those)."""
    from aiohttp.test_utils import TestServer

    async def run():
        async with TestServer(app_factory(), host="127.0.0.1") as server:
            reader, writer = await asyncio.open_connection(server.host, server.port)
            head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         + b"Content-Length: %d\r\n" % len(body) + head + b"\r\n" + body)
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
        status_line, _, rest = answer.partition(b"\r\n")
        return int(status_line.split()[1]), msgspec.json.decode(rest.partition(b"\r\n\r\n")[2])

    return asyncio.run(run())
