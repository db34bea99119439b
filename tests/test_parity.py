"""Parameter parity: resized candidates land within the tolerance, or the search refuses."""

import pytest

from ponder.errors import UserError
from ponder.models import DataSpec
from ponder.models.hrm import HRMConfig
from ponder.models.poh import PoHConfig
from ponder.models.transformer import TransformerConfig
from ponder.models.trm import TRMConfig
from ponder.parity import count, match_parameters

SPEC = DataSpec(vocab_size=6, seq_len=144, grid_shape=(12, 12))
SMALL = dict(ffn_multiple_of=16, num_heads=4)


@pytest.mark.parametrize(
    "reference, candidate",
    [
        (TransformerConfig(hidden_size=128, num_layers=4, **SMALL), PoHConfig(hidden_size=32, num_layers=2, **SMALL)),
        (TransformerConfig(hidden_size=128, num_layers=4, **SMALL), TRMConfig(hidden_size=32, **SMALL)),
        (TRMConfig(hidden_size=96, **SMALL), HRMConfig(hidden_size=32, H_layers=1, L_layers=1, **SMALL)),
    ],
)  # fmt: skip
def test_width_search_meets_the_tolerance(reference, candidate):
    result = match_parameters(reference, candidate, SPEC, tolerance=0.05)
    assert abs(result.relative_gap) <= 0.05
    assert result.reference_params == count(reference, SPEC)
    assert result.candidate_params == count(result.candidate, SPEC)
    assert result.candidate.num_layers == candidate.num_layers  # depth held


def test_depth_search_holds_the_width():
    reference = TransformerConfig(hidden_size=64, num_layers=8, **SMALL)
    candidate = TRMConfig(hidden_size=64, num_layers=1, **SMALL)
    result = match_parameters(reference, candidate, SPEC, hold="width", tolerance=0.1)
    assert result.candidate.hidden_size == 64 and result.candidate.num_layers == 8


def test_unreachable_tolerance_names_the_closest_and_refuses():
    # HRM's depth moves in steps of two blocks (H_layers = L_layers): 3 blocks cannot match.
    reference = TransformerConfig(hidden_size=64, num_layers=3, **SMALL)
    candidate = HRMConfig(hidden_size=64, H_layers=1, L_layers=1, **SMALL)
    with pytest.raises(UserError, match="closest is .* accept it with --accept-closest"):
        match_parameters(reference, candidate, SPEC, hold="width", tolerance=0.05)
    result = match_parameters(
        reference, candidate, SPEC, hold="width", tolerance=0.05, accept_closest=True
    )
    assert result.candidate.H_layers == 1 and abs(result.relative_gap) > 0.05
