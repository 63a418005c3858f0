"""One router per resource: search, describe, generate, clips, admin."""
