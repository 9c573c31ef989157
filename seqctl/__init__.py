"""seqctl: outreach sequences as YAML in git, state in your own database, run by cron."""

import zoneinfo

__version__ = "0.1.0"

# Time zones come from the pinned `tzdata` package, never the host's /usr/share/zoneinfo:
# the same YAML schedules the same instants on every machine.
zoneinfo.reset_tzpath(to=())
