"""Keep credentials out of reprs, logs and error messages.

Errors end up in production logs and issue trackers; an account key or SAS token in
one of them is a leaked credential. Adapters pass every text they did not write themselves
(SDK errors, endpoints given by the user) through `redact` before it reaches a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"

_SECRET_PATTERNS = (
    re.compile(r"(?i)(AccountKey|SharedAccessKey|SharedAccessSignature|SharedAccessKeyName|Signature)=[^;&\s]+"),
    re.compile(r"(?i)\b(sig|se|sv|skoid|sktid|signature|key|code|token)=[^;&\s\"']+"),
)


def redact(text: str, secrets: Iterable[str | bytes | None] = ()) -> str:
    """`text` with known secret values and anything shaped like a key or SAS parameter masked."""
    for secret in secrets:
        if not secret:
            continue
        value = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
        text = text.replace(value, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda match: f"{match.group(1)}={REDACTED}", text)
    return text


def describe_error(error: BaseException, secrets: Iterable[str | bytes | None] = ()) -> str:
    """A one-line, credential-free description of an SDK or transport error."""
    status = getattr(error, "status_code", None)
    code = getattr(error, "error_code", None)
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    parts = [type(error).__name__]
    if status is not None:
        parts.append(f"HTTP {status}")
    if code:
        parts.append(str(getattr(code, "value", code)))
    if first_line:
        parts.append(first_line)
    return redact(": ".join(parts), secrets)


def credential_secrets(credential: object) -> tuple[str, ...]:
    """The secret values inside an Azure credential object, read when needed so a rotated key is masked too.

    Covers a key or SAS token given as a string, `AzureKeyCredential` (`key`), `AzureNamedKeyCredential`
    (`named_key.key`) and `AzureSasCredential` (`signature`); token credentials hold no value to mask.
    """
    if isinstance(credential, str):
        return (credential,) if credential else ()
    found: list[object] = [getattr(credential, "key", None), getattr(credential, "signature", None)]
    named = getattr(credential, "named_key", None)
    if named is not None:
        found.append(getattr(named, "key", None))
    return tuple(value for value in found if isinstance(value, str) and value)
