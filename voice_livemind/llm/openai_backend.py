"""Chat models behind an OpenAI-compatible HTTP API (vLLM, SGLang, llama.cpp's server, llama-cpp-python's
server): `models.<role>.engine: openai`.

The engine runs elsewhere and batches the calls of many sessions; this client streams each reply (SSE) and
gives the stages what the in-process engines give them:

- the forced reply prefix: when the served model's chat template is known (`chat_template`, or llama.cpp's
  /props), the prompt is rendered here exactly as the in-process engines render it and sent to the raw
  /completions endpoint, the prefix written after the generation prompt; otherwise /chat/completions with
  the prefix as a final assistant message and `continue_final_message` (vLLM, SGLang).
- the constrained first word: a first request for one token with a logit bias of +100 on the first tokens of
  the choices (-100 on the banned ones), the rest in a second request continuing it. The bias of the
  OpenAI API holds for every token of a request, hence the two requests; the engine's prefix cache makes
  the second one cheap. Token ids come from the server's own tokenizer (/extras/tokenize, /tokenize).
- stops: the stop flag (a `threading.Event` closes the connection at once, even while the engine still
  reads the prompt; any other flag is checked per streamed piece), the first line break, a stated answer
  and repetition loops are decided here on the streamed text, the server's `finish_reason` gives the cap.
- the prefix cache is the engine's: prompts stay append-only, `cache_prompt: true` is sent for llama.cpp,
  and what the engine reports as cached (usage.prompt_tokens_details.cached_tokens, llama.cpp's
  timings.cache_n) is the Generation's `reused_tokens`. `prefill` sends its messages for one token, so the
  engine caches them; forget/snapshot/restore keep nothing here (the engine's cache is not ours to drop).
- connection errors (refused, unreachable, connect timeout) are retried `retries` times with a short
  back-off; anything else (an HTTP error, a stalled stream past `timeout_s`) is raised at once as
  EngineError naming the URL.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from voice_livemind.config import LLMConfig
from voice_livemind.llm.base import Generation, Message
from voice_livemind.llm.stopping import answer_stated, repeating_tail

log = logging.getLogger(__name__)

BIAS = 100.0  # the largest logit bias the OpenAI API (and vLLM) accepts: a constraint in practice
BACKOFF_S = 0.25  # first wait before retrying a connection; doubled each time


class EngineError(RuntimeError):
    """The serving engine could not be reached or answered with an error; the message names the URL."""


@dataclass
class _Stream:
    """What one streamed request produced."""
    text: str = ""
    pieces: int = 0
    finish_reason: str | None = None
    reason: str | None = None  # ours: stop_flag, newline, answer, loop, complete
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


def load_template(location: str) -> tuple[str, dict[str, str]]:
    """(chat template, special tokens it may use) of a model location: a .gguf file (packaged: too) read with
    the gguf package, a folder / hub id read with transformers' tokenizer, or a .jinja file (the template
    alone: no special tokens known, bos_token renders empty)."""
    from pathlib import Path

    from voice_livemind.models import ModelNotFoundError, resolve

    if location.endswith((".jinja", ".j2")):  # the template alone; the server's tokenizer adds what it adds
        try:
            return Path(location).expanduser().read_text(), {}
        except OSError as err:
            raise ModelNotFoundError(f"chat template file {location!r}: {err.strerror or err}") from err
    where = resolve(location)
    path = Path(where.value)
    if where.kind == "path" and path.is_dir() and not (path / "tokenizer_config.json").exists():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            path = ggufs[0]
    if where.kind == "path" and path.suffix == ".gguf":
        from gguf import GGUFReader

        fields = GGUFReader(str(path)).fields
        if "tokenizer.chat_template" not in fields:
            raise ModelNotFoundError(f"{path} has no chat template (tokenizer.chat_template) in its metadata")
        tokens = fields["tokenizer.ggml.tokens"]
        special = {}
        for name in ("bos", "eos"):
            key = f"tokenizer.ggml.{name}_token_id"
            if key in fields:
                special[f"{name}_token"] = tokens.contents(int(fields[key].contents()))
        return fields["tokenizer.chat_template"].contents(), special
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(where.value)
    if not tokenizer.chat_template:
        raise ModelNotFoundError(f"{location} has no chat template")
    return tokenizer.chat_template, {"bos_token": tokenizer.bos_token or "", "eos_token": tokenizer.eos_token or ""}


class OpenAIChatModel:
    # Calls from several threads at once are fine (one thread-safe HTTP client, no state kept here): the server
    # lets sessions call it without a lock (server/models.py) and the engine batches them.
    concurrent = True

    def __init__(self, config: LLMConfig, role: str = "models.<role>"):
        import httpx

        if not config.base_url:
            raise EngineError(f"{role}.base_url: engine openai needs the server's URL (http://host:port/v1)")
        self.name = config.model
        self.base_url = config.base_url.rstrip("/")
        self.retries = config.retries
        self.timeout_s = config.timeout_s
        headers = {}
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(headers=headers,
                                    timeout=httpx.Timeout(config.timeout_s, connect=min(5.0, config.timeout_s)))
        self._token_ids: dict[str, list[int]] = {}
        self._empty_ids: list[int] | None = None  # what the server's tokenizer adds to any text (a BOS)
        self._template: str | None = None
        self._special: dict[str, str] = {}
        self._endpoint: str | None = None  # "completions" (the template rendered here) or "chat"
        self._lock = threading.Lock()
        if config.chat_template:
            self._template, self._special = load_template(config.chat_template)
            self._endpoint = "completions"

    @property
    def endpoint(self) -> str:
        """Asked of the server at the first call, not at load: the engine may start after the assistant."""
        with self._lock:
            if self._endpoint is None:
                self._template_from_server()
                self._endpoint = "completions" if self._template else "chat"
            return self._endpoint

    def close(self) -> None:
        self._client.close()

    # -- the protocol's state: the engine keeps its own prefix cache ---------------------------------
    def set_threads(self, n: int, prefill: int = 0) -> None:
        """A no-op: the engine's threads are its own."""

    def forget(self) -> None:
        """A no-op: the engine's prefix cache is shared by every client and evicts on its own."""

    def snapshot(self):
        return None

    def restore(self, snapshot) -> None:
        pass

    def prefill(self, messages: list[Message], stop: threading.Event | None = None) -> None:
        """Send `messages` (no generation prompt) for one token, so the engine's prefix cache holds them for
        the prompts that start with them. With /chat/completions (no template here): a no-op."""
        if self.endpoint != "completions":
            return
        body = {"model": self.name, "prompt": self.prompt_text(messages, add_generation_prompt=False),
                "max_tokens": 1, "temperature": 0.0, "stream": True, "cache_prompt": True, "add_special_tokens": False}
        self._stream("completions", body, stop, lambda piece, text: None)

    # -- HTTP ---------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _server_root(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def _with_retries(self, what: str, attempt: Callable[[], object], stop=None):
        """Run `attempt`, retrying connection errors only (nothing was sent), with a doubling back-off."""
        import httpx

        for n in range(self.retries + 1):
            try:
                return attempt()
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                if n == self.retries:
                    raise EngineError(f"engine openai: cannot connect to {self.base_url} for {what} ({err}) after "
                                      f"{self.retries + 1} attempts; is the server running there? "
                                      "(models.<role>.base_url)") from err
                wait = BACKOFF_S * 2 ** n
                log.warning("engine openai: %s unreachable (%s); retrying in %.2f s", self.base_url, err, wait)
                if stop is not None and hasattr(stop, "wait"):
                    if stop.wait(wait):
                        return None
                else:
                    time.sleep(wait)

    def _template_from_server(self) -> None:
        """llama.cpp's server says its chat template at /props; other servers have no such endpoint."""
        import httpx

        try:
            response = self._with_retries("/props", lambda: self._client.get(self._server_root() + "/props"))
        except httpx.HTTPError:
            return
        if response is None or response.status_code != 200:
            return
        try:
            props = response.json()
        except ValueError:
            return
        template = props.get("chat_template") if isinstance(props, dict) else None
        if template:
            self._template = template
            self._special = {k: props[k] for k in ("bos_token", "eos_token") if isinstance(props.get(k), str)}

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text` from the server's own tokenizer (llama-cpp-python /extras/tokenize; llama.cpp
        and vLLM /tokenize), without what it adds to every text (a BOS)."""
        added = self._server_adds()
        ids = self._tokenize_raw(text)
        if added and ids[: len(added)] == added:
            ids = ids[len(added):]
        return ids

    def _tokenize_raw(self, text: str) -> list[int]:
        # As the completions endpoint tokenizes a prompt: llama-cpp-python adds a BOS where the model wants
        # one (always), llama.cpp's server too (add_special), vLLM not (add_special_tokens false, sent with
        # the prompt as well).
        body = {"input": text, "content": text, "prompt": text, "model": self.name, "add_special": True,
                "add_special_tokens": False}
        root = self._server_root()
        tried = []
        for url in (root + "/extras/tokenize", root + "/tokenize", self._url("tokenize")):
            response = self._with_retries("tokenize", lambda: self._client.post(url, json=body))
            if response.status_code == 200:
                tokens = response.json().get("tokens")
                if isinstance(tokens, list):
                    return [t if isinstance(t, int) else t["id"] for t in tokens]
            tried.append(f"{url}: {response.status_code}")
        raise EngineError(f"engine openai: the server at {self.base_url} has no tokenize endpoint ({'; '.join(tried)}); "
                          "a constrained first word needs the server's token ids")

    def _first_tokens(self, words: tuple[str, ...]) -> list[int]:
        ids = set()
        for word in words:
            if word not in self._token_ids:
                self._token_ids[word] = self.tokenize(word)
            if self._token_ids[word]:
                ids.add(self._token_ids[word][0])
        return sorted(ids)

    # -- generation ---------------------------------------------------------------------------------
    def prompt_text(self, messages: list[Message], prefix: str = "", add_generation_prompt: bool = True) -> str:
        """The completions prompt: the rendered template and the prefix, less the template's BOS where the
        server adds one to any prompt itself (llama-cpp-python, llama.cpp's server for models that want a BOS),
        so the model sees one BOS, as in-process."""
        text = self.render(messages, add_generation_prompt) + prefix
        bos = self._special.get("bos_token")
        if bos and text.startswith(bos) and self._server_adds():
            text = text[len(bos):]
        return text

    def _server_adds(self) -> list[int]:
        """The tokens the server adds to any text (a BOS), or [] (also when it has no tokenize endpoint)."""
        if self._empty_ids is None:
            try:
                self._empty_ids = self._tokenize_raw("")
            except EngineError as err:
                if "no tokenize endpoint" not in str(err):
                    raise
                self._empty_ids = []
        return self._empty_ids

    def render(self, messages: list[Message], add_generation_prompt: bool = True) -> str:
        """The prompt text of `messages` by the served model's chat template (the completions endpoint)."""
        from voice_livemind.llm.llama_cpp_backend import render_chat_template

        return render_chat_template(self._template, messages, add_generation_prompt, self._special)

    def _body(self, messages: list[Message], prefix: str, max_tokens: int, repetition_penalty: float,
              logit_bias: dict[int, float] | None) -> tuple[str, dict]:
        body = {"model": self.name, "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
                "stream_options": {"include_usage": True}, "cache_prompt": True,
                # both names: vLLM and SGLang read repetition_penalty, llama.cpp repeat_penalty (default 1.1)
                "repetition_penalty": repetition_penalty, "repeat_penalty": repetition_penalty}
        if logit_bias:
            body["logit_bias"] = {str(k): v for k, v in logit_bias.items()}
        if self.endpoint == "completions":
            body["prompt"] = self.prompt_text(messages, prefix)
            body["add_special_tokens"] = False  # vLLM: the template wrote them (others ignore it: see prompt_text)
            return "completions", body
        body["messages"] = list(messages)
        if prefix:
            body["messages"].append({"role": "assistant", "content": prefix})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return "chat/completions", body

    def _stream(self, path: str, body: dict, stop, on_piece: Callable[[str, str], str | None]) -> _Stream:
        """POST a streaming request; `on_piece(piece, text so far)` returns a stop reason to close the stream.
        A `threading.Event` stop flag shuts the socket down as soon as it is set (a prefill is stopped too)."""
        import httpx

        out = _Stream()
        request = self._client.build_request("POST", self._url(path), json=body)
        response = self._with_retries(path, lambda: self._client.send(request, stream=True), stop)
        if response is None:  # stopped while waiting to retry
            out.reason = "stop_flag"
            return out
        done = threading.Event()
        watcher = None
        try:
            if response.status_code != 200:
                response.read()
                raise EngineError(f"engine openai: {self._url(path)} answered {response.status_code}: "
                                  f"{response.text[:500]}")
            if hasattr(stop, "wait"):
                watcher = threading.Thread(target=self._close_on_stop, args=(response, stop, done), daemon=True)
                watcher.start()
            try:
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    if stop is not None and stop.is_set():  # once per streamed piece
                        out.reason = "stop_flag"
                        break
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    self._read_usage(chunk, out)
                    if "error" in chunk:
                        raise EngineError(f"engine openai: {self._url(path)} failed mid-stream: {chunk['error']}")
                    for choice in chunk.get("choices") or ():
                        piece = choice.get("text")
                        if piece is None:
                            piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            out.pieces += 1
                            out.text += piece
                            out.reason = on_piece(piece, out.text)
                        if choice.get("finish_reason"):
                            out.finish_reason = choice["finish_reason"]
                    if out.reason is not None:
                        break
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.StreamError) as err:
                if stop is not None and stop.is_set():
                    out.reason = "stop_flag"
                else:
                    raise EngineError(f"engine openai: the stream from {self._url(path)} broke: {err}") from err
            except httpx.TimeoutException as err:
                raise EngineError(f"engine openai: {self._url(path)} sent nothing for {self.timeout_s} s "
                                  f"(models.<role>.timeout_s)") from err
        finally:
            done.set()
            response.close()  # before the end: the connection is closed, and the engine stops generating
            if watcher is not None:
                watcher.join()
        return out

    @staticmethod
    def _close_on_stop(response, stop, done: threading.Event) -> None:
        while not done.is_set():
            if stop.wait(0.02):
                if done.is_set():
                    return
                stream = response.extensions.get("network_stream")
                sock = stream.get_extra_info("socket") if stream is not None else None
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread at once
                    except OSError:
                        pass
                return

    @staticmethod
    def _read_usage(chunk: dict, out: _Stream) -> None:
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            out.prompt_tokens = usage.get("prompt_tokens", out.prompt_tokens)
            out.completion_tokens = usage.get("completion_tokens", out.completion_tokens)
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict) and details.get("cached_tokens") is not None:
                out.cached_tokens = details["cached_tokens"]
        timings = chunk.get("timings")  # llama.cpp's server
        if isinstance(timings, dict) and timings.get("cache_n") is not None:
            out.cached_tokens = timings["cache_n"]
            if timings.get("prompt_n") is not None and out.prompt_tokens is None:
                out.prompt_tokens = timings["prompt_n"] + timings["cache_n"]

    def generate(
        self,
        messages: list[Message],
        max_new_tokens: int,
        *,
        prefix: str = "",
        first_word_choices: tuple[str, ...] = (),
        banned_first_words: tuple[str, ...] = (),
        stop_at_newline: bool = False,
        stop_when_answered: bool = False,
        stop_at: Callable[[str], bool] | None = None,
        on_text: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
        repetition_penalty: float = 1.0,
        stoppable_prefill: bool = False,
    ) -> Generation:
        pieces: list[str] = []  # the streamed pieces (one token each on the engines here), for the loop guard
        reply = ""

        def on_piece(piece: str, _text: str) -> str | None:
            nonlocal reply
            if stop_at_newline and "\n" in piece:
                piece = piece[: piece.index("\n") + 1]  # the line ends here, as in-process (the break included)
            reply += piece
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)
            if stop_at_newline and piece.endswith("\n"):
                return "newline"
            if repeating_tail([hash(p) for p in pieces]):
                return "loop"
            if stop_when_answered and answer_stated(prefix + reply):
                return "answer"
            if stop_at is not None and stop_at(prefix + reply):
                return "complete"
            return None

        if stop is not None and stop.is_set():
            return Generation(text=prefix, tokens=0, prompt_tokens=0, stop_reason="stop_flag")
        first: _Stream | None = None
        bias: dict[int, float] = {}
        if first_word_choices:
            bias.update({i: BIAS for i in self._first_tokens(first_word_choices)})
        if banned_first_words:
            bias.update({i: -BIAS for i in self._first_tokens(banned_first_words)})
        if bias:
            path, body = self._body(messages, prefix, 1, repetition_penalty, bias)
            first = self._stream(path, body, stop, on_piece)
            if first.reason is not None or first.finish_reason == "stop" or max_new_tokens <= 1:
                return self._result(prefix, reply, pieces, first, None, max_new_tokens, messages)
            if stop is not None and stop.is_set():
                first.reason = "stop_flag"
                return self._result(prefix, reply, pieces, first, None, max_new_tokens, messages)
        path, body = self._body(messages, prefix + reply, max_new_tokens - len(pieces), repetition_penalty, None)
        rest = self._stream(path, body, stop, on_piece)
        return self._result(prefix, reply, pieces, first, rest, max_new_tokens, messages)

    def _result(self, prefix: str, reply: str, pieces: list[str], first: _Stream | None, rest: _Stream | None,
                max_new_tokens: int, messages: list[Message]) -> Generation:
        streams = [s for s in (first, rest) if s is not None]
        last = streams[-1]
        if last.reason is not None:
            reason = last.reason
        elif last.finish_reason == "length" or len(pieces) >= max_new_tokens:
            reason = "cap"
        else:
            reason = "end"
        # The engine's count when every stream ran to its end (a stream we closed reports nothing).
        counted = all(s.reason is None and s.completion_tokens is not None for s in streams)
        tokens = sum(s.completion_tokens for s in streams) if counted else len(pieces)
        prompt_tokens = streams[0].prompt_tokens
        if prompt_tokens is None and self.endpoint == "completions" and reason != "stop_flag":
            prompt_tokens = len(self._tokenize_raw(self.prompt_text(messages, prefix)))  # llama-cpp-python reports none
        return Generation(text=prefix + reply, tokens=tokens, prompt_tokens=prompt_tokens or 0, stop_reason=reason,
                          reused_tokens=last.cached_tokens or 0)
