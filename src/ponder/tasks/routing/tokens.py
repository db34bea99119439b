"""City routing's vocabulary and rules of the road: token ids, vehicles, which road classes
each vehicle may enter at what cost, and the jam factor by hour."""

from __future__ import annotations

PAD, BUILDING, WATER, STREET, ROAD, AVENUE = 0, 1, 2, 3, 4, 5
STREET_JAM, ROAD_JAM, AVENUE_JAM, CLOSED, START, END, ROUTE = 6, 7, 8, 9, 10, 11, 12
BIKE, CAR, VAN, TRUCK = 13, 14, 15, 16
HOUR_0 = 17  # hour h is token HOUR_0 + h, h in 0..23
VOCAB_SIZE = HOUR_0 + 24  # 41

VEHICLES = ("bike", "car", "van", "truck")
VEHICLE_TOKEN = {"bike": BIKE, "car": CAR, "van": VAN, "truck": TRUCK}
TOKEN_VEHICLE = {t: v for v, t in VEHICLE_TOKEN.items()}
JAMMED = {STREET: STREET_JAM, ROAD: ROAD_JAM, AVENUE: AVENUE_JAM}
ROAD_CLASS = {STREET: STREET, ROAD: ROAD, AVENUE: AVENUE}
ROAD_CLASS.update({jam: cls for cls, jam in JAMMED.items()})
AVENUE_TOKENS = (AVENUE, AVENUE_JAM)
CITY_TOKENS = tuple(range(BUILDING, END + 1))  # what a puzzle's city rows may hold

# Entry cost by vehicle and road class; a class missing from a row is forbidden to it.
BASE_COST: dict[str, dict[int, int]] = {
    "bike": {STREET: 2, ROAD: 2},
    "car": {STREET: 3, ROAD: 2, AVENUE: 1},
    "van": {STREET: 4, ROAD: 3, AVENUE: 2},
    "truck": {ROAD: 3, AVENUE: 2},
}
JAM_PROOF = frozenset({"bike"})  # vehicles whose cost ignores jams
# Multiplier on a jammed cell's cost by hour: free at night, worst in the two rush hours.
JAM_FACTOR = (1, 1, 1, 1, 1, 1, 2, 5, 5, 5, 2, 2, 2, 2, 2, 2, 5, 5, 5, 2, 2, 1, 1, 1)
END_COST = 1  # never above any class cost, so the A* heuristic (routing.oracle) stays admissible

MAX_SIZE = 40
MIN_SIZE = 6
