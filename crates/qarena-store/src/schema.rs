//! The schema as an ordered list of migrations.
//!
//! Invariants: migration N brings a database from `user_version` N-1 to N;
//! each runs in one `BEGIN IMMEDIATE` transaction together with the bump of
//! `user_version` and its row in `schema_migrations`, so a crash leaves the
//! database at a whole version. Published migrations are never edited —
//! changes go in a new entry at the end. A database whose version is newer
//! than `MIGRATIONS.len()` is refused rather than guessed at.
//!
//! Tables are STRICT so a type mix-up in a caller fails loudly instead of
//! storing text in an integer column. JSON lives in TEXT columns.

pub(crate) struct Migration {
    pub description: &'static str,
    pub sql: &'static str,
}

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    description: "runs, engines, games, moves, self-evals, events, models, strategies, variants, sweeps, judge",
    sql: r#"
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY,
    tag              TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    argv             TEXT NOT NULL,
    settings         TEXT NOT NULL,
    software_version TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'running'
                     CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    finished_at      TEXT,
    notes            TEXT
) STRICT;
CREATE INDEX runs_created_at ON runs(created_at);

CREATE TABLE models (
    id         INTEGER PRIMARY KEY,
    path       TEXT NOT NULL,
    sha256     TEXT NOT NULL UNIQUE,
    format     TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE strategies (
    id     INTEGER PRIMARY KEY,
    name   TEXT NOT NULL,
    toml   TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE variants (
    id             INTEGER PRIMARY KEY,
    model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    strategy_id    INTEGER NOT NULL REFERENCES strategies(id) ON DELETE CASCADE,
    path           TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    manifest       TEXT NOT NULL,
    effective_bits REAL,
    bytes          INTEGER,
    created_at     TEXT NOT NULL,
    UNIQUE (model_id, strategy_id)
) STRICT;
CREATE INDEX variants_strategy ON variants(strategy_id);
CREATE INDEX variants_sha256 ON variants(sha256);

CREATE TABLE engines (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    slot         TEXT NOT NULL,
    label        TEXT NOT NULL,
    command      TEXT NOT NULL,
    protocol     TEXT NOT NULL,
    name         TEXT,
    version      TEXT,
    model_path   TEXT,
    model_sha256 TEXT,
    variant_id   INTEGER REFERENCES variants(id) ON DELETE SET NULL,
    UNIQUE (run_id, slot)
) STRICT;
CREATE INDEX engines_variant ON engines(variant_id);

CREATE TABLE games (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    point_index     INTEGER NOT NULL DEFAULT 0,
    game_index      INTEGER NOT NULL,
    pair_index      INTEGER,
    opening         TEXT,
    seed            INTEGER,
    black_engine_id INTEGER NOT NULL REFERENCES engines(id),
    white_engine_id INTEGER NOT NULL REFERENCES engines(id),
    result          TEXT,
    winner          TEXT,
    score           REAL,
    termination     TEXT NOT NULL,
    move_count      INTEGER NOT NULL,
    record          TEXT NOT NULL,
    record_format   TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT NOT NULL,
    duration_ms     INTEGER NOT NULL,
    variant_params  TEXT,
    settings        TEXT,
    UNIQUE (run_id, point_index, game_index)
) STRICT;
CREATE INDEX games_black_engine ON games(black_engine_id);
CREATE INDEX games_white_engine ON games(white_engine_id);

CREATE TABLE moves (
    game_id INTEGER NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    ply     INTEGER NOT NULL,
    color   TEXT NOT NULL,
    mv      TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (game_id, ply)
) STRICT, WITHOUT ROWID;

CREATE TABLE self_evals (
    game_id    INTEGER NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    ply        INTEGER NOT NULL,
    engine_id  INTEGER NOT NULL REFERENCES engines(id),
    winrate    REAL,
    score_lead REAL,
    score_cp   INTEGER,
    mate       INTEGER,
    depth      INTEGER,
    nodes      INTEGER,
    visits     INTEGER,
    time_ms    INTEGER,
    pv         TEXT,
    top_k      TEXT,
    PRIMARY KEY (game_id, ply)
) STRICT;
CREATE INDEX self_evals_engine ON self_evals(engine_id);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    game_index  INTEGER,
    engine_id   INTEGER REFERENCES engines(id) ON DELETE SET NULL,
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    stderr_tail TEXT
) STRICT;
CREATE INDEX events_run ON events(run_id, id);
CREATE INDEX events_engine ON events(engine_id);

CREATE TABLE sweeps (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (run_id, name)
) STRICT;

CREATE TABLE sweep_points (
    id          INTEGER PRIMARY KEY,
    sweep_id    INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    point_index INTEGER NOT NULL,
    label       TEXT NOT NULL,
    variant_id  INTEGER REFERENCES variants(id) ON DELETE SET NULL,
    params      TEXT NOT NULL,
    UNIQUE (sweep_id, point_index)
) STRICT;
CREATE INDEX sweep_points_variant ON sweep_points(variant_id);

CREATE TABLE judge_runs (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    engine_id  INTEGER NOT NULL REFERENCES engines(id),
    settings   TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX judge_runs_run ON judge_runs(run_id);
CREATE INDEX judge_runs_engine ON judge_runs(engine_id);

CREATE TABLE judge_moves (
    judge_run_id   INTEGER NOT NULL REFERENCES judge_runs(id) ON DELETE CASCADE,
    game_id        INTEGER NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    ply            INTEGER NOT NULL,
    before_winrate REAL,
    after_winrate  REAL,
    before_score   REAL,
    after_score    REAL,
    best_move      TEXT,
    loss_winrate   REAL,
    loss_score     REAL,
    loss_cp        INTEGER,
    blunder        INTEGER NOT NULL DEFAULT 0 CHECK (blunder IN (0, 1)),
    top_k          TEXT,
    PRIMARY KEY (judge_run_id, game_id, ply)
) STRICT;
CREATE INDEX judge_moves_game ON judge_moves(game_id, ply);
"#,
}];
