"""The common shapes' phone path (``crmcore.phones``) answers as ``phonenumbers`` does."""

from __future__ import annotations

import random
from collections.abc import Iterator

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from crmcore.fields import e164_number
from crmcore.phones import common_e164

pytestmark = pytest.mark.crm_sqlite_only  # no database involved

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
#: regions numbers are read in besides their own: no trunk prefix (ES, IT), "0" (GB, DE),
#: "1" and a shared country code (US, CA), patterns with groups (AR, BR, MX, RU)
HOMES = ["ES", "IT", "GB", "DE", "FR", "US", "CA", "AR", "BR", "MX", "RU", "IN", "CN", "AU"]


def reference(text: str, region: str) -> str | None:
    """What ``e164_number`` answered before the common shapes' path: ``phonenumbers``."""
    if len(text) > 40:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def answer(text: str, region: str) -> str | None:
    try:
        return e164_number(text, region)
    except ValueError:
        return None


def example_texts() -> Iterator[str]:
    """Every region's example numbers of every type, written the ways people write them."""
    for region in REGIONS:
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            for style in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL):
                text = phonenumbers.format_number(number, style)
                plain = text.replace("(", "").replace(")", "")
                yield plain
                yield plain.replace(" ", "")
                yield plain.replace(" ", "-")
                yield "+" + plain.lstrip("+") if style == PhoneNumberFormat.NATIONAL else plain
            yield phonenumbers.format_number(number, PhoneNumberFormat.E164)


def random_texts(rnd: random.Random, count: int) -> Iterator[tuple[str, str]]:
    """Digits of every length in groups, with the prefixes that change how they are read:
    ``+``, international dialling prefixes, country codes, trunk prefixes, leading zeros."""
    starts = ["", "", "", "+", "0", "00", "011", "810", "8", "1", "9", "15", "0 ", "+0", "+1"]
    for _ in range(count):
        region = rnd.choice(REGIONS if rnd.random() < 0.3 else HOMES)
        start = rnd.choice(starts)
        if rnd.random() < 0.3:
            code = phonenumbers.country_code_for_region(rnd.choice(REGIONS))
            start += str(code) + rnd.choice(["", " ", "-"])
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 16)))
        text = start
        for digit in digits:
            text += digit
            if rnd.random() < 0.25:
                text += rnd.choice([" ", " ", "-"])
        yield text.strip(" -") or "5", region


#: shapes the common path must leave to phonenumbers: it decides and words the refusal
ODD = [
    "91 234 56 78 ",
    " 91 234 56 78",
    "91  234 56 78",
    "91 234 56 78 ext. 12",
    "91 234 56 78 x12",
    "91 234 56 78#",
    "91-234-56-78-#",
    "(91) 234 56 78",
    "91.234.56.78",
    "91/234/56/78",
    "++34 912 345 678",
    "\uff0b34 912 345 678",  # a full-width plus
    "".join(chr(0xFF10 + int(d)) for d in "912345678"),  # full-width digits
    "٩١٢٣٤٥٦٧٨",
    "91\u00a0234\u00a056\u00a078",
    "91\t234 56 78",
    "call after five",
    "1-800-FLOWERS",
    "tel:+34-912-345-678",
    "tel:912345678;phone-context=+34",
    "+34 912 345 678;ext=5",
    "0034 912 345 678",
    "34 912 345 678",
    "+34 0912 345 678",
    "+",
    "-",
    "+-1",
    "1",
    "12",
    "+12",
    "+123",
    "0",
    "000",
    "+800 1234 5678",
    "+979 1234 5678",
    "+882 1234 5678",
    "+999 1234 5678",
    "9" * 17,
    "9" * 18,
    "+34" + "9" * 17,
]


@pytest.mark.parametrize("home", HOMES)
def test_example_numbers_as_phonenumbers(home: str) -> None:
    answered = 0
    texts = list(example_texts())
    for text in texts:
        expected = reference(text, home)
        assert answer(text, home) == expected, (text, home)
        answered += common_e164(text, home) is not None
    # the comparison would prove nothing if the common path left every number to phonenumbers
    assert answered > len(texts) // 4, (answered, len(texts))


def test_generated_numbers_as_phonenumbers() -> None:
    rnd = random.Random(19)
    answered = compared = 0
    for text, region in random_texts(rnd, 60_000):
        expected = reference(text, region)
        assert answer(text, region) == expected, (text, region)
        fast = common_e164(text, region)
        assert fast is None or fast == expected, (text, region)
        answered += fast is not None
        compared += 1
    assert answered > compared // 20, (answered, compared)


@pytest.mark.parametrize("text", ODD)
@pytest.mark.parametrize("home", ["ES", "US", "GB"])
def test_odd_shapes_left_to_phonenumbers(text: str, home: str) -> None:
    if "+" not in text[:1] or not text[1:].replace(" ", "").isdigit():
        assert common_e164(text, home) is None, text
    assert answer(text, home) == reference(text, home), (text, home)


def test_common_shapes_answered() -> None:
    assert common_e164("91 234 56 78", "ES") == "+34912345678"
    assert common_e164("912-345-678", "ES") == "+34912345678"
    assert common_e164("+34 912 345 678", "US") == "+34912345678"
    assert common_e164("(212) 555-0100", "US") is None  # parentheses: phonenumbers
    assert common_e164("212 555 0100", "US") == "+12125550100"
    assert common_e164("1 212 555 0100", "US") is None  # a trunk prefix: phonenumbers
    assert e164_number("1 212 555 0100", "US") == "+12125550100"
    assert common_e164("020 7946 0018", "GB") is None
    assert e164_number("020 7946 0018", "GB") == "+442079460018"
    assert common_e164("+39 06 1234 5678", "ES") == "+390612345678"  # Italy keeps its zero
    assert common_e164("91 234 56 78", "XX") is None  # an unknown region: phonenumbers refuses
    with pytest.raises(ValueError, match=r"Not a valid phone number\."):
        e164_number("91 234 56 78", "XX")
    with pytest.raises(ValueError, match=r"Not a valid phone number\."):
        e164_number("91 234 56", "ES")  # too short for Spain
