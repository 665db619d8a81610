"""The public pages and webhooks run on the same real server as the API: its fixtures, shared."""

from tests.api.conftest import api, other_api, server  # noqa: F401 — fixtures, found by pytest by name
