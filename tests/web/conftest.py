"""The public pages and webhooks run on the same real server as the API: its fixtures, shared;
and a real SMTP server for the modules that send email."""

from collections.abc import Iterator

import pytest

from tests.api.conftest import api, other_api, server  # noqa: F401 — fixtures, found by pytest by name
from tests.web.mail import Inbox, running_inbox


@pytest.fixture(scope="module")
def inbox() -> Iterator[Inbox]:
    with running_inbox() as handler:
        yield handler
