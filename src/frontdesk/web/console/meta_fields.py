"""A Meta app's id and secret as an admin types them into the console: one rule for each, the
same on the Meta app settings and on a manual setup."""

from __future__ import annotations

import re

from .forms import Fields

APP_ID = re.compile(r"[0-9]{1,32}")
SECRET = re.compile(r"[\x21-\x7e]{8,200}")  # printable, no spaces: as Meta shows it


def app_id(form: Fields) -> str:
    """The `app_id` field; a problem is recorded on the form, next to the field."""
    value = form.text("app_id", 32)
    if "app_id" not in form.errors and not APP_ID.fullmatch(value):
        form.fail("app_id", "The App ID is a number, as the App Dashboard shows it.")
    return value


def app_secret(form: Fields, *, required: bool) -> str:
    """The `app_secret` field, empty when left blank and not `required`."""
    value = form.text("app_secret", 200, required=required)
    if value and not SECRET.fullmatch(value):
        form.fail("app_secret", "Paste the App secret exactly: 8 to 200 characters, no spaces.")
    return value
