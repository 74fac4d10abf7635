"""The soft/hard decision: one ordered rules table, shipped as data (rules.toml) and
overridable by the user's own rules file, whose rules are tried first.

A report's evidence is what the provider said (its name and its types, e.g. SES
`Permanent/General`, Postmark `HardBounce`, a Twilio error code), the SMTP enhanced
status code (RFC 3463 class.subject.detail), the basic SMTP reply code, and the
diagnostic text. The first rule whose every condition holds decides. The order in
rules.toml is the deliverability judgement: known traps first (policy blocks and full
mailboxes are not dead addresses), then the providers' own types, then the generic
code classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

Outcome = Literal["soft_bounce", "hard_bounce", "deferred", "complained", "ignore", "unsubscribe",
                  "undelivered", "validity_expired"]


class Rule(msgspec.Struct, forbid_unknown_fields=True):
    status: Outcome
    provider: str | None = None  # ses, sendgrid, mailgun, postmark, twilio, dsn
    type: str | None = None      # one of the provider's types for the report (exact, case-insensitive)
    class_: str | None = msgspec.field(default=None, name="class")  # "4" or "5": of the enhanced or the SMTP code
    code: str | None = None      # enhanced status code or a prefix of it by component: "5.7" matches 5.7.26
    smtp: str | None = None      # basic SMTP reply code or a prefix of it: "55" matches 550 and 554
    text: str | None = None      # regular expression searched (case-insensitively) in the diagnostic text
    label: str | None = None     # the bounce reason shown when the report carries no text of its own
    note: str | None = None      # why: documentation only


class RulesFile(msgspec.Struct, forbid_unknown_fields=True):
    rule: list[Rule] = []


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Verdict:
    status: str          # an Outcome
    code: str | None     # the bounce code kept with the status
    reason: str | None   # the bounce reason kept with the status
    rule: int | None     # index of the deciding rule in the combined table (None: the caller's default)


_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d])")
_SMTP = re.compile(r"(?:^|[\s;:(\[])([245]\d\d)(?=[\s\-.,;:)\]]|$)")


def enhanced_code(text: str | None) -> str | None:
    """The first RFC 3463 code in a text: `smtp; 550 5.1.1 <a@b>: User unknown` -> 5.1.1."""
    if not text:
        return None
    m = _ENHANCED.search(text)
    return ".".join(m.groups()) if m else None


def smtp_code(text: str | None) -> str | None:
    if not text:
        return None
    m = _SMTP.search(text)
    return m.group(1) if m else None


def _components(code: str) -> tuple[str, ...]:
    return tuple(code.strip().split("."))


class _Compiled:
    __slots__ = ("rule", "provider", "type", "class_", "code", "smtp", "text")

    def __init__(self, rule: Rule, where: str) -> None:
        if not any((rule.type, rule.class_, rule.code, rule.smtp, rule.text)):
            raise RulesError(f"{where}: a rule needs at least one of type, class, code, smtp, text")
        if rule.class_ is not None and rule.class_ not in ("2", "4", "5"):
            raise RulesError(f"{where}: class must be \"2\", \"4\" or \"5\", not {rule.class_!r}")
        self.rule = rule
        self.provider = rule.provider.lower() if rule.provider else None
        self.type = rule.type.casefold() if rule.type else None
        self.class_ = rule.class_
        self.code = _components(rule.code) if rule.code else None
        if self.code and not all(c.isdigit() for c in self.code):
            raise RulesError(f"{where}: code {rule.code!r} is not of the form class.subject.detail")
        self.smtp = rule.smtp.strip() if rule.smtp else None
        try:
            self.text = re.compile(rule.text, re.IGNORECASE) if rule.text else None
        except re.error as exc:
            raise RulesError(f"{where}: text {rule.text!r} is not a regular expression: {exc}") from None

    def matches(self, provider: str, types: frozenset[str], code: tuple[str, ...] | None, smtp: str | None,
                text: str, known_class: str | None = None) -> bool:
        if self.provider is not None and self.provider != provider:
            return False
        if self.type is not None and self.type not in types:
            return False
        if self.class_ is not None and (code[0] if code else (smtp[0] if smtp else known_class)) != self.class_:
            return False
        if self.code is not None and (code is None or code[: len(self.code)] != self.code):
            return False
        if self.smtp is not None and (smtp is None or not smtp.startswith(self.smtp)):
            return False
        if self.text is not None and not self.text.search(text):
            return False
        return True


def _load(data: bytes, where: str) -> list[Rule]:
    try:
        return msgspec.toml.decode(data, type=RulesFile).rule
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise RulesError(f"{where}: {exc}") from None


def shipped_rules() -> list[Rule]:
    data = resources.files("gateways").joinpath("rules.toml").read_bytes()
    return _load(data, "gateways/rules.toml")


class Classifier:
    """The rules table: the user's rules (if any) first, then the shipped ones."""

    def __init__(self, rules: list[Rule] | None = None, override: str | Path | None = None) -> None:
        combined: list[tuple[Rule, str]] = []
        if override is not None:
            try:
                data = Path(override).read_bytes()
            except OSError as exc:
                raise RulesError(f"cannot read rules file {override}: {exc.strerror or exc}") from None
            combined += [(r, f"{override}: rule {i + 1}") for i, r in enumerate(_load(data, str(override)))]
        shipped = shipped_rules() if rules is None else rules
        combined += [(r, f"gateways/rules.toml: rule {i + 1}") for i, r in enumerate(shipped)]
        self.rules = [_Compiled(rule, where) for rule, where in combined]

    def decide(self, provider: str, types=(), code: str | None = None, smtp: str | None = None,
               text: str | None = None, known_class: str | None = None) -> int | None:
        """Index of the first rule that matches, or None. `known_class` is the class a
        report states without a code (a plain-text bounce that says the failure is
        permanent): `class` conditions use it when there is neither an enhanced nor an SMTP code."""
        folded = frozenset(t.casefold() for t in types if t)
        components = _components(code) if code else None
        haystack = text or ""
        for i, compiled in enumerate(self.rules):
            if compiled.matches(provider, folded, components, smtp, haystack, known_class):
                return i
        return None

    def classify(self, provider: str, types=(), status: str | None = None, text: str | None = None,
                 default: str = "soft_bounce", final: bool = True, known_class: str | None = None) -> Verdict:
        """Classify one failure report.

        `status` is the enhanced code the report states (a DSN's Status, SendGrid's
        `status`); the diagnostic text may hold a more specific one (a relay's DSN
        often says 5.0.0 while the remote server said 5.1.1), which then wins.
        A final report (the sender gave up) is never merely `deferred`: a 4.x.x code
        there is a soft bounce, which is how 4.4.7 (delivery time expired) is treated.
        """
        stated = status.strip() if status else None
        if stated and not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", stated):
            stated = enhanced_code(stated)
        found = enhanced_code(text)
        code = stated
        if found and (code is None or (code.endswith(".0.0") and found[0] == code[0])):
            code = found
        smtp = smtp_code(text)
        index = self.decide(provider, types, code, smtp, text, known_class)
        rule = self.rules[index].rule if index is not None else None
        outcome = rule.status if rule is not None else default
        if final and outcome == "deferred":
            outcome = "soft_bounce"
        bounce_code = code or smtp or next((t for t in types if t), None)
        reason = text or (rule.label if rule is not None else None)
        return Verdict(outcome, bounce_code, reason, index)


_default: Classifier | None = None


def default_classifier() -> Classifier:
    global _default
    if _default is None:
        _default = Classifier()
    return _default
