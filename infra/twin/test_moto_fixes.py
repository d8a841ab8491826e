"""moto_fixes: SES v2 timestamps as AWS sends them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import moto_fixes  # noqa: E402


def test_given_moto_iso_timestamps_when_fixed_then_they_are_epoch_seconds_wherever_they_are():
    body = {
        "ContactListName": "roleferry-users",
        "CreatedTimestamp": "2026-03-10T09:00:00.500Z",
        "Contacts": [{"EmailAddress": "sam@users.example", "LastUpdatedTimestamp": "2026-03-10T09:00:01.000Z"}],
    }
    fixed = moto_fixes.with_epoch_timestamps(body)
    assert fixed["CreatedTimestamp"] == 1773133200.5
    assert fixed["Contacts"][0]["LastUpdatedTimestamp"] == 1773133201.0
    assert fixed["Contacts"][0]["EmailAddress"] == "sam@users.example"


def test_given_values_that_are_not_iso_times_when_fixed_then_they_are_left_alone():
    assert moto_fixes.epoch_seconds(1773133200.5) == 1773133200.5
    assert moto_fixes.epoch_seconds("yesterday") == "yesterday"
    assert moto_fixes.with_epoch_timestamps({"Description": "2026-03-10T09:00:00Z"}) == {
        "Description": "2026-03-10T09:00:00Z"}
