"""What a certificate says about its holder: ETSI EN 319 412-5 qcStatements in the demo PKI's
certificates (QcCompliance on every citizen certificate, QcSSCD on those whose key is on a
token) and how sign-in reads them."""

from __future__ import annotations

import pytest

from idp.signatures.identity import is_qualified, key_storage_amr


@pytest.mark.parametrize(("slug", "amr"), [("an", "hwk"), ("binh", "swk"), ("cuong", "hwk"), ("dung", "swk")])
def test_qc_sscd_alone_means_a_hardware_key(citizen_keys, slug, amr):
    """No hardware policy configured: the qcStatement QcSSCD (EN 319 412-5 §4.2.2) decides."""
    assert key_storage_amr(citizen_keys[slug][1], frozenset()) == amr


def test_every_demo_citizen_certificate_is_qualified(demo_pki, citizen_keys):
    assert all(is_qualified(citizen_keys[c["slug"]][1]) for c in demo_pki["citizens"])


def test_a_certificate_without_qc_statements_is_not_qualified(citizen_keys):
    issuing_ca = citizen_keys["an"][2][0]
    assert not is_qualified(issuing_ca)
    assert key_storage_amr(issuing_ca, frozenset()) == "swk"
