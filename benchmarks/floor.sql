-- The performance FLOOR: funnel_factors straight from the landing files, in one DuckDB script.
--
-- Hand-written, independent of pipelines/ and kpi_models/, and deliberately minimal: nothing is
-- materialised but the kept records the funnels need and small daily aggregates, no rejects table,
-- no row lineage. It writes every row of `funnel_factors` that `kpi run` publishes for the funnels
-- in kpi_definitions/funnels.yml (written out here by hand, not read from the YAML):
--   * universal   by all / team / rep / region
--   * inbound     by all / first_touch_channel / last_touch_channel / first_touch_landing_page
--   * outbound    by all / team / rep / region
--   * inbound_cohort  by all / first_touch_channel
--   * outbound_cohort by all / team / rep
-- at the grains day, week, month, quarter and year. It applies every contract rule that can change
-- a funnel number (docs/landing-contract.md, docs/published-tables.md):
--   * values are trimmed; empty is NULL; every column of every row is checked (required, id,
--     timestamp, date, number >= 0, allowed set, currency, closed_at when won/lost, "in the future")
--     and a row that breaks any rule is not counted; unreadable CSV / JSON lines are skipped;
--   * a record delivered more than once counts once: for opportunities the latest updated_at wins
--     (tie: later delivery), for the other entities the last valid delivery wins;
--   * periods are local calendar days/ISO weeks/months/quarters/years in the reporting time zone;
--   * an unknown rep counts under team and region '(unassigned)';
--   * attribution (the marts): a visitor's first touch is the channel / landing page of their first
--     visit; a visit is its own last touch; a meeting's last touch is the visitor's last visit at
--     or before booked_at; an opportunity takes its meeting's touches; '(none)' without a touch.
--     Landing pages have e-mail addresses and phone numbers scrubbed as in staging. Visitor ids are
--     counted raw (staging hashes them one to one, which changes no count or join);
--   * cohorts: each later event is credited to the closest preceding event of the stage before
--     with the same link (account / visitor, then meeting) within the window (30 / 180 days), and
--     counted in the period and under the members of the first-stage event its chain starts from.
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
-- Timestamps: YYYY-MM-DD, T or space, HH:MM[:SS[.fraction]], then optional Z or +-HH[[:]MM]. The
-- instant: with an offset as written, without one as wall-clock time in the reporting zone.
CREATE OR REPLACE TEMP MACRO ts_parse(v) AS CASE
    WHEN NOT regexp_full_match(
        v, '\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}(:?\d{2})?)?')
        THEN NULL
    WHEN v[-1] = 'Z' OR contains(v[17:], '+') OR contains(v[17:], '-')
        THEN TRY_CAST(v AS TIMESTAMPTZ)
    WHEN v[-1] = 'z' THEN TRY_CAST(upper(v) AS TIMESTAMPTZ)
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
-- Free text as staging publishes it: e-mail addresses -> '(e-mail)', phone numbers -> '(phone)'.
CREATE OR REPLACE TEMP MACRO scrub(v) AS regexp_replace(
    regexp_replace(v,
        '[A-Za-z0-9._%+-]+(@|%40)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}', '(e-mail)', 'g'),
    '(\+|%2[Bb])[0-9][0-9 ().-]{5,}[0-9]', '(phone)', 'g');

-- reps: the last valid delivery of each rep_id gives its team and region ------------------------
CREATE OR REPLACE TEMP TABLE reps AS
WITH t AS (
    SELECT ordinality AS o, tx(rep_id) AS rep_id, tx(rep_name) AS rep_name, tx(team) AS team,
        tx(region) AS region, tx(hired_on) AS hired_on, tx(left_on) AS left_on
    FROM read_csv(getvariable('landing') || '/reps/**/*.csv', header = true, all_varchar = true,
        delim = ',', quote = '"', escape = '"', union_by_name = true, ignore_errors = true)
        WITH ORDINALITY
), kept AS (
    SELECT rep_id, arg_max({'team': team, 'region': region}, o) FILTER (
        WHERE id_ok(rep_id) AND rep_name IS NOT NULL AND team IS NOT NULL
        AND region IS NOT NULL AND date_ok(hired_on)
        AND (left_on IS NULL OR date_ok(left_on))) AS k
    FROM t GROUP BY rep_id
)
SELECT rep_id, k.team, k.region FROM kept WHERE k IS NOT NULL;

-- outbound activities: outbound calls and every email sent ---------------------------------------
CREATE OR REPLACE TEMP TABLE acts AS
WITH t AS (
    SELECT ordinality AS o, tx(call_id) AS call_id, tx(rep_id) AS rep_id,
        tx(started_at) AS started_at, tx(duration_seconds) AS duration_seconds,
        lower(tx(direction)) AS direction, lower(tx(outcome)) AS outcome,
        tx(contact_id) AS contact_id, tx(account_id) AS account_id
    FROM read_csv(getvariable('landing') || '/calls/**/*.csv', header = true, all_varchar = true,
        delim = ',', quote = '"', escape = '"', union_by_name = true, ignore_errors = true)
        WITH ORDINALITY
), typed AS (
    SELECT o, call_id, rep_id, direction, account_id, ts_parse(started_at) AS ts,
        id_ok(call_id) AND id_ok(rep_id) AND num_ok(num(duration_seconds))
        AND direction IN ('outbound', 'inbound')
        AND outcome IN ('connected', 'no_answer', 'voicemail', 'busy', 'failed')
        AND opt_id_ok(contact_id) AND opt_id_ok(account_id) AS ok
    FROM t
), kept AS (
    SELECT call_id, arg_max({'ts': ts, 'rep_id': rep_id, 'account_id': account_id,
                    'out': direction = 'outbound'}, o)
        FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY call_id
)
-- (src, id): which activity a cohort credits when two of an account's share an instant
SELECT k.ts, local_day(k.ts) AS d, k.rep_id, k.account_id, 1 AS src, call_id AS id
FROM kept WHERE k.out;

INSERT INTO acts
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
    SELECT o, email_id, rep_id, account_id, ts_parse(sent_at) AS ts,
        id_ok(email_id) AND id_ok(rep_id) AND opt_id_ok(contact_id) AND opt_id_ok(account_id)
        AND opt_ts_ok(replied_at, ts_parse(replied_at)) AS ok
    FROM t
), kept AS (
    SELECT email_id, arg_max({'ts': ts, 'rep_id': rep_id, 'account_id': account_id}, o)
        FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY email_id
)
SELECT k.ts, local_day(k.ts), k.rep_id, k.account_id, 2, email_id FROM kept WHERE k IS NOT NULL;

-- meetings: every kept meeting (attribution of opportunities needs them all) ---------------------
CREATE OR REPLACE TEMP TABLE meetings AS
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
    SELECT o, meeting_id, rep_id, account_id, status, source, visitor_id,
        ts_parse(booked_at) AS booked, ts_parse(scheduled_at) AS ts,
        id_ok(meeting_id) AND id_ok(rep_id) AND opt_id_ok(account_id)
        AND status IN ('scheduled', 'held', 'no_show', 'cancelled')
        AND source IN ('inbound', 'outbound', 'referral', 'other')
        AND opt_id_ok(visitor_id) AS ok
    FROM t
), kept AS (
    SELECT meeting_id, arg_max({'d': local_day(ts), 'booked': booked, 'rep_id': rep_id,
                    'account_id': account_id, 'visitor_id': visitor_id,
                    'held': status = 'held', 'source': source}, o)
        FILTER (WHERE ok AND ts_ok(booked) AND ts_ok(ts)) AS k
    FROM typed GROUP BY meeting_id
)
SELECT meeting_id, k.* FROM kept WHERE k IS NOT NULL;

-- opportunities: the version with the latest updated_at wins (tie: the later delivery); closed ones
CREATE OR REPLACE TEMP TABLE opps AS
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
    SELECT o, opportunity_id, rep_id, meeting_id, source, status, closed_at,
        ts_parse(closed_at) AS closed, ts_parse(updated_at) AS updated, num(amount) AS value,
        id_ok(opportunity_id) AND id_ok(rep_id) AND opt_id_ok(account_id)
        AND opt_id_ok(meeting_id) AND source IN ('inbound', 'outbound', 'referral', 'other')
        AND ts_ok(ts_parse(created_at)) AND status IN ('open', 'won', 'lost')
        AND coalesce(regexp_full_match(currency, '[A-Za-z]{3}'), false) AS ok
    FROM t
), kept AS (
    SELECT arg_max({'closed': closed, 'rep_id': rep_id, 'meeting_id': meeting_id,
                    'won': status = 'won', 'lost': status = 'lost',
                    'source': source, 'value': value}, (updated, o))
        FILTER (WHERE ok AND opt_ts_ok(closed_at, closed) AND ts_ok(updated) AND num_ok(value)
            AND (status = 'open' OR closed_at IS NOT NULL)) AS k
    FROM typed GROUP BY opportunity_id
)
SELECT local_day(k.closed) AS d, k.closed, k.rep_id, k.meeting_id, k.won, k.source, k.value
FROM kept
WHERE (k.won OR k.lost) AND k.closed IS NOT NULL;

-- web visits: the last valid delivery of each visit_id
CREATE OR REPLACE TEMP TABLE visits AS
WITH t AS (
    SELECT file_index AS f, file_row_number AS r, tx(visit_id) AS visit_id,
        tx(visitor_id) AS visitor_id, TRY_CAST(visited_at AS TIMESTAMPTZ) AS ts,
        lower(tx(channel)) AS channel, tx(landing_page) AS landing_page,
        tx(account_id) AS account_id
    FROM read_parquet(getvariable('landing') || '/web_visits/**/*.parquet',
        file_row_number = true, union_by_name = true)
), typed AS (
    SELECT f, r, visit_id, visitor_id, ts, channel, landing_page,
        id_ok(visit_id) AND id_ok(visitor_id) AND landing_page IS NOT NULL
        AND channel IN ('organic', 'paid', 'social', 'email', 'referral', 'direct', 'other')
        AND opt_id_ok(account_id) AS ok
    FROM t
), kept AS (
    SELECT visit_id, arg_max({'ts': ts, 'visitor_id': visitor_id, 'channel': channel,
                    'landing_page': landing_page}, f * 1099511627776 + r)
        FILTER (WHERE ok AND ts_ok(ts)) AS k
    FROM typed GROUP BY visit_id
)
SELECT visit_id, k.* FROM kept WHERE k IS NOT NULL;

-- attribution -------------------------------------------------------------------------------------
-- first touch of every visitor: channel and (scrubbed) landing page of the first visit (two at one
-- instant: the smaller visit_id); and the visitor's days, in order (for the distinct visitor counts)
CREATE OR REPLACE TEMP TABLE first_touch AS
SELECT visitor_id, arg_min(channel, (ts, visit_id)) AS ftc,
    scrub(arg_min(landing_page, (ts, visit_id))) AS ftlp,
    list_sort(list_distinct(list(local_day(ts)))) AS days
FROM visits GROUP BY visitor_id;

-- a meeting's touches: the visitor's first touch and last visit at or before booked_at (two at one
-- instant: the greater visit_id)
CREATE OR REPLACE TEMP TABLE meeting_touch AS
WITH m AS (
    SELECT meeting_id, visitor_id, booked FROM meetings WHERE visitor_id IS NOT NULL
), v AS (
    SELECT visitor_id, ts, arg_max(channel, visit_id) AS channel FROM visits
    WHERE visitor_id IN (SELECT visitor_id FROM m) GROUP BY visitor_id, ts
), last_touch AS (
    SELECT m.meeting_id, v.channel AS ltc
    FROM m ASOF JOIN v ON v.visitor_id = m.visitor_id AND m.booked >= v.ts
)
SELECT m.meeting_id, coalesce(f.ftc, '(none)') AS ftc, coalesce(f.ftlp, '(none)') AS ftlp,
    coalesce(l.ltc, '(none)') AS ltc
FROM m LEFT JOIN first_touch AS f USING (visitor_id) LEFT JOIN last_touch AS l USING (meeting_id);

-- cohorts: each later event credited to the closest preceding event of the stage before -----------
-- (the latest one at or before it with the same link: an ASOF join, then the window). Two
-- activities of one account at the same instant (the sample data has such pairs): the email before
-- the call, then the greater id, i.e. the last in the order (time, account, source, id), as the
-- compiled cohort orders its chains (source position in the definition, then id).
CREATE OR REPLACE TEMP TABLE cohort_meetings AS
WITH m AS (
    SELECT meeting_id, booked, account_id FROM meetings
    WHERE held AND source = 'outbound' AND account_id IS NOT NULL
), a AS (
    SELECT ts, account_id, arg_max({'d': d, 'rep_id': rep_id}, (src, id)) AS k FROM acts
    WHERE account_id IN (SELECT account_id FROM m) GROUP BY ts, account_id
)
SELECT 'outbound_cohort' AS funnel, m.meeting_id, m.booked, a.k.d, a.k.rep_id,
    CAST(NULL AS VARCHAR) AS ftc
FROM m ASOF JOIN a ON a.account_id = m.account_id AND m.booked >= a.ts
WHERE m.booked <= a.ts + INTERVAL 30 DAY;

INSERT INTO cohort_meetings
WITH m AS (
    SELECT meeting_id, booked, visitor_id FROM meetings
    WHERE held AND source = 'inbound' AND visitor_id IS NOT NULL
), v AS (
    SELECT ts, visitor_id FROM visits WHERE visitor_id IN (SELECT visitor_id FROM m)
)
SELECT 'inbound_cohort', m.meeting_id, m.booked, local_day(v.ts), NULL, f.ftc
FROM m ASOF JOIN v ON v.visitor_id = m.visitor_id AND m.booked >= v.ts
LEFT JOIN first_touch AS f ON f.visitor_id = m.visitor_id
WHERE m.booked <= v.ts + INTERVAL 30 DAY;

-- daily stage counts per (funnel, local day, members) --------------------------------------------
-- members: rep_id (team and region follow from reps) or the three touches
CREATE OR REPLACE TEMP TABLE daily AS
-- outbound: activities, held outbound meetings, won outbound opportunities
SELECT 'outbound' AS funnel, d, rep_id, NULL AS ftc, NULL AS ltc, NULL AS ftlp,
    count(*)::DOUBLE AS s1, 0::DOUBLE AS s2, 0::DOUBLE AS s3, 0::DOUBLE AS v
FROM acts GROUP BY ALL
UNION ALL
SELECT 'outbound', d, rep_id, NULL, NULL, NULL, 0, count(*), 0, 0
FROM meetings WHERE held AND source = 'outbound' GROUP BY ALL
UNION ALL
SELECT 'outbound', d, rep_id, NULL, NULL, NULL, 0, 0, count(*), sum(value)
FROM opps WHERE won AND source = 'outbound' GROUP BY ALL
UNION ALL
-- universal: closed opportunities, won ones, their amount
SELECT 'universal', d, rep_id, NULL, NULL, NULL, count(*), count(*) FILTER (WHERE won), 0,
    coalesce(sum(value) FILTER (WHERE won), 0)
FROM opps GROUP BY ALL
UNION ALL
-- inbound (visitors counted apart): held inbound meetings, won inbound opportunities, by touches
SELECT 'inbound', m.d, NULL, coalesce(t.ftc, '(none)'), coalesce(t.ltc, '(none)'),
    coalesce(t.ftlp, '(none)'), 0, count(*), 0, 0
FROM meetings AS m LEFT JOIN meeting_touch AS t USING (meeting_id)
WHERE m.held AND m.source = 'inbound' GROUP BY ALL
UNION ALL
SELECT 'inbound', o.d, NULL, coalesce(t.ftc, '(none)'), coalesce(t.ltc, '(none)'),
    coalesce(t.ftlp, '(none)'), 0, 0, count(*), sum(o.value)
FROM opps AS o LEFT JOIN meeting_touch AS t USING (meeting_id)
WHERE o.won AND o.source = 'inbound' GROUP BY ALL
UNION ALL
-- outbound_cohort: activities with an account; credited meetings and won opportunities
SELECT 'outbound_cohort', d, rep_id, NULL, NULL, NULL, count(*), 0, 0, 0
FROM acts WHERE account_id IS NOT NULL GROUP BY ALL
UNION ALL
-- both cohorts: credited meetings, then won opportunities from them within 180 days
SELECT funnel, d, rep_id, ftc, NULL, NULL, 0, count(*), 0, 0 FROM cohort_meetings GROUP BY ALL
UNION ALL
SELECT c.funnel, c.d, c.rep_id, c.ftc, NULL, NULL, 0, 0, count(*), sum(o.value)
FROM opps AS o JOIN cohort_meetings AS c USING (meeting_id)
WHERE o.won AND o.closed >= c.booked AND o.closed <= c.booked + INTERVAL 180 DAY
GROUP BY ALL;

-- distinct visitors per period: by all and first touch (visitor attributes), by last touch (the
-- visit's own channel). A visitor counts in a period on their first day in it: the day they were
-- seen before that lies in an earlier period. Each visitor's ordered days give (day, day before)
-- pairs, counted per pair: no distinct set of (period, visitor) per grain and dimension.
CREATE OR REPLACE TEMP TABLE grains AS
SELECT * FROM (VALUES ('day'), ('week'), ('month'), ('quarter'), ('year')) g(grain);

CREATE OR REPLACE TEMP MACRO period_start(grain, d) AS
    CASE WHEN grain = 'day' THEN d ELSE CAST(date_trunc(grain, d) AS DATE) END;

CREATE OR REPLACE TEMP TABLE visitors AS
WITH firsts AS (  -- (day, day before, first touch) -> visitors
    SELECT d, prev, ftc, ftlp, count(*) AS n FROM (
        SELECT ftc, ftlp, unnest(days) AS d, unnest(list_prepend(NULL, days[:-2])) AS prev
        FROM first_touch
    ) GROUP BY ALL
), channel_days AS (
    SELECT channel, list_sort(list_distinct(list(local_day(ts)))) AS days
    FROM visits GROUP BY visitor_id, channel
), firsts_by_channel AS (
    SELECT d, prev, channel, count(*) AS n FROM (
        SELECT channel, unnest(days) AS d, unnest(list_prepend(NULL, days[:-2])) AS prev
        FROM channel_days
    ) GROUP BY ALL
)
SELECT grain, period_start(grain, d) AS period_start,
    CASE WHEN GROUPING(ftc) = 0 THEN 'first_touch_channel'
         WHEN GROUPING(ftlp) = 0 THEN 'first_touch_landing_page' ELSE 'all' END AS dimension,
    coalesce(ftc, ftlp, 'all') AS member, sum(n)::DOUBLE AS s1
FROM firsts CROSS JOIN grains
WHERE prev IS NULL OR period_start(grain, prev) <> period_start(grain, d)
GROUP BY GROUPING SETS ((grain, period_start(grain, d)), (grain, period_start(grain, d), ftc),
    (grain, period_start(grain, d), ftlp))
UNION ALL
SELECT grain, period_start(grain, d), 'last_touch_channel', channel, sum(n)::DOUBLE
FROM firsts_by_channel CROSS JOIN grains
WHERE prev IS NULL OR period_start(grain, prev) <> period_start(grain, d)
GROUP BY ALL;

-- roll the days up to every grain and each funnel's dimensions -----------------------------------
CREATE OR REPLACE TABLE funnel_factors AS
WITH members AS (
    SELECT d.*, coalesce(r.team, '(unassigned)') AS team,
        coalesce(r.region, '(unassigned)') AS region
    FROM daily AS d LEFT JOIN reps AS r USING (rep_id)
), by_dimension AS (
    SELECT funnel, d, 'all' AS dimension, 'all' AS member, s1, s2, s3, v FROM members
    UNION ALL
    SELECT funnel, d, 'team', team, s1, s2, s3, v FROM members
    WHERE funnel IN ('universal', 'outbound', 'outbound_cohort')
    UNION ALL
    SELECT funnel, d, 'rep', rep_id, s1, s2, s3, v FROM members
    WHERE funnel IN ('universal', 'outbound', 'outbound_cohort')
    UNION ALL
    SELECT funnel, d, 'region', region, s1, s2, s3, v FROM members
    WHERE funnel IN ('universal', 'outbound')
    UNION ALL
    SELECT funnel, d, 'first_touch_channel', ftc, s1, s2, s3, v FROM members
    WHERE funnel IN ('inbound', 'inbound_cohort')
    UNION ALL
    SELECT funnel, d, 'last_touch_channel', ltc, s1, s2, s3, v FROM members
    WHERE funnel = 'inbound'
    UNION ALL
    SELECT funnel, d, 'first_touch_landing_page', ftlp, s1, s2, s3, v FROM members
    WHERE funnel = 'inbound'
), rolled AS (
    SELECT funnel, grain, period_start(grain, d) AS period_start, dimension, member,
        sum(s1) AS s1, sum(s2) AS s2, sum(s3) AS s3, sum(v) AS v
    FROM by_dimension CROSS JOIN grains
    GROUP BY ALL
), stages AS (
    SELECT funnel, grain, period_start, dimension, member, s1, s2, s3, v
    FROM rolled WHERE funnel NOT IN ('inbound', 'inbound_cohort')
    UNION ALL
    SELECT f.funnel, vi.grain, vi.period_start, vi.dimension, vi.member, vi.s1,
        coalesce(r.s2, 0), coalesce(r.s3, 0), coalesce(r.v, 0)
    FROM visitors AS vi
    JOIN (VALUES ('inbound'), ('inbound_cohort')) AS f(funnel)
        ON f.funnel = 'inbound' OR vi.dimension IN ('all', 'first_touch_channel')
    LEFT JOIN rolled AS r USING (funnel, grain, period_start, dimension, member)
), wide AS (
    SELECT funnel, grain, period_start, dimension, member,
        CASE WHEN funnel = 'universal' THEN [
            {'factor': 'opportunities', 'value': s1},
            {'factor': 'hit_rate', 'value': s2 / nullif(s1, 0)},
            {'factor': 'avg_contract_value', 'value': v / nullif(s2, 0)},
            {'factor': 'total_sales', 'value': v}]
        ELSE [
            {'factor': CASE WHEN funnel LIKE 'inbound%' THEN 'visitors' ELSE 'activities' END,
             'value': s1},
            {'factor': CASE WHEN funnel LIKE 'inbound%' THEN 'visit_to_meeting_rate'
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
