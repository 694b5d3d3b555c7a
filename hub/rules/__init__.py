"""Rules decide when something is wrong; they turn readings into alert candidates."""
