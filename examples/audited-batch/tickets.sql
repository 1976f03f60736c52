-- The world the batch works on: a small support queue.
create table tickets (
  id integer primary key,
  subject text not null,
  status text not null default 'open',
  blocked integer not null default 0
);
insert into tickets (subject, status) values ('Crash on empty input', 'closed');
insert into tickets (subject) values
  ('Login times out on slow networks'),
  ('Export drops the last row'),
  ('Typo on the billing page'),
  ('Dark mode ignores the system setting'),
  ('Search is case-sensitive');
