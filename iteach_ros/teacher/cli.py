"""Command line for the LLM teacher core.

  python -m iteach_ros.teacher.cli generate --task push_button [--provider offline]
  python -m iteach_ros.teacher.cli validate FILE --task push_button [--seeds 50] [--noise 0,0.01]
      [--max-steps 1000]
  python -m iteach_ros.teacher.cli cache list [--task push_button]
  python -m iteach_ros.teacher.cli cache show push_button
  python -m iteach_ros.teacher.cli benchmark [--tasks all] [--modes normal,holdout]
      [--model-path GGUF]     # every task from an empty cache -> results/teacher_generation.md
  python -m iteach_ros.teacher.cli ship FILE.py --task push_button   # into shipped_policies/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.generator import GenerationConfig
from iteach_ros.teacher.llm import PROVIDERS, LLMConfig, load_llm_config


def _seeds(spec: str) -> list[int]:
    """'50' -> 0..49; '100:150' -> 100..149; '1,5,9' -> those."""
    if "," in spec:
        return [int(s) for s in spec.split(",") if s.strip()]
    if ":" in spec:
        a, b = spec.split(":")
        return list(range(int(a), int(b)))
    return list(range(int(spec)))


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _llm_config(args) -> LLMConfig:
    data = {}
    if args.config:
        data = load_llm_config(args.config).to_dict()
    for key in ("provider", "model", "base_url", "temperature", "max_tokens", "model_path"):
        value = getattr(args, key, None)
        if value is not None:
            data[key] = value
    return LLMConfig.from_dict(data)


def cmd_generate(args) -> int:
    from iteach_ros.core.tasks import TASK_INFO as TASKS
    from iteach_ros.teacher.generator import GenerationError
    from iteach_ros.teacher.service import generate_policy
    from iteach_ros.teacher.validation import validate_policy

    if args.task not in TASKS:
        print(f"unknown task {args.task!r}; known: {sorted(TASKS)}", file=sys.stderr)
        return 2
    cfg = _llm_config(args)
    gen_cfg = GenerationConfig(max_tries=args.tries, seeds=tuple(_seeds(args.seeds)),
                               accept_rate=args.accept, holdout=args.holdout,
                               time_budget_s=args.time_budget or None,
                               grammar=not args.no_grammar, seed=args.seed)

    def validator(source, task, seeds):
        return validate_policy(source, task, seeds, max_steps=args.max_steps,
                               sandbox=args.sandbox)

    transcript = open(args.transcript, "w", encoding="utf-8") if args.transcript else None

    def on_exchange(exchange):
        transcript.write(json.dumps(exchange) + "\n")
        transcript.flush()

    try:
        result, prov, _ = generate_policy(
            args.task, cfg, cache=PolicyCache(args.cache_dir), generation=gen_cfg,
            validator=validator, save_rejected=args.save_rejected, progress=_log,
            on_exchange=on_exchange if transcript else None)
    except GenerationError as exc:
        _log(f"generation failed: {exc}")
        return 1
    finally:
        if transcript:
            transcript.close()
    best = result.best
    if best is None:
        return 1
    if args.final_seeds:
        seeds = _seeds(args.final_seeds)
        _log(f"open-loop evaluation of the best candidate on {len(seeds)} seeds")
        rep = validate_policy(best.source, args.task, seeds, max_steps=args.max_steps,
                              sandbox=args.sandbox)
        prov["evaluation"] = rep.summary()
        _log(f"evaluation: {rep.successes}/{len(rep.episodes)} successes")
    if args.out:
        Path(args.out).write_text(best.source, encoding="utf-8")
        Path(args.out).with_suffix(".json").write_text(json.dumps(prov, indent=2) + "\n")
    print(best.source)
    return 0 if result.accepted else 1


def cmd_validate(args) -> int:
    from iteach_ros.teacher.validation import noise_sweep, validate_policy

    source = Path(args.file).read_text(encoding="utf-8")
    seeds = _seeds(args.seeds)
    if args.noise:
        stds = [float(s) for s in args.noise.split(",")]
        rows = noise_sweep(source, args.task, seeds, stds, max_steps=args.max_steps,
                           sandbox=args.sandbox)
        for row in rows:
            print(f"noise_std={row['noise_std']:.4f} m  success={row['success_rate']:.2f} "
                  f"({row['episodes']} episodes)" + (f"  rejected: {row['static_error']}"
                                                    if row["static_error"] else ""))
        if args.json:
            print(json.dumps(rows, indent=2))
        return 0

    def progress(n, rec):
        mark = "ok" if rec.success else (rec.error or rec.failure)
        print(f"  episode {n}/{len(seeds)} seed {rec.seed}: {mark} ({rec.steps} steps)",
              flush=True)

    rep = validate_policy(source, args.task, seeds, progress=progress if args.verbose else None,
                          max_steps=args.max_steps, sandbox=args.sandbox)
    if rep.static_error:
        print(f"rejected: {rep.static_error}")
        return 1
    print(f"{args.task}: {rep.successes}/{len(rep.episodes)} successes "
          f"({rep.success_rate:.2f}) on seeds {args.seeds}")
    if rep.successes < len(rep.episodes):
        print("feedback: " + rep.feedback())
    if args.json:
        print(json.dumps(rep.to_dict() if args.verbose else rep.summary(), indent=2))
    return 0


def cmd_cache(args) -> int:
    cache = PolicyCache(args.cache_dir)
    if args.action == "list":
        entries = cache.entries(args.task)
        if not entries:
            print(f"no cached policies under {cache.root}")
            return 0
        print(f"{'task':24} {'created':26} {'success':>8} {'tries':>5} {'acc':>4}  model / file")
        for e in entries:
            p = e.provenance
            print(f"{e.task:24} {p.get('created', '?'):26} {e.success_rate:8.2f} "
                  f"{p.get('tries', '?'):>5} {'yes' if e.accepted else 'no':>4}  "
                  f"{p.get('model', '?')} {e.path.name}")
        return 0
    if not args.task:
        print("cache show needs a task", file=sys.stderr)
        return 2
    entry = cache.best(args.task, accepted_only=False)
    if entry is None:
        print(f"no cached policy for {args.task!r} under {cache.root}")
        return 1
    print(json.dumps(entry.provenance, indent=2))
    print(entry.source)
    return 0


def cmd_benchmark(args) -> int:
    from iteach_ros.teacher.benchmark import main as benchmark

    return benchmark(args)


def cmd_ship(args) -> int:
    """Copy a generated program and its provenance (``--out`` of generate) into the shipped
    policies, replacing the task's current one."""
    from iteach_ros.teacher.service import SHIPPED_POLICIES

    source = Path(args.file).read_text(encoding="utf-8")
    prov = json.loads(Path(args.file).with_suffix(".json").read_text(encoding="utf-8"))
    if prov.get("task") != args.task or not prov.get("accepted"):
        print(f"{args.file}: not an accepted program for {args.task!r}", file=sys.stderr)
        return 1
    target = SHIPPED_POLICIES / args.task
    for old in target.glob("*"):
        old.unlink()
    entry = PolicyCache(SHIPPED_POLICIES).save(args.task, source, prov)
    print(f"shipped {entry.path}")
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of steps, got {value}")
    return value


def _add_max_steps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-steps", dest="max_steps", type=_positive_int,
                        help="control steps per validation episode (default: the task's, "
                             "CEILing's 300; the paper's evaluation used 1000)")


def _add_sandbox(parser: argparse.ArgumentParser) -> None:
    from iteach_ros.core import SANDBOXES

    parser.add_argument("--sandbox", choices=SANDBOXES, default=SANDBOXES[0],
                        help="where the program runs: worker (a sandbox process under kernel "
                             "limits and a wall-clock budget, default) | in_process (the "
                             "in-process guards alone)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m iteach_ros.teacher.cli",
                                     description="LLM teacher: generate, validate and cache "
                                                 "CodePolicies")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="generate a CodePolicy for a task")
    gen.add_argument("--task", required=True)
    gen.add_argument("--config", help="YAML with LLMConfig keys (flat or under 'llm:')")
    gen.add_argument("--provider", choices=PROVIDERS)
    gen.add_argument("--model")
    gen.add_argument("--base-url", dest="base_url")
    gen.add_argument("--temperature", type=float)
    gen.add_argument("--max-tokens", dest="max_tokens", type=int)
    gen.add_argument("--model-path", dest="model_path")
    gen.add_argument("--tries", type=int, default=GenerationConfig.max_tries,
                     help="programs validated at most (default %(default)s)")
    gen.add_argument("--time-budget", dest="time_budget", type=float,
                     default=GenerationConfig.time_budget_s,
                     help="seconds after which no new LLM request starts (default "
                          "%(default)s; 0: no limit)")
    gen.add_argument("--seeds", default=str(len(GenerationConfig.seeds)),
                     help="validation seeds: N, A:B or a,b,c (default %(default)s)")
    gen.add_argument("--accept", type=float, default=GenerationConfig.accept_rate,
                     help="success rate to accept (default %(default)s)")
    gen.add_argument("--seed", type=int, default=0, help="base sampling seed")
    gen.add_argument("--no-grammar", dest="no_grammar", action="store_true",
                     help="do not constrain a local model's answers with GBNF grammars")
    gen.add_argument("--holdout", action="store_true",
                     help="leave out the few-shot examples related to this task")
    _add_max_steps(gen)
    _add_sandbox(gen)
    gen.add_argument("--final-seeds", dest="final_seeds", default="",
                     help="also evaluate the best candidate on these seeds (e.g. 100:150)")
    gen.add_argument("--out", help="also write the best source (and .json provenance) here")
    gen.add_argument("--transcript", help="append every LLM request and answer here (JSONL)")
    gen.add_argument("--cache-dir", dest="cache_dir")
    gen.add_argument("--save-rejected", action="store_true",
                     help="cache the best candidate even if not accepted")
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser("validate", help="validate a CodePolicy file in the simulator")
    val.add_argument("file")
    val.add_argument("--task", required=True)
    val.add_argument("--seeds", default="50")
    val.add_argument("--noise", default="", help="comma-separated position noise stds (m)")
    _add_max_steps(val)
    _add_sandbox(val)
    val.add_argument("--json", action="store_true")
    val.add_argument("-v", "--verbose", action="store_true")
    val.set_defaults(func=cmd_validate)

    cache = sub.add_parser("cache", help="list or show cached policies")
    cache.add_argument("action", choices=("list", "show"))
    cache.add_argument("task", nargs="?")
    cache.add_argument("--task", dest="task_opt")
    cache.add_argument("--cache-dir", dest="cache_dir")
    cache.set_defaults(func=cmd_cache)

    bench = sub.add_parser("benchmark", help="generate every task from an empty cache and "
                                             "write results/teacher_generation.md")
    bench.add_argument("--tasks", default="all", help="'all' or a comma-separated list")
    bench.add_argument("--modes", default="normal,holdout", help="normal,holdout")
    bench.add_argument("--model-path", dest="model_path",
                       help="GGUF of the offline model (default: LLMConfig's)")
    bench.add_argument("--time-budget", dest="time_budget", type=float,
                       default=GenerationConfig.time_budget_s,
                       help="generation budget per task, seconds (default %(default)s)")
    bench.add_argument("--results", default=str(Path(__file__).resolve().parents[2] / "results"))
    bench.add_argument("--render-only", dest="render_only", action="store_true",
                       help="only rewrite the tables from the records")
    bench.add_argument("--no-doc", "--no-readme", dest="no_readme", action="store_true",
                       help="do not rewrite the tables in docs/results.md and README.md")
    bench.set_defaults(func=cmd_benchmark)

    ship = sub.add_parser("ship", help="make a generated program the task's shipped policy")
    ship.add_argument("file", help="a program written by generate --out (with its .json)")
    ship.add_argument("--task", required=True)
    ship.set_defaults(func=cmd_ship)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "task_opt", None):
        args.task = args.task_opt
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
