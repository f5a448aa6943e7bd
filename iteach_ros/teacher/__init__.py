"""Which CodePolicy teaches a task, and how an LLM writes one (ROS-free).

No ROS code lives here; the teacher node wraps it. Start at ``service`` (``obtain_policy``:
cache, else generation, else the reference program; one call for the runner, the CLI and the
node). Generation: ``llm`` (LLMConfig, make_chat_model), ``prompting`` (prompts and assembly;
data files in ``prompts/``), ``answers`` (the LLM's answers parsed and checked), ``grammar``
(GBNF grammars for local models), ``generator`` (the LLM requests), ``plan_search`` (plans,
repairs, the step bank), ``generation`` (config, candidates, result), ``diagnosis`` (which step
or the plan is at fault). Validation: ``validation`` (static checks, open-loop rollouts,
noise), ``report`` (what a validation found, in words), ``conditions`` (the tasks' success
conditions). Also ``cache`` (accepted policies with provenance), ``cli``, ``benchmark``.
Untrusted programs run through :mod:`iteach_ros.codepolicy.sandbox`.
"""

from iteach_ros.teacher.answers import parse_plan
from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.generator import GenerationConfig, GenerationResult, TeacherGenerator
from iteach_ros.teacher.llm import LLMConfig, load_llm_config, make_chat_model
from iteach_ros.teacher.prompting import PromptLibrary, assemble
from iteach_ros.teacher.service import ObtainedPolicy, obtain_policy

__all__ = [
    "GenerationConfig", "GenerationResult", "LLMConfig", "ObtainedPolicy", "PolicyCache",
    "PromptLibrary", "TeacherGenerator", "assemble", "load_llm_config", "make_chat_model",
    "obtain_policy", "parse_plan",
]
