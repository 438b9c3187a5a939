"""The organisation registry and the parents-and-guardians file: ``idp orgs import`` and
``idp relations import`` check every row (check digits of vn-tax-code and ru-ogrn, the legal
representative in the population registry, the child under 18) and write all rows or none;
``idp orgs show/list/members/add-member/remove-member/set-role`` with ``--json``."""

from __future__ import annotations

import json

import pytest

from idp.db import db
from idp.identifiers import ORGANISATION_SCHEMES, SCHEMES
from idp.identifiers.ru_ogrn import Ogrn
from idp.identifiers.vn_tax_code import VietnamTaxCode
from idp.orgs.models import Organisation, Relation
from tests.factories import NGOC as NGOC_PERSON
from tests.factories import ROOT, load_registry, make_citizen

SAMPLE_ORGS = ROOT / "scripts" / "demo_organisations.csv"
SAMPLE_RELATIONS = ROOT / "scripts" / "demo_relations.csv"
HEADER = "identifier,scheme,name,legal_representative,address,registered_on\n"
AN = "001085888274"
CHILD = "027210356658"  # Ngô Gia Bảo, born 2010-06-19
ADULT = "075207080599"  # Võ Nhật Minh, born 2007-07-27


@pytest.mark.parametrize("number", ["0100233488", "0314409058-002", "01.00.112.437"])
def test_vn_tax_code_accepts_numbers_with_a_good_check_digit(number):
    assert VietnamTaxCode().is_valid(number)


@pytest.mark.parametrize(("number", "part"), [("0100233480", "check_digit"), ("0100000005", "serial"),
                                              ("0314409058000", "branch"), ("01002334", "length")])
def test_vn_tax_code_refuses_a_bad_check_digit_and_malformed_numbers(number, part):
    with pytest.raises(ValueError) as refused:
        VietnamTaxCode().parse(number)
    assert refused.value.part == part


def test_ru_ogrn_check_digit_is_the_remainder_mod_11():
    assert Ogrn().is_valid("1022200525819") and Ogrn().is_valid("1027700123450")
    assert not Ogrn().is_valid("1022500001328")  # check digit off by 3
    assert not Ogrn().is_valid("3022200525819")  # 3: an individual entrepreneur's record


def test_organisation_schemes_are_not_personal_schemes():
    assert set(ORGANISATION_SCHEMES) == {"vn-tax-code", "ru-ogrn"}
    assert not set(ORGANISATION_SCHEMES) & set(SCHEMES)


def _write(tmp_path, text: str, name="orgs.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def registry_loaded(app):
    load_registry(app)


def test_sample_organisations_import_and_show_as_json(app, registry_loaded):
    result = _invoke(app, "orgs", "import", str(SAMPLE_ORGS), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"created": 4, "updated": 0}
    shown = json.loads(_invoke(app, "orgs", "show", "0108765438", "--json").output)
    assert shown["name"] == "Công ty TNHH Phần mềm Sao Mai (demo)"
    assert shown["legal_representative"] == AN and shown["activated_at"] is None
    listed = json.loads(_invoke(app, "orgs", "list", "--json").output)
    assert {row["scheme"] for row in listed} == {"vn-tax-code", "ru-ogrn"}
    again = _invoke(app, "orgs", "import", str(SAMPLE_ORGS), "--json")
    assert json.loads(again.output) == {"created": 0, "updated": 4}


@pytest.mark.parametrize(("row", "reason"), [
    ("0108765430,vn-tax-code,Bad digit,001085888274,Hà Nội,2015-04-01", "check digit"),
    ("1027700123451,ru-ogrn,Bad digit,101-010-787 65,Москва,2002-08-15", "check digit"),
    ("0108765438,vn-tax-code,Unknown rep,001085000001,Hà Nội,2015-04-01", "not in the population registry"),
    ("0108765438,vn-tax-code,Minor rep,027210356658,Hà Nội,2015-04-01", "under 18"),
    ("0108765438,vn-pin,Person scheme,001085888274,Hà Nội,2015-04-01", "unknown scheme"),
])
def test_import_refuses_the_whole_file_for_one_bad_row(app, registry_loaded, tmp_path, row, reason):
    good = "0312345673,vn-tax-code,Good one,079190320381,HCM,2012-09-20"
    result = _invoke(app, "orgs", "import", _write(tmp_path, HEADER + good + "\n" + row + "\n"))
    assert result.exit_code == 1
    assert "line 3" in result.output and reason in result.output
    assert "nothing was imported" in result.output
    with app.app_context():
        assert db.session.query(Organisation).count() == 0


def test_relations_import_refuses_a_child_of_18_or_more(app, registry_loaded, tmp_path):
    text = f"parent_identifier,child_identifier,kind\n{AN},{CHILD},parent\n{AN},{ADULT},guardian\n"
    result = _invoke(app, "relations", "import", _write(tmp_path, text, "rel.csv"))
    assert result.exit_code == 1
    assert "line 3: the child is 18 or older" in result.output
    with app.app_context():
        assert db.session.query(Relation).count() == 0


def test_relations_import_refuses_unknown_people_and_kinds(app, registry_loaded, tmp_path):
    text = f"parent_identifier,child_identifier,kind\n001085000001,{CHILD},parent\n{AN},{CHILD},uncle\n"
    result = _invoke(app, "relations", "import", _write(tmp_path, text, "rel.csv"))
    assert result.exit_code == 1
    assert "line 2: parent_identifier is not in the population registry" in result.output
    assert "line 3: kind must be parent or guardian" in result.output


def test_sample_relations_import(app, registry_loaded):
    result = _invoke(app, "relations", "import", str(SAMPLE_RELATIONS), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"created": 1, "updated": 0}


def test_admin_cli_manages_members_with_json(app, registry_loaded):
    assert _invoke(app, "orgs", "import", str(SAMPLE_ORGS)).exit_code == 0
    ngoc = make_citizen(app, NGOC_PERSON, email="ngoc@example.vn")
    assert ngoc
    refused = _invoke(app, "orgs", "add-member", "0108765438", NGOC_PERSON["identifier"])
    assert refused.exit_code == 1 and "not active" in refused.output  # not activated yet
    with app.app_context():
        db.session.query(Organisation).filter_by(identifier="0108765438").update(
            {"activated_at": db.func.current_timestamp()})
        db.session.commit()
    added = _invoke(app, "orgs", "add-member", "0108765438", NGOC_PERSON["identifier"],
                    "--role", "employee", "--role", "accountant", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)[0]["roles"] == ["accountant", "employee"]
    changed = _invoke(app, "orgs", "set-role", "0108765438", NGOC_PERSON["identifier"], "--role", "admin",
                      "--json")
    assert json.loads(changed.output)[0]["roles"] == ["admin"]
    bad = _invoke(app, "orgs", "set-role", "0108765438", NGOC_PERSON["identifier"], "--role", "Bad Role")
    assert bad.exit_code == 1 and "not a role name" in bad.output
    listed = json.loads(_invoke(app, "orgs", "members", "0108765438", "--json").output)
    assert [row["identifier"] for row in listed] == [NGOC_PERSON["identifier"]]
    last = _invoke(app, "orgs", "remove-member", "0108765438", NGOC_PERSON["identifier"])
    assert last.exit_code == 1 and "must keep an administrator" in last.output
