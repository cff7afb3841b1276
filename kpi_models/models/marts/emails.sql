-- One row per email, with the rep's team and region: what KPI definitions select from.
select * from {{ ref('int_emails_joined_to_reps') }}
