"""A training-like job that records frames to TARGET: used by the recording and watch tests.

python write_run.py TARGET CAPTURES DELAY_S [--no-close]
Prints ``wrote <frames> <unix time>`` once each capture is recorded (flushed or buffered).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import sentrycam


def main() -> None:
    target, captures, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    rng = np.random.default_rng(0)
    cam = sentrycam.Monitor(record=target)
    for i in range(captures):
        x = rng.normal(size=(32, 6)).astype(np.float32)
        if i >= captures * 0.7:
            x[:, 1:] = 0.0  # a collapse late in the run, for the alert tests
        cam.log(i * 10, {"h": x}, labels=np.arange(32) % 4, loss=1.0 / (i + 1))
        cam.flush()
        print(f"wrote {i + 1} {time.time():.3f}", flush=True)
        time.sleep(delay)
    if "--no-close" in sys.argv:
        time.sleep(3600)  # killed by the test
    cam.close()


if __name__ == "__main__":
    main()
