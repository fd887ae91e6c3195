from __future__ import annotations

import pytest
from dns_testdata import DATA

from pydcos.dns.master_view import EVENT_DECODER, Event, MasterView, view_from_state, view_from_v1_state


@pytest.fixture
def state_view() -> MasterView:
    return view_from_state((DATA / "master_state.json").read_bytes())


@pytest.fixture
def subscribed() -> Event:
    return EVENT_DECODER.decode((DATA / "subscribed.json").read_bytes())


@pytest.fixture
def v1_view(subscribed: Event) -> MasterView:
    return view_from_v1_state(subscribed, "127.0.0.1:5050")
