"""``idp registry import`` / ``idp registry show``: the population registry registration is
checked against."""

from __future__ import annotations

import unicodedata

from sqlalchemy import func, select

from idp.audit.models import AuditEvent
from idp.citizens import registry
from idp.citizens.models import RegistryEntry
from idp.db import db
from tests.factories import AN, SAMPLE_REGISTRY

HEADER = "identifier,full_name,birthdate,gender,place_of_birth\n"


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(RegistryEntry))


def test_import_loads_the_sample_registry_and_audits_it(app):
    result = app.test_cli_runner().invoke(args=["registry", "import", str(SAMPLE_REGISTRY)])
    assert result.exit_code == 0, result.output
    assert "imported 22 new and 0 updated" in result.output
    assert _count(app) == 22
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "registry.import"))
        assert event.details == {"created": 22, "updated": 0}
        assert event.actor.startswith("admin:")
        snils = registry.lookup("ru-snils", "10101078765")
        assert snils.full_name == "Иванова Мария Сергеевна"


def test_import_again_updates_instead_of_duplicating(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["registry", "import", str(SAMPLE_REGISTRY)])
    result = runner.invoke(args=["registry", "import", str(SAMPLE_REGISTRY)])
    assert "imported 0 new and 22 updated" in result.output
    assert _count(app) == 22


def test_a_bad_row_stops_the_whole_import_naming_its_line_and_the_wrong_part(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(HEADER
                    + "001085888274,Nguyễn Văn An,1985-03-14,male,Hà Nội\n"
                    + "001185888275,Nguyễn Thị Bình,1985-03-14,male,Hà Nội\n"   # digit 4 says female
                    + "001085888276,Trần Văn Cường,1986-01-01,male,Hà Nội\n"    # digits 5-6 say 1985
                    + "003085888277,Lê Văn Dũng,1985-01-01,male,Hà Nội\n"       # 003: no such province
                    + "001085888278,Lê Văn\x00Em,1985-01-01,male,Hà Nội\n",
                    encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert "line 3: Digit 4 of the number (century of birth and sex) does not match the registered sex." \
        in result.output
    assert "line 4: Digits 5-6 of the number (year of birth) do not match the birth date." in result.output
    assert "line 5: Digits 1-3 of the number are not a province or city code." in result.output
    assert "line 6: full_name contains control characters" in result.output
    assert "nothing was imported" in result.output
    assert _count(app) == 0


def test_missing_columns_are_reported(app, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("identifier,name\n001085888274,An\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["registry", "import", str(path)])
    assert result.exit_code == 1
    assert "missing columns: full_name, birthdate, gender" in result.output
    assert "unknown columns: name" in result.output


def test_names_are_stored_nfc_and_separators_dropped_from_numbers(app, tmp_path):
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn An")
    path = tmp_path / "people.csv"
    path.write_text(HEADER + f"001 085 888274,{decomposed},1985-03-14,nam,Hà Nội\n", encoding="utf-8")
    assert app.test_cli_runner().invoke(args=["registry", "import", str(path)]).exit_code == 0
    with app.app_context():
        entry = registry.lookup("vn-pin", "001085888274")
        assert entry.full_name == "Nguyễn Văn An" and entry.gender == "male"


def test_show_prints_the_entry_and_what_the_number_tells(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["registry", "import", str(SAMPLE_REGISTRY)])
    result = runner.invoke(args=["registry", "show", "001-085-888-274"])
    assert result.exit_code == 0, result.output
    assert "Nguyễn Văn An" in result.output and "1985-03-14" in result.output
    assert "registered in    001 Hà Nội" in result.output
    snils = runner.invoke(args=["registry", "show", "--scheme", "ru-snils", "101-010-787 65"])
    assert "Иванова Мария Сергеевна" in snils.output and "101-010-787 65" in snils.output


def test_show_unknown_or_malformed_number(app):
    runner = app.test_cli_runner()
    unknown = runner.invoke(args=["registry", "show", "001085000000"])
    assert unknown.exit_code == 1 and "no registry entry has this number" in unknown.output
    bad = runner.invoke(args=["registry", "show", "12345"])
    assert bad.exit_code == 1 and "wrong number of digits" in bad.output


def test_match_compares_names_after_nfc_and_case_folding(app):
    app.test_cli_runner().invoke(args=["registry", "import", str(SAMPLE_REGISTRY)])
    with app.app_context():
        typed = unicodedata.normalize("NFD", "NGUYỄN  văn AN ")
        assert registry.match("vn-pin", AN["identifier"], typed, AN["birthdate"]) is not None
        assert registry.match("vn-pin", AN["identifier"], "Nguyen Van An", AN["birthdate"]) is None
