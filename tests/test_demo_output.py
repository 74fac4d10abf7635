"""What `bounceback demo` prints, without a broker: the wording, the examples it points at,
and lines that are never wrapped."""

from __future__ import annotations

import io

from bounceback.commands.demo import card_line, demo_console, examples
from bounceback.wording import plural
from tests.helpers import at, contact, delivery, fold

ROOT_PATH = "/tmp/" + "a-long-directory-name/" * 6 + "worker.log"


def test_counts_and_nouns_agree():
    assert [plural(n, "address") for n in (0, 1, 2)] == ["0 addresses", "1 address", "2 addresses"]
    assert plural(1, "message") == "1 message" and plural(3, "contact card") == "3 contact cards"
    assert plural(2, "entry", "entries") == "2 entries"


def test_a_contact_card_line_in_the_singular_and_as_an_update():
    record = {"addresses": [{"state": "blocked"}], "messages": [{}]}
    assert card_line("c-1", record) == "  contact card [cyan]c-1[/]: 1 address (1 blocked), 1 message"
    assert card_line("c-1", record, update=True).startswith("  contact card [cyan]c-1[/] updated: ")


def test_long_urls_and_paths_are_not_wrapped_when_the_output_is_not_a_terminal():
    out = io.StringIO()
    console = demo_console(out)
    assert not console.is_terminal and console.width == 80
    url = "http://127.0.0.1:6066/addresses/email/" + "a" * 100 + "@example.net"
    console.print(f"worker starting (log {ROOT_PATH}) ...")
    console.print(f"  curl {url}")
    assert out.getvalue() == f"worker starting (log {ROOT_PATH}) ...\n  curl {url}\n"


def test_the_examples_come_from_the_log():
    replayed = fold([
        contact("c-1", at(0), emails=["quiet@example.com"]),
        contact("c-2", at(0), emails=["busy@example.com", "gone@example.com"]),
        contact("c-3", at(0), emails=["gone@example.com"]),
        delivery("busy@example.com", "m-1", "delivered", at(1), contact_id="c-2"),
        delivery("busy@example.com", "m-2", "delivered", at(2), contact_id="c-2"),
        delivery("gone@example.com", "m-3", "hard_bounce", at(3), contact_id="c-3"),
    ])
    address, contact_id = examples([card for _, card in replayed.contact_records()])
    # the blocked address, on the card with the most messages that holds it
    assert (address.address, address.state, contact_id) == ("gone@example.com", "blocked", "c-2")


def test_without_a_blocked_address_the_busiest_card_is_the_example():
    replayed = fold([contact("c-1", at(0), emails=["a@example.com"]), delivery("a@example.com", "m-1", "delivered", at(1), contact_id="c-1")])
    address, contact_id = examples([card for _, card in replayed.contact_records()])
    assert (address.address, contact_id) == ("a@example.com", "c-1")
    assert examples([]) == (None, None)
