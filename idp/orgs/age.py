"""Who is a minor: under 18 on the day, by the birth date of the population registry (Vietnam's
Civil Code 2015 art. 20 and Russia's Civil Code art. 21 both set majority at 18)."""

from __future__ import annotations

from datetime import date

from idp import clock

AGE_OF_MAJORITY = 18


def majority_cutoff(today: date | None = None) -> date:
    """Born after this day: a minor today. (Born on 29 February: of age on 28 February of a
    year without one, which errs towards ending the parent's authority early.)"""
    today = today or clock.now().date()
    try:
        return today.replace(year=today.year - AGE_OF_MAJORITY)
    except ValueError:  # today is 29 February
        return today.replace(year=today.year - AGE_OF_MAJORITY, day=28)


def is_minor(birthdate: date, today: date | None = None) -> bool:
    return birthdate > majority_cutoff(today)
