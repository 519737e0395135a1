"""Command line: `voice-livemind replay | listen | devices | serve | bench | models`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from voice_livemind.bench import BENCHMARKS
from voice_livemind.cli_options import add_config_options, config_from_args
from voice_livemind.modes import ANSWERING as ANSWERING_MODES

# Exit codes say what failed.
EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_AUDIO, EXIT_MODEL, EXIT_NO_SPEECH = 0, 1, 2, 3, 4, 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voice-livemind", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    replay = sub.add_parser("replay", help="answer the question spoken in an audio file")
    replay.add_argument("audio", help="wav/flac/mp3/ogg, any rate and channel count; NAME.json beside it is read if present")
    replay.add_argument("--out", required=True, help="output folder (created)")
    add_config_options(replay)
    replay.add_argument("--mode", choices=ANSWERING_MODES,
                        help="livemind (default from the config), baseline (no LiveMind, reasoning after the end) "
                             "or direct (no LiveMind, no reasoning)")
    replay.add_argument("--quiet", action="store_true", help="no live progress")

    listen = sub.add_parser("listen", help="talk to the assistant through this machine's microphone and speaker")
    _add_config_arguments(listen)
    listen.add_argument("--input-device", type=int, help="microphone device number (see `devices`; default: the system's)")
    listen.add_argument("--output-device", type=int, help="speaker device number (see `devices`; default: the system's)")

    sub.add_parser("devices", help="list the sound devices (for listen --input-device / --output-device)")

    serve = sub.add_parser("serve", help="WebSocket server and web page: clients stream their microphone")
    _add_config_arguments(serve)
    serve.add_argument("--host", help="address to bind (default: server.host, 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, help="port for the page and the WebSocket (default: server.port, 8765)")
    serve.add_argument("--max-sessions", type=int, help="concurrent clients (default: server.max_sessions)")

    bench = sub.add_parser("bench", help="benchmarks (run them alone on the machine)")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for name, (module, help_text) in BENCHMARKS.items():
        importlib.import_module(module).add_arguments(bench_sub.add_parser(name, help=help_text))

    models = sub.add_parser("models", help="the embedded default models")
    models.add_argument("action", choices=["fetch", "where"], help="fetch: download and cache; where: show paths")
    return parser


def _add_config_arguments(parser) -> None:
    add_config_options(parser, example="barge_in.min_speech_ms=400")
    parser.add_argument("--mode", choices=ANSWERING_MODES, help="default: from the config")


def _run_listen(args) -> int:
    from voice_livemind.audio import devices
    from voice_livemind.listen import listen
    from voice_livemind.pipeline import load_backends

    config = config_from_args(args)
    sd = devices.import_sounddevice()  # before loading models: no sound card is a quick, clear error
    devices.pick_device(sd, args.input_device, "input")
    devices.pick_device(sd, args.output_device, "output")
    mode = args.mode or config.mode
    print(f"loading models ({mode} mode) ...", file=sys.stderr)
    listen(config, load_backends(config, mode), mode, args.input_device, args.output_device, sd=sd)
    return EXIT_OK


def _run_serve(args) -> int:
    import asyncio

    from voice_livemind.pipeline import load_backends
    from voice_livemind.server import VoiceServer, run_until_signalled

    config = config_from_args(args)
    mode = args.mode or config.mode
    print(f"loading models ({mode} mode) ...", file=sys.stderr)
    server = VoiceServer(config, load_backends(config, mode), mode=mode, host=args.host, port=args.port,
                         max_sessions=args.max_sessions)
    try:
        asyncio.run(run_until_signalled(server, announce=lambda line: print(line, file=sys.stderr, flush=True)))
    except OSError as err:  # the port is taken, or the address is not this machine's
        print(f"cannot serve on {server.host}:{server.port}: {err}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _run_devices(args) -> int:
    from voice_livemind.audio import devices

    print(devices.describe_devices(devices.import_sounddevice()))
    return EXIT_OK


def _summary(result) -> str:
    from voice_livemind.replay import notes_line

    lat = result.latency
    fmt = lambda v: "n/a" if v is None else f"{v:.2f} s"
    return "\n".join([
        f"heard:   {result.transcript}",
        f"notes:   {notes_line(result)}",
        f"answer:  {result.answer}",
        f"latency ({lat['mode']}, from the end of speech per {lat['speech_end_source']}): "
        f"end detected {fmt(lat['eou_detected_s'])}, first token {fmt(lat['first_token_s'])}, "
        f"first audio {fmt(lat['first_audio_s'])}, answer done {fmt(lat['answer_done_s'])}"
        + (" (answer started speculatively in the final pause)" if lat.get("speculation_used") else ""),
        f"outputs: {result.out_dir}/ (answer.wav, answer.txt, transcript.txt, notes.txt, events.jsonl, latency.json, config.yaml)",
    ])


def _run_replay(args) -> int:
    from voice_livemind.pipeline import load_backends
    from voice_livemind.replay import replay

    from voice_livemind.audio.source import load_audio, read_sidecar

    config = config_from_args(args)
    mode = args.mode or config.mode
    samples = load_audio(args.audio, config.audio.sample_rate)  # bad audio fails before the slow model load
    if config.audio.sidecar:
        read_sidecar(args.audio)
    print(f"loading models ({mode} mode) ...", file=sys.stderr)
    backends = load_backends(config, mode)
    result = replay(args.audio, args.out, config, backends, mode, show_progress=not args.quiet, samples=samples)
    print(_summary(result))
    return EXIT_OK


def _run_models(args) -> int:
    from voice_livemind import models

    if args.action == "fetch":
        for name in models.PACKAGED:
            print(f"{name}: {models.resolve_packaged(name)}")
        # A GGUF that the default config runs on transformers is converted once here, so the first replay
        # starts fast; llama.cpp (the CPU default) reads the file as it is.
        from voice_livemind.config import load_config

        roles = load_config().models
        if "transformers" in (roles.inference.engine, roles.answer.engine):
            from voice_livemind.llm.transformers_backend import model_folder

            print(f"smollm2-135m-instruct (converted): {model_folder('packaged:smollm2-135m-instruct')}")
    else:
        for name in models.PACKAGED:
            try:
                print(f"{name}: {models.resolve_packaged(name, fetch=False)}")
            except models.ModelNotFoundError as err:
                print(f"{name}: missing ({err})")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from voice_livemind.audio.source import AudioError
    from voice_livemind.config import ConfigError
    from voice_livemind.models import ModelNotFoundError
    from voice_livemind.replay import NoSpeechError

    failures = ((ConfigError, "config error", EXIT_CONFIG), (AudioError, "audio error", EXIT_AUDIO),
                (ModelNotFoundError, "model error", EXIT_MODEL), (NoSpeechError, "no speech", EXIT_NO_SPEECH))
    try:
        if args.command == "replay":
            return _run_replay(args)
        if args.command == "listen":
            return _run_listen(args)
        if args.command == "devices":
            return _run_devices(args)
        if args.command == "serve":
            return _run_serve(args)
        if args.command == "bench":
            return importlib.import_module(BENCHMARKS[args.bench][0]).run(args)
        return _run_models(args)
    except tuple(kind for kind, _, _ in failures) as err:
        what, code = next((what, code) for kind, what, code in failures if isinstance(err, kind))
        print(f"{what}: {err}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
