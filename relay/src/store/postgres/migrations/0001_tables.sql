-- Migration 1: the relay's tables (docs/POSTGRES.md describes each).
-- Every name starts with krc_ so the relay can share a database.

-- Key: setting name / value: bytes. `office_centre`: 16-byte id of the
-- office's own journal. `relay_fingerprint`: SHA-256 of the certificate
-- every relay of the deployment serves (its key stays in each relay's
-- data folder, never here).
CREATE TABLE krc_setting (
    name  text  PRIMARY KEY,
    value bytea NOT NULL
);

-- Key: centre id / value: its name, when it was added, its municipality.
-- Names are unique regardless of ASCII case (checked by `centre add`).
CREATE TABLE krc_centre (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    municipality text
);

-- Key: device id (= its Automerge actor id) / value: its centre, role,
-- certificate (unique: a certificate names one device) and sync health.
CREATE TABLE krc_device (
    id          uuid        PRIMARY KEY,
    cert_sha256 bytea       NOT NULL UNIQUE,
    name        text        NOT NULL,
    centre      uuid        NOT NULL REFERENCES krc_centre (id),
    office      boolean     NOT NULL,
    fingerprint text        NOT NULL,
    enrolled_at timestamptz NOT NULL,
    last_seen   timestamptz,
    revoked_at  timestamptz,
    last_synced timestamptz,
    unsent      integer
);

-- Key: SHA-256 of an enrolment secret (the secret itself is never kept) /
-- value: the centre and role it enrols into, until when, and who used it.
CREATE TABLE krc_enrol_code (
    secret_sha256 bytea       PRIMARY KEY,
    centre        uuid        NOT NULL REFERENCES krc_centre (id),
    office        boolean     NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_by       uuid
);

-- Key: journal id (= its centre's id) / value: the journal's epoch (one
-- more after each erasure), its snapshot (Automerge's saved document, NULL
-- for the empty journal) holding every change up to `snapshot_seq`, and
-- `next_seq`, the number the next stored change takes. A store locks this
-- row (SELECT … FOR UPDATE) for its transaction: changes of one journal are
-- numbered in the order they commit, so a relay that has read up to a
-- number has read everything below it. `actor`: the relay's Automerge
-- actor in this journal (it writes only erasures).
CREATE TABLE krc_journal (
    id           uuid    PRIMARY KEY REFERENCES krc_centre (id),
    epoch        integer NOT NULL,
    snapshot     bytea,
    snapshot_seq bigint  NOT NULL,
    next_seq     bigint  NOT NULL,
    actor        uuid    NOT NULL
);

-- Key: (journal, seq) / value: one Automerge change as a device sent it,
-- appended after the snapshot; compaction folds them into it.
CREATE TABLE krc_journal_change (
    journal uuid   NOT NULL REFERENCES krc_journal (id),
    seq     bigint NOT NULL,
    change  bytea  NOT NULL,
    PRIMARY KEY (journal, seq)
);

-- Key: (journal, SHA-256 of a file) / value: its size, its type once whole
-- (sync_core::files::MediaType::code) and how many chunks are held.
CREATE TABLE krc_file (
    journal     uuid     NOT NULL REFERENCES krc_journal (id),
    hash        bytea    NOT NULL,
    bytes       bigint   NOT NULL,
    media_type  smallint,
    chunks_held bigint   NOT NULL,
    PRIMARY KEY (journal, hash)
);

-- Key: (journal, file, chunk number) / value: the chunk's bytes
-- (sync_core::limits::FILE_CHUNK_BYTES each, the last one shorter).
CREATE TABLE krc_file_chunk (
    journal uuid   NOT NULL,
    hash    bytea  NOT NULL,
    number  bigint NOT NULL,
    chunk   bytea  NOT NULL,
    PRIMARY KEY (journal, hash, number),
    FOREIGN KEY (journal, hash) REFERENCES krc_file (journal, hash) ON DELETE CASCADE
);

-- Photos and PDFs do not compress: kept out of line without trying.
ALTER TABLE krc_file_chunk ALTER COLUMN chunk SET STORAGE EXTERNAL;
