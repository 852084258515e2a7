"""`ChatApp`: the Textual chat UI around one loaded model.

Threads: the model loads and generates in worker threads, so the screen paints first and never
freezes. A reply streams through a ReplyBuffer (pump.py) into its AssistantMessage; when it
ends, the message posts `Finished` and the app saves it. Slash commands live in slash.py.

The model is injectable (`loader`, `fitter`), as are the clock and the memory reader, so tests
drive the real app with a real or scripted model and snapshots render fixed figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding

from ..errors import VibeLocalError
from ..history import History
from ..paths import home_dir
from .answer_commands import AnswerCommands
from .pump import pump
from .reply import AssistantMessage, Outcome
from .slash import SlashCommands
from .status import MemoryReader, process_rss, status_line
from .widgets import ChatLog, ErrorMessage, Notice, PromptInput, StatusBar, UserMessage

Loader = Callable[..., Any]  # (model, quant, ctx) -> a Model
STATUS_EVERY_S = 2.0


def default_loader(model: str, quant: str | None, ctx: int | None, **options: Any) -> Any:
    """`vibe_local.load`, imported only in the loading thread (it pulls in llama.cpp)."""
    from ..api import load

    return load(model, quant, ctx, **options)


def default_fitter(model: str, quant: str | None, ctx: int | None, **options: Any) -> Any:
    from ..api import fit

    return fit(model, quant=quant, ctx=ctx, **options)


class ChatApp(SlashCommands, AnswerCommands, App[None]):
    """Chat with a local model; see /help for keys and commands."""

    CSS_PATH = Path(__file__).with_name("chat.tcss")  # absolute: subclasses live elsewhere
    TITLE = "vibe-local chat"
    BINDINGS = [
        Binding("escape,ctrl+c", "stop", "Stop", priority=True, show=False, id="stop"),
        Binding("ctrl+d", "quit_chat", "Quit", priority=True, id="quit"),
        Binding("ctrl+t", "toggle_thinking", "Thinking", id="toggle_thinking"),
        Binding("f2", "toggle_raw", "Raw", id="toggle_raw"),
        Binding("ctrl+r", "history", "History", id="history"),
        Binding("ctrl+n", "new_chat", "New chat", id="new_chat"),
        Binding("f1", "help", "Help", id="help"),
    ]

    def __init__(self, model: str, *, quant: str | None = "auto", ctx: int | None = None,
                 loader: Loader | None = None, fitter: Loader | None = None,
                 machine: dict | None = None, history: History | None = None,
                 resume: int | None = None, memory_reader: MemoryReader | None = process_rss,
                 clock: Callable[[], float] = time.monotonic, keymap_path: Path | None = None):
        """
        Args:
            model, quant, ctx: what to load (as for `vibe_local.load`).
            loader, fitter: `(model, quant, ctx, **machine)` -> Model / FitResult; default
                `vibe_local.load` / `vibe_local.fit`.
            machine: extra options for both (memory, gpu, assume_yes).
            history: the chat history (default: the user's history file).
            resume: a chat id to continue, 0 for the latest chat.
            memory_reader: bytes of memory in use (None hides it); clock: for thinking time.
        """
        super().__init__()
        self.model_label, self.quant, self.ctx = str(model), quant, ctx
        self.loader, self.fitter = loader or default_loader, fitter or default_fitter
        self.machine = machine or {}
        self._history, self._resume_id = history, resume
        self.memory_reader, self.clock = memory_reader, clock
        self.keymap_path = keymap_path or home_dir() / "keymap.toml"
        self.model: Any = None
        self.state = "starting"
        self.last_stats: Any = None
        self.overrides: dict[str, Any] = {}
        self.show_thinking = True
        self.reply: AssistantMessage | None = None
        self._worker: Any = None
        self._quitting = False

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ChatLog(id="log")
        yield PromptInput(id="prompt", placeholder="Ask something · Enter sends · Ctrl+J new "
                          "line · F1 help")
        yield StatusBar(id="status", markup=False)

    @property
    def log_view(self) -> ChatLog:
        return self.query_one("#log", ChatLog)

    @property
    def generating(self) -> bool:
        return self.reply is not None and not self.reply.done

    def on_mount(self) -> None:
        from .session import ChatSession

        self.history = self._history if self._history is not None else History()
        self.session = ChatSession(self.history, self.model_label)
        self._apply_keymap()
        self.query_one(PromptInput).focus()
        self.log_view.anchor()  # follow the reply as it streams, until the user scrolls up
        self.set_status(f"loading {self.model_label} …")
        self.set_interval(STATUS_EVERY_S, self.refresh_status)
        self.call_after_refresh(self._after_first_paint)

    async def _after_first_paint(self) -> None:
        if self._resume_id is not None:
            await self.guarded(self.resume_chat(self._resume_id or None))
        self.load_model(self.model_label, self.quant)

    # -- status and messages --------------------------------------------------------------

    def set_status(self, state: str) -> None:
        self.state = state
        self.refresh_status()

    def refresh_status(self) -> None:
        info = getattr(self.model, "info", None)
        rss = self.memory_reader() if self.memory_reader else None
        text = status_line(self.state, info, self.last_stats, rss, self.model_label)
        for bar in self.query(StatusBar):  # none while the app is closing
            bar.update(text)

    async def say(self, text: str) -> None:
        await self._add(Notice(text))

    async def show_error(self, error: BaseException | str) -> None:
        """An error in the conversation (with advice); unexpected ones are logged in full."""
        if isinstance(error, BaseException) and not isinstance(error, VibeLocalError):
            self.record(error)
        await self._add(ErrorMessage(error, str(self.error_log)))

    async def _add(self, widget: Any) -> None:
        await self.log_view.mount(widget)

    @property
    def error_log(self) -> Path:
        return home_dir() / "chat-errors.log"

    def record(self, error: BaseException) -> None:
        """Append the traceback of an unexpected error to the log (never to the screen)."""
        import traceback

        try:
            self.error_log.parent.mkdir(parents=True, exist_ok=True)
            with self.error_log.open("a", encoding="utf-8") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
                log.write("".join(traceback.format_exception(error)))
        except OSError:
            pass

    async def guarded(self, action: Any) -> None:
        """Await `action`; any failure becomes an error message instead of a crash."""
        try:
            await action
        except Exception as exc:  # noqa: BLE001 - shown in the UI
            await self.show_error(exc)

    # -- loading --------------------------------------------------------------------------

    @work(thread=True, group="load", exit_on_error=False)
    def load_model(self, model: str, quant: str | None, previous: Any = None) -> None:
        """Load in a thread (llama.cpp is imported here, not at start-up)."""
        try:
            if previous is not None:
                previous.close()
            loaded = self.loader(model, quant, self.ctx, **self.machine)
        except Exception as exc:  # noqa: BLE001 - reported in the UI
            self._from_thread(self._load_failed, exc)
            return
        if not self._from_thread(self._loaded, model, loaded):
            loaded.close()  # the app went away while loading

    def _from_thread(self, callback: Callable, *args: Any) -> bool:
        try:
            self.call_from_thread(callback, *args)
            return True
        except RuntimeError:  # the app is no longer running
            return False

    def _loaded(self, label: str, model: Any) -> None:
        if self._quitting:
            model.close()
            return
        self.model, self.model_label = model, label
        self.session.set_model(label)
        self.set_status("ready")

    async def _load_failed(self, error: BaseException) -> None:
        self.set_status("no model")
        await self.show_error(error)

    # -- sending and generating -----------------------------------------------------------

    async def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        await self.guarded(self.submit(event.text))

    async def submit(self, text: str) -> None:
        from .commands import message_text, parse

        prompt = self.query_one(PromptInput)
        try:
            command = parse(text)
        except VibeLocalError as exc:
            await self.show_error(exc)
            return
        if command is not None:
            prompt.remember(text)
            await self.run_command(command)
        elif await self.ready_to_generate():
            prompt.remember(text)
            message = message_text(text)
            self.session.add_user(message)
            await self._add(UserMessage(message))
            await self.start_reply()

    async def ready_to_generate(self) -> bool:
        if self.generating:
            await self.say("A reply is still coming; press Esc to stop it first.")
            return False
        if self.model is None:
            loading = self.state.startswith("loading")
            await self.say("The model is still loading; your message stays in the box."
                           if loading else "No model is loaded; use /model ID to load one.")
            return False
        return True

    async def start_reply(self) -> None:
        """Stream a reply to the stored conversation in a worker thread."""
        reply = AssistantMessage(clock=self.clock, math=self.render_math)
        await self._add(reply)
        self.reply = reply
        self.set_status("generating …")
        self._worker = self._generate(self.session.conversation(), dict(self.overrides),
                                      reply.buffer())

    @work(thread=True, group="generate", exit_on_error=False)
    def _generate(self, messages: list[dict], overrides: dict, buffer: Any) -> None:
        pump(self.model.stream(messages, **overrides), buffer)

    async def on_chat_log_anchor_released(self) -> None:
        if self.generating:
            await self.reply.unshelve()

    async def on_assistant_message_finished(self, event: AssistantMessage.Finished) -> None:
        outcome = event.reply.take_outcome()
        if outcome is not None:
            await self.guarded(self.reply_finished(outcome))
        await self.guarded(event.reply.show_math(self.render_math))  # /raw while it streamed

    async def reply_finished(self, outcome: Outcome) -> None:
        self.session.add_reply(outcome.thinking, outcome.answer, outcome.stats, outcome.partial,
                               outcome.thinking_s)
        if outcome.stats is not None:
            self.last_stats = outcome.stats

        self.set_status("ready" if self.model is not None else "no model")
        if outcome.error is not None:
            await self.show_error(outcome.error)

    # -- keys -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # otherwise Esc / Ctrl+C keep their usual meaning
            return self.generating and not self.screen.is_modal
        return True

    def action_stop(self) -> None:
        if self.generating and self.model is not None:
            self.model.stop()
            self.set_status("stopping …")

    async def action_quit(self) -> None:
        await self.action_quit_chat()

    async def action_quit_chat(self) -> None:
        """Stop any generation (saving what came), close the model and the history, leave."""
        if self._quitting:
            return
        self._quitting = True
        reply = self.reply
        if reply is not None:
            if not reply.done and self.model is not None:
                self.model.stop()
                if self._worker is not None:
                    await self._worker.wait()
                reply.drain_now()
            outcome = reply.take_outcome()  # None if already saved
            if outcome is not None:
                await self.guarded(self.reply_finished(outcome))
        if self.model is not None:
            self.model.close()
            self.model = None
        self.history.close()
        self.exit()

    def on_unmount(self) -> None:
        """However the app ends, a generation thread must not outlive it (nor code it runs)."""
        self.cancel_code()
        if self.model is not None:
            self.model.stop()

    def action_toggle_thinking(self) -> None:
        replies = [r for r in self.query(AssistantMessage) if r.thinking]
        if replies:
            replies[-1].fold.collapsed = not replies[-1].fold.collapsed

    def _apply_keymap(self) -> None:
        """Remap keys from keymap.toml (`[keymap]` binding id = "keys")."""
        if not self.keymap_path.is_file():
            return
        try:
            from ..toml_file import read_toml

            keymap = read_toml(self.keymap_path).get("keymap", {})
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        except Exception as exc:  # noqa: BLE001 - a bad keymap must not stop the chat
            self.call_after_refresh(self.show_error, f"could not read {self.keymap_path}: {exc}")
