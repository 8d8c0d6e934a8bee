"""``pkg::path`` config bases without ``pkg_resources``.

MMEngine 0.10.7 finds the configs of an installed package (``_base_ =
'mmpretrain::...'``) with ``pkg_resources``, which setuptools >= 82 no
longer ships, so such configs fail with ``ModuleNotFoundError`` (MMEngine
0.10.7 is its last release). Where ``pkg_resources`` is missing, we point
the two lookups that ``mmengine.config.config`` imported at ``importlib``
equivalents; where it exists, MMEngine is left alone.

Scope: the names ``is_installed`` and ``get_installed_path`` in
``mmengine.config.config`` only (``mmengine.utils`` keeps its own), since
configs are read inside the host's ``Config.fromfile`` calls.
"""
import importlib.metadata
import importlib.util
import os.path as osp

from .override import Override, installed_version


def is_installed(package: str) -> bool:
    """Whether ``package`` can be imported (or is an installed dist)."""
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """The folder of the installed package ``package``.

    Raises:
        importlib.metadata.PackageNotFoundError: ``package`` is not
            installed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise importlib.metadata.PackageNotFoundError(
            f'package {package!r} is not installed (needed to resolve a '
            f'"{package}::" config base)')
    return osp.dirname(spec.origin)


def needed() -> bool:
    """MMEngine needs ``pkg_resources`` here, and it is missing."""
    return (installed_version('mmengine') <= (0, 10, 7)
            and importlib.util.find_spec('pkg_resources') is None)


def resolve_packages_without_pkg_resources() -> None:
    """Make MMEngine's ``pkg::path`` config bases work without setuptools."""
    from mmengine.config import config as mmengine_config
    mmengine_config.is_installed = is_installed
    mmengine_config.get_installed_path = get_installed_path


OVERRIDE = Override(
    name='config_bases_without_pkg_resources',
    changes='mmengine.config.config.is_installed and .get_installed_path',
    versions='mmengine <= 0.10.7 with setuptools >= 82 (no pkg_resources)',
    reason='no MMEngine release fixes it: "mmpretrain::" config bases fail '
    'without pkg_resources',
    scope='two names in mmengine.config.config, only where pkg_resources '
    'is missing',
    needed=needed,
    apply=resolve_packages_without_pkg_resources)
