"""City routing: the cheapest route for a vehicle at an hour of the day across a city grid.

A scenario is a city of H x W cells plus one header row, stored as one (H + 1, W) grid:

    row 0      header: vehicle and hour tokens, alternating (V, h, V, h, ...) so that every
               column has both within one cell (models with local attention see them too)
    rows 1..H  the city: buildings, water, streets, roads, avenues (each possibly jammed),
               closed road cells, one start S and one end E

An answer is the same grid with ROUTE on the cells strictly between S and E, every other
cell unchanged: labels are the whole grid, never "padding except the route".

Moves and costs (all integers, so "optimal" is an exact comparison):
- A move goes to one of the 4 orthogonal neighbours, or to a diagonal neighbour when both
  cells are avenue cells (jammed or not): avenues cut across blocks, and a diagonal avenue
  is a chain of cells that only touch at corners. Corner cells need not be free.
- Moving into a cell costs its entry cost: BASE_COST[vehicle][road class], times
  JAM_FACTOR[hour] when the cell is jammed (bikes filter through jams: factor 1). Entering
  E costs END_COST. A route's cost is the sum over the cells it enters (route cells and E).
- A vehicle may only enter the road classes in its BASE_COST row (a truck never uses a
  small street, a bike never an avenue); buildings, water and closed cells stop everyone.
  S and E are always usable; what lies under them is not stored.

The verifier judges the predicted grid only (never the labels), and any route of optimal
cost is exact, not just the oracle's.

The package's modules, lowest first: tokens (the vocabulary and the cost rules), scenario
(the header row and the puzzle checks), oracle (entry costs, moves, A*), city (the
generator), verifier, text (the text format), render (pictures) and task (RoutingTask, the
registry's entry). This module only gathers their public names.
"""

from __future__ import annotations

from ponder.tasks.routing.oracle import entry_costs
from ponder.tasks.routing.scenario import read_header
from ponder.tasks.routing.task import ROUTING, RoutingTask
from ponder.tasks.routing.tokens import (
    AVENUE,
    AVENUE_JAM,
    AVENUE_TOKENS,
    BASE_COST,
    BIKE,
    BUILDING,
    CAR,
    CITY_TOKENS,
    CLOSED,
    END,
    END_COST,
    HOUR_0,
    JAM_FACTOR,
    JAM_PROOF,
    JAMMED,
    MAX_SIZE,
    MIN_SIZE,
    PAD,
    ROAD,
    ROAD_CLASS,
    ROAD_JAM,
    ROUTE,
    START,
    STREET,
    STREET_JAM,
    TOKEN_VEHICLE,
    TRUCK,
    VAN,
    VEHICLE_TOKEN,
    VEHICLES,
    VOCAB_SIZE,
    WATER,
)

__all__ = [
    "AVENUE",
    "AVENUE_JAM",
    "AVENUE_TOKENS",
    "BASE_COST",
    "BIKE",
    "BUILDING",
    "CAR",
    "CITY_TOKENS",
    "CLOSED",
    "END",
    "END_COST",
    "HOUR_0",
    "JAMMED",
    "JAM_FACTOR",
    "JAM_PROOF",
    "MAX_SIZE",
    "MIN_SIZE",
    "PAD",
    "ROAD",
    "ROAD_CLASS",
    "ROAD_JAM",
    "ROUTE",
    "ROUTING",
    "START",
    "STREET",
    "STREET_JAM",
    "TOKEN_VEHICLE",
    "TRUCK",
    "VAN",
    "VEHICLES",
    "VEHICLE_TOKEN",
    "VOCAB_SIZE",
    "WATER",
    "RoutingTask",
    "entry_costs",
    "read_header",
]
