"""National identifier schemes: Vietnam's personal identification number and Russia's SNILS.

Property-based (hypothesis): accepted numbers round-trip through normalisation, generated valid
numbers pass, and single-digit changes are caught wherever the scheme can catch them.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from idp.identifiers import SCHEMES, InvalidIdentifier, get_scheme
from idp.identifiers.ru_snils import check_number
from idp.identifiers.vn_pin import PROVINCES, century_digit

VN = get_scheme("vn-pin")
SNILS = get_scheme("ru-snils")

genders = st.sampled_from(["male", "female"])
birthdates = st.dates(min_value=date(1900, 1, 1), max_value=date.today())
provinces = st.sampled_from(sorted(PROVINCES))
serials = st.integers(0, 999_999).map(lambda n: f"{n:06d}")
separators = st.sampled_from(["", " ", "-", ".", "  ", "\u00a0"])


@st.composite
def vn_people(draw):
    """A valid number together with the birth date and sex it encodes."""
    born, gender = draw(birthdates), draw(genders)
    number = draw(provinces) + century_digit(born.year, gender) + f"{born.year % 100:02d}" + draw(serials)
    return number, born, gender


@st.composite
def snils_numbers(draw):
    body = f"{draw(st.integers(1_001_999, 999_999_999)):09d}"
    return body + f"{check_number(body):02d}"


def _spaced(draw, number: str, groups: tuple[int, ...]) -> str:
    parts, start = [], 0
    for size in groups:
        parts.append(number[start:start + size])
        start += size
    sep = draw(separators)
    return draw(st.sampled_from(["", " ", "\t"])) + sep.join(parts) + draw(st.sampled_from(["", " "]))


# -- Vietnam ------------------------------------------------------------------------------------


@given(vn_people())
def test_vn_generated_valid_numbers_pass_and_agree_with_their_holder(person):
    number, born, gender = person
    assert VN.parse(number) == number
    assert VN.contradictions(number, birthdate=born, gender=gender) == []
    facts = VN.facts(number)
    assert (facts.birth_year, facts.gender, facts.region_code) == (born.year, gender, number[:3])


@given(st.data(), vn_people())
def test_vn_accepted_input_round_trips_through_normalisation(data, person):
    typed = _spaced(data.draw, person[0], (3, 1, 2, 6))
    value = VN.parse(typed)
    assert value == person[0]
    assert VN.parse(VN.display(value)) == value
    assert VN.normalise(value) == value


@given(st.text(max_size=20))
def test_vn_any_text_is_accepted_only_in_a_form_that_round_trips(text):
    try:
        value = VN.parse(text)
    except InvalidIdentifier as exc:
        assert exc.part in {"characters", "length", "province", "future"}
        return
    assert VN.parse(value) == value and len(value) == 12 and value.isascii()


@given(vn_people(), st.integers(3, 5), st.integers(1, 9))
def test_vn_a_changed_century_or_year_digit_contradicts_the_holder(person, position, delta):
    """Digits 4-6 encode the birth date and sex, so any change to one of them is caught."""
    number, born, gender = person
    digits = list(number)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    try:
        VN.parse(changed)
    except InvalidIdentifier as exc:
        assert exc.part == "future"
        return
    assert VN.contradictions(changed, birthdate=born, gender=gender) != []


@given(vn_people(), st.integers(0, 2), st.integers(1, 9))
def test_vn_a_changed_province_digit_is_caught_unless_it_is_another_real_code(person, position, delta):
    number = person[0]
    digits = list(number)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    if changed[:3] in PROVINCES:
        assert VN.parse(changed) == changed  # the scheme has no check digit to catch it
    else:
        with pytest.raises(InvalidIdentifier) as caught:
            VN.parse(changed)
        assert caught.value.part == "province"


@pytest.mark.parametrize(("number", "part"), [
    ("003085012345", "province"),   # 003 is not in the table
    ("999085012345", "province"),
    ("00108501234", "length"),
    ("0010850123456", "length"),
    ("00108501234x", "characters"),
    ("００１０８５０１２３４５", "characters"),  # full-width digits are not ASCII digits
    ("001899012345", "future"),     # 2399 is in the future
])
def test_vn_invalid_numbers_say_which_part_is_wrong(number, part):
    with pytest.raises(InvalidIdentifier) as caught:
        VN.parse(number)
    assert caught.value.part == part


@pytest.mark.parametrize(("born", "gender", "parts"), [
    (date(1985, 3, 14), "male", []),
    (date(1985, 3, 14), "female", ["gender"]),
    (date(2085, 3, 14), "male", ["century"]),
    (date(1986, 3, 14), "male", ["birth_year"]),
])
def test_vn_contradictions_name_century_year_and_sex(born, gender, parts):
    assert VN.contradictions("001085888274", birthdate=born, gender=gender) == parts


def test_vn_century_digit_table():
    assert [century_digit(y, g) for y, g in [(1999, "male"), (1999, "female"), (2000, "male"),
                                             (2001, "female"), (2150, "male"), (2399, "female")]] == [
        "0", "1", "2", "3", "4", "9"]


# -- SNILS --------------------------------------------------------------------------------------


def test_snils_published_example():
    assert SNILS.parse("112-233-445 95") == "11223344595"
    assert SNILS.display("11223344595") == "112-233-445 95"


@pytest.mark.parametrize(("body", "check"), [("000000000", 0), ("112233445", 95)])
def test_snils_check_number_rule(body, check):
    assert check_number(body) == check


def test_snils_sums_of_100_and_101_give_00():
    # weights 9..1: 9*9 + 2*8 + 3*1 = 100, then 101 and 102
    assert [check_number(b) for b in ("920000003", "920000004", "920000005")] == [0, 0, 1]
    assert SNILS.is_valid("920-000-003 00") and SNILS.is_valid("920-000-004 00")


@given(snils_numbers())
def test_snils_generated_valid_numbers_pass(number):
    assert SNILS.parse(number) == number


@given(st.data(), snils_numbers())
def test_snils_accepted_input_round_trips_through_normalisation(data, number):
    typed = _spaced(data.draw, number, (3, 3, 3, 2))
    value = SNILS.parse(typed)
    assert value == number
    assert SNILS.parse(SNILS.display(value)) == value


@given(snils_numbers(), st.integers(0, 10), st.integers(1, 9))
def test_snils_single_digit_changes_are_caught(number, position, delta):
    """Every change is caught except the rule's one blind spot: (S mod 101) of 0 and 100 both
    give the check number 00."""
    digits = list(number)
    digits[position] = str((int(digits[position]) + delta) % 10)
    changed = "".join(digits)
    assume(int(changed[:9]) >= 1_001_999)
    if position < 9:
        before = sum(int(d) * (9 - i) for i, d in enumerate(number[:9])) % 101
        after = sum(int(d) * (9 - i) for i, d in enumerate(changed[:9])) % 101
        assume({before, after} != {0, 100})
    with pytest.raises(InvalidIdentifier) as caught:
        SNILS.parse(changed)
    assert caught.value.part == "checksum"


def test_snils_numbers_issued_before_the_rule_have_no_check():
    assert SNILS.parse("001-001-998 12") == "00100199812"


def test_snils_encodes_nothing_about_its_holder():
    assert SNILS.contradictions("11223344595", birthdate=date(1990, 1, 1), gender="female") == []


def test_every_scheme_is_registered_under_its_name():
    assert set(SCHEMES) == {"vn-pin", "ru-snils"}
    assert all(scheme.name == name for name, scheme in SCHEMES.items())
