"""Where moto answers otherwise than AWS, put right the same way for the twin (launcher.py)
and the AWS adapter tests (shared/aws/tests/moto), so the real SDK clients parse what they
get.

- SES v2 contact lists and contacts (GetContactList, ListContacts, GetContact): moto writes
  CreatedTimestamp and LastUpdatedTimestamp as ISO 8601 strings; AWS sends epoch seconds, as
  the API's JSON protocol does for every timestamp, and the SDK refuses the strings.

Run as a script, it is moto's server with these fixes:
    python3 infra/twin/moto_fixes.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

TIMESTAMPS = ("CreatedTimestamp", "LastUpdatedTimestamp")


def epoch_seconds(value):
    """An ISO 8601 time as epoch seconds; anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return value


def with_epoch_timestamps(document):
    if isinstance(document, dict):
        return {k: epoch_seconds(v) if k in TIMESTAMPS else with_epoch_timestamps(v)
                for k, v in document.items()}
    if isinstance(document, list):
        return [with_epoch_timestamps(v) for v in document]
    return document


def fix_sesv2_timestamps() -> None:
    from moto.sesv2.responses import SESV2Response

    def fixed(original):
        def answer(response):
            body = original(response)
            try:
                return json.dumps(with_epoch_timestamps(json.loads(body)))
            except (TypeError, ValueError):
                return body
        answer.fixed = True
        return answer

    for name in ("get_contact_list", "list_contacts", "get_contact", "list_contact_lists"):
        original = getattr(SESV2Response, name)
        if not getattr(original, "fixed", False):
            setattr(SESV2Response, name, fixed(original))


def install() -> None:
    fix_sesv2_timestamps()


if __name__ == "__main__":
    install()
    from moto.server import main

    main(sys.argv[1:])
