-- Issue #18 item 4: named policies an admin sets (the push policy, "push"), one row
-- per name; version counts the writes.
CREATE TABLE policies (
    name    text PRIMARY KEY,
    doc     text NOT NULL,
    actor   text NOT NULL DEFAULT '',
    version bigint NOT NULL,
    updated bigint NOT NULL
);
