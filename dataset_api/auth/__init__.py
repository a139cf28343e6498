"""Authentication (JWT bearer tokens); authorization by role builds on ``User``."""
