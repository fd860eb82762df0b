"""Quantities in text: numbers with units, percentages, number words, fractions and years.

Pure; no I/O, no clock.  Each quantity is normalised to a base unit of its dimension
(metres, grams, bytes, seconds, percent, ...) and carries the rounding tolerance its
wording implies: "nearly 5.9 km" is 5,900 m give or take 50 m and a hedge, "nineteen in
twenty" is 95 %, "half a terabyte" is 500 GB.  :func:`same_amount` decides whether two
quantities can be honest roundings of one another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Quantity", "extract_quantities", "is_unit", "same_amount"]


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float  # in the base unit of ``dimension``
    dimension: str  # "" for a bare count
    text: str  # as written
    resolution: float  # the wording's last significant step, in base units
    hedged: bool  # "about", "nearly", an implicit "a week", a ratio ...
    raw: float  # the number as written, before the unit

    @property
    def is_year(self) -> bool:
        return self.dimension == "year-date"


#: unit word -> (dimension, factor to the base unit)
_UNITS: dict[str, tuple[str, float]] = {}


def _units(dimension: str, factor: float, *names: str) -> None:
    for name in names:
        _UNITS[name] = (dimension, factor)


_units("length", 1e-3, "mm", "millimetre", "millimetres", "millimeter", "millimeters")
_units("length", 1e-2, "cm", "centimetre", "centimetres", "centimeter", "centimeters")
_units("length", 1.0, "m", "metre", "metres", "meter", "meters")
_units("length", 1e3, "km", "kilometre", "kilometres", "kilometer", "kilometers")
_units("length", 1609.344, "mile", "miles")
_units("area", 1e6, "km²", "km2", "sq km", "square kilometre", "square kilometres",
       "square kilometer", "square kilometers")
_units("area", 1.0, "m²", "square metre", "square metres", "square meter", "square meters")
_units("area", 1e4, "hectare", "hectares", "ha")
_units("mass", 1e-6, "µg", "mcg", "microgram", "micrograms")
_units("mass", 1e-3, "mg", "milligram", "milligrams")
_units("mass", 1.0, "g", "gram", "grams")
_units("mass", 1e3, "kg", "kilo", "kilos", "kilogram", "kilograms")
_units("mass", 1e6, "tonne", "tonnes", "ton", "tons")
_units("volume", 1e-3, "ml", "millilitre", "millilitres", "milliliter", "milliliters")
_units("volume", 1.0, "l", "litre", "litres", "liter", "liters")
_units("data", 1e3, "kb", "kilobyte", "kilobytes")
_units("data", 1e6, "mb", "megabyte", "megabytes")
_units("data", 1e9, "gb", "gigabyte", "gigabytes")
_units("data", 1e12, "tb", "terabyte", "terabytes")
_units("data", 2.0 ** 20, "mib")
_units("data", 2.0 ** 30, "gib")
_units("data", 2.0 ** 40, "tib")
_units("time", 1e-3, "ms", "millisecond", "milliseconds")
_units("time", 1.0, "s", "sec", "secs", "second", "seconds")
_units("time", 60.0, "min", "mins", "minute", "minutes")
_units("time", 3600.0, "h", "hr", "hrs", "hour", "hours")
_units("time", 86400.0, "day", "days")
_units("time", 7 * 86400.0, "week", "weeks", "fortnight")
_units("time", 30.4375 * 86400, "month", "months")
_units("time", 365.25 * 86400, "year", "years")
_units("time", 3652.5 * 86400, "decade", "decades")
_units("percent", 1.0, "%", "percent", "per cent")
_units("points", 1.0, "percentage point", "percentage points", "point", "points")
_units("points", 0.01, "basis point", "basis points", "bp", "bps")
_units("usd", 1.0, "$", "dollar", "dollars", "usd")
_units("eur", 1.0, "€", "euro", "euros", "eur")
_units("gbp", 1.0, "£", "pound", "pounds", "gbp")
_units("celsius", 1.0, "°c", "degrees celsius", "degree celsius", "degrees")
_units("kelvin", 1.0, "kelvin")
_units("times", 1.0, "times", "fold")
_units("cycles", 1.0, "cycle", "cycles")



def is_unit(word: str) -> bool:
    """Whether ``word`` names a unit ("terabyte", "km", "percent")."""
    return word.lower() in _UNITS


_CURRENCY_SIGNS = {"$": "usd", "€": "eur", "£": "gbp"}
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "billion": 1e9,
           "bn": 1e9, "b": 1e9, "trillion": 1e12}
_ONES = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
         "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
         "nineteen": 19, "dozen": 12, "twice": 2, "once": 1}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_DENOMINATORS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4,
                 "fifth": 5, "fifths": 5, "tenth": 10, "tenths": 10}
_HEDGES = frozenset({"about", "around", "roughly", "approximately", "approx", "nearly",
                     "almost", "some", "close", "circa", "~", "over", "under", "just",
                     "more", "less", "estimated", "approaching", "up"})
_RATE_WORDS = frozenset({"a", "an", "per", "each", "every"})

_TOKEN = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|km²|m²|[a-zA-Z]+(?:-[a-zA-Z]+)*|°[cC]|[%$€£~/]")
_MASK = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}\b|\bv?\d+(?:\.\d+){2,}\b"
    r"|\b\d+/\d+\b"                                   # 130/80, 24/7
    r"|\b[^\W\d_]+[-_]?\d[\w]*\b"                     # codes: X2, COVID-19, v1, Ed25519, L2
    r"|\b\d+[a-zA-Z]+\d\w*\b")


def _decimals(number: str) -> int:
    return len(number.split(".")[1]) if "." in number else 0


def _trailing_zeros(number: str) -> int:
    digits = number.replace(",", "").split(".")[0]
    return len(digits) - len(digits.rstrip("0")) if "." not in number else 0


def _word_number(words: list[str], start: int) -> tuple[float, int] | None:
    """A spelled number ("forty-nine", "one hundred", "a dozen") at ``start``: (value, end)."""
    total, current, index, seen = 0.0, 0.0, start, False
    while index < len(words):
        word = words[index]
        parts = word.split("-")
        if all(p in _TENS or p in _ONES for p in parts) and len(parts) <= 2:
            if word in ("twice", "once") and seen:
                break
            current += sum(_TENS.get(p, 0) + _ONES.get(p, 0) for p in parts)
            seen = True
        elif word == "hundred" and seen:
            current = max(current, 1.0) * 100
        elif word in ("thousand", "million", "billion") and seen:
            total += max(current, 1.0) * _SCALES[word]
            current = 0.0
        elif word == "and" and seen and index + 1 < len(words) and (
                words[index + 1] in _ONES or words[index + 1] in _TENS):
            pass
        else:
            break
        index += 1
    return (total + current, index) if seen else None


#: Words between a number and its unit: "5 business days", "3 full years".
_UNIT_ADJECTIVES = frozenset({"business", "working", "calendar", "full", "consecutive", "extra",
                              "additional", "more", "whole", "straight"})


def _unit_at(words: list[str], index: int) -> tuple[str, float, int] | None:
    """The unit starting at ``words[index]``: (dimension, factor, end)."""
    if index < len(words) and words[index].lower() in _UNIT_ADJECTIVES:
        index += 1
    for length in (3, 2, 1):
        phrase = " ".join(words[index:index + length]).lower()
        if index + length <= len(words) and phrase in _UNITS:
            dimension, factor = _UNITS[phrase]
            return dimension, factor, index + length
    return None


def _skip_rate(words: list[str], index: int) -> int:
    """Past a rate's denominator: "/s", "per second", "a month", "each way"."""
    if index < len(words) and words[index] == "/" and index + 1 < len(words):
        return index + 2
    if index + 1 < len(words) and words[index].lower() in _RATE_WORDS and _unit_at(
            words, index + 1):
        unit = _unit_at(words, index + 1)
        return unit[2] if unit else index
    return index


def _hedged(words: list[str], start: int) -> bool:
    window = [w.lower() for w in words[max(0, start - 3):start]]
    return any(w in _HEDGES for w in window)


#: A number joined to its unit by a hyphen, as an adjective: "a two-second pause", "a
#: six-month course", "a 30-credit project".
_COMPOUND_UNIT = re.compile(
    r"\b(\d+(?:\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"fifteen|twenty|thirty|forty|fifty|sixty|hundred)-(second|minute|hour|day|week|month|"
    r"year|metre|meter|kilometre|kilometer|kilogram|gram|litre|liter|mile|foot|inch|"
    r"credit|page|person|seat|storey|degree)\b", re.IGNORECASE)


def extract_quantities(text: str) -> list[Quantity]:
    """Every quantity in ``text``, in order."""
    masked = _MASK.sub(" ", text.replace("\u2013", " to ").replace("\u2014", " "))
    masked = re.sub(r"(?<=\d)-(?=\d)", " to ", masked)
    masked = _COMPOUND_UNIT.sub(r"\1 \2", masked)  # "a two-second pause" -> "two second"
    masked = re.sub(r"(?<![\w.])[-\u2212](?=\d)", " minus ", masked)
    masked = re.sub(r"(?<=\d)(?=[a-zA-Z%°])", " ", masked)
    words = _TOKEN.findall(masked)
    lower = [w.lower() for w in words]
    found: list[tuple[Quantity, int, int]] = []
    index = 0
    while index < len(words):
        parsed = _quantity_at(words, lower, index)
        if parsed is None:
            index += 1
            continue
        quantity, end = parsed
        found.append((quantity, index, end))
        index = max(end, index + 1)
    return _range_units(found, lower)


def _range_units(found: list[tuple[Quantity, int, int]], lower: list[str]) -> list[Quantity]:
    """"200 to 400 mg", "one or two days": a bare number joined to a measured one takes its
    unit."""
    out = [quantity for quantity, _, _ in found]
    for i in range(len(out) - 1):
        first, second = out[i], out[i + 1]
        gap = lower[found[i][2]:found[i + 1][1]]
        if first.dimension == "" and second.dimension not in ("", "year-date") \
                and gap in (["to"], ["or"], ["and"], []) and first.raw <= second.raw * 10:
            factor = second.value / second.raw if second.raw else 1.0
            out[i] = Quantity(first.raw * factor, second.dimension, first.text,
                              first.resolution * factor, first.hedged, first.raw)
    return out


def _quantity_at(words: list[str], lower: list[str], index: int
                 ) -> tuple[Quantity, int] | None:
    word = lower[index]
    start = index
    currency = ""
    sign = 1.0
    if word in _CURRENCY_SIGNS and index + 1 < len(words) and words[index + 1][0].isdigit():
        currency, index = _CURRENCY_SIGNS[word], index + 1
        word = lower[index]
    if word in ("minus", "-") and index + 1 < len(words) and words[index + 1][0].isdigit():
        sign, index = -1.0, index + 1
        word = lower[index]
    hedged = _hedged(lower, start)
    number: float
    resolution: float
    implicit = False
    if word[0].isdigit():
        literal = word
        number = float(literal.replace(",", ""))
        resolution = 10.0 ** -_decimals(literal)
        if hedged and "." not in literal:
            resolution = max(resolution, 10.0 ** _trailing_zeros(literal))
        end = index + 1
    else:
        fraction = _fraction_at(lower, index)
        if fraction is not None:
            number, end = fraction
            resolution, hedged = 0.0, True
            if end < len(lower) and lower[end] in ("a", "an") and end + 1 < len(lower) and (
                    _unit_at(lower, end + 1) or lower[end + 1] in _SCALES):
                end += 1  # "half a terabyte", "half a billion"
            elif end < len(lower) and lower[end] == "of" and end + 1 < len(lower) and \
                    lower[end + 1] in ("a", "an") and _unit_at(lower, end + 2):
                end += 2  # "a quarter of an hour"
            elif not (end < len(lower) and (_unit_at(lower, end) or lower[end] in _SCALES)):
                return Quantity(number * 100, "percent", " ".join(words[start:end]), 0.0, True,
                                number), end
        else:
            spelled = _word_number(lower, index)
            if spelled is not None:
                number, end = spelled
                resolution = 1.0
                if lower[index] in ("one", "once") and end == index + 1 and not (
                        end < len(lower) and (_unit_at(lower, end) or lower[end] in _SCALES
                                              or lower[end] in ("in", "out", "to", "or"))):
                    return None  # "in one partition", "once": not an amount
            elif word in ("a", "an") and index + 1 < len(lower) and _unit_at(lower, index + 1) \
                    and _UNITS.get(lower[index + 1], ("",))[0] in ("time",) \
                    and not _after_quantity(lower, index):
                number, end, resolution, implicit = 1.0, index + 1, 0.0, True
            else:
                return None
    ratio = _ratio_at(lower, end, number)
    if ratio is not None:
        percent, end = ratio
        return Quantity(percent, "percent", " ".join(words[start:end]), 0.0, True, percent), end
    if end < len(lower) and lower[end] in _SCALES and (lower[end] not in ("m", "b", "k") or
                                                      currency):
        scale = _SCALES[lower[end]]
        number, resolution, end = number * scale, resolution * scale, end + 1
    if end + 1 < len(lower) and lower[end] == "and" and lower[end + 1] in ("a", "an") and \
            end + 2 < len(lower) and lower[end + 2] == "half":
        number, end = number + 0.5, end + 3  # "a year and a half"
    dimension, factor = (currency, 1.0) if currency else ("", 1.0)
    unit = _unit_at(lower, end)
    if unit is not None and not currency:
        dimension, factor, end = unit
        if end < len(lower) and lower[end] == "and" and end + 2 < len(lower) and \
                lower[end + 1] in ("a", "an") and lower[end + 2] == "half":
            number, end = number + 0.5, end + 3
        end = _skip_rate(words, end)
    elif currency:
        end = _skip_rate(words, end)
    number *= sign
    if not dimension and not implicit and word[0].isdigit() and 1000 <= number <= 2100 \
            and "," not in word and "." not in word:
        dimension = "year-date"
    text = " ".join(words[start:end])
    return Quantity(number * factor, dimension, text, resolution * factor,
                    hedged or implicit, number), end


def _after_quantity(lower: list[str], index: int) -> bool:
    """Whether the "a" at ``index`` is a rate's ("$49 a month", "twice a day")."""
    for word in lower[max(0, index - 3):index]:
        if word[0].isdigit() or word in _ONES or word in _TENS or word in _UNITS:
            return True
    return False


def _fraction_at(lower: list[str], index: int) -> tuple[float, int] | None:
    """"half", "a third", "two thirds", "three fifths", "a quarter" -> (fraction, end)."""
    word = lower[index]
    if lower[max(0, index - 2):index][-1:] == ["and"] or lower[max(0, index - 2):index] == [
            "and", "a"]:
        return None  # "a year and a half" is read with its unit
    if word in ("half", "halves"):
        return 0.5, index + 1
    if word in ("a", "an") and index + 2 < len(lower) and lower[index + 1] == "half" \
            and lower[index + 2] != "of":
        return None
    count: float | None = None
    if word in ("a", "an", "one"):
        count = 1.0
    elif word in _ONES:
        count = float(_ONES[word])
    if count is not None and index + 1 < len(lower) and lower[index + 1] in _DENOMINATORS:
        denominator = lower[index + 1]
        if denominator in ("half", "halves") and word in ("a", "an"):
            return 0.5, index + 2
        return count / _DENOMINATORS[denominator], index + 2
    return None


def _ratio_at(lower: list[str], end: int, numerator: float) -> tuple[float, int] | None:
    """"nineteen in twenty", "3 out of 5" after a number -> (percent, end)."""
    at = end
    if at < len(lower) and lower[at] == "out" and at + 1 < len(lower) and lower[at + 1] == "of":
        at += 2
    elif at < len(lower) and lower[at] == "in":
        at += 1
    else:
        return None
    if at >= len(lower):
        return None
    if lower[at][0].isdigit():
        denominator, stop = float(lower[at].replace(",", "")), at + 1
    else:
        spelled = _word_number(lower, at)
        if spelled is None:
            return None
        denominator, stop = spelled
    if denominator <= numerator or denominator == 0:
        return None
    return 100.0 * numerator / denominator, stop


def _tolerance(quantity: Quantity) -> float:
    allowance = quantity.resolution / 2
    if quantity.hedged:
        allowance = max(allowance, 0.05 * abs(quantity.value))
    return allowance


def same_amount(claim: Quantity, context: Quantity) -> bool:
    """Whether ``claim`` can be an honest rounding or restatement of ``context``."""
    if claim.is_year or context.is_year:
        return claim.is_year and context.is_year and claim.value == context.value
    if claim.dimension and context.dimension and claim.dimension != context.dimension:
        return False
    if claim.dimension and context.dimension:
        a, b = claim.value, context.value
    elif not claim.dimension and not context.dimension:
        a, b = claim.raw, context.raw
    else:  # one of them has no unit: compare the numbers as written
        a, b = claim.raw, context.raw
        scale_a = claim.value / claim.raw if claim.raw and claim.dimension else 1.0
        scale_b = context.value / context.raw if context.raw and context.dimension else 1.0
        limit = max(_tolerance(claim) / scale_a, _tolerance(context) / scale_b) + 1e-9
        return abs(a - b) <= limit
    limit = max(_tolerance(claim), _tolerance(context)) + 1e-9 * max(1.0, abs(b))
    return abs(a - b) <= limit
