"""Payload allocation's permutation: a bijection, so two serials can never share a payload."""

import pytest

from provenance.payloads import scramble, unscramble


def test_the_16_bit_permutation_is_a_bijection_over_its_whole_space():
    values = [scramble(serial, 16) for serial in range(1 << 16)]
    assert sorted(values) == list(range(1 << 16))


def test_scramble_and_unscramble_are_inverse_over_a_sample_of_the_32_bit_space():
    for serial in [*range(5000), 2**31, 2**32 - 1, 123_456_789]:
        assert unscramble(scramble(serial)) == serial


def test_consecutive_serials_land_far_apart():
    distances = [bin(scramble(s) ^ scramble(s + 1)).count("1") for s in range(1, 2000)]
    assert 14 <= sum(distances) / len(distances) <= 18  # about half of 32 bits differ
    assert min(distances) >= 3


def test_the_permutation_is_fixed_forever():
    # Payloads in published audio were made with these values; a change here would re-issue them.
    assert [scramble(s) for s in range(1, 4)] == [3045352294, 3221625830, 2671756868]


@pytest.mark.parametrize(("value", "bits"), [(-1, 32), (2**32, 32), (1, 15), (1, 0), (True, 32)])
def test_out_of_range_input_is_refused(value, bits):
    with pytest.raises(ValueError):
        scramble(value, bits)
