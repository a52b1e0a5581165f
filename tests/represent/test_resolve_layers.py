"""resolve_layers: the one reading of a layer choice, for a model (extract) and a store entry (study)."""

from __future__ import annotations

import pytest

from ftprobe.errors import SettingError
from ftprobe.represent import resolve_layer, resolve_layers


def test_choices_for_a_model():
    assert resolve_layers(None, 3) == resolve_layers("all", 3) == resolve_layers(["all"], 3) == [0, 1, 2, 3]
    assert resolve_layers([-1, 1, 3, 1], 3) == [1, 3]  # negatives count back, duplicates once
    assert resolve_layers("0, -2", 3) == [0, 2]
    with pytest.raises(SettingError, match=r"^layers: layer 4 out of range 0..3$"):
        resolve_layers([4], 3)
    with pytest.raises(SettingError, match=r"^layers: layer -5 out of range 0..3$"):
        resolve_layer(-5, 3)


def test_choices_within_a_store_entry():
    have = [0, 2, 6]
    assert resolve_layers("all", 6, have) == [0, 2, 6]
    assert resolve_layers([-1, 2], 6, have) == [2, 6]
    assert resolve_layer(-5, 6, have) == 2
    with pytest.raises(SettingError, match=r"^layers: layer 3 was not extracted \(have 0..6\)$"):
        resolve_layers([3], 6, have)


def test_a_choice_that_is_not_numbers_names_the_setting():
    with pytest.raises(SettingError, match=r"^layers: expected 'all' or layer numbers"):
        resolve_layers("1, last", 6)
