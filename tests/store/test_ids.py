"""Profile ids are ULIDs: 26 Crockford base32 characters that sort by creation time."""

import os
import time
from collections import Counter

from ulid import ULID

from assent.services.shared import ids


def test_new_ids_are_valid_ulids_of_the_current_millisecond_and_distinct():
    before = time.time()
    made = [ids.new_id() for _ in range(2000)]
    after = time.time()
    assert len(set(made)) == len(made)
    for value in made[:50]:
        parsed = ULID.from_str(value)
        assert str(parsed) == value and before - 0.002 <= parsed.timestamp <= after + 0.002


def test_ulid_encoding_matches_the_reference_implementation():
    for _ in range(500):
        raw = os.urandom(16)
        value = int.from_bytes(raw, "big")
        ms, rand = value >> 80, value & ((1 << 80) - 1)
        encoded = ids._time_part(ms) + "".join(ids._PAIRS[(rand >> s) & 1023] for s in range(70, -1, -10))
        assert encoded == str(ULID.from_bytes(raw))
        # The random part new_id hands out: a character for each of 16 bytes, its low five bits.
        drawn = os.urandom(16)
        bits = 0
        for b in drawn:
            bits = bits << 5 | (b & 31)
        reference = ULID.from_bytes(((ms << 80) | bits).to_bytes(16, "big"))
        assert ids._time_part(ms) + ids._random_parts(drawn)[0] == str(reference)


def test_random_parts_are_encoded_many_at_a_time_as_one_by_one():
    raw = os.urandom(16 * 40)
    one_by_one = [ids._random_parts(raw[i : i + 16])[0] for i in range(0, len(raw), 16)]
    assert ids._random_parts(raw) == one_by_one


def test_each_random_character_is_uniform_over_the_alphabet():
    # Every byte value once: each of the 32 characters comes from exactly 8 of them.
    drawn = "".join(ids._random_parts(bytes(range(256))))
    assert Counter(drawn) == {c: 8 for c in ids._CROCKFORD}
