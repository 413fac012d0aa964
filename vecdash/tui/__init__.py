"""The Textual console. Imports stay lazy: `vecdash.tui.app.run_console` pulls in Textual only when called."""
