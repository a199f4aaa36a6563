"""Cost of multi-head reward models and full ensembles against k.

    python benchmarks/reward_model_cost.py            # profile from RMENS_PROFILE (cpu)
    python benchmarks/reward_model_cost.py --ks 1 2 3 --steps 4

Needs the labelled pairs of notebook 02. Writes ``benchmarks/results/cost_<profile>.csv``
and ``.png``: parameters, training seconds per epoch, peak memory and scoring time per
1,000 pairs, each kind measured in a fresh process on the same pairs.
"""
import argparse
from pathlib import Path

import rmens_utils
from rmens_utils import cost, plotting
from rmens_utils.artifacts import atomic_write_text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default=None, help="default: $RMENS_PROFILE, else cpu")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 5, 8])
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps timed per model (default: the profile's, 12 on cpu)")
    parser.add_argument("--score-pairs", type=int, default=None,
                        help="pairs scored (default: the profile's, 200 on cpu)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    cfg = rmens_utils.get_config(args.profile)
    table = cost.sweep(cfg.profile, args.ks, args.steps, args.score_pairs)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / f"cost_{cfg.profile}.csv", table.to_csv(index=False))
    plotting.plot_cost(table).savefig(args.out / f"cost_{cfg.profile}.png", dpi=120)
    print(table.round(2).to_string(index=False))
    for k in args.ks:
        if k > 1:
            print(cost.ratios(table, k).to_string())
    return table


if __name__ == "__main__":
    main()
