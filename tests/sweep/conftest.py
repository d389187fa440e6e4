"""Fixtures for the sweep: estates with a watchdog wired to them, and moto keys with a ValidTo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from keywatch.adapters.aws import AwsClients
from keywatch.config import Settings
from keywatch.models import Mode
from keywatch.runtime import build_watchdog
from sweep_support import Sim


@pytest.fixture
def sim(make_estate: Callable[..., Any]) -> Callable[..., Sim]:
    """Build an estate from a fleet dict and a watchdog on it (mode, and optionally other clients)."""

    def build(fleet: dict[str, Any] | None = None, mode: Mode = Mode.NOTIFY, clients: AwsClients | None = None) -> Sim:
        estate = make_estate(fleet)
        watchdog = build_watchdog(estate.settings(Settings(mode=mode)), clients or estate.clients)
        return Sim(estate, watchdog)

    return build


@pytest.fixture
def valid_to(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, datetime]]:
    """moto 5 has no ValidTo: set one per key ID, as DescribeKey reports it for imported key material."""
    from moto.kms.models import Key

    expiries: dict[str, datetime] = {}
    original = Key.to_dict

    def to_dict(self: Any) -> dict[str, Any]:
        data = original(self)
        if self.id in expiries:
            data["KeyMetadata"]["ValidTo"] = expiries[self.id].timestamp()
            data["KeyMetadata"]["ExpirationModel"] = "KEY_MATERIAL_EXPIRES"
        return data

    monkeypatch.setattr(Key, "to_dict", to_dict)
    yield expiries
