"""LLMConfig validation and the chat-model factory (no network, no model weights needed)."""

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from iteach_ros.teacher.llm import (
    LLMConfig,
    LocalLlamaChatModel,
    load_llm_config,
    make_chat_model,
    offline_available,
)


def test_defaults_and_labels():
    cfg = LLMConfig()
    assert cfg.provider == "offline" and cfg.model == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert cfg.model_path.endswith("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert LLMConfig(provider="ollama").label == "ollama:qwen2.5-coder:7b"


@pytest.mark.parametrize("kwargs, field", [
    ({"provider": "gpt"}, "provider"), ({"temperature": 3.0}, "temperature"),
    ({"max_tokens": 0}, "max_tokens"), ({"n_ctx": 64}, "n_ctx"),
    ({"timeout_s": 0}, "timeout_s"), ({"n_threads": 0}, "n_threads"),
])
def test_post_init_names_the_bad_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LLMConfig(**kwargs)


def test_yaml_flat_and_nested(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("provider: openai\nbase_url: http://127.0.0.1:8080/v1\nmodel: m\n")
    cfg = load_llm_config(flat)
    assert (cfg.provider, cfg.base_url, cfg.model) == ("openai", "http://127.0.0.1:8080/v1", "m")
    nested = tmp_path / "nested.yaml"
    nested.write_text("llm:\n  provider: ollama\n  temperature: 0.2\n")
    assert load_llm_config(nested).temperature == 0.2
    bad = tmp_path / "bad.yaml"
    bad.write_text("provider: openai\nbase_ulr: x\n")
    with pytest.raises(ValueError, match="base_ulr"):
        load_llm_config(bad)


def test_factory_builds_each_provider_without_network(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai = make_chat_model(LLMConfig(provider="openai", base_url="http://127.0.0.1:9/v1",
                                       model="local"))
    assert type(openai).__name__ == "ChatOpenAI" and openai.model_name == "local"
    assert "127.0.0.1:9" in str(openai.openai_api_base)
    ollama = make_chat_model(LLMConfig(provider="ollama", base_url="http://127.0.0.1:9"))
    assert type(ollama).__name__ == "ChatOllama"
    offline = make_chat_model(LLMConfig(provider="offline", model_path="/nonexistent.gguf"))
    assert isinstance(offline, LocalLlamaChatModel) and isinstance(offline, BaseChatModel)
    with pytest.raises(RuntimeError, match="setup_local_llm"):
        offline.invoke([HumanMessage("hi")])  # loads lazily: clear error, not a crash


def test_fake_provider_replays_answers():
    fake = make_chat_model(LLMConfig(provider="fake", fake_responses=["a", "b"]))
    assert [fake.invoke("x").content for _ in range(2)] == ["a", "b"]
    with pytest.raises(ValueError, match="fake_responses"):
        make_chat_model(LLMConfig(provider="fake"))


def test_offline_available_reports_reason():
    ok, why = offline_available(LLMConfig(model_path="/nonexistent.gguf"))
    assert not ok and ("llama-cpp-python" in why or "/nonexistent.gguf" in why)
