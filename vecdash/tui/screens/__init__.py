"""Modal screens, one per file on `modal.Modal`: confirm (before any change), ask (leaving read-only),
help, tour (demo walkthrough), index build, recall sweep, collection load."""
