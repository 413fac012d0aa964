"""One module per pane: topology (left tree), stats, wiring, workbench."""
