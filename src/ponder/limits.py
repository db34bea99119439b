"""Bounds shared by configs, dataset builds and experiment files.

At the ground of the package (it imports nothing of ponder), so a dataset build can check a
seed against the range a run takes without importing the run config.
"""

# torch, numpy and python seed from any integer in 0..2**32-1 (numpy refuses negative ones,
# torch ones past 2**64); DDP ranks seed with seed + rank, which stays inside torch's range.
SEED_MAX = 2**32 - 1
# Every integer size or count of a model (widths, heads, layers, cycles, prefix tokens) is at
# most this: far above anything that trains on one machine, and low enough that building
# the model on the meta device to estimate its memory can never overflow a tensor size.
MAX_MODEL_INT = 2**20
MAX_EXPANSION = 1024.0  # the SwiGLU width factor (papers: 4)
# Recursion counts and supervision segments (T, n, H_cycles, L_cycles, R, N_sup) are at most
# this: each is a loop run every step, and the papers use 16 at most.
MAX_RECURSION = 1024
RECURSION_KEYS = ("T", "n", "H_cycles", "L_cycles", "R", "controller_T")
