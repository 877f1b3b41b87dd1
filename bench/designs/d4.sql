-- Designs 4a, 4c and 5f (2a, 2c and 5 with this): room on each page of
-- jobs for a second version of every row.  A claim updates a batch of
-- rows inserted one after another, so most rows of a page in one
-- transaction, and none of their old versions can be pruned before it
-- commits: at fillfactor 70 (001) a page has room for the new versions
-- of about 30/70 = 43% of its rows (a pending row is ~180 bytes, a
-- claimed one ~230, a completed one ~215); the rest go to other pages,
-- non-HOT.  The completion then finds the claim's old versions dead and
-- prunes them.
ALTER TABLE jobs SET (fillfactor = 40);
