"""A reward server whose model takes DELAY seconds per batch (reward = response length), run as a process by the
SIGTERM test: `python slow_server.py PORT DELAY`."""

from __future__ import annotations

import sys
import time

import numpy as np

from rewardlab.serve import ServeSpec, run_server


class Rewards:
    """What the server reads of a RewardOutput (not imported here: rewardlab.scoring loads torch, seconds)."""

    def __init__(self, mean):
        self.mean, self.std, self.members = mean, None, None

    def __len__(self):
        return len(self.mean)


class SlowScorer:
    name = "slow"

    def __init__(self, delay: float):
        self.delay = delay

    def score(self, prompts, responses, progress=True):
        time.sleep(self.delay)
        return Rewards(np.array([float(len(r)) for r in responses]))


if __name__ == "__main__":
    run_server(SlowScorer(float(sys.argv[2])), ServeSpec(port=int(sys.argv[1]), max_wait_ms=100.0),
               log_level="warning")
