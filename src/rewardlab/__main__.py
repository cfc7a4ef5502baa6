"""`python -m rewardlab` (used by `accelerate launch -m rewardlab ...` and `torchrun -m rewardlab ...`)."""

from rewardlab.cli import main

main()
