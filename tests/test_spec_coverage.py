"""The registry against the spec's rows (`architectures/spec_rows.py`, regenerated from
`shared/spec/ARCHITECTURES.md`): every row of a complete family is registered in that family, and
no registered id is unknown to the spec except the extras the spec itself allows."""

from pathlib import Path

import architectures
from architectures.spec_rows import COMPLETE_FAMILIES, FAMILY_SLUGS, SPEC_ROWS, missing_rows, parse_spec

SPEC_FILE = Path(__file__).resolve().parents[2] / "shared" / "spec" / "ARCHITECTURES.md"


def test_the_vendored_rows_are_the_specs():
    # The shared spec sits beside a checkout in CI and on developers' machines; a user's clone
    # has only the vendored table, which is then the reference.
    if SPEC_FILE.is_file():
        assert parse_spec(SPEC_FILE.read_text()) == SPEC_ROWS
    assert sum(len(ids) for ids in SPEC_ROWS.values()) == 186


def test_every_row_of_a_complete_family_is_registered_in_its_family():
    missing = missing_rows(architectures.list_models())
    for letter in COMPLETE_FAMILIES:
        assert missing[letter] == [], (letter, missing[letter])
        family = set(architectures.list_models(family=FAMILY_SLUGS[letter]))
        assert set(SPEC_ROWS[letter]) <= family, (letter, sorted(set(SPEC_ROWS[letter]) - family))


def test_registered_rows_sit_in_their_spec_family():
    for letter, ids in SPEC_ROWS.items():
        for name in ids:
            if name in architectures.list_models():
                assert architectures.get_spec(name).family == FAMILY_SLUGS[letter], name
