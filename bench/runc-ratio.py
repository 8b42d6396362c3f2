#!/usr/bin/env python3
"""Times `runc run` of two bundles, interleaved so that machine noise hits both alike, and prints
the medians, the difference and the ratio. usage: runc-ratio.py RUNC PLAIN HOOKED [N]"""
import statistics
import subprocess
import sys
import time

runc, plain, hooked = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 40
t = {plain: [], hooked: []}
for i in range(n):
    for b in (plain, hooked):
        cid = f"bench-{i}-{'h' if b == hooked else 'p'}"
        t0 = time.perf_counter()
        subprocess.run([runc, "run", "--bundle", b, cid], check=True, capture_output=True)
        t[b].append((time.perf_counter() - t0) * 1e3)
mp, mh = statistics.median(t[plain]), statistics.median(t[hooked])
print(f"runc run, median of {n}: plain {mp:.1f} ms, with the GPU hook {mh:.1f} ms, "
      f"overhead {mh - mp:.1f} ms, ratio {mh / mp:.3f}")
