"""The E.164 form of phone numbers in the commonest shapes, without ``phonenumbers.parse``.

``phonenumbers.parse`` looks for a number in any text (punctuation, letters of vanity
numbers, extensions, RFC 3966, any script's digits), which costs ~23 µs per number; an import
of a contacts file spends a tenth of its time there. Most numbers come as ASCII digits in
groups separated by single spaces or hyphens, maybe after a ``+`` ("91 234 56 78",
"+34 912-345-678"). For those, :func:`common_e164` takes the steps ``parse`` would take and
answers the same - but only where the answer is certain: a number that may carry an
international dialling prefix, the region's own country code without ``+``, or a national
prefix, and any number whose length is not a possible one, are left to ``phonenumbers``
(``None``), which then decides and words the refusal. ``tests/test_phones.py`` compares the
two on a large generated corpus of numbers for every region.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumber
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

#: ASCII digits in groups, single spaces or hyphens between them, maybe a leading ``+``
_COMMON = re.compile(r"\+?[0-9]+(?:[ -][0-9]+)*")
_SEPARATORS = str.maketrans("", "", " -")
#: phonenumbers' bounds of a national significant number
_SHORTEST, _LONGEST = 2, 17


@functools.cache  # one entry per region asked for: the instance's phone region
def _home(region: str) -> tuple[str, re.Pattern[str] | None, re.Pattern[str] | None] | None:
    """The country code of ``region`` as text, its international dialling prefix and its
    national prefix (patterns), or ``None`` when ``phonenumbers`` does not know the region."""
    if region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or not metadata.country_code:
        return None
    return (
        str(metadata.country_code),
        re.compile(metadata.international_prefix) if metadata.international_prefix else None,
        _national_prefix(metadata),
    )


@functools.cache  # one entry per country code met in the international form
def _abroad(country_code: int) -> tuple[bool, re.Pattern[str] | None]:
    """Whether numbers of ``country_code`` have metadata, and their national prefix."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return False, None
    return True, _national_prefix(metadata)


def _national_prefix(metadata: PhoneMetadata) -> re.Pattern[str] | None:
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None


@functools.cache  # few country codes and lengths
def _possible(country_code: int, length: int) -> bool:
    """``phonenumbers.is_possible_number`` of a number of ``country_code`` whose national
    significant number has ``length`` digits (it looks at the length alone)."""
    sample = PhoneNumber(country_code=country_code, national_number=10 ** (length - 1))
    return bool(phonenumbers.is_possible_number(sample))


def common_e164(text: str, region: str) -> str | None:
    """``text`` in E.164 form when it has one of the common shapes and is a possible number
    (read in ``region`` without ``+``); ``None`` for ``phonenumbers`` to decide."""
    if not _COMMON.fullmatch(text):
        return None
    digits = text.translate(_SEPARATORS)
    if len(digits) < 3:
        return None  # "1-2" is no number to phonenumbers, "12" is one: its call
    if digits[0] == "+":
        digits = digits[1:]
        if len(digits) <= _SHORTEST or digits[0] == "0":
            return None
        for size in (1, 2, 3):
            country_code = int(digits[:size])
            if country_code in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        national = digits[size:]
        known, national_prefix = _abroad(country_code)
        if not known:
            return None
        prefix = digits[:size]
    else:
        home = _home(region)
        if home is None:
            return None
        prefix, international, national_prefix = home
        if digits.startswith(prefix) or (international is not None and international.match(digits)):
            return None  # maybe the country code, dialled from here or written without "+"
        national = digits
        country_code = int(prefix)
    if national_prefix is not None and national_prefix.match(national):
        return None  # maybe a trunk prefix, stripped or not depending on the rest
    if not _SHORTEST <= len(national) <= _LONGEST or not _possible(country_code, len(national)):
        return None
    return f"+{prefix}{national}"
