"""Phone numbers (RULES.md §1): the strict rule of what counts as a number, and a fast way
through it for the spellings audiences and logs mostly hold.

The rule (docs/decisions.md, "Normalisation"). A value, stripped of surrounding white
space, is a phone number only if it is written with ASCII digits, a `+` at its start and
nothing else but the punctuation numbers are written with (spaces, hyphens and dashes,
`.`, `/`, `(` and `)`). A name beside the number, a second number after `;`, a stray
letter or an extension make the value invalid; phonenumbers on its own would read a
number out of them and drop the rest. phonenumbers then parses the value in the default
region; the number must carry no extension and be *valid* for its region (not merely
possible), and its E.164 form is the normalised address.

The fast way. phonenumbers.parse and is_valid_number cost some 30 µs a number; a send-out
of a million numbers spent most of its time there. For the two spellings nearly every
value has (a `+` and a country code that belongs to one region, or a national number of
the default region) the same checks are made here with the region's patterns compiled
once, taken from phonenumbers' own metadata. Whatever the fast way is not sure of (a
trunk or international prefix to strip, a country code shared by several regions, a
region whose prefix rules are patterns) goes through phonenumbers. The property test in
tests/test_phone.py checks that both ways give the same answer.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

# What a number may be written with besides its digits: the ASCII punctuation and the
# spaces and dashes of phonenumbers' own VALID_PUNCTUATION that people write numbers with.
PUNCTUATION = " \u00a0-\u2010\u2011\u2012\u2013\u2014\u2015\u2212./()"
_WRITTEN = re.compile(r"\+?[0-9%s]+" % re.escape(PUNCTUATION))
_NOT_WRITTEN = re.compile(r"[^0-9%s]" % re.escape(PUNCTUATION))
_DROP_PUNCTUATION = str.maketrans("", "", PUNCTUATION)
_MAX_LENGTH = 250  # phonenumbers refuses longer input; the fast way must too
# the number types phonenumbers tells apart; a number of none of them is not valid. Mobile
# first: SMS goes to mobiles, and the first type whose pattern matches ends the search.
_TYPES = ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
          "uan", "voicemail")


class InvalidPhoneNumber(ValueError):
    """The value is not a phone number by the rule above; the message says why."""


class PhoneNumbers:
    """Normalises phone numbers to E.164; numbers without a country code are read in
    `default_region`. Raises InvalidPhoneNumber with the reason."""

    def __init__(self, default_region: str = "SE") -> None:
        self.default_region = default_region.upper()
        self._home = _Region.of(self.default_region)

    def __call__(self, raw: str) -> str:
        value = raw.strip()
        digits = value.replace(" ", "").replace("-", "")  # the usual punctuation, quicker than translate
        # written the usual way (digits, spaces, hyphens, a leading +), a value is left with ASCII
        # digits: it needs no pattern to tell that it holds a number's characters only
        if not (digits.isascii() and (digits.isdigit() or (value[:1] == "+" and digits[1:].isdigit()))):
            if not _WRITTEN.fullmatch(value):
                raise InvalidPhoneNumber(_not_written(value))
            digits = digits.translate(_DROP_PUNCTUATION)
        if digits and len(value) <= _MAX_LENGTH:
            fast = self._fast(digits)
            if fast is not None:
                return fast
        return self.parse(value)

    def parse(self, value: str) -> str:
        """The rule through phonenumbers alone, for a value already found to be written
        with a number's characters only."""
        try:
            number = phonenumbers.parse(value, self.default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhoneNumber(exc._msg) from None
        if number.extension:
            raise InvalidPhoneNumber(f"it has an extension ({number.extension}); an address is one number")
        if not phonenumbers.is_valid_number(number):
            raise InvalidPhoneNumber(f"not a valid number (default region {self.default_region})")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def _fast(self, digits: str) -> str | None:
        """The E.164 form when the digits (with their `+`) are in one of the two common
        shapes and valid; None for the slow way."""
        if digits[0] == "+":
            for size in (1, 2, 3):
                code = digits[1:1 + size]
                if code in _CALLING_CODES:
                    region = _BY_CODE.get(code, _MISSING)
                    if region is _MISSING:
                        region = _BY_CODE[code] = _Region.of(_CALLING_CODES[code])
                    break
            else:
                return None
            if region is None:
                return None
            national = digits[1 + size:]
            if region.prefix and national.startswith(region.prefix):
                return None  # a trunk prefix after the country code: phonenumbers decides
        else:
            region = self._home
            if region is None or digits.startswith(region.code) or region.international.match(digits):
                return None  # perhaps a country code without its +: phonenumbers decides
            national = digits[len(region.prefix):] if region.prefix and digits.startswith(region.prefix) else digits
        if not national or national[0] == "0":
            return None  # leading zeros are kept in the number: phonenumbers decides
        pattern = region.by_length.get(len(national))  # = region.valid(national)
        if pattern is None or pattern.fullmatch(national) is None:
            return None  # invalid: phonenumbers says why
        return f"+{region.code}{national}"


def _not_written(value: str) -> str:
    stray = _NOT_WRITTEN.search(value.removeprefix("+"))
    if stray is None:
        return "empty" if not value else "no digits"
    if stray.group() == "+":
        return "a + belongs only at the start"
    return (f"{stray.group()!r} is not part of a phone number (digits, a leading +, spaces, hyphens, dots, "
            f"slashes and brackets)")


# country calling code -> its region, for codes that belong to exactly one region (+46 is
# Sweden's alone; +1 and +44 are shared, and which region a number is in takes phonenumbers)
_CALLING_CODES: dict[str, str | None] = {
    str(code): regions[0] if len(regions) == 1 else None
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()}


_MISSING = object()
_BY_CODE: dict = {}  # calling code -> _Region.of(its region), filled as codes are met


class _Region:
    """One region's validity patterns, compiled once: is_valid_number's checks for a
    national significant number of that region (it matches the general pattern, and the
    pattern of some number type whose lengths allow it), as one pattern per length."""

    def __init__(self, code: str, prefix: str | None, international: re.Pattern, metadata: PhoneMetadata) -> None:
        self.code = code
        self.prefix = prefix
        self.international = international
        general = metadata.general_desc
        types = [desc for desc in (getattr(metadata, name) for name in _TYPES)
                 if desc is not None and desc.national_number_pattern]
        self.by_length: dict[int, re.Pattern] = {}
        for size in general.possible_length:
            alternatives = [desc.national_number_pattern for desc in types
                            if not desc.possible_length or size in desc.possible_length]
            if alternatives:
                self.by_length[size] = re.compile(
                    f"(?=(?:{general.national_number_pattern})$)(?:{'|'.join(f'(?:{a})' for a in alternatives)})")

    def valid(self, national: str) -> bool:
        pattern = self.by_length.get(len(national))
        return pattern is not None and pattern.fullmatch(national) is not None

    @staticmethod
    @cache
    def of(region: str | None) -> _Region | None:
        """The region's patterns, or None when its numbers are left to phonenumbers: its
        prefix rules are more than a fixed trunk prefix, or its country code is shared
        (which region a +1 number is valid in is phonenumbers' to work out)."""
        metadata = PhoneMetadata.metadata_for_region(region) if region else None
        if metadata is None or metadata.national_prefix_transform_rule or not metadata.general_desc.possible_length:
            return None
        if _CALLING_CODES.get(str(metadata.country_code)) != region:
            return None
        prefix = metadata.national_prefix_for_parsing
        if prefix is not None and not prefix.isdigit():
            return None
        if not metadata.international_prefix:
            return None
        return _Region(str(metadata.country_code), prefix or None, re.compile(metadata.international_prefix), metadata)
