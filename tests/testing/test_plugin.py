"""The pytest plugin as an application's test suite meets it: installed, not imported."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest_plugins = ["pytester"]

APPLICATION_TESTS = """
from azure.data.tables import TableServiceClient

NAMES = []


def test_one(azurite_table):
    NAMES.append(azurite_table.name)
    with TableServiceClient.from_connection_string(azurite_table.connection_string) as service:
        service.create_table(azurite_table.name)
        assert azurite_table.name in [t.name for t in service.list_tables()]


def test_two(azurite, azurite_table):
    assert azurite_table.name not in NAMES, "every test gets a table of its own"
    assert azurite_table.connection_string == azurite.connection_string
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        assert NAMES[0] not in [t.name for t in service.list_tables()], "the first test's table was dropped"
"""


@pytest.mark.azurite
def test_an_application_suite_gets_azurite_and_a_fresh_table_per_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_app=APPLICATION_TESTS)
    monkeypatch.setenv("AZURITE_BIN_DIR", str(ROOT / "azurite" / "node_modules" / ".bin"))

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=2)
