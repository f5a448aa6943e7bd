"""The plan search of one CodePolicy generation (ROS-free): new plans (fresh samples and
revisions of the best failed plan), step-level repairs along a line of candidates, a bank of
steps that worked and the snippets refused; see :mod:`iteach_ros.teacher.generator` for the
scheme. The LLM requests go through the :class:`~iteach_ros.teacher.generator.TeacherGenerator`
that runs the search."""

from __future__ import annotations

import re
import time

from iteach_ros.teacher.diagnosis import diagnose, moves_gripper
from iteach_ros.teacher.generation import (
    GENERATOR_VERSION,
    BudgetSpent,
    Candidate,
    GenerationError,
    GenerationResult,
)
from iteach_ros.teacher.grammar import action_grammar, check_grammar, plan_grammar
from iteach_ros.teacher.prompting import StepCode, assemble

MAX_REPEATED_PLANS = 6  # planner rounds in a row that bring no new plan end the search


class PlanSearch:
    """One generation's state: the candidates, the current line of repairs, the step bank.
    ``gen``: the TeacherGenerator whose LLM requests and validation the search uses."""

    def __init__(self, gen, task: str, description: str, objects: list[str]):
        cfg = gen.config
        self.gen, self.cfg, self.task = gen, cfg, task
        self.description, self.objects = description, objects
        self.lib = gen.library.select(task, cfg.holdout)
        gen._grammars = {
            f"plan-{cfg.max_plan_steps}": plan_grammar(objects, self.lib.plan_steps,
                                                       cfg.max_plan_steps, gen._graspable),
            "action": action_grammar(objects), "check": check_grammar(objects)}
        self.result = GenerationResult(
            task=task, description=description, object_names=objects,
            model_label=gen.model_label, prompt_hash=self.lib.digest(), holdout=cfg.holdout,
            config=cfg)
        self.bank: dict[str, StepCode] = {}  # instruction -> code that finished the step
        self.refused: dict[str, set[str]] = {}  # 'a:'/'c:' + instruction -> failed snippets
        self.tried: set[tuple[str, ...]] = set()
        self.samples = 0  # fresh plans asked for (the first one greedy)
        self.revise_next = False
        self.revised: set[int] = set()  # candidates whose plan was revised

    def run(self) -> GenerationResult:
        gen, cfg, result = self.gen, self.cfg, self.result
        t_start = time.perf_counter()
        gen._calls, gen._llm_seconds, gen.transcript = 0, 0.0, []
        gen._deadline = None if cfg.time_budget_s is None else t_start + cfg.time_budget_s
        line: Candidate | None = None  # the program being repaired
        repairs: dict[int, int] = {}  # repairs made per step along the line
        no_new_plan = 0
        result.stopped = f"{cfg.max_tries} programs validated"
        try:
            while len(result.candidates) < cfg.max_tries:
                if line is None:
                    cand = self._new_plan()
                    if cand is None:
                        no_new_plan += 1
                        if no_new_plan >= MAX_REPEATED_PLANS:
                            result.stopped = ("the planner gives no new plan about the task's "
                                              "objects")
                            break
                        continue
                    no_new_plan, line, repairs = 0, cand, {}
                else:
                    diag = line.diagnosis
                    if diag.fault == "plan":
                        gen.progress(f"try {line.index}: the plan is at fault ({diag.reason})")
                        line = None
                        continue
                    gen.progress(f"try {line.index}: repairing step {diag.step}'s {diag.part} "
                                 f"({diag.reason})")
                    steps = gen.repair_step(self.lib, self.objects, line, diag, self.refused)
                    repairs[diag.step] = repairs.get(diag.step, 0) + 1
                    cand = None
                    if steps is not None and steps != line.steps:
                        cand = self._validated(line.plan, steps, f"repair of #{line.index} "
                                               f"step {diag.step} {diag.part}", line.index)
                        cand.diagnosis = diagnose(cand.report, cand.assembled, cand.steps)
                        # Not worse: the line moves on (a motion and its check may both be
                        # wrong, and each repair changes one of them).
                        if cand.score[:2] >= line.score[:2]:
                            line = cand
                if result.accepted:
                    result.stopped = "accepted"
                    break
                # (again) with the repairs counted: another part, or the plan, may be blamed
                line.diagnosis = diagnose(line.report, line.assembled, line.steps, repairs,
                                          cfg.step_repairs)
        except BudgetSpent:
            result.stopped = f"time budget of {cfg.time_budget_s:.0f} s spent"
        except GenerationError as exc:
            if not result.candidates:
                raise
            result.stopped = f"LLM failure: {exc}"
            gen.progress(f"stopping, keeping the best candidate ({exc})")
        result.llm_calls, result.llm_seconds = gen._calls, gen._llm_seconds
        result.elapsed_s = time.perf_counter() - t_start
        if gen.uses_grammar:
            result.grammars = {k: g.digest for k, g in sorted(gen._grammars.items())}
        return result

    def _new_plan(self) -> Candidate | None:
        """A candidate from a new plan: alternately a revision of the best failed plan (one
        diagnosed as the plan's fault) and a fresh sample (greedy the first time)."""
        gen, cfg = self.gen, self.cfg
        blamed = [c for c in self.result.candidates if c.index not in self.revised
                  and c.diagnosis is not None and c.diagnosis.fault == "plan"]
        plan, origin = None, ""
        if self.revise_next and blamed:
            base = max(blamed, key=lambda c: c.score)
            self.revised.add(base.index)
            feedback = ("A previous plan was:\n" + "\n".join(
                f'{i}. composer("{s}")' for i, s in enumerate(base.plan, 1))
                + f"\n{plan_critique(base)}\nWrite a better plan.")
            gen.progress(f"planning: revising the plan of #{base.index}")
            # a revision changes a plan, it does not start over: at most two more steps
            plan = gen.plan(self.lib, self.description, self.objects, feedback,
                            cfg.repair_temperature, self.tried, max_steps=len(base.plan) + 2)
            origin = f"revision of #{base.index}'s plan"
        if plan is None:
            temp = 0.0 if self.samples == 0 else cfg.plan_temperature
            gen.progress("planning" + (" (greedy)" if temp == 0 else
                                       f" (sample {self.samples}, T={temp})"))
            plan = gen.plan(self.lib, self.description, self.objects, temperature=temp,
                            tried=self.tried)
            origin = "plan (greedy)" if temp == 0 else f"plan sample {self.samples}"
            self.samples += 1
        self.revise_next = not self.revise_next
        if plan is None:
            return None
        self.tried.add(tuple(plan))
        steps = gen.write_steps(self.lib, self.objects, plan, self.bank)
        return self._validated(plan, steps, origin, None)

    def _validated(self, plan, steps, origin, parent) -> Candidate:
        gen, result = self.gen, self.result
        assembled = assemble(self.description, self.objects, steps,
                             header=f"generated by {GENERATOR_VERSION} with {gen.model_label}")
        index = len(result.candidates) + 1
        report = gen._validate(assembled.source, self.task)
        cand = Candidate(index, list(plan), list(steps), assembled, report, origin, parent)
        result.candidates.append(cand)
        if result.best is None or cand.score > result.best.score:
            result.best = cand
        self._learn(cand)
        gen.progress(f"try {index} ({origin}): success {report.successes}/"
                     f"{len(report.episodes)}"
                     + (f" (rejected: {report.static_error})" if report.static_error else ""))
        if (report.static_ok and len(report.episodes) == len(self.cfg.seeds)
                and report.success_rate >= self.cfg.accept_rate):
            result.accepted = True
            result.best = cand
        return cand

    def _learn(self, cand: Candidate) -> None:
        """Steps that finished where they began (and, moving the gripper, not at once) go to
        the bank; the snippets of a step that held the episodes up are refused from now on."""
        if not cand.report.static_ok:
            return
        for st in cand.report.step_stats(len(cand.steps)):
            step = cand.steps[st.step - 1]
            if not st.reached:
                continue
            works = st.finished * 5 >= st.reached * 4 and not (
                moves_gripper(step) and st.instant * 2 > st.reached)
            if works and step.instruction not in self.bank:
                self.bank[step.instruction] = step
            elif not works and st.finished * 2 < st.reached:
                self.refused.setdefault(f"a:{step.instruction}", set()).add(step.action)
                self.refused.setdefault(f"c:{step.instruction}", set()).add(step.check)


def plan_critique(cand: Candidate) -> str:
    """What the simulator saw of a plan, short enough for a small planner: how often it
    succeeded, where and how it failed (the diagnosis, its steps named) and the success
    conditions the failed episodes missed."""
    report, diag = cand.report, cand.diagnosis
    n = len(report.episodes)
    parts = [f"In the simulator it succeeded in {report.successes} of {n} episodes."]
    if diag is not None:
        reason = diag.reason
        inner = re.search(r"repaired \d+ times without success \((.*)\)$", reason)
        if inner:
            reason = inner.group(1)
        reason = re.sub(r"\bstep (\d+)(?: \(now its \w+\))?",
                        lambda m: (f"step {m.group(1)} ('{cand.plan[int(m.group(1)) - 1]}')"
                                   if 0 < int(m.group(1)) <= len(cand.plan) else m.group(0)),
                        reason, count=1)
        reason = re.sub(r"\s*\(now its \w+\)", "", reason)
        parts.append(f"It failed because: {reason}.")
    unmet = report.unmet_conditions()
    if unmet:
        parts.append("The task succeeds when " + " and ".join(t for t, _ in unmet) + ".")
    return " ".join(parts)
