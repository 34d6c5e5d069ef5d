-- Monitoring (issue 17, docs/monitoring.md): KPI descriptors, the KPI samples the
-- monitor takes, alarms, and each committed change's predicted-vs-observed record.
CREATE TABLE kpi_descriptors (
    id      text PRIMARY KEY,
    doc     text NOT NULL,
    created bigint NOT NULL
);

CREATE TABLE kpi_samples (
    kpi_id text NOT NULL,
    t      bigint NOT NULL,
    value  double precision NOT NULL,
    PRIMARY KEY (kpi_id, t)
);
CREATE INDEX kpi_samples_t ON kpi_samples (t);

CREATE TABLE alarms (
    id      text PRIMARY KEY,
    akey    text NOT NULL,
    state   text NOT NULL,
    raised  bigint NOT NULL,
    updated bigint NOT NULL,
    doc     text NOT NULL
);
CREATE INDEX alarms_state ON alarms (state, id);

CREATE TABLE change_comparisons (
    change_id text PRIMARY KEY,
    doc       text NOT NULL,
    created   bigint NOT NULL
);
