"""LLM access for the teacher: a validated configuration and a langchain chat-model factory.

Providers (``LLMConfig.provider``):
- ``offline``: an in-process GGUF model run by llama-cpp-python (default: Qwen2.5-Coder-1.5B-
  Instruct Q4_K_M installed by ``scripts/setup_local_llm.sh``; ``--model 0.5b`` there installs
  the faster 0.5B model, which accepts fewer tasks), wrapped in
  :class:`LocalLlamaChatModel`, a small langchain ``BaseChatModel``;
- ``openai``: any OpenAI-compatible server (OpenAI, vLLM, llama.cpp server) via
  ``langchain_openai.ChatOpenAI`` with ``base_url``;
- ``ollama``: an Ollama server via ``langchain_ollama.ChatOllama``;
- ``fake``: langchain-core's ``FakeListChatModel`` replaying ``fake_responses`` (tests, dry runs;
  it stands in for a remote LLM and says so in its label).
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

PROVIDERS = ("offline", "openai", "ollama", "fake")
CACHE_ROOT = Path(os.environ.get("ITEACH_CACHE", Path.home() / ".cache" / "iteach_ros"))
DEFAULT_MODEL_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_PATH = CACHE_ROOT / "models" / DEFAULT_MODEL_FILE
_DEFAULT_MODELS = {
    "offline": "qwen2.5-coder-1.5b-instruct-q4_k_m",
    "openai": "gpt-4o-mini",
    "ollama": "qwen2.5-coder:7b",
    "fake": "fake-list-chat-model",
}


@dataclass
class LLMConfig:
    """Which chat model writes the CodePolicy.

    provider: 'offline' | 'openai' | 'ollama' | 'fake'.
    model: model name for the server (for 'offline' a label; empty: the GGUF file's stem, or the
        provider's default).
    base_url: server URL ('openai': e.g. http://127.0.0.1:8080/v1; 'ollama':
        http://127.0.0.1:11434); empty: the client's default.
    api_key_env: environment variable holding the API key ('openai'); a placeholder key is used
        when unset, as local OpenAI-compatible servers ignore it.
    temperature: sampling temperature (0: greedy, reproducible for 'offline').
    max_tokens: longest answer, tokens.
    timeout_s: request timeout for remote providers, seconds.
    model_path: GGUF file for 'offline' (default: the one setup_local_llm.sh installs).
    n_ctx: context length for 'offline', tokens.
    n_threads: CPU threads for 'offline' generation (None: llama-cpp-python's default, half
        the cores).
    n_threads_batch: CPU threads for 'offline' prompt evaluation (None: chosen per request,
        all cores while the rest of the machine is idle, one while other processes keep it
        busy; llama.cpp's threads wait for each other at every operation, so on two busy
        cores two threads evaluated a 1,600-token prompt at 8-13 tokens/s and one at 19-32).
    seed: sampling seed for 'offline'.
    prompt_cache_mb: RAM for evaluated prompt prefixes ('offline'; 0 disables; a saved prompt
        takes ~100-130 MB with Qwen2.5-0.5B, so 1200 keeps the planner, action and check
        prefixes and a few more).
    fake_responses: answers replayed in order by 'fake'.
    """

    provider: str = "offline"
    model: str = ""
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 384
    timeout_s: float = 120.0
    model_path: str = str(DEFAULT_MODEL_PATH)
    n_ctx: int = 4096
    n_threads: int | None = None
    n_threads_batch: int | None = None
    seed: int = 0
    prompt_cache_mb: int = 1200
    fake_responses: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.provider not in PROVIDERS:
            raise ValueError(f"LLMConfig.provider must be one of {PROVIDERS}, got "
                             f"{self.provider!r}")
        self.model_path = str(Path(self.model_path).expanduser())
        if not self.model:
            self.model = (Path(self.model_path).stem if self.provider == "offline"
                          else _DEFAULT_MODELS[self.provider])
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise ValueError(f"LLMConfig.temperature must be in [0, 2], got {self.temperature}")
        if int(self.max_tokens) <= 0:
            raise ValueError(f"LLMConfig.max_tokens must be positive, got {self.max_tokens}")
        if float(self.timeout_s) <= 0:
            raise ValueError(f"LLMConfig.timeout_s must be positive, got {self.timeout_s}")
        if int(self.n_ctx) < 512:
            raise ValueError(f"LLMConfig.n_ctx must be at least 512, got {self.n_ctx}")
        if int(self.prompt_cache_mb) < 0:
            raise ValueError(f"LLMConfig.prompt_cache_mb must be >= 0, got "
                             f"{self.prompt_cache_mb}")
        for name in ("n_threads", "n_threads_batch"):
            value = getattr(self, name)
            if value is not None and int(value) <= 0:
                raise ValueError(f"LLMConfig.{name} must be positive or None, got {value}")
        self.model_path = str(Path(self.model_path).expanduser())

    @property
    def label(self) -> str:
        """Provenance label, e.g. 'offline:qwen2.5-coder-1.5b-instruct-q4_k_m'."""
        return f"{self.provider}:{self.model}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LLMConfig:
        """Build from a mapping; accepts a nested ``llm:`` section; unknown keys are errors."""
        data = dict(data.get("llm", data)) if isinstance(data, dict) else {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown LLMConfig keys {unknown}; known: {sorted(known)}")
        return cls(**data)


def load_llm_config(path: str | os.PathLike) -> LLMConfig:
    """Read an LLMConfig from YAML (flat keys or an ``llm:`` section)."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        return LLMConfig.from_dict(yaml.safe_load(fh) or {})


# ---- offline: llama-cpp-python -------------------------------------------------------------------
_LLAMA_CACHE: dict[tuple, Any] = {}
_LLAMA_LOCK = threading.Lock()


def _bounded_ram_cache(capacity_bytes: int):
    """llama-cpp-python's LlamaRAMCache counts only the KV state of a saved prompt, but each
    saved state also holds a logits array (n_batch x vocabulary floats: 78 MB at n_batch 128);
    this one counts everything it keeps, so the cache stays within ``capacity_bytes``.
    """
    from llama_cpp import LlamaRAMCache

    class BoundedRAMCache(LlamaRAMCache):
        @property
        def cache_size(self):
            return sum(st.llama_state_size + st.scores.nbytes + st.input_ids.nbytes
                       for st in self.cache_state.values())

    return BoundedRAMCache(capacity_bytes=capacity_bytes)


def _load_llama(model_path: str, n_ctx: int, n_threads: int | None, seed: int,
                prompt_cache_mb: int = 0):
    key = (model_path, n_ctx, n_threads, seed, prompt_cache_mb)
    with _LLAMA_LOCK:
        if key not in _LLAMA_CACHE:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise RuntimeError("provider 'offline' needs llama-cpp-python: run "
                                   "scripts/setup_local_llm.sh") from exc
            if not Path(model_path).is_file():
                raise RuntimeError(f"offline model not found at {model_path}: run "
                                   "scripts/setup_local_llm.sh or set LLMConfig.model_path")
            # n_threads None: llama-cpp-python's default (half the cores for generation, all
            # for prompt evaluation); more generation threads than free cores makes its
            # spinning threads many times slower on a busy machine.
            # n_batch 128 (default 512): the logits buffer, copied into every cached prompt
            # state, is n_batch x vocabulary floats (78 MB instead of 311 MB for Qwen2.5).
            llama = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, seed=seed,
                          n_batch=128, verbose=False)
            # Keep the evaluated state of recent prompts: the planner, action and check prompts
            # each start with a long fixed few-shot prefix that is then evaluated only once.
            if prompt_cache_mb > 0:
                llama.set_cache(_bounded_ram_cache(prompt_cache_mb << 20))
            _LLAMA_CACHE[key] = llama
        return _LLAMA_CACHE[key]


def grammar_problem(llama, gbnf: str) -> str | None:
    """Why llama.cpp cannot use the GBNF text (None when it parses); a grammar that does not
    parse must never reach the sampler, which would crash on it."""
    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, gbnf.encode(), b"root")
    if not sampler:
        return "llama.cpp could not parse the grammar"
    llama_cpp.llama_sampler_free(sampler)
    return None


def grammar_rejects(llama, gbnf: str, text: str) -> str | None:
    """Where the grammar refuses ``text`` (None when it accepts all of it and may end there),
    decided by llama.cpp's own grammar sampler token by token."""
    import ctypes
    import math

    import llama_cpp

    sampler = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, gbnf.encode(), b"root")
    if not sampler:
        return "llama.cpp could not parse the grammar"
    try:
        tokens = llama.tokenize(text.encode(), add_bos=False, special=False)
        eos = llama.token_eos()
        for i, token in enumerate([*tokens, eos]):
            data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 0.0, 0.0))
            candidates = llama_cpp.llama_token_data_array(data, 1, -1, False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(candidates))
            if math.isinf(data[0].logit):
                done = llama.detokenize(tokens[:i]).decode(errors="replace")
                if token == eos:
                    return f"the text may not end after {done[-40:]!r}"
                piece = llama.detokenize([token]).decode(errors="replace")
                return f"refused {piece!r} after {done[-40:]!r}"
            if token != eos:
                llama_cpp.llama_sampler_accept(sampler, token)
        return None
    finally:
        llama_cpp.llama_sampler_free(sampler)


_GRAMMAR_CHECKED: dict[str, str | None] = {}


class _LoadWatch:
    """Whether other processes keep the CPUs busy: the 1-minute load average less what this
    process itself ran over the last minute (its CPU time per wall second)."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []  # (wall, process CPU time)

    def busy_elsewhere(self) -> float:
        import time

        now, cpu = time.monotonic(), time.process_time()
        self.samples = [x for x in self.samples if now - x[0] <= 60.0] + [(now, cpu)]
        wall0, cpu0 = self.samples[0]
        own = (cpu - cpu0) / (now - wall0) if now - wall0 > 1.0 else 0.0
        return max(0.0, os.getloadavg()[0] - own)


_LOAD = _LoadWatch()


def batch_threads(requested: int | None) -> int:
    """Prompt-evaluation threads for the next request (see LLMConfig.n_threads_batch)."""
    if requested:
        return int(requested)
    cores = os.cpu_count() or 1
    return cores if _LOAD.busy_elsewhere() < 0.5 else 1


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


class LocalLlamaChatModel(BaseChatModel):
    """A langchain chat model around ``llama_cpp.Llama.create_chat_completion`` (in-process).

    The GGUF's own chat template formats the messages; the loaded model is shared between
    instances with the same file and settings. Keeping the few-shot prefix of consecutive
    prompts identical lets llama.cpp reuse its evaluated prefix. A ``grammar`` keyword (GBNF
    text, e.g. ``model.bind(grammar=...)``) constrains the answer with llama.cpp's grammar
    sampler (``accepts_grammar``: the generator passes grammars only to models that say so).
    """

    accepts_grammar: bool = True

    model_path: str
    model_name: str = _DEFAULT_MODELS["offline"]
    n_ctx: int = 4096
    n_threads: int | None = None
    n_threads_batch: int | None = None
    temperature: float = 0.0
    max_tokens: int = 384
    seed: int = 0
    prompt_cache_mb: int = 1200

    @property
    def _llm_type(self) -> str:
        return "iteach-llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_path": self.model_path,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        llama = _load_llama(self.model_path, self.n_ctx, self.n_threads, self.seed,
                            self.prompt_cache_mb)
        payload = [{"role": _role(m), "content": str(m.content)} for m in messages]
        grammar = None
        if kwargs.get("grammar"):
            from llama_cpp import LlamaGrammar

            text = str(kwargs["grammar"])
            if text not in _GRAMMAR_CHECKED:
                _GRAMMAR_CHECKED[text] = grammar_problem(llama, text)
            if _GRAMMAR_CHECKED[text]:
                raise ValueError(f"unusable grammar: {_GRAMMAR_CHECKED[text]}")
            grammar = LlamaGrammar.from_string(text, verbose=False)
        with _LLAMA_LOCK:  # one llama context: serialise calls from several threads
            import llama_cpp

            llama_cpp.llama_set_n_threads(llama.ctx, llama.n_threads,
                                          batch_threads(self.n_threads_batch))
            out = llama.create_chat_completion(
                messages=payload, temperature=float(kwargs.get("temperature", self.temperature)),
                max_tokens=int(kwargs.get("max_tokens", self.max_tokens)), stop=stop,
                seed=int(kwargs.get("seed", self.seed)), grammar=grammar)
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        usage = out.get("usage", {})
        message = AIMessage(content=text, response_metadata={
            "finish_reason": choice.get("finish_reason"), "usage": usage,
            "model_name": self.model_name})
        return ChatResult(generations=[ChatGeneration(message=message)],
                          llm_output={"usage": usage, "model_name": self.model_name})


def offline_available(cfg: LLMConfig | None = None) -> tuple[bool, str]:
    """Whether the offline provider can run here, and if not, why."""
    cfg = cfg or LLMConfig(provider="offline")
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False, "llama-cpp-python is not installed (run scripts/setup_local_llm.sh)"
    if not Path(cfg.model_path).is_file():
        return False, f"model file {cfg.model_path} is missing (run scripts/setup_local_llm.sh)"
    return True, "ok"


def make_chat_model(cfg: LLMConfig) -> BaseChatModel:
    """The langchain chat model the configuration names."""
    if cfg.provider == "offline":
        return LocalLlamaChatModel(model_path=cfg.model_path, model_name=cfg.model,
                                   n_ctx=cfg.n_ctx, n_threads=cfg.n_threads,
                                   n_threads_batch=cfg.n_threads_batch,
                                   temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                   seed=cfg.seed, prompt_cache_mb=cfg.prompt_cache_mb)
    if cfg.provider == "openai":
        from langchain_openai import ChatOpenAI

        kwargs: dict[str, Any] = {}
        if cfg.base_url:
            kwargs["base_url"] = cfg.base_url
        return ChatOpenAI(model=cfg.model, temperature=cfg.temperature,
                          max_tokens=cfg.max_tokens, timeout=cfg.timeout_s,
                          api_key=os.environ.get(cfg.api_key_env) or "not-needed", **kwargs)
    if cfg.provider == "ollama":
        from langchain_ollama import ChatOllama

        kwargs = {"base_url": cfg.base_url} if cfg.base_url else {}
        return ChatOllama(model=cfg.model, temperature=cfg.temperature,
                          num_predict=cfg.max_tokens, **kwargs)
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    if not cfg.fake_responses:
        raise ValueError("provider 'fake' needs LLMConfig.fake_responses")
    return FakeListChatModel(responses=list(cfg.fake_responses))
