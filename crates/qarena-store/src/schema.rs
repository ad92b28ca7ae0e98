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

pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
        description: "per-game metric views: judge loss, self-eval, overconfidence, per-variant aggregates",
        sql: r#"
-- Metric views. Conventions (docs/metrics.md):
-- * the slot of a move is the slot of the engine that played it;
-- * judge values are from the mover's view, losses clamped at 0;
-- * per-game values are averages over that slot's moves; per-variant
--   aggregates carry count, mean, sum and sum of squares per metric so
--   confidence intervals need no further access to the games.

-- Every move with the engine (and slot) that played it.
CREATE VIEW move_slots AS
SELECT m.game_id, m.ply, m.color, m.mv, g.run_id, g.point_index,
       CASE WHEN lower(substr(m.color, 1, 1)) = 'b'
            THEN g.black_engine_id ELSE g.white_engine_id END AS engine_id,
       e.slot, e.variant_id
FROM moves m
JOIN games g ON g.id = m.game_id
JOIN engines e ON e.id = CASE WHEN lower(substr(m.color, 1, 1)) = 'b'
                              THEN g.black_engine_id ELSE g.white_engine_id END;

-- Games judged per judge run, against the games of the run it can replay.
CREATE VIEW judge_coverage AS
SELECT j.id AS judge_run_id, j.run_id,
       json_extract(j.settings, '$.judge.game') AS game_kind,
       (SELECT count(*) FROM games g WHERE g.run_id = j.run_id
          AND g.record_format = CASE json_extract(j.settings, '$.judge.game')
                                    WHEN 'chess' THEN 'pgn' ELSE 'sgf' END) AS games_played,
       (SELECT count(DISTINCT jm.game_id) FROM judge_moves jm
          WHERE jm.judge_run_id = j.id) AS games_judged,
       CAST((SELECT count(DISTINCT jm.game_id) FROM judge_moves jm
               WHERE jm.judge_run_id = j.id) AS REAL)
         / NULLIF((SELECT count(*) FROM games g WHERE g.run_id = j.run_id
          AND g.record_format = CASE json_extract(j.settings, '$.judge.game')
                                    WHEN 'chess' THEN 'pgn' ELSE 'sgf' END), 0) AS coverage
FROM judge_runs j;

-- Per judge run, game and slot: the judge's verdict on that side's play.
-- final_winrate / final_score: the judge's evaluation after the last
-- judged move of the game, from this slot's view.
CREATE VIEW game_judge_metrics AS
WITH last AS (
    SELECT jm.judge_run_id, jm.game_id, jm.after_winrate, jm.after_score,
           ms.engine_id AS mover
    FROM judge_moves jm
    JOIN move_slots ms ON ms.game_id = jm.game_id AND ms.ply = jm.ply
    WHERE jm.ply = (SELECT max(j2.ply) FROM judge_moves j2
                    WHERE j2.judge_run_id = jm.judge_run_id AND j2.game_id = jm.game_id)
)
SELECT jm.judge_run_id, ms.run_id, ms.point_index, jm.game_id, ms.engine_id, ms.slot,
       ms.variant_id,
       count(*) AS moves_judged,
       avg(jm.loss_winrate) AS avg_loss_winrate,
       avg(jm.loss_score) AS avg_loss_score,
       avg(jm.loss_cp) AS avg_loss_cp,
       sum(jm.blunder) AS blunders,
       CASE WHEN l.mover = ms.engine_id THEN l.after_winrate
            ELSE 1.0 - l.after_winrate END AS final_winrate,
       CASE WHEN l.mover = ms.engine_id THEN l.after_score
            ELSE -l.after_score END AS final_score
FROM judge_moves jm
JOIN move_slots ms ON ms.game_id = jm.game_id AND ms.ply = jm.ply
LEFT JOIN last l ON l.judge_run_id = jm.judge_run_id AND l.game_id = jm.game_id
GROUP BY jm.judge_run_id, jm.game_id, ms.engine_id;

-- Per self-evaluation: Shannon entropy (nats) of the normalised priors of
-- its top-K candidates, H = ln T - (sum p ln p) / T with T = sum p.
-- Needs SQLite's math functions (ln); see docs/metrics.md.
CREATE VIEW self_eval_entropy AS
SELECT s.game_id, s.ply, s.engine_id,
       (SELECT ln(sum(json_extract(t.value, '$.prior')))
               - sum(json_extract(t.value, '$.prior') * ln(json_extract(t.value, '$.prior')))
                 / sum(json_extract(t.value, '$.prior'))
        FROM json_each(CASE WHEN json_valid(s.top_k) AND json_type(s.top_k) = 'array'
                            THEN s.top_k ELSE '[]' END) t
        WHERE json_type(t.value) = 'object' AND json_extract(t.value, '$.prior') > 0
       ) AS policy_entropy
FROM self_evals s;

-- Per game and slot: what the engine believed while it played.
CREATE VIEW game_self_metrics AS
SELECT g.run_id, g.point_index, s.game_id, s.engine_id, e.slot, e.variant_id,
       count(*) AS self_evals,
       avg(s.winrate) AS avg_self_winrate,
       avg(s.score_lead) AS avg_self_score_lead,
       avg(s.score_cp) AS avg_self_cp,
       avg(x.policy_entropy) AS avg_policy_entropy
FROM self_evals s
JOIN games g ON g.id = s.game_id
JOIN engines e ON e.id = s.engine_id
LEFT JOIN self_eval_entropy x ON x.game_id = s.game_id AND x.ply = s.ply
GROUP BY s.game_id, s.engine_id;

-- Per judge run, game and slot: the engine's own winrate minus the judge's,
-- both from the mover's view at the same ply (before its move) and against
-- the judge's value after the move. Positive means overconfident.
CREATE VIEW game_overconfidence AS
SELECT jm.judge_run_id, g.run_id, g.point_index, jm.game_id, s.engine_id, e.slot,
       e.variant_id,
       count(s.winrate) AS moves,
       avg(s.winrate - jm.before_winrate) AS avg_self_minus_judge_before,
       avg(s.winrate - jm.after_winrate) AS avg_self_minus_judge_after,
       avg(s.score_cp - jm.before_score) AS avg_self_minus_judge_cp
FROM self_evals s
JOIN judge_moves jm ON jm.game_id = s.game_id AND jm.ply = s.ply
JOIN games g ON g.id = s.game_id
JOIN engines e ON e.id = s.engine_id
GROUP BY jm.judge_run_id, jm.game_id, s.engine_id;

-- Every game with both of its engines.
CREATE VIEW game_slots AS
SELECT g.id AS game_id, g.run_id, g.point_index, e.id AS engine_id, e.slot, e.variant_id
FROM games g JOIN engines e ON e.id IN (g.black_engine_id, g.white_engine_id);

-- Per run, sweep point, slot and judge run (NULL: games never judged):
-- count, mean, sum and sum of squares of each per-game metric over games.
-- sd = sqrt((sumsq - sum*sum/n) / (n - 1)); 95% CI = mean +- 1.96 sd / sqrt(n).
CREATE VIEW variant_metrics AS
WITH per_game AS (
    SELECT gs.run_id, gs.point_index, gs.slot, gs.engine_id, gs.variant_id, gs.game_id,
           jm.judge_run_id,
           jm.avg_loss_winrate AS loss_winrate, jm.avg_loss_score AS loss_score,
           jm.avg_loss_cp AS loss_cp, jm.blunders AS blunders, jm.final_winrate,
           sm.avg_self_winrate AS self_winrate, sm.avg_policy_entropy AS policy_entropy,
           oc.avg_self_minus_judge_before AS overconfidence
    FROM game_slots gs
    LEFT JOIN game_judge_metrics jm
           ON jm.game_id = gs.game_id AND jm.engine_id = gs.engine_id
    LEFT JOIN game_self_metrics sm
           ON sm.game_id = gs.game_id AND sm.engine_id = gs.engine_id
    LEFT JOIN game_overconfidence oc
           ON oc.game_id = gs.game_id AND oc.engine_id = gs.engine_id
          AND oc.judge_run_id = jm.judge_run_id
)
SELECT run_id, point_index, slot, engine_id, variant_id, judge_run_id,
       count(*) AS games,
       count(loss_winrate) AS n_loss_winrate, avg(loss_winrate) AS mean_loss_winrate,
       sum(loss_winrate) AS sum_loss_winrate, sum(loss_winrate * loss_winrate) AS sumsq_loss_winrate,
       count(loss_score) AS n_loss_score, avg(loss_score) AS mean_loss_score,
       sum(loss_score) AS sum_loss_score, sum(loss_score * loss_score) AS sumsq_loss_score,
       count(loss_cp) AS n_loss_cp, avg(loss_cp) AS mean_loss_cp,
       sum(loss_cp) AS sum_loss_cp, sum(loss_cp * loss_cp) AS sumsq_loss_cp,
       count(blunders) AS n_blunders, avg(blunders) AS mean_blunders,
       sum(blunders) AS sum_blunders, sum(blunders * blunders) AS sumsq_blunders,
       count(final_winrate) AS n_final_winrate, avg(final_winrate) AS mean_final_winrate,
       sum(final_winrate) AS sum_final_winrate, sum(final_winrate * final_winrate) AS sumsq_final_winrate,
       count(self_winrate) AS n_self_winrate, avg(self_winrate) AS mean_self_winrate,
       sum(self_winrate) AS sum_self_winrate, sum(self_winrate * self_winrate) AS sumsq_self_winrate,
       count(policy_entropy) AS n_policy_entropy, avg(policy_entropy) AS mean_policy_entropy,
       sum(policy_entropy) AS sum_policy_entropy, sum(policy_entropy * policy_entropy) AS sumsq_policy_entropy,
       count(overconfidence) AS n_overconfidence, avg(overconfidence) AS mean_overconfidence,
       sum(overconfidence) AS sum_overconfidence, sum(overconfidence * overconfidence) AS sumsq_overconfidence
FROM per_game
GROUP BY run_id, point_index, slot, engine_id, judge_run_id;
"#,
    },
    Migration {
        description: "games: how Go games were counted (scoring method, removed dead stones, claims)",
        sql: r#"
-- scoring: NULL for games not counted by qarena (resignations, faults, chess).
-- dead_stones: GTP vertices separated by spaces ('' when none were removed).
-- scoring_claims: JSON, each party's dead stones and the result they imply.
ALTER TABLE games ADD COLUMN scoring TEXT
    CHECK (scoring IN ('area', 'agreed', 'referee', 'disputed'));
ALTER TABLE games ADD COLUMN dead_stones TEXT;
ALTER TABLE games ADD COLUMN scoring_claims TEXT;
"#,
    },
    Migration {
        description: "probes: variants compared with their reference on a position suite, per suite and per position",
        sql: r#"
-- One probe: the raw outputs of a subject model (a variant, or any model
-- file) compared with a reference model's on one position suite. The key
-- is everything that decides the result, so a repeated probe is read back.
-- metrics / noise_floor: JSON arrays of {"name": ..., "value": ...}.
CREATE TABLE probes (
    id INTEGER PRIMARY KEY,
    probe TEXT NOT NULL,
    subject_sha256 TEXT NOT NULL,
    reference_sha256 TEXT NOT NULL,
    suite_sha256 TEXT NOT NULL,
    settings TEXT NOT NULL,
    suite_name TEXT NOT NULL,
    variant_id INTEGER REFERENCES variants(id) ON DELETE SET NULL,
    positions INTEGER NOT NULL CHECK (positions >= 0),
    primary_metric TEXT NOT NULL,
    metrics TEXT NOT NULL,
    noise_floor TEXT,
    seconds REAL NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (probe, subject_sha256, reference_sha256, suite_sha256, settings)
) STRICT;
CREATE INDEX probes_by_variant ON probes (variant_id);

-- The same figures per position of the suite (0-based, suite order).
CREATE TABLE probe_positions (
    probe_id INTEGER NOT NULL REFERENCES probes(id) ON DELETE CASCADE,
    position INTEGER NOT NULL CHECK (position >= 0),
    metrics TEXT NOT NULL,
    PRIMARY KEY (probe_id, position)
) STRICT;

-- Every suite-level figure of every probe as one row.
CREATE VIEW probe_metrics AS
SELECT p.id AS probe_id, p.probe, p.subject_sha256, p.reference_sha256,
       p.suite_sha256, p.suite_name, p.variant_id, p.positions,
       json_extract(m.value, '$.name') AS name,
       json_extract(m.value, '$.value') AS value,
       json_extract(m.value, '$.name') = p.primary_metric AS is_primary
FROM probes p, json_each(p.metrics) m;
"#,
    },
    Migration {
        description: "evolutions and their genomes: every strategy generated, with parents, operator, cost, probe and failure",
        sql: r#"
-- One survival tournament: a model, a budget, a seed, its settings.
CREATE TABLE evolutions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    budget TEXT NOT NULL,
    seed INTEGER NOT NULL,
    settings TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
    created_at TEXT NOT NULL,
    UNIQUE (name, seed)
) STRICT;

-- Every genome ever generated, the failed and dominated ones included:
-- negative results are kept. failure: NULL while alive, else why it died
-- (non_finite, engine_crash, timeout, collapse, over_budget, build_error).
CREATE TABLE genomes (
    id INTEGER PRIMARY KEY,
    evolution_id INTEGER NOT NULL REFERENCES evolutions(id) ON DELETE CASCADE,
    generation INTEGER NOT NULL CHECK (generation >= 0),
    operator TEXT NOT NULL,
    parent_a INTEGER REFERENCES genomes(id) ON DELETE SET NULL,
    parent_b INTEGER REFERENCES genomes(id) ON DELETE SET NULL,
    strategy_toml TEXT NOT NULL,
    strategy_sha256 TEXT NOT NULL,
    bits_per_weight REAL NOT NULL,
    bytes INTEGER NOT NULL,
    variant_id INTEGER REFERENCES variants(id) ON DELETE SET NULL,
    probe_id INTEGER REFERENCES probes(id) ON DELETE SET NULL,
    quality REAL,
    failure TEXT,
    failure_detail TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (evolution_id, strategy_sha256)
) STRICT;
CREATE INDEX genomes_by_generation ON genomes (evolution_id, generation);
"#,
    },
    Migration {
        description: "evolutions: genome cost (engine speed and memory ratios) and survival score; matches of the game stage",
        sql: r#"
-- What a genome's screen cost the engine against the original's (probe
-- figures speed_ratio and memory_ratio), and the survival score the
-- evolution ranks by (lower is better; see qarena-evolve).
ALTER TABLE genomes ADD COLUMN speed_ratio REAL;
ALTER TABLE genomes ADD COLUMN memory_ratio REAL;
ALTER TABLE genomes ADD COLUMN score REAL;

-- The game stage of an evolution: each match is a run whose engine A is
-- player_a and engine B player_b. Players: 'genome:<id>', 'original',
-- 'recipe:<name>'. stage: 'gate' (a promoted genome against the original,
-- SPRT-gated) or 'league' (survivors and recipes among themselves).
CREATE TABLE evolution_matches (
    id INTEGER PRIMARY KEY,
    evolution_id INTEGER NOT NULL REFERENCES evolutions(id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('gate', 'league')),
    player_a TEXT NOT NULL,
    player_b TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    UNIQUE (evolution_id, stage, player_a, player_b)
) STRICT;
"#,
    },
    Migration {
        description: "evolutions: checks of the best genome and hand recipes on the screening and the unseen positions",
        sql: r#"
-- A strategy of an evolution probed outside its loop: the best genome on
-- positions the evolution never saw, and hand recipes on both halves, so
-- the evolved strategy is compared with recipes on equal terms.
-- subject: 'genome:<id>' or 'recipe:<name>'; suite: 'screen' or 'unseen'.
CREATE TABLE evolution_checks (
    id INTEGER PRIMARY KEY,
    evolution_id INTEGER NOT NULL REFERENCES evolutions(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    suite TEXT NOT NULL CHECK (suite IN ('screen', 'unseen')),
    suite_sha256 TEXT NOT NULL,
    strategy_toml TEXT NOT NULL,
    bits_per_weight REAL NOT NULL,
    bytes INTEGER NOT NULL,
    probe_id INTEGER REFERENCES probes(id) ON DELETE SET NULL,
    quality REAL NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (evolution_id, subject, suite)
) STRICT;
"#,
    },
    Migration {
        description: "game costs: each engine process's CPU time and peak memory per game; per-game speed view",
        sql: r#"
-- What one engine process cost during one game: CPU seconds (user +
-- system, every thread) used between the game's start and end, and the
-- process's peak resident memory so far (VmHWM) read at the game's end.
-- NULL where /proc could not say (the process had exited, no /proc).
CREATE TABLE game_costs (
    game_id        INTEGER NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    engine_id      INTEGER NOT NULL REFERENCES engines(id),
    cpu_seconds    REAL,
    peak_rss_bytes INTEGER,
    PRIMARY KEY (game_id, engine_id)
) STRICT, WITHOUT ROWID;

-- Per game and engine: how fast it played and what it held in memory.
-- avg_move_ms: wall time per move as qarena measured it (request sent to
-- move received); nodes_per_second: nodes over the search time the engine
-- itself reported (UCI `info nodes` and `time`); visits_per_second: the
-- visits the engine reported (KataGo) over the wall time qarena measured
-- for those moves; cpu_ms_per_move: CPU time per move from game_costs.
CREATE VIEW game_cost_metrics AS
WITH mv AS (
    SELECT m.game_id,
           CASE WHEN lower(substr(m.color, 1, 1)) = 'b'
                THEN g.black_engine_id ELSE g.white_engine_id END AS engine_id,
           count(*) AS moves, avg(m.time_ms) AS avg_move_ms
    FROM moves m JOIN games g ON g.id = m.game_id
    GROUP BY m.game_id, engine_id
), se AS (
    SELECT s.game_id, s.engine_id,
           sum(s.nodes) AS nodes,
           sum(CASE WHEN s.nodes IS NOT NULL THEN s.time_ms END) AS nodes_ms,
           sum(s.visits) AS visits,
           sum(CASE WHEN s.visits IS NOT NULL THEN m.time_ms END) AS visits_ms
    FROM self_evals s
    LEFT JOIN moves m ON m.game_id = s.game_id AND m.ply = s.ply
    GROUP BY s.game_id, s.engine_id
)
SELECT gs.run_id, gs.point_index, gs.game_id, gs.engine_id, gs.slot, gs.variant_id,
       mv.moves, mv.avg_move_ms,
       1000.0 * se.nodes / NULLIF(se.nodes_ms, 0) AS nodes_per_second,
       1000.0 * se.visits / NULLIF(se.visits_ms, 0) AS visits_per_second,
       1000.0 * c.cpu_seconds / NULLIF(mv.moves, 0) AS cpu_ms_per_move,
       c.peak_rss_bytes
FROM game_slots gs
LEFT JOIN mv ON mv.game_id = gs.game_id AND mv.engine_id = gs.engine_id
LEFT JOIN se ON se.game_id = gs.game_id AND se.engine_id = gs.engine_id
LEFT JOIN game_costs c ON c.game_id = gs.game_id AND c.engine_id = gs.engine_id;
"#,
    },
    Migration {
        description: "engines: sweep point players linked to the variants they play (backfill)",
        sql: r#"
-- Engine slot a<N> plays sweep point N's variant, b<N> the baseline's (the
-- sweep point labelled as the definition's baseline). New runs link them
-- when the engines are registered; this fills rows written before, first
-- from sweep_points, then, where a point row lost its variant, from the
-- variant file's sha256 in the games' variant_params (only when exactly
-- one catalogued variant has that sha256). Rows already linked are kept.
UPDATE engines SET variant_id = (
    SELECT sp.variant_id FROM sweeps s JOIN sweep_points sp ON sp.sweep_id = s.id
    WHERE s.run_id = engines.run_id
      AND sp.point_index = CAST(substr(engines.slot, 2) AS INTEGER)
    ORDER BY s.id LIMIT 1)
WHERE variant_id IS NULL AND slot GLOB 'a[0-9]*';

UPDATE engines SET variant_id = (
    SELECT sp.variant_id FROM sweeps s JOIN sweep_points sp ON sp.sweep_id = s.id
    WHERE s.run_id = engines.run_id
      AND sp.label = json_extract(s.definition, '$.baseline')
    ORDER BY s.id, sp.point_index LIMIT 1)
WHERE variant_id IS NULL AND slot GLOB 'b[0-9]*'
  AND EXISTS (SELECT 1 FROM sweeps s JOIN sweep_points sp ON sp.sweep_id = s.id
              WHERE s.run_id = engines.run_id
                AND sp.point_index = CAST(substr(engines.slot, 2) AS INTEGER));

UPDATE engines SET variant_id = (
    SELECT v.id FROM variants v
    WHERE v.sha256 = (
        SELECT json_extract(g.variant_params, '$.variant_sha256') FROM games g
        WHERE g.run_id = engines.run_id
          AND g.point_index = CAST(substr(engines.slot, 2) AS INTEGER)
          AND json_valid(g.variant_params)
          AND json_extract(g.variant_params, '$.variant_sha256') IS NOT NULL
        ORDER BY g.game_index LIMIT 1)
    GROUP BY v.sha256 HAVING count(*) = 1)
WHERE variant_id IS NULL AND slot GLOB 'a[0-9]*';

UPDATE engines SET variant_id = (
    SELECT v.id FROM variants v
    WHERE v.sha256 = (
        SELECT json_extract(base.variant_params, '$.variant_sha256')
        FROM games g JOIN games base ON base.run_id = g.run_id
        WHERE g.run_id = engines.run_id
          AND g.point_index = CAST(substr(engines.slot, 2) AS INTEGER)
          AND json_valid(g.variant_params) AND json_valid(base.variant_params)
          AND json_extract(base.variant_params, '$.point')
              = json_extract(g.variant_params, '$.baseline')
          AND json_extract(base.variant_params, '$.variant_sha256') IS NOT NULL
        ORDER BY g.game_index, base.game_index LIMIT 1)
    GROUP BY v.sha256 HAVING count(*) = 1)
WHERE variant_id IS NULL AND slot GLOB 'b[0-9]*';
"#,
    },
    Migration {
        description: "game_summary: one row per game and player with result, judge and self-eval metrics",
        sql: r#"
-- One row per game and player (the game's black and white engines): the
-- game's run, point, index, result and termination; this player's slot,
-- side, colour, outcome and variant; the verdicts of the run's newest
-- judge run on its moves (judge_run_id NULL: the run has no judge run;
-- judge columns NULL: that judge run has not judged this game); and its
-- own beliefs while it played (self columns NULL: no self-evaluations).
-- outcome: 'win', 'loss' or 'draw' for this player, NULL for aborted games.
CREATE VIEW game_summary AS
SELECT g.run_id, r.tag AS run_tag, g.point_index, g.game_index, g.id AS game_id,
       g.pair_index, e.id AS engine_id, e.slot, substr(e.slot, 1, 1) AS side,
       e.label, e.variant_id,
       CASE WHEN e.id = g.black_engine_id THEN 'black' ELSE 'white' END AS color,
       g.result, g.winner, g.termination, g.move_count,
       CASE WHEN g.termination = 'aborted' THEN NULL
            WHEN g.winner IS NULL THEN 'draw'
            WHEN g.winner = substr(e.slot, 1, 1) THEN 'win'
            ELSE 'loss' END AS outcome,
       nj.judge_run_id,
       jm.moves_judged, jm.avg_loss_winrate, jm.avg_loss_score, jm.avg_loss_cp,
       jm.blunders, jm.final_winrate, jm.final_score,
       sm.self_evals, sm.avg_self_winrate, sm.avg_self_score_lead, sm.avg_self_cp,
       sm.avg_policy_entropy
FROM games g
JOIN runs r ON r.id = g.run_id
JOIN engines e ON e.id IN (g.black_engine_id, g.white_engine_id)
LEFT JOIN (SELECT run_id, max(id) AS judge_run_id FROM judge_runs GROUP BY run_id) nj
       ON nj.run_id = g.run_id
LEFT JOIN game_judge_metrics jm
       ON jm.judge_run_id = nj.judge_run_id AND jm.game_id = g.id AND jm.engine_id = e.id
LEFT JOIN game_self_metrics sm ON sm.game_id = g.id AND sm.engine_id = e.id;
"#,
    },
    Migration {
        description: "game_cost_metrics: per-row subqueries, so reading one game or one run touches only its moves",
        sql: r#"
-- The same figures as before (see migration 8), computed per game and
-- engine with correlated subqueries over the primary keys of moves and
-- self_evals: a filter on the run or the game is applied first, where the
-- grouped form aggregated every move in the file for each lookup.
DROP VIEW game_cost_metrics;
CREATE VIEW game_cost_metrics AS
SELECT x.run_id, x.point_index, x.game_id, x.engine_id, x.slot, x.variant_id,
       x.moves, x.avg_move_ms,
       1000.0 * x.nodes / NULLIF(x.nodes_ms, 0) AS nodes_per_second,
       1000.0 * x.visits / NULLIF(x.visits_ms, 0) AS visits_per_second,
       1000.0 * c.cpu_seconds / NULLIF(x.moves, 0) AS cpu_ms_per_move,
       c.peak_rss_bytes
FROM (
    SELECT g.run_id, g.point_index, g.id AS game_id, e.id AS engine_id, e.slot, e.variant_id,
           (SELECT count(*) FROM moves m WHERE m.game_id = g.id
              AND (lower(substr(m.color, 1, 1)) = 'b') = (e.id = g.black_engine_id)) AS moves,
           (SELECT avg(m.time_ms) FROM moves m WHERE m.game_id = g.id
              AND (lower(substr(m.color, 1, 1)) = 'b') = (e.id = g.black_engine_id)) AS avg_move_ms,
           (SELECT sum(s.nodes) FROM self_evals s
              WHERE s.game_id = g.id AND s.engine_id = e.id) AS nodes,
           (SELECT sum(s.time_ms) FROM self_evals s
              WHERE s.game_id = g.id AND s.engine_id = e.id AND s.nodes IS NOT NULL) AS nodes_ms,
           (SELECT sum(s.visits) FROM self_evals s
              WHERE s.game_id = g.id AND s.engine_id = e.id) AS visits,
           (SELECT sum(m.time_ms) FROM self_evals s
              JOIN moves m ON m.game_id = s.game_id AND m.ply = s.ply
              WHERE s.game_id = g.id AND s.engine_id = e.id AND s.visits IS NOT NULL) AS visits_ms
    FROM games g JOIN engines e ON e.id IN (g.black_engine_id, g.white_engine_id)
) x
LEFT JOIN game_costs c ON c.game_id = x.game_id AND c.engine_id = x.engine_id;
"#,
    },
    Migration {
        description: "language-model evaluations: next-token KL over a text, multiple-choice answers, per item",
        sql: r#"
-- One evaluation of a language model (a variant or the original) against
-- the reference or a data set, keyed by everything that decides its
-- result, so asking again reads it back. kind: 'kl' (a text) or 'mc'
-- (multiple-choice items). subject_sha256: the model file's sha256, with
-- the strategy's when the variant was built in memory.
CREATE TABLE llm_evals (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('kl', 'mc')),
    subject TEXT NOT NULL,
    subject_sha256 TEXT NOT NULL,
    reference_sha256 TEXT NOT NULL DEFAULT '',
    strategy TEXT,
    bits_per_weight REAL,
    data_name TEXT NOT NULL,
    data_sha256 TEXT NOT NULL,
    settings TEXT NOT NULL,
    summary TEXT NOT NULL,
    seconds REAL NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (kind, subject_sha256, reference_sha256, data_sha256, settings)
) STRICT;
-- Per scored token (kl) or per item (mc): the figures as JSON.
CREATE TABLE llm_eval_items (
    eval_id INTEGER NOT NULL REFERENCES llm_evals(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    item_id TEXT,
    result TEXT NOT NULL,
    PRIMARY KEY (eval_id, idx)
) STRICT;
"#,
    },
    Migration {
        description: "teacher-logit caches: a registry of the files distillation reads",
        sql: r#"
-- A teacher-logit cache file (top-K next-token log-probabilities of a
-- reference over a text): where it is and what it holds.
CREATE TABLE teacher_caches (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    k INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    positions INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    notes TEXT,
    created_at TEXT NOT NULL
) STRICT;
"#,
    },
    Migration {
        description: "key/value-cache statistics of language-model evaluations",
        sql: r#"
-- What entered a quantized key/value cache during an evaluation (a KV
-- configuration with collect_stats): per layer, part ('k' or 'v') and
-- head, the values, their largest magnitude, how many fell outside their
-- group's grid, and the scales (range and a histogram by power of two).
CREATE TABLE kv_stats (
    eval_id INTEGER NOT NULL REFERENCES llm_evals(id) ON DELETE CASCADE,
    layer INTEGER NOT NULL,
    part TEXT NOT NULL CHECK (part IN ('k', 'v')),
    head INTEGER NOT NULL,
    n_values INTEGER NOT NULL,
    absmax REAL NOT NULL,
    clipped INTEGER NOT NULL,
    scale_min REAL NOT NULL,
    scale_max REAL NOT NULL,
    scale_log2_hist TEXT NOT NULL,
    PRIMARY KEY (eval_id, layer, part, head)
) STRICT;
"#,
    },
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use super::MIGRATIONS;
    use crate::{EngineSlot, Slot, Store, VariantId};

    /// A database written before engines were linked to variants: the
    /// migrations up to the backfill, and a sweep's rows with every
    /// `engines.variant_id` NULL, as the sweep stored them.
    #[test]
    fn the_backfill_links_old_sweep_engines_to_their_variants() {
        let backfill = MIGRATIONS
            .iter()
            .position(|m| m.description.starts_with("engines: sweep point players"))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite");
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..backfill] {
                c.execute_batch(m.sql).unwrap();
            }
            c.pragma_update(None, "user_version", backfill as i64)
                .unwrap();
            c.execute_batch(
                r#"
INSERT INTO runs (id, tag, kind, created_at, argv, settings, software_version)
VALUES (1, 'ladder', 'sweep', 't', '[]', '{}', 'old'),
       (2, 'plain', 'match', 't', '[]', '{}', 'old');
INSERT INTO models (id, path, sha256, format, bytes, created_at) VALUES (1, 'm', 'm0', 'nnue', 1, 't');
INSERT INTO strategies (id, name, toml, sha256)
VALUES (1, 'orig', '', 's1'), (2, 'int4', '', 's2'), (3, 'lost', '', 's3'),
       (4, 'dup-a', '', 's4'), (5, 'dup-b', '', 's5');
INSERT INTO variants (id, model_id, strategy_id, path, sha256, manifest, created_at)
VALUES (1, 1, 1, 'v1', 'sha-orig', '{}', 't'), (2, 1, 2, 'v2', 'sha-int4', '{}', 't'),
       (3, 1, 3, 'v3', 'sha-lost', '{}', 't'), (4, 1, 4, 'v4', 'sha-dup', '{}', 't'),
       (5, 1, 5, 'v5', 'sha-dup', '{}', 't');
INSERT INTO sweeps (id, run_id, name, definition) VALUES (1, 1, 'ladder', '{"baseline": "orig"}');
-- Point 2 lost its variant row link; point 3's file is ambiguous.
INSERT INTO sweep_points (sweep_id, point_index, label, variant_id, params)
VALUES (1, 0, 'orig', 1, '{}'), (1, 1, 'int4', 2, '{}'), (1, 2, 'lost', NULL, '{}'),
       (1, 3, 'dup', NULL, '{}');
INSERT INTO engines (id, run_id, slot, label, command, protocol)
VALUES (10, 1, 'a0', 'orig', '[]', 'uci'), (11, 1, 'b0', 'orig', '[]', 'uci'),
       (12, 1, 'a1', 'int4', '[]', 'uci'), (13, 1, 'b1', 'orig', '[]', 'uci'),
       (14, 1, 'a2', 'lost', '[]', 'uci'), (15, 1, 'b2', 'orig', '[]', 'uci'),
       (16, 1, 'a3', 'dup', '[]', 'uci'), (17, 1, 'judge', 'judge-uci', '[]', 'uci'),
       (20, 2, 'a', 'x', '[]', 'uci'), (21, 2, 'b', 'y', '[]', 'uci');
INSERT INTO games (run_id, point_index, game_index, black_engine_id, white_engine_id,
                   termination, move_count, record, record_format, started_at, ended_at,
                   duration_ms, variant_params)
VALUES (1, 2, 0, 14, 15, 'checkmate', 0, '', 'pgn', 't', 't', 0,
        '{"point": "lost", "baseline": "orig", "variant_sha256": "sha-lost"}'),
       (1, 3, 0, 16, 15, 'checkmate', 0, '', 'pgn', 't', 't', 0,
        '{"point": "dup", "baseline": "orig", "variant_sha256": "sha-dup"}');
"#,
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let linked = |run: i64| -> Vec<(EngineSlot, Option<VariantId>)> {
            store
                .engines(crate::RunId(run))
                .unwrap()
                .into_iter()
                .map(|e| (e.slot, e.variant))
                .collect()
        };
        let point = |s: Slot, i: u32| EngineSlot::PointPlayer(s, i);
        assert_eq!(
            linked(1),
            [
                (point(Slot::A, 0), Some(VariantId(1))),
                (point(Slot::B, 0), Some(VariantId(1))),
                (point(Slot::A, 1), Some(VariantId(2))),
                (point(Slot::B, 1), Some(VariantId(1))),
                // From the games' variant file sha256.
                (point(Slot::A, 2), Some(VariantId(3))),
                (point(Slot::B, 2), Some(VariantId(1))),
                // Two variants share the file: not guessed.
                (point(Slot::A, 3), None),
                (EngineSlot::Judge, None),
            ]
        );
        assert_eq!(
            linked(2),
            [
                (EngineSlot::Player(Slot::A), None),
                (EngineSlot::Player(Slot::B), None)
            ]
        );
    }
}
