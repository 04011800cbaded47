"""What an error prints, with every secret this run knows masked and control characters shown as escapes.

Loaded only when a command fails: its imports (the settings' types, the URL masking) cost nothing on success.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import unquote

from reconciler.diagnostics import printable

if TYPE_CHECKING:
    from pydantic import BaseModel


# What names a secret in the environment: its whole value is masked wherever it appears (not where the
# variable names a file holding one, such as NAUTOBOT_KUBERNETES_TOKEN_PATH: the path is no secret).
_SECRET_VARIABLE = re.compile(r"^(?!.*_(?:PATH|FILE|DIR)$).*(?:PASSWORD|PASSWD|TOKEN|SECRET|_KEY$)", re.IGNORECASE)
# The password (or the token an HTTP(S) URL gives as its user) of every URL in a text; as config.mask_url
# finds them (userinfo ends at its last `@`).
_URL_SECRET = re.compile(r"\b(?:[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#\s:@]*:(?P<password>[^/?#\s]*)"
                         r"|https?://(?P<token>[^/?#\s:@]+))@", re.IGNORECASE)
MIN_SECRET = 4  # shorter values are not searched for in free text: they would mask half of every line


class Redactor:
    """Prints what an error says to standard error with every secret this run knows masked: the
    passwords of URLs anywhere in the text (config.mask_url), and each password, token or URL password
    given on the command line, in NBJOBS_* and NAUTOBOT_* variables, or in the settings (file included)
    wherever it appears, raw or percent-decoded. A database driver's or a broker's message, or a
    traceback's, cannot show one. Each line's control characters are shown as escapes."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    @classmethod
    def of(cls, args: argparse.Namespace | None, arguments: Sequence[str],
           environ: Mapping[str, str] = os.environ) -> Redactor:  # fmt: skip
        texts = list(arguments)
        whole: list[str] = []
        for variable, value in environ.items():
            if variable.startswith(("NBJOBS_", "NAUTOBOT_")):
                texts.append(value)
                if _SECRET_VARIABLE.search(variable):
                    whole.append(value)
        loaded = getattr(args, "_settings", None) if args is not None else None
        if loaded is not None:  # the settings were read: the file's secrets too
            for secret in _secret_values(loaded.settings):
                (texts if "://" in secret else whole).append(secret)
        found = [*whole]
        for text in texts:
            for match in _URL_SECRET.finditer(text):
                found.append(match["password"] or match["token"] or "")
        return cls([*found, *(unquote(secret) for secret in found)])

    def redact(self, text: str) -> str:
        from reconciler.config import mask_url

        text = mask_url(text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return "\n".join(printable(line) for line in text.split("\n"))

    def error(self, text: str) -> None:
        print(self.redact(text), file=sys.stderr)


def _secret_values(model: BaseModel) -> list[str]:
    """Every SecretStr in a settings model, its targets' included."""
    from pydantic import BaseModel, SecretStr

    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, SecretStr):
                found.append(item.get_secret_value())
            elif isinstance(item, BaseModel):
                found += _secret_values(item)
    return found
