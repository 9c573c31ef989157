#!/usr/bin/env bash
# The README quick-start: import the example, enroll three sample contacts and tick
# through two simulated weeks into ./outbox (a Maildir). Nothing is sent for real.
# Safe to run again: importing, enrolling and ticking are idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
unset SEQCTL_SMTP_URL
export SEQCTL_DATABASE_URL="${SEQCTL_DATABASE_URL:-sqlite:///seqctl.db}"

seqctl init
seqctl validate sequences.example.yaml
seqctl import sequences.example.yaml
seqctl contacts import contacts.example.csv
seqctl --now 2026-11-16T14:00:00Z enroll cold-outreach --csv contacts.example.csv

# Monday to the next Wednesday, as cron would see it at a few moments of each day.
for day in 16 17 18 19 20 21 22 23 24 25; do
  for hour in 10 14 15 16 20; do
    seqctl tick --now "2026-11-${day}T${hour}:00:00Z"
  done
done

seqctl tasks
seqctl --now 2026-11-25T20:00:00Z queue
seqctl stats cold-outreach
echo "$(ls outbox/new | wc -l) messages in ./outbox/new — open one with: cat outbox/new/\$(ls outbox/new | head -1)"
