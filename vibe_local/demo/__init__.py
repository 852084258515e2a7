"""The embedded demo model `vibethinker-nano` and the `vibe-local demo` tour."""
