"""Write houses.csv, the synthetic table used in the README's command-line walk-through.

1000 made-up homes: area_m2, rooms, age_years, km_to_centre, a price_k that
depends on them (plus noise) and a text column kind (flat, city flat, house).

    python examples/make_houses_csv.py            # writes ./houses.csv
    python examples/make_houses_csv.py data.csv   # or another path
"""
import csv
import sys

import numpy as np


def main(path: str = "houses.csv") -> int:
    rng = np.random.default_rng(7)
    n = 1000
    area = rng.uniform(30, 200, n).round(1)
    rooms = np.clip((area / 30 + rng.normal(0, 0.7, n)).round(), 1, 8).astype(int)
    age = rng.integers(0, 80, n)
    dist = rng.uniform(0.5, 25, n).round(2)
    price = (2.5 * area + 12 * rooms - 0.8 * age - 6 * dist + rng.normal(0, 15, n) + 100).round(1)
    kind = np.where(area > 120, "house", np.where(dist < 5, "city flat", "flat"))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["area_m2", "rooms", "age_years", "km_to_centre", "price_k", "kind"])
        w.writerows(zip(area, rooms, age, dist, price, kind))
    print(f"wrote {n} rows to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:2]))
