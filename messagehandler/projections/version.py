"""The version of a read model: a hash of the code that builds it.

A checkpoint is only as good as the code that produced it. Hashing the source of the record class
and of every projection class (with their own base classes, in the projector's order) means that
editing any of them invalidates checkpoints without anyone remembering to bump a number. What is not
hashed: functions and modules the handlers call, event classes and upcasters, library versions; for
those, change `salt`. Classes whose source cannot be read (defined in a REPL) are hashed by their
methods' bytecode, which is stable for one Python version.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
from collections.abc import Sequence
from typing import Any

from messagehandler.projections.projection import Projection

CHECKPOINT_FORMAT = 1
"""Bumped when the stored layout of checkpoints changes; part of every version."""


def read_model_version(record_type: type[Any], projections: Sequence[Projection[Any]], salt: str = "") -> str:
    digest = hashlib.sha256(f"format {CHECKPOINT_FORMAT}\nsalt {salt}\n".encode())
    for cls in (record_type, *_projection_classes(projections)):
        digest.update(f"{cls.__module__}.{cls.__qualname__}\n".encode())
        digest.update(_code_of(cls))
    return digest.hexdigest()[:32]


def _projection_classes(projections: Sequence[Projection[Any]]) -> list[type[Any]]:
    classes: list[type[Any]] = []
    for projection in projections:
        for cls in type(projection).__mro__:
            if cls not in classes and issubclass(cls, Projection) and cls is not Projection:
                classes.append(cls)
    return classes


def _code_of(cls: type[Any]) -> bytes:
    try:
        return inspect.getsource(cls).encode()
    except (OSError, TypeError):
        functions = sorted((name, v) for name, v in vars(cls).items() if inspect.isfunction(v))
        return b"".join(name.encode() + marshal.dumps(fn.__code__) for name, fn in functions)
