"""Modal screens, one per file on `modal.Modal`: confirm (before any change), help, tour (demo
walkthrough), index build, recall sweep, collection load."""
