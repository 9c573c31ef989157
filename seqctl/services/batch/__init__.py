"""Running one batch of claimed enrollments (`runner.BatchRunner`).

The batch is read in a handful of queries (enrollments, contacts, events, sends, tasks).
Steps that send nothing (task, branch, action) run in memory: each `Work` collects its
writes, and the whole batch's writes are committed together in one transaction fenced by
the claims' lease tokens, so a tick that lost a claim writes nothing for it.

An email is the exception, because it leaves the building. A durable transaction
re-checks the fence, the suppression list and the mailbox's limits and commits the send
intent (Message-ID and rendered message); delivery happens after that commit; the outcome
is committed with the next intents. After a kill, the next claim asks the transport what
became of an intent without an outcome (`Transport.recover`): a Maildir can always tell,
SMTP cannot, and such an intent becomes `unknown` instead of being sent again. So over
SMTP each intent has a transaction of its own (at most one email in flight), while a
Maildir outbox commits up to `in_flight` intents per transaction.

The parts, each with its contract in its docstring:

- `work.py`: a claimed enrollment (`Work`) and the writes it collects, typed;
- `context.py`: what the parts share (`Batch`: the clock reading, the catalog, the
  mailboxes' state, the report) and the in-memory transitions (advance, exit, defer, fail …);
- `steps.py`: the step interpreter for task, branch and action steps and an email's
  in-memory checks;
- `compose.py`: composing one email;
- `sending.py`: the send pipeline (re-checks, intents, delivery);
- `settlement.py`: recording each delivery's outcome;
- `commit.py`: the fenced commits every write goes through;
- `runner.py`: the loop that ties them together.
"""
