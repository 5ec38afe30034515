"""The password policy: 12 characters or more (OWASP ASVS 4.0, V2.1.1), and none of the most
common passwords.

The list (``data/common-passwords.txt.gz``) is the 20,000 most common passwords, lowercased,
that Django ships (``django/contrib/auth/common-passwords.txt.gz`` of Django 5.1.4, BSD
licence, see data/LICENSE.common-passwords), made by Royce Williams from leaked-password
corpora. It is compared lowercased.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

MIN_LENGTH = 12
MAX_LENGTH = 256


@cache
def common_passwords() -> frozenset[str]:
    data = resources.files("rooms").joinpath("data", "common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines())


def check_new_password(value: str) -> str:
    """The password, if the policy accepts it; ValueError saying why otherwise."""
    if len(value) < MIN_LENGTH:
        raise ValueError(f"a password needs {MIN_LENGTH} characters or more")
    if value.strip().lower() in common_passwords() or len(set(value)) < 4:
        raise ValueError("this password is too common; choose another")
    return value
