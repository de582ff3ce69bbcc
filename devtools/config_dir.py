"""Home Assistant's config directory: linked to the repository, wiped, and locked."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path

from .const import ROOT
from .errors import HarnessError

# What `config/` keeps across runs; everything else in it is runtime state (git-ignored).
CONFIG_KEEP = frozenset({"configuration.yaml", "dashboards", ".demo.lock"})
# Links from the config directory to the integration and Assist sentences in the repository.
CONFIG_LINKS = ("custom_components", "custom_sentences")
# Onboarding steps marked done before Home Assistant starts. Its core-config step would set up
# the weather, radio and text-to-speech integrations, which need the internet and packages the
# demo does not install; the location and units come from configuration.yaml instead.
PRESET_ONBOARDING_STEPS = ("core_config", "analytics")
ONBOARDING_STORAGE_VERSION = 4


def prepare_config(config_dir: Path, *, fresh: bool) -> None:
    """Link the integration into a Home Assistant config directory; optionally wipe its state.

    Everything in the directory but `configuration.yaml`, `dashboards/` and the links is
    runtime state that Home Assistant writes (the database, `.storage`, logs).
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        for path in config_dir.iterdir():
            if path.name in CONFIG_KEEP:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    if fresh:
        _preset_onboarding(config_dir)
    for name in CONFIG_LINKS:
        link = config_dir / name
        target = Path(os.path.relpath(ROOT / name, config_dir))
        if link.is_symlink() and link.readlink() == target:
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        link.symlink_to(target, target_is_directory=True)


def _preset_onboarding(config_dir: Path) -> None:
    """Mark the onboarding steps the demo skips as done, in Home Assistant's onboarding store."""
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    store = {
        "version": ONBOARDING_STORAGE_VERSION,
        "minor_version": 1,
        "key": "onboarding",
        "data": {"done": list(PRESET_ONBOARDING_STEPS)},
    }
    (storage / "onboarding").write_text(json.dumps(store), encoding="utf-8")


class ConfigLock:
    """An exclusive lock on a config directory: one demo at a time may use (and wipe) it."""

    def __init__(self, config_dir: Path) -> None:
        """Lock `config_dir` (the lock file sits in it and is runtime state)."""
        self.path = config_dir / ".demo.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise HarnessError when another demo holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            msg = f"another demo uses {self.path.parent} (stop it first)"
            raise HarnessError(msg) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
