"""How many threads torch's CPU kernels use, chosen per request by its size.

Small inputs run single-threaded: their matmuls are too small for a second thread to pay off, and on
a busy machine OpenMP's barrier waits make a 32-token trace 5-10× slower with 2 threads than with 1
(measured: 0.4 s vs 1.5-7 s under load on 2 cores). Long inputs use every thread torch started with.
"""

from __future__ import annotations

import torch

SMALL_WORK_TOKENS = 256
_THREADS = torch.get_num_threads()  # what torch started with: the most a long input gets


def set_threads_for(n_tokens: int) -> None:
    """torch's intra-op threads for work on n_tokens (process-wide: a performance setting only)."""
    want = 1 if n_tokens <= SMALL_WORK_TOKENS else _THREADS
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)
