"""WCAG 2.1 AA checks of a page in the browser, by axe-core (axe-playwright-python ships it)."""

from __future__ import annotations

#: axe-core rules of WCAG 2.0 and 2.1, levels A and AA.
WCAG_21_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def assert_wcag_21_aa(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG_21_AA)
    assert results.violations_count == 0, results.generate_report()
    assert results.response["passes"], "axe-core checked nothing"
