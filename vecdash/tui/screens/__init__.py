"""Modal screens: confirm (before any change), help, tour (demo walkthrough)."""
