"""Application shell of the linked pupil database: settings, periods, CLI and the run steps."""
