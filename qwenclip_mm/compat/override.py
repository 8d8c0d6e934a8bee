"""What an override of third-party behaviour declares about itself."""
import importlib.metadata
import re
from dataclasses import dataclass
from typing import Callable, Tuple


def installed_version(package: str) -> Tuple[int, ...]:
    """The installed release of ``package`` as a tuple of ints, or ``()``.

    Only the leading numbers count: ``'2.6.0+cu124'`` gives ``(2, 6, 0)``.
    """
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ()
    numbers = []
    for piece in version.split('.'):
        match = re.match(r'\d+', piece)
        if match is None:
            break
        numbers.append(int(match.group()))
    return tuple(numbers)


@dataclass(frozen=True)
class Override:
    """One change to third-party behaviour.

    Attributes:
        name (str): How tests and :func:`active_overrides` call it.
        changes (str): The exact third-party object or behaviour changed.
        versions (str): The upstream releases it is for.
        reason (str): The upstream issue, or why it is needed.
        scope (str): How far the change reaches, and why not less.
        needed (Callable[[], bool]): Whether the installed versions need it.
        apply (Callable[[], None]): Makes the change (idempotent).
    """
    name: str
    changes: str
    versions: str
    reason: str
    scope: str
    needed: Callable[[], bool]
    apply: Callable[[], None]
