"""The LLM teacher core (ROS-free): hierarchical CodePolicy generation, validation, cache.

No ROS code lives here; the teacher node wraps it. Modules:
``llm`` (LLMConfig, make_chat_model), ``prompting`` (prompts, parsing, assembly; data files in
``prompts/``), ``generator`` (generation with validation and repair), ``validation`` (static
checks and open-loop rollouts, noise), ``cache`` (accepted policies with provenance),
``service`` (``obtain_policy``: cache, else generation, else the reference program), ``cli``.
Untrusted programs run through :mod:`iteach_ros.codepolicy.sandbox`.
"""

from iteach_ros.teacher.cache import PolicyCache
from iteach_ros.teacher.generator import GenerationConfig, GenerationResult, TeacherGenerator
from iteach_ros.teacher.llm import LLMConfig, load_llm_config, make_chat_model
from iteach_ros.teacher.prompting import PromptLibrary, assemble, parse_plan
from iteach_ros.teacher.service import ObtainedPolicy, obtain_policy

__all__ = [
    "GenerationConfig", "GenerationResult", "LLMConfig", "ObtainedPolicy", "PolicyCache",
    "PromptLibrary", "TeacherGenerator", "assemble", "load_llm_config", "make_chat_model",
    "obtain_policy", "parse_plan",
]
