"""requires_extra turns a missing optional module into MissingExtraError, and nothing else."""

from __future__ import annotations

import pytest

from messagehandler.errors import MissingExtraError
from messagehandler.extras import requires_extra


def test_a_missing_module_of_the_extra_names_the_extra() -> None:
    with pytest.raises(MissingExtraError) as raised, requires_extra("cache", "the event cache", ("lz4",)):
        raise ModuleNotFoundError("No module named 'lz4.frame'", name="lz4.frame")

    assert raised.value.extra == "cache"
    assert 'pip install "messagehandler-azure[cache]"' in str(raised.value)
    assert raised.value.name == "lz4.frame"


def test_an_unrelated_import_error_passes_unchanged() -> None:
    with pytest.raises(ImportError) as raised, requires_extra("cache", "the event cache", ("lz4",)):
        raise ImportError("cannot import name 'x' from 'messagehandler.somewhere'", name="messagehandler.somewhere")

    assert not isinstance(raised.value, MissingExtraError)


def test_an_inner_feature_missing_its_extra_is_reported_as_the_outer_features_extra() -> None:
    with pytest.raises(MissingExtraError) as raised, requires_extra("cli", "messagehandler stats", ("lz4",)):
        raise MissingExtraError("the event cache", "cache", "lz4")

    assert raised.value.extra == "cli"
