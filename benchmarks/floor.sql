-- The performance FLOOR: funnel_factors straight from the landing files, in one DuckDB script.
--
-- Hand-written, independent of pipelines/ and kpi_models/, and deliberately minimal: nothing is
-- materialised but small daily aggregates, no rejects table, no row lineage. It still applies every
-- contract rule that can change a funnel number (docs/landing-contract.md, docs/published-tables.md):
--   * values are trimmed; empty is NULL; every column of every row is checked (required, id,
--     timestamp, date, number >= 0, allowed set, currency, closed_at when won/lost, "in the future")
--     and a row that breaks any rule is not counted; unreadable CSV / JSON lines are skipped;
--   * a record delivered more than once counts once: for opportunities the latest updated_at wins
--     (tie: later delivery), for the other entities the last valid delivery wins;
--   * periods are local calendar days/ISO weeks/months/quarters/years in the reporting time zone;
--   * dimensions all/team/rep (inbound: all only); an unknown rep counts under team '(unassigned)'.
-- It reads the formats the sample generator delivers (calls, meetings, opportunities and reps as
-- CSV, emails as JSON lines, web visits as Parquet with visited_at stored as TIMESTAMPTZ).
--
-- Run by benchmarks/floor.py, which sets the variables `landing` (folder) and `tz` (reporting
-- time zone) and opens the output database.
--
-- Shape of each entity query: read every file as text (with its delivery order), type the values
-- once in a projection, then keep the last valid version per id with one hash aggregate
-- (`arg_max(..) FILTER (WHERE valid)`). The validity test sits in the aggregate's FILTER rather
-- than in a WHERE clause on purpose: DuckDB pushes WHERE filters below the projection and inlines
-- the typed expressions there, which evaluates the timestamp parsing two or three times a row.

-- Text value: trimmed of spaces, tabs, CR and LF; empty -> NULL. (trim() with a character set
-- costs ~0.5 us a value, so it runs only when the first or last character is <= ' '.)
CREATE OR REPLACE TEMP MACRO tx(v) AS CASE
    WHEN ascii(v) <= 32 OR ascii(right(v, 1)) <= 32
    THEN nullif(trim(v, ' ' || chr(9) || chr(10) || chr(13)), '')
    ELSE v END;
-- Ids: present (when required), without a quote or a control character.
CREATE OR REPLACE TEMP MACRO id_ok(v) AS coalesce(NOT regexp_matches(v, '["\x00-\x1f\x7f]'), false);
CREATE OR REPLACE TEMP MACRO opt_id_ok(v) AS
    coalesce(NOT regexp_matches(v, '["\x00-\x1f\x7f]'), true);
-- Timestamps: YYYY-MM-DD, T or space, HH:MM[:SS[.ffffff]], then optional Z or +-HH[:MM]. The
-- instant: with an offset as written, without one as wall-clock time in the reporting zone.
CREATE OR REPLACE TEMP MACRO ts_parse(v) AS CASE
    WHEN NOT regexp_full_match(
        v, '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:\d{2})?)?')
        THEN NULL
    WHEN v[-1] = 'Z' OR contains(v[17:], '+') OR contains(v[17:], '-')
        THEN TRY_CAST(v AS TIMESTAMPTZ)
    ELSE timezone(getvariable('tz'), TRY_CAST(v AS TIMESTAMP)) END;
-- A timestamp is fine when it parsed and is not more than a day ahead of the run.
CREATE OR REPLACE TEMP MACRO ts_ok(t) AS coalesce(t <= now() + INTERVAL 1 DAY, false);
CREATE OR REPLACE TEMP MACRO opt_ts_ok(v, t) AS v IS NULL OR ts_ok(t);
CREATE OR REPLACE TEMP MACRO local_day(t) AS CAST(timezone(getvariable('tz'), t) AS DATE);
CREATE OR REPLACE TEMP MACRO date_ok(v) AS
    coalesce(regexp_full_match(v, '\d{4}-\d{2}-\d{2}') AND TRY_CAST(v AS DATE) IS NOT NULL, false);
-- Numbers: decimal text with '.', >= 0 and finite.
CREATE OR REPLACE TEMP MACRO num(v) AS CASE
    WHEN regexp_full_match(v, '[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?')
    THEN TRY_CAST(v AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO num_ok(x) AS coalesce(x BETWEEN 0 AND 1.7976931348623157e308, false);

-- reps: the last valid delivery of each rep_id gives its team ---------------------------------
CREATE OR REPLACE TEMP TABLE reps AS
WITH t AS (
    SELECT ordinality AS o, tx(rep_id) AS rep_id, tx(rep_name) AS rep_name, tx(team) AS team,
        tx(region) AS region, tx(hired_on) AS hired_on, tx(left_on) AS left_on
    FROM read_csv(getvariable('landing') || '/reps/**/*.csv', header = true, all_varchar = true,
        delim = ',', quote = '"', escape = '"', union_by_name = true, ignore_errors = true)
        WITH ORDINALITY
), kept AS (
    SELECT rep_id, arg_max(team, o) FILTER (WHERE id_ok(rep_id) AND rep_name IS NOT NULL
        AND team IS NOT NULL AND region IS NOT NULL AND date_ok(hired_on)
        AND (left_on IS NULL OR date_ok(left_on))) AS team
    FROM t GROUP BY rep_id
)
SELECT rep_id, team FROM kept WHERE team IS NOT NULL;

-- daily stage counts per (funnel, local day, rep) ----------------------------------------------
CREATE OR REPLACE TEMP TABLE daily (
    funnel VARCHAR, d DATE, rep_id VARCHAR, s1 DOUBLE, s2 DOUBLE, s3 DOUBLE, v DOUBLE);

-- calls: outbound calls are outbound activities
INSERT INTO daily
WITH t AS (
    SELECT ordinality AS o, tx(call_id) AS call_id, tx(rep_id) AS rep_id,
        tx(started_at) AS started_at, tx(duration_seconds) AS duration_seconds,
        lower(tx(direction)) AS direction, lower(tx(outcome)) AS outcome,
        tx(contact_id) AS contact_id, tx(account_id) AS account_id
    FROM read_csv(getvariable('landing') || '/calls/**/*.csv', header = true, all_varchar = true,
        delim = ',', quote = '"', escape = '"', union_by_name = true, ignore_errors = true)
        WITH ORDINALITY
), typed AS (
    SELECT o, call_id, rep_id, direction, ts_parse(started_at) AS ts,
        id_ok(call_id) AND id_ok(rep_id) AND num_ok(num(duration_seconds))
        AND direction IN ('outbound', 'inbound')
        AND outcome IN ('connected', 'no_answer', 'voicemail', 'busy', 'failed')
        AND opt_id_ok(contact_id) AND opt_id_ok(account_id) AS ok
    FROM t
), kept AS (
    SELECT arg_max({'d': local_day(ts), 'rep_id': rep_id, 'out': direction = 'outbound'}, o)
        FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY call_id
)
SELECT 'outbound', k.d, k.rep_id, count(*), 0, 0, 0 FROM kept WHERE k.out GROUP BY ALL;

-- emails: every email sent is an outbound activity
INSERT INTO daily
WITH t AS (
    SELECT ordinality AS o, tx(email_id) AS email_id, tx(rep_id) AS rep_id,
        tx(sent_at) AS sent_at, tx(contact_id) AS contact_id, tx(account_id) AS account_id,
        tx(replied_at) AS replied_at
    FROM read_json(getvariable('landing') || '/emails/**/*.jsonl', format = 'newline_delimited',
        columns = {'email_id': 'VARCHAR', 'rep_id': 'VARCHAR', 'sent_at': 'VARCHAR',
                   'contact_id': 'VARCHAR', 'account_id': 'VARCHAR', 'replied_at': 'VARCHAR'},
        ignore_errors = true)
        WITH ORDINALITY
), typed AS (
    SELECT o, email_id, rep_id, ts_parse(sent_at) AS ts,
        id_ok(email_id) AND id_ok(rep_id) AND opt_id_ok(contact_id) AND opt_id_ok(account_id)
        AND opt_ts_ok(replied_at, ts_parse(replied_at)) AS ok
    FROM t
), kept AS (
    SELECT arg_max({'d': local_day(ts), 'rep_id': rep_id}, o) FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY email_id
)
SELECT 'outbound', k.d, k.rep_id, count(*), 0, 0, 0 FROM kept WHERE k IS NOT NULL GROUP BY ALL;

-- meetings: held inbound / outbound meetings are stage 2 of their funnel
INSERT INTO daily
WITH t AS (
    SELECT ordinality AS o, tx(meeting_id) AS meeting_id, tx(rep_id) AS rep_id,
        tx(account_id) AS account_id, tx(booked_at) AS booked_at,
        tx(scheduled_at) AS scheduled_at, lower(tx(status)) AS status,
        lower(tx(source)) AS source, tx(visitor_id) AS visitor_id
    FROM read_csv(getvariable('landing') || '/meetings/**/*.csv', header = true,
        all_varchar = true, delim = ',', quote = '"', escape = '"', union_by_name = true,
        ignore_errors = true)
        WITH ORDINALITY
), typed AS (
    SELECT o, meeting_id, rep_id, status, source, ts_parse(scheduled_at) AS ts,
        id_ok(meeting_id) AND id_ok(rep_id) AND opt_id_ok(account_id)
        AND ts_ok(ts_parse(booked_at))
        AND status IN ('scheduled', 'held', 'no_show', 'cancelled')
        AND source IN ('inbound', 'outbound', 'referral', 'other')
        AND opt_id_ok(visitor_id) AS ok
    FROM t
), kept AS (
    SELECT arg_max({'d': local_day(ts), 'rep_id': rep_id, 'status': status, 'source': source}, o)
        FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY meeting_id
)
SELECT k.source, k.d, k.rep_id, 0, count(*), 0, 0
FROM kept WHERE k.status = 'held' AND k.source IN ('inbound', 'outbound') GROUP BY ALL;

-- opportunities: the version with the latest updated_at wins (tie: the later delivery)
INSERT INTO daily
WITH t AS (
    SELECT ordinality AS o, tx(opportunity_id) AS opportunity_id, tx(rep_id) AS rep_id,
        tx(account_id) AS account_id, tx(meeting_id) AS meeting_id,
        lower(tx(source)) AS source, tx(created_at) AS created_at, tx(closed_at) AS closed_at,
        lower(tx(status)) AS status, tx(amount) AS amount, tx(currency) AS currency,
        tx(updated_at) AS updated_at
    FROM read_csv(getvariable('landing') || '/opportunities/**/*.csv', header = true,
        all_varchar = true, delim = ',', quote = '"', escape = '"', union_by_name = true,
        ignore_errors = true)
        WITH ORDINALITY
), typed AS (
    SELECT o, opportunity_id, rep_id, source, status, closed_at,
        ts_parse(closed_at) AS closed, ts_parse(updated_at) AS updated, num(amount) AS value,
        id_ok(opportunity_id) AND id_ok(rep_id) AND opt_id_ok(account_id)
        AND opt_id_ok(meeting_id) AND source IN ('inbound', 'outbound', 'referral', 'other')
        AND ts_ok(ts_parse(created_at)) AND status IN ('open', 'won', 'lost')
        AND coalesce(regexp_full_match(currency, '[A-Za-z]{3}'), false) AS ok
    FROM t
), kept AS (
    SELECT arg_max({'d': local_day(closed), 'rep_id': rep_id, 'status': status,
                    'source': source, 'value': value}, (updated, o))
        FILTER (WHERE ok AND opt_ts_ok(closed_at, closed) AND ts_ok(updated) AND num_ok(value)
            AND (status = 'open' OR closed_at IS NOT NULL)) AS k
    FROM typed GROUP BY opportunity_id
), closed AS (
    SELECT k.* FROM kept WHERE k.status IN ('won', 'lost') AND k.d IS NOT NULL
)
SELECT 'universal', d, rep_id, count(*), count(*) FILTER (WHERE status = 'won'), 0,
    coalesce(sum(value) FILTER (WHERE status = 'won'), 0)
FROM closed GROUP BY ALL
UNION ALL
SELECT source, d, rep_id, 0, 0, count(*), sum(value)
FROM closed WHERE status = 'won' AND source IN ('inbound', 'outbound') GROUP BY ALL;

-- web visits: distinct visitors per local day (counted distinct again per period below)
CREATE OR REPLACE TEMP TABLE visitor_days AS
WITH t AS (
    SELECT file_index AS f, file_row_number AS r, tx(visit_id) AS visit_id,
        tx(visitor_id) AS visitor_id, TRY_CAST(visited_at AS TIMESTAMPTZ) AS ts,
        lower(tx(channel)) AS channel, tx(landing_page) AS landing_page,
        tx(account_id) AS account_id
    FROM read_parquet(getvariable('landing') || '/web_visits/**/*.parquet',
        file_row_number = true, union_by_name = true)
), typed AS (
    SELECT f, r, visit_id, visitor_id, ts,
        id_ok(visit_id) AND id_ok(visitor_id) AND landing_page IS NOT NULL
        AND channel IN ('organic', 'paid', 'social', 'email', 'referral', 'direct', 'other')
        AND opt_id_ok(account_id) AS ok
    FROM t
), kept AS (
    SELECT arg_max({'d': local_day(ts), 'visitor_id': visitor_id}, f * 1099511627776 + r)
        FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY visit_id
)
SELECT DISTINCT k.d, k.visitor_id FROM kept WHERE k IS NOT NULL;

-- roll the days up to every grain and dimension ------------------------------------------------
CREATE OR REPLACE TEMP TABLE grains AS
SELECT * FROM (VALUES ('day'), ('week'), ('month'), ('quarter'), ('year')) g(grain);

CREATE OR REPLACE TEMP MACRO period_start(grain, d) AS
    CASE WHEN grain = 'day' THEN d ELSE CAST(date_trunc(grain, d) AS DATE) END;

-- distinct visitors per period, one grain at a time (a distinct count per grain is cheaper than
-- one over the five grains at once)
CREATE OR REPLACE TEMP TABLE visitors AS
SELECT 'day' AS grain, d AS period_start, count(*)::DOUBLE AS s1 FROM visitor_days GROUP BY ALL
UNION ALL
SELECT 'week', period_start('week', d), count(DISTINCT visitor_id) FROM visitor_days GROUP BY ALL
UNION ALL
SELECT 'month', period_start('month', d), count(DISTINCT visitor_id) FROM visitor_days GROUP BY ALL
UNION ALL
SELECT 'quarter', period_start('quarter', d), count(DISTINCT visitor_id)
FROM visitor_days GROUP BY ALL
UNION ALL
SELECT 'year', period_start('year', d), count(DISTINCT visitor_id) FROM visitor_days GROUP BY ALL;

CREATE OR REPLACE TABLE funnel_factors AS
WITH placed AS (
    SELECT funnel, grain, period_start(grain, d) AS period_start, rep_id,
        coalesce(r.team, '(unassigned)') AS team, s1, s2, s3, v
    FROM daily LEFT JOIN reps AS r USING (rep_id) CROSS JOIN grains
), rolled AS (
    SELECT funnel, grain, period_start,
        CASE WHEN GROUPING(team) = 0 THEN 'team' WHEN GROUPING(rep_id) = 0 THEN 'rep'
             ELSE 'all' END AS dimension,
        coalesce(team, rep_id, 'all') AS member,
        sum(s1) AS s1, sum(s2) AS s2, sum(s3) AS s3, sum(v) AS v
    FROM placed
    GROUP BY GROUPING SETS ((funnel, grain, period_start), (funnel, grain, period_start, team),
        (funnel, grain, period_start, rep_id))
), stages AS (
    SELECT funnel, grain, period_start, dimension, member, s1, s2, s3, v
    FROM rolled WHERE funnel <> 'inbound'
    UNION ALL
    SELECT 'inbound', grain, period_start, 'all', 'all', vi.s1,
        coalesce(r.s2, 0), coalesce(r.s3, 0), coalesce(r.v, 0)
    FROM visitors AS vi
    LEFT JOIN (SELECT * FROM rolled WHERE funnel = 'inbound' AND dimension = 'all') AS r
        USING (grain, period_start)
), wide AS (
    SELECT funnel, grain, period_start, dimension, member,
        CASE WHEN funnel = 'universal' THEN [
            {'factor': 'opportunities', 'value': s1},
            {'factor': 'hit_rate', 'value': s2 / nullif(s1, 0)},
            {'factor': 'avg_contract_value', 'value': v / nullif(s2, 0)},
            {'factor': 'total_sales', 'value': v}]
        ELSE [
            {'factor': CASE funnel WHEN 'inbound' THEN 'visitors' ELSE 'activities' END,
             'value': s1},
            {'factor': CASE funnel WHEN 'inbound' THEN 'visit_to_meeting_rate'
                                   ELSE 'activity_to_meeting_rate' END,
             'value': s2 / nullif(s1, 0)},
            {'factor': 'meeting_hit_rate', 'value': s3 / nullif(s2, 0)},
            {'factor': 'avg_contract_value', 'value': v / nullif(s3, 0)},
            {'factor': 'total_sales', 'value': v}] END AS factors
    FROM stages
    WHERE s1 > 0
)
SELECT funnel, grain, period_start, dimension, member,
    factors[i].factor AS factor, CAST(i AS INTEGER) AS position,
    CAST(factors[i].value AS DOUBLE) AS value
FROM wide, range(1, len(factors) + 1) AS p(i)
ORDER BY funnel, grain, period_start, dimension, member, position;
