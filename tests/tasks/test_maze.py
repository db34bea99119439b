"""Maze task: generator, oracle against an independent shortest path, verifier, text, pictures."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ponder.errors import UserError
from ponder.tasks.maze import GOAL, MAZE, OPEN, PAD, PATH, START, WALL

# A hand-made maze with one loop: the short route goes S, down, right, up to G (6 moves);
# the long way round the right side is 10 moves.
LOOP_MAZE = """\
#######
#S#G  #
# # # #
#     #
#######
"""
SHORT_ROUTE = [(2, 1), (3, 1), (3, 2), (3, 3), (2, 3)]
DETOUR = [(2, 1), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (2, 5), (1, 5), (1, 4)]


def dijkstra_moves(puzzle: np.ndarray) -> int:
    """Shortest S->G moves by Dijkstra with a heap, written apart from the module's BFS."""
    height, width = puzzle.shape
    (sr,), (sc,) = np.nonzero(puzzle == START)
    best = {(int(sr), int(sc)): 0}
    heap = [(0, int(sr), int(sc))]
    while heap:
        d, r, c = heapq.heappop(heap)
        if puzzle[r, c] == GOAL:
            return d
        if d > best[(r, c)]:
            continue
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            inside = 0 <= nr < height and 0 <= nc < width
            if inside and puzzle[nr, nc] != WALL and d + 1 < best.get((nr, nc), 1 << 30):
                best[(nr, nc)] = d + 1
                heapq.heappush(heap, (d + 1, nr, nc))
    return -1


def all_shortest_routes(puzzle: np.ndarray, moves: int) -> list[list[tuple[int, int]]]:
    """Every simple S->G walk of exactly `moves` moves, by brute-force depth-first search."""
    height, width = puzzle.shape
    (sr,), (sc,) = np.nonzero(puzzle == START)
    routes: list[list[tuple[int, int]]] = []

    def walk(path: list[tuple[int, int]]) -> None:
        r, c = path[-1]
        if puzzle[r, c] == GOAL:
            if len(path) - 1 == moves:
                routes.append(path[1:-1])
            return
        if len(path) - 1 == moves:
            return
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            inside = 0 <= nr < height and 0 <= nc < width
            if inside and puzzle[nr, nc] != WALL and (nr, nc) not in path:
                walk([*path, (nr, nc)])

    walk([(int(sr), int(sc))])
    return routes


def with_path(puzzle: np.ndarray, cells: list[tuple[int, int]]) -> np.ndarray:
    answer = puzzle.copy()
    for r, c in cells:
        answer[r, c] = PATH
    return answer


def count_cycles_rank(grid: np.ndarray) -> int:
    """Edges - vertices + 1 of the open-cell graph: > 0 exactly when it has a cycle."""
    free = grid != WALL
    edges = int(np.sum(free[1:, :] & free[:-1, :]) + np.sum(free[:, 1:] & free[:, :-1]))
    return edges - int(free.sum()) + 1


# --------------------------------------------------------------------- oracle (property)


@settings(deadline=None, max_examples=50)
@given(
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from(range(5, 23, 2)),
    loop_fraction=st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]),
)
def test_oracle_matches_independent_shortest_path(seed: int, size: int, loop_fraction: float):
    puzzle = MAZE.generate(np.random.default_rng(seed), size=size, loop_fraction=loop_fraction)
    answer = MAZE.solve(puzzle)
    moves = dijkstra_moves(puzzle)
    assert MAZE.shortest_path_length(puzzle) == moves
    assert int(np.sum(answer == PATH)) + 1 == moves
    result = MAZE.verify(puzzle, answer)
    assert result["exact"] and result["valid"] and result["connected"] and result["optimal"]


# --------------------------------------------------------------------- generator


def test_generate_is_deterministic_for_a_seed():
    a = MAZE.generate(np.random.default_rng(7), size=15, loop_fraction=0.2)
    b = MAZE.generate(np.random.default_rng(7), size=15, loop_fraction=0.2)
    c = MAZE.generate(np.random.default_rng(8), size=15, loop_fraction=0.2)
    assert a.dtype == np.uint8 and a.shape == (15, 15)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_perfect_maze_is_a_tree_inside_a_wall_border():
    rng = np.random.default_rng(0)
    for _ in range(20):
        grid = MAZE.generate(rng, size=15)
        border = np.concatenate([grid[0], grid[-1], grid[:, 0], grid[:, -1]])
        assert np.all(border == WALL)
        rooms = 7 * 7
        assert int(np.sum(grid != WALL)) == 2 * rooms - 1
        assert np.all(grid[1::2, 1::2] != WALL)  # every room is carved
        assert np.all(grid[2:-1:2, 2:-1:2] == WALL)  # even-even cells never open
        assert count_cycles_rank(grid) == 0
        assert int(np.sum(grid == START)) == 1 and int(np.sum(grid == GOAL)) == 1


def test_loop_fraction_creates_cycles():
    rng = np.random.default_rng(1)
    for _ in range(10):
        grid = MAZE.generate(rng, size=15, loop_fraction=0.2)
        assert count_cycles_rank(grid) >= 1


def test_min_path_is_respected():
    rng = np.random.default_rng(2)
    for _ in range(20):
        puzzle = MAZE.generate(rng, size=15, min_path=40)
        assert dijkstra_moves(puzzle) >= 40


def test_large_maze_generates_without_recursion_trouble():
    grid = MAZE.generate(np.random.default_rng(3), size=61)
    assert int(np.sum(grid != WALL)) == 2 * 30 * 30 - 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (
            {"size": 7, "min_path": 200},
            "could not generate a 7x7 maze with a shortest path of at least 200",
        ),
        (
            {"size": 9, "min_path": 30, "max_tries": 3},
            "could not generate a 9x9 maze .* in 3 tries",
        ),
        ({"size": 4}, r"integer in 5\.\.201"),
        ({"size": 3}, r"integer in 5\.\.201"),
        ({"size": 202}, r"integer in 5\.\.201, got 202"),
        ({"loop_fraction": 1.5}, "loop_fraction"),
        ({"min_path": -1}, "min_path"),
        ({"max_tries": 0}, "max_tries"),
    ],
)
def test_generate_rejects_bad_parameters(kwargs, words):
    with pytest.raises(UserError, match=words):
        MAZE.generate(np.random.default_rng(0), **kwargs)


# --------------------------------------------------------------------- verifier


def test_verifier_accepts_every_shortest_path_in_a_maze_with_loops():
    multi = 0
    for seed in range(30):
        puzzle = MAZE.generate(np.random.default_rng(seed), size=9, loop_fraction=0.6)
        moves = dijkstra_moves(puzzle)
        routes = all_shortest_routes(puzzle, moves)
        assert routes
        for route in routes:
            assert MAZE.verify(puzzle, with_path(puzzle, route))["exact"], route
        multi += len(routes) > 1
    assert multi >= 3  # the loops really gave several shortest routes to accept


def test_verifier_accepts_the_short_route_and_rejects_the_detour():
    puzzle = MAZE.parse_puzzle(LOOP_MAZE)
    assert MAZE.verify(puzzle, with_path(puzzle, SHORT_ROUTE))["exact"]
    detour = MAZE.verify(puzzle, with_path(puzzle, DETOUR))
    assert detour["valid"] and detour["connected"]
    assert not detour["optimal"] and not detour["exact"]


def test_verifier_rejects_a_path_through_a_wall():
    puzzle = MAZE.parse_puzzle(LOOP_MAZE)
    result = MAZE.verify(puzzle, with_path(puzzle, [(1, 2)]))  # S, wall, G
    assert result["connected"] and not result["valid"] and not result["exact"]


@pytest.fixture(scope="module")
def tree_maze():
    puzzle = MAZE.generate(np.random.default_rng(11), size=15, min_path=20)
    return puzzle, MAZE.solve(puzzle)


def _open_neighbour(puzzle, answer, cell):
    r, c = cell
    for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
        if answer[nr, nc] == OPEN:
            return nr, nc
    return None


def test_verifier_rejects_a_gap(tree_maze):
    puzzle, answer = tree_maze
    broken = answer.copy()
    cells = np.argwhere(answer == PATH)
    broken[tuple(cells[len(cells) // 2])] = OPEN
    result = MAZE.verify(puzzle, broken)
    assert result["valid"] and not result["connected"] and not result["exact"]
    assert 0.0 < result["path_f1"] < 1.0


def test_verifier_rejects_a_branch(tree_maze):
    puzzle, answer = tree_maze
    for cell in map(tuple, np.argwhere(answer == PATH)):
        extra = _open_neighbour(puzzle, answer, cell)
        if extra is not None:
            break
    assert extra is not None
    result = MAZE.verify(puzzle, with_path(answer, [extra]))
    assert result["valid"] and not result["connected"] and not result["exact"]


def test_verifier_rejects_a_stray_cell(tree_maze):
    puzzle, answer = tree_maze
    route = np.isin(answer, (PATH, START, GOAL))
    near_route = np.zeros_like(route)
    near_route[1:] |= route[:-1]
    near_route[:-1] |= route[1:]
    near_route[:, 1:] |= route[:, :-1]
    near_route[:, :-1] |= route[:, 1:]
    far = np.argwhere((answer == OPEN) & ~near_route)
    assert len(far)
    result = MAZE.verify(puzzle, with_path(answer, [tuple(far[0])]))
    assert result["valid"] and not result["connected"] and not result["exact"]


def test_verifier_rejects_path_everywhere_and_a_copied_puzzle(tree_maze):
    puzzle, answer = tree_maze
    open_to_path = np.where(puzzle == OPEN, PATH, puzzle).astype(np.uint8)
    result = MAZE.verify(puzzle, open_to_path)
    assert result["valid"] and not result["connected"] and not result["exact"]
    every = MAZE.verify(puzzle, np.full_like(puzzle, PATH))
    assert not every["valid"] and not every["exact"]
    copied = MAZE.verify(puzzle, puzzle.copy())
    assert copied["valid"] and not copied["connected"] and not copied["exact"]
    assert copied["path_f1"] == 0.0 and copied["cell_acc"] < 1.0


def test_verifier_scores_the_oracle_perfectly_with_plain_python_types(tree_maze):
    puzzle, answer = tree_maze
    result = MAZE.verify(puzzle, answer)
    assert result == {
        "valid": True,
        "connected": True,
        "optimal": True,
        "exact": True,
        "path_f1": 1.0,
        "cell_acc": 1.0,
    }
    assert all(type(v) in (bool, float) for v in result.values())


def test_adjacent_start_and_goal_need_no_path():
    puzzle = MAZE.parse_puzzle("#####\n#SG #\n#####\n")
    result = MAZE.verify(puzzle, puzzle.copy())
    assert result["exact"] and result["path_f1"] == 1.0
    assert MAZE.shortest_path_length(puzzle) == 1


@settings(deadline=None, max_examples=30)
@given(seed=st.integers(0, 2**32 - 1))
def test_verifier_never_crashes_on_garbage(seed):
    rng = np.random.default_rng(seed)
    puzzle = MAZE.generate(rng, size=9, loop_fraction=0.3)
    garbage = rng.integers(0, 256, size=puzzle.shape, dtype=np.uint8)
    result = MAZE.verify(puzzle, garbage)
    assert not result["exact"]
    assert all(type(v) in (bool, float) for v in result.values())


def test_verifier_rejects_a_wrong_shape(tree_maze):
    puzzle, answer = tree_maze
    with pytest.raises(UserError, match=r"shape \(14, 15\).*shape \(15, 15\)"):
        MAZE.verify(puzzle, answer[:-1])


def test_solve_refuses_an_unsolvable_puzzle():
    with pytest.raises(UserError, match="no route from S to G"):
        MAZE.solve(MAZE.parse("#####\n#S#G#\n#####\n"))


# --------------------------------------------------------------------- codec


def test_encode_decode_round_trip_and_clipping(tree_maze):
    puzzle, answer = tree_maze
    tokens = MAZE.encode(answer)
    assert tokens.dtype == np.int64 and tokens.shape == (225,)
    assert MAZE.grid_shape(len(tokens)) == (15, 15)
    assert np.array_equal(MAZE.decode(tokens, (15, 15)), answer)
    tokens[:3] = [-1, 6, 99]
    decoded = MAZE.decode(tokens, (15, 15))
    assert decoded.dtype == np.uint8 and np.all(decoded.reshape(-1)[:3] == PAD)
    assert not MAZE.verify(puzzle, decoded)["valid"]


def test_grid_shape_needs_a_square():
    with pytest.raises(UserError, match="square"):
        MAZE.grid_shape(226)
    with pytest.raises(UserError, match="square"):
        MAZE.grid_shape(0)


# --------------------------------------------------------------------- text format


def test_parse_format_round_trip(tree_maze):
    puzzle, answer = tree_maze
    for grid in (puzzle, answer):
        text = MAZE.format(grid)
        assert text.endswith("\n") and "." not in text
        assert np.array_equal(MAZE.parse(text), grid)
        assert np.array_equal(MAZE.parse(text.rstrip("\n")), grid)  # newline optional
        assert np.array_equal(MAZE.parse(text + "\n"), grid)  # trailing blank line ignored
        dotted = MAZE.render_ascii(grid)
        assert np.array_equal(MAZE.parse(dotted), grid)


def test_parse_keeps_trailing_spaces_as_open_cells():
    grid = MAZE.parse("#S G \n#####\n")
    assert grid.shape == (2, 5)
    assert grid[0].tolist() == [WALL, START, OPEN, GOAL, OPEN]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("\n\n", "empty"),
        ("#####\n#S G#\n#### \n###\n", "row 4 has 3 cells, expected 5"),
        ("#####\n#S xG\n#####\n", "unknown character 'x' at row 2, column 4"),
    ],
)
def test_parse_rejects_bad_text(text, words):
    with pytest.raises(UserError, match=words):
        MAZE.parse(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("#####\n#SSG#\n#####\n", r"found 2 starts \(S\); a maze needs exactly one"),
        ("#####\n#S  #\n#####\n", r"found 0 goals \(G\); a maze needs exactly one"),
        ("#####\n#SoG#\n#####\n", "path"),
        ("#####\n#S#G#\n#####\n", "no route from S to G"),
    ],
)
def test_parse_puzzle_rejects_bad_puzzles(text, words):
    with pytest.raises(UserError, match=words):
        MAZE.parse_puzzle(text)


# --------------------------------------------------------------------- pictures


def test_render_ascii_shows_walls_and_open_cells(tree_maze):
    text = MAZE.render_ascii(tree_maze[0])
    assert "#" in text and "." in text and "S" in text and " " not in text


def test_render_png_writes_a_png(tmp_path, tree_maze):
    puzzle, answer = tree_maze
    wrong = puzzle.copy()
    rows = [
        (puzzle, answer, answer, MAZE.verify(puzzle, answer)),
        (puzzle, wrong, answer, MAZE.verify(puzzle, wrong)),
        (puzzle, wrong, answer),
    ]
    out = MAZE.render_png(tmp_path / "sub" / "mazes.png", rows, titles=["a", "b", "c"])
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert sorted(p.name for p in out.parent.iterdir()) == ["mazes.png"]  # no temp left


def test_even_sizes_pad_the_odd_maze_with_walls():
    import numpy as np

    from ponder.tasks import get

    maze = get("maze")
    grid = maze.generate(np.random.default_rng(3), size=12, min_path=8)
    assert grid.shape == (12, 12)
    assert (grid[-1] == 1).all() and (grid[:, -1] == 1).all()  # the added wall row, column
    assert maze.verify(grid, maze.solve(grid))["exact"]


# ----------------------------------------------------------------------------- families


def test_obstacle_grids_keep_only_long_enough_routes_and_any_shortest_route_is_exact():
    rng = np.random.default_rng(0)
    for _ in range(20):
        puzzle = MAZE.generate(rng, size=12, min_path=14, family="obstacles", wall_density=0.3)
        assert MAZE.shortest_path_length(puzzle) >= 14
        assert ((puzzle == START).sum(), (puzzle == GOAL).sum()) == (1, 1)
    open_grid = np.full((3, 4), OPEN, dtype=np.uint8)  # S . . .
    open_grid[0, 0], open_grid[2, 3] = START, GOAL  # . . . .  several shortest routes
    routes = []  # two different shortest routes: along the top then down, or down then along
    for cells in ([(0, 1), (0, 2), (0, 3), (1, 3)], [(1, 0), (2, 0), (2, 1), (2, 2)]):
        answer = open_grid.copy()
        for r, c in cells:
            answer[r, c] = PATH
        routes.append(answer)
    assert all(MAZE.verify(open_grid, answer)["exact"] for answer in routes)
    assert not (routes[0] == routes[1]).all()


def test_mixed_sizes_sit_on_a_grid_of_walls():
    rng = np.random.default_rng(1)
    sides = set()
    for _ in range(30):
        puzzle = MAZE.generate(rng, size=15, min_size=7, min_path=4)
        assert puzzle.shape == (15, 15) and MAZE.shortest_path_length(puzzle) >= 4
        open_rows = np.flatnonzero((puzzle != WALL).any(axis=1))
        sides.add(int(open_rows[-1] - open_rows[0] + 3))  # the inner maze's side
    assert len(sides) > 2 and all(s % 2 == 1 and 7 <= s <= 15 for s in sides)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"family": "spiral"}, "unknown maze family"),
        ({"wall_density": 0.2}, "wall_density is for the obstacles family"),
        ({"family": "obstacles", "wall_density": 1.0}, "wall_density must be in"),
        ({"min_size": 3}, "min_size must be an integer in 5..size"),
        ({"min_size": 17}, "min_size must be an integer in 5..size"),
        (
            {"family": "obstacles", "min_path": 200, "max_tries": 3},
            "could not generate a 15x15 obstacle grid",
        ),
    ],
)
def test_family_parameters_are_checked(params, words):
    with pytest.raises(UserError, match=words):
        MAZE.generate(np.random.default_rng(0), size=15, **params)
