-- Zero-touch provisioning (issue 17 item 4, REQ-AUTO-01/05): device roles with their
-- day-0 configuration templates, versioned (a new version per change, never edited in
-- place), and the devices provisioned by role. Times are bigint microseconds.

CREATE TABLE ztp_roles (
    name     text NOT NULL,
    version  bigint NOT NULL,
    spec     text NOT NULL,
    author   text NOT NULL DEFAULT '',
    created  bigint NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE ztp_devices (
    id           text PRIMARY KEY,
    role         text NOT NULL DEFAULT '',
    role_version bigint NOT NULL DEFAULT 0,
    state        text NOT NULL,
    registration text NOT NULL,
    change_id    text NOT NULL DEFAULT '',
    detail       text NOT NULL DEFAULT '',
    created      bigint NOT NULL,
    updated      bigint NOT NULL
);
