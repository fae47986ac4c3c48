-- Every batch of events updates its executions' rows (about twenty times per execution in the
-- benchmarks). On full pages an update cannot stay on its page (a HOT update), so it writes a new
-- entry into each of the table's six indexes and leaves the old version behind: 55% of updates were
-- HOT and the table grew to three times its size between vacuums. With room left on each page, 91%
-- were and it did not (docs/benchmarks.md, thirteenth pass). Pages written from now on keep the room.
ALTER TABLE executions SET (fillfactor = 70);
