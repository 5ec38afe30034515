"""The unit tree as the media placement reads it: a hall belongs to its unit and every unit
above it (rooms/org.py nearest_unit_of_hall)."""

from __future__ import annotations

import pytest

from rooms.org import nearest_unit_of_hall
from server.db import Database
from tests.conftest import Org

pytestmark = pytest.mark.db


async def test_a_hall_is_served_by_the_nearest_unit_named_its_own_first(
    db: Database, org: Org
) -> None:
    async with db.sessions() as session:
        halls = org.halls
        assert await nearest_unit_of_hall(session, halls["A1"], {"A"}) == "A"  # a commune's
        assert await nearest_unit_of_hall(session, halls["A1"], {"A", "A1"}) == "A1"
        assert await nearest_unit_of_hall(session, halls["A1"], {"P", "A"}) == "A"
        assert await nearest_unit_of_hall(session, halls["B"], {"A"}) is None
        assert await nearest_unit_of_hall(session, halls["P"], {"A"}) is None
        assert await nearest_unit_of_hall(session, halls["A"], set()) is None
        assert await nearest_unit_of_hall(session, 10_000, {"A"}) is None  # no such hall
