"""The entry workflow (DESIGN §4): counters now; transitions and the queue build on them."""
