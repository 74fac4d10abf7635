"""Every mail of the bounce corpus (tests/mail/corpus/, sources and licences in
tests/mail/SOURCES.md) against tests/mail/expectations.toml.

The test prints the counts: mails recognised as reports, with the right recipients, with
the right class for every recipient, refused (by reason), skipped (by what as), and the
known misses. It fails on any mail that does not give what its expectation says, unless
the expectation records it as a miss with the reason.

`python -m tests.test_mail_corpus` prints the same counts; run with an older checkout of
`gateways/` first on PYTHONPATH it measures that code (the parse of before issue 14 took
no arrival time and did not normalise).
"""

from __future__ import annotations

import inspect
import tomllib
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from gateways import mail
from gateways.classify import default_classifier
from gateways.common import Rejected

MAIL = Path(__file__).parent / "mail"
CORPUS = MAIL / "corpus"
ARRIVED = datetime(2026, 1, 1, tzinfo=timezone.utc)  # only for the one mail with no date at all


def _read(raw: bytes):
    if "normalise" in inspect.signature(getattr(mail, "ingest", mail.parse)).parameters:
        from projections.normalise import AddressNormaliser
        return mail.ingest(raw, default_classifier(), AddressNormaliser(), arrived=ARRIVED)
    return mail.parse(raw, default_classifier())


def outcome(raw: bytes) -> dict:
    """What bounceback makes of one mail, in the terms of the expectations file."""
    try:
        result = _read(raw)
    except Rejected as exc:
        return {"expect": "refused", "reason": exc.reason}
    except Exception as exc:  # a crash is a refusal too, for counting; the test fails on it anyway
        return {"expect": "refused", "reason": f"crash: {type(exc).__name__}: {exc}"}
    if getattr(result, "skipped", None) or result.kind == "auto-reply":
        return {"expect": "skipped", "skipped_as": getattr(result, "skipped", None) or result.kind}
    return {"expect": "report",
            "recipients": {e.address.lower(): getattr(e, "status", "unsubscribe") for e in result.events},
            "skipped_recipients": [s.recipient for s in getattr(result, "skipped_recipients", [])]}


def expectations() -> list[dict]:
    return tomllib.loads((MAIL / "expectations.toml").read_text())["mail"]


def run() -> tuple[Counter, list[str]]:
    counts: Counter = Counter()
    wrong: list[str] = []
    for exp in expectations():
        got = outcome((CORPUS / exp["file"]).read_bytes())
        counts["mails"] += 1
        if exp["expect"] == "report":
            counts["reports expected"] += 1
        ok = got["expect"] == exp["expect"]
        if got["expect"] == "refused":
            counts[f"refused: {got['reason'][:70]}"] += 1
        elif got["expect"] == "skipped":
            counts[f"skipped as {got['skipped_as']}"] += 1
            ok = ok and got["skipped_as"] == exp.get("skipped_as")
        elif exp["expect"] == "report":
            counts["recognised"] += 1
            right = set(got["recipients"]) == set(exp.get("recipients", {})) and \
                sorted(got["skipped_recipients"]) == sorted(exp.get("skipped_recipients", []))
            counts["right recipient"] += right
            classed = right and got["recipients"] == exp.get("recipients", {})
            counts["right class"] += classed
            ok = ok and classed
        if not ok:
            if "miss" in exp:
                counts["known misses"] += 1
            else:
                wrong.append(f"{exp['file']}: expected {exp}, got {got}")
    return counts, wrong


def report(counts: Counter) -> str:
    main = ["mails", "reports expected", "recognised", "right recipient", "right class", "known misses"]
    lines = [f"{name:>18}: {counts[name]}" for name in main]
    lines += [f"  {name}: {n}" for name, n in sorted(counts.items()) if name not in main]
    return "\n".join(lines)


def test_every_mail_of_the_corpus_gives_what_it_should():
    listed = {exp["file"] for exp in expectations()}
    present = {str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*.eml")}
    assert listed == present, f"corpus and expectations differ: {sorted(listed ^ present)}"
    counts, wrong = run()
    print("\nbounce corpus\n" + report(counts))
    assert not wrong, "\n".join(wrong)


if __name__ == "__main__":
    print(report(run()[0]))
