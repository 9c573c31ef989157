"""seqctl: outreach sequences as YAML in git, state in your own database, run by cron."""

__version__ = "0.1.0"
