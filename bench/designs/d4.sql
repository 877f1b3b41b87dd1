-- Designs 4a and 4c (2a and 2c with this): room on each page of jobs for
-- a second version of every row.  A claim updates a batch of rows that
-- were inserted one after another, so it updates most rows of a page in
-- one transaction, and none of their old versions can be pruned before it
-- commits: with fillfactor 70 (001) a page holds a new version for only
-- about 30/70 = 43% of its rows and the rest go to other pages, non-HOT.
-- The completion then finds the claim's old versions dead and prunes them.
ALTER TABLE jobs SET (fillfactor = 45);
