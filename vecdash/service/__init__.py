"""Services: the only place that decides what SQL runs. Async, return model objects, no Textual."""
