"""Pure decision code: calendar math, step flow, exit rules. No database, no clock."""
