r"""``make learn-demo``: a policy network trained on a sweep of solved geodesics, audited on
the geodesics it did not see.

The sweep is the ``make demo`` problem (:mod:`wfr_cvx.demo`) on the shipped IBM/WMT prices
at several settings: the book starts around the unconditional Markowitz IBM weight in both
regimes with belief ``b`` risk-on, and ends around each regime's own Markowitz weight with
belief 30 % / 70 %, for

* risk aversion :math:`\gamma \in \{4, 5, 6, 8\}` — the model's *risk budget* input: it
  sets the start and target books (IBM weight 0.41 -> 0.72 / 0.05 at 4, 0.28 -> 0.47 /
  0.39 at 8);
* :math:`\lambda \in \{0.1, 0.15, 0.2, 0.3, 0.5\}`;
* start belief :math:`b \in \{0.55, 0.7, 0.85\}` (the regime sweep),

60 geodesics on ``Grid(64, 16)`` with two regimes, bumps 0.07 wide.  They are solved by
:func:`wfr_cvx.batch.solve_many` (the exact figures and the time of each exact solve);
:func:`~wfr_cvx.batch.solve_many` returns figures, never paths, so the paths to train on
are solved once more in this process (their :math:`d^2` must agree).  A random 80 % train
a :class:`~wfr_cvx.analysis.learn.PolicyModel`; each of the other 20 % is audited
(:func:`~wfr_cvx.analysis.learn.audit`): endpoint error, excess action, consistency loss,
verdict, and the time of a rolled-out path against the exact solve.  The exact policy
(:class:`~wfr_cvx.analysis.learn.GeodesicPolicy`) is audited alongside as the floor the
rollout itself sets.

Writes ``benchmarks/LEARN.md`` and ``benchmarks/learn_results.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import machine_info, versions  # noqa: E402

from wfr_cvx import batch, problem_files  # noqa: E402
from wfr_cvx.analysis import learn  # noqa: E402
from wfr_cvx.demo import REGIMES, WIDTH, regime_weights  # noqa: E402

RISK_AVERSION = (4.0, 5.0, 6.0, 8.0)
LAMS = (0.1, 0.15, 0.2, 0.3, 0.5)
BELIEFS = (0.55, 0.7, 0.85)
BELIEF_AFTER = (0.3, 0.7)


def jobs(n_weights: int, n_steps: int) -> tuple[list[dict], list[dict]]:
    """The sweep as problem-file dicts, and each job's settings."""
    weights = {gamma: regime_weights(risk_aversion=gamma) for gamma in RISK_AVERSION}
    out, settings = [], []
    for gamma, lam, belief in itertools.product(RISK_AVERSION, LAMS, BELIEFS):
        w = weights[gamma]
        before = [{"center": float(w["all"]), "width": WIDTH, "regime": label, "mass": m}
                  for label, m in zip(REGIMES, (belief, 1.0 - belief), strict=True)]
        after = [{"center": float(w[label]), "width": WIDTH, "regime": label, "mass": m}
                 for label, m in zip(REGIMES, BELIEF_AFTER, strict=True)]
        name = f"gamma={gamma:g},lam={lam:g},belief={belief:g}"
        out.append({"name": name, "lam": lam,
                    "grid": {"n_weights": n_weights, "n_steps": n_steps,
                             "regimes": list(REGIMES)},
                    "rho0": {"bumps": before}, "rho1": {"bumps": after}})
        settings.append({"name": name, "risk_aversion": gamma, "lam": lam,
                         "belief": belief})
    return out, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, nargs=2, default=(64, 16),
                        metavar=("N_WEIGHTS", "N_STEPS"))
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--consistency-paths", type=int, default=2)
    parser.add_argument("--consistency-every", type=int, default=16)
    parser.add_argument("--consistency-weight", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "LEARN.md")
    args = parser.parse_args()

    machine = machine_info()  # taken first: its load average is the one before the run
    started = time.perf_counter()
    problems, settings = jobs(*args.grid)
    table = batch.solve_many(problems, workers=args.workers, progress=False)
    failed = table[~table["status"].isin(["Solved", "AlmostSolved"])]
    if len(failed):
        raise SystemExit(f"solve_many failed on {len(failed)} job(s):\n{failed}")
    geodesics = []
    for job, row in zip(problems, table.itertuples(), strict=True):
        geo = problem_files.from_dict(job, name=job["name"]).solve()
        if abs(geo.distance2 - row.distance2) > 1e-6 * row.distance2:
            raise SystemExit(f"{job['name']}: d^2 {geo.distance2} here, {row.distance2} "
                             "from solve_many")
        geodesics.append(geo)
    solve_seconds = time.perf_counter() - started
    print(f"{len(geodesics)} geodesics solved in {solve_seconds:.0f} s", file=sys.stderr)

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(geodesics))
    n_train = int(round(0.8 * len(geodesics)))
    train, held_out = np.sort(order[:n_train]), np.sort(order[n_train:])
    budgets = np.array([s["risk_aversion"] for s in settings])
    data = learn.policy_samples([geodesics[i] for i in train], risk_budget=budgets[train])
    model = learn.PolicyModel(2, len(REGIMES), hidden=args.hidden, seed=args.seed)
    start = time.perf_counter()
    model.fit(data, epochs=args.epochs, consistency_weight=args.consistency_weight,
              seed=args.seed, batch_size=args.batch_size,
              consistency_paths=args.consistency_paths,
              consistency_every=args.consistency_every)
    fit_seconds = time.perf_counter() - start
    print(f"fitted {len(data)} samples in {fit_seconds:.0f} s", file=sys.stderr)

    rows = []
    first = geodesics[held_out[0]]  # compiles the model's fields on the grid: not timed
    model.rollout(first.rho[0], first.grid, lam=first.lam, risk_budget=4.0)
    for i in held_out:
        geo, s = geodesics[i], settings[i]
        grid = geo.grid
        common = dict(risk_budget=s["risk_aversion"], exact=geo)
        learned = learn.audit(model, geo.rho[0], geo.rho[-1], grid, geo.lam, **common)
        exact = learn.audit(learn.GeodesicPolicy(geo), geo.rho[0], geo.rho[-1], grid,
                            geo.lam, **common)
        rows.append({**s, "distance2": geo.distance2,
                     "endpoint_error": learned.endpoint_error,
                     "excess_action": learned.excess_action,
                     "consistency_loss": learned.consistency_loss,
                     "regime_mass_error": learned.regime_mass_error,
                     "passed": learned.passed, "failures": list(learned.failures),
                     "rollout_seconds": learned.rollout_time,
                     "exact_solve_seconds": float(table.loc[i, "time"]),
                     "exact_policy_endpoint_error": exact.endpoint_error,
                     "exact_policy_excess_action": exact.excess_action,
                     "exact_policy_passed": exact.passed})
    results = summarise(rows)
    results.update(machine=machine, grid=list(args.grid), hidden=args.hidden,
                   epochs=args.epochs, consistency_weight=args.consistency_weight,
                   seed=args.seed, n_geodesics=len(geodesics), n_train=int(n_train),
                   n_samples=len(data), solve_seconds_total=solve_seconds,
                   fit_seconds=fit_seconds, final_field_error=model.history["fields"][-1],
                   final_consistency=model.history["consistency"][-1], held_out=rows)
    out = args.out
    out.with_name(out.stem.lower() + "_results.json").write_text(
        json.dumps(results, indent=1, default=float) + "\n")
    out.write_text(report(results))
    print(report(results))


def summarise(rows: list[dict]) -> dict:
    def stats(key):
        values = np.array([r[key] for r in rows], dtype=float)
        return {"median": float(np.median(values)),
                "worst": float(values[np.argmax(np.abs(values))])}

    rollout = np.array([r["rollout_seconds"] for r in rows])
    solve = np.array([r["exact_solve_seconds"] for r in rows])
    return {"endpoint_error": stats("endpoint_error"),
            "excess_action": stats("excess_action"),
            "consistency_loss": stats("consistency_loss"),
            "exact_policy_endpoint_error": stats("exact_policy_endpoint_error"),
            "exact_policy_excess_action": stats("exact_policy_excess_action"),
            "passed": int(sum(r["passed"] for r in rows)), "audited": len(rows),
            "exact_policy_passed": int(sum(r["exact_policy_passed"] for r in rows)),
            "rollout_seconds_median": float(np.median(rollout)),
            "exact_solve_seconds_median": float(np.median(solve)),
            "speed_up_median": float(np.median(solve / rollout))}


def jax_version() -> str:
    return versions("jax").get("jax", "?")


def report(r: dict) -> str:
    pct = lambda x: f"{100 * x:.2f} %"  # noqa: E731
    lines = [
        "# Learned policy on the IBM/WMT sweep (`make learn-demo`)",
        "",
        f"{r['n_geodesics']} geodesics on Grid({r['grid'][0]}, {r['grid'][1]}) x 2 regimes "
        f"(risk aversion {list(RISK_AVERSION)}, lam {list(LAMS)}, start belief "
        f"{list(BELIEFS)}); {r['n_train']} train a PolicyModel (hidden {r['hidden']}, "
        f"{r['epochs']} epochs, consistency weight {r['consistency_weight']:g}, "
        f"{r['n_samples']} samples, {r['fit_seconds']:.0f} s); the other "
        f"{r['audited']} are audited (`benchmarks/learn_demo.py`, seed {r['seed']}).",
        f"Final training error of the fields {r['final_field_error']:.2e} (the action of "
        f"the error field over the exact one), consistency {r['final_consistency']:.1e}.",
        "",
        "| held out | median | worst |",
        "|---|---|---|",
        f"| endpoint error (relative L1) | {pct(r['endpoint_error']['median'])} | "
        f"{pct(r['endpoint_error']['worst'])} |",
        f"| excess action over d² | {pct(r['excess_action']['median'])} | "
        f"{pct(r['excess_action']['worst'])} |",
        f"| consistency loss (relative) | {r['consistency_loss']['median']:.1e} | "
        f"{r['consistency_loss']['worst']:.1e} |",
        f"| exact policy: endpoint error | {pct(r['exact_policy_endpoint_error']['median'])}"
        f" | {pct(r['exact_policy_endpoint_error']['worst'])} |",
        f"| exact policy: excess action | {pct(r['exact_policy_excess_action']['median'])}"
        f" | {pct(r['exact_policy_excess_action']['worst'])} |",
        "",
        f"Audits passed (default tolerances: endpoint 5 %, excess action 2 %, consistency "
        f"1e-4): {r['passed']} of {r['audited']}; the exact policy passed "
        f"{r['exact_policy_passed']} of {r['audited']}.",
        f"Time per rolled-out path {1e3 * r['rollout_seconds_median']:.1f} ms (median) "
        f"against {1e3 * r['exact_solve_seconds_median']:.0f} ms per exact solve in "
        f"solve_many's workers: {r['speed_up_median']:.0f}x.",
        "",
        "| risk aversion | lam | belief | d² | endpoint | excess action | consistency | "
        "passed | rollout ms | solve ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in r["held_out"]:
        lines.append(
            f"| {row['risk_aversion']:g} | {row['lam']:g} | {row['belief']:g} | "
            f"{row['distance2']:.4g} | {pct(row['endpoint_error'])} | "
            f"{pct(row['excess_action'])} | {row['consistency_loss']:.1e} | "
            f"{'yes' if row['passed'] else ', '.join(row['failures'])} | "
            f"{1e3 * row['rollout_seconds']:.1f} | {1e3 * row['exact_solve_seconds']:.0f} |")
    machine = r["machine"]
    lines += ["", f"Machine: {machine.get('cores', '?')} cores; "
              f"1-minute load average {machine.get('load_average_1min')} before the run; "
              f"jax {jax_version()}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
