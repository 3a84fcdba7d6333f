"""Fixtures shared by every test: real servers (Dovecot, aiosmtpd) and databases."""

from tests.db.fixtures import *  # noqa: F403
from tests.servers.fixtures import *  # noqa: F403
