#!/bin/sh
# Closes ticket $1 of target/tickets.db: writes the reply to
# target/replies/ticket-ID.txt, then marks the ticket closed.
set -eu
db=target/tickets.db
id=$(echo $1)
case "$id" in *[!0-9]*|"") echo "close-ticket.sh: not a ticket id: $1" >&2; exit 2 ;; esac
subject=$(sqlite3 "$db" "select subject from tickets where id = $id")
printf 'Ticket #%s: %s\nFixed in 1.4.1, thanks for the report.\n' "$id" "$subject" > "target/replies/ticket-$id.txt"
sqlite3 "$db" "update tickets set status = 'closed' where id = $id"
echo "closed #$id: $subject"
