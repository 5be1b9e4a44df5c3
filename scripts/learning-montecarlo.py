#!/usr/bin/env python3
"""The bare rules of SPEC §7 without a server: a cross-check for `handoff simulate`
(docs/LEARNING.md). Promotion: a candidate after each decision when n >= 30, rate >= 0.95
and the Wilson lower bound >= the bound. Demotion: after each checked item, when n >= 10
and the Wilson lower bound of the error rate > max_error_rate, or trip_errors of the last
trip_window items are errors."""
import math
import random
import sys


def wilson_low(k, n, z=1.96):
    p, z2 = k / n, z * z
    return (p + z2 / (2 * n) - z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))) / (1 + z2 / n)


def demoted_after(errors, max_rate=0.05, trip_errors=3, trip_window=10):
    n = k = 0
    recent = []
    for i, e in enumerate(errors):
        n += 1
        k += e
        recent = (recent + [e])[-trip_window:]
        if (n >= 10 and wilson_low(k, n) > max_rate) or sum(recent) >= trip_errors:
            return i + 1
    return None


def candidate_within(p, limit, bound):
    k = 0
    for n in range(1, limit + 1):
        k += random.random() < p
        if n >= 30 and k / n >= 0.95 and wilson_low(k, n) >= bound:
            return True
    return False


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    random.seed(1)
    for te, tw, mr in [(3, 10, .05), (2, 10, .05), (4, 10, .05), (3, 20, .05), (3, 10, .03), (3, 10, .10)]:
        steady = sum(demoted_after([random.random() < .02 for _ in range(200)], mr, te, tw) is not None
                     for _ in range(runs))
        after = []
        for _ in range(runs // 4):
            d = demoted_after([random.random() < .02 for _ in range(20)] +
                              [random.random() < .15 for _ in range(300)], mr, te, tw)
            if d is not None and d > 20:
                after.append(d - 20)
        after.sort()
        print(f"trip {te}/{tw} max_error_rate {mr}: steady 2% demoted within 200 "
              f"{steady / runs:.3f}; jump median {after[len(after) // 2]}, "
              f"p95 {after[int(len(after) * .95)]}")
    for bound in [0.85, 0.88, 0.90, 0.92]:
        a = sum(candidate_within(.98, 100, bound) for _ in range(runs // 4)) / (runs // 4)
        b = sum(candidate_within(.90, 300, bound) for _ in range(runs // 4)) / (runs // 4)
        print(f"min_lower_bound {bound}: 98% within 100 {a:.3f}; 90% within 300 {b:.3f}")


if __name__ == "__main__":
    main()
