"""What each slash command does in the running app (parsing and validation: commands.py).

A mixin of ChatApp, kept in its own file so the app module stays about threads, streaming and
keys. Every handler may raise VibeLocalError; the app shows it as an error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from ..errors import InvalidRequestError
from . import commands as cmd
from .reply import AssistantMessage
from .text import code_blocks, export_path
from .widgets import UserMessage

if TYPE_CHECKING:  # the host is app.py's ChatApp, which sits above this mixin: not imported
    from textual.app import App

    _Base = App[None]
else:
    _Base = object


class SlashCommands(_Base):
    """`/name args` -> `cmd_name(args)`."""

    async def run_command(self, command: cmd.Command) -> None:
        handler = getattr(self, f"cmd_{command.name}")
        await self.guarded(handler(command.args))

    async def cmd_help(self, args: str) -> None:
        self.action_help()

    def action_help(self) -> None:
        from .screens import HelpScreen

        self.push_screen(HelpScreen(str(self.keymap_path)))

    async def cmd_quit(self, args: str) -> None:
        await self.action_quit_chat()

    async def cmd_clear(self, args: str) -> None:
        await self.action_new_chat()

    async def action_new_chat(self) -> None:
        self._refuse_while_generating()
        self.session.new()
        await self.log_view.remove_children()
        self.last_stats = None
        self.refresh_status()
        await self.say("New chat.")

    async def cmd_regen(self, args: str) -> None:
        self._refuse_while_generating()
        if self.model is None:
            raise InvalidRequestError("no model is loaded yet; wait for it or use /model ID")
        if not self.session.drop_last_reply():
            raise InvalidRequestError("there is no message to answer again; send one first")
        widgets = list(self.log_view.children)
        users = [i for i, w in enumerate(widgets) if isinstance(w, UserMessage)]
        for widget in widgets[users[-1] + 1:] if users else []:
            await widget.remove()  # the old reply and any notices after the question
        await self.start_reply()

    async def cmd_system(self, args: str) -> None:
        self.session.set_system(args or None)
        await self.say(f"System prompt set: {args}" if args else "System prompt removed.")

    async def cmd_set(self, args: str) -> None:
        setting = cmd.parse_setting(args)
        self.overrides[setting.name] = setting.value
        if isinstance(setting.value, bool):  # speculate
            shown = "on" if setting.value else "off"
        else:
            shown = "off" if setting.value is None else setting.value
        await self.say(f"{setting.name} = {shown} (from the next reply)")

    async def cmd_think(self, args: str) -> None:
        self.show_thinking = cmd.parse_toggle(args)
        self.log_view.set_class(not self.show_thinking, "-hide-thinking")
        await self.say("Thinking shown." if self.show_thinking else
                       "Thinking hidden (the model still thinks; /think on shows it).")

    async def cmd_save(self, args: str) -> None:
        summary = self.session.summary()
        if summary is None:
            raise InvalidRequestError("nothing to save yet; chats are saved as you send messages")
        if args:
            self.session.rename(args)
        title = args or summary.title
        await self.say(f"Chat {summary.id} “{title}” is saved in {self.history.path} "
                       "(every message is saved as it comes; /history to browse).")

    async def cmd_export(self, args: str) -> None:
        from ..history_export import export_filename, export_markdown, write_export

        summary = self.session.summary()
        if summary is None:
            raise InvalidRequestError("nothing to export yet; send a message first")
        text = export_markdown(summary, self.history.messages(summary.id))
        path = export_path(cmd.parse_path(args), export_filename(summary), Path.cwd())
        written = write_export(path, text)
        self.notify(f"Exported to {written}")
        await self.say(f"Exported to {written}")

    async def cmd_copy(self, args: str) -> None:
        which = cmd.parse_copy(args)
        replies = [r for r in self.query(AssistantMessage) if r.answer]
        if not replies:
            raise InvalidRequestError("there is no answer to copy yet")
        answer = replies[-1].answer
        if which is None:
            text, what = answer, "the last answer"
        else:
            blocks = code_blocks(answer)
            if not blocks:
                raise InvalidRequestError("the last answer has no code block")
            if which > len(blocks):
                raise InvalidRequestError(f"the last answer has {len(blocks)} code block(s)")
            text, what = blocks[which - 1], f"code block {which or len(blocks)}"
        self.copy_to_clipboard(text)
        self.notify(f"Copied {what} ({len(text):,} characters)")

    async def cmd_history(self, args: str) -> None:
        self.action_history()

    def action_history(self) -> None:
        from .history_screen import HistoryScreen

        if self.generating:
            self.notify("Stop the reply first (Esc)", severity="warning")
            return
        self.push_screen(HistoryScreen(self.history), self._history_closed)

    async def _history_closed(self, chat_id: int | None) -> None:
        if chat_id is not None:
            await self.guarded(self.resume_chat(chat_id))

    async def resume_chat(self, chat_id: int | None) -> None:
        """Show a stored chat (thinking folded) and continue it; None: the latest chat."""
        if chat_id is None:
            chats = self.history.chats()
            if not chats:
                raise InvalidRequestError("there is no saved chat to resume yet")
            chat_id = chats[0].id
        messages = self.session.resume(chat_id)
        await self.log_view.remove_children()
        for m in messages:
            if m.role == "user":
                await self.log_view.mount(UserMessage(m.content))
            else:
                await self.log_view.mount(AssistantMessage(
                    clock=self.clock, thinking=m.thinking, answer=m.content,
                    stats=m.stats or {}, partial=m.partial, math=self.render_math))
        summary = self.history.chat(chat_id)
        note = "" if summary.model == self.model_label else \
            f" It was made with {summary.model}; /model {summary.model} switches."
        await self.say(f"Resumed “{summary.title}”.{note}")

    async def cmd_model(self, args: str) -> None:
        self._refuse_while_generating()
        self.propose_switch(cmd.require("model", args), "auto")

    async def cmd_quant(self, args: str) -> None:
        self._refuse_while_generating()
        self.propose_switch(self.model_label, cmd.require("quant", args))

    @work(thread=True, group="fit", exit_on_error=False)
    def propose_switch(self, model: str, quant: str) -> None:
        """Fit in a thread (it reads GGUF headers), then ask in a modal."""
        from ..fitting import format_table

        try:
            result = self.fitter(model, quant, self.ctx, **self.machine)
            self._from_thread(self._show_fit, model, quant, result, format_table(result))
        except Exception as exc:  # noqa: BLE001 - shown in the UI
            self._from_thread(self.show_error, exc)

    def _show_fit(self, model: str, quant: str, result: Any, table: str) -> None:
        from .screens import FitScreen

        target = model if quant in (None, "auto") else f"{model} ({quant})"

        def confirmed(load: bool | None) -> None:
            if load:
                self.switch_model(model, quant)

        self.push_screen(FitScreen(target, result, table), confirmed)

    def switch_model(self, model: str, quant: str) -> None:
        previous, self.model = self.model, None
        self.quant = quant
        self.last_stats = None
        self.set_status(f"loading {model} …")
        self.load_model(model, quant, previous)

    def _refuse_while_generating(self) -> None:
        if self.generating:
            raise InvalidRequestError("a reply is still coming; press Esc to stop it first")
