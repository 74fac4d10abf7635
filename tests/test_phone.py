"""RULES.md §1 for phone numbers, issue 15 item 4: a value with anything in it but a number
is invalid, in every place that normalises addresses (events, bounce-list imports,
suppression lookups, send-out planning). And the fast way through the rule
(projections/phone.py) gives phonenumbers' own answer."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingress.bounce_list import file_lines
from projections.bounce_list import BounceListReader, Invalid
from projections.intake import normalise_event
from projections.normalise import AddressNormaliser, InvalidAddress
from projections.phone import PUNCTUATION, InvalidPhoneNumber, PhoneNumbers
from projections.sendout import SendoutPlan
from schemas.events import Contact, Delivery, InvalidEvent
from sendout.client import SuppressionClient

AT = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)

# each of these phonenumbers alone reads as +46701234567, dropping the rest
NOT_A_NUMBER = {
    "0701234567;0709876543": "';' is not part of a phone number",  # a second number
    "0701234567x": "'x' is not part of a phone number",
    "Anna 070-123 45 67": "'A' is not part of a phone number",
    "+46701234567 ext. 12": "'e' is not part of a phone number",  # an extension
    "+46701234567#12": "'#' is not part of a phone number",
    "tel:+46701234567": "'t' is not part of a phone number",
    "070+1234567": "a + belongs only at the start",
    "++46701234567": "a + belongs only at the start",
    "0701234567, 0709876543": "',' is not part of a phone number",
    "": "empty",
    "   ": "empty",
}
SPELLINGS = ["+46701234567", "070-123 45 67", "0701234567", "+46 70 123 45 67", "0046 70 123 45 67",
             "+46 (0)70-123 45 67", "(070) 123 45 67", "070.123.45.67", "070/123 45 67", " 070 123 45 67 ",
             "+46\u00a070\u00a0123\u00a045\u00a067", "070\u2013123 45 67", "46701234567"]


@pytest.mark.parametrize("raw", sorted(NOT_A_NUMBER))
def test_a_value_with_anything_but_a_number_in_it_is_invalid(raw):
    with pytest.raises(InvalidAddress, match="invalid phone number") as caught:
        AddressNormaliser("SE")("sms", raw)
    assert NOT_A_NUMBER[raw] in str(caught.value)


@pytest.mark.parametrize("raw", SPELLINGS)
def test_the_usual_spellings_of_a_number_are_one_number(raw):
    assert AddressNormaliser("SE")("sms", raw) == "+46701234567"


def test_an_extension_is_refused_even_where_phonenumbers_would_read_one():
    # phonenumbers reads digits after ';ext=' or ' x ' as an extension; the written-with
    # check refuses those first, and a number that still carried one is refused by parse
    with pytest.raises(InvalidPhoneNumber, match="extension"):
        PhoneNumbers("SE").parse("+46701234567;ext=12")


def test_invalid_and_merely_possible_numbers_stay_invalid():
    normalise = AddressNormaliser("SE")
    for raw in ("12", "+46 70 123", "070 123 45 67 8", "+999 1234567", "0701234567 0709876543"):
        with pytest.raises(InvalidAddress):
            normalise("sms", raw)


def test_events_with_such_an_address_are_rejected_naming_the_field():
    normalise = AddressNormaliser("SE")
    report = Delivery(event_id="e-1", occurred_at=AT, channel="sms", address="0701234567;0709876543",
                      message_id="m-1", status="hard_bounce")
    with pytest.raises(InvalidEvent, match=r"';' is not part of a phone number .* - at `\$.address`"):
        normalise_event(report, normalise)
    contact = Contact(event_id="e-2", occurred_at=AT, contact_id="c-1", emails=[],
                      phones=["+46701234567", "Anna 070-123 45 67"])
    with pytest.raises(InvalidEvent, match=r"at `\$.phones\[1\]`"):
        normalise_event(contact, normalise)


def test_a_bounce_list_row_with_such_an_address_is_invalid():
    reader = BounceListReader("bounced", "sms", "list.csv", AT, AddressNormaliser("SE"))
    items = list(reader.read(file_lines(io.BytesIO(b"phone\n0701234567x\n+46 70 123 45 67\n"))))
    assert [type(i).__name__ for i in items] == ["Invalid", "Entry"]
    assert isinstance(items[0], Invalid) and "'x' is not part of a phone number" in items[0].reason


def test_a_suppression_lookup_and_a_sendout_row_refuse_it_too(tmp_path):
    client = SuppressionClient("127.0.0.1:9", tmp_path / "never-started")
    with pytest.raises(InvalidAddress):
        client.key("sms", "0701234567;0709876543")
    plan = SendoutPlan("so-1", "sms", "marketing", 0, {}.get)
    row = plan.add(2, "c-1", "+46701234567 ext. 12")
    assert row.outcome == "invalid" and "'e' is not part of a phone number" in row.detail


# -- the fast way gives phonenumbers' answer ---------------------------------------------------

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
         phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.VOIP]
FORMATS = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
           phonenumbers.PhoneNumberFormat.NATIONAL]
DEFAULTS = ["SE", "DE", "GB", "US", "FI", "NO", "DK", "IT", "FR", "NL", "AR", "BR", "MX", "RU", "IN", "AU"]


def slow(default: str, raw: str) -> str:
    """phonenumbers alone, after the written-with check."""
    numbers = PhoneNumbers(default)
    try:
        numbers(raw)  # the written-with check; its answer is compared below
    except InvalidPhoneNumber as exc:
        if "is not part" in str(exc) or "belongs only" in str(exc) or str(exc) in ("empty", "no digits"):
            return f"refused: {exc}"
    try:
        return numbers.parse(raw.strip())
    except InvalidPhoneNumber as exc:
        return f"invalid: {exc}"


def fast(default: str, raw: str) -> str:
    try:
        return PhoneNumbers(default)(raw)
    except InvalidPhoneNumber as exc:
        if "is not part" in str(exc) or "belongs only" in str(exc) or str(exc) in ("empty", "no digits"):
            return f"refused: {exc}"
        return f"invalid: {exc}"


@st.composite
def written_numbers(draw) -> str:
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(TYPES)))
    if example is None:
        example = phonenumbers.example_number(region) or phonenumbers.parse("+46701234567")
    if draw(st.booleans()):  # another number of about the same shape, valid or not
        digits = list(str(example.national_number))
        for _ in range(draw(st.integers(1, 3))):
            digits[draw(st.integers(0, len(digits) - 1))] = str(draw(st.integers(0, 9)))
        if draw(st.integers(0, 4)) == 0:
            digits.append(str(draw(st.integers(0, 9))))
        example = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int("".join(digits)))
    style = draw(st.sampled_from(["E164", "INTERNATIONAL", "NATIONAL", "idd", "bare"]))
    if style == "idd":
        text = "00" + phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
    elif style == "bare":
        text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
    else:
        text = phonenumbers.format_number(example, getattr(phonenumbers.PhoneNumberFormat, style))
    if draw(st.booleans()):  # punctuation of another writer
        text = "".join(c + (draw(st.sampled_from(PUNCTUATION)) if draw(st.integers(0, 3)) == 0 else "")
                       for c in text)
    return text


@settings(max_examples=15000, deadline=None)
@given(default=st.sampled_from(DEFAULTS), raw=written_numbers())
def test_the_fast_way_gives_phonenumbers_answer_for_written_numbers(default, raw):
    assert fast(default, raw) == slow(default, raw)


@settings(max_examples=1500, deadline=None)
@given(default=st.sampled_from(DEFAULTS),
       raw=st.builds(lambda plus, digits: plus + digits, st.sampled_from(["", "+", "00", "0"]),
                     st.text(alphabet="0123456789", min_size=1, max_size=17)))
def test_the_fast_way_gives_phonenumbers_answer_for_any_digits(default, raw):
    assert fast(default, raw) == slow(default, raw)


def test_the_fast_way_is_taken_for_the_common_spellings():
    # (it is what makes SMS planning fast: issue 15 item 6)
    numbers = PhoneNumbers("SE")
    assert numbers._fast("+46701234567") == "+46701234567"
    assert numbers._fast("0701234567") == "+46701234567"
    assert numbers._fast("+4915123456789") == "+4915123456789"
    assert numbers._fast("0046701234567") is None  # an international prefix: phonenumbers decides
    assert numbers._fast("+16502530000") is None  # +1 is shared by many regions
